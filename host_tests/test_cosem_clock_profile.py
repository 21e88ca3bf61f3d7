"""Clock (Blue Book 4.5.1) and Profile generic (Blue Book 4.3.6) with their
buffer sources: encodings in hex, daylight saving, time setting, selective
access as Gurux and dlms-cosem send it, and streaming of large buffers."""

import gc
import unittest

from compat import mem_alloc
from cosem.base import MANAGER, PUBLIC, READ_ONLY, READ_WRITE, CosemObject, LogicalDevice
from cosem.clock import Clock, switch_instant
from cosem.profile import ProfileGeneric, RingSource, SimulatedSource
from dlms import axdr, xdlms
from dlms.errors import DataAccessError
from dlms.stream import ArrayStream, pieces
from hal.clock import ManualClock
from support import CLOCK_LN, by_entry, by_range, definition, h, hx

ENERGY_LN = h("01 00 01 08 00 FF")


def utc(y, mo, d, hh=0, mm=0, ss=0):
    return axdr.DateTime.from_tuple(y, mo, d, hh, mm, ss, 0, 0).to_epoch()


def enc(data):
    """The hex of an answer encoded piece by piece, as the server sends it."""
    return hx(b"".join(pieces(data)))


def octets(y, mo, d, hh, mm, ss, deviation=-60, status=0):
    dt = axdr.DateTime.from_tuple(y, mo, d, hh, mm, ss, 0, deviation, status)
    return (axdr.OCTET_STRING, dt.to_bytes())


class Value(CosemObject):
    """A register-like stand-in (class 3 attribute 2) for capture tests."""

    CLASS_ID = 3
    ATTRIBUTES = ("logical_name", "value", "scaler_unit")

    def __init__(self, ln, v):
        super().__init__(ln)
        self.v = v

    def get(self, attr, ctx, selector=None, params=None):
        if attr == 2:
            return (axdr.DOUBLE_LONG_UNSIGNED, self.v)
        if attr == 3:
            return (axdr.STRUCTURE, [(axdr.INTEGER, 0), (axdr.ENUM, 30)])
        return super().get(attr, ctx, selector, params)


class _Server:
    def __init__(self, clock):
        self.clock = clock


class Ctx:
    """What objects use of the server's Association."""

    def __init__(self, device, clock, level=MANAGER):
        self.device = device
        self.server = _Server(clock)
        self.level = level
        self.association_object = None


def dae(test, result, fn, *args):
    with test.assertRaises(DataAccessError) as cm:
        fn(*args)
    test.assertEqual(cm.exception.result, result)


WINTER = utc(2024, 1, 15, 12)  # Monday
SUMMER = utc(2024, 7, 15, 12)  # Monday


class TestClockAttributes(unittest.TestCase):
    def setUp(self):
        self.hal = ManualClock(WINTER)
        self.clock = Clock("0.0.1.0.0.255", self.hal)

    def test_time_in_winter(self):
        # 13:00 local, deviation -60 (UTC = local - 60 min), status 0
        self.assertEqual(enc(self.clock.get(2, None)), "09 0C 07 E8 01 0F 01 0D 00 00 00 FF C4 00")
        self.assertEqual(enc(self.clock.get(4, None)), "11 00")

    def test_time_in_summer(self):
        # 14:00 local, deviation -120, daylight saving active (status bit 7)
        self.hal.set(SUMMER)
        self.assertEqual(enc(self.clock.get(2, None)), "09 0C 07 E8 07 0F 01 0E 00 00 00 FF 88 80")
        self.assertEqual(enc(self.clock.get(4, None)), "11 80")

    def test_other_attributes(self):
        c = self.clock
        self.assertEqual(enc(c.get(1, None)), "09 06 00 00 01 00 00 FF")
        self.assertEqual(enc(c.get(3, None)), "10 FF C4")
        # last Sunday of March 02:00 and of October 03:00, year not specified
        self.assertEqual(enc(c.get(5, None)), "09 0C FF FF 03 FE 07 02 00 00 00 80 00 FF")
        self.assertEqual(enc(c.get(6, None)), "09 0C FF FF 0A FE 07 03 00 00 00 80 00 FF")
        self.assertEqual(enc(c.get(7, None)), "0F 3C")
        self.assertEqual(enc(c.get(8, None)), "03 01")
        self.assertEqual(enc(c.get(9, None)), "16 01")
        dae(self, xdlms.OBJECT_UNAVAILABLE, c.get, 10, None)

    def test_access_rights(self):
        c = self.clock
        self.assertEqual(c.CLASS_ID, 8)
        self.assertEqual(c.VERSION, 0)
        self.assertTrue(c.visible(PUBLIC))
        for a in (2, 3, 5, 6, 7, 8):
            self.assertEqual(c.attribute_access(MANAGER, a), READ_WRITE)
        for a in (1, 4, 9):
            self.assertEqual(c.attribute_access(MANAGER, a), READ_ONLY)
        self.assertEqual(c.attribute_access(PUBLIC, 2), READ_ONLY)
        self.assertEqual(len(c.METHODS), 6)

    def test_local_datetime(self):
        dt = self.clock.local_datetime(SUMMER)
        self.assertEqual(dt, axdr.DateTime(2024, 7, 15, 1, 14, 0, 0, 0, -120, 0x80))


