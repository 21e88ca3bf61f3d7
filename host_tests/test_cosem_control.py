"""Disconnect control (Blue Book 4.5.8), Limiter (4.5.9) and Register monitor
(4.5.6): the state machine of every control mode, encodings in hex, limiter
durations and the emergency profile on explicit times, threshold crossings."""

import unittest

from cosem.base import MANAGER, READ_ONLY, READ_WRITE, CosemObject, LogicalDevice
from cosem.clock import Clock
from cosem.control import (
    CONNECTED,
    DISCONNECTED,
    LOCAL_DISCONNECT,
    LOCAL_RECONNECT,
    MANUAL_DISCONNECT,
    MANUAL_RECONNECT,
    READY_FOR_RECONNECTION,
    REMOTE_DISCONNECT,
    REMOTE_RECONNECT,
    DisconnectControl,
    Limiter,
    RegisterMonitor,
)
from dlms import axdr, xdlms
from dlms.errors import DataAccessError
from dlms.stream import pieces
from hal.clock import ManualClock
from support import h, hx

DC_LN = "0.0.96.3.10.255"
POWER_LN = h("01 00 01 07 00 FF")
SCRIPT_LN = h("00 00 0A 00 6A FF")  # disconnector script table
T0 = axdr.DateTime.from_tuple(2024, 1, 15, 12, 0, 0, 0, 0).to_epoch()


def enc(data):
    return hx(b"".join(pieces(data)))


def dae(test, result, fn, *args):
    with test.assertRaises(DataAccessError) as cm:
        fn(*args)
    test.assertEqual(cm.exception.result, result)


D, C, R = DISCONNECTED, CONNECTED, READY_FOR_RECONNECTION
# Blue Book 4.5.8 control modes table, spelled out per mode, trigger and
# state: the state after the trigger, or None where the mode forbids it.
TRIGGERS = (
    REMOTE_DISCONNECT,
    REMOTE_RECONNECT,
    MANUAL_DISCONNECT,
    MANUAL_RECONNECT,
    LOCAL_DISCONNECT,
    LOCAL_RECONNECT,
)
#                  from:   D  C  R     D  C  R     D  C  R     D  C  R     D  C  R     D  C  R
#                  remote_disc  remote_reco  manual_disc  manual_reco  local_disc   local_reco
EXPECTED = {
    0: (None, None, None, None, None, None),
    1: ((D, D, D), (R, C, R), (D, R, R), (D, C, C), (D, R, R), None),
    2: ((D, D, D), (C, C, R), (D, R, R), (D, C, C), (D, R, R), None),
    3: ((D, D, D), (R, C, R), None, (D, C, C), (D, R, R), None),
    4: ((D, D, D), (C, C, R), None, (D, C, C), (D, R, R), None),
    5: ((D, D, D), (R, C, R), (D, R, R), (D, C, C), (D, R, R), (D, C, C)),
    6: ((D, D, D), (R, C, R), None, (D, C, C), (D, R, R), (D, C, C)),
}


class Relay:
    def __init__(self):
        self.calls = []

    def __call__(self, on):
        self.calls.append(on)


