"""Push: the DATA-NOTIFICATION APDU (Green Book 9.5), the Push setup object
(Blue Book 4.4.8, class 40 version 0) and the sender (app.push), on both
runtimes. Time is a ManualClock and randomness a function passed in, so
nothing sleeps; the asyncio sender talks to stand-in streams.

The reference octets below were produced by gurux-dlms 1.0.203's
GXDLMSNotify with the same invoke id, keys and invocation counter
(host_tests/test_push_interop.py checks that again on CPython).
"""

import asyncio
import unittest

from app.push import DEFAULT_OBJECTS, Periodic, PushJob, PushSender, add_push_setup, build_frame
from cosem.base import MANAGER, PUBLIC, READ_ONLY, READ_WRITE, READER, LogicalDevice
from cosem.clock import Clock
from cosem.data import Data
from cosem.profile import ProfileGeneric, RingSource
from cosem.push import PushSetup, parse_destination, window_active
from cosem.register import UNIT_WH, Register
from dlms import acse, axdr, notification, obis, wrapper, xdlms
from dlms.client import Client
from dlms.errors import BufferFull, DataAccessError, DecodeError
from dlms.security.cipher import SecurityError
from dlms.security.context import SUITE_1, MemoryCounter, SecurityContext
from dlms.security.gcm import Gcm
from hal.clock import ManualClock
from model import build
from support import h, hx

SERVER_TITLE = h("4D 4D 4D 00 00 BC 61 4E")
EK = h("00 01 02 03 04 05 06 07 08 09 0A 0B 0C 0D 0E 0F")
AK = h("D0 D1 D2 D3 D4 D5 D6 D7 D8 D9 DA DB DC DD DE DF")
PUSH_LN = h("00 00 19 09 00 FF")  # 0.0.25.9.0.255
CLOCK_LN = h("00 00 01 00 00 FF")
ENERGY_LN = h("01 00 01 08 00 FF")
SERIAL_LN = h("00 00 60 01 00 FF")

BODY = (axdr.STRUCTURE, [(axdr.OCTET_STRING, PUSH_LN), (axdr.DOUBLE_LONG_UNSIGNED, 123456)])
# DATA-NOTIFICATION, long invoke id 7 (normal priority, unconfirmed), no
# date-time, body {0.0.25.9.0.255, 123456}: gurux GXDLMSNotify, byte for byte.
PLAIN = h("0F 00 00 00 07 | 00 | 02 02 09 06 00 00 19 09 00 FF 06 00 01 E2 40")
# The same with the date-time 2025-03-14 12:30:15, weekday not specified,
# deviation 0, status 0 (gurux writes a UTC time so).
WITH_TIME = h(
    "0F 00 00 00 07 | 0C 07 E9 03 0E FF 0C 1E 0F 00 00 00 00 |"
    "02 02 09 06 00 00 19 09 00 FF 06 00 01 E2 40"
)
# PLAIN in general-glo-ciphering, SC 0x30 (suite 0), IC 5, server system
# title, Green Book example keys: gurux GXDLMSNotify with a GXCiphering.
CIPHERED = h(
    "DB 08 4D 4D 4D 00 00 BC 61 4E 26 30 00 00 00 05"
    "E2 5F D7 BD EE 0F 51 24 E8 0B 0D 18 A0 EC 92 9C 02 A5 CC F4 7A"
    "11 65 CC 0C 3D F9 1C 07 01 FC 7C A1"
)


def utc(y, mo, d, hh=0, mm=0, ss=0):
    return axdr.DateTime.from_tuple(y, mo, d, hh, mm, ss, 0, 0).to_epoch()


def context(ic=5, suite=0):
    return SecurityContext(SERVER_TITLE, EK, AK, suite=suite, counter=MemoryCounter(ic))


def wild_time(hh, mm=0, ss=0):
    """The 12 octets of a date-time with only the time given (every day)."""
    return axdr.DateTime(hour=hh, minute=mm, second=ss, hundredths=0).to_bytes()


def window(start, end):
    return (axdr.STRUCTURE, [(axdr.OCTET_STRING, start), (axdr.OCTET_STRING, end)])


def definition(class_id, ln, attr, index=0, tags=None):
    t = tags or (axdr.LONG_UNSIGNED, axdr.OCTET_STRING, axdr.INTEGER, axdr.LONG_UNSIGNED)
    return (
        axdr.STRUCTURE,
        [(t[0], class_id), (t[1], ln), (t[2], attr), (t[3], index)],
    )


def destination(text, transport=0, message=0):
    return (
        axdr.STRUCTURE,
        [(axdr.ENUM, transport), (axdr.OCTET_STRING, text), (axdr.ENUM, message)],
    )


class Failing(Data):
    def get(self, attr, ctx, selector=None, params=None):
        if attr == 2:
            raise RuntimeError("sensor gone")
        return super().get(attr, ctx)


def device(hal=None, **kw):
    """A logical device with a clock, a serial number, an energy register, a
    small profile and a Push setup (returned with the device and clock)."""
    hal = hal or ManualClock(utc(2025, 1, 15, 12))
    ld = LogicalDevice(1, b"MPY0000000000001")
    clock = ld.add(Clock("0.0.1.0.0.255", hal, time_zone=-60, dst_enabled=False))
    ld.add(Data("0.0.96.1.0.255", (axdr.OCTET_STRING, b"00000001"), writable=()))
    ld.add(Register("1.0.1.8.0.255", axdr.DOUBLE_LONG_UNSIGNED, 123456, 0, UNIT_WH))
    ld.add(Failing("0.0.96.99.0.255", (axdr.UNSIGNED, 0)))
    src = RingSource(4)
    pg = ld.add(ProfileGeneric("1.0.99.1.0.255", src, [(clock, 2)], clock=hal))
    kw.setdefault("clock", clock)
    push = ld.add(PushSetup("0.0.25.9.0.255", ld, **kw))
    return ld, push, clock, pg


