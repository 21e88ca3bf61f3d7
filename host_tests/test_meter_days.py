"""A week of the simulated meter on a controlled clock: through the spring
daylight saving change, the tariff switches every day and a month end, with
its profiles and event log in flash (a littlefs image).

The expectations are computed here, independently of the firmware's clock
and calendar code: Central European time (UTC+1, summer time UTC+2 from the
last Sunday of March 01:00 UTC), day rate 1 from 07:00 to 23:00 local time,
night rate 2 otherwise, and the energy of each interval going to the rate in
force during it (the physics of app.sim gives the totals)."""

import binascii
import os
import unittest

import support  # noqa: F401  (keeps the firmware quiet)
from app import config
from app.meter import build_meter
from app.sim import Simulation
from dlms import axdr, obis
from hal.clock import ManualClock
from hal.store import open_store

START = 1806062400  # 2027-03-26 12:00 UTC, a Friday
SUMMER = 1806195600  # 2027-03-28 01:00 UTC: CET -> CEST
END = START + 7 * 86400  # 2027-04-02 12:00 UTC
STEP = 300
APRIL_1 = 1806530400  # 2027-03-31 22:00 UTC = 2027-04-01 00:00 CEST
SHIFT_AT = 1806400800  # 2027-03-30 10:00 UTC: a client sets the clock back 5 minutes

IMPORT = ("1.0.1.8.0.255", "1.0.1.8.1.255", "1.0.1.8.2.255")
EXPORT = ("1.0.2.8.0.255", "1.0.2.8.1.255", "1.0.2.8.2.255")


def offset(t):
    return 7200 if t >= SUMMER else 3600


def tariff_at(t):
    hour = (t + offset(t)) % 86400 // 3600
    return 1 if 7 <= hour < 23 else 2


class Expected:
    """The rates in W s, accumulated the way the issue describes."""

    def __init__(self, t):
        s = Simulation()
        self.totals = (s.import_ws, s.export_ws)
        self.ws = [list(s.import_split(t)), list(s.export_split(t))]

    def interval(self, prev, now):
        r = tariff_at(prev) - 1
        for c in (0, 1):
            self.ws[c][r] += self.totals[c](now) - self.totals[c](prev)

    def wh(self):
        # [import total, T1, T2, export total, T1, T2]
        out = []
        for row in self.ws:
            out += [int(sum(row) / 3600), int(row[0] / 3600), int(row[1] / 3600)]
        return out


