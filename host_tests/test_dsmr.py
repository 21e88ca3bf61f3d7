"""DSMR P1 input (gateway/dsmr.py) on real telegrams, on both runtimes.

Data in host_tests/data/dsmr/ (sources in its README.md): the example
telegram of the DSMR 5.0.2 P1 companion standard, the telegrams of
ndokter/dsmr_parser's test suite (DSMR 2.2, 3, 4.2, 5, e-MUCS/Fluvius,
Warmtelink heat, EasyMeter Q3D, Austria, Hungary), Swedish ones, the
encrypted Luxembourg (Smarty) frame with its key from openHAB's test suite,
and real telegrams from amshan, dsmr-reader, athombv/node-dsmr-parser and
others (P1_PUBLISHED). Expected values were read off the telegram texts, or
are those the sources assert (and for the 5.0.2 example match those the
standard lists); numbers are compared in exact mode, as (mantissa, scaler,
unit), so float parsing cannot blur them.
"""

import binascii
import unittest

from dlms.security.gcm import Gcm
from gateway import dsmr
from gateway.dsmr import (
    CRC,
    FRAMING,
    OVERSIZE,
    SMARTY_AK,
    STALE,
    TAG,
    EncryptedFramer,
    FrameCounters,
    SmartyReader,
    TelegramFramer,
    check_telegram,
    crc16,
    decrypt_frame,
    frame_header,
    iso,
    mbus_devices,
    parse,
)
from support import Rng, h

_HERE = __file__.rsplit("/", 1)[0] if "/" in __file__ else "."


def data(name):
    with open(_HERE + "/data/dsmr/" + name, "rb") as f:
        return f.read()


# every plain telegram in data/, and which of them carry a CRC
WITH_CRC = (
    "dsmr42_kaifa.txt",
    "dsmr50_iskra.txt",
    "dsmr50_iskra_two_mbus.txt",
    "dsmr50_warmtelink_heat.txt",
    "emucs_fluvius_v171.txt",
    "emucs_fluvius_v171_alt.txt",
    "eon_hungary.txt",
    "sagemcom_t210_austria.txt",
    "sweden_ell5.txt",
    "luxembourg_spec_example.txt",
    "lgf5e360_a.txt",
    "lgf5e360_d.txt",
    "ell5_2020.txt",
    "kam5_sweden.txt",
    "kam5_sweden_2021.txt",
    "xmx5_dsmr40.txt",
    "kfm5_dsmr42_2018.txt",
    "isk5_m550t.txt",
    "kfm5_1phase.txt",
    "xmx5_dsmr42.txt",
    "flu5_polyphase.txt",
    "smarty_nexxtlab_plain.txt",
    "est5_t210d_glo.txt",
    "est5_steiermark_glo.txt",
)
WITHOUT_CRC = (
    "dsmr22_example.txt",
    "dsmr30_example.txt",
    "q3d_easymeter.txt",
    "esy5q3db1024.txt",
)

# Luxembourg: openHAB's SmartyDecrypterTest frame and key
SMARTY_KEY = h("D491470F47126332B07D1923B3504188")
SMARTY_TITLE = b"SAGgp\x01\xbdT"  # 53 41 47 67 70 01 BD 54
SMARTY_FC = 0x0005A8E3


def smarty_frame():
    return binascii.unhexlify(data("smarty_encrypted.hex").replace(b"\n", b""))


def make_frame(gcm, title, fc, plaintext, ak=SMARTY_AK, sc=0x30):
    """An encrypted P1 frame as a Smarty meter sends it (0x82 length form)."""
    fcb = fc.to_bytes(4, "big")
    ct, tag = gcm.encrypt(title + fcb, bytes([sc]) + ak, plaintext)
    body = bytes([sc]) + fcb + ct + tag
    return b"\xdb" + bytes([len(title)]) + title + b"\x82" + len(body).to_bytes(2, "big") + body


def _flip(b, i, mask=0x01):
    x = bytearray(b)
    x[i] ^= mask
    return bytes(x)


def telegram_end(t):
    """Length of the telegram at the start of t ('/' .. '!CRC' CR LF)."""
    return t.find(b"\n", t.find(b"!")) + 1


