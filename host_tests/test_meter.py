"""The simulated meter's model: periodic captures on the clock, event logs."""

import unittest

import support  # noqa: F401  (keeps the firmware quiet)
from app import config
from app.meter import build_meter
from cosem.base import MANAGER
from dlms import axdr, obis
from hal.clock import ManualClock

DAY = 86400
T0 = 1795000000 - 1795000000 % DAY + 3600  # 01:00 UTC


class TestMeterModel(unittest.TestCase):
    def setUp(self):
        self.clock = ManualClock(T0)
        self.model = build_meter(config.load(None), hal_clock=self.clock)
        self.dev = self.model.server.devices[1]

    def test_daily_profile_captured_once_per_day(self):
        daily = self.dev.find(obis.parse("1.0.98.1.0.255"))
        self.model.tick()
        self.assertEqual(daily.source.count(), 1)  # today's midnight
        self.clock.advance(3600)
        self.model.tick()
        self.assertEqual(daily.source.count(), 1)
        self.clock.advance(DAY)
        self.model.tick()
        self.assertEqual(daily.source.count(), 2)
        self.assertEqual(daily.source.time(1) - daily.source.time(0), DAY)
        # columns: clock, T1 and T2 import, T1 and T2 export; rates only grow
        first = list(daily.source.rows(0, 0))[0]
        second = list(daily.source.rows(1, 1))[0]
        self.assertEqual(len(first), 5)
        for a, b in zip(first[1:], second[1:]):
            self.assertGreaterEqual(b[1], a[1])
        self.assertGreater(second[1][1] + second[2][1], first[1][1] + first[2][1])

    def test_power_up_in_the_standard_event_log(self):
        log = self.dev.find(obis.parse("0.0.99.98.0.255"))
        self.assertEqual(log.source.count(), 1)
        row = list(log.source.rows(0, 0))[0]
        self.assertEqual(row[1][1], 2)  # power up
        for e in (1, 2, 5):
            self.assertIsNotNone(self.dev.find(obis.parse("0.0.99.98.%d.255" % e)))


class TestRightsAsServed(unittest.TestCase):
    """object_list advertises what GET, SET and ACTION then do."""

    def setUp(self):
        self.model = build_meter(config.load(None), hal_clock=ManualClock(T0))
        self.dev = self.model.server.devices[1]

    def test_simulated_load_profile(self):
        lp = self.dev.find(obis.parse("1.0.99.1.0.255"))
        # a computed buffer: capture_objects, capture_period, reset and
        # capture are not offered; profile_entries is
        self.assertEqual([lp.attribute_access(MANAGER, a) for a in (3, 4, 8)], [1, 1, 3])
        self.assertEqual([lp.method_access(MANAGER, m) for m in (1, 2)], [0, 0])

    def test_timed_profiles(self):
        # the daily profile is captured on its capture_period: writable, and
        # a written period drives the captures
        daily = self.dev.find(obis.parse("1.0.98.1.0.255"))
        self.assertIn(daily, self.model.periodic)
        self.assertEqual(daily.attribute_access(MANAGER, 4), 3)
        daily.set(4, (axdr.DOUBLE_LONG_UNSIGNED, 3600), None)
        clock = self.model.clock.clock
        self.model.tick()
        n = daily.source.count()
        clock.advance(3600)
        self.model.tick()
        self.assertEqual(daily.source.count(), n + 1)
        # event logs and the monthly profile are not timed
        for ln in ("0.0.99.98.0.255", "0.0.98.1.0.255"):
            self.assertEqual(self.dev.find(obis.parse(ln)).attribute_access(MANAGER, 4), 1)

    def test_sap_assignment(self):
        sap = self.dev.find(obis.parse("0.0.41.0.0.255"))
        self.assertEqual(sap.method_access(MANAGER, 1), 0)


class TestEventsNeverRaise(unittest.TestCase):
    def test_event_log_that_cannot_store(self):
        model = build_meter(config.load(None), hal_clock=ManualClock(T0))

        class Full:
            def capture(self, t=None):
                raise ValueError("row of more than 22 octets")

        model.event_log = Full()
        model.event(5)  # logged, not raised


