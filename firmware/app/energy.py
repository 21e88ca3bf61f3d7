"""Energy per tariff: the rate registers (1.0.1.8.1, 1.0.1.8.2, ...) that
follow the current tariff, as a real meter's do.

The physics (app.sim) gives each channel's total energy as a closed-form
function of time; what it cannot know is which tariff was in force, because
that is whatever the activity calendar, the special days table or a client
wrote into the tariff register (0.0.96.14.0.255). So the totals come from the
physics and the split is accumulated here: ``advance(now)`` adds the energy
of (last time, now] to the rate in force during that interval. The app calls
it before the calendars run at each tick, so a switch at 07:00 leaves the
energy up to 07:00 in the old rate, and on every read of a register.

The split persists in the store (one record, ``save()``, every capture
period and at a clean stop): after a reboot the rates continue from it, and
the interval the meter was off is split as the physics' own fixed schedule
splits it (day 07:00-23:00 in standard time). Without a record, the rates
start from that schedule's split since the epoch.

Record: ``t (u32) | Ws per channel and rate (i64 each)``, big-endian.
"""

import struct

import log


class TariffEnergy:
    """``channels``: ``[(total_ws(t), split_ws(t))]`` -- the closed-form total and
    its fixed-schedule split (a tuple with one value per rate), in W s;
    ``tariff()``: the rate in force (1..rates; anything else counts as 1)."""

    def __init__(self, channels, rates, tariff, now, store=None, name="energy"):
        self.channels = channels
        self.rates = rates
        self.tariff = tariff
        self.store = store
        self.name = name
        self.t = now
        self.ws = [list(split(now)) for _, split in channels]
        if store is not None:
            self._restore(now)

    def _restore(self, now):
        try:
            rec = self.store.get(self.name)
        except OSError as e:
            log.error("energy record unreadable: %r", e)
            return
        n = len(self.channels) * self.rates
        if rec is None or len(rec) != 4 + 8 * n:
            return
        values = struct.unpack(">I%dq" % n, rec)
        for c in range(len(self.channels)):
            k = 1 + c * self.rates
            self.ws[c] = list(values[k : k + self.rates])
        # the clock behind the record: the record's rates as they are
        self.t = min(values[0], now)
        self.jump(now)

    def advance(self, now):
        """Add the energy of (last, now] to the rate in force; a clock set
        back adds nothing (the registers never go down)."""
        if now > self.t:
            r = self.tariff()
            r = r - 1 if 1 <= r <= self.rates else 0
            for c, (total, _) in enumerate(self.channels):
                d = total(now) - total(self.t)
                if d > 0:
                    self.ws[c][r] += d
        self.t = now

    def jump(self, now):
        """The interval up to ``now`` that the meter did not see (the clock
        set forward, the meter off) is split as the fixed schedule splits it."""
        if now > self.t:
            for c, (_, split) in enumerate(self.channels):
                a, b = split(self.t), split(now)
                row = self.ws[c]
                for r in range(self.rates):
                    row[r] += b[r] - a[r]
        self.t = now

    def wh(self, channel, rate):
        """Whole Wh of ``rate`` (1..rates), or of all rates with ``rate`` 0."""
        row = self.ws[channel]
        if rate == 0:
            return int(sum(row) / 3600)
        return int(row[rate - 1] / 3600)

    def save(self):
        if self.store is None:
            return
        values = [int(self.t)]
        for row in self.ws:
            for v in row:
                values.append(int(v))
        try:
            self.store.put(self.name, struct.pack(">I%dq" % (len(values) - 1), *values))
        except OSError as e:
            log.error("energy record not saved: %r", e)