class TestCrc(unittest.TestCase):
    def test_check_value(self):
        # CRC-16/ARC: poly 0x8005 reflected (0xA001), init 0, no final XOR
        self.assertEqual(crc16(b"123456789"), 0xBB3D)
        self.assertEqual(crc16(b"x123456789y", 1, 10), 0xBB3D)
        self.assertEqual(crc16(b""), 0)

    def test_real_telegrams_check(self):
        for name in WITH_CRC:
            t = data(name)
            b = t.find(b"!")
            self.assertEqual(crc16(t, 0, b + 1), int(t[b + 1 : t.find(b"\r", b)], 16), name)
            self.assertIsNone(check_telegram(t), name)
            self.assertIsNone(check_telegram(t, require_crc=True), name)

    def test_unpadded_crc(self):
        # the Warmtelink sends !B9F for 0B9F
        t = data("dsmr50_warmtelink_heat.txt")
        self.assertTrue(t.endswith(b"\r\n!B9F\r\n"))
        self.assertIsNone(check_telegram(t))

    def test_one_flipped_byte(self):
        for name in WITH_CRC:
            t = data(name)
            b = t.find(b"!")
            for i in (1, 10, b // 2, b - 2):
                self.assertEqual(check_telegram(_flip(t, i)), CRC, "%s at %d" % (name, i))
            # and in the CRC itself
            e = t.find(b"\r", b)
            wrong = b"%04X" % (int(t[b + 1 : e], 16) ^ 0x0100)
            self.assertEqual(check_telegram(t[: b + 1] + wrong + t[e:]), CRC, name)

    def test_without_crc(self):
        for name in WITHOUT_CRC:
            t = data(name)[: telegram_end(data(name))]
            self.assertEqual(t[-3:], b"!\r\n", name)
            self.assertIsNone(check_telegram(t), name)
            self.assertEqual(check_telegram(t, require_crc=True), CRC, name)

    def test_standard_example_crc_does_not_reproduce(self):
        # The 5.0.2 standard prints EF2F under its example telegram, which no
        # reading of the printed text reproduces (noted by other parsers too);
        # the text itself gives E47C.
        t = data("dsmr502_spec_example.txt")
        self.assertEqual(check_telegram(t), CRC)
        b = t.find(b"!")
        self.assertEqual(crc16(t, 0, b + 1), 0xE47C)
        self.assertIsNone(check_telegram(t[: b + 1] + b"E47C\r\n"))

    def test_framing(self):
        t = data("dsmr50_iskra.txt")
        b = t.find(b"!")
        self.assertEqual(check_telegram(t[1:]), FRAMING)
        self.assertEqual(check_telegram(t[:-1]), FRAMING)
        self.assertEqual(check_telegram(t[: b + 1] + b"6EEG\r\n"), FRAMING)
        self.assertEqual(check_telegram(t[: b + 1] + b"06EEE\r\n"), FRAMING)
        self.assertEqual(check_telegram(t[:b] + b"\r\n"), FRAMING)
        self.assertIsNone(check_telegram(t[: b + 1] + b"6eee\r\n"))  # lower case hex
        self.assertIsNone(check_telegram(t[: b + 1] + b"6EEE\n"))  # LF alone


class TestFramer(unittest.TestCase):
    def test_each_real_telegram(self):
        for name in WITH_CRC + WITHOUT_CRC:
            t = data(name)
            n = telegram_end(t)
            f = TelegramFramer()
            self.assertEqual(f.feed(t), [t[:n]], name)
            self.assertEqual(f.errors, {FRAMING: 0, CRC: 0, OVERSIZE: 0}, name)
            self.assertEqual(f.telegrams, 1)
            self.assertEqual(f.discarded, len(t) - n, name)  # Q3D: its gateway's trailer

    def test_feed_returns_empty_tuple_in_between(self):
        f = TelegramFramer()
        self.assertEqual(f.feed(b""), ())
        self.assertEqual(f.feed(b"/ISk5\\2MT382-1000\r\n"), ())

    def test_crc_error_counted_and_dropped(self):
        t = data("dsmr50_iskra.txt")
        f = TelegramFramer()
        self.assertEqual(f.feed(_flip(t, 300)), ())
        self.assertEqual(f.errors[CRC], 1)
        self.assertEqual(f.last_error, CRC)
        self.assertEqual(f.discarded, len(t))
        self.assertEqual(f.feed(t), [t])  # and the next one is read

    def test_require_crc(self):
        t = data("dsmr22_example.txt")
        f = TelegramFramer(require_crc=True)
        self.assertEqual(f.feed(t), ())
        self.assertEqual(f.errors[CRC], 1)

    def test_garbage_between_telegrams(self):
        a = data("dsmr50_iskra.txt")
        b = data("emucs_fluvius_v171.txt")
        c = data("dsmr22_example.txt")
        junk = (b"\x00\xff!\r\n", b"!6EEE\r\n\r\n", bytes(range(0x80, 0x100)), b")(*:")
        stream = junk[0] + a + junk[1] + b + junk[2] + c + junk[3]
        f = TelegramFramer()
        self.assertEqual(f.feed(stream), [a, b, c])
        self.assertEqual(f.discarded, sum(len(j) for j in junk))
        self.assertEqual(f.errors, {FRAMING: 0, CRC: 0, OVERSIZE: 0})

    def test_a_lost_end_resynchronises_on_the_next_slash(self):
        a = data("dsmr50_iskra.txt")
        b = data("dsmr42_kaifa.txt")
        f = TelegramFramer()
        self.assertEqual(f.feed(a[:500] + b), [b])
        self.assertEqual(f.errors[FRAMING], 1)
        self.assertEqual(f.discarded, 500)
        # a slash right after '!' (no CRC line) too
        self.assertEqual(f.feed(a[: a.find(b"!") + 1] + b), [b])
        self.assertEqual(f.errors[FRAMING], 2)

    def test_bad_crc_lines(self):
        a = data("dsmr50_iskra.txt")
        body = a[: a.find(b"!") + 1]
        for tail in (b"6EEE6\r\n", b"6E E\r\n", b"6EEX\r\n", b"\r\r\n", b"6EEE\r\r\n"):
            f = TelegramFramer()
            self.assertEqual(f.feed(body + tail + a), [a], tail)
            self.assertEqual(f.errors[FRAMING], 1, tail)

    def test_split_at_every_byte(self):
        t = data("dsmr50_iskra_two_mbus.txt")
        f = TelegramFramer()
        for k in range(len(t) + 1):
            self.assertEqual(list(f.feed(t[:k])) + list(f.feed(t[k:])), [t], k)
        self.assertEqual(f.telegrams, len(t) + 1)
        self.assertEqual(f.errors, {FRAMING: 0, CRC: 0, OVERSIZE: 0})

    def test_byte_by_byte(self):
        names = WITH_CRC + WITHOUT_CRC
        stream = b"".join(data(n) for n in names)
        f = TelegramFramer()
        out = []
        for i in range(len(stream)):
            out.extend(f.feed(stream[i : i + 1]))
        self.assertEqual(out, [data(n)[: telegram_end(data(n))] for n in names])
        self.assertEqual(f.errors, {FRAMING: 0, CRC: 0, OVERSIZE: 0})

    def test_input_types(self):
        t = data("sweden_ell5.txt")
        self.assertEqual(TelegramFramer().feed(bytearray(t)), [t])
        self.assertEqual(TelegramFramer().feed(memoryview(t)), [t])

    def test_oversize(self):
        small = data("dsmr22_example.txt")  # 413 octets
        big = data("dsmr50_iskra.txt")  # 890 octets
        f = TelegramFramer(max_size=512)
        self.assertEqual(f.feed(big + small), [small])
        self.assertEqual(f.errors[OVERSIZE], 1)
        self.assertEqual(f.discarded, len(big))
        # the 2 KB default: an endless telegram is dropped, the next one read
        f = TelegramFramer()
        endless = b"/XXX5 endless\r\n" + b"1-0:1.8.1(000001.000*kWh)\r\n" * 100
        for i in range(0, len(endless), 64):
            self.assertEqual(f.feed(endless[i : i + 64]), ())
        self.assertEqual(f.errors[OVERSIZE], 1)
        self.assertEqual(f.feed(b"!0000\r\n" + big), [big])
        self.assertEqual(f.errors, {FRAMING: 0, CRC: 0, OVERSIZE: 1})

    def test_exactly_max_size(self):
        t = data("dsmr22_example.txt")
        self.assertEqual(TelegramFramer(max_size=len(t)).feed(t), [t])
        f = TelegramFramer(max_size=len(t) - 1)
        self.assertEqual(f.feed(t), ())
        self.assertEqual(f.errors[OVERSIZE], 1)

    def test_reset(self):
        t = data("dsmr50_iskra.txt")
        f = TelegramFramer()
        f.feed(t[:100])
        f.reset()  # the line went idle: what came before cannot be finished
        self.assertEqual(f.feed(t[100:]), ())
        self.assertEqual(f.feed(t), [t])
        self.assertEqual(f.discarded, len(t))


def _exact(entry):
    return (entry["value"], entry["scaler"], entry["unit"])


class _ValuesCase(unittest.TestCase):
    def check_values(self, r, expected):
        """Every value of the telegram, none missing and none extra."""
        values = r["values"]
        self.assertEqual(r["errors"], [])
        self.assertEqual(sorted(values), sorted(expected))
        for k, want in expected.items():
            got = values[k]
            if isinstance(want, tuple) and len(want) in (3, 4) and isinstance(want[1], int):
                self.assertEqual(_exact(got), want[:3], k)
                if len(want) == 4:
                    self.assertEqual(got["timestamp"], want[3], k)
                else:
                    self.assertNotIn("timestamp", got, k)
            else:
                self.assertEqual(got["value"], want, k)
                if not isinstance(want, list):  # lists: their unit is checked apart
                    self.assertIsNone(got["unit"], k)

    def check_floats(self, text):
        # exact and float mode agree on every number
        ex = parse(text, exact=True)["values"]
        fl = parse(text)["values"]
        for k, e in ex.items():
            if "scaler" in e and isinstance(e["value"], int):
                want = e["value"] * 10 ** e["scaler"]
                self.assertAlmostEqual(fl[k]["value"], want, 9, k)
                self.assertIsInstance(fl[k]["value"], float if e["scaler"] else int)


W = False  # winter time
S = True  # summer time
ZERO_KW = (0, -3, "kW")


class TestDsmr5(_ValuesCase):
    def test_standard_example(self):
        # P1 companion standard 5.0.2: the values the standard lists
        # for its example (time 2010-12-09 11:30:20, 4 power failures, ...)
        r = parse(data("dsmr502_spec_example.txt"), exact=True)
        self.assertEqual(r["header"], "ISk5\\2MT382-1000")
        self.assertEqual(r["manufacturer"], "ISk")
        self.assertEqual(r["identification"], "MT382-1000")
        self.assertEqual(r["timestamp"], (2010, 12, 9, 11, 30, 20, W))
        self.assertEqual(r["crc"], "EF2F")
        kwh = (123456789, -3, "kWh")
        self.check_values(
            r,
            {
                "1-3:0.2.8": "50",
                "0-0:1.0.0": (2010, 12, 9, 11, 30, 20, W),
                "0-0:96.1.1": "K8EG004046395507",
                "1-0:1.8.1": kwh,
                "1-0:1.8.2": kwh,
                "1-0:2.8.1": kwh,
                "1-0:2.8.2": kwh,
                "0-0:96.14.0": (2, 0, None),
                "1-0:1.7.0": (1193, -3, "kW"),
                "1-0:2.7.0": ZERO_KW,
                "0-0:96.7.21": (4, 0, None),
                "0-0:96.7.9": (2, 0, None),
                "1-0:99.97.0": [
                    ((2010, 12, 8, 15, 24, 15, W), 240),
                    ((2010, 12, 8, 15, 10, 4, W), 301),
                ],
                "1-0:32.32.0": (2, 0, None),
                "1-0:52.32.0": (1, 0, None),
                "1-0:72.32.0": (0, 0, None),
                "1-0:32.36.0": (0, 0, None),
                "1-0:52.36.0": (3, 0, None),
                "1-0:72.36.0": (0, 0, None),
                "0-0:96.13.0": "0123456789:;<=>?" * 5,
                "1-0:32.7.0": (2201, -1, "V"),
                "1-0:52.7.0": (2202, -1, "V"),
                "1-0:72.7.0": (2203, -1, "V"),
                "1-0:31.7.0": (1, 0, "A"),
                "1-0:51.7.0": (2, 0, "A"),
                "1-0:71.7.0": (3, 0, "A"),
                "1-0:21.7.0": (1111, -3, "kW"),
                "1-0:41.7.0": (2222, -3, "kW"),
                "1-0:61.7.0": (3333, -3, "kW"),
                "1-0:22.7.0": (4444, -3, "kW"),
                "1-0:42.7.0": (5555, -3, "kW"),
                "1-0:62.7.0": (6666, -3, "kW"),
                "0-1:24.1.0": (3, 0, None),
                "0-1:96.1.0": "2222ABCD123456789",
                "0-1:24.2.1": (12785123, -3, "m3", (2010, 12, 9, 11, 25, 0, W)),
            },
        )
        self.assertEqual(r["values"]["1-0:99.97.0"]["unit"], "s")
        self.check_floats(data("dsmr502_spec_example.txt"))

    def test_iskra_am550(self):
        r = parse(data("dsmr50_iskra.txt"), exact=True)
        self.assertEqual(r["crc"], "6EEE")
        zero = (0, 0, None)
        self.check_values(
            r,
            {
                "1-3:0.2.8": "50",
                "0-0:1.0.0": (2017, 1, 2, 19, 20, 2, W),
                "0-0:96.1.1": "K8EG004046395507",
                "1-0:1.8.1": (4426, -3, "kWh"),
                "1-0:1.8.2": (2399, -3, "kWh"),
                "1-0:2.8.1": (2444, -3, "kWh"),
                "1-0:2.8.2": (0, -3, "kWh"),
                "0-0:96.14.0": (2, 0, None),
                "1-0:1.7.0": (244, -3, "kW"),
                "1-0:2.7.0": ZERO_KW,
                "0-0:96.7.21": (13, 0, None),
                "0-0:96.7.9": zero,
                "1-0:99.97.0": [],
                "1-0:32.32.0": zero,
                "1-0:52.32.0": zero,
                "1-0:72.32.0": zero,
                "1-0:32.36.0": zero,
                "1-0:52.36.0": zero,
                "1-0:72.36.0": zero,
                "0-0:96.13.0": "",
                "1-0:32.7.0": (2300, -1, "V"),
                "1-0:52.7.0": (2300, -1, "V"),
                "1-0:72.7.0": (2290, -1, "V"),
                "1-0:31.7.0": (48, -2, "A"),
                "1-0:51.7.0": (44, -2, "A"),
                "1-0:71.7.0": (86, -2, "A"),
                "1-0:21.7.0": (70, -3, "kW"),
                "1-0:41.7.0": (32, -3, "kW"),
                "1-0:61.7.0": (142, -3, "kW"),
                "1-0:22.7.0": ZERO_KW,
                "1-0:42.7.0": ZERO_KW,
                "1-0:62.7.0": ZERO_KW,
                "0-1:24.1.0": (3, 0, None),
                "0-1:96.1.0": "2222ABCD123456789",
                "0-1:24.2.1": (107, -3, "m3", (2017, 1, 2, 16, 10, 5, W)),
                "0-2:24.1.0": (3, 0, None),
                "0-2:96.1.0": "",
            },
        )
        self.check_floats(data("dsmr50_iskra.txt"))

    def test_two_mbus_devices_summer_time(self):
        r = parse(data("dsmr50_iskra_two_mbus.txt"))
        v = r["values"]
        self.assertEqual(r["errors"], [])
        self.assertEqual(r["timestamp"], (2020, 4, 26, 22, 33, 25, S))
        self.assertEqual(v["0-0:96.1.1"]["value"], "E0044007382246019")
        self.assertEqual(v["1-0:99.97.0"]["value"], [((2019, 3, 26, 9, 50, 15, W), 2014)])
        self.assertEqual(v["1-0:72.32.0"]["value"], 192)
        # an empty gas channel: no unit, the 1970 "never" date
        self.assertEqual(v["0-1:96.1.0"]["value"], "")
        self.assertEqual(v["0-1:24.2.1"]["value"], 0)
        self.assertIsNone(v["0-1:24.2.1"]["unit"])
        self.assertEqual(v["0-1:24.2.1"]["timestamp"], (1970, 1, 1, 1, 0, 0, W))
        self.assertEqual(v["0-2:96.1.0"]["value"], "G0039001936990619")
        self.assertAlmostEqual(v["0-2:24.2.1"]["value"], 246.138, 9)
        self.assertEqual(v["0-2:24.2.1"]["timestamp"], (2020, 4, 26, 22, 30, 1, S))


class TestDsmr4(_ValuesCase):
    def test_kaifa_dsmr42(self):
        r = parse(data("dsmr42_kaifa.txt"), exact=True)
        v = r["values"]
        self.assertEqual(r["errors"], [])
        self.assertEqual(len(v), 33)
        self.assertEqual(r["header"], "KFM5KAIFA-METER")
        self.assertEqual(r["manufacturer"], "KFM")
        self.assertEqual(r["identification"], "KAIFA-METER")
        self.assertEqual(v["1-3:0.2.8"]["value"], "42")
        # the event log with durations past 2**31
        self.assertEqual(
            v["1-0:99.97.0"]["value"],
            [
                ((2000, 1, 4, 18, 3, 20, W), 237126),
                ((2000, 1, 1, 0, 0, 1, W), 2147583646),
                ((2000, 1, 2, 0, 0, 3, W), 2317482647),
            ],
        )
        self.assertEqual(_exact(v["1-0:1.8.1"]), (1581123, -3, "kWh"))
        self.assertEqual(_exact(v["1-0:41.7.0"]), (1247, -3, "kW"))
        self.assertEqual(_exact(v["1-0:51.7.0"]), (6, 0, "A"))
        self.assertEqual(v["0-0:96.13.1"]["value"], "")
        # equipment ids that are not printable when hex-decoded stay as sent
        self.assertEqual(v["0-0:96.1.1"]["value"], "3960221976967177082151037881335713")
        self.assertEqual(v["0-1:96.1.0"]["value"], "4819243993373755377509728609491464")
        self.assertEqual(_exact(v["0-1:24.2.1"]), (981443, -3, "m3"))
        self.assertEqual(v["0-1:24.2.1"]["timestamp"], (2016, 11, 29, 20, 0, 0, W))

    def test_heat_meter_on_mbus(self):
        r = parse(data("dsmr50_warmtelink_heat.txt"), exact=True)
        self.check_values(
            r,
            {
                "1-3:0.2.8": "50",
                "0-0:1.0.0": (2026, 2, 15, 20, 5, 23, W),
                "0-0:96.1.1": "ADC3100000158491",
                "0-0:96.13.1": "",
                "0-0:96.13.0": "",
                "0-1:24.1.0": (4, 0, None),
                "0-1:96.1.0": "621848012D2C0B0C",
                "0-1:24.2.1": (240860, -3, "GJ", (2026, 2, 15, 20, 5, 23, W)),
            },
        )
        self.assertEqual(r["crc"], "B9F")


class TestDsmr22(_ValuesCase):
    def test_dsmr22(self):
        r = parse(data("dsmr22_example.txt"), exact=True)
        self.assertEqual(r["header"], "ISk5\\2MT382-1004")
        self.assertIsNone(r["crc"])
        self.assertIsNone(r["timestamp"])
        kwh = (1001, -3, "kWh")
        self.check_values(
            r,
            {
                "0-0:96.1.1": "00000000000000",
                "1-0:1.8.1": kwh,
                "1-0:1.8.2": kwh,
                "1-0:2.8.1": kwh,
                "1-0:2.8.2": kwh,
                "0-0:96.14.0": (1, 0, None),
                "1-0:1.7.0": (101, -2, "kW"),
                "1-0:2.7.0": (0, -2, "kW"),
                "0-0:17.0.0": (99900, -2, "kW"),
                "0-0:96.3.10": (1, 0, None),
                "0-0:96.13.1": "",
                "0-0:96.13.0": "",
                "0-1:24.1.0": (3, 0, None),
                "0-1:96.1.0": "000000000000",
                # the gas reading on the line after its profile header
                "0-1:24.3.0": (1001, -3, "m3", (2016, 11, 7, 19, 0, 0, None)),
                "0-1:24.4.0": (1, 0, None),
            },
        )
        self.check_floats(data("dsmr22_example.txt"))

    def test_dsmr3(self):
        r = parse(data("dsmr30_example.txt"), exact=True)
        v = r["values"]
        self.assertEqual(r["errors"], [])
        self.assertEqual(len(v), 16)
        self.assertEqual(v["0-0:96.1.1"]["value"], "K8EG004046395507")
        self.assertEqual(_exact(v["0-0:17.0.0"]), (16, 0, "A"))
        self.assertEqual(v["0-0:96.13.1"]["value"], "012345678")
        self.assertEqual(v["0-0:96.13.0"]["value"], "0123456789:;<=>?" * 5)
        self.assertEqual(v["0-1:24.3.0"]["timestamp"], (2009, 2, 12, 16, 0, 0, None))
        self.assertEqual(_exact(v["0-1:24.3.0"]), (1001, -3, "m3"))

    def test_gas_profile_with_two_values(self):
        t = (
            b"/ISk5\\2MT382-1000\r\n\r\n"
            b"0-1:24.3.0(090212160000)(00)(60)(2)(0-1:24.2.1)(m3)\r\n(00001.001)(00002.500)\r\n"
            b"!\r\n"
        )
        r = parse(t)
        self.assertEqual(r["errors"], [])
        self.assertEqual(r["values"]["0-1:24.3.0"]["value"], [1.001, 2.5])


class TestBelgium(_ValuesCase):
    def test_fluvius_emucs(self):
        r = parse(data("emucs_fluvius_v171.txt"), exact=True)
        self.assertEqual(r["header"], "FLU5\\253769484_A")
        self.assertEqual(r["manufacturer"], "FLU")
        self.assertEqual(r["identification"], "53769484_A")
        demand = r["values"]["0-0:98.1.0"]
        self.assertEqual(demand["unit"], "kW")
        history = demand["value"]
        self.assertEqual(
            [(m, p) for m, p, _ in history],
            [
                ((2020, 5, 1, 0, 0, 0, S), (2020, 4, 23, 19, 25, 38, S)),
                ((2020, 4, 1, 0, 0, 0, S), (2020, 3, 5, 12, 21, 39, S)),  # as sent
                ((2020, 3, 1, 0, 0, 0, S), (2020, 2, 10, 3, 54, 21, W)),
            ],
        )
        for (_, _, kw), want in zip(history, (3.695, 5.980, 4.318)):
            self.assertAlmostEqual(kw, want, 9)
        summer = (2020, 5, 12, 13, 45, 58, S)
        self.check_values(
            r,
            {
                "0-0:96.1.4": "50217",
                "0-0:96.1.1": "1SAG3101021605",
                "0-0:1.0.0": (2020, 5, 12, 13, 54, 9, S),
                "1-0:1.8.1": (34, -3, "kWh"),
                "1-0:1.8.2": (15758, -3, "kWh"),
                "1-0:2.8.1": (0, -3, "kWh"),
                "1-0:2.8.2": (11, -3, "kWh"),
                "1-0:1.4.0": (2351, -3, "kW"),
                "1-0:1.6.0": (2589, -3, "kW", (2020, 5, 9, 13, 45, 58, S)),
                "0-0:98.1.0": history,
                "0-0:96.14.0": (1, 0, None),
                "1-0:1.7.0": ZERO_KW,
                "1-0:2.7.0": ZERO_KW,
                "1-0:21.7.0": ZERO_KW,
                "1-0:41.7.0": ZERO_KW,
                "1-0:61.7.0": ZERO_KW,
                "1-0:22.7.0": ZERO_KW,
                "1-0:42.7.0": ZERO_KW,
                "1-0:62.7.0": ZERO_KW,
                "1-0:32.7.0": (2347, -1, "V"),
                "1-0:52.7.0": (2347, -1, "V"),
                "1-0:72.7.0": (2347, -1, "V"),
                "1-0:31.7.0": (0, -2, "A"),
                "1-0:51.7.0": (0, -2, "A"),
                "1-0:71.7.0": (0, -2, "A"),
                "0-0:96.3.10": (1, 0, None),
                "0-0:17.0.0": (9999, -1, "kW"),
                "1-0:31.4.0": (999, 0, "A"),
                "0-0:96.13.0": "",
                "0-1:24.1.0": (3, 0, None),
                "0-1:96.1.1": "7FLO2119033733",
                "0-1:24.4.0": (1, 0, None),
                "0-1:24.2.3": (112384, -3, "m3", summer),
                "0-2:24.1.0": (7, 0, None),
                "0-2:96.1.1": "8SAG1234567890",
                "0-2:24.2.1": (872234, -3, "m3", summer),
            },
        )
        self.check_floats(data("emucs_fluvius_v171.txt"))

    def test_demand_history_with_a_never_date(self):
        # the first month's peak time is 632525252525W: not a date
        r = parse(data("emucs_fluvius_v171_alt.txt"))
        self.assertEqual(r["errors"], [])
        h0 = r["values"]["0-0:98.1.0"]["value"]
        self.assertEqual(len(h0), 4)
        self.assertEqual(h0[0], ((2023, 8, 1, 0, 0, 0, S), None, 0.0))
        self.assertEqual(h0[3][:2], ((2023, 11, 1, 0, 0, 0, W), (2023, 10, 16, 13, 0, 0, S)))

    def test_demand_history_empty(self):
        head = b"0-0:98.1.0(0)(1-0:1.6.0)(1-0:1.6.0)"
        for line in (head + b"()", head):
            r = parse(b"/FLU5\\253769484_A\r\n\r\n" + line + b"\r\n!0000\r\n")
            self.assertEqual(r["errors"], [], line)
            self.assertEqual(r["values"]["0-0:98.1.0"]["value"], [], line)


class TestOtherCountries(_ValuesCase):
    def test_luxembourg_plaintext(self):
        r = parse(data("smarty_plaintext.txt"), exact=True)
        v = r["values"]
        self.assertEqual(r["errors"], [])
        self.assertEqual(len(v), 28)
        self.assertEqual(r["header"], "Lux5\\253663629_D")
        self.assertEqual(v["0-0:42.0.0"]["value"], "SAG1030700114004" * 3)
        self.assertEqual(_exact(v["1-0:1.8.0"]), (6695, -3, "kWh"))
        self.assertEqual(_exact(v["1-0:4.8.0"]), (2745, -3, "kvarh"))
        self.assertEqual(_exact(v["1-0:4.7.0"]), (7, -3, None))  # sent without unit
        self.assertEqual(_exact(v["0-0:17.0.0"]), (77376, -3, None))
        self.assertEqual(_exact(v["0-0:96.7.21"]), (69, 0, None))
        for k in ("0-0:96.13.0", "0-0:96.13.2", "0-0:96.13.5"):
            self.assertEqual(v[k]["value"], "", k)

    def test_luxembourg_spec_example(self):
        # athombv's copy of the Luxembourg P1 specification's example, with
        # the values its JSON gives; 1-1:31.4.0 carries two currents, kept
        # as sent rather than refused
        r = parse(data("luxembourg_spec_example.txt"), exact=True)
        v = r["values"]
        self.assertEqual(r["errors"], [])
        self.assertEqual(len(v), 64)
        self.assertEqual(r["timestamp"], (2020, 7, 6, 10, 41, 57, S))
        self.assertEqual(v["0-0:42.0.0"]["value"], "SAG1030790002574")
        self.assertEqual(v["1-1:31.4.0"], {"value": "(100*A)(-063*A)", "unit": None})
        self.assertEqual(_exact(v["1-0:1.8.0"]), (25653, -3, "kWh"))
        self.assertEqual(_exact(v["1-0:2.8.0"]), (40, -3, "kWh"))
        self.assertEqual(_exact(v["1-0:1.7.0"]), (5, -3, "kW"))
        self.assertEqual(_exact(v["1-0:32.7.0"]), (2330, -1, "V"))
        self.assertEqual(_exact(v["1-0:21.7.0"]), (5, -3, "kW"))
        self.assertEqual(_exact(v["0-0:96.7.21"]), (99, 0, None))
        self.assertEqual(_exact(v["1-0:32.32.0"]), (40, 0, None))
        m = mbus_devices(v)  # exact mode: mantissas (scaler -3)
        self.assertEqual((m[1]["type"], m[1]["value"], m[1]["unit"]), (3, 6, "m3"))
        self.assertEqual(m[1]["timestamp"], (2020, 7, 6, 10, 31, 40, S))
        self.assertEqual((m[4]["type"], m[4]["value"]), (3, 28103))
        self.assertEqual((m[2]["type"], m[2]["id"]), (7, ""))
        # Fluvius sends one current limit under 31.4.0: still a number
        r = parse(b"/FLU5\\253769484_A\r\n\r\n1-0:31.4.0(999*A)\r\n!0000\r\n", exact=True)
        self.assertEqual((_exact(r["values"]["1-0:31.4.0"]), r["errors"]), ((999, 0, "A"), []))

    def test_sweden(self):
        r = parse(data("sweden_ell5.txt"), exact=True)
        v = r["values"]
        self.assertEqual(r["errors"], [])
        self.assertEqual(len(v), 27)
        self.assertEqual(r["timestamp"], (2021, 2, 17, 18, 40, 19, W))
        self.assertEqual(_exact(v["1-0:1.8.0"]), (6678394, -3, "kWh"))
        self.assertEqual(_exact(v["1-0:4.8.0"]), (1020971, -3, "kvarh"))
        self.assertEqual(_exact(v["1-0:4.7.0"]), (309, -3, "kvar"))
        self.assertEqual(_exact(v["1-0:64.7.0"]), (138, -3, "kvar"))
        self.assertEqual(_exact(v["1-0:72.7.0"]), (2413, -1, "V"))
        self.assertEqual(_exact(v["1-0:31.7.0"]), (42, -1, "A"))

    def test_easymeter_q3d(self):
        r = parse(data("q3d_easymeter.txt"), exact=True)
        self.assertEqual(r["identification"], "Q3DA1004 V3.04")
        self.check_values(
            r,
            {
                "1-0:0.0.0*255": "1336001560",
                "1-0:1.8.0*255": (325495061662, -7, "kWh"),
                "1-0:21.7.0*255": (55729, -2, "W"),
                "1-0:41.7.0*255": (52162, -2, "W"),
                "1-0:61.7.0*255": (60930, -2, "W"),
                "1-0:1.7.0*255": (168821, -2, "W"),
                "1-0:96.5.5*255": (80, 0, None),
                "0-0:96.1.255*255": "1ESY1336001560",
            },
        )

    def test_austria_wh(self):
        r = parse(data("sagemcom_t210_austria.txt"), exact=True)
        v = r["values"]
        self.assertEqual(r["errors"], [])
        self.assertEqual(len(v), 18)
        self.assertEqual(_exact(v["1-0:1.8.0"]), (6545766, 0, "Wh"))
        self.assertEqual(_exact(v["1-0:4.7.0"]), (166, 0, "var"))

    def test_identifier_under_an_unlisted_code(self):
        # athombv's sagemcom-xt211.txt (anonymised: its CRC does not check):
        # 0-0:96.1.2 holds the serial number as hex, 48 spaces in this copy,
        # which the source's JSON gives as serialNumber
        t = data("sagemcom_xt211_anon.txt")
        self.assertEqual(check_telegram(t), CRC)
        r = parse(t, exact=True)
        v = r["values"]
        self.assertEqual(r["errors"], [])
        self.assertEqual(v["0-0:96.1.2"], {"value": " " * 48, "unit": None})
        self.assertEqual(v["0-0:96.1.4"]["value"], "12345")
        self.assertEqual(_exact(v["1-1:1.8.1"]), (1595070, -3, "kWh"))
        self.assertEqual(_exact(v["1-0:51.7.0"]), (1719, -2, "A"))
        self.assertEqual(_exact(v["1-0:41.7.0"]), (3946, -3, "kW"))
        self.assertEqual(v["0-0:96.14.0"]["value"], 1)

    def test_hungary(self):
        r = parse(data("eon_hungary.txt"), exact=True)
        v = r["values"]
        self.assertEqual(r["errors"], [])
        self.assertEqual(len(v), 45)
        self.assertEqual(v["0-0:42.0.0"]["value"], "SAG3082200002160")
        self.assertEqual(v["0-0:96.1.0"]["value"], "890082200002160")
        self.assertEqual(_exact(v["1-0:14.7.0"]), (5000, -2, "Hz"))
        self.assertEqual(_exact(v["1-0:13.7.0"]), (4556, -3, None))
        # 0-0:98.1.0 in another layout than e-MUCS's: kept as sent
        raw = v["0-0:98.1.0"]["value"]
        self.assertTrue(raw.startswith("(230701000000S)(000040.777*kWh)"))
        self.assertTrue(raw.endswith("(03.400*kW)"))


def _kw(*pairs):
    # {"1-0:C.D.E": (mantissa, -3, unit)} for the many kW / kWh / kVAr lines
    return {k: (m, -3, u) for k, m, u in pairs}


# More real telegrams (data/dsmr/README.md names each source): header,
# timestamp and values, exact. Where the source asserts or prints decoded
# values, those are the ones here (amshan's decoders, dsmr-reader's tests,
# athombv's JSON, EnergyAgent's test); the others are read off the text.
P1_PUBLISHED = {
    # amshan test_dlde.py, test_parse_example_a_landisgyr_360: every line
    "lgf5e360_a.txt": (
        "LGF5E360",
        (2021, 2, 22, 16, 19, 0, W),
        dict(
            _kw(
                ("1-0:1.8.0", 896020, "kWh"),
                ("1-0:2.8.0", 48792, "kWh"),
                ("1-0:3.8.0", 518309, "kVArh"),
                ("1-0:4.8.0", 23732, "kVArh"),
                ("1-0:1.7.0", 0, "kW"),
                ("1-0:2.7.0", 20, "kW"),
                ("1-0:3.7.0", 0, "kVAr"),
                ("1-0:4.7.0", 308, "kVAr"),
                ("1-0:21.7.0", 0, "kW"),
                ("1-0:22.7.0", 12, "kW"),
                ("1-0:41.7.0", 0, "kW"),
                ("1-0:42.7.0", 71, "kW"),
                ("1-0:61.7.0", 63, "kW"),
                ("1-0:62.7.0", 0, "kW"),
                ("1-0:23.7.0", 0, "kVAr"),
                ("1-0:24.7.0", 146, "kVAr"),
                ("1-0:43.7.0", 0, "kVAr"),
                ("1-0:44.7.0", 135, "kVAr"),
                ("1-0:63.7.0", 0, "kVAr"),
                ("1-0:64.7.0", 26, "kVAr"),
            ),
            **{
                "1-0:32.7.0": (2301, -1, "V"),
                "1-0:52.7.0": (2322, -1, "V"),
                "1-0:72.7.0": (2304, -1, "V"),
                "1-0:31.7.0": (6, -1, "A"),
                "1-0:51.7.0": (6, -1, "A"),
                "1-0:71.7.0": (3, -1, "A"),
            },
        ),
    ),
    # amshan test_dlde.py, test_decode_example (in W, Wh, var, varh; its
    # active_power_import_l3 1010 is its float truncation of 1.011 kW)
    "lgf5e360_d.txt": (
        "LGF5E360",
        (2022, 2, 4, 11, 6, 50, W),
        dict(
            _kw(
                ("1-0:1.8.0", 10501076, "kWh"),
                ("1-0:2.8.0", 0, "kWh"),
                ("1-0:3.8.0", 1761087, "kVArh"),
                ("1-0:4.8.0", 8391, "kVArh"),
                ("1-0:1.7.0", 2301, "kW"),
                ("1-0:3.7.0", 135, "kVAr"),
                ("1-0:21.7.0", 622, "kW"),
                ("1-0:41.7.0", 667, "kW"),
                ("1-0:61.7.0", 1011, "kW"),
                ("1-0:24.7.0", 208, "kVAr"),
                ("1-0:44.7.0", 142, "kVAr"),
                ("1-0:63.7.0", 486, "kVAr"),
            ),
            **{
                "1-0:31.7.0": (28, -1, "A"),
                "1-0:51.7.0": (29, -1, "A"),
                "1-0:71.7.0": (48, -1, "A"),
                "1-0:32.7.0": (2321, -1, "V"),
                "1-0:52.7.0": (2331, -1, "V"),
                "1-0:72.7.0": (2319, -1, "V"),
            },
        ),
    ),
    # amshan test_dlde.py (EXAMPLE_DATA_C: only its identification and CRC)
    "ell5_2020.txt": (
        "ELL5\\253833635_A",
        (2020, 10, 20, 8, 52, 22, W),
        dict(
            _kw(("1-0:1.8.0", 1605055, "kWh"), ("1-0:1.7.0", 6000, "kW")),
            **{"1-0:32.7.0": (2344, -1, "V"), "1-0:31.7.0": (136, -1, "A")},
        ),
    ),
    # amshan test_dlde.py, test_decode_kamstrup
    "kam5_sweden.txt": (
        "KAM5",
        (2022, 4, 8, 13, 50, 21, W),
        dict(
            _kw(
                ("1-0:1.8.0", 60995424, "kWh"),
                ("1-0:3.8.0", 12696, "kVArh"),
                ("1-0:4.8.0", 12541802, "kVArh"),
                ("1-0:1.7.0", 2202, "kW"),
                ("1-0:4.7.0", 505, "kVAr"),
                ("1-0:21.7.0", 1947, "kW"),
                ("1-0:41.7.0", 63, "kW"),
                ("1-0:61.7.0", 192, "kW"),
                ("1-0:24.7.0", 204, "kVAr"),
                ("1-0:44.7.0", 95, "kVAr"),
                ("1-0:64.7.0", 206, "kVAr"),
            ),
            **{
                "1-0:31.7.0": (83, -1, "A"),
                "1-0:51.7.0": (4, -1, "A"),
                "1-0:71.7.0": (14, -1, "A"),
                "1-0:32.7.0": (2355, -1, "V"),
                "1-0:52.7.0": (2395, -1, "V"),
                "1-0:72.7.0": (2391, -1, "V"),
            },
        ),
    ),
    # dsmr-reader test_sweden_kamstrup.py
    "kam5_sweden_2021.txt": (
        "KAM5",
        (2021, 11, 15, 10, 9, 40, W),
        dict(
            _kw(("1-0:1.8.0", 3997, "kWh"), ("1-0:2.8.0", 0, "kWh"), ("1-0:1.7.0", 0, "kW")),
            **{
                "1-0:32.7.0": (2380, -1, "V"),
                "1-0:52.7.0": (2380, -1, "V"),
                "1-0:72.7.0": (2407, -1, "V"),
                "1-0:31.7.0": (0, -1, "A"),
            },
        ),
    ),
    # athombv dsmr-4.0-isk-2.json (the meter's clock unset: 2000-01-01)
    "xmx5_dsmr40.txt": (
        "XMX5LGBBFFB231216240",
        (2000, 1, 1, 1, 0, 0, W),
        dict(
            _kw(("1-0:1.8.1", 1990002, "kWh"), ("1-0:2.8.1", 0, "kWh"), ("1-0:1.7.0", 0, "kW")),
            **{"0-0:96.14.0": (1, 0, None), "0-0:96.7.21": (23, 0, None)},
        ),
    ),
    # athombv dsmr-4.2-kfm-1.json
    "kfm5_dsmr42_2018.txt": (
        "KFM5KAIFA-METER",
        (2018, 3, 6, 12, 30, 56, W),
        dict(
            _kw(
                ("1-0:1.8.1", 4726494, "kWh"),
                ("1-0:1.8.2", 4844281, "kWh"),
                ("1-0:2.8.1", 3284320, "kWh"),
                ("1-0:2.8.2", 7764691, "kWh"),
                ("1-0:2.7.0", 1869, "kW"),
                ("1-0:22.7.0", 688, "kW"),
                ("1-0:42.7.0", 778, "kW"),
                ("1-0:62.7.0", 403, "kW"),
            ),
            **{
                "0-0:96.14.0": (2, 0, None),
                "1-0:31.7.0": (3, 0, "A"),
                "1-0:71.7.0": (2, 0, "A"),
                "0-0:96.7.21": (13, 0, None),
                "0-0:96.7.9": (7, 0, None),
                "0-1:24.2.1": (5359919, -3, "m3", (2018, 3, 6, 12, 0, 0, W)),
            },
        ),
    ),
    # athombv dsmr-5.0-isk-1.json
    "isk5_m550t.txt": (
        "ISK5\\2M550T-1011",
        (2018, 11, 6, 14, 4, 29, W),
        dict(
            _kw(
                ("1-0:1.8.1", 3808351, "kWh"),
                ("1-0:1.8.2", 2948827, "kWh"),
                ("1-0:2.8.1", 1285951, "kWh"),
                ("1-0:2.8.2", 2876514, "kWh"),
                ("1-0:2.7.0", 498, "kW"),
                ("1-0:41.7.0", 33, "kW"),
                ("1-0:61.7.0", 132, "kW"),
                ("1-0:22.7.0", 676, "kW"),
            ),
            **{
                "1-0:32.7.0": (2360, -1, "V"),
                "1-0:52.7.0": (2326, -1, "V"),
                "1-0:72.7.0": (2351, -1, "V"),
                "1-0:31.7.0": (2, 0, "A"),
                "1-0:32.32.0": (3, 0, None),
                "1-0:72.36.0": (1, 0, None),
                "0-1:24.2.1": (1569646, -3, "m3", (2018, 11, 6, 14, 0, 10, W)),
            },
        ),
    ),
    # nrocco/smeterd#11 (read off the text)
    "kfm5_1phase.txt": (
        "KFM5KAIFA-METER",
        (2016, 11, 6, 18, 46, 1, W),
        dict(
            _kw(
                ("1-0:1.8.1", 608303, "kWh"),
                ("1-0:1.7.0", 1263, "kW"),
                ("1-0:21.7.0", 1263, "kW"),
            ),
            **{
                "1-0:31.7.0": (5, 0, "A"),
                "0-1:24.2.1": (230576, -3, "m3", (2016, 11, 6, 18, 0, 0, W)),
            },
        ),
    ),
    # dsmr-reader test_landisgyr350_dsmr42.py (ids anonymised by its authors)
    "xmx5_dsmr42.txt": (
        "XMX5LGBBFFB123456789",
        (2016, 2, 10, 20, 30, 34, W),
        dict(
            _kw(
                ("1-0:1.8.1", 756849, "kWh"),
                ("1-0:1.8.2", 714405, "kWh"),
                ("1-0:2.8.1", 0, "kWh"),
                ("1-0:1.7.0", 111, "kW"),
                ("1-0:21.7.0", 123, "kW"),
                ("1-0:41.7.0", 456, "kW"),
                ("1-0:61.7.0", 789, "kW"),
                ("1-0:22.7.0", 222, "kW"),
                ("1-0:42.7.0", 444, "kW"),
                ("1-0:62.7.0", 666, "kW"),
            ),
            **{
                "1-3:0.2.8": "42",
                "0-0:96.14.0": (2, 0, None),
                "0-0:96.7.21": (3, 0, None),
                "1-0:32.32.0": (2, 0, None),
                "1-0:52.32.0": (2, 0, None),
                "1-0:31.7.0": (111, 0, "A"),
                "1-0:51.7.0": (222, 0, "A"),
                "1-0:71.7.0": (333, 0, "A"),
                "0-1:24.2.1": (1197484, -3, "m3", (2016, 2, 10, 20, 0, 0, W)),
            },
        ),
    ),
    # dsmr-reader test_fluvius_polyphase.py
    "flu5_polyphase.txt": (
        "FLU5S456789_A",  # as dsmr-reader's authors anonymised it
        (2019, 8, 21, 21, 0, 25, S),
        dict(
            _kw(
                ("1-0:1.8.1", 260129, "kWh"),
                ("1-0:2.8.1", 10, "kWh"),
                ("1-0:1.8.2", 338681, "kWh"),
                ("1-0:2.8.2", 425, "kWh"),
                ("1-0:1.7.0", 261, "kW"),
                ("1-0:2.7.0", 0, "kW"),
            ),
            **{
                "0-0:96.14.0": (2, 0, None),
                "1-0:32.7.0": (2310, -1, "V"),
                "1-0:52.7.0": (0, -1, "V"),
                "1-0:72.7.0": (2309, -1, "V"),
                "1-0:31.7.0": (0, 0, "A"),
                "0-1:24.2.3": (29553, -3, "m3", (2019, 8, 21, 21, 0, 11, S)),
            },
        ),
    ),
    # NEXXTLAB/go-smarty-reader's frame, deciphered (read off the text)
    "smarty_nexxtlab_plain.txt": (
        "Lux5\\253663629_D",
        (2018, 1, 30, 10, 21, 22, W),
        dict(
            _kw(("1-0:1.8.0", 6695, "kWh"), ("1-0:2.8.0", 25, "kWh"), ("1-0:4.8.0", 2745, "kvarh")),
            **{"0-0:42.0.0": "SAG1030700114004"},
        ),
    ),
    # rddl-network/EnergyAgent energy_decrypter_test.py: 1.8.0 and 2.8.0 in Wh
    "est5_t210d_glo.txt": (
        "EST5\\253717584_A",
        (2023, 8, 17, 15, 24, 25, S),
        {
            "1-0:1.8.0": (7112944, 0, "Wh"),
            "1-0:2.8.0": (33153972, 0, "Wh"),
            "1-0:1.7.0": (1068, 0, "W"),
            "1-0:4.8.2": (1926368, 0, "varh"),
        },
    ),
    # Noschvie/shrdzm's Steiermark frame, deciphered (read off the text)
    "est5_steiermark_glo.txt": (
        "EST5\\253717584_A",
        (2021, 9, 29, 11, 47, 30, S),
        {
            "1-0:1.8.0": (14159934, 0, "Wh"),
            "1-0:2.8.0": (7086646, 0, "Wh"),
            "1-0:1.7.0": (544, 0, "W"),
            "1-0:4.7.0": (1659, 0, "var"),
        },
    ),
    # dsmr_parser's TELEGRAM_ESY5Q3DB1024_V304 (no values asserted there)
    "esy5q3db1024.txt": (
        "ESY5Q3DB1024 V3.04",
        None,
        {
            "1-0:0.0.0*255": "0272031312565",
            "1-0:1.8.0*255": (521857825309, -7, "kWh"),
            "1-0:2.8.0*255": (199493221493, -7, "kWh"),
            "1-0:1.7.0*255": (212486, -2, "W"),
            "0-0:96.1.255*255": "1ESY1313002565",
        },
    ),
}


class TestMoreTelegrams(_ValuesCase):
    def test_published_values(self):
        for name, (header, ts, want) in P1_PUBLISHED.items():
            t = data(name)
            r = parse(t, exact=True)
            self.assertEqual(r["errors"], [], name)
            self.assertEqual(r["header"], header, name)
            self.assertEqual(r["timestamp"], ts, name)
            for k, w in want.items():
                got = r["values"][k]
                if isinstance(w, str):
                    self.assertEqual(got["value"], w, (name, k))
                    continue
                self.assertEqual(_exact(got), w[:3], (name, k))
                self.assertEqual(got.get("timestamp"), w[3] if len(w) > 3 else None, (name, k))
            self.check_floats(t)

    def test_every_new_file_is_checked(self):
        for name in P1_PUBLISHED:
            self.assertIn(name, WITH_CRC + WITHOUT_CRC)

    def test_smarty_plaintexts_differ_only_in_the_device_name(self):
        # openHAB's frame was made from NEXXTLAB's real one (README)
        a = data("smarty_nexxtlab_plain.txt").split(b"\r\n")
        b = data("smarty_plaintext.txt").split(b"\r\n")
        self.assertEqual([(x, y) for x, y in zip(a, b) if x != y][0][0][:11], b"0-0:42.0.0(")
        self.assertEqual(sum(x != y for x, y in zip(a, b)), 1)  # CRC CFDE in both


class TestParser(unittest.TestCase):
    HEAD = b"/ISk5\\2MT382-1000\r\n\r\n"

    def one(self, line, exact=False):
        r = parse(self.HEAD + line + b"\r\n!0000\r\n", exact)
        return r["values"], r["errors"]

    def test_unknown_objects(self):
        v, e = self.one(b"1-0:99.1.0(some text)")
        self.assertEqual(e, [])
        self.assertEqual(v["1-0:99.1.0"], {"value": "some text", "unit": None})
        v, e = self.one(b"1-0:99.1.0(12.5*Hz)")
        self.assertEqual(v["1-0:99.1.0"], {"value": 12.5, "unit": "Hz"})
        v, e = self.one(b"1-0:99.1.0(1)(2)(3)")
        self.assertEqual(v["1-0:99.1.0"], {"value": "(1)(2)(3)", "unit": None})
        v, e = self.one(b"1-0:99.1.0(230701000000S)(text)")
        self.assertEqual(v["1-0:99.1.0"]["value"], "(230701000000S)(text)")
        v, e = self.one(b"1-0:99.1.0(230701000000S)(-1.5*kW)")
        self.assertEqual(v["1-0:99.1.0"]["value"], -1.5)
        self.assertEqual(v["1-0:99.1.0"]["timestamp"], (2023, 7, 1, 0, 0, 0, S))
        v, e = self.one(b"1.8.0(12*kWh)")  # C.D.E alone (IEC 62056-21)
        self.assertEqual(v["1.8.0"], {"value": 12, "unit": "kWh"})
        self.assertEqual(e, [])

    def test_malformed_lines_are_reported(self):
        for line, reason in (
            (b"garbage", "no OBIS code"),
            (b"(1)", "no OBIS code"),
            (b"1-0:1.8(1)", "no OBIS code"),
            (b"1-0:1.8.1.2(1)", "no OBIS code"),
            (b"1-0:1.8.1000(1)", "no OBIS code"),
            (b"a-b:c.d.e(1)", "no OBIS code"),
            (b"1-0:1.8.1(12", "unbalanced parentheses"),
            (b"1-0:1.8.1(1(2)", "unbalanced parentheses"),
            (b"1-0:1.8.1(1)x(2)", "text between values"),
            (b"1-0:1.8.1(abc*kWh)", "not a number"),
            (b"1-0:1.8.1(1_000*kWh)", "not a number"),
            (b"1-0:1.8.1( 12*kWh)", "not a number"),
            (b"1-0:1.8.1(1.2.3*kWh)", "not a number"),
            (b"1-0:1.8.1(*kWh)", "not a number"),
            (b"1-0:1.8.1(1)(2)", "unexpected values"),
            (b"0-0:1.0.0(1012091130)", "bad timestamp"),
            (b"0-0:1.0.0(101209113020X)", "bad timestamp"),
            (b"0-0:1.0.0(10120911302AW)", "bad timestamp"),
            (b"1-0:99.97.0(2)(0-0:96.7.19)(101208152415W)(0000000240*s)", "event count"),
            (b"1-0:99.97.0(x)(0-0:96.7.19)", "bad count"),
            (b"1-0:99.97.0(1)(0-0:96.7.19)(101208152415W)(0000000240*h)", "event unit"),
            (b"0-0:98.1.0(2)(1-0:1.6.0)(1-0:1.6.0)(200501000000S)", "demand count"),
            (b"0-1:24.3.0(090212160000)(00)(60)(1)(0-1:24.2.1)(m3)", "gas value count"),
            (b"0-1:24.2.1(101209112500W)(x*m3)", "not a number"),
            (b"0-0:96.1.1(\xff\xfe)", "not text"),
        ):
            v, e = self.one(line)
            self.assertEqual(v, {}, line)
            self.assertEqual(len(e), 1, line)
            self.assertEqual(e[0][1], reason, line)

    def test_good_lines_around_a_bad_one_survive(self):
        r = parse(self.HEAD + b"1-0:1.8.1(1*kWh)\r\n1-0:1.8.2(x*kWh)\r\n1-0:2.8.1(2*kWh)\r\n!\r\n")
        self.assertEqual(sorted(r["values"]), ["1-0:1.8.1", "1-0:2.8.1"])
        self.assertEqual(r["errors"], [("1-0:1.8.2(x*kWh)", "not a number")])

    def test_no_header(self):
        r = parse(b"1-0:1.8.1(1*kWh)\r\n!\r\n")
        self.assertEqual(r["errors"], [("", "no header")])
        self.assertEqual(r["values"], {})
        self.assertEqual(parse(b"")["errors"], [("", "no header")])

    def test_str_input_and_lf_line_ends(self):
        t = data("dsmr50_iskra.txt")
        a = parse(t)
        self.assertEqual(parse(t.decode()), a)
        self.assertEqual(parse(t.replace(b"\r\n", b"\n")), a)

    def test_timestamps(self):
        v, _ = self.one(b"0-0:1.0.0(200426223325S)")
        self.assertEqual(v["0-0:1.0.0"]["value"], (2020, 4, 26, 22, 33, 25, S))
        v, _ = self.one(b"0-0:1.0.0(632525252525W)")
        self.assertIsNone(v["0-0:1.0.0"]["value"])  # no such date: "never"
        ts = (2010, 12, 9, 11, 30, 20, W)
        self.assertEqual(iso(ts), "2010-12-09T11:30:20")
        self.assertEqual(iso(ts, cet=True), "2010-12-09T11:30:20+01:00")
        self.assertEqual(iso((2020, 4, 26, 22, 33, 25, S), cet=True), "2020-04-26T22:33:25+02:00")
        self.assertEqual(iso((2016, 11, 7, 19, 0, 0, None), cet=True), "2016-11-07T19:00:00")
        self.assertIsNone(iso(None))

    def test_hex_text(self):
        for sent, got in (
            (b"303132", "012"),
            (b"", ""),
            (b"30313", "30313"),  # odd length
            (b"3031ZZ", "3031ZZ"),  # not hex
            (b"00000000", "00000000"),  # not printable
        ):
            v, e = self.one(b"0-0:96.13.0(" + sent + b")")
            self.assertEqual(v["0-0:96.13.0"]["value"], got, sent)
        # equipment identifiers under any 96.1.x: text, never a number
        for key in (b"0-0:96.1.2", b"0-0:96.1.3", b"0-2:96.1.2"):
            for sent, got in ((b"4530303334", "E0034"), (b"123456", "123456"), (b"00", "00")):
                v, e = self.one(key + b"(" + sent + b")")
                self.assertEqual((v[key.decode()]["value"], e), (got, []), (key, sent))

    def test_exact_numbers(self):
        v, _ = self.one(b"1-0:1.8.1(123456.789*kWh)", exact=True)
        self.assertEqual(v["1-0:1.8.1"], {"value": 123456789, "scaler": -3, "unit": "kWh"})
        v, _ = self.one(b"1-0:1.8.1(-0012.50*kWh)", exact=True)
        self.assertEqual(_exact(v["1-0:1.8.1"]), (-1250, -2, "kWh"))
        v, _ = self.one(b"1-0:1.8.1(12.*kWh)", exact=True)
        self.assertEqual(_exact(v["1-0:1.8.1"]), (12, 0, "kWh"))
        v, _ = self.one(b"1-0:1.8.1(123456.789*kWh)")
        self.assertEqual(v["1-0:1.8.1"]["value"], 123456789 / 1000)

    def test_never_raises_on_mutations(self):
        # a byte stream with mutations drawn from the P1 alphabet and noise
        alphabet = b"()*!/:-.\r\n 0123456789ABCDEFSWkWh\x00\xff"
        r = Rng(7)
        base = data("emucs_fluvius_v171.txt") + data("dsmr22_example.txt")
        for _ in range(150):
            t = base
            for _ in range(1 + r.below(8)):
                i = r.below(len(t))
                op = r.below(3)
                noise = bytes(alphabet[r.below(len(alphabet))] for _ in range(1 + r.below(4)))
                if op == 0:  # overwrite
                    t = t[:i] + noise + t[i + len(noise) :]
                elif op == 1:  # cut
                    t = t[:i] + t[i + r.below(20) :]
                else:  # insert
                    t = t[:i] + noise + t[i:]
            res = parse(t)
            self.assertIsInstance(res["values"], dict)
            for k in res["values"]:
                self.assertIn("value", res["values"][k])
            f = TelegramFramer(max_size=1200)
            for k in range(0, len(t), 97):
                for out in f.feed(t[k : k + 97]):
                    self.assertIsNone(check_telegram(out))


class TestMbus(unittest.TestCase):
    def test_gas(self):
        m = mbus_devices(parse(data("dsmr502_spec_example.txt"))["values"])
        self.assertEqual(list(m), [1])
        d = m[1]
        self.assertEqual((d["type"], d["medium"], d["id"]), (3, "gas", "2222ABCD123456789"))
        self.assertAlmostEqual(d["value"], 12785.123, 9)
        self.assertEqual((d["unit"], d["timestamp"]), ("m3", (2010, 12, 9, 11, 25, 0, W)))

    def test_gas_and_water_belgium(self):
        m = mbus_devices(parse(data("emucs_fluvius_v171_alt.txt"), exact=True)["values"])
        self.assertEqual(sorted(m), [1, 2])
        gas, water = m[1], m[2]
        self.assertEqual((gas["medium"], gas["id"], gas["value"]), ("gas", "7FLO2123088027", 92287))
        self.assertEqual((water["medium"], water["id"]), ("water", "8SET0000961173"))
        self.assertEqual((water["value"], water["unit"]), (8579, "m3"))
        self.assertEqual(m[2]["timestamp"], (2023, 11, 2, 12, 15, 32, W))

    def test_heat(self):
        m = mbus_devices(parse(data("dsmr50_warmtelink_heat.txt"))["values"])
        self.assertEqual((m[1]["type"], m[1]["medium"], m[1]["unit"]), (4, "heat", "GJ"))

    def test_dsmr22_gas(self):
        m = mbus_devices(parse(data("dsmr22_example.txt"))["values"])
        self.assertEqual((m[1]["medium"], m[1]["unit"]), ("gas", "m3"))
        self.assertAlmostEqual(m[1]["value"], 1.001, 9)

    def test_device_without_reading(self):
        m = mbus_devices(parse(data("dsmr50_iskra.txt"))["values"])
        self.assertEqual(m[2]["type"], 3)
        self.assertIsNone(m[2]["value"])
        self.assertEqual(m[2]["id"], "")


class TestSmarty(unittest.TestCase):
    """The Luxembourg frame published with its key in openHAB's tests."""

    @classmethod
    def setUpClass(cls):
        cls.frame = smarty_frame()
        cls.plain = data("smarty_plaintext.txt")
        cls.gcm = Gcm(SMARTY_KEY)

    def test_the_frame(self):
        f = self.frame
        self.assertEqual(len(f), 711)
        self.assertEqual(f[:14], h("DB 08 53414767 7001BD54 82 02BA 30"))
        self.assertEqual(frame_header(f), (SMARTY_TITLE, SMARTY_FC))
        # our own encryption of the plaintext gives the very same frame
        self.assertEqual(make_frame(self.gcm, SMARTY_TITLE, SMARTY_FC, self.plain), f)

    def test_decrypt_and_parse(self):
        r = SmartyReader(SMARTY_KEY)
        out = r.feed(self.frame)
        self.assertEqual(out, [self.plain])
        self.assertEqual(r.telegrams, 1)
        self.assertEqual(r.counters.last(SMARTY_TITLE), SMARTY_FC)
        p = parse(out[0])
        self.assertEqual(p["timestamp"], (2018, 1, 30, 10, 21, 22, W))
        self.assertAlmostEqual(p["values"]["1-0:1.8.0"]["value"], 6.695, 9)

    def test_its_plaintext_crc_does_not_match(self):
        # CFDE is sent, the plaintext gives 99BD: the tag vouches for the
        # octets, so the reader only drops it when asked to check the CRC
        self.assertEqual(check_telegram(self.plain), CRC)
        r = SmartyReader(SMARTY_KEY, check_crc=True)
        self.assertEqual(r.feed(self.frame), ())
        self.assertEqual(r.errors[CRC], 1)
        self.assertEqual(r.last_error, CRC)
        with self.assertRaises(dsmr.P1Error) as cm:
            decrypt_frame(self.frame, self.gcm, check_crc=True)
        self.assertEqual(cm.exception.reason, CRC)

    def test_wrong_key(self):
        r = SmartyReader(_flip(SMARTY_KEY, 0))
        self.assertEqual(r.feed(self.frame), ())
        self.assertEqual(r.errors[TAG], 1)
        self.assertEqual(r.last_error, "wrong key or tag mismatch")
        self.assertIsNone(r.counters.last(SMARTY_TITLE))  # nothing learnt from it

    def test_wrong_authentication_key(self):
        r = SmartyReader(SMARTY_KEY, ak=bytes(16))
        self.assertEqual(r.feed(self.frame), ())
        self.assertEqual(r.errors[TAG], 1)

    def test_tampered(self):
        n = len(self.frame)
        for i in (n - 1, n - 12, n - 13, 18, 16):  # tag, ciphertext, frame counter
            r = SmartyReader(SMARTY_KEY)
            self.assertEqual(r.feed(_flip(self.frame, i)), (), i)
            self.assertEqual(r.errors[TAG], 1, i)
            with self.assertRaises(dsmr.P1Error) as cm:
                decrypt_frame(_flip(self.frame, i), self.gcm)
            self.assertEqual(cm.exception.reason, TAG)

    def test_replayed_and_rolled_back(self):
        r = SmartyReader(SMARTY_KEY)
        self.assertEqual(r.feed(self.frame), [self.plain])
        self.assertEqual(r.feed(self.frame), ())  # replayed
        self.assertEqual(r.errors[STALE], 1)
        self.assertEqual(r.last_error, "stale counter")
        older = make_frame(self.gcm, SMARTY_TITLE, SMARTY_FC - 1, self.plain)
        self.assertEqual(r.feed(older), ())  # rolled back
        self.assertEqual(r.errors[STALE], 2)
        newer = make_frame(self.gcm, SMARTY_TITLE, SMARTY_FC + 1, self.plain)
        self.assertEqual(r.feed(newer), [self.plain])
        self.assertEqual(r.counters.last(SMARTY_TITLE), SMARTY_FC + 1)
        # another meter has its own counter
        other = make_frame(self.gcm, b"OTHERMTR", 1, self.plain)
        self.assertEqual(r.feed(other), [self.plain])
        self.assertEqual(r.errors, {FRAMING: 0, OVERSIZE: 0, CRC: 0, TAG: 0, STALE: 2})

    def test_counters_kept_by_the_caller(self):
        c = FrameCounters()
        self.assertEqual(SmartyReader(SMARTY_KEY, c).feed(self.frame), [self.plain])
        r = SmartyReader(SMARTY_KEY, c)  # e.g. after the reader was rebuilt
        self.assertEqual(r.feed(self.frame), ())
        self.assertEqual(r.errors[STALE], 1)
        # a forged frame under a stale counter is refused before decrypting
        with self.assertRaises(dsmr.P1Error) as cm:
            decrypt_frame(_flip(self.frame, len(self.frame) - 1), self.gcm, c)
        self.assertEqual(cm.exception.reason, STALE)

    def test_frame_counters_bounded(self):
        c = FrameCounters(max_titles=2)
        for i in range(5):
            c.accept(b"METER%03d" % i, 10)
        self.assertEqual(len(c._last), 2)
        self.assertTrue(c.is_stale(b"METER004", 10))
        self.assertFalse(c.is_stale(b"METER004", 11))
        self.assertFalse(c.is_stale(b"NEWMETER", 0))

    def test_plaintext_must_be_a_telegram(self):
        r = SmartyReader(SMARTY_KEY)
        self.assertEqual(r.feed(make_frame(self.gcm, SMARTY_TITLE, 1, b"not a telegram")), ())
        self.assertEqual(r.errors[FRAMING], 1)
        t = data("dsmr50_iskra.txt")
        self.assertEqual(r.feed(make_frame(self.gcm, SMARTY_TITLE, 2, t)), [t])
        r = SmartyReader(SMARTY_KEY, check_crc=True)
        self.assertEqual(r.feed(make_frame(self.gcm, SMARTY_TITLE, 3, _flip(t, 100))), ())
        self.assertEqual(r.errors[CRC], 1)

    def test_security_control_must_be_0x30(self):
        r = SmartyReader(SMARTY_KEY)
        self.assertEqual(r.feed(make_frame(self.gcm, SMARTY_TITLE, 1, self.plain, sc=0x10)), ())
        # its header, and any 0xDB in its ciphertext taken for a start
        self.assertGreaterEqual(r.errors[FRAMING], 1)
        self.assertEqual(r.feed(self.frame), [self.plain])


class TestEncryptedFramer(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.frame = smarty_frame()

    def test_split_at_every_byte(self):
        f = self.frame
        self.assertIn(b"\xdb", f[1:])  # the ciphertext holds the start octet too
        ef = EncryptedFramer()
        for k in range(len(f) + 1):
            self.assertEqual(list(ef.feed(f[:k])) + list(ef.feed(f[k:])), [f], k)
        self.assertEqual(ef.frames, len(f) + 1)
        self.assertEqual(ef.errors, {FRAMING: 0, OVERSIZE: 0})

    def test_byte_by_byte_then_decrypt(self):
        r = SmartyReader(SMARTY_KEY)
        out = []
        for i in range(len(self.frame)):
            out.extend(r.feed(self.frame[i : i + 1]))
        self.assertEqual(out, [data("smarty_plaintext.txt")])

    def test_garbage_and_false_starts(self):
        gcm = Gcm(SMARTY_KEY)
        plain = data("smarty_plaintext.txt")
        f2 = make_frame(gcm, SMARTY_TITLE, SMARTY_FC + 1, plain)
        junk = (
            b"\x00\x01",  # noise
            b"\xdb\x07",  # title length not 8
            b"\xdb\x08SAGgp\x01\xbdT\x83",  # unknown length form
            b"\xdb\x08SAGgp\x01\xbdT\x82\x00\x05",  # too short for a tag
            b"\xdb\xdb\x08SAGgp\x01\xbdT\x82\x02\xba\x20",  # security control 0x20
        )
        stream = junk[0] + self.frame + junk[1] + junk[2] + junk[3] + f2 + junk[4]
        ef = EncryptedFramer()
        self.assertEqual(ef.feed(stream), [self.frame, f2])
        self.assertEqual(ef.errors[FRAMING], 5)  # the last junk: two false starts
        r = SmartyReader(SMARTY_KEY)
        self.assertEqual(r.feed(stream), [plain, plain])
        self.assertEqual(r.errors[FRAMING], 5)
        self.assertEqual(r.errors[TAG], 0)

    def test_a_start_inside_a_bad_header(self):
        # 0xDB 0x08 + title bytes holding a real start: the search restarts there
        ef = EncryptedFramer()
        self.assertEqual(ef.feed(b"\xdb\x08\x00\x00" + self.frame), [self.frame])
        self.assertEqual(ef.errors[FRAMING], 1)

    def test_oversize(self):
        ef = EncryptedFramer(max_size=512)
        small = make_frame(Gcm(SMARTY_KEY), SMARTY_TITLE, 1, data("dsmr22_example.txt"))
        self.assertLess(len(small), 512)
        self.assertEqual(ef.feed(self.frame + small), [small])
        self.assertGreaterEqual(ef.errors[OVERSIZE], 1)

    def test_short_length_forms(self):
        gcm = Gcm(SMARTY_KEY)
        t = b"/X\r\n!\r\n"
        fcb = (5).to_bytes(4, "big")
        ct, tag = gcm.encrypt(SMARTY_TITLE + fcb, b"\x30" + SMARTY_AK, t)
        body = b"\x30" + fcb + ct + tag
        for form in (bytes([len(body)]), b"\x81" + bytes([len(body)])):
            frame = b"\xdb\x08" + SMARTY_TITLE + form + body
            self.assertEqual(EncryptedFramer().feed(frame), [frame])
            self.assertEqual(decrypt_frame(frame, gcm), t)

    def test_reset(self):
        ef = EncryptedFramer()
        self.assertEqual(ef.feed(self.frame[:300]), ())
        ef.reset()
        self.assertEqual(ef.feed(self.frame[300:] + self.frame), [self.frame])

    def test_frame_header_errors(self):
        for bad in (b"", self.frame[:-1], b"\x00" + self.frame[1:], self.frame + b"\x00"):
            with self.assertRaises(dsmr.P1Error) as cm:
                frame_header(bad)
            self.assertEqual(cm.exception.reason, FRAMING)
