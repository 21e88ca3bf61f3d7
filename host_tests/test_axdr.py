"""A-XDR data encoding (Blue Book 4.1.5 / 4.1.6, Green Book 9.5 Data, IEC 61334-6)."""

import unittest

from dlms import axdr
from dlms.axdr import (
    ARRAY,
    BCD,
    BIT_STRING,
    BOOLEAN,
    COMPACT_ARRAY,
    DATE,
    DATE_TIME,
    DONT_CARE,
    DOUBLE_LONG,
    DOUBLE_LONG_UNSIGNED,
    ENUM,
    FLOAT32,
    FLOAT64,
    INTEGER,
    LONG,
    LONG64,
    LONG64_UNSIGNED,
    LONG_UNSIGNED,
    NULL_DATA,
    OCTET_STRING,
    STRUCTURE,
    TIME,
    UNSIGNED,
    UTF8_STRING,
    VISIBLE_STRING,
    DateTime,
    Writer,
)
from dlms.errors import BufferFull, DecodeError
from support import Rng, h, hx

# 2024-03-31 (a Sunday) 02:00:00.00 local, CET: deviation -60 (UTC = local +
# deviation), clock status daylight saving active.
DT = DateTime(2024, 3, 31, 7, 2, 0, 0, 0, -60, 0x80)
DT_BYTES = h("07 E8 03 1F 07 02 00 00 00 FF C4 80")

# (hex, typed data): each encoding byte for byte, as the standard prints it.
EXAMPLES = [
    # Register scaler_unit (Blue Book 4.3.2, attribute 3): {-2, Wh (30)}
    ("02 02 0F FE 16 1E", (STRUCTURE, [(INTEGER, -2), (ENUM, 30)])),
    # a logical name
    ("09 06 01 00 01 08 00 FF", (OCTET_STRING, h("01 00 01 08 00 FF"))),
    ("00", (NULL_DATA, None)),
    ("FF", (DONT_CARE, None)),
    ("03 00", (BOOLEAN, False)),
    ("03 01", (BOOLEAN, True)),
    ("04 00", (BIT_STRING, "")),
    ("04 05 A0", (BIT_STRING, "10100")),
    ("04 08 81", (BIT_STRING, "10000001")),
    ("04 0C 80 10", (BIT_STRING, "100000000001")),
    ("05 00 00 00 00", (DOUBLE_LONG, 0)),
    ("05 FF FF FF FF", (DOUBLE_LONG, -1)),
    ("05 80 00 00 00", (DOUBLE_LONG, -(1 << 31))),
    ("05 7F FF FF FF", (DOUBLE_LONG, (1 << 31) - 1)),
    ("06 12 34 56 78", (DOUBLE_LONG_UNSIGNED, 0x12345678)),
    ("06 FF FF FF FF", (DOUBLE_LONG_UNSIGNED, 0xFFFFFFFF)),
    ("09 00", (OCTET_STRING, b"")),
    ("0A 03 41 42 43", (VISIBLE_STRING, "ABC")),
    ("0A 00", (VISIBLE_STRING, "")),
    ("0C 02 C3 A9", (UTF8_STRING, "\u00e9")),
    ("0C 03 E2 82 AC", (UTF8_STRING, "\u20ac")),
    ("0D 12", (BCD, 0x12)),
    ("0D 99", (BCD, 0x99)),
    ("0F 80", (INTEGER, -128)),
    ("0F 7F", (INTEGER, 127)),
    ("10 FF FE", (LONG, -2)),
    ("10 80 00", (LONG, -32768)),
    ("11 FF", (UNSIGNED, 255)),
    ("12 12 34", (LONG_UNSIGNED, 0x1234)),
    ("14 FF FF FF FF FF FF FF FE", (LONG64, -2)),
    ("14 80 00 00 00 00 00 00 00", (LONG64, -(1 << 63))),
    ("14 7F FF FF FF FF FF FF FF", (LONG64, (1 << 63) - 1)),
    ("15 FF FF FF FF FF FF FF FF", (LONG64_UNSIGNED, (1 << 64) - 1)),
    ("15 00 00 00 01 00 00 00 00", (LONG64_UNSIGNED, 1 << 32)),
    ("16 03", (ENUM, 3)),
    ("17 3F 80 00 00", (FLOAT32, 1.0)),
    ("17 C0 20 00 00", (FLOAT32, -2.5)),
    ("18 3F F0 00 00 00 00 00 00", (FLOAT64, 1.0)),
    ("18 40 09 21 FB 54 44 2D 18", (FLOAT64, 3.141592653589793)),
    ("19 07 E8 03 1F 07 02 00 00 00 FF C4 80", (DATE_TIME, DT)),
    # all fields not specified (Blue Book 4.1.6.1)
    ("19 FF FF FF FF FF FF FF FF FF 80 00 FF", (DATE_TIME, DateTime())),
    ("1A 07 E8 03 1F 07", (DATE, DateTime(2024, 3, 31, 7))),
    # every year on the last Sunday of March: month DST begin, day last
    ("1A FF FF FE FE 07", (DATE, DateTime(0xFFFF, 0xFE, 0xFE, 7))),
    ("1B 17 3B 3B 63", (TIME, DateTime(hour=23, minute=59, second=59, hundredths=99))),
    ("01 00", (ARRAY, [])),
    ("01 02 11 01 11 02", (ARRAY, [(UNSIGNED, 1), (UNSIGNED, 2)])),
    ("02 00", (STRUCTURE, [])),
    # Clock (Blue Book 4.5.1) time as octet-string(12) inside a structure
    (
        "02 02 09 0C 07 E8 03 1F 07 02 00 00 00 FF C4 80 12 00 01",
        (STRUCTURE, [(OCTET_STRING, DT_BYTES), (LONG_UNSIGNED, 1)]),
    ),
    # Profile generic capture_objects entry: {class_id, logical_name, attr, data_index}
    (
        "02 04 12 00 08 09 06 00 00 01 00 00 FF 0F 02 12 00 00",
        (
            STRUCTURE,
            [
                (LONG_UNSIGNED, 8),
                (OCTET_STRING, h("00 00 01 00 00 FF")),
                (INTEGER, 2),
                (LONG_UNSIGNED, 0),
            ],
        ),
    ),
    # compact-array of long-unsigned {1, 2, 3}
    (
        "13 12 06 00 01 00 02 00 03",
        (
            COMPACT_ARRAY,
            (LONG_UNSIGNED, [(LONG_UNSIGNED, 1), (LONG_UNSIGNED, 2), (LONG_UNSIGNED, 3)]),
        ),
    ),
    # compact-array of structure {unsigned, long-unsigned}: two rows
    (
        "13 02 02 11 12 06 01 00 02 03 00 04",
        (
            COMPACT_ARRAY,
            (
                (STRUCTURE, [UNSIGNED, LONG_UNSIGNED]),
                [
                    (STRUCTURE, [(UNSIGNED, 1), (LONG_UNSIGNED, 2)]),
                    (STRUCTURE, [(UNSIGNED, 3), (LONG_UNSIGNED, 4)]),
                ],
            ),
        ),
    ),
    # compact-array whose element is an array of two unsigned (count is Unsigned16)
    (
        "13 01 00 02 11 04 01 02 03 04",
        (
            COMPACT_ARRAY,
            (
                (ARRAY, (2, UNSIGNED)),
                [(ARRAY, [(UNSIGNED, 1), (UNSIGNED, 2)]), (ARRAY, [(UNSIGNED, 3), (UNSIGNED, 4)])],
            ),
        ),
    ),
    # compact-array of octet-strings: each element keeps its length, not its tag
    (
        "13 09 05 02 AA BB 01 CC",
        (COMPACT_ARRAY, (OCTET_STRING, [(OCTET_STRING, h("AA BB")), (OCTET_STRING, h("CC"))])),
    ),
    # compact-array of date-time rows
    (
        "13 19 0C 07 E8 03 1F 07 02 00 00 00 FF C4 80",
        (COMPACT_ARRAY, (DATE_TIME, [(DATE_TIME, DT)])),
    ),
    ("13 11 00", (COMPACT_ARRAY, (UNSIGNED, []))),
]


