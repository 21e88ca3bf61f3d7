"""The serial ports' configuration (app/config.py "serial") and the
simulated neighbours on the RS-485 bus (app/main.py, app/serial.py)."""

import json
import unittest

from app import config
from app.config import ConfigError
from app.main import parse_args
from app.serial import neighbour_config


def load(over):
    return config.load(json.dumps(over))


class TestSerialConfig(unittest.TestCase):
    def test_defaults(self):
        s = config.load()["serial"]
        self.assertEqual((s["baudrate"], s["inter_octet_ms"], s["inactivity_s"]), (9600, 25, 120))
        self.assertEqual(s["rs485"]["addresses"], [16, 17])
        self.assertTrue(s["optical"]["enabled"])

    def test_refusals_name_the_field(self):
        cases = [
            ({"baudrate": 1000}, "serial.baudrate"),
            ({"baudrate": "9600"}, "serial.baudrate"),
            ({"inter_octet_ms": 5}, "serial.inter_octet_ms"),
            ({"inactivity_s": 0}, "serial.inactivity_s"),
            ({"optical": {"enabled": 1}}, "serial.optical.enabled"),
            ({"rs485": {"addresses": []}}, "serial.rs485.addresses"),
            ({"rs485": {"addresses": [16, 15]}}, "serial.rs485.addresses[1]"),
            ({"rs485": {"addresses": [16, 16]}}, "serial.rs485.addresses[1]"),
            ({"rs485": {"speed": 1}}, "serial.rs485.speed"),
        ]
        for over, field in cases:
            with self.assertRaises(ConfigError) as e:
                load({"serial": over})
            self.assertTrue(str(e.exception).startswith(field + ":"), (over, str(e.exception)))

    def test_a_bus_of_three(self):
        cfg = load({"serial": {"rs485": {"addresses": [40, 41, 0x3FFD]}, "baudrate": 300}})
        self.assertEqual(cfg["serial"]["rs485"]["addresses"], [40, 41, 0x3FFD])


class TestNeighbours(unittest.TestCase):
    def test_identity_and_flash_of_a_neighbour(self):
        cfg = config.load()
        n = neighbour_config(cfg, 1, 17)
        self.assertEqual(n["identity"]["serial"], "00000002")
        self.assertEqual(n["identity"]["logical_device_name"], "MPY0000000000002")
        self.assertEqual(n["store"]["path"], "build/sim/store-17.img")
        # the meter's own configuration is left alone
        self.assertEqual(cfg["identity"]["serial"], "00000001")
        self.assertEqual(cfg["store"]["path"], "build/sim/store.img")
        config.validate(n)

    def test_other_serial_numbers_and_paths(self):
        cfg = load({"identity": {"serial": "A7"}, "store": {"path": "flash/meter"}})
        n = neighbour_config(cfg, 2, 18)
        self.assertEqual(n["identity"]["serial"], "A7-18")
        self.assertEqual(n["identity"]["logical_device_name"], "MPY00000000A7-18")
        self.assertEqual(n["store"]["path"], "flash/meter-18")
        n = neighbour_config(load({"store": {"path": ""}}), 1, 17)
        self.assertEqual(n["store"]["path"], "")

    def test_pty_options(self):
        opts = parse_args(["--pty", "optical=5:/dev/pts/3", "--pty", "rs485=7:/dev/pts/4"])
        self.assertEqual(opts["pty"], ["optical=5:/dev/pts/3", "rs485=7:/dev/pts/4"])


if __name__ == "__main__":
    unittest.main()