# -- the APDU ------------------------------------------------------------------------


class TestDataNotification(unittest.TestCase):
    def test_encode_as_gurux(self):
        self.assertEqual(hx(notification.encode(7, BODY)), hx(PLAIN))

    def test_encode_with_date_time(self):
        dt = axdr.DateTime(2025, 3, 14, 0xFF, 12, 30, 15, 0, 0, 0)
        self.assertEqual(hx(notification.encode(7, BODY, dt)), hx(WITH_TIME))
        self.assertEqual(notification.encode(7, BODY, dt.to_bytes()), WITH_TIME)

    def test_long_invoke_id(self):
        self.assertEqual(notification.long_invoke_id(7), 7)
        self.assertEqual(notification.long_invoke_id(7, high_priority=True), 0x80000007)
        self.assertEqual(notification.long_invoke_id(7, confirmed=True), 0x40000007)
        self.assertEqual(notification.long_invoke_id(0x1000001), 1)  # modulo 2^24

    def test_decode(self):
        n = notification.decode(WITH_TIME)
        self.assertEqual(n.long_invoke_id, 7)
        self.assertEqual(n.invoke_id, 7)
        self.assertFalse(n.high_priority or n.confirmed)
        self.assertEqual(n.date_time, axdr.DateTime(2025, 3, 14, 0xFF, 12, 30, 15, 0, 0, 0))
        self.assertEqual(n.body, BODY)
        self.assertIsNone(notification.decode(PLAIN).date_time)

    def test_decode_han_style(self):
        # An Aidon-style push: confirmed service class, empty date-time, a
        # structure of a visible-string and a double-long-unsigned.
        n = notification.decode(h("0F 40 00 00 2A 00 02 02 0A 03 41 42 43 06 00 00 04 D2"))
        self.assertTrue(n.confirmed)
        self.assertEqual(n.invoke_id, 42)
        self.assertEqual(n.body, (axdr.STRUCTURE, [(axdr.VISIBLE_STRING, "ABC"), (6, 1234)]))

    def test_decode_date_only(self):
        n = notification.decode(h("0F 00 00 00 01 05 07 E9 03 0E 05 11 01"))
        self.assertEqual((n.date_time.year, n.date_time.month, n.date_time.day), (2025, 3, 14))
        self.assertEqual(n.date_time.hour, 0xFF)

    def test_decode_errors(self):
        for bad in (
            b"",
            h("0F 00 00"),
            h("C4 00 00 00 01 00 11 01"),  # another APDU
            h("0F 00 00 00 01 03 01 02 03 11 01"),  # a 3-octet date-time
            h("0F 00 00 00 01 0C 07 E9"),  # date-time cut
            h("0F 00 00 00 01 00"),  # no body
            h("0F 00 00 00 01 00 02 02 11 01"),  # body cut
            PLAIN + b"\x00",  # trailing octet
        ):
            with self.assertRaises(DecodeError, msg=hx(bad)):
                notification.decode(bad)

    def test_bounded_writer(self):
        w = axdr.Writer(10)
        w.pos = 2
        with self.assertRaises(BufferFull):
            notification.write_head(w, 1, axdr.DateTime.from_tuple(2025, 1, 1))
        self.assertEqual(w.pos, 2)
        with self.assertRaises(ValueError):
            notification.encode(1, BODY, b"\x07\xe9")


class TestCipheredNotification(unittest.TestCase):
    def test_general_glo_ciphering_as_gurux(self):
        sec = context(ic=5)
        self.assertEqual(hx(notification.protect(sec, 0x30, PLAIN)), hx(CIPHERED))
        self.assertEqual(sec.counter.value, 5)

    def test_decipher_with_the_context_keys(self):
        title, sc, ic, plain = notification.decipher(CIPHERED, Gcm(EK), AK)
        self.assertEqual((title, sc, ic), (SERVER_TITLE, 0x30, 5))
        self.assertEqual(plain, PLAIN)
        self.assertEqual(notification.decode(plain).body, BODY)

    def test_counter_advances_and_suite_bits(self):
        sec = context(ic=9, suite=SUITE_1)
        a = notification.protect(sec, 0x30, PLAIN)
        b = notification.protect(sec, 0x30, PLAIN)
        self.assertEqual(a[11], 0x31)  # SC: authenticated, encrypted, suite 1
        self.assertEqual(a[12:16], h("00 00 00 09"))
        self.assertEqual(b[12:16], h("00 00 00 0A"))
        self.assertNotEqual(a[16:], b[16:])

    def test_authentication_only_and_encryption_only(self):
        a = notification.protect(context(), 0x10, PLAIN)
        self.assertEqual(a[11], 0x10)
        self.assertIn(PLAIN, a)  # readable, with a 12-octet tag after it
        self.assertEqual(len(a), 2 + 8 + 1 + 5 + len(PLAIN) + 12)
        self.assertEqual(notification.decipher(a, Gcm(EK), AK)[3], PLAIN)
        e = notification.protect(context(), 0x20, PLAIN)
        self.assertNotIn(PLAIN[6:], e)
        self.assertEqual(len(e), 2 + 8 + 1 + 5 + len(PLAIN))

    def test_wrong_key_or_tampering_refused(self):
        with self.assertRaises(SecurityError):
            notification.decipher(CIPHERED, Gcm(bytes(16)), AK)
        with self.assertRaises(SecurityError):
            notification.decipher(CIPHERED, Gcm(EK), bytes(16))
        bad = bytearray(CIPHERED)
        bad[20] ^= 1
        with self.assertRaises(SecurityError):
            notification.decipher(bytes(bad), Gcm(EK), AK)
        with self.assertRaises(DecodeError):
            notification.decipher(PLAIN, Gcm(EK), AK)

    def test_exhausted_counter(self):
        sec = context(ic=0xFFFFFFFF)
        notification.protect(sec, 0x30, PLAIN)
        with self.assertRaises(SecurityError):
            notification.protect(sec, 0x30, PLAIN)