def _nested(depth):
    d = (UNSIGNED, 1)
    for _ in range(depth):
        d = (STRUCTURE, [d])
    return d


class TestTags(unittest.TestCase):
    def test_blue_book_numbers(self):
        self.assertEqual(
            (NULL_DATA, ARRAY, STRUCTURE, BOOLEAN, BIT_STRING, DOUBLE_LONG, DOUBLE_LONG_UNSIGNED),
            (0, 1, 2, 3, 4, 5, 6),
        )
        self.assertEqual((OCTET_STRING, VISIBLE_STRING, UTF8_STRING, BCD), (9, 10, 12, 13))
        self.assertEqual(
            (INTEGER, LONG, UNSIGNED, LONG_UNSIGNED, COMPACT_ARRAY), (15, 16, 17, 18, 19)
        )
        self.assertEqual((LONG64, LONG64_UNSIGNED, ENUM, FLOAT32, FLOAT64), (20, 21, 22, 23, 24))
        self.assertEqual((DATE_TIME, DATE, TIME, DONT_CARE), (25, 26, 27, 255))


class TestExamples(unittest.TestCase):
    def test_encode(self):
        for text, data in EXAMPLES:
            self.assertEqual(hx(axdr.to_bytes(data)), hx(h(text)), text)

    def test_decode(self):
        for text, data in EXAMPLES:
            b = h(text)
            got, end = axdr.decode(b)
            self.assertEqual(got, data, text)
            self.assertEqual(end, len(b), text)
            self.assertEqual(axdr.skip(b), len(b), text)

    def test_encode_into_writer(self):
        w = Writer(64)
        for text, data in EXAMPLES:
            w.reset()
            axdr.encode(w, data)
            self.assertEqual(hx(w.getvalue()), hx(h(text)), text)

    def test_decode_from_bytearray_and_memoryview_at_offset(self):
        for text, data in EXAMPLES:
            b = bytearray(b"\xaa\xbb" + h(text) + b"\xcc")
            for buf in (b, memoryview(b)):
                got, end = axdr.decode(buf, 2)
                self.assertEqual(got, data, text)
                self.assertEqual(end, len(b) - 1, text)
                self.assertEqual(axdr.skip(buf, 2), end, text)

    def test_octet_string_value_is_bytes(self):
        for buf in (bytearray(h("09 02 01 02")), memoryview(h("09 02 01 02"))):
            (tag, v), _ = axdr.decode(buf)
            self.assertIs(type(v), bytes)

    def test_boolean_any_nonzero_is_true(self):
        # A-XDR: FALSE is 0x00, any other octet is TRUE; we send 0x01 as Gurux does.
        self.assertEqual(axdr.decode(h("03 FF"))[0], (BOOLEAN, True))
        self.assertEqual(axdr.to_bytes((BOOLEAN, 1)), h("03 01"))

    def test_bit_string_ignores_padding_bits(self):
        self.assertEqual(axdr.decode(h("04 03 FF"))[0], (BIT_STRING, "111"))

    def test_visible_string_bytes_over_0x7f_round_trip(self):
        # not text: one character per byte (ISO 8859-1), re-encoded unchanged
        b = h("0A 04 41 E9 FF 00")
        data, _ = axdr.decode(b)
        self.assertEqual(data, (VISIBLE_STRING, "A\u00e9\u00ff\x00"))
        self.assertEqual(axdr.to_bytes(data), b)
        # valid UTF-8 in a visible-string is still one character per byte
        self.assertEqual(axdr.decode(h("0A 02 C3 A9"))[0], (VISIBLE_STRING, "\u00c3\u00a9"))

    def test_strings_take_bytes(self):
        self.assertEqual(axdr.to_bytes((VISIBLE_STRING, b"AB")), h("0A 02 41 42"))
        self.assertEqual(axdr.to_bytes((UTF8_STRING, bytearray(b"AB"))), h("0C 02 41 42"))
        self.assertEqual(axdr.to_bytes((OCTET_STRING, memoryview(b"AB"))), h("09 02 41 42"))

    def test_float_values(self):
        self.assertEqual(axdr.to_bytes((FLOAT32, 0.1)), h("17 3D CC CC CD"))
        self.assertAlmostEqual(axdr.decode(h("17 3D CC CC CD"))[0][1], 0.1, 6)
        self.assertEqual(axdr.to_bytes((FLOAT64, -0.0)), h("18 80 00 00 00 00 00 00 00"))
        self.assertEqual(axdr.to_bytes((FLOAT32, 2)), h("17 40 00 00 00"))
        inf = float("inf")
        self.assertEqual(axdr.to_bytes((FLOAT32, inf)), h("17 7F 80 00 00"))
        self.assertEqual(axdr.decode(h("18 FF F0 00 00 00 00 00 00"))[0], (FLOAT64, -inf))
        (tag, nan), _ = axdr.decode(h("17 7F C0 00 00"))
        self.assertTrue(nan != nan)

    def test_decode_stops_at_the_end_of_the_datum(self):
        b = h("11 05 11 06")
        self.assertEqual(axdr.decode(b), ((UNSIGNED, 5), 2))
        self.assertEqual(axdr.decode(b, 2), ((UNSIGNED, 6), 4))