class TestDaylightSaving(unittest.TestCase):
    def setUp(self):
        self.hal = ManualClock(WINTER)
        self.clock = Clock("0.0.1.0.0.255", self.hal)

    def test_european_switch_instants(self):
        # last Sunday of March and of October, 01:00 UTC
        for begin, end in (
            (utc(2024, 3, 31, 1), utc(2024, 10, 27, 1)),
            (utc(2025, 3, 30, 1), utc(2025, 10, 26, 1)),
            (utc(2026, 3, 29, 1), utc(2026, 10, 25, 1)),
        ):
            self.assertFalse(self.clock.dst_active(begin - 1))
            self.assertTrue(self.clock.dst_active(begin))
            self.assertTrue(self.clock.dst_active(end - 1))
            self.assertFalse(self.clock.dst_active(end))
        # local time jumps 01:59:59 -> 03:00:00 and 02:59:59 -> 02:00:00
        t = utc(2024, 3, 31, 1)
        self.assertEqual(hx(self.clock.local_datetime(t - 1).to_bytes()[5:8]), "01 3B 3B")
        self.assertEqual(hx(self.clock.local_datetime(t).to_bytes()[5:8]), "03 00 00")
        t = utc(2024, 10, 27, 1)
        self.assertEqual(hx(self.clock.local_datetime(t - 1).to_bytes()[5:8]), "02 3B 3B")
        self.assertEqual(hx(self.clock.local_datetime(t).to_bytes()[5:8]), "02 00 00")

    def test_rules(self):
        second_sunday_march = axdr.DateTime(0xFFFF, 3, 8, 7, 2, 0, 0, 0)
        self.assertEqual(switch_instant(second_sunday_march, 2024), utc(2024, 3, 10, 2))
        second_last_sunday = axdr.DateTime(0xFFFF, 3, 0xFD, 7, 2, 0, 0, 0)
        self.assertEqual(switch_instant(second_last_sunday, 2024), utc(2024, 3, 24, 2))
        last_day = axdr.DateTime(0xFFFF, 2, 0xFE, 0xFF, 0, 0, 0, 0)
        self.assertEqual(switch_instant(last_day, 2024), utc(2024, 2, 29))
        fixed = axdr.DateTime(2025, 4, 1, 0xFF, 2, 0, 0, 0)
        self.assertEqual(switch_instant(fixed, 2025), utc(2025, 4, 1, 2))
        self.assertIsNone(switch_instant(fixed, 2024))
        self.assertIsNone(switch_instant(axdr.DateTime(0xFFFF, 0xFF, 1), 2024))
        self.assertIsNone(switch_instant(axdr.DateTime(0xFFFF, 2, 30), 2024))

    def test_southern_hemisphere(self):
        # Australia/Sydney: +10:00, summer from the first Sunday of October
        # 02:00 to the first Sunday of April 03:00 (summer time)
        c = Clock(
            "0.0.1.0.0.255",
            self.hal,
            time_zone=-600,
            dst_begin=axdr.DateTime(0xFFFF, 10, 1, 7, 2, 0, 0, 0),
            dst_end=axdr.DateTime(0xFFFF, 4, 1, 7, 3, 0, 0, 0),
        )
        self.assertTrue(c.dst_active(utc(2024, 1, 15)))
        self.assertFalse(c.dst_active(utc(2024, 7, 15)))
        self.assertEqual(c.deviation(utc(2024, 1, 15)), -660)
        # 2024-10-06 02:00 +10:00 = 2024-10-05 16:00 UTC
        self.assertFalse(c.dst_active(utc(2024, 10, 5, 16) - 1))
        self.assertTrue(c.dst_active(utc(2024, 10, 5, 16)))

    def test_disabled(self):
        self.hal.set(SUMMER)
        self.clock.set(8, (axdr.BOOLEAN, False), None)
        self.assertEqual(enc(self.clock.get(2, None)), "09 0C 07 E8 07 0F 01 0D 00 00 00 FF C4 00")
        self.assertEqual(enc(self.clock.get(8, None)), "03 00")

    def test_write_rules(self):
        c = self.clock
        # US rules: second Sunday of March, first Sunday of November
        c.set(5, (axdr.OCTET_STRING, h("FF FF 03 08 07 02 00 00 00 80 00 FF")), None)
        c.set(6, (axdr.OCTET_STRING, h("FF FF 0B 01 07 02 00 00 00 80 00 FF")), None)
        c.set(3, (axdr.LONG, 300), None)
        c.set(7, (axdr.INTEGER, 60), None)
        self.assertEqual(enc(c.get(5, None)), "09 0C FF FF 03 08 07 02 00 00 00 80 00 FF")
        self.assertEqual(enc(c.get(3, None)), "10 01 2C")
        # 2024-03-10 02:00 EST = 07:00 UTC
        self.assertFalse(c.dst_active(utc(2024, 3, 10, 7) - 1))
        self.assertTrue(c.dst_active(utc(2024, 3, 10, 7)))
        # 2024-11-03 02:00 EDT = 06:00 UTC
        self.assertTrue(c.dst_active(utc(2024, 11, 3, 6) - 1))
        self.assertFalse(c.dst_active(utc(2024, 11, 3, 6)))
        dae(self, xdlms.TYPE_UNMATCHED, c.set, 5, (axdr.OCTET_STRING, h("FF FF 03")), None)
        dae(self, xdlms.TYPE_UNMATCHED, c.set, 7, (axdr.LONG, 60), None)
        dae(self, xdlms.OTHER_REASON, c.set, 7, (axdr.INTEGER, 121), None)
        dae(self, xdlms.TYPE_UNMATCHED, c.set, 8, (axdr.UNSIGNED, 1), None)