class TestTariffsAndControl(unittest.TestCase):
    def setUp(self):
        # 2026-01-15 05:59 UTC = 06:59 CET
        self.clock = ManualClock(1768456740)
        self.model = build_meter(config.load(None), hal_clock=self.clock)
        self.dev = self.model.server.devices[1]

    def tariff(self):
        return self.dev.find(obis.parse("0.0.96.14.0.255")).value[1]

    def test_calendar_switches_the_tariff(self):
        self.model.tick()
        self.assertEqual(self.tariff(), 2)  # night rate before 07:00
        self.clock.advance(120)
        self.model.tick()
        self.assertEqual(self.tariff(), 1)  # 07:00 local: day rate
        self.clock.advance(16 * 3600)  # 23:01 local
        self.model.tick()
        self.assertEqual(self.tariff(), 2)

    def test_activation_inside_a_clock_adjustment(self):
        # a passive calendar due 30 s from now, and the clock shifted 60 s
        # ahead: the activation time is crossed, so the calendar activates
        cal = self.dev.find(obis.parse("0.0.13.0.0.255"))
        clock = self.dev.find(obis.parse("0.0.1.0.0.255"))
        self.model.tick()
        cal.set(6, (axdr.OCTET_STRING, b"NEW"), None)
        at = clock.local_datetime(self.clock.now() + 30).to_bytes()
        cal.set(10, (axdr.OCTET_STRING, at), None)
        clock.action(6, (axdr.LONG, 60), None)
        self.clock.advance(1)
        self.model.tick()
        self.assertEqual(cal.get(2, None), (axdr.OCTET_STRING, b"NEW"))

    def test_clock_set_back_runs_nothing_twice(self):
        self.clock.advance(120)  # 07:01 local: day rate
        self.model.tick()
        self.assertEqual(self.tariff(), 1)
        clock = self.dev.find(obis.parse("0.0.1.0.0.255"))
        clock.action(6, (axdr.LONG, -600), None)  # 06:51: before the switch
        self.clock.advance(1)
        self.model.tick()
        self.assertEqual(self.tariff(), 2)
        self.clock.advance(600)
        self.model.tick()
        self.assertEqual(self.tariff(), 1)

    def test_limiter_opens_the_breaker(self):
        from dlms import axdr

        dc = self.dev.find(obis.parse("0.0.96.3.10.255"))
        limiter = self.dev.find(obis.parse("0.0.17.0.0.255"))
        self.model.tick()
        self.assertEqual(dc.get(2, None), (axdr.BOOLEAN, True))
        limiter.threshold_normal = (axdr.DOUBLE_LONG_UNSIGNED, 10)  # 10 W: always over
        limiter.threshold_emergency = limiter.threshold_normal
        for _ in range(62):
            self.clock.advance(1)
            self.model.tick()
        self.assertEqual(dc.get(2, None), (axdr.BOOLEAN, False))
        self.assertEqual(dc.get(3, None), (axdr.ENUM, 2))  # ready for reconnection