class TestLength(unittest.TestCase):
    FORMS = [
        (0, "00"),
        (0x7F, "7F"),
        (0x80, "81 80"),
        (0xFF, "81 FF"),
        (0x100, "82 01 00"),
        (0xFFFF, "82 FF FF"),
        (0x10000, "83 01 00 00"),
        (0xFFFFFF, "83 FF FF FF"),
        (0x1000000, "84 01 00 00 00"),
        (0xFFFFFFFF, "84 FF FF FF FF"),
    ]

    def test_encode_length(self):
        for n, text in self.FORMS:
            w = Writer(8)
            axdr.encode_length(w, n)
            self.assertEqual(hx(w.getvalue()), text)

    def test_decode_length(self):
        for n, text in self.FORMS:
            b = h(text)
            if n <= 0x200:
                self.assertEqual(axdr.decode_length(b + bytes(n), 0), (n, len(b)))
            else:
                # longer than the buffer: refused
                with self.assertRaises(DecodeError):
                    axdr.decode_length(b + bytes(0x200), 0)

    def test_non_minimal_forms_are_accepted(self):
        # BER allows them; Gurux writes 84 for every length from 0x10000.
        self.assertEqual(axdr.decode_length(h("81 05") + bytes(5), 0), (5, 2))
        self.assertEqual(axdr.decode_length(h("84 00 00 00 02 AA BB"), 0), (2, 5))

    def test_decode_length_at_offset(self):
        self.assertEqual(axdr.decode_length(h("EE 82 01 00") + bytes(256), 1), (256, 4))

    def test_bad_forms(self):
        for text in ("", "80", "85 00 00 00 00 01", "FF", "81", "82 01", "84 00 00 00"):
            with self.assertRaises(DecodeError):
                axdr.decode_length(h(text) + b"", 0)

    def test_encode_length_range(self):
        for n in (-1, 1 << 32, 1.5, None):
            with self.assertRaises(ValueError):
                axdr.encode_length(Writer(8), n)

    def test_long_octet_strings(self):
        for n, prefix in (
            (0x7F, "09 7F"),
            (0x80, "09 81 80"),
            (0x100, "09 82 01 00"),
            (0x10000, "09 83 01 00 00"),
        ):
            data = (OCTET_STRING, bytes(n))
            b = axdr.to_bytes(data)
            p = h(prefix)
            self.assertEqual(b[: len(p)], p)
            self.assertEqual(len(b), len(p) + n)
            self.assertEqual(axdr.decode(b), (data, len(b)))

    def test_array_of_0x80_elements(self):
        data = (ARRAY, [(UNSIGNED, i) for i in range(0x80)])
        b = axdr.to_bytes(data)
        self.assertEqual(b[:5], h("01 81 80 11 00"))
        self.assertEqual(axdr.decode(b), (data, 3 + 2 * 0x80))