class TestAWeekOfTheMeter(unittest.TestCase):
    def setUp(self):
        self.dir = "/tmp/mpdlms-days-%s" % binascii.hexlify(os.urandom(4)).decode()
        os.mkdir(self.dir)
        self.store = open_store(self.dir + "/flash.img", 256, 512)
        self.clock = ManualClock(START)
        self.boot()

    def tearDown(self):
        self.store.dev.close()
        for name in os.listdir(self.dir):
            os.remove(self.dir + "/" + name)
        os.rmdir(self.dir)

    def boot(self):
        self.model = build_meter(config.load(None), hal_clock=self.clock, store=self.store)
        self.dev = self.model.server.devices[1]

    def obj(self, ln):
        return self.dev.find(obis.parse(ln))

    def registers(self):
        return [self.obj(ln).get(2, None)[1] for ln in IMPORT + EXPORT]

    def rows(self, ln):
        src = self.obj(ln).source
        return [(src.time(i), list(r)) for i, r in enumerate(src.rows(0, src.count() - 1))]

    def test_a_week(self):
        exp = Expected(START)
        daily = {}  # capture time -> expected [T1 imp, T2 imp, T1 exp, T2 exp]
        monthly = None
        switches = []
        shifted = False
        model = self.model
        model.tick()
        tariff = self.obj("0.0.96.14.0.255")
        self.assertEqual(tariff.value[1], tariff_at(START))
        prev = START
        while prev < END:
            now = prev + STEP
            self.clock.set(now)
            before = self.registers()
            model.tick()
            exp.interval(prev, now)
            after = self.registers()
            # only the rate in force during the interval moved, import and export
            r = tariff_at(prev)
            for base in (0, 3):
                other = base + (2 if r == 1 else 1)
                self.assertEqual(after[other], before[other], (now, r))
                self.assertGreaterEqual(after[base + r], before[base + r])
            self.assertEqual(tariff.value[1], tariff_at(now), now)
            if tariff_at(now) != tariff_at(prev):
                switches.append(now)
            w = exp.wh()
            for got, want in zip(after, w):
                self.assertLessEqual(abs(got - want), 1, (now, after, w))
            if (now + offset(now)) % 86400 == 0:
                daily[now] = [w[1], w[2], w[4], w[5]]
            if now == APRIL_1:
                monthly = w
            if now == SHIFT_AT and not shifted:
                shifted = True
                # shift_time (method 6) by -300 s: the clock repeats 5 minutes
                clock = self.obj("0.0.1.0.0.255")
                clock.action(6, (axdr.LONG, -300), None)
                self.assertEqual(self.clock.now(), now - STEP)
                now -= STEP
            prev = now

        # the switches: 07:00 and 23:00 local, an hour earlier in UTC once
        # summer time has begun (the old fixed-offset schedule would be late)
        self.assertEqual(len(switches), 14)
        for t in switches:
            self.assertIn((t + offset(t)) % 86400, (7 * 3600, 23 * 3600))
        self.assertIn(SUMMER + 4 * 3600, switches)  # 2027-03-28 07:00 CEST = 05:00 UTC

        # the daily profile: one entry at each local midnight, the 23-hour day
        # included, holding the rate registers of that instant
        got = self.rows("1.0.98.1.0.255")
        times = [t for t, _ in got]
        self.assertEqual(times[0], START - 13 * 3600)  # the first tick: today's midnight
        gaps = [b - a for a, b in zip(times, times[1:])]
        self.assertEqual(gaps, [86400, 86400, 82800, 86400, 86400, 86400, 86400])
        self.assertEqual(sorted(daily), times[1:])
        for t, row in got[1:]:
            values = [v[1] for v in row[1:]]
            for g, w in zip(values, daily[t]):
                self.assertLessEqual(abs(g - w), 1, t)
            stamp = axdr.DateTime.from_bytes(row[0][1])
            self.assertEqual((stamp.hour, stamp.minute), (0, 0))

        # the monthly billing profile: only April 1st, 00:00 CEST
        got = self.rows("0.0.98.1.0.255")
        self.assertEqual([t for t, _ in got], [APRIL_1])
        stamp = axdr.DateTime.from_bytes(got[0][1][0][1])
        self.assertEqual((stamp.month, stamp.day, stamp.hour), (4, 1, 0))
        self.assertEqual(stamp.deviation, -120)
        for g, w in zip([v[1] for v in got[0][1][1:]], monthly):
            self.assertLessEqual(abs(g - w), 1)

        # the standard event log: power up, then the clock adjustment (old and
        # new time), nothing for the daylight saving change
        got = self.rows("0.0.99.98.0.255")
        self.assertEqual(
            [(t, row[1][1]) for t, row in got],
            [(START, 2), (SHIFT_AT, 4), (SHIFT_AT - STEP, 5)],
        )

        # a clean stop, an hour off, a reboot: the rates continue from flash,
        # the hour split by the fixed schedule (night rate at 13:00 UTC? no:
        # 14:00-15:00 CEST is day rate); the profiles are still there
        final = self.registers()
        model.shutdown()
        self.store = open_store(None, dev=self.store.dev.reboot())
        self.clock.set(END + 3600)
        self.boot()
        again = self.registers()
        s = Simulation()
        gap_t1 = (s.import_split(END + 3600)[0] - s.import_split(END)[0]) / 3600
        self.assertLessEqual(abs(again[1] - final[1] - gap_t1), 1)
        self.assertLessEqual(abs(again[2] - final[2]), 1)
        self.assertEqual(len(self.rows("1.0.98.1.0.255")), 8)
        self.assertEqual(len(self.rows("0.0.98.1.0.255")), 1)

    def test_power_cut_keeps_the_last_saved_split(self):
        # no clean stop: the rates come back as saved at the last quarter hour
        self.model.tick()
        for _ in range(5):
            self.clock.advance(STEP)
            self.model.tick()
        saved_at = START + 900  # the quarter-hour boundary the ticks crossed
        s = Simulation()
        e = Expected(START)
        e.interval(START, saved_at)
        self.store = open_store(None, dev=self.store.dev.reboot())  # power cut
        self.clock.set(saved_at)
        self.boot()
        got = self.registers()
        for g, w in zip(got, e.wh()):
            self.assertLessEqual(abs(g - w), 1)
        self.assertGreater(s.import_ws(saved_at), 0)


if __name__ == "__main__":
    unittest.main()


class TestFlashLoadProfile(unittest.TestCase):
    """load_profile.source "flash": an entry captured every 15 minutes into
    the store, kept across a power cut."""

    def setUp(self):
        self.dir = "/tmp/mpdlms-lp-%s" % binascii.hexlify(os.urandom(4)).decode()
        os.mkdir(self.dir)
        self.store = open_store(self.dir + "/flash.img", 256, 512)
        self.clock = ManualClock(START)
        self.cfg = config.load('{"load_profile": {"source": "flash", "entries": 96}}')

    def tearDown(self):
        self.store.dev.close()
        for name in os.listdir(self.dir):
            os.remove(self.dir + "/" + name)
        os.rmdir(self.dir)

    def test_captures_every_quarter_hour(self):
        model = build_meter(self.cfg, hal_clock=self.clock, store=self.store)
        dev = model.server.devices[1]
        lp = dev.find(obis.parse("1.0.99.1.0.255"))
        total = dev.find(obis.parse("1.0.1.8.0.255"))
        want = {}
        model.tick()
        want[START] = total.get(2, None)[1]
        for _ in range(12):  # an hour in 5-minute steps
            self.clock.advance(STEP)
            model.tick()
            now = self.clock.now()
            if now % 900 == 0:
                want[now] = total.get(2, None)[1]
        src = lp.source
        self.assertEqual(src.count(), 5)
        got = {}
        for i, row in enumerate(src.rows(0, src.count() - 1)):
            got[src.time(i)] = row[2][1]
        self.assertEqual(got, want)
        # a power cut: the entries are still there, and capturing goes on
        self.store = open_store(None, dev=self.store.dev.reboot())
        model = build_meter(self.cfg, hal_clock=self.clock, store=self.store)
        lp = model.server.devices[1].find(obis.parse("1.0.99.1.0.255"))
        self.assertEqual(lp.source.count(), 5)
        self.clock.advance(900)
        model.tick()
        self.assertEqual(lp.source.count(), 6)