class TestClockSetting(unittest.TestCase):
    def setUp(self):
        self.hal = ManualClock(WINTER)
        self.clock = Clock("0.0.1.0.0.255", self.hal)

    def test_write_time_with_deviation(self):
        # 2024-07-01 10:00:00 local summer time, deviation -120 = 08:00 UTC
        self.clock.set(2, (axdr.OCTET_STRING, h("07 E8 07 01 01 0A 00 00 00 FF 88 80")), None)
        self.assertEqual(self.hal.now(), utc(2024, 7, 1, 8))
        # a client's notion of its own deviation is honoured as given
        self.clock.set(2, (axdr.OCTET_STRING, h("07 E8 07 01 01 0A 00 00 00 00 00 00")), None)
        self.assertEqual(self.hal.now(), utc(2024, 7, 1, 10))

    def test_write_time_local(self):
        # deviation not specified: the meter's local time
        self.clock.set(2, (axdr.OCTET_STRING, h("07 E8 07 01 FF 0A 00 00 FF 80 00 FF")), None)
        self.assertEqual(self.hal.now(), utc(2024, 7, 1, 8))
        self.clock.set(2, (axdr.OCTET_STRING, h("07 E8 01 01 FF 0A 00 00 FF 80 00 FF")), None)
        self.assertEqual(self.hal.now(), utc(2024, 1, 1, 9))
        # the repeated autumn hour: the status bit says which one
        self.clock.set(2, (axdr.OCTET_STRING, h("07 E8 0A 1B FF 02 1E 00 FF 80 00 80")), None)
        self.assertEqual(self.hal.now(), utc(2024, 10, 27, 0, 30))
        self.clock.set(2, (axdr.OCTET_STRING, h("07 E8 0A 1B FF 02 1E 00 FF 80 00 00")), None)
        self.assertEqual(self.hal.now(), utc(2024, 10, 27, 1, 30))

    def test_write_time_as_date_time(self):
        dt = axdr.DateTime.from_tuple(2024, 2, 1, 6, 0, 0, 0, -60, 0)
        self.clock.set(2, (axdr.DATE_TIME, dt), None)
        self.assertEqual(self.hal.now(), utc(2024, 2, 1, 5))

    def test_write_time_refused(self):
        c = self.clock
        dae(self, xdlms.TYPE_UNMATCHED, c.set, 2, (axdr.OCTET_STRING, h("07 E8 07 01")), None)
        dae(self, xdlms.TYPE_UNMATCHED, c.set, 2, (axdr.VISIBLE_STRING, "now"), None)
        wildcard_hour = (axdr.OCTET_STRING, h("07 E8 07 01 FF FF 00 00 00 80 00 FF"))
        dae(self, xdlms.OTHER_REASON, c.set, 2, wildcard_hour, None)
        dae(self, xdlms.READ_WRITE_DENIED, c.set, 4, (axdr.UNSIGNED, 0), None)
        dae(self, xdlms.TYPE_UNMATCHED, c.set, 3, (axdr.DOUBLE_LONG, -60), None)
        dae(self, xdlms.OTHER_REASON, c.set, 3, (axdr.LONG, 721), None)
        self.assertEqual(self.hal.now(), WINTER)

    def test_write_time_clears_invalid(self):
        self.clock.flags = axdr.STATUS_INVALID
        self.assertEqual(enc(self.clock.get(4, None)), "11 01")
        self.clock.set(2, (axdr.OCTET_STRING, h("07 E8 01 0F 01 0D 00 00 00 FF C4 00")), None)
        self.assertEqual(enc(self.clock.get(4, None)), "11 00")

    def test_shift_time(self):
        c = self.clock
        self.assertIsNone(c.action(6, (axdr.LONG, 900), None))
        self.assertEqual(self.hal.now(), WINTER + 900)
        c.action(6, (axdr.LONG, -5), None)
        self.assertEqual(self.hal.now(), WINTER + 895)
        dae(self, xdlms.OTHER_REASON, c.action, 6, (axdr.LONG, 901), None)
        dae(self, xdlms.OTHER_REASON, c.action, 6, (axdr.LONG, -901), None)
        dae(self, xdlms.TYPE_UNMATCHED, c.action, 6, (axdr.INTEGER, 5), None)
        dae(self, xdlms.TYPE_UNMATCHED, c.action, 6, None, None)
        self.assertEqual(self.hal.now(), WINTER + 895)

    def test_adjust_to_quarter(self):
        c = self.clock
        for before, after in (
            (utc(2024, 1, 15, 12, 7, 29), utc(2024, 1, 15, 12)),
            (utc(2024, 1, 15, 12, 7, 30), utc(2024, 1, 15, 12, 15)),
            (utc(2024, 1, 15, 23, 52, 31), utc(2024, 1, 16)),
            (utc(2024, 1, 15, 12, 45), utc(2024, 1, 15, 12, 45)),
        ):
            self.hal.set(before)
            c.action(1, (axdr.INTEGER, 0), None)
            self.assertEqual(self.hal.now(), after)

    def test_adjust_to_minute(self):
        c = self.clock
        self.hal.set(utc(2024, 1, 15, 12, 0, 29))
        c.action(3, (axdr.INTEGER, 0), None)
        self.assertEqual(self.hal.now(), utc(2024, 1, 15, 12))
        self.hal.set(utc(2024, 1, 15, 12, 0, 30))
        c.action(3, (axdr.INTEGER, 0), None)
        self.assertEqual(self.hal.now(), utc(2024, 1, 15, 12, 1))

    def test_adjust_to_measuring_period(self):
        # a one-hour period is aligned on local hours (+05:45, Nepal)
        c = Clock("0.0.1.0.0.255", self.hal, time_zone=-345, dst_enabled=False)
        c.measuring_period = 3600
        self.hal.set(utc(2024, 1, 15, 12, 10))  # 17:55 local
        c.action(2, (axdr.INTEGER, 0), None)
        self.assertEqual(self.hal.now(), utc(2024, 1, 15, 12, 15))  # 18:00 local

    def test_preset_adjusting_time(self):
        c = self.clock
        preset = (
            axdr.STRUCTURE,
            [
                octets(2024, 1, 15, 14, 0, 0),
                octets(2024, 1, 15, 13, 55, 0),
                octets(2024, 1, 15, 14, 5, 0),
            ],
        )
        dae(self, xdlms.OTHER_REASON, c.action, 4, (axdr.INTEGER, 0), None)  # no preset
        c.action(5, preset, None)
        dae(self, xdlms.OTHER_REASON, c.action, 4, (axdr.INTEGER, 0), None)  # 13:00 local
        self.hal.set(utc(2024, 1, 15, 12, 58))  # 13:58 local
        c.action(4, (axdr.INTEGER, 0), None)
        self.assertEqual(self.hal.now(), utc(2024, 1, 15, 13))
        bad = (axdr.STRUCTURE, preset[1][:2])
        dae(self, xdlms.TYPE_UNMATCHED, c.action, 5, bad, None)
        dae(self, xdlms.READ_WRITE_DENIED, c.action, 7, None, None)