# -- the Push setup object -----------------------------------------------------------


class TestPushSetupAttributes(unittest.TestCase):
    def test_defaults_in_hex(self):
        ld, push, clock, _ = device()
        enc = lambda a: hx(axdr.to_bytes(push.get(a, None)))  # noqa: E731
        self.assertEqual(enc(1), "09 06 00 00 19 09 00 FF")
        # the push setup's own logical name is the first (and only) element
        self.assertEqual(enc(2), "01 01 02 04 12 00 28 09 06 00 00 19 09 00 FF 0F 01 12 00 00")
        self.assertEqual(
            enc(3), "02 03 16 00 09 0E 31 32 37 2E 30 2E 30 2E 31 3A 34 30 35 39 16 00"
        )
        self.assertEqual(enc(4), "01 00")
        self.assertEqual(enc(5), "12 00 00")
        self.assertEqual(enc(6), "11 00")
        self.assertEqual(enc(7), "12 00 00")

    def test_access_rights(self):
        _, push, _, _ = device()
        self.assertFalse(push.visible(PUBLIC))
        self.assertTrue(push.visible(READER))
        for a in range(1, 8):
            self.assertEqual(push.attribute_access(READER, a), READ_ONLY)
            self.assertEqual(push.attribute_access(MANAGER, a), READ_ONLY if a == 1 else READ_WRITE)
        self.assertEqual(push.method_access(READER, 1), 0)
        self.assertEqual(push.method_access(MANAGER, 1), 1)
        self.assertEqual(push.method_access(MANAGER, 2), 0)

    def test_set_every_attribute(self):
        _, push, _, _ = device()
        objs = (
            axdr.ARRAY,
            [
                definition(40, PUSH_LN, 1),
                definition(1, SERIAL_LN, 2),
                definition(8, CLOCK_LN, 2),
                definition(3, ENERGY_LN, 0),
                definition(3, ENERGY_LN, 3, 2),
            ],
        )
        push.set(2, objs, None)
        self.assertEqual(push.get(2, None), objs)
        push.set(3, destination(b"[::1]:4063"), None)
        self.assertEqual(push.get(3, None), destination(b"[::1]:4063"))
        self.assertEqual(push.address(), ("::1", 4063))
        windows = (
            axdr.ARRAY,
            [window(wild_time(2), wild_time(4)), window(wild_time(22), wild_time(23))],
        )
        push.set(4, windows, None)
        self.assertEqual(push.get(4, None), windows)
        push.set(5, (axdr.LONG_UNSIGNED, 600), None)
        push.set(6, (axdr.UNSIGNED, 3), None)
        push.set(7, (axdr.LONG_UNSIGNED, 120), None)
        self.assertEqual(push.get(5, None), (axdr.LONG_UNSIGNED, 600))
        self.assertEqual(push.get(6, None), (axdr.UNSIGNED, 3))
        self.assertEqual(push.get(7, None), (axdr.LONG_UNSIGNED, 120))
        self.assertEqual(
            (push.randomisation_start_interval, push.number_of_retries, push.repetition_delay),
            (600, 3, 120),
        )
        # integer types of other widths in a definition, and a date-time typed window
        loose = (axdr.UNSIGNED, axdr.OCTET_STRING, axdr.INTEGER, axdr.UNSIGNED)
        push.set(2, (axdr.ARRAY, [definition(40, PUSH_LN, 1, 0, loose)]), None)
        self.assertEqual(push.objects, [(40, PUSH_LN, 1, 0)])
        dt = axdr.DateTime(hour=6, minute=0, second=0, hundredths=0)
        tw = (axdr.STRUCTURE, [(axdr.DATE_TIME, dt), (axdr.OCTET_STRING, wild_time(7))])
        push.set(4, (axdr.ARRAY, [tw]), None)
        self.assertEqual(push.windows, [(dt.to_bytes(), wild_time(7))])

    def assertRefused(self, push, attr, data, result):
        before = push.get(attr, None) if 2 <= attr <= 7 else None
        with self.assertRaises(DataAccessError) as cm:
            push.set(attr, data, None)
        self.assertEqual(cm.exception.result, result, "attribute %d %r" % (attr, data))
        if before is not None:
            self.assertEqual(push.get(attr, None), before)  # nothing half-applied

    def test_refusals(self):
        _, push, _, _ = device()
        TU, UNDEF, UNAV, OTHER = (
            xdlms.TYPE_UNMATCHED,
            xdlms.OBJECT_UNDEFINED,
            xdlms.OBJECT_UNAVAILABLE,
            xdlms.OTHER_REASON,
        )
        self.assertRefused(push, 1, (axdr.OCTET_STRING, PUSH_LN), xdlms.READ_WRITE_DENIED)
        good = definition(40, PUSH_LN, 1)
        for data, result in (
            ((axdr.STRUCTURE, []), TU),
            ((axdr.ARRAY, [good, (axdr.STRUCTURE, [])]), TU),
            ((axdr.ARRAY, [definition(3, b"\x01\x00\x01\x08\x00", 2)]), TU),  # 5-octet name
            ((axdr.ARRAY, [definition(3, ENERGY_LN, 2, 0, (18, 10, 15, 18))]), TU),
            ((axdr.ARRAY, [definition(3, h("01 00 63 63 00 FF"), 2)]), UNDEF),
            ((axdr.ARRAY, [definition(4, ENERGY_LN, 2)]), UNDEF),  # class inconsistent
            ((axdr.ARRAY, [definition(3, ENERGY_LN, 4)]), UNAV),  # register has 3
            ((axdr.ARRAY, [definition(3, ENERGY_LN, -1)]), UNAV),
            ((axdr.ARRAY, [good] * 33), OTHER),
        ):
            self.assertRefused(push, 2, data, result)
        for data, result in (
            ((axdr.OCTET_STRING, b"127.0.0.1:4063"), TU),
            ((axdr.STRUCTURE, [(axdr.ENUM, 0), (axdr.OCTET_STRING, b"h:1")]), TU),
            ((axdr.STRUCTURE, [(axdr.UNSIGNED, 0), (axdr.OCTET_STRING, b"h:1"), (22, 0)]), TU),
            (destination(b"127.0.0.1:4063", transport=1), OTHER),  # UDP is not offered
            (destination(b"127.0.0.1:4063", message=1), OTHER),  # XML neither
            (destination(b"127.0.0.1"), OTHER),
            (destination(b"127.0.0.1:0"), OTHER),
            (destination(b"127.0.0.1:65536"), OTHER),
            (destination(b":4063"), OTHER),
            (destination(b"\xff\xfe:1"), OTHER),
            (destination(b"a" * 60 + b":4063"), OTHER),
        ):
            self.assertRefused(push, 3, data, result)
        for data, result in (
            ((axdr.STRUCTURE, []), TU),
            ((axdr.ARRAY, [window(wild_time(1), b"\x00" * 11)]), TU),
            ((axdr.ARRAY, [(axdr.STRUCTURE, [(axdr.OCTET_STRING, wild_time(1))])]), TU),
            ((axdr.ARRAY, [window(wild_time(1), wild_time(2))] * 9), OTHER),
        ):
            self.assertRefused(push, 4, data, result)
        self.assertRefused(push, 5, (axdr.DOUBLE_LONG_UNSIGNED, 5), TU)
        self.assertRefused(push, 6, (axdr.LONG_UNSIGNED, 5), TU)
        self.assertRefused(push, 7, (axdr.UNSIGNED, 5), TU)
        self.assertRefused(push, 7, None, TU)
        self.assertRefused(push, 8, (axdr.UNSIGNED, 5), xdlms.READ_WRITE_DENIED)

    def test_push_method_requests_a_push(self):
        _, push, _, _ = device()
        self.assertFalse(push.pending)
        self.assertIsNone(push.action(1, (axdr.INTEGER, 0), None))
        self.assertTrue(push.pending)
        with self.assertRaises(DataAccessError):
            push.action(2, (axdr.INTEGER, 0), None)

    def test_parse_destination(self):
        self.assertEqual(parse_destination("127.0.0.1:4063"), ("127.0.0.1", 4063))
        self.assertEqual(parse_destination(b"head-end.example:4059"), ("head-end.example", 4059))
        self.assertEqual(parse_destination("[fe80::1]:1"), ("fe80::1", 1))
        for bad in ("4063", "h:", "h:x", "[::1]4063", "[::1", "a b:1"):
            with self.assertRaises(ValueError, msg=bad):
                parse_destination(bad)
        with self.assertRaises(ValueError):
            PushSetup("0.0.25.9.0.255", None, destination="nowhere")


