"""The meter's JSON configuration: defaults, overrides, and refusals naming the field."""

import json
import unittest

from app import config
from app.config import ConfigError


def refused(over):
    try:
        config.load(json.dumps(over))
    except ConfigError as e:
        return str(e)
    return None


class TestConfig(unittest.TestCase):
    def test_defaults(self):
        cfg = config.load(None)
        self.assertEqual(cfg["network"]["wrapper_port"], 4059)
        self.assertEqual(cfg["network"]["hdlc_port"], 4061)
        self.assertEqual(cfg["hdlc"]["physical_address"], 16)
        self.assertEqual([c["sap"] for c in cfg["clients"]], [16, 17, 1])
        self.assertTrue(config.simulator_defaults_in_use(cfg))

    def test_override_merges(self):
        cfg = config.load('{"network": {"wrapper_port": 5000}, "identity": {"serial": "42"}}')
        self.assertEqual(cfg["network"]["wrapper_port"], 5000)
        self.assertEqual(cfg["network"]["hdlc_port"], 4061)
        self.assertEqual(cfg["identity"]["serial"], "42")
        self.assertEqual(cfg["identity"]["manufacturer"], "MPY")

    def test_own_passwords_and_keys(self):
        own = {
            "clients": [
                {"sap": 1, "level": "manager", "authentication": "lls", "password": "s3cret!"}
            ]
        }
        self.assertTrue(config.simulator_defaults_in_use(config.load(json.dumps(own))))
        own["security"] = {
            "block_cipher_key": "11" * 16,
            "authentication_key": "22" * 16,
            "master_key": "33" * 16,
        }
        self.assertFalse(config.simulator_defaults_in_use(config.load(json.dumps(own))))

    def test_security_fields(self):
        for over, field in (
            ({"security": {"system_title": "4D4D"}}, "security.system_title"),
            ({"security": {"block_cipher_key": "zz" * 16}}, "security.block_cipher_key"),
            ({"security": {"suite": 2}}, "security.block_cipher_key"),  # needs 32 octets
            ({"security": {"suite": 3}}, "security.suite"),
            (
                {"clients": [{"sap": 1, "level": "manager", "security": "strong"}]},
                "clients[0].security",
            ),
            (
                {"clients": [{"sap": 1, "level": "manager", "authentication": "hls-md5"}]},
                "clients[0].password",
            ),
        ):
            msg = refused(over)
            self.assertIsNotNone(msg, field)
            self.assertIn(field, msg)

    def test_refusals_name_the_field(self):
        cases = (
            ({"network": {"wrapper_port": 70000}}, "network.wrapper_port"),
            ({"network": {"wrapper_port": "4059"}}, "network.wrapper_port"),
            ({"network": {"port": 1}}, "network.port: unknown field"),
            ({"colour": "red"}, "colour: unknown field"),
            ({"identity": {"logical_device_name": "X" * 17}}, "identity.logical_device_name"),
            ({"identity": {"manufacturer": "AB"}}, "identity.manufacturer"),
            # 62056-21: three letters (a crash at start-up before); t_r under
            # 200 ms only with a lower-case third letter
            ({"identity": {"manufacturer": "M!Y"}}, "identity.manufacturer"),
            ({"identity": {"manufacturer": "M1Y"}}, "identity.manufacturer"),
            ({"serial": {"optical": {"response_ms": 20}}}, "serial.optical.response_ms"),
            # MQTT topic names: no wildcards (the gateway died at start on them)
            ({"gateway": {"mqtt": {"base": "home/+meter"}}}, "gateway.mqtt.base"),
            ({"gateway": {"mqtt": {"prefix": "homeassistant/#"}}}, "gateway.mqtt.prefix"),
            ({"gateway": {"mqtt": {"base": "a//b"}}}, "gateway.mqtt.base"),
            ({"hdlc": {"window": 8}}, "hdlc.window"),
            ({"max_pdu": 10}, "max_pdu"),
            ({"clock": {"dst": "yes"}}, "clock.dst"),
            ({"clients": []}, "clients"),
            ({"clients": [{"sap": 16, "level": "root"}]}, "clients[0].level"),
            ({"clients": [{"sap": 200, "level": "public"}]}, "clients[0].sap"),
            (
                {"clients": [{"sap": 16, "level": "public"}, {"sap": 16, "level": "reader"}]},
                "clients[1].sap",
            ),
            (
                {"clients": [{"sap": 17, "level": "reader", "authentication": "lls"}]},
                "clients[0].password",
            ),
            (
                {"clients": [{"sap": 17, "level": "reader", "authentication": "kerberos"}]},
                "clients[0].authentication",
            ),
            ({"clients": [{"sap": 17, "level": "reader", "pin": 1}]}, "clients[0].pin"),
            ({"gas": {"sap": 1}}, "gas.sap"),
            ({"load_profile": {"entries": 0}}, "load_profile.entries"),
            ({"store": {"path": "build/sim/st\x00ore.img"}}, "store.path: must not hold control"),
            ({"identity": {"serial": "12\n34"}}, "identity.serial: must not hold control"),
        )
        for over, field in cases:
            msg = refused(over)
            self.assertIsNotNone(msg, field)
            self.assertIn(field, msg)

    def test_passwords_may_hold_any_character(self):
        c = [{"sap": 17, "level": "reader", "authentication": "lls", "password": "a\x00\x07b"}]
        self.assertIsNone(refused({"clients": c}))

    def test_not_json(self):
        with self.assertRaises(ConfigError):
            config.load("{not json")
        with self.assertRaises(ConfigError):
            config.load("[1, 2]")


class TestSimulation(unittest.TestCase):
    def test_tariffs_add_up(self):
        from app.sim import DAY, EPOCH, Simulation

        s = Simulation()
        for t in (EPOCH + 1, EPOCH + 7 * 3600 + 5, 1795000000, 1795000000 + DAY // 3):
            # each register rounds down to the Wh on its own
            for fn in (s.import_wh, s.export_wh):
                self.assertIn(fn(t) - fn(t, 1) - fn(t, 2), (0, 1))

    def test_energy_only_grows(self):
        from app.sim import Simulation

        s = Simulation()
        last = 0
        for k in range(200):
            v = s.import_wh(1795000000 + k * 977)
            self.assertGreaterEqual(v, last)
            last = v

    def test_tariff_moves_energy_by_time_of_day(self):
        from app.sim import DAY, EPOCH, Simulation

        s = Simulation()
        night = EPOCH + 100 * DAY + 2 * 3600 - 3600  # 02:00 local
        before = (s.import_wh(night, 1), s.import_wh(night, 2))
        after = (s.import_wh(night + 3600, 1), s.import_wh(night + 3600, 2))
        self.assertEqual(after[0], before[0])  # day rate still
        self.assertGreater(after[1], before[1] + 500)  # an hour of load on the night rate