def _energy_at(t):
    # a simulated energy register: 1 Wh a second since 2024-01-01
    return t - utc(2024, 1, 1)


class ProfileFixture(unittest.TestCase):
    """A load profile {clock, energy} in a ring of 4 entries, every 15 min."""

    T0 = utc(2024, 1, 15)  # 01:00 local

    def setUp(self):
        self.hal = ManualClock(self.T0)
        self.clock = Clock("0.0.1.0.0.255", self.hal)
        self.energy = Value("1.0.1.8.0.255", 1000)
        self.profile = ProfileGeneric(
            "1.0.99.1.0.255",
            RingSource(4),
            ((self.clock, 2), (self.energy, 2)),
            capture_period=900,
        )
        self.device = LogicalDevice(1, b"TEST")
        for o in (self.clock, self.energy, self.profile):
            self.device.add(o)
        self.ctx = Ctx(self.device, self.hal)

    def fill(self, n):
        for i in range(n):
            self.energy.v = 1000 + i
            self.profile.capture(self.T0 + 900 * i)

    def rows(self, selector=None, params=None):
        data = self.profile.get(2, self.ctx, selector, params)
        self.assertIsInstance(data, ArrayStream)
        out = [r for r in data.items()]
        self.assertEqual(len(out), data.count)
        return out

    def energies(self, selector=None, params=None):
        return [r[1][-1][1] for r in self.rows(selector, params)]


class TestProfileAttributes(ProfileFixture):
    def test_capture_objects(self):
        self.assertEqual(
            enc(self.profile.get(3, self.ctx)),
            "01 02 02 04 12 00 08 09 06 00 00 01 00 00 FF 0F 02 12 00 00"
            " 02 04 12 00 03 09 06 01 00 01 08 00 FF 0F 02 12 00 00",
        )

    def test_scalar_attributes(self):
        p = self.profile
        self.assertEqual((p.CLASS_ID, p.VERSION), (7, 1))
        self.assertEqual(enc(p.get(4, self.ctx)), "06 00 00 03 84")
        self.assertEqual(enc(p.get(5, self.ctx)), "16 01")
        self.assertEqual(
            enc(p.get(6, self.ctx)), "02 04 12 00 00 09 06 00 00 00 00 00 00 0F 00 12 00 00"
        )
        self.assertEqual(enc(p.get(7, self.ctx)), "06 00 00 00 00")
        self.assertEqual(enc(p.get(8, self.ctx)), "06 00 00 00 04")
        self.fill(2)
        self.assertEqual(enc(p.get(7, self.ctx)), "06 00 00 00 02")

    def test_access_rights(self):
        p = self.profile
        for a in (3, 4, 8):
            self.assertEqual(p.attribute_access(MANAGER, a), READ_WRITE)
        for a in (1, 2, 5, 6, 7):
            self.assertEqual(p.attribute_access(MANAGER, a), READ_ONLY)
        self.assertFalse(p.visible(PUBLIC))
        # object_list reports both selectors on the buffer
        rights = axdr.to_bytes(p.access_rights(MANAGER))
        self.assertIn(h("02 03 0F 02 16 01 01 02 0F 01 0F 02"), rights)

    def test_buffer_hex(self):
        self.fill(2)
        self.assertEqual(
            enc(self.profile.get(2, self.ctx)),
            "01 02"
            " 02 02 09 0C 07 E8 01 0F 01 01 00 00 00 FF C4 00 06 00 00 03 E8"
            " 02 02 09 0C 07 E8 01 0F 01 01 0F 00 00 FF C4 00 06 00 00 03 E9",
        )

    def test_empty_buffer(self):
        self.assertEqual(enc(self.profile.get(2, self.ctx)), "01 00")
        self.assertEqual(enc(self.profile.get(2, self.ctx, 2, by_entry(1, 0))), "01 00")

    def test_set_capture_period(self):
        self.profile.set(4, (axdr.DOUBLE_LONG_UNSIGNED, 3600), self.ctx)
        self.assertEqual(self.profile.capture_period, 3600)
        dae(self, xdlms.TYPE_UNMATCHED, self.profile.set, 4, (axdr.LONG, 60), self.ctx)
        dae(self, xdlms.READ_WRITE_DENIED, self.profile.set, 5, (axdr.ENUM, 2), self.ctx)

    def test_set_capture_objects_resets(self):
        self.fill(3)
        cols = (axdr.ARRAY, [definition(3, ENERGY_LN, 2), definition(8, CLOCK_LN, 2)])
        self.profile.set(3, cols, self.ctx)
        self.assertEqual(enc(self.profile.get(7, self.ctx)), "06 00 00 00 00")
        self.assertEqual(
            enc(self.profile.get(3, self.ctx)),
            "01 02 02 04 12 00 03 09 06 01 00 01 08 00 FF 0F 02 12 00 00"
            " 02 04 12 00 08 09 06 00 00 01 00 00 FF 0F 02 12 00 00",
        )
        self.energy.v = 7
        self.profile.capture(self.T0)
        self.assertEqual(
            enc(self.profile.get(2, self.ctx)),
            "01 01 02 02 06 00 00 00 07 09 0C 07 E8 01 0F 01 01 00 00 00 FF C4 00",
        )

    def test_set_capture_objects_refused(self):
        self.fill(2)
        p = self.profile
        unknown = (axdr.ARRAY, [definition(3, h("01 00 02 08 00 FF"), 2)])
        dae(self, xdlms.OBJECT_UNDEFINED, p.set, 3, unknown, self.ctx)
        wrong_class = (axdr.ARRAY, [definition(1, ENERGY_LN, 2)])
        dae(self, xdlms.OBJECT_UNDEFINED, p.set, 3, wrong_class, self.ctx)
        no_attr = (axdr.ARRAY, [definition(3, ENERGY_LN, 9)])
        dae(self, xdlms.OBJECT_UNAVAILABLE, p.set, 3, no_attr, self.ctx)
        for bad in (
            (axdr.STRUCTURE, []),
            (axdr.ARRAY, [(axdr.STRUCTURE, [(axdr.LONG_UNSIGNED, 3)])]),
            (axdr.ARRAY, [definition(3, b"\x01\x00", 2)]),
            (axdr.ARRAY, [(axdr.LONG_UNSIGNED, 3)]),
        ):
            dae(self, xdlms.TYPE_UNMATCHED, p.set, 3, bad, self.ctx)
        # nothing changed
        self.assertEqual(len(p.columns), 2)
        self.assertEqual(p.source.count(), 2)

    def test_set_profile_entries_shrinks(self):
        self.fill(4)
        self.profile.set(8, (axdr.DOUBLE_LONG_UNSIGNED, 2), self.ctx)
        self.assertEqual(enc(self.profile.get(8, self.ctx)), "06 00 00 00 02")
        self.assertEqual(self.energies(), [1002, 1003])
        self.energy.v = 2000
        self.profile.capture(self.T0 + 3600)
        self.assertEqual(self.energies(), [1003, 2000])
        # and grows back up to the ring's capacity, keeping what it has
        self.profile.set(8, (axdr.DOUBLE_LONG_UNSIGNED, 4), self.ctx)
        self.profile.capture(self.T0 + 4500)
        self.assertEqual(self.energies(), [1003, 2000, 2000])
        # 0 or more than the ring holds: other-reason (Blue Book 4.3.6), the
        # attribute itself is writable
        for n in (5, 0):
            dae(
                self,
                xdlms.OTHER_REASON,
                self.profile.set,
                8,
                (axdr.DOUBLE_LONG_UNSIGNED, n),
                self.ctx,
            )
        self.assertEqual(self.energies(), [1003, 2000, 2000])

    def test_event_profile_period_read_only(self):
        # built with capture_period 0 (captured on events): no timer would
        # follow a written period, so object_list and SET say read-only
        p = ProfileGeneric("0.0.99.98.0.255", RingSource(2), ((self.energy, 2),))
        self.assertEqual(p.attribute_access(MANAGER, 4), READ_ONLY)
        self.assertEqual(p.attribute_access(MANAGER, 3), READ_WRITE)
        self.assertEqual([p.method_access(MANAGER, m) for m in (1, 2)], [1, 1])