class TestDisconnectControl(unittest.TestCase):
    def make(self, mode, state):
        relay = Relay()
        dc = DisconnectControl(DC_LN, relay, control_mode=mode, control_state=state)
        return dc, relay

    def test_every_mode_trigger_and_state(self):
        for mode in range(7):
            for n, trigger in enumerate(TRIGGERS):
                row = EXPECTED[mode][n]
                for state in (D, C, R):
                    dc, relay = self.make(mode, state)
                    start = dc.control_state
                    del relay.calls[:]
                    got = dc.transition(trigger)
                    where = (mode, trigger, state)
                    if row is None:
                        self.assertIsNone(got, where)
                        self.assertEqual(dc.control_state, start, where)
                        self.assertEqual(relay.calls, [], where)
                        continue
                    after = row[state]
                    self.assertEqual(dc.control_state, after, where)
                    self.assertEqual(got, after != state, where)
                    # the relay follows output_state, once per change of it
                    switched = (after == C) != (state == C)
                    self.assertEqual(relay.calls, [after == C] if switched else [], where)

    def test_remote_methods_refused_by_mode(self):
        # mode 0: always connected, remote_disconnect and remote_reconnect refused
        dc, relay = self.make(0, D)
        self.assertEqual(dc.control_state, C)
        self.assertEqual(relay.calls, [True])
        dae(self, xdlms.READ_WRITE_DENIED, dc.action, 1, (axdr.INTEGER, 0), None)
        dae(self, xdlms.READ_WRITE_DENIED, dc.action, 2, (axdr.INTEGER, 0), None)
        self.assertEqual(dc.control_state, C)
        self.assertFalse(dc.manual_disconnect())
        self.assertFalse(dc.local_disconnect())
        self.assertEqual(relay.calls, [True])

    def test_remote_cycle_mode_1(self):
        dc, relay = self.make(1, C)
        self.assertIsNone(dc.action(1, (axdr.INTEGER, 0), None))  # c
        self.assertEqual(enc(dc.get(2, None)), "03 00")
        self.assertEqual(enc(dc.get(3, None)), "16 00")
        self.assertIsNone(dc.action(1, (axdr.INTEGER, 0), None))  # no change
        dc.action(2, (axdr.INTEGER, 0), None)  # a
        self.assertEqual(enc(dc.get(3, None)), "16 02")
        self.assertEqual(enc(dc.get(2, None)), "03 00")
        self.assertFalse(dc.local_reconnect())  # h not in mode 1
        self.assertTrue(dc.manual_reconnect())  # e: the customer's button
        self.assertEqual(enc(dc.get(3, None)), "16 01")
        self.assertEqual(enc(dc.get(2, None)), "03 01")
        self.assertEqual(relay.calls, [True, False, True])

    def test_limiter_disconnect_and_local_reconnect_mode_5(self):
        dc, relay = self.make(5, C)
        self.assertTrue(dc.local_disconnect())  # g
        self.assertEqual(dc.control_state, R)
        self.assertTrue(dc.local_reconnect())  # h
        self.assertEqual(dc.control_state, C)
        self.assertEqual(relay.calls, [True, False, True])

    def test_encodings_and_access(self):
        dc, _ = self.make(4, C)
        self.assertEqual((dc.CLASS_ID, dc.VERSION), (70, 0))
        self.assertEqual(enc(dc.get(1, None)), "09 06 00 00 60 03 0A FF")
        self.assertEqual(enc(dc.get(2, None)), "03 01")
        self.assertEqual(enc(dc.get(3, None)), "16 01")
        self.assertEqual(enc(dc.get(4, None)), "16 04")
        dae(self, xdlms.OBJECT_UNAVAILABLE, dc.get, 5, None)
        self.assertEqual(dc.attribute_access(MANAGER, 4), READ_WRITE)
        for a in (1, 2, 3):
            self.assertEqual(dc.attribute_access(MANAGER, a), READ_ONLY)
        self.assertEqual(len(dc.METHODS), 2)

    def test_write_control_mode(self):
        dc, relay = self.make(1, D)
        dc.set(4, (axdr.ENUM, 2), None)
        self.assertEqual(enc(dc.get(4, None)), "16 02")
        self.assertEqual(dc.control_state, D)
        dc.set(4, (axdr.ENUM, 0), None)  # mode 0 connects
        self.assertEqual(dc.control_state, C)
        self.assertEqual(relay.calls, [False, True])
        dae(self, xdlms.OTHER_REASON, dc.set, 4, (axdr.ENUM, 7), None)
        dae(self, xdlms.TYPE_UNMATCHED, dc.set, 4, (axdr.UNSIGNED, 1), None)
        dae(self, xdlms.READ_WRITE_DENIED, dc.set, 3, (axdr.ENUM, 0), None)
        dae(self, xdlms.TYPE_UNMATCHED, dc.action, 1, (axdr.OCTET_STRING, b""), None)
        dae(self, xdlms.READ_WRITE_DENIED, dc.action, 3, (axdr.INTEGER, 0), None)
        self.assertEqual(dc.control_mode, 0)


class Power(CosemObject):
    """Instantaneous active power import, class 3 attribute 2 (W)."""

    CLASS_ID = 3
    ATTRIBUTES = ("logical_name", "value", "scaler_unit")

    def __init__(self, ln, v=0):
        super().__init__(ln)
        self.v = v

    def get(self, attr, ctx, selector=None, params=None):
        if attr == 2:
            return (axdr.DOUBLE_LONG_UNSIGNED, self.v)
        return super().get(attr, ctx, selector, params)


def device_with_power():
    dev = LogicalDevice(1, b"TEST")
    power = dev.add(Power(POWER_LN))
    return dev, power