class TestPushContent(unittest.TestCase):
    def test_capture(self):
        hal = ManualClock(utc(2025, 1, 15, 12))
        ld, push, clock, pg = device(hal)
        push.objects = [
            (40, PUSH_LN, 1, 0),
            (1, SERIAL_LN, 2, 0),
            (8, CLOCK_LN, 2, 0),
            (3, ENERGY_LN, 2, 0),
            (3, ENERGY_LN, 3, 2),  # the unit of scaler_unit
            (3, ENERGY_LN, 0, 0),  # the whole register
            (1, h("00 00 60 63 00 FF"), 2, 0),  # a failing provider
            (3, h("01 00 63 63 00 FF"), 2, 0),  # gone since it was set
            (1, SERIAL_LN, 2, 1),  # data_index on a non-array
        ]
        t = utc(2025, 1, 15, 12, 0, 30)
        local = axdr.DateTime.from_tuple(2025, 1, 15, 13, 0, 30, 0, -60, 0).to_bytes()
        self.assertEqual(
            push.capture(t),
            [
                (axdr.OCTET_STRING, PUSH_LN),
                (axdr.OCTET_STRING, b"00000001"),
                (axdr.OCTET_STRING, local),  # the clock at the push time
                (axdr.DOUBLE_LONG_UNSIGNED, 123456),
                (axdr.ENUM, UNIT_WH),
                (
                    axdr.STRUCTURE,
                    [
                        (axdr.OCTET_STRING, ENERGY_LN),
                        (axdr.DOUBLE_LONG_UNSIGNED, 123456),
                        (axdr.STRUCTURE, [(axdr.INTEGER, 0), (axdr.ENUM, UNIT_WH)]),
                    ],
                ),
                (axdr.NULL_DATA, None),
                (axdr.NULL_DATA, None),
                (axdr.NULL_DATA, None),
            ],
        )

    def test_profile_buffer_streamed(self):
        hal = ManualClock(utc(2025, 1, 15, 12))
        ld, push, clock, pg = device(hal)
        for _ in range(3):
            pg.capture()
            hal.advance(900)
        push.objects = [(40, PUSH_LN, 1, 0), (7, obis.parse("1.0.99.1.0.255"), 2, 0)]
        body = b"".join(push.body_pieces(hal.now()))
        value, end = axdr.decode(body)
        self.assertEqual(end, len(body))
        rows = value[1][1][1]
        self.assertEqual(len(rows), 3)
        self.assertEqual(rows[0][1][0][1][9:11], h("FF C4"))  # deviation -60

    def test_frame(self):
        ld, push, clock, _ = device()
        push.objects = [(40, PUSH_LN, 1, 0), (3, ENERGY_LN, 2, 0)]
        t = utc(2025, 3, 14, 11, 30, 15)
        frame = build_frame(push, t, invoke_id=7)
        self.assertEqual(wrapper.decode_header(frame), (1, 16, len(frame) - 8))
        n = notification.decode(frame[8:])
        self.assertEqual(n.long_invoke_id, 7)
        self.assertEqual(n.date_time, axdr.DateTime.from_tuple(2025, 3, 14, 12, 30, 15, 0, -60, 0))
        self.assertEqual(n.body, BODY)
        # invoke ids count up per push
        self.assertEqual(notification.decode(build_frame(push, t)[8:]).invoke_id, 1)
        self.assertEqual(notification.decode(build_frame(push, t)[8:]).invoke_id, 2)
        # without a cosem Clock: no date-time, exactly the gurux APDU
        push.clock = None
        self.assertEqual(build_frame(push, t, invoke_id=7, dest=102)[8:], PLAIN)
        self.assertEqual(build_frame(push, t, invoke_id=7, dest=102)[:6], h("00 01 00 01 00 66"))

    def test_frame_ciphered(self):
        _, push, _, _ = device()
        push.objects = [(40, PUSH_LN, 1, 0), (3, ENERGY_LN, 2, 0)]
        push.clock = None
        frame = build_frame(push, 0, context(ic=5), 0x30, invoke_id=7)
        self.assertEqual(frame, wrapper.encode(1, 16, CIPHERED))
        with self.assertRaises(SecurityError):
            build_frame(push, 0, None, 0x30)

    def test_frame_too_large(self):
        _, push, _, pg = device()
        push.objects = [(1, SERIAL_LN, 2, 0)] * 10
        with self.assertRaises(BufferFull):
            build_frame(push, 0, max_apdu=64)
        self.assertEqual(len(build_frame(push, 0, max_apdu=200)), 8 + 18 + 2 + 100)

    def test_through_the_server(self):
        """A manager sets the attributes and calls push over an association."""
        server = build()
        ld = server.devices[1]
        hal = ManualClock(utc(2025, 1, 15, 12))
        push = ld.add(PushSetup("0.0.25.9.0.255", ld, clock=Clock("0.0.1.0.0.255", hal)))
        c = Client(_Loop(server, 1), acse.MECHANISM_LLS, b"12345678")
        c.associate()
        self.assertEqual(c.set(40, PUSH_LN, 3, destination(b"10.0.0.9:4063")), xdlms.SUCCESS)
        objs = (axdr.ARRAY, [definition(40, PUSH_LN, 1), definition(3, ENERGY_LN, 2)])
        self.assertEqual(c.set(40, PUSH_LN, 2, objs), xdlms.SUCCESS)
        self.assertEqual(c.get(40, PUSH_LN, 2), objs)
        self.assertEqual(c.set(40, PUSH_LN, 6, (axdr.LONG_UNSIGNED, 3)), xdlms.TYPE_UNMATCHED)
        self.assertEqual(c.action(40, PUSH_LN, 1, (axdr.INTEGER, 0)), (xdlms.SUCCESS, None))
        self.assertTrue(push.pending)
        self.assertEqual(push.address(), ("10.0.0.9", 4063))
        c.release()
        # a reader reads but neither writes nor pushes
        push.pending = False
        r = Client(_Loop(server, 17), acse.MECHANISM_LLS, b"12345678")
        r.associate()
        self.assertEqual(r.get(40, PUSH_LN, 5), (axdr.LONG_UNSIGNED, 0))
        self.assertEqual(r.set(40, PUSH_LN, 5, (axdr.LONG_UNSIGNED, 1)), xdlms.READ_WRITE_DENIED)
        self.assertEqual(r.action(40, PUSH_LN, 1, (axdr.INTEGER, 0))[0], xdlms.READ_WRITE_DENIED)
        self.assertFalse(push.pending)

    def test_add_push_setup(self):
        ld, _, clock, _ = device()
        pcfg = {
            "destination": "127.0.0.1:4063",
            "randomisation_start_interval": 5,
            "number_of_retries": 2,
            "repetition_delay": 30,
        }
        s = add_push_setup(ld, clock, pcfg, ln="0.1.25.9.0.255")
        self.assertIs(ld.find(obis.parse("0.1.25.9.0.255")), s)
        # its own name first, then the defaults the device has (no export
        # energy, no power registers here)
        self.assertEqual(
            [(c, obis.dotted(ln), a) for c, ln, a, _ in s.objects],
            [
                (40, "0.1.25.9.0.255", 1),
                (1, "0.0.96.1.0.255", 2),
                (8, "0.0.1.0.0.255", 2),
                (3, "1.0.1.8.0.255", 2),
            ],
        )
        self.assertEqual(DEFAULT_OBJECTS[0], ("0.0.96.1.0.255", 2))
        self.assertEqual((s.randomisation_start_interval, s.repetition_delay), (5, 30))
        self.assertEqual(s.address(), ("127.0.0.1", 4063))