class TestProfileCapture(ProfileFixture):
    def test_fifo_wrap_around(self):
        self.fill(6)
        self.assertEqual(self.profile.source.count(), 4)
        self.assertEqual(self.energies(), [1002, 1003, 1004, 1005])
        first = self.rows()[0][1][0][1]
        self.assertEqual(axdr.DateTime.from_bytes(first).to_epoch(), self.T0 + 1800)

    def test_capture_method_and_reset(self):
        self.hal.set(self.T0 + 60)
        self.energy.v = 42
        self.assertIsNone(self.profile.action(2, (axdr.INTEGER, 0), self.ctx))
        self.assertEqual(
            enc(self.profile.get(2, self.ctx)),
            "01 01 02 02 09 0C 07 E8 01 0F 01 01 01 00 00 FF C4 00 06 00 00 00 2A",
        )
        self.assertIsNone(self.profile.action(1, (axdr.INTEGER, 0), self.ctx))
        self.assertEqual(enc(self.profile.get(7, self.ctx)), "06 00 00 00 00")
        self.assertEqual(enc(self.profile.get(2, self.ctx)), "01 00")
        dae(self, xdlms.READ_WRITE_DENIED, self.profile.action, 3, None, self.ctx)

    def test_capture_without_ctx(self):
        # an application timer: no association, time from the Clock column
        self.hal.set(self.T0 + 900)
        self.profile.capture()
        self.assertEqual(self.profile.source.time(0), self.T0 + 900)
        # or from a clock given to the profile
        hal2 = ManualClock(self.T0 + 1800)
        p = ProfileGeneric("0.0.99.98.0.255", RingSource(2), ((self.energy, 2),), clock=hal2)
        p.capture()
        self.assertEqual(p.source.time(0), self.T0 + 1800)
        # and with neither, the capture cannot be timed
        p = ProfileGeneric("0.0.99.98.1.255", RingSource(2), ((self.energy, 2),))
        dae(self, xdlms.TEMPORARY_FAILURE, p.capture)

    def test_data_index_and_failing_provider(self):
        class Broken(Value):
            def get(self, attr, ctx, selector=None, params=None):
                raise OSError("sensor gone")

        broken = Broken("1.0.32.7.0.255", 0)
        p = ProfileGeneric(
            "0.0.99.98.2.255",
            RingSource(2),
            ((self.energy, 3, 2), (self.energy, 3, 5), (broken, 2), (self.energy, 9)),
        )
        import log

        level, log.level = log.level, 100  # keep the test output quiet
        try:
            p.capture(self.T0)
        finally:
            log.level = level
        self.assertEqual(enc(p.get(2, None)), "01 01 02 04 16 1E 00 00 00")


