"""The physics of the simulated meter: a three-phase household load with a
small PV export, as closed-form functions of UTC time.

Every value is computed from the time alone, so registers, the load profile's
simulated history and the tariff split always agree, a 10,000-entry profile
costs nothing to keep, and tests can jump days ahead. Power per phase is
``P0 + A sin(wt + phase)`` with a one-day period; energy is its integral from
``EPOCH`` (local midnight), in Wh.
"""

import math

DAY = 86400
EPOCH = 1577836800 - 3600  # 2020-01-01 00:00 local (CET) in UTC
_W = 2 * math.pi / DAY

# (P0 W, A W, phase rad) per phase, import; and the PV export (all phases)
IMPORT = ((420.0, 260.0, 0.3), (310.0, 180.0, 1.9), (270.0, 150.0, 4.1))
EXPORT = (180.0, 170.0, -math.pi / 2)
GAS = (0.05, 0.04, 0.8)  # m3/h


def _integral(p0, a, ph, t0, t1):
    """The integral of p0 + a sin(wt + ph) over [t0, t1], in W s."""
    return p0 * (t1 - t0) + (a / _W) * (math.cos(_W * t0 + ph) - math.cos(_W * t1 + ph))


def _energy(curves, t0, t1):
    s = 0.0
    for p0, a, ph in curves:
        s += _integral(p0, a, ph, t0, t1)
    return s


def _total(curves, t):
    return _energy(curves, EPOCH, t) if t > EPOCH else 0.0


class Tariffs:
    """Day tariff (1) from ``day_start`` to ``day_end`` local seconds, night (2) otherwise."""

    def __init__(self, utc_offset=3600, day_start=7 * 3600, day_end=23 * 3600):
        self.utc_offset = utc_offset
        self.day_start = day_start
        self.day_end = day_end

    def active(self, t):
        s = (t + self.utc_offset) % DAY
        return 1 if self.day_start <= s < self.day_end else 2

    def split(self, curves, t):
        """(tariff-1 Ws, tariff-2 Ws) accumulated from EPOCH to t."""
        if t <= EPOCH:
            return 0.0, 0.0
        # EPOCH is a local midnight: whole days contribute the same amounts
        days = (t - EPOCH) // DAY
        ds = EPOCH + self.day_start
        de = EPOCH + self.day_end
        day_t1 = _energy(curves, ds, de)
        day_all = _energy(curves, EPOCH, EPOCH + DAY)
        t1 = days * day_t1
        t2 = days * (day_all - day_t1)
        base = EPOCH + days * DAY
        total = _energy(curves, base, t)
        s = base + self.day_start
        e = base + self.day_end
        part1 = _energy(curves, s, min(t, e)) if t > s else 0.0
        return t1 + part1, t2 + total - part1


class Simulation:
    def __init__(self, tariffs=None):
        self.tariffs = tariffs or Tariffs()

    # energies in Wh, as integers (registers hold whole Wh, scaler 0)
    def import_wh(self, t, tariff=0):
        return self._wh(IMPORT, t, tariff)

    def export_wh(self, t, tariff=0):
        return self._wh((EXPORT,), t, tariff)

    def _wh(self, curves, t, tariff):
        if tariff == 0:
            return int(_total(curves, t) / 3600)
        t1, t2 = self.tariffs.split(curves, t)
        return int((t1 if tariff == 1 else t2) / 3600)

    # energies in W s, for app.energy (which splits them by the tariff in force)
    def import_ws(self, t):
        return _total(IMPORT, t)

    def export_ws(self, t):
        return _total((EXPORT,), t)

    def import_split(self, t):
        """(tariff-1, tariff-2) W s by the fixed schedule (day 07:00-23:00 standard time)."""
        return self.tariffs.split(IMPORT, t)

    def export_split(self, t):
        return self.tariffs.split((EXPORT,), t)

    def power(self, t, phase=0):
        """Active power import in W: per phase (1..3) or total (0)."""
        curves = IMPORT if phase == 0 else (IMPORT[phase - 1],)
        s = 0.0
        for p0, a, ph in curves:
            s += p0 + a * math.sin(_W * t + ph)
        return s

    def export_power(self, t):
        p0, a, ph = EXPORT
        return p0 + a * math.sin(_W * t + ph)

    def voltage(self, t, phase):
        """Volts on phase 1..3: 230 V with slow and fast ripples."""
        return 230.0 + 3.0 * math.sin(2 * math.pi * t / 3600 + phase) + 0.7 * math.sin(t / 7.0)

    def current(self, t, phase):
        return self.power(t, phase) / self.voltage(t, phase)

    def frequency(self, t):
        return 50.0 + 0.02 * math.sin(t / 13.0)

    def gas_m3(self, t):
        p0, a, ph = GAS
        if t <= EPOCH:
            return 0.0
        return _integral(p0, a, ph, EPOCH, t) / 3600