class TestDateTime(unittest.TestCase):
    def test_fields_and_bytes(self):
        d = DateTime.from_bytes(DT_BYTES)
        self.assertEqual(d, DT)
        self.assertEqual((d.year, d.month, d.day, d.weekday), (2024, 3, 31, 7))
        self.assertEqual((d.hour, d.minute, d.second, d.hundredths), (2, 0, 0, 0))
        self.assertEqual((d.deviation, d.status), (-60, 0x80))
        self.assertEqual(d.to_bytes(), DT_BYTES)
        self.assertEqual(d.date_bytes(), h("07 E8 03 1F 07"))
        self.assertEqual(d.time_bytes(), h("02 00 00 00"))

    def test_positive_deviation(self):
        d = DateTime(2024, 1, 1, 1, 0, 0, 0, 0, 300, 0)
        self.assertEqual(d.to_bytes(), h("07 E8 01 01 01 00 00 00 00 01 2C 00"))
        self.assertEqual(DateTime.from_bytes(d.to_bytes()).deviation, 300)

    def test_not_specified(self):
        d = DateTime()
        self.assertEqual(d.to_bytes(), h("FF FF FF FF FF FF FF FF FF 80 00 FF"))
        self.assertEqual(d.deviation, axdr.DEVIATION_NOT_SPECIFIED)
        self.assertEqual(d.deviation, -0x8000)
        self.assertEqual(d.year, axdr.YEAR_NOT_SPECIFIED)

    def test_date_and_time_parts(self):
        d = DateTime.from_date_bytes(h("07 E8 02 1D 04"))
        self.assertEqual(d, DateTime(2024, 2, 29, 4))
        self.assertEqual(d.time_bytes(), h("FF FF FF FF"))
        t = DateTime.from_time_bytes(h("0C 22 38 FF"))
        self.assertEqual(t, DateTime(hour=12, minute=34, second=56))
        self.assertEqual(t.date_bytes(), h("FF FF FF FF FF"))
        self.assertEqual(axdr.to_bytes((DATE, DT)), h("1A 07 E8 03 1F 07"))
        self.assertEqual(axdr.to_bytes((TIME, DT)), h("1B 02 00 00 00"))

    def test_special_codes_kept_raw(self):
        # month DST end, day second last, weekday not specified
        b = h("FF FF FD FD FF 02 00 00 FF 80 00 FF")
        d = DateTime.from_bytes(b)
        self.assertEqual((d.month, d.day), (axdr.DST_END, axdr.SECOND_LAST_DAY))
        self.assertEqual(d.to_bytes(), b)
        self.assertEqual((axdr.DST_BEGIN, axdr.LAST_DAY), (0xFE, 0xFE))

    def test_wrong_length(self):
        for f, n in ((DateTime.from_bytes, 12), (DateTime.from_date_bytes, 5)):
            with self.assertRaises(DecodeError):
                f(bytes(n - 1))
            with self.assertRaises(DecodeError):
                f(bytes(n + 1))
        with self.assertRaises(DecodeError):
            DateTime.from_time_bytes(bytes(3))

    def test_eq_and_repr(self):
        self.assertEqual(DateTime.from_bytes(DT_BYTES), DT)
        self.assertNotEqual(DT, DateTime(2024, 3, 31, 7, 2, 0, 0, 0, -60, 0))
        self.assertNotEqual(DT, DT_BYTES)
        self.assertFalse(DT != DateTime.from_bytes(DT_BYTES))
        self.assertEqual(repr(DT), "DateTime(2024, 3, 31, 7, 2, 0, 0, 0, -60, 128)")

    def test_from_tuple(self):
        d = DateTime.from_tuple(2024, 3, 31, 2, 0, 0, 0, -60, 0x80)
        self.assertEqual(d, DT)
        d = DateTime.from_tuple(2000, 1, 1)
        self.assertEqual(d, DateTime(2000, 1, 1, 6, 0, 0, 0, 0, -0x8000, 0))

    KNOWN = [
        # (date-time, UTC seconds, ISO weekday), from CPython's datetime
        ((1970, 1, 1, 0, 0, 0), 0, 4),
        ((1969, 12, 31, 23, 59, 59), -1, 3),
        ((2000, 2, 29, 12, 34, 56), 951827696, 2),
        ((2024, 2, 29, 23, 59, 59), 1709251199, 4),
        ((2038, 1, 19, 3, 14, 8), 2147483648, 2),
        ((2100, 3, 1, 0, 0, 0), 4107542400, 1),
        ((1600, 3, 1, 0, 0, 0), -11670912000, 3),
        ((9999, 12, 31, 23, 59, 59), 253402300799, 5),
    ]

    def test_epoch_known_values(self):
        for t, secs, wd in self.KNOWN:
            d = DateTime.from_tuple(*t, deviation=0)
            self.assertEqual(d.weekday, wd, t)
            self.assertEqual(d.to_epoch(), secs, t)
            e = DateTime.from_epoch(secs)
            self.assertEqual(e, d, t)

    def test_epoch_with_deviation(self):
        # 03:00 CEST (UTC+2, deviation -120) is 01:00 UTC
        d = DateTime.from_tuple(2024, 3, 31, 3, 0, 0, 0, -120, axdr.STATUS_DST)
        self.assertEqual(d.to_epoch(), 1711846800)
        self.assertEqual(DateTime.from_epoch(1711846800, -120, 0x80), d)
        # not specified deviation counts as UTC
        d = DateTime.from_tuple(2024, 3, 31, 1, 0, 0)
        self.assertEqual(d.to_epoch(), 1711846800)

    def test_epoch_round_trip(self):
        r = Rng(25)
        for _ in range(300):
            secs = r.next() * 3 - 0x100000000
            dev = (r.below(1441) - 720) if r.below(2) else 0
            d = DateTime.from_epoch(secs, dev)
            self.assertEqual(d.to_epoch(), secs)
            self.assertEqual(DateTime.from_bytes(d.to_bytes()), d)

    def test_to_epoch_needs_a_full_date_time(self):
        for d in (
            DateTime(),
            DateTime(2024, 0xFE, 0xFE, 7, 2, 0, 0, 0, 0, 0),
            DateTime(2024, 1, 1),
        ):
            with self.assertRaises(ValueError):
                d.to_epoch()

    def test_field_ranges_on_encode(self):
        for d in (
            DateTime(0x10000, 1, 1, 1, 0, 0, 0, 0, 0, 0),
            DateTime(2024, 256, 1, 1, 0, 0, 0, 0, 0, 0),
            DateTime(2024, 1, 1, 1, -1, 0, 0, 0, 0, 0),
            DateTime(2024, 1, 1, 1, 0, 0, 0, 0, 0x8000, 0),
            DateTime(2024, 1, 1, 1, 0, 0, 0, 0, 0, 0x100),
            DateTime(2024, 1, 1, 1, 0, 0, 0, 0, 0, None),
        ):
            with self.assertRaises(ValueError):
                d.to_bytes()
            with self.assertRaises(ValueError):
                axdr.to_bytes((DATE_TIME, d))