class TestEntryDescriptor(ProfileFixture):
    def setUp(self):
        super().setUp()
        self.fill(4)

    def test_entries(self):
        self.assertEqual(self.energies(2, by_entry(1, 0)), [1000, 1001, 1002, 1003])
        self.assertEqual(self.energies(2, by_entry(2, 3)), [1001, 1002])
        self.assertEqual(self.energies(2, by_entry(4, 4)), [1003])
        self.assertEqual(self.energies(2, by_entry(0, 1)), [1000])

    def test_clipping(self):
        self.assertEqual(self.energies(2, by_entry(3, 100)), [1002, 1003])
        self.assertEqual(enc(self.profile.get(2, self.ctx, 2, by_entry(5, 0))), "01 00")
        self.assertEqual(enc(self.profile.get(2, self.ctx, 2, by_entry(3, 2))), "01 00")

    def test_columns(self):
        # only the energy column of entries 2..3, as on the wire
        self.assertEqual(
            enc(self.profile.get(2, self.ctx, 2, by_entry(2, 3, 2, 2))),
            "01 02 02 01 06 00 00 03 E9 02 01 06 00 00 03 EA",
        )
        rows = self.rows(2, by_entry(1, 1, 1, 1))
        self.assertEqual(len(rows[0][1]), 1)
        self.assertEqual(rows[0][1][0][0], axdr.OCTET_STRING)
        self.assertEqual(len(self.rows(2, by_entry(1, 1, 1, 9))[0][1]), 2)
        dae(self, xdlms.OBJECT_UNAVAILABLE, self.profile.get, 2, self.ctx, 2, by_entry(1, 0, 3, 0))
        dae(self, xdlms.OBJECT_UNAVAILABLE, self.profile.get, 2, self.ctx, 2, by_entry(1, 0, 2, 1))

    def test_as_gurux_sends_it(self):
        # GXDLMSClient.readRowsByEntry(pg, 2, 2): uint32 fields for entries,
        # uint16 for columns
        params, _ = axdr.decode(h("02 04 06 00 00 00 02 06 00 00 00 03 12 00 01 12 00 00"))
        self.assertEqual(self.energies(2, params), [1001, 1002])

    def test_malformed(self):
        p = self.profile
        for bad in (
            None,
            (axdr.NULL_DATA, None),
            (axdr.ARRAY, []),
            (axdr.STRUCTURE, [(axdr.DOUBLE_LONG_UNSIGNED, 1)]),
            (axdr.STRUCTURE, [(axdr.OCTET_STRING, b"1")] * 4),
            (axdr.STRUCTURE, [(axdr.DOUBLE_LONG, -1)] * 4),
            (axdr.STRUCTURE, [(axdr.DOUBLE_LONG_UNSIGNED, 1)] * 5),
            (axdr.STRUCTURE, [1, 2, 3, 4]),
            (axdr.STRUCTURE, 7),
            7,
        ):
            dae(self, xdlms.TYPE_UNMATCHED, p.get, 2, self.ctx, 2, bad)
        dae(self, xdlms.OTHER_REASON, p.get, 2, self.ctx, 3, by_entry(1, 0))