class TestWhatClientsChangeOutlivesAReboot(unittest.TestCase):
    """Secrets (attribute 7, change_HLS_secret) and security_activate are
    persisted, as keys are: a meter rebooted does not fall back to weaker
    settings than its clients made."""

    def setUp(self):
        import binascii
        import os

        from hal.store import open_store

        self.path = "/tmp/mpdlms-policy-%s.img" % binascii.hexlify(os.urandom(4)).decode()
        self.store = open_store(self.path, 64, 512)

    def tearDown(self):
        import os

        self.store.dev.close()
        os.remove(self.path)

    def boot(self):
        from hal.store import open_store

        self.store = open_store(None, dev=self.store.dev.reboot())
        return build_meter(config.load(None), hal_clock=ManualClock(T0), store=self.store)

    def test_secret_and_security_policy(self):
        from dlms import axdr

        model = build_meter(config.load(None), hal_clock=ManualClock(T0), store=self.store)
        dev = model.server.devices[1]
        reader = model.server.clients[17]
        self.assertEqual((reader.secret, reader.security), (b"12345678", 0))

        class Ctx:  # the reader's association, as security_activate sees it
            policy = reader

        dev.associations[17].set(7, (axdr.OCTET_STRING, b"another1"), Ctx)
        setup = dev.find(obis.parse("0.0.43.0.0.255"))
        self.assertIsNone(setup.action(1, (axdr.ENUM, 1), Ctx))  # authenticated
        manager = model.server.clients[1]
        dev.associations[1].action(2, (axdr.OCTET_STRING, b"new-hls-secret"), None)

        model = self.boot()
        reader = model.server.clients[17]
        self.assertEqual((reader.secret, reader.security), (b"another1", 0x10))
        self.assertEqual(model.server.clients[1].secret, b"new-hls-secret")
        self.assertEqual(model.server.clients[1].security, manager.security)
        self.assertEqual(model.server.clients[16].secret, None)  # untouched

    def test_configuration_a_client_sets(self):
        # through the server's SET and ACTION, as a manager's requests come:
        # the time zone, the passive calendar and its activation, a special
        # day, a limiter threshold, the daily profile's capture period
        from dlms import axdr, xdlms
        from dlms.server import STATE_ASSOCIATED, Association

        model = build_meter(config.load(None), hal_clock=ManualClock(T0), store=self.store)
        srv = model.server
        a = Association(srv, 1, srv.devices[1])
        a.policy = srv.clients[1]
        a.level = a.policy.level
        a.state = STATE_ASSOCIATED
        a.association_object = srv.devices[1].associations[1]

        def do(fn, cls, ln, n, data):
            r, _ = a._call(fn, (cls, obis.parse(ln), n, None, None), data)
            self.assertEqual(r, xdlms.SUCCESS, (ln, n))

        day = (axdr.OCTET_STRING, bytes((0xFF, 0xFF, 12, 24, 0xFF)))
        do(a.write, 8, "0.0.1.0.0.255", 3, (axdr.LONG, 60))
        do(a.write, 20, "0.0.13.0.0.255", 6, (axdr.OCTET_STRING, b"SUMMER"))
        do(a.invoke, 20, "0.0.13.0.0.255", 1, (axdr.INTEGER, 0))  # activated
        entry = [(axdr.LONG_UNSIGNED, 9), day, (axdr.UNSIGNED, 2)]
        do(a.invoke, 11, "0.0.11.0.0.255", 1, (axdr.STRUCTURE, entry))
        do(a.write, 71, "0.0.17.0.0.255", 4, (axdr.DOUBLE_LONG_UNSIGNED, 4321))
        do(a.write, 7, "1.0.98.1.0.255", 4, (axdr.DOUBLE_LONG_UNSIGNED, 3600))

        dev = self.boot().server.devices[1]

        def get(ln, n):
            return dev.find(obis.parse(ln)).get(n, None)

        self.assertEqual(get("0.0.1.0.0.255", 3), (axdr.LONG, 60))
        self.assertEqual(get("0.0.13.0.0.255", 2), (axdr.OCTET_STRING, b"SUMMER"))  # active
        self.assertEqual(get("0.0.13.0.0.255", 6), (axdr.OCTET_STRING, b"SUMMER"))
        self.assertIn((axdr.STRUCTURE, entry), get("0.0.11.0.0.255", 2)[1])
        self.assertEqual(get("0.0.17.0.0.255", 4), (axdr.DOUBLE_LONG_UNSIGNED, 4321))
        self.assertEqual(get("1.0.98.1.0.255", 4)[1], 3600)
        # what no client touched keeps its configured value
        self.assertEqual(get("0.0.1.0.0.255", 8), (axdr.BOOLEAN, True))

    def test_a_calendar_activated_by_its_time_stays_active(self):
        from dlms import axdr

        clock = ManualClock(T0)
        model = build_meter(config.load(None), hal_clock=clock, store=self.store)
        cal = model.server.devices[1].find(obis.parse("0.0.13.0.0.255"))
        model.tick()
        cal.set(6, (axdr.OCTET_STRING, b"WINTER"), None)
        when = axdr.DateTime.from_epoch(T0 + 60).to_bytes()
        cal.set(10, (axdr.OCTET_STRING, when), None)
        clock.advance(120)
        model.tick()
        self.assertEqual(cal.get(2, None), (axdr.OCTET_STRING, b"WINTER"))
        cal = self.boot().server.devices[1].find(obis.parse("0.0.13.0.0.255"))
        self.assertEqual(cal.get(2, None), (axdr.OCTET_STRING, b"WINTER"))