class TestEncodeErrors(unittest.TestCase):
    BAD = [
        (UNSIGNED, 256),
        (UNSIGNED, -1),
        (ENUM, 256),
        (BCD, -1),
        (INTEGER, 128),
        (INTEGER, -129),
        (LONG, 32768),
        (LONG_UNSIGNED, 0x10000),
        (DOUBLE_LONG, 1 << 31),
        (DOUBLE_LONG_UNSIGNED, -1),
        (DOUBLE_LONG_UNSIGNED, 1 << 32),
        (LONG64, 1 << 63),
        (LONG64, -(1 << 63) - 1),
        (LONG64_UNSIGNED, 1 << 64),
        (UNSIGNED, 1.0),
        (UNSIGNED, "1"),
        (UNSIGNED, None),
        (UNSIGNED, True),
        (BOOLEAN, "yes"),
        (FLOAT32, 1e39),
        (FLOAT32, "1.0"),
        (FLOAT64, None),
        (OCTET_STRING, "0100"),
        (OCTET_STRING, None),
        (OCTET_STRING, [1, 2]),
        (VISIBLE_STRING, "\u20ac"),
        (VISIBLE_STRING, 5),
        (BIT_STRING, "012"),
        (BIT_STRING, b"01"),
        (NULL_DATA, 0),
        (DONT_CARE, 0),
        (DATE_TIME, DT_BYTES),
        (DATE, None),
        (7, 0),
        (28, 0),
        (254, None),
        (256, None),
        ("1", 1),
        (None, None),
        (ARRAY, None),
        (ARRAY, [1, 2]),
        (ARRAY, [(UNSIGNED,)]),
        (STRUCTURE, [(UNSIGNED, 1, 2)]),
        (STRUCTURE, [(UNSIGNED, 300)]),
        (STRUCTURE, "ab"),
        (COMPACT_ARRAY, None),
        (COMPACT_ARRAY, (UNSIGNED,)),
        # element of another type than described
        (COMPACT_ARRAY, (UNSIGNED, [(LONG_UNSIGNED, 1)])),
        (COMPACT_ARRAY, ((STRUCTURE, [UNSIGNED]), [(STRUCTURE, [])])),
        (COMPACT_ARRAY, ((STRUCTURE, [UNSIGNED]), [(STRUCTURE, [(LONG, 1)])])),
        (COMPACT_ARRAY, ((ARRAY, (2, UNSIGNED)), [(ARRAY, [(UNSIGNED, 1)])])),
        (COMPACT_ARRAY, ((ARRAY, (2, UNSIGNED)), [(STRUCTURE, [(UNSIGNED, 1), (UNSIGNED, 1)])])),
        # descriptions that are not types
        (COMPACT_ARRAY, (COMPACT_ARRAY, [])),
        (COMPACT_ARRAY, (ARRAY, [])),
        (COMPACT_ARRAY, (7, [])),
        (COMPACT_ARRAY, ((ARRAY, (0x10000, UNSIGNED)), [])),
        (COMPACT_ARRAY, ((ARRAY, UNSIGNED), [])),
        (COMPACT_ARRAY, ((ENUM, [UNSIGNED]), [])),
        # elements that take no bytes cannot be counted back
        (COMPACT_ARRAY, (NULL_DATA, [(NULL_DATA, None)])),
        (COMPACT_ARRAY, ((ARRAY, (100, NULL_DATA)), [])),
        (UNSIGNED, 1, 2),
        [UNSIGNED],
        5,
    ]

    def test_value_errors(self):
        for data in self.BAD:
            with self.assertRaises(ValueError):
                axdr.to_bytes(data)

    def test_pos_restored_on_value_error(self):
        w = Writer(32)
        w.write(b"\x01\x02")
        for data in self.BAD:
            with self.assertRaises(ValueError):
                axdr.encode(w, data)
            self.assertEqual(w.pos, 2)
        self.assertEqual(bytes(w.getvalue()), b"\x01\x02")

    def test_nesting_limit(self):
        self.assertEqual(axdr.decode(axdr.to_bytes(_nested(16)))[0], _nested(16))
        with self.assertRaises(ValueError):
            axdr.to_bytes(_nested(17))

    def test_compact_array_of_nulls_without_contents(self):
        # zero-size elements are fine as long as there are none
        self.assertEqual(axdr.to_bytes((COMPACT_ARRAY, (NULL_DATA, []))), h("13 00 00"))