class TestRangeDescriptor(ProfileFixture):
    # entries at 01:00, 01:15, 01:30, 01:45 local (00:00 .. 00:45 UTC)

    def setUp(self):
        super().setUp()
        self.fill(4)

    def test_inclusive(self):
        params = by_range(octets(2024, 1, 15, 1, 15, 0), octets(2024, 1, 15, 1, 30, 0))
        self.assertEqual(self.energies(1, params), [1001, 1002])
        params = by_range(octets(2024, 1, 15, 1, 14, 59), octets(2024, 1, 15, 1, 30, 1))
        self.assertEqual(self.energies(1, params), [1001, 1002])
        params = by_range(octets(2024, 1, 15, 1, 15, 1), octets(2024, 1, 15, 1, 29, 59))
        self.assertEqual(enc(self.profile.get(2, self.ctx, 1, params)), "01 00")

    def test_deviation_of_the_client(self):
        # the same instants written in UTC by the client
        params = by_range(octets(2024, 1, 15, 0, 15, 0, 0), octets(2024, 1, 15, 0, 15, 0, 0))
        self.assertEqual(self.energies(1, params), [1001])

    def test_beyond_the_buffer(self):
        params = by_range(octets(2024, 1, 14, 0, 0, 0), octets(2024, 1, 16, 0, 0, 0))
        self.assertEqual(self.energies(1, params), [1000, 1001, 1002, 1003])
        params = by_range(octets(2024, 1, 16, 0, 0, 0), octets(2024, 1, 17, 0, 0, 0))
        self.assertEqual(enc(self.profile.get(2, self.ctx, 1, params)), "01 00")
        params = by_range(octets(2024, 1, 16, 0, 0, 0), octets(2024, 1, 14, 0, 0, 0))
        self.assertEqual(enc(self.profile.get(2, self.ctx, 1, params)), "01 00")

    def test_columns(self):
        params = by_range(
            octets(2024, 1, 15, 1, 30, 0),
            octets(2024, 1, 15, 2, 0, 0),
            [definition(3, ENERGY_LN, 2)],
        )
        self.assertEqual(
            enc(self.profile.get(2, self.ctx, 1, params)),
            "01 02 02 01 06 00 00 03 EA 02 01 06 00 00 03 EB",
        )
        params = by_range(
            octets(2024, 1, 15, 1, 45, 0),
            octets(2024, 1, 15, 2, 0, 0),
            [definition(3, ENERGY_LN, 2), definition(8, CLOCK_LN, 2)],
        )
        row = self.rows(1, params)[0][1]
        self.assertEqual([d[0] for d in row], [axdr.DOUBLE_LONG_UNSIGNED, axdr.OCTET_STRING])
        unknown = by_range(
            octets(2024, 1, 15, 1, 45, 0),
            octets(2024, 1, 15, 2, 0, 0),
            [definition(3, h("01 00 02 08 00 FF"), 2)],
        )
        dae(self, xdlms.OBJECT_UNAVAILABLE, self.profile.get, 2, self.ctx, 1, unknown)

    def test_as_gurux_sends_it(self):
        # GXDLMSClient.readRowsByRange(pg, 01:15, 01:30): octet-string date-times
        # with the client's deviation, the clock as restricting object
        params, _ = axdr.decode(
            h(
                "02 04 02 04 12 00 08 09 06 00 00 01 00 00 FF 0F 02 12 00 00"
                " 09 0C 07 E8 01 0F 01 01 0F 00 00 FF C4 00"
                " 09 0C 07 E8 01 0F 01 01 1E 00 00 FF C4 00 01 00"
            )
        )
        self.assertEqual(self.energies(1, params), [1001, 1002])

    def test_as_dlms_cosem_sends_it(self):
        # dlms-cosem RangeDescriptor with naive datetimes: deviation not
        # specified (local time of the meter), weekday 0xFF
        params, _ = axdr.decode(
            h(
                "02 04 02 04 12 00 08 09 06 00 00 01 00 00 FF 0F 02 12 00 00"
                " 09 0C 07 E8 01 0F FF 01 0F 00 00 80 00 00"
                " 09 0C 07 E8 01 0F FF 01 2D 00 00 80 00 00 01 00"
            )
        )
        self.assertEqual(self.energies(1, params), [1001, 1002, 1003])

    def test_date_time_tag(self):
        lo = axdr.DateTime.from_tuple(2024, 1, 15, 1, 30, 0, 0, -60, 0)
        params = by_range((axdr.DATE_TIME, lo), (axdr.DATE_TIME, lo))
        self.assertEqual(self.energies(1, params), [1002])

    def test_wildcards(self):
        # year not specified: an open end
        open_from = (axdr.OCTET_STRING, h("FF FF FF FF FF FF FF FF FF 80 00 FF"))
        params = by_range(open_from, octets(2024, 1, 15, 1, 15, 0))
        self.assertEqual(self.energies(1, params), [1000, 1001])
        params = by_range(octets(2024, 1, 15, 1, 30, 0), open_from)
        self.assertEqual(self.energies(1, params), [1002, 1003])
        # the whole of 2024-01-15 (time fields not specified)
        day = (axdr.OCTET_STRING, h("07 E8 01 0F FF FF FF FF FF 80 00 FF"))
        self.assertEqual(self.energies(1, by_range(day, day)), [1000, 1001, 1002, 1003])
        # the hour 01:xx local
        hour = (axdr.OCTET_STRING, h("07 E8 01 0F FF 01 FF FF FF 80 00 FF"))
        self.assertEqual(len(self.rows(1, by_range(hour, hour))), 4)

    def test_restricting_object(self):
        p = self.profile
        lo, hi = octets(2024, 1, 15, 1, 0, 0), octets(2024, 1, 15, 2, 0, 0)
        by_energy = (axdr.STRUCTURE, [definition(3, ENERGY_LN, 2), lo, hi, (axdr.ARRAY, [])])
        dae(self, xdlms.OTHER_REASON, p.get, 2, self.ctx, 1, by_energy)
        other_clock = definition(8, h("00 00 01 00 01 FF"), 2)
        by_other = (axdr.STRUCTURE, [other_clock, lo, hi, (axdr.ARRAY, [])])
        dae(self, xdlms.OBJECT_UNAVAILABLE, p.get, 2, self.ctx, 1, by_other)
        # without selected_values (three elements) all columns come back
        three = (axdr.STRUCTURE, [definition(8, CLOCK_LN, 2), lo, hi])
        self.assertEqual(len(self.rows(1, three)), 4)

    def test_malformed(self):
        p = self.profile
        lo, hi = octets(2024, 1, 15, 1, 0, 0), octets(2024, 1, 15, 2, 0, 0)
        clock = definition(8, CLOCK_LN, 2)
        for bad in (
            None,
            (axdr.STRUCTURE, []),
            (axdr.ARRAY, [clock, lo, hi, (axdr.ARRAY, [])]),
            (axdr.STRUCTURE, [clock, lo]),
            (axdr.STRUCTURE, [clock, lo, hi, (axdr.ARRAY, []), (axdr.NULL_DATA, None)]),
            (axdr.STRUCTURE, [(axdr.STRUCTURE, []), lo, hi, (axdr.ARRAY, [])]),
            (axdr.STRUCTURE, [definition(8, b"\x00", 2), lo, hi, (axdr.ARRAY, [])]),
            (axdr.STRUCTURE, [clock, (axdr.OCTET_STRING, b"\x07\xe8"), hi, (axdr.ARRAY, [])]),
            (axdr.STRUCTURE, [clock, (axdr.DOUBLE_LONG_UNSIGNED, 0), hi, (axdr.ARRAY, [])]),
            (axdr.STRUCTURE, [clock, lo, (axdr.NULL_DATA, None), (axdr.ARRAY, [])]),
            (axdr.STRUCTURE, [clock, lo, hi, (axdr.STRUCTURE, [])]),
            (axdr.STRUCTURE, [clock, lo, hi, (axdr.ARRAY, [(axdr.UNSIGNED, 1)])]),
            (axdr.STRUCTURE, [clock, lo, hi, (axdr.ARRAY, [5])]),
            (axdr.STRUCTURE, [clock, lo, hi, 4]),
        ):
            dae(self, xdlms.TYPE_UNMATCHED, p.get, 2, self.ctx, 1, bad)


class CountingRows:
    """row_at for a simulated load profile, counting its calls."""

    def __init__(self, clock):
        self.clock = clock
        self.calls = 0

    def __call__(self, t):
        self.calls += 1
        return [
            (axdr.OCTET_STRING, self.clock.local_datetime(t).to_bytes()),
            (axdr.DOUBLE_LONG_UNSIGNED, _energy_at(t)),
        ]