class _Loop:
    def __init__(self, server, client_sap):
        self.a = server.association(client_sap, 1)

    def exchange(self, apdu):
        r = self.a.handle(apdu)
        return bytes(r) if r is not None else b""


# -- communication windows ------------------------------------------------------------


class TestCommunicationWindow(unittest.TestCase):
    def setup(self, windows, dst=False):
        hal = ManualClock(0)
        clock = Clock("0.0.1.0.0.255", hal, time_zone=-60, dst_enabled=dst)
        ld = LogicalDevice(1, b"X")
        return PushSetup("0.0.25.9.0.255", ld, windows=windows, clock=clock)

    def test_no_window_is_always(self):
        p = self.setup(())
        for t in (0, utc(2025, 6, 1, 3), utc(2031, 12, 31, 23, 59, 59)):
            self.assertTrue(p.in_window(t))

    def test_every_night(self):
        # 02:00 to 04:00 local time (UTC+1 in winter)
        p = self.setup([(wild_time(2), wild_time(4))])
        self.assertFalse(p.in_window(utc(2025, 1, 15, 0, 59, 59)))
        self.assertTrue(p.in_window(utc(2025, 1, 15, 1, 0, 0)))  # 02:00 local
        self.assertTrue(p.in_window(utc(2025, 1, 15, 2, 59, 59)))
        self.assertFalse(p.in_window(utc(2025, 1, 15, 3, 0, 0)))  # the end is outside
        self.assertTrue(p.in_window(utc(2025, 1, 16, 1, 30)))  # the next night too

    def test_local_time_follows_daylight_saving(self):
        p = self.setup([(wild_time(2), wild_time(4))], dst=True)
        self.assertTrue(p.in_window(utc(2025, 7, 15, 0, 0, 0)))  # 02:00 CEST
        self.assertFalse(p.in_window(utc(2025, 7, 15, 2, 0, 0)))  # 04:00 CEST

    def test_across_midnight(self):
        p = self.setup([(wild_time(22), wild_time(2))])
        self.assertTrue(p.in_window(utc(2025, 1, 15, 21, 0)))  # 22:00 local
        self.assertTrue(p.in_window(utc(2025, 1, 15, 23, 30)))  # 00:30 local
        self.assertFalse(p.in_window(utc(2025, 1, 16, 1, 0)))  # 02:00 local
        self.assertFalse(p.in_window(utc(2025, 1, 15, 12, 0)))

    def test_fully_specified_and_several(self):
        a = axdr.DateTime.from_tuple(2025, 3, 1, 10, 0, 0).to_bytes()
        b = axdr.DateTime.from_tuple(2025, 3, 2, 10, 0, 0).to_bytes()
        p = self.setup([(a, b), (wild_time(2), wild_time(3))])
        self.assertFalse(p.in_window(utc(2025, 3, 1, 8, 59)))
        self.assertTrue(p.in_window(utc(2025, 3, 1, 9, 0)))  # 10:00 local
        self.assertTrue(p.in_window(utc(2025, 3, 2, 8, 59)))
        self.assertFalse(p.in_window(utc(2025, 3, 2, 9, 0)))
        self.assertTrue(p.in_window(utc(2025, 5, 1, 1, 30)))  # the nightly one
        # a fully specified window that ends before it starts is never open
        self.assertFalse(self.setup([(b, a)]).in_window(utc(2025, 3, 1, 12)))

    def test_monthly_window(self):
        # the first of every month, all day: year and month not specified
        first = axdr.DateTime(day=1, hour=0, minute=0, second=0, hundredths=0).to_bytes()
        second = axdr.DateTime(day=2, hour=0, minute=0, second=0, hundredths=0).to_bytes()
        t = axdr.DateTime.from_tuple(2025, 4, 1, 17, 0, 0)
        self.assertTrue(
            window_active(axdr.DateTime.from_bytes(first), axdr.DateTime.from_bytes(second), t)
        )
        t = axdr.DateTime.from_tuple(2025, 4, 2, 0, 0, 0)
        self.assertFalse(
            window_active(axdr.DateTime.from_bytes(first), axdr.DateTime.from_bytes(second), t)
        )