class TestEncodeValue(unittest.TestCase):
    SCALER_UNIT = (STRUCTURE, (INTEGER, ENUM))

    def _enc(self, spec, value, size=64):
        w = Writer(size)
        axdr.encode_value(w, spec, value)
        return bytes(w.getvalue())

    def test_plain_tags(self):
        self.assertEqual(self._enc(LONG_UNSIGNED, 0x1234), h("12 12 34"))
        self.assertEqual(
            self._enc(OCTET_STRING, h("01 00 01 08 00 FF")), h("09 06 01 00 01 08 00 FF")
        )
        self.assertEqual(self._enc(DATE_TIME, DT), h("19") + DT_BYTES)

    def test_scaler_unit(self):
        self.assertEqual(self._enc(self.SCALER_UNIT, (-2, 30)), h("02 02 0F FE 16 1E"))
        self.assertEqual(self._enc(self.SCALER_UNIT, [-2, 30]), h("02 02 0F FE 16 1E"))

    def test_array_of_structures(self):
        # Profile generic capture_objects (Blue Book 4.3.6, attribute 3)
        spec = (ARRAY, (STRUCTURE, (LONG_UNSIGNED, OCTET_STRING, INTEGER, LONG_UNSIGNED)))
        value = [(8, h("00 00 01 00 00 FF"), 2, 0), (3, h("01 00 01 08 00 FF"), 2, 0)]
        self.assertEqual(
            hx(self._enc(spec, value)),
            hx(
                h(
                    "01 02 02 04 12 00 08 09 06 00 00 01 00 00 FF 0F 02 12 00 00"
                    "02 04 12 00 03 09 06 01 00 01 08 00 FF 0F 02 12 00 00"
                )
            ),
        )
        self.assertEqual(self._enc(spec, []), h("01 00"))

    def test_typed_data_where_spec_is_none(self):
        spec = (STRUCTURE, (UNSIGNED, None))
        self.assertEqual(self._enc(spec, (1, (LONG, -1))), h("02 02 11 01 10 FF FF"))

    def test_errors_restore_pos(self):
        for spec, value in (
            (self.SCALER_UNIT, (-2,)),
            (self.SCALER_UNIT, (-2, 30, 1)),
            (self.SCALER_UNIT, (-2, 300)),
            (self.SCALER_UNIT, 5),
            ((ARRAY, UNSIGNED), [1, 256]),
            ((ARRAY, UNSIGNED), 5),
            ((ENUM, UNSIGNED), 1),
            ((STRUCTURE,), 1),
            ("x", 1),
            (None, 1),
        ):
            w = Writer(16)
            w.byte(0xAA)
            with self.assertRaises(ValueError):
                axdr.encode_value(w, spec, value)
            self.assertEqual(w.pos, 1)

    def test_buffer_full_restores_pos(self):
        w = Writer(5)
        w.byte(0xAA)
        with self.assertRaises(BufferFull):
            axdr.encode_value(w, self.SCALER_UNIT, (-2, 30))
        self.assertEqual(w.pos, 1)