class TestLimiter(unittest.TestCase):
    def setUp(self):
        self.dev, self.power = device_with_power()
        self.clock = Clock("0.0.1.0.0.255", ManualClock(T0))
        self.runs = []
        self.lim = Limiter(
            "0.0.17.0.0.255",
            self.dev,
            self.clock,
            (3, POWER_LN, 2),
            (axdr.DOUBLE_LONG_UNSIGNED, 5000),
            (axdr.DOUBLE_LONG_UNSIGNED, 2000),
            min_over=60,
            min_under=30,
            action_over=(SCRIPT_LN, 1),
            action_under=(SCRIPT_LN, 2),
            execute=lambda ln, sel: self.runs.append((ln, sel)),
        )

    def at(self, value, dt):
        self.power.v = value
        self.lim.tick(T0 + dt)

    def test_over_and_under_with_durations(self):
        self.at(6000, 0)
        self.at(6000, 59)
        self.assertEqual(self.runs, [])
        self.at(6000, 60)  # over for 60 s
        self.assertEqual(self.runs, [(SCRIPT_LN, 1)])
        self.at(7000, 120)  # once only
        self.at(5000, 130)  # at the threshold is not over
        self.at(5000, 159)
        self.assertEqual(len(self.runs), 1)
        self.at(4000, 160)
        self.assertEqual(self.runs, [(SCRIPT_LN, 1), (SCRIPT_LN, 2)])
        self.at(4000, 500)
        self.assertEqual(len(self.runs), 2)

    def test_short_excursions_run_nothing(self):
        self.at(6000, 0)
        self.at(100, 59)  # back under before min_over
        self.at(6000, 60)
        self.at(6000, 119)
        self.assertEqual(self.runs, [])
        self.at(6000, 120)
        self.at(100, 130)
        self.at(6000, 150)  # over again before min_under
        self.at(100, 170)
        self.at(100, 199)
        self.assertEqual(self.runs, [(SCRIPT_LN, 1)])
        self.at(100, 200)
        self.assertEqual(self.runs, [(SCRIPT_LN, 1), (SCRIPT_LN, 2)])

    def test_drives_disconnect_control(self):
        relay = Relay()
        dc = DisconnectControl(DC_LN, relay, control_mode=5)

        def execute(ln, sel):
            dc.local_disconnect() if sel == 1 else dc.local_reconnect()

        self.lim.execute = execute
        self.at(6000, 0)
        self.at(6000, 60)
        self.assertEqual(dc.control_state, R)
        self.at(0, 70)
        self.at(0, 100)
        self.assertEqual(dc.control_state, C)
        self.assertEqual(relay.calls, [True, False, True])

    def test_emergency_profile_window(self):
        lim = self.lim
        start = axdr.DateTime.from_tuple(2024, 1, 15, 13, 0, 0, 0, -60)  # 12:00 UTC
        lim.set(
            8,
            (
                axdr.STRUCTURE,
                [
                    (axdr.LONG_UNSIGNED, 7),
                    (axdr.OCTET_STRING, start.to_bytes()),
                    (axdr.DOUBLE_LONG_UNSIGNED, 3600),
                ],
            ),
            None,
        )
        self.assertFalse(lim.emergency_active(T0 + 10))  # id not in the group list
        lim.set(9, (axdr.ARRAY, [(axdr.LONG_UNSIGNED, 3), (axdr.LONG_UNSIGNED, 7)]), None)
        self.assertFalse(lim.emergency_active(T0 - 1))
        self.assertTrue(lim.emergency_active(T0))
        self.assertTrue(lim.emergency_active(T0 + 3599))
        self.assertFalse(lim.emergency_active(T0 + 3600))
        self.assertEqual(enc(lim.get(10, None)), "03 01")  # the clock is at T0
        self.assertEqual(enc(lim.get(3, None)), "06 00 00 07 D0")
        self.clock.clock.set(T0 + 3600)
        self.assertEqual(enc(lim.get(10, None)), "03 00")
        self.assertEqual(enc(lim.get(3, None)), "06 00 00 13 88")
        # 3000 W is over the emergency threshold only
        self.at(3000, 0)
        self.at(3000, 60)
        self.assertEqual(self.runs, [(SCRIPT_LN, 1)])
        self.at(3000, 3600)  # the window ends: under the normal threshold
        self.at(3000, 3630)
        self.assertEqual(self.runs, [(SCRIPT_LN, 1), (SCRIPT_LN, 2)])
        # local time without deviation is read through the clock (CET, -60)
        local = axdr.DateTime.from_tuple(2024, 1, 15, 13, 0, 0, 0).to_bytes()
        self.assertEqual(hx(local[9:11]), "80 00")
        lim.emergency_activation = local
        self.assertTrue(lim.emergency_active(T0))
        self.assertFalse(lim.emergency_active(T0 - 1))
        lim.emergency_activation = axdr.DateTime().to_bytes()  # wildcards
        self.assertFalse(lim.emergency_active(T0))

    def test_encodings(self):
        lim = self.lim
        self.assertEqual((lim.CLASS_ID, lim.VERSION), (71, 0))
        self.assertEqual(enc(lim.get(1, None)), "09 06 00 00 11 00 00 FF")
        self.assertEqual(enc(lim.get(2, None)), "02 03 12 00 03 09 06 01 00 01 07 00 FF 0F 02")
        self.assertEqual(enc(lim.get(3, None)), "06 00 00 13 88")
        self.assertEqual(enc(lim.get(4, None)), "06 00 00 13 88")
        self.assertEqual(enc(lim.get(5, None)), "06 00 00 07 D0")
        self.assertEqual(enc(lim.get(6, None)), "06 00 00 00 3C")
        self.assertEqual(enc(lim.get(7, None)), "06 00 00 00 1E")
        self.assertEqual(
            enc(lim.get(8, None)),
            "02 03 12 00 00 09 0C FF FF FF FF FF FF FF FF FF 80 00 FF 06 00 00 00 00",
        )
        self.assertEqual(enc(lim.get(9, None)), "01 00")
        self.assertEqual(enc(lim.get(10, None)), "03 00")
        self.assertEqual(
            enc(lim.get(11, None)),
            "02 02 02 02 09 06 00 00 0A 00 6A FF 12 00 01 02 02 09 06 00 00 0A 00 6A FF 12 00 02",
        )
        dae(self, xdlms.OBJECT_UNAVAILABLE, lim.get, 12, None)
        for a in (2, 4, 5, 6, 7, 8, 9, 11):
            self.assertEqual(lim.attribute_access(MANAGER, a), READ_WRITE)
        for a in (1, 3, 10):
            self.assertEqual(lim.attribute_access(MANAGER, a), READ_ONLY)

    def test_writes_and_bad_parameters(self):
        lim = self.lim
        lim.set(4, (axdr.DOUBLE_LONG_UNSIGNED, 9000), None)
        lim.set(6, (axdr.DOUBLE_LONG_UNSIGNED, 5), None)
        lim.set(7, (axdr.DOUBLE_LONG_UNSIGNED, 6), None)
        item = (axdr.STRUCTURE, [(axdr.OCTET_STRING, SCRIPT_LN), (axdr.LONG_UNSIGNED, 3)])
        lim.set(11, (axdr.STRUCTURE, [item, item]), None)
        self.assertEqual((lim.threshold_normal[1], lim.min_over, lim.min_under), (9000, 5, 6))
        self.assertEqual(lim.action_under, (SCRIPT_LN, 3))
        T = xdlms.TYPE_UNMATCHED
        dae(self, T, lim.set, 4, (axdr.OCTET_STRING, b"1"), None)
        # a threshold has the monitored value's type (double-long-unsigned)
        for attr in (4, 5):
            dae(self, T, lim.set, attr, (axdr.DOUBLE_LONG, 9000), None)
            dae(self, T, lim.set, attr, (axdr.LONG_UNSIGNED, 9000), None)
        self.assertEqual(lim.threshold_normal, (axdr.DOUBLE_LONG_UNSIGNED, 9000))
        dae(self, T, lim.set, 6, (axdr.LONG_UNSIGNED, 5), None)
        dae(self, T, lim.set, 11, (axdr.STRUCTURE, [item]), None)
        short = (axdr.STRUCTURE, [(axdr.OCTET_STRING, b"\x00"), (axdr.LONG_UNSIGNED, 3)])
        dae(self, T, lim.set, 11, (axdr.STRUCTURE, [item, short]), None)
        bad_time = [
            (axdr.LONG_UNSIGNED, 1),
            (axdr.OCTET_STRING, b"\xff"),
            (axdr.DOUBLE_LONG_UNSIGNED, 1),
        ]
        dae(self, T, lim.set, 8, (axdr.STRUCTURE, bad_time), None)
        too_many = [(axdr.LONG_UNSIGNED, i) for i in range(17)]
        dae(self, xdlms.OTHER_REASON, lim.set, 9, (axdr.ARRAY, too_many), None)
        dae(self, T, lim.set, 9, (axdr.ARRAY, [(axdr.UNSIGNED, 1)]), None)
        dae(self, xdlms.READ_WRITE_DENIED, lim.set, 3, (axdr.DOUBLE_LONG_UNSIGNED, 1), None)
        dae(self, xdlms.READ_WRITE_DENIED, lim.set, 10, (axdr.BOOLEAN, True), None)

        def definition(class_id, ln, attr):
            return (
                axdr.STRUCTURE,
                [(axdr.LONG_UNSIGNED, class_id), (axdr.OCTET_STRING, ln), (axdr.INTEGER, attr)],
            )

        dae(
            self, xdlms.OBJECT_UNDEFINED, lim.set, 2, definition(3, h("01 00 02 07 00 FF"), 2), None
        )
        dae(self, xdlms.OBJECT_UNDEFINED, lim.set, 2, definition(4, POWER_LN, 2), None)
        dae(self, xdlms.OBJECT_UNAVAILABLE, lim.set, 2, definition(3, POWER_LN, 4), None)
        dae(self, T, lim.set, 2, definition(3, POWER_LN[:5], 2), None)
        lim.set(2, definition(3, POWER_LN, 2), None)
        self.assertEqual(lim.monitored, (3, POWER_LN, 2))