# -- the push schedule: randomisation, retries, windows (sans-IO) ------------------


class Rand:
    """randomness passed in: always ``value`` (capped at n), and the ns asked."""

    def __init__(self, value=0):
        self.value = value
        self.asked = []

    def __call__(self, n):
        self.asked.append(n)
        return min(self.value, n)


def attempts(job, start, end, fail=True, step=1):
    """The times poll() asks for an attempt from ``start`` to ``end``, each
    attempt failing (or succeeding)."""
    out = []
    t = start
    while t <= end:
        if job.poll(t):
            out.append(t)
            job.result(not fail, t)
            continue  # a zero repetition_delay retries at once
        t += step
    return out


class TestPushJob(unittest.TestCase):
    def job(self, windows=(), rand=None, **kw):
        hal = ManualClock(0)
        clock = Clock("0.0.1.0.0.255", hal, time_zone=-60, dst_enabled=False)
        s = PushSetup("0.0.25.9.0.255", LogicalDevice(1, b"X"), windows=windows, clock=clock, **kw)
        return PushJob(s, rand or Rand())

    def test_nothing_without_a_request(self):
        j = self.job()
        self.assertEqual(attempts(j, 0, 100), [])

    def test_one_push_at_once(self):
        j = self.job()
        j.setup.request()
        self.assertEqual(attempts(j, 1000, 2000, fail=False), [1000])
        self.assertEqual((j.pushed, j.failed, j.active, j.setup.pending), (1, 0, False, False))

    def test_retries_and_repetition_delay(self):
        j = self.job(number_of_retries=3, repetition_delay=60)
        j.setup.request()
        self.assertEqual(attempts(j, 1000, 5000), [1000, 1060, 1120, 1180])
        self.assertEqual((j.pushed, j.failed, j.active), (0, 1, False))

    def test_no_retries_no_delay(self):
        j = self.job(number_of_retries=2)
        j.setup.request()
        self.assertEqual(attempts(j, 10, 20), [10, 10, 10])  # repetition_delay 0: at once

    def test_success_stops_the_retries(self):
        j = self.job(number_of_retries=5, repetition_delay=10)
        j.setup.request()
        self.assertTrue(j.poll(0))
        self.assertFalse(j.result(False, 0))
        self.assertFalse(j.poll(9))
        self.assertTrue(j.poll(10))
        self.assertTrue(j.result(True, 10))
        self.assertEqual(attempts(j, 11, 1000), [])
        self.assertEqual((j.pushed, j.failed), (1, 0))

    def test_randomised_start(self):
        r = Rand(value=37)
        j = self.job(
            rand=r, randomisation_start_interval=300, number_of_retries=1, repetition_delay=5
        )
        j.setup.request()
        self.assertEqual(attempts(j, 0, 1000), [37, 42])
        self.assertEqual(r.asked, [300])  # drawn once per push, not per retry

    def test_waits_for_the_window(self):
        # 02:00-04:00 local = 01:00-03:00 UTC; requested at 12:00 UTC
        w = [(wild_time(2), wild_time(4))]
        r = Rand(value=90)
        j = self.job(w, r, randomisation_start_interval=600)
        t0 = utc(2025, 1, 15, 12)
        j.setup.request()
        got = attempts(j, t0, t0 + 86400, fail=False, step=30)
        self.assertEqual(got, [utc(2025, 1, 16, 1, 1, 30)])  # window start + 90 s

    def test_retry_outside_the_window_waits_for_the_next(self):
        w = [(wild_time(2), wild_time(4))]
        j = self.job(w, number_of_retries=2, repetition_delay=3600)
        t0 = utc(2025, 1, 15, 2, 30)  # 03:30 local, inside
        j.setup.request()
        got = attempts(j, t0, t0 + 2 * 86400, step=30)
        # 03:30, then 04:30 is outside: the retry waits for 02:00 the next
        # night, the last one follows an hour later
        self.assertEqual(got, [t0, utc(2025, 1, 16, 1, 0), utc(2025, 1, 16, 2, 0)])

    def test_a_request_during_a_push_makes_another(self):
        j = self.job(number_of_retries=1, repetition_delay=10)
        j.setup.request()
        self.assertTrue(j.poll(0))
        j.setup.request()  # e.g. the push method again
        j.setup.request()  # requests coalesce
        self.assertFalse(j.result(False, 0))
        self.assertEqual(attempts(j, 1, 100, fail=False), [10, 10])
        self.assertEqual(j.pushed, 2)

    def test_periodic(self):
        p = Periodic(900)
        fired = [t for t in range(0, 3700, 50) if p.fire(t)]
        self.assertEqual(fired, [900, 1800, 2700, 3600])
        late = Periodic(900)
        self.assertFalse(late.fire(1000))  # starting mid-period: next boundary
        self.assertFalse(late.fire(1799))
        self.assertTrue(late.fire(2000))  # a missed poll still fires once
        self.assertFalse(late.fire(2100))
        self.assertFalse(Periodic(0).fire(900))

    def test_periodic_job(self):
        hal = ManualClock(0)
        s = PushSetup("0.0.25.9.0.255", LogicalDevice(1, b"X"), clock=Clock("0.0.1.0.0.255", hal))
        j = PushJob(s, Rand(), period=60)
        self.assertEqual(attempts(j, 30, 200, fail=False, step=10), [60, 120, 180])