class TestWriter(unittest.TestCase):
    def test_allocates_or_wraps(self):
        w = Writer(4)
        self.assertEqual(len(w.buf), 4)
        b = bytearray(6)
        w = Writer(b)
        w.byte(1)
        w.u16(0x0203)
        w.write(b"\x04")
        self.assertEqual(bytes(w.getvalue()), h("01 02 03 04"))
        self.assertEqual(b[:4], h("01 02 03 04"))
        w.reset()
        self.assertEqual(w.pos, 0)
        self.assertEqual(bytes(w.getvalue()), b"")
        w.u32(0x05060708)
        self.assertEqual(b[:4], h("05 06 07 08"))

    def test_memoryview_window(self):
        b = bytearray(8)
        w = Writer(memoryview(b)[2:6])
        axdr.encode(w, (LONG_UNSIGNED, 0xABCD))
        self.assertEqual(hx(b), "00 00 12 AB CD 00 00 00")
        with self.assertRaises(BufferFull):
            axdr.encode(w, (UNSIGNED, 1))
        self.assertEqual(w.pos, 3)

    def test_overflow(self):
        w = Writer(3)
        w.byte(1)
        with self.assertRaises(BufferFull):
            w.u32(1)
        with self.assertRaises(BufferFull):
            w.write(b"abc")
        self.assertEqual(w.pos, 1)
        w.u16(2)
        with self.assertRaises(BufferFull):
            w.byte(3)
        self.assertEqual(w.pos, 3)

    def test_value_ranges(self):
        w = Writer(8)
        for f, v in ((w.byte, 256), (w.byte, -1), (w.u16, 0x10000), (w.u32, 1 << 32), (w.u16, -1)):
            with self.assertRaises(ValueError):
                f(v)
        self.assertEqual(w.pos, 0)

    def test_encode_restores_pos_on_buffer_full(self):
        # Every example, into every buffer too small for it: BufferFull, pos and
        # the bytes before it unchanged.
        for text, data in EXAMPLES:
            n = len(h(text))
            for size in range(1, n + 1):
                b = bytearray(size)
                b[0] = 0xEE
                w = Writer(b)
                w.byte(0xEE)
                with self.assertRaises(BufferFull):
                    axdr.encode(w, data)
                self.assertEqual(w.pos, 1, text)
            w = Writer(n + 1)
            w.byte(0xEE)
            axdr.encode(w, data)
            self.assertEqual(w.pos, n + 1)

    def test_encode_appends(self):
        w = Writer(16)
        axdr.encode(w, (UNSIGNED, 1))
        axdr.encode(w, (LONG, -1))
        self.assertEqual(bytes(w.getvalue()), h("11 01 10 FF FF"))

    def test_compact_array_length_shift_overflow(self):
        # contents fit, but not once their length byte is put in front
        data = (COMPACT_ARRAY, (UNSIGNED, [(UNSIGNED, 1), (UNSIGNED, 2)]))
        self.assertEqual(axdr.to_bytes(data), h("13 11 02 01 02"))
        w = Writer(4)
        with self.assertRaises(BufferFull):
            axdr.encode(w, data)
        self.assertEqual(w.pos, 0)
        long_rows = (COMPACT_ARRAY, (UNSIGNED, [(UNSIGNED, i & 0xFF) for i in range(300)]))
        b = axdr.to_bytes(long_rows)
        self.assertEqual(b[:5], h("13 11 82 01 2C"))
        self.assertEqual(axdr.decode(b), (long_rows, len(b)))


def _mutants(rng, b):
    """Variations of a valid encoding: a byte changed, dropped, inserted or cut."""
    out = []
    for _ in range(12):
        m = bytearray(b)
        k = rng.below(4)
        i = rng.below(len(m))
        if k == 0:
            m[i] = rng.below(256)
        elif k == 1:
            m[i] ^= 1 << rng.below(8)
        elif k == 2:
            m = m[:i] + m[i + 1 :]
        else:
            m = m[:i] + bytes((rng.below(256),)) + m[i:]
        out.append(bytes(m))
    return out


