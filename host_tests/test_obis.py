"""OBIS codes, IEC 62056-6-1: the 6-byte form and the text forms."""

import unittest

from dlms import obis
from dlms.errors import DecodeError
from support import h

ENERGY = h("01 00 01 08 00 FF")


class TestObis(unittest.TestCase):
    def test_forms(self):
        for text in ("1.0.1.8.0.255", "1-0:1.8.0*255", "1-0:1.8.0.255", "1-0:1.8.0", " 1-0:1.8.0 "):
            self.assertEqual(obis.parse(text), ENERGY, text)

    def test_six_bytes_pass_through(self):
        self.assertEqual(obis.parse(ENERGY), ENERGY)
        self.assertEqual(obis.parse(bytearray(ENERGY)), ENERGY)

    def test_billing_period(self):
        self.assertEqual(obis.parse("1-0:1.8.0&01"), h("01 00 01 08 00 01"))
        self.assertEqual(obis.parse("1-0:1.8.0*101"), h("01 00 01 08 00 65"))

    def test_mbus_channel(self):
        self.assertEqual(obis.parse("0-1:24.2.1"), h("00 01 18 02 01 FF"))

    def test_format(self):
        self.assertEqual(obis.dotted(ENERGY), "1.0.1.8.0.255")
        self.assertEqual(obis.reduced(ENERGY), "1-0:1.8.0*255")
        self.assertEqual(obis.short(ENERGY), "1-0:1.8.0")
        self.assertEqual(obis.short(h("01 00 01 08 00 01")), "1-0:1.8.0*1")

    def test_round_trip_every_form(self):
        for code in (ENERGY, h("00 00 2A 00 00 FF"), h("07 00 00 00 00 00")):
            for fmt in (obis.dotted, obis.reduced, obis.short):
                self.assertEqual(obis.parse(fmt(code)), code)

    def test_malformed(self):
        for bad in (
            "",
            "1.0.1.8.0",
            "1.0.1.8.0.256",
            "1-0:1.8",
            "a-0:1.8.0",
            "1-0:1..0",
            "1.0.1.8.0.255.1",
            "1-0:1.8.0*x",
            "1-0:1.8.0.-1",
            h("01 00 01"),
        ):
            with self.assertRaises(DecodeError):
                obis.parse(bad)
