"""Alarm register and alarm filter (cosem.alarm), and what the meter keeps in
flash across a power cut: the alarm bits, the filter and the disconnect
control's state."""

import binascii
import os
import unittest

import support  # noqa: F401  (keeps the firmware quiet)
from app import config
from app.meter import build_meter
from cosem.alarm import (
    ALARM_FRAUD_ATTEMPT,
    ALARM_POWER_UP,
    AlarmFilter,
    AlarmRegister,
    Alarms,
)
from dlms import axdr, obis
from dlms.errors import DataAccessError
from hal.clock import ManualClock
from hal.store import open_store

U32 = axdr.DOUBLE_LONG_UNSIGNED


class TestAlarms(unittest.TestCase):
    def setUp(self):
        self.raised = []
        self.reg = AlarmRegister()
        self.filt = AlarmFilter()
        self.alarms = Alarms(self.reg, self.filt, self.raised.append)

    def test_a_bit_is_raised_once(self):
        self.assertTrue(self.alarms.raise_alarm(ALARM_POWER_UP))
        self.assertFalse(self.alarms.raise_alarm(ALARM_POWER_UP))
        self.assertEqual(self.reg.get(2, None), (U32, 4))
        self.assertEqual(self.raised, [ALARM_POWER_UP])

    def test_the_filter_masks(self):
        self.filt.set(2, (U32, 1 << ALARM_FRAUD_ATTEMPT), None)
        self.assertFalse(self.alarms.raise_alarm(ALARM_POWER_UP))
        self.assertTrue(self.alarms.raise_alarm(ALARM_FRAUD_ATTEMPT))
        self.assertEqual(self.reg.get(2, None), (U32, 0x1000))

    def test_writing_clears_what_is_zero(self):
        for bit in (0, 2, 12):
            self.alarms.raise_alarm(bit)
        self.reg.set(2, (U32, 0xFFFFFFFF & ~(1 << 2)), None)  # clear power up only
        self.assertEqual(self.reg.get(2, None), (U32, 0x1001))
        self.reg.set(2, (U32, 0), None)  # what head-ends write: clear all
        self.assertEqual(self.reg.get(2, None), (U32, 0))
        self.assertTrue(self.alarms.raise_alarm(2))  # and it can come again

    def test_wrong_type_refused(self):
        with self.assertRaises(DataAccessError):
            self.reg.set(2, (axdr.LONG_UNSIGNED, 0), None)
        with self.assertRaises(DataAccessError):
            self.filt.set(2, (axdr.OCTET_STRING, b"\x00"), None)


class TestMeterKeepsItsState(unittest.TestCase):
    def setUp(self):
        self.dir = "/tmp/mpdlms-alarm-%s" % binascii.hexlify(os.urandom(4)).decode()
        os.mkdir(self.dir)
        self.store = open_store(self.dir + "/flash.img", 64, 512)
        self.clock = ManualClock(1806062400)
        self.switched = []
        self.boot()

    def tearDown(self):
        self.store.dev.close()
        for name in os.listdir(self.dir):
            os.remove(self.dir + "/" + name)
        os.rmdir(self.dir)

    def boot(self):
        self.model = build_meter(
            config.load(None), hal_clock=self.clock, store=self.store, relay=self.switched.append
        )
        self.dev = self.model.server.devices[1]

    def power_cut(self):
        self.store = open_store(None, dev=self.store.dev.reboot())
        self.boot()

    def obj(self, ln):
        return self.dev.find(obis.parse(ln))

    def test_power_up_alarm_survives_and_clears(self):
        reg = self.obj("0.0.97.98.0.255")
        self.assertEqual(reg.get(2, None), (U32, 1 << ALARM_POWER_UP))
        reg.set(2, (U32, 0), None)
        self.obj("0.0.97.98.10.255").set(2, (U32, 1 << ALARM_FRAUD_ATTEMPT), None)
        self.power_cut()
        # cleared stays cleared; the filter kept power up out this time
        self.assertEqual(self.obj("0.0.97.98.0.255").get(2, None), (U32, 0))
        self.assertEqual(self.obj("0.0.97.98.10.255").get(2, None), (U32, 0x1000))

    def test_lockout_raises_the_fraud_alarm(self):
        guard = self.model.server.lls_guard
        for _ in range(guard.lockout):
            guard.failed(17, self.clock.now())
        bits = self.obj("0.0.97.98.0.255").get(2, None)[1]
        self.assertTrue(bits & (1 << ALARM_FRAUD_ATTEMPT))

    def test_disconnect_state_survives_a_power_cut(self):
        dc = self.obj("0.0.96.3.10.255")
        self.assertEqual(self.switched, [True])
        dc.action(1, (axdr.INTEGER, 0), None)  # remote disconnect
        self.assertEqual(self.switched, [True, False])
        dc.set(4, (axdr.ENUM, 2), None)
        self.power_cut()
        dc = self.obj("0.0.96.3.10.255")
        self.assertEqual(self.switched[-1], False)  # the new boot drove it open
        self.assertEqual(dc.get(3, None), (axdr.ENUM, 0))  # disconnected
        self.assertEqual(dc.get(4, None), (axdr.ENUM, 2))
        dc.action(2, (axdr.INTEGER, 0), None)  # mode 2: remote reconnect, directly
        self.assertEqual(self.switched[-1], True)
        self.power_cut()
        self.assertEqual(self.obj("0.0.96.3.10.255").get(3, None), (axdr.ENUM, 1))


if __name__ == "__main__":
    unittest.main()