class TestMalformed(unittest.TestCase):
    def _only_decode_error(self, b):
        """Decode b; return the data, or None on DecodeError; fail on anything else."""
        try:
            end = axdr.skip(b)
        except DecodeError:
            end = None
        except Exception as e:
            self.fail("skip %s: %r" % (hx(b), e))
        try:
            data, end2 = axdr.decode(b)
        except DecodeError:
            # skip does not check UTF-8, the one thing it may accept and decode not
            return None
        except Exception as e:
            self.fail("decode %s: %r" % (hx(b), e))
        self.assertEqual(end, end2, hx(b))
        # what decodes re-encodes, and that encoding is stable
        again = axdr.to_bytes(data)
        self.assertEqual(axdr.to_bytes(axdr.decode(again)[0]), again, hx(b))
        return data

    def test_truncated_at_every_offset(self):
        for text, _ in EXAMPLES:
            b = h(text)
            for cut in range(len(b)):
                with self.assertRaises(DecodeError):
                    axdr.decode(b[:cut])
                with self.assertRaises(DecodeError):
                    axdr.skip(b[:cut])

    def test_truncated_error_offset(self):
        with self.assertRaises(DecodeError) as cm:
            axdr.decode(h("02 02 11 01 12 00"))
        self.assertEqual(cm.exception.offset, 5)

    def test_lengths_that_lie(self):
        for text in (
            "09 84 FF FF FF FF 00",
            "09 81 80 00",
            "0A 05 41 42",
            "0C 82 01 00 41",
            "04 84 FF FF FF FF 00",
            "04 09 FF",
            "01 84 7F FF FF FF 11 00",
            "02 05 11 00 11 00",
            "01 82 FF FF" + " 00" * 10,
            "13 11 84 FF FF FF FF 00",
            "13 02 84 00 01 00 00 11",
            "09 80",
            "09 85 00 00 00 00 01",
            "09 88 00 00 00 00 00 00 00 01",
        ):
            with self.assertRaises(DecodeError):
                axdr.decode(h(text))
            with self.assertRaises(DecodeError):
                axdr.skip(h(text))

    def test_unknown_tags(self):
        for tag in (7, 8, 11, 14, 28, 29, 100, 0xFE):
            with self.assertRaises(DecodeError) as cm:
                axdr.decode(bytes((0x02, 0x01, tag, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0)))
            self.assertEqual(cm.exception.offset, 2)

    def test_nesting_too_deep(self):
        b = h("02 01" * 16 + "11 01")
        self.assertEqual(axdr.decode(b)[0], _nested(16))
        for b in (h("02 01" * 17 + "11 07"), h("01 01" * 200 + "00"), h("02 01" * 100000)):
            with self.assertRaises(DecodeError):
                axdr.decode(b)
            with self.assertRaises(DecodeError):
                axdr.skip(b)

    def test_compact_array_bad_descriptions(self):
        for text in (
            "13 13 11 00",  # compact-array inside a description
            "13 07 00",  # not a type
            "13 01 00 02 13 11 00",
            "13 02 02 11 1C 00",
            "13 02 81",
            "13 01 00",
            "13" + " 02 01" * 16 + " 11 01 07",  # too deep
            # a description that would expand, with no bytes to pay for it
            "13 01 FF FF 00 01 00",
            # one element of 65535 x 65535 unsigned in a single byte of contents
            "13 01 FF FF 01 FF FF 11 01 00",
            "13 02 05 11 00 00 00 00 01 07",
            "13 00 01 00",  # null-data elements with contents
            "13 02 00 02 00 00",  # empty structures with contents
            "13 01 00 00 11 01 00",
            "13 12 03 00 01 00",  # contents not a whole number of elements
            "13 09 03 05 AA BB",  # element overruns the contents
        ):
            with self.assertRaises(DecodeError):
                axdr.decode(h(text))
            with self.assertRaises(DecodeError):
                axdr.skip(h(text))

    def test_compact_array_of_zero_size_without_contents(self):
        self.assertEqual(axdr.decode(h("13 00 00"))[0], (COMPACT_ARRAY, (NULL_DATA, [])))
        self.assertEqual(
            axdr.decode(h("13 02 02 11 00 02 05 06"))[0],
            (
                COMPACT_ARRAY,
                (
                    (STRUCTURE, [UNSIGNED, NULL_DATA]),
                    [
                        (STRUCTURE, [(UNSIGNED, 5), (NULL_DATA, None)]),
                        (STRUCTURE, [(UNSIGNED, 6), (NULL_DATA, None)]),
                    ],
                ),
            ),
        )

    def test_invalid_utf8(self):
        for text in ("0C 02 C3 28", "0C 01 FF", "0C 02 E2 82"):
            with self.assertRaises(DecodeError):
                axdr.decode(h(text))
            # skip walks the structure only
            self.assertEqual(axdr.skip(h(text)), len(h(text)))

    def test_empty_and_bad_positions(self):
        with self.assertRaises(DecodeError):
            axdr.decode(b"")
        with self.assertRaises(DecodeError):
            axdr.decode(h("11 01"), 2)
        with self.assertRaises(DecodeError):
            axdr.skip(h("11 01"), 5)
        with self.assertRaises(ValueError):
            axdr.decode(h("11 01"), -1)

    def test_random_bytes(self):
        r = Rng(0xA3D7)
        ok = 0
        for i in range(5000):
            b = r.bytes(1 + r.below(24))
            if i & 1:
                # start with a container so more of the input is reached
                b = bytes((1 + r.below(2), r.below(6))) + b
            if self._only_decode_error(b) is not None:
                ok += 1
        self.assertGreater(ok, 100)

    def test_mutated_examples(self):
        r = Rng(0x5EED)
        ok = 0
        for text, _ in EXAMPLES:
            for m in _mutants(r, h(text)):
                if self._only_decode_error(m) is not None:
                    ok += 1
        self.assertGreater(ok, 100)
