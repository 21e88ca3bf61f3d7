"""Register (3), Extended register (4) and Demand register (5), Blue Book 4.3.2-4.3.4."""

import unittest

from cosem.base import MANAGER
from cosem.clock import Clock
from cosem.register import UNIT_W, UNIT_WH, DemandRegister, ExtendedRegister, Register
from dlms import axdr, xdlms
from hal.clock import ManualClock
from test_cosem_clock_profile import dae

U32 = axdr.DOUBLE_LONG_UNSIGNED
T0 = 1768456740  # 2026-01-15 05:59 UTC


class Counter:
    """A provider with value() and reset(), as an accumulating register."""

    def __init__(self):
        self.v = 500

    def value(self):
        return self.v

    def reset(self):
        self.v = 0


class TestRegisterReset(unittest.TestCase):
    def test_stored_value(self):
        r = Register("1.0.1.8.0.255", U32, 123, 0, UNIT_WH)
        self.assertEqual(r.method_access(MANAGER, 1), 1)
        self.assertIsNone(r.action(1, (axdr.INTEGER, 0), None))
        self.assertEqual(r.get(2, None), (U32, 0))
        s = Register("0.0.96.1.1.255", axdr.OCTET_STRING, b"abc")
        s.action(1, (axdr.INTEGER, 0), None)
        self.assertEqual(s.get(2, None), (axdr.OCTET_STRING, b""))

    def test_provider_with_reset(self):
        c = Counter()
        r = Register("1.0.1.8.0.255", U32, c, 0, UNIT_WH)
        self.assertEqual(r.method_access(MANAGER, 1), 1)
        r.action(1, (axdr.INTEGER, 0), None)
        self.assertEqual(r.get(2, None), (U32, 0))

    def test_computed_value_is_not_reset(self):
        # a value a callable computes cannot go to its default: reset is
        # neither advertised nor answered with success
        r = Register("1.0.1.8.0.255", U32, lambda: 77, 0, UNIT_WH)
        self.assertEqual(r.method_access(MANAGER, 1), 0)
        rights = axdr.to_bytes(r.access_rights(MANAGER))
        self.assertTrue(rights.endswith(bytes((0x01, 0x01, 0x02, 0x02, 0x0F, 0x01, 0x16, 0x00))))
        dae(self, xdlms.READ_WRITE_DENIED, r.action, 1, (axdr.INTEGER, 0), None)
        self.assertEqual(r.get(2, None), (U32, 77))


class TestExtendedRegisterCaptureTime(unittest.TestCase):
    def setUp(self):
        self.hal = ManualClock(T0)
        self.clock = Clock("0.0.1.0.0.255", self.hal)

    def stamp(self, r):
        return axdr.DateTime.from_bytes(r.get(5, None)[1])

    def test_reset_of_a_stored_value(self):
        r = ExtendedRegister("1.0.1.6.0.255", U32, 9, clock=self.clock)
        self.hal.advance(60)
        r.action(1, (axdr.INTEGER, 0), None)
        self.assertEqual(r.get(2, None), (U32, 0))
        at = self.clock.local_datetime(T0 + 60)
        self.hal.advance(3600)
        self.assertEqual(self.stamp(r), at)  # the value has not changed since
        r.set(2, (U32, 5), None)  # a new value: captured now
        self.assertEqual(self.stamp(r), self.clock.local_datetime(T0 + 3660))

    def test_provider_value_follows_the_reading(self):
        c = Counter()
        r = ExtendedRegister("1.0.1.6.0.255", U32, c, clock=self.clock)
        r.action(1, (axdr.INTEGER, 0), None)
        c.v = 40  # the value moves on after the reset
        self.hal.advance(7200)
        self.assertEqual(self.stamp(r), self.clock.local_datetime(T0 + 7200))

    def test_computed_value(self):
        r = ExtendedRegister("1.0.1.6.0.255", U32, lambda: 3, clock=self.clock)
        self.assertEqual(r.method_access(MANAGER, 1), 0)
        dae(self, xdlms.READ_WRITE_DENIED, r.action, 1, (axdr.INTEGER, 0), None)
        self.hal.advance(10)
        self.assertEqual(self.stamp(r), self.clock.local_datetime(T0 + 10))


class TestDemandRegister(unittest.TestCase):
    """A load of 1000 W until B + 300, then 4000 W; periods of 900 s from B."""

    B = T0 - T0 % 900 + 900

    def setUp(self):
        self.hal = ManualClock(self.B + 600)
        self.clock = Clock("0.0.1.0.0.255", self.hal)
        self.d = DemandRegister(
            "1.0.1.4.0.255", U32, self.energy, self.clock, 0, UNIT_W, period=900
        )

    def energy(self, a, b):
        # W s over (a, b]
        def at(t):
            k = self.B + 300
            return 1000 * t if t <= k else 1000 * k + 4000 * (t - k)

        return at(b) - at(a)

    def averages(self):
        return self.d.get(2, None)[1], self.d.get(3, None)[1]

    def test_current_average_divides_by_the_period(self):
        # 10 min in: 1000 W x 300 s + 4000 W x 300 s over 900 s, not over 600 s
        self.assertEqual(self.averages()[0], (300000 + 1200000) // 900)
        self.hal.set(self.B + 1)
        self.assertEqual(self.averages()[0], 1)  # one second of 1000 W: 1000/900
        # the last period: 1000 W throughout
        self.assertEqual(self.averages()[1], 1000)
        self.hal.set(self.B + 900)
        self.assertEqual(self.averages(), (0, (300000 + 600 * 4000) // 900))

    def test_number_of_periods(self):
        self.d.set(9, (axdr.LONG_UNSIGNED, 2), None)
        self.hal.set(self.B + 900 + 450)
        # current: 450 s of 4000 W over 2 x 900 s; last: the two periods before
        self.assertEqual(self.averages(), (1000, (1000 * 1200 + 4000 * 600) // 1800))

    def test_next_period(self):
        current = self.averages()[0]
        self.assertIsNone(self.d.action(2, (axdr.INTEGER, 0), None))
        self.assertEqual(self.averages(), (0, current))
        self.hal.advance(9)
        self.assertEqual(self.averages(), (40, current))  # 9 s of 4000 W / 900
        # the natural boundary closes the period the method started
        self.hal.set(self.B + 900)
        self.assertEqual(self.averages()[1], 4000 * 300 // 900)

    def test_reset(self):
        self.hal.set(self.B + 1000)
        self.assertNotEqual(self.averages(), (0, 0))
        self.d.action(1, (axdr.INTEGER, 0), None)
        self.assertEqual(self.averages(), (0, 0))
        self.hal.set(self.B + 1800)
        self.assertEqual(self.averages()[1], 4000 * 800 // 900)


if __name__ == "__main__":
    unittest.main()