class TestRegisterMonitor(unittest.TestCase):
    def setUp(self):
        self.dev, self.power = device_with_power()
        self.runs = []
        up1, down1 = (SCRIPT_LN, 1), (SCRIPT_LN, 2)
        up2, down2 = (SCRIPT_LN, 3), (SCRIPT_LN, 4)
        self.rm = RegisterMonitor(
            "0.0.16.0.1.255",
            self.dev,
            (3, POWER_LN, 2),
            [(axdr.DOUBLE_LONG_UNSIGNED, 1000), (axdr.DOUBLE_LONG_UNSIGNED, 3000)],
            [(up1, down1), (up2, down2)],
            execute=lambda ln, sel: self.runs.append(sel),
        )

    def feed(self, *values):
        for v in values:
            self.power.v = v
            self.rm.tick()

    def test_crossings_up_and_down(self):
        self.feed(500)  # the starting side: nothing runs
        self.feed(1000)  # at the threshold is not above it
        self.assertEqual(self.runs, [])
        self.feed(1001)
        self.assertEqual(self.runs, [1])
        self.feed(2000, 2500)
        self.assertEqual(self.runs, [1])
        self.feed(4000)
        self.assertEqual(self.runs, [1, 3])
        self.feed(0)  # both thresholds crossed down in one step
        self.assertEqual(self.runs, [1, 3, 2, 4])
        self.feed(3500)
        self.assertEqual(self.runs, [1, 3, 2, 4, 1, 3])

    def test_first_value_above_runs_nothing(self):
        self.feed(5000, 5000)
        self.assertEqual(self.runs, [])
        self.feed(2000)
        self.assertEqual(self.runs, [4])

    def test_encodings_and_writes(self):
        rm = self.rm
        self.assertEqual((rm.CLASS_ID, rm.VERSION), (21, 0))
        self.assertEqual(enc(rm.get(2, None)), "01 02 06 00 00 03 E8 06 00 00 0B B8")
        self.assertEqual(enc(rm.get(3, None)), "02 03 12 00 03 09 06 01 00 01 07 00 FF 0F 02")
        self.assertEqual(
            enc(rm.get(4, None))[:59],
            "01 02 02 02 02 02 09 06 00 00 0A 00 6A FF 12 00 01 02 02 09",
        )
        for a in (2, 3, 4):
            self.assertEqual(rm.attribute_access(MANAGER, a), READ_WRITE)
        self.feed(0)
        rm.set(2, (axdr.ARRAY, [(axdr.DOUBLE_LONG_UNSIGNED, 100)]), None)
        self.feed(200)  # new thresholds: the side is set again
        self.feed(50)
        self.assertEqual(self.runs, [2])
        item = (axdr.STRUCTURE, [(axdr.OCTET_STRING, SCRIPT_LN), (axdr.LONG_UNSIGNED, 9)])
        rm.set(4, (axdr.ARRAY, [(axdr.STRUCTURE, [item, item])]), None)
        self.feed(150)
        self.assertEqual(self.runs, [2, 9])
        T = xdlms.TYPE_UNMATCHED
        dae(self, T, rm.set, 2, (axdr.ARRAY, [(axdr.BOOLEAN, True)]), None)
        dae(self, T, rm.set, 2, (axdr.ARRAY, [(axdr.LONG, 100)]), None)  # not the value's type
        dae(self, T, rm.set, 2, (axdr.STRUCTURE, []), None)
        dae(self, T, rm.set, 4, (axdr.ARRAY, [(axdr.STRUCTURE, [item])]), None)
        many = [(axdr.LONG, 1)] * 17
        dae(self, xdlms.OTHER_REASON, rm.set, 2, (axdr.ARRAY, many), None)
        dae(self, xdlms.OBJECT_UNAVAILABLE, rm.get, 5, None)


if __name__ == "__main__":
    unittest.main()