class TestSimulatedSource(unittest.TestCase):
    NOW = utc(2024, 6, 1, 12, 7, 13)
    NEWEST = utc(2024, 6, 1, 12)

    def setUp(self):
        self.hal = ManualClock(self.NOW)
        self.clock = Clock("0.0.1.0.0.255", self.hal)
        self.energy = Value("1.0.1.8.0.255", 0)
        self.row_at = CountingRows(self.clock)
        self.source = SimulatedSource(900, 10000, self.row_at, self.clock)
        self.profile = ProfileGeneric(
            "1.0.99.1.0.255", self.source, ((self.clock, 2), (self.energy, 2)), 900
        )

    def test_ten_thousand_entries_streamed(self):
        p = self.profile
        self.assertEqual(enc(p.get(7, None)), "06 00 00 27 10")
        data = p.get(2, None)
        self.assertEqual(data.count, 10000)
        self.assertEqual(self.row_at.calls, 0)  # nothing computed up front
        it = data.items()
        self.assertFalse(isinstance(it, (list, tuple)))
        first = next(it)
        self.assertEqual(self.row_at.calls, 1)
        n = 1
        last = first
        for row in it:
            n += 1
            last = row
        self.assertEqual(n, 10000)
        self.assertEqual(self.row_at.calls, 10000)
        oldest = self.NEWEST - 9999 * 900
        self.assertEqual(first[1][1][1], _energy_at(oldest))
        self.assertEqual(last[1][1][1], _energy_at(self.NEWEST))
        # 14:00 local summer time
        self.assertEqual(hx(last[1][0][1]), "07 E8 06 01 06 0E 00 00 00 FF 88 80")

    def test_encoded_in_pieces(self):
        size = 0
        head = None
        for piece in pieces(self.profile.get(2, None)):
            if head is None:
                head = piece
            size += len(piece)
        # array of 10000 (0x2710) elements, 21 octets each
        self.assertEqual(hx(head), "01 82 27 10")
        self.assertEqual(size, 4 + 10000 * 21)

    def test_heap_does_not_grow(self):
        # the heap in use after row 100 and after row 9,900 is the same
        # (MicroPython; CPython reports 0)
        marks = []
        for i, _ in enumerate(pieces(self.profile.get(2, None))):
            if i in (100, 9900):
                gc.collect()
                marks.append(mem_alloc())
        self.assertLess(abs(marks[1] - marks[0]), 512)

    def test_range_computes_only_what_it_returns(self):
        lo = octets(2024, 6, 1, 10, 0, 0, -120, 0x80)
        hi = octets(2024, 6, 1, 11, 0, 0, -120, 0x80)
        rows = [r for r in self.profile.get(2, None, 1, by_range(lo, hi)).items()]
        self.assertEqual(len(rows), 5)
        self.assertEqual(self.row_at.calls, 5)
        self.assertEqual(rows[0][1][1][1], _energy_at(utc(2024, 6, 1, 8)))
        self.assertEqual(rows[-1][1][1][1], _energy_at(utc(2024, 6, 1, 9)))

    def test_entries(self):
        rows = [r for r in self.profile.get(2, None, 2, by_entry(9999, 0, 2, 2)).items()]
        self.assertEqual(
            rows,
            [
                (axdr.STRUCTURE, [(axdr.DOUBLE_LONG_UNSIGNED, _energy_at(self.NEWEST - 900))]),
                (axdr.STRUCTURE, [(axdr.DOUBLE_LONG_UNSIGNED, _energy_at(self.NEWEST))]),
            ],
        )
        self.assertEqual(self.row_at.calls, 2)

    def test_moves_with_the_clock(self):
        self.hal.advance(900 * 3)
        self.assertEqual(self.source.time(9999), self.NEWEST + 2700)
        self.assertEqual(self.source.time(0), self.NEWEST + 2700 - 9999 * 900)
        self.assertEqual(self.source.count(), 10000)
        # near the epoch there are only the entries since 1970
        s = SimulatedSource(900, 10, self.row_at, ManualClock(1800))
        self.assertEqual(s.count(), 3)
        self.assertEqual(s.time(0), 0)

    def test_not_captured(self):
        # a computed buffer: object_list advertises no capture_objects or
        # capture_period change and no reset or capture, as the services do
        p = self.profile
        self.assertEqual([p.attribute_access(MANAGER, a) for a in (3, 4, 8)], [1, 1, 3])
        self.assertEqual([p.method_access(MANAGER, m) for m in (1, 2)], [0, 0])
        rights = axdr.to_bytes(p.access_rights(MANAGER))
        self.assertIn(h("02 02 0F 01 16 00 02 02 0F 02 16 00"), rights)
        p.set(8, (axdr.DOUBLE_LONG_UNSIGNED, 96), None)
        self.assertEqual(enc(p.get(7, None)), "06 00 00 00 60")


class TestRingSource(unittest.TestCase):
    def test_interface(self):
        r = RingSource(3)
        self.assertEqual((r.count(), r.limit()), (0, 3))
        self.assertEqual(list(r.rows(0, -1)), [])
        for i in range(5):
            r.append([(axdr.UNSIGNED, i)], 100 + i)
        self.assertEqual(r.count(), 3)
        self.assertEqual([r.time(i) for i in range(3)], [102, 103, 104])
        self.assertEqual([x[0][1] for x in r.rows(0, 2)], [2, 3, 4])
        self.assertEqual([x[0][1] for x in r.rows(1, 1)], [3])
        # a transfer in progress keeps its rows when a capture comes in
        it = r.rows(0, 2)
        r.append([(axdr.UNSIGNED, 5)], 105)
        self.assertEqual(len(list(it)), 3)
        r.reset()
        self.assertEqual(r.count(), 0)
        r.append([(axdr.UNSIGNED, 9)], 200)
        self.assertEqual([x[0][1] for x in r.rows(0, 0)], [9])
        with self.assertRaises(ValueError):
            r.set_limit(4)