# -- the asyncio sender, with stand-in streams ------------------------------------------


class FakeWriter:
    def __init__(self, log):
        self.log = log

    def write(self, data):
        self.log.append(bytes(data))

    async def drain(self):
        pass

    def close(self):
        self.log.append(None)  # closed

    async def wait_closed(self):
        pass


class FakeNet:
    """asyncio.open_connection stand-in: refuses ``refuse`` times, then
    connects; keeps (host, port) and what was written."""

    def __init__(self, refuse=0, hang=False):
        self.refuse = refuse
        self.hang = hang
        self.calls = []
        self.sent = []

    async def __call__(self, host, port):
        self.calls.append((host, port))
        if self.hang:
            await asyncio.sleep(3600)
        if self.refuse:
            self.refuse -= 1
            raise OSError(111)
        return None, FakeWriter(self.sent)


def run(coro):
    async def main():
        return await coro

    return asyncio.run(main())


class TestPushSender(unittest.TestCase):
    def sender(self, net, **kw):
        hal = ManualClock(utc(2025, 3, 14, 11, 30, 15))
        ld, push, clock, _ = device(hal, destination="192.0.2.7:4063")
        push.objects = [(40, PUSH_LN, 1, 0), (3, ENERGY_LN, 2, 0)]
        s = PushSender([push], clock, connect=net, rand=Rand(), **kw)
        return s, push, hal

    def test_a_full_heap_delays_a_push_and_the_sender_goes_on(self):
        class Starved(FakeNet):
            async def __call__(self, host, port):
                if not self.calls:
                    self.calls.append((host, port))
                    raise MemoryError("memory allocation failed, allocating 1040 bytes")
                return await super().__call__(host, port)

        net = Starved()
        s, push, hal = self.sender(net)
        push.action(1, (axdr.INTEGER, 0), None)

        async def main():
            task = asyncio.create_task(s.run(0.01))
            for _ in range(100):
                await asyncio.sleep(0.02)
                if net.sent:
                    break
            task.cancel()

        run(main())
        self.assertEqual(len(net.calls), 2)  # the first attempt found the heap full
        self.assertEqual(len(net.sent), 2)  # the frame, then the close
        self.assertIsNone(net.sent[1])

    def test_push_sent_in_a_wrapper_frame(self):
        net = FakeNet()
        s, push, hal = self.sender(net)
        run(s.step())
        self.assertEqual(net.sent, [])  # nothing requested
        push.action(1, (axdr.INTEGER, 0), None)
        run(s.step())
        self.assertEqual(net.calls, [("192.0.2.7", 4063)])
        self.assertEqual(len(net.sent), 2)
        self.assertIsNone(net.sent[1])
        frame = net.sent[0]
        self.assertEqual(hx(frame[:8]), "00 01 00 01 00 10 00 %02X" % (len(frame) - 8))
        n = notification.decode(frame[8:])
        self.assertEqual(n.invoke_id, 1)
        self.assertEqual(n.body, BODY)
        self.assertEqual(n.date_time, axdr.DateTime.from_tuple(2025, 3, 14, 12, 30, 15, 0, -60, 0))
        self.assertEqual((s.jobs[0].pushed, push.pending), (1, False))

    def test_retry_after_a_refused_connection_sends_the_same_octets(self):
        net = FakeNet(refuse=1)
        s, push, hal = self.sender(net)
        push.number_of_retries = 2
        push.repetition_delay = 30
        push.request()
        run(s.step())
        self.assertEqual((len(net.calls), net.sent), (1, []))
        job = s.jobs[0]
        self.assertEqual((job.active, job.attempt, job.due), (True, 1, hal.now() + 30))
        hal.advance(29)
        run(s.step())
        self.assertEqual(len(net.calls), 1)
        hal.advance(1)
        run(s.step())
        self.assertEqual(len(net.calls), 2)
        # the frame was built at the first attempt (11:30:15), not at the second
        self.assertEqual(notification.decode(net.sent[0][8:]).date_time.second, 15)
        self.assertFalse(job.active)
        self.assertEqual((job.pushed, job.failed), (1, 0))

    def test_gives_up(self):
        net = FakeNet(refuse=5)
        s, push, hal = self.sender(net)
        push.number_of_retries = 1
        push.request()
        run(s.step())
        run(s.step())
        run(s.step())
        self.assertEqual(len(net.calls), 2)
        self.assertEqual((s.jobs[0].pushed, s.jobs[0].failed), (0, 1))

    def test_ciphered(self):
        net = FakeNet()
        sec = context(ic=100)
        s, push, hal = self.sender(net, security=sec, sc=0x30, client_wport=102)
        push.request()
        run(s.step())
        frame = net.sent[0]
        self.assertEqual(wrapper.decode_header(frame), (1, 102, len(frame) - 8))
        apdu = frame[8:]
        self.assertEqual(apdu[:2], h("DB 08"))
        title, sc, ic, plain = notification.decipher(apdu, Gcm(EK), AK)
        self.assertEqual((title, sc, ic), (SERVER_TITLE, 0x30, 100))
        self.assertEqual(notification.decode(plain).body, BODY)
        self.assertNotIn(ENERGY_LN, apdu)

    def test_push_that_cannot_be_built_is_given_up(self):
        net = FakeNet()
        s, push, hal = self.sender(net, max_apdu=32)
        push.number_of_retries = 3
        push.request()
        run(s.step())
        self.assertEqual((net.calls, s.jobs[0].failed, s.jobs[0].active), ([], 1, False))

    def test_connect_timeout(self):
        net = FakeNet(hang=True)
        s, push, hal = self.sender(net, timeout_ms=30)
        push.request()
        run(s.step())
        self.assertEqual(len(net.calls), 1)
        self.assertEqual((s.jobs[0].failed, net.sent), (1, []))

    def test_periodic_sender(self):
        net = FakeNet()
        s, push, hal = self.sender(net, period=60)
        hal.set(utc(2025, 3, 14, 11, 30, 50))
        run(s.step())  # the first boundary after the start counts
        hal.set(utc(2025, 3, 14, 11, 31, 0))
        run(s.step())
        hal.set(utc(2025, 3, 14, 11, 31, 30))
        run(s.step())
        hal.set(utc(2025, 3, 14, 11, 32, 5))
        run(s.step())
        self.assertEqual(len(net.calls), 2)
        invokes = [notification.decode(f[8:]).invoke_id for f in net.sent if f is not None]
        self.assertEqual(invokes, [1, 2])


if __name__ == "__main__":
    unittest.main()
