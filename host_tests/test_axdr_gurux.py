# runtime: cpython-only -- gurux-dlms and hypothesis are CPython libraries
"""A-XDR against Gurux.DLMS (gurux-dlms 1.0.203), and hypothesis properties.

What gurux-dlms 1.0.203 does differently from the standard (observed here, kept
as tests so that a gurux upgrade that changes it shows up):

- lengths: it writes 0x84 + 4 bytes for every length from 0x10000 (the minimal
  BER form is 0x83 + 3 bytes up to 0xFFFFFF) and refuses 0x83 on decode; it
  reads 0x80 as the length 128 (BER: indefinite form, not A-XDR).
- dont-care (255) is not in its DataType: it cannot encode or decode it.
- compact-array: decode only (setData raises), and an array in the
  contents-description raises "Invalid compact array data".
- bit-string: a GXBitString inside a structure is written with 8 bits per byte
  (the bit count is rounded up to whole bytes); a plain str works.
- visible-string: decoded text with bytes outside 0x20..0x7F (also CR, LF, TAB)
  comes back as a hex string, trailing NULs are stripped; it writes str.encode()
  (UTF-8) with len(str) as the length. utf8-string: non-ASCII text decodes as hex.
- bcd and utf8-string have no wrapper type, so they only work at the top level.
- date: the weekday read is dropped (re-encoded as 0xFF). time: hundredths are
  stored as microseconds, so they re-encode as 0. date-time: month DST begin
  (0xFE) is read as DST_BEGIN but written back as 0xFD, and the other way round
  (its date type does it right).
"""

import datetime
import math
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
)
from dlms.errors import DecodeError
from gurux_dlms import (
    GXArray,
    GXBitString,
    GXByteBuffer,
    GXDateTime,
    GXDLMSSettings,
    GXEnum,
    GXFloat32,
    GXFloat64,
    GXInt8,
    GXInt16,
    GXInt32,
    GXInt64,
    GXStructure,
    GXTimeZone,
    GXUInt8,
    GXUInt16,
    GXUInt32,
    GXUInt64,
)
from gurux_dlms.enums import DataType, DateTimeExtraInfo, DateTimeSkips
from gurux_dlms.internal._GXCommon import _GXCommon
from gurux_dlms.internal._GXDataInfo import _GXDataInfo
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from support import h, hx

SETTINGS = GXDLMSSettings(True, None)
PROPS = settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def gx_encode(data_type, value):
    bb = GXByteBuffer()
    _GXCommon.setData(SETTINGS, bb, data_type, value)
    return bytes(bb.array())


def gx_decode(b):
    bb = GXByteBuffer(bytes(b))
    info = _GXDataInfo()
    v = _GXCommon.getData(SETTINGS, bb, info)
    if not info.complete:
        raise ValueError("gurux: incomplete")
    return v, bb.position


# Gurux wrapper per tag: inside an array or structure the wrapper's class is
# what selects the data type (a plain int would be written as double-long).
WRAP = {
    DOUBLE_LONG: GXInt32,
    DOUBLE_LONG_UNSIGNED: GXUInt32,
    INTEGER: GXInt8,
    LONG: GXInt16,
    UNSIGNED: GXUInt8,
    LONG_UNSIGNED: GXUInt16,
    LONG64: GXInt64,
    LONG64_UNSIGNED: GXUInt64,
    ENUM: GXEnum,
    FLOAT32: GXFloat32,
    FLOAT64: GXFloat64,
}


def gx_datetime(d):
    """GXDateTime with the fields of our DateTime (month and day 1..31 only)."""
    skip = DateTimeSkips.NONE
    year, month, day = d.year, d.month, d.day
    if year == 0xFFFF:
        skip |= DateTimeSkips.YEAR
        year = 2000
    if month == 0xFF:
        skip |= DateTimeSkips.MONTH
        month = 1
    if day == 0xFF:
        skip |= DateTimeSkips.DAY
        day = 1
    if d.weekday == 0xFF:
        skip |= DateTimeSkips.DAY_OF_WEEK
    fields = []
    for v, flag in (
        (d.hour, DateTimeSkips.HOUR),
        (d.minute, DateTimeSkips.MINUTE),
        (d.second, DateTimeSkips.SECOND),
        (d.hundredths, DateTimeSkips.MILLISECOND),
    ):
        if v == 0xFF:
            skip |= flag
            v = 0
        fields.append(v)
    tz = None
    if d.deviation == axdr.DEVIATION_NOT_SPECIFIED:
        skip |= DateTimeSkips.DEVITATION
    else:
        tz = GXTimeZone(-d.deviation)  # gurux: deviation = -utcoffset
    if d.status == 0xFF:
        skip |= DateTimeSkips.STATUS
    g = GXDateTime(None)
    g.value = datetime.datetime(
        year, month, day, fields[0], fields[1], fields[2], fields[3] * 10000, tzinfo=tz
    )
    g.skip = skip
    g.dayOfWeek = d.weekday
    g.status = 0 if d.status == 0xFF else d.status
    return g


def to_gurux(data, top=True):
    """(DataType, value) for gurux's setData, or raise Unsupported."""
    tag, v = data
    if tag in WRAP:
        return DataType(tag), WRAP[tag](v)
    if tag in (NULL_DATA, BOOLEAN, OCTET_STRING, VISIBLE_STRING):
        return DataType(tag), v
    if tag in (BCD, UTF8_STRING) and top:
        return DataType(tag), v
    if tag == BIT_STRING:
        if top:
            return DataType(tag), v
        if len(v) % 8 == 0:
            return DataType(tag), GXBitString(v)
    if tag == DATE_TIME:
        return DataType(tag), gx_datetime(v)
    if tag in (ARRAY, STRUCTURE):
        out = GXArray() if tag == ARRAY else GXStructure()
        out.extend(to_gurux(x, False)[1] for x in v)
        return DataType(tag), out
    raise Unsupported(tag)


class Unsupported(Exception):
    pass


def plain(data):
    """Our typed data as the plain values gurux's getData gives back."""
    tag, v = data
    if tag in (ARRAY, STRUCTURE):
        return [plain(x) for x in v]
    if tag == COMPACT_ARRAY:
        return [plain(x) for x in v[1]]
    if tag == DATE_TIME:
        return v.to_bytes()
    return v


def gx_plain(v):
    if isinstance(v, list):
        return [gx_plain(x) for x in v]
    if isinstance(v, bytearray):
        return bytes(v)
    if isinstance(v, GXBitString):
        return str(v)
    if isinstance(v, GXDateTime):
        return gx_encode(DataType.DATETIME, v)[1:]
    if isinstance(v, float):
        return float(v)
    if isinstance(v, int) and not isinstance(v, bool):
        return int(v)
    return v


DT = DateTime(2024, 3, 31, 7, 2, 0, 0, 0, -60, 0x80)

# Values gurux can express: our bytes must be gurux's bytes, and gurux must read
# ours back as the same values.
TABLE = [
    (NULL_DATA, None),
    (BOOLEAN, True),
    (BOOLEAN, False),
    (BIT_STRING, ""),
    (BIT_STRING, "1"),
    (BIT_STRING, "10100"),
    (BIT_STRING, "1000000000000001"),
    (DOUBLE_LONG, -(1 << 31)),
    (DOUBLE_LONG, 123456789),
    (DOUBLE_LONG_UNSIGNED, 0xFFFFFFFF),
    (OCTET_STRING, b""),
    (OCTET_STRING, h("01 00 01 08 00 FF")),
    (OCTET_STRING, bytes(range(200))),
    (VISIBLE_STRING, ""),
    (VISIBLE_STRING, "LGZ1234567"),
    (UTF8_STRING, "meter 1"),
    (BCD, 0x42),
    (INTEGER, -128),
    (INTEGER, 127),
    (LONG, -2),
    (LONG, 32767),
    (UNSIGNED, 0),
    (UNSIGNED, 255),
    (LONG_UNSIGNED, 0xFFFF),
    (LONG64, -(1 << 63)),
    (LONG64, 1 << 40),
    (LONG64_UNSIGNED, (1 << 64) - 1),
    (ENUM, 255),
    (FLOAT32, 1.5),
    (FLOAT32, -0.0),
    (FLOAT64, 3.141592653589793),
    (FLOAT64, -1e300),
    (DATE_TIME, DT),
    (DATE_TIME, DateTime(2023, 12, 31, 7, 23, 59, 59, 99, 0, 0)),
    (DATE_TIME, DateTime(2024, 7, 1, 1, 12, 0, 0, 0xFF, 300, 0x09)),
    (DATE_TIME, DateTime()),
    (DATE_TIME, DateTime(0xFFFF, 0xFF, 1, 0xFF, 0, 0, 0, 0, -0x8000, 0xFF)),
    (ARRAY, []),
    (STRUCTURE, []),
    (STRUCTURE, [(INTEGER, -2), (ENUM, 30)]),
    (
        ARRAY,
        [
            (
                STRUCTURE,
                [
                    (LONG_UNSIGNED, 8),
                    (OCTET_STRING, h("00 00 01 00 00 FF")),
                    (INTEGER, 2),
                    (LONG_UNSIGNED, 0),
                ],
            ),
            (
                STRUCTURE,
                [
                    (LONG_UNSIGNED, 3),
                    (OCTET_STRING, h("01 00 01 08 00 FF")),
                    (INTEGER, 2),
                    (LONG_UNSIGNED, 0),
                ],
            ),
        ],
    ),
    (
        STRUCTURE,
        [
            (DATE_TIME, DT),
            (DOUBLE_LONG_UNSIGNED, 1234),
            (BOOLEAN, True),
            (NULL_DATA, None),
            (BIT_STRING, "10000001"),
            (VISIBLE_STRING, "x"),
            (FLOAT32, 0.25),
            (LONG64, -1),
            (ARRAY, [(UNSIGNED, 1), (UNSIGNED, 2)]),
        ],
    ),
    (ARRAY, [(UNSIGNED, i) for i in range(0x80)]),  # 81 80 count form
]


class TestAgainstGurux(unittest.TestCase):
    def test_encoding_equals_gurux(self):
        for data in TABLE:
            dt, gv = to_gurux(data)
            self.assertEqual(hx(axdr.to_bytes(data)), hx(gx_encode(dt, gv)), repr(data))

    def test_gurux_reads_ours(self):
        for data in TABLE:
            b = axdr.to_bytes(data)
            v, end = gx_decode(b)
            self.assertEqual(end, len(b))
            self.assertEqual(gx_plain(v), plain(data), repr(data))

    def test_we_read_gurux(self):
        for data in TABLE:
            b = gx_encode(*to_gurux(data))
            self.assertEqual(axdr.decode(b), (data, len(b)), repr(data))

    def test_date_time_fields_read_by_gurux(self):
        for d in (DT, DateTime(2023, 12, 31, 7, 23, 59, 59, 99, 0, 0)):
            g, _ = gx_decode(axdr.to_bytes((DATE_TIME, d)))
            v = g.value
            self.assertEqual((v.year, v.month, v.day), (d.year, d.month, d.day))
            self.assertEqual((v.hour, v.minute, v.second), (d.hour, d.minute, d.second))
            self.assertEqual(v.microsecond, d.hundredths * 10000)
            self.assertEqual(v.utcoffset(), datetime.timedelta(minutes=-d.deviation))
            self.assertEqual((g.dayOfWeek, g.status), (d.weekday, d.status))
            # the same instant
            self.assertEqual(int(v.timestamp()), d.to_epoch())

    def test_compact_array_read_by_gurux(self):
        # gurux decodes compact arrays (not encodes): rows as lists
        for data in (
            (COMPACT_ARRAY, (LONG_UNSIGNED, [(LONG_UNSIGNED, 1), (LONG_UNSIGNED, 0xFFFF)])),
            (
                COMPACT_ARRAY,
                (
                    (STRUCTURE, [DATE_TIME, DOUBLE_LONG_UNSIGNED, OCTET_STRING]),
                    [
                        (
                            STRUCTURE,
                            [(DATE_TIME, DT), (DOUBLE_LONG_UNSIGNED, 7), (OCTET_STRING, b"ab")],
                        ),
                        (
                            STRUCTURE,
                            [(DATE_TIME, DT), (DOUBLE_LONG_UNSIGNED, 8), (OCTET_STRING, b"")],
                        ),
                    ],
                ),
            ),
            (COMPACT_ARRAY, (VISIBLE_STRING, [(VISIBLE_STRING, "ab"), (VISIBLE_STRING, "c")])),
        ):
            b = axdr.to_bytes(data)
            v, end = gx_decode(b)
            self.assertEqual(end, len(b))
            self.assertEqual(gx_plain(v), plain(data))

    def test_gurux_cannot_encode_compact_array(self):
        with self.assertRaises(ValueError):
            gx_encode(DataType.COMPACT_ARRAY, [1, 2])

    def test_gurux_refuses_array_in_compact_description(self):
        b = h("13 01 00 02 11 04 01 02 03 04")
        self.assertEqual(axdr.decode(b)[1], len(b))
        with self.assertRaises(ValueError):
            gx_decode(b)

    def test_length_forms_differ_from_0x10000(self):
        data = (OCTET_STRING, bytes(0x10000))
        ours = axdr.to_bytes(data)
        theirs = gx_encode(DataType.OCTET_STRING, bytes(0x10000))
        self.assertEqual(ours[:5], h("09 83 01 00 00"))  # minimal BER
        self.assertEqual(theirs[:6], h("09 84 00 01 00 00"))
        # we read theirs; gurux refuses ours
        self.assertEqual(axdr.decode(theirs), (data, len(theirs)))
        with self.assertRaises(ValueError):
            gx_decode(ours)

    def test_dont_care_unknown_to_gurux(self):
        self.assertEqual(axdr.to_bytes((DONT_CARE, None)), h("FF"))
        with self.assertRaises(ValueError):
            gx_decode(h("FF 00"))

    def test_gurux_bit_string_in_structure_rounds_to_bytes(self):
        data = (STRUCTURE, [(BIT_STRING, "10100")])
        self.assertEqual(axdr.to_bytes(data), h("02 01 04 05 A0"))
        g = GXStructure()
        g.append(GXBitString("10100"))
        self.assertEqual(gx_encode(DataType.STRUCTURE, g), h("02 01 04 08 A0"))

    def test_text_that_gurux_shows_as_hex(self):
        self.assertEqual(axdr.decode(h("0C 02 C3 A9"))[0], (UTF8_STRING, "\u00e9"))
        self.assertEqual(gx_decode(h("0C 02 C3 A9"))[0], "C3 A9")
        self.assertEqual(axdr.decode(h("0A 02 41 0D"))[0], (VISIBLE_STRING, "A\r"))
        self.assertEqual(gx_decode(h("0A 02 41 0D"))[0], "41 0D")
        # and it writes a visible-string as UTF-8 with the character count as length
        self.assertEqual(gx_encode(DataType.STRING, "\u00e9"), h("0A 01 C3 A9"))
        self.assertEqual(axdr.to_bytes((VISIBLE_STRING, "\u00e9")), h("0A 01 E9"))

    def test_date_and_time_lossy_in_gurux(self):
        d = DateTime(2024, 3, 31, 7)
        b = axdr.to_bytes((DATE, d))
        g, _ = gx_decode(b)
        self.assertEqual(gx_encode(DataType.DATE, g), h("1A 07 E8 03 1F FF"))  # weekday lost
        t = DateTime(hour=23, minute=59, second=59, hundredths=99)
        g, _ = gx_decode(axdr.to_bytes((TIME, t)))
        self.assertEqual(gx_encode(DataType.TIME, g), h("1B 17 3B 3B 00"))  # hundredths lost

    def test_gurux_swaps_dst_month_codes_in_date_time(self):
        # Blue Book 4.1.6.1: month 0xFD daylight_savings_end, 0xFE daylight_savings_begin
        b = h("19 FF FF FE FE FF 02 00 00 FF 80 00 FF")
        d, _ = axdr.decode(b)
        self.assertEqual((d[1].month, d[1].day), (axdr.DST_BEGIN, axdr.LAST_DAY))
        self.assertEqual(axdr.to_bytes(d), b)
        g, _ = gx_decode(b)
        self.assertTrue(g.extra & DateTimeExtraInfo.DST_BEGIN)
        self.assertEqual(gx_encode(DataType.DATETIME, g)[3], 0xFD)


# -- hypothesis ---------------------------------------------------------------


def _dt_strategy(tag):
    b = st.integers(0, 255)
    if tag == DATE:
        return st.builds(DateTime, st.integers(0, 0xFFFF), b, b, b)
    if tag == TIME:
        return st.builds(lambda *f: DateTime(0xFFFF, 0xFF, 0xFF, 0xFF, *f), b, b, b, b)
    return st.builds(
        DateTime, st.integers(0, 0xFFFF), b, b, b, b, b, b, b, st.integers(-0x8000, 0x7FFF), b
    )


INT_RANGES = {
    DOUBLE_LONG: (-(1 << 31), (1 << 31) - 1),
    DOUBLE_LONG_UNSIGNED: (0, (1 << 32) - 1),
    BCD: (0, 255),
    INTEGER: (-128, 127),
    LONG: (-32768, 32767),
    UNSIGNED: (0, 255),
    LONG_UNSIGNED: (0, 0xFFFF),
    LONG64: (-(1 << 63), (1 << 63) - 1),
    LONG64_UNSIGNED: (0, (1 << 64) - 1),
    ENUM: (0, 255),
}


def value_strategy(tag):
    """Plain values of one leaf type."""
    if tag in INT_RANGES:
        return st.integers(*INT_RANGES[tag])
    if tag in (NULL_DATA, DONT_CARE):
        return st.none()
    if tag == BOOLEAN:
        return st.booleans()
    if tag == BIT_STRING:
        return st.text(alphabet="01", max_size=40)
    if tag == OCTET_STRING:
        return st.binary(max_size=40)
    if tag == VISIBLE_STRING:
        return st.text(alphabet=st.characters(max_codepoint=255), max_size=20)
    if tag == UTF8_STRING:
        return st.text(alphabet=st.characters(blacklist_categories=("Cs",)), max_size=20)
    if tag == FLOAT32:
        return st.floats(width=32, allow_nan=False)
    if tag == FLOAT64:
        return st.floats(allow_nan=False)
    return _dt_strategy(tag)


LEAF_TAGS = [NULL_DATA, DONT_CARE, BOOLEAN, BIT_STRING, OCTET_STRING, VISIBLE_STRING]
LEAF_TAGS += [UTF8_STRING, FLOAT32, FLOAT64, DATE_TIME, DATE, TIME] + sorted(INT_RANGES)
# types an element of a compact array can have and still take bytes
SIZED_TAGS = [t for t in LEAF_TAGS if t not in (NULL_DATA, DONT_CARE)]


def leaf(tag):
    return value_strategy(tag).map(lambda v, t=tag: (t, v))


LEAVES = st.one_of([leaf(t) for t in LEAF_TAGS])


def element_strategy(desc):
    """Typed data strategy for the elements a compact-array description allows."""
    if isinstance(desc, int):
        return leaf(desc)
    tag, sub = desc
    if tag == STRUCTURE:
        return st.tuples(*[element_strategy(d) for d in sub]).map(lambda xs: (STRUCTURE, list(xs)))
    n, d = sub
    return st.lists(element_strategy(d), min_size=n, max_size=n).map(lambda xs: (ARRAY, xs))


SIZED = st.sampled_from(SIZED_TAGS)
DESCS = st.one_of(
    SIZED,
    st.lists(SIZED, min_size=1, max_size=4).map(lambda ds: (STRUCTURE, ds)),
    st.tuples(st.integers(1, 3), SIZED).map(lambda nd: (ARRAY, nd)),
    st.tuples(st.integers(1, 2), st.lists(SIZED, min_size=1, max_size=2)).map(
        lambda nd: (ARRAY, (nd[0], (STRUCTURE, nd[1])))
    ),
)


@st.composite
def compact_arrays(draw):
    desc = draw(DESCS)
    return (COMPACT_ARRAY, (desc, draw(st.lists(element_strategy(desc), max_size=5))))


TYPED = st.recursive(
    st.one_of(LEAVES, compact_arrays()),
    lambda children: st.one_of(
        st.lists(children, max_size=4).map(lambda xs: (ARRAY, xs)),
        st.lists(children, max_size=4).map(lambda xs: (STRUCTURE, xs)),
    ),
    max_leaves=20,
)


def _gx_leaf_tags():
    return [
        NULL_DATA,
        BOOLEAN,
        OCTET_STRING,
        DATE_TIME,
        DOUBLE_LONG,
        DOUBLE_LONG_UNSIGNED,
        INTEGER,
        LONG,
        UNSIGNED,
        LONG_UNSIGNED,
        LONG64,
        LONG64_UNSIGNED,
        ENUM,
        FLOAT32,
        FLOAT64,
    ]


def _gx_dt():
    # fields gurux keeps: real calendar dates, times and deviations
    return st.builds(
        lambda t, dev, hs, st_: DateTime.from_tuple(
            t.year, t.month, t.day, t.hour, t.minute, t.second, hs, dev, st_
        ),
        st.datetimes(datetime.datetime(1900, 1, 2), datetime.datetime(9998, 12, 31)),
        st.integers(-720, 720),
        st.integers(0, 99),
        st.sampled_from([0, 1, 2, 4, 8, 0x80, 0x81]),
    )


GX_LEAVES = st.one_of(
    [leaf(t) for t in _gx_leaf_tags() if t != DATE_TIME]
    + [
        _gx_dt().map(lambda d: (DATE_TIME, d)),
        st.text(alphabet=st.characters(min_codepoint=0x20, max_codepoint=0x7E), max_size=20).map(
            lambda s: (VISIBLE_STRING, s)
        ),
        st.text(alphabet="01", max_size=5)
        .map(lambda s: s * 8)
        .map(lambda s: (BIT_STRING, s)),  # whole bytes, see the module notes
    ]
)

GX_TYPED = st.recursive(
    GX_LEAVES,
    lambda children: st.one_of(
        st.lists(children, max_size=4).map(lambda xs: (ARRAY, xs)),
        st.lists(children, max_size=4).map(lambda xs: (STRUCTURE, xs)),
    ),
    max_leaves=15,
)


def _same(a, b):
    # equality with -0.0 told apart from 0.0 and nan equal to nan
    if isinstance(a, float) and isinstance(b, float):
        return math.copysign(1, a) == math.copysign(1, b) and (a == b or a != a and b != b)
    if isinstance(a, (tuple, list)) and isinstance(b, (tuple, list)):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b))
    return type(a) is type(b) and a == b


class TestProperties(unittest.TestCase):
    @PROPS
    @given(TYPED)
    def test_round_trip(self, data):
        b = axdr.to_bytes(data)
        got, end = axdr.decode(b)
        self.assertTrue(_same(got, data), "%r != %r" % (got, data))
        self.assertEqual(end, len(b))
        self.assertEqual(axdr.skip(b), len(b))
        self.assertEqual(axdr.to_bytes(got), b)

    @PROPS
    @given(TYPED, st.integers(0, 8))
    def test_truncation_is_a_decode_error(self, data, cut):
        b = axdr.to_bytes(data)
        b = b[: max(0, len(b) - 1 - cut)]
        with self.assertRaises(DecodeError):
            axdr.decode(b)

    @PROPS
    @given(st.binary(max_size=64))
    def test_arbitrary_bytes_raise_only_decode_error(self, b):
        self._decode_or_decode_error(b)

    @PROPS
    @given(st.sampled_from([1, 2, 19]), st.integers(0, 6), st.binary(max_size=48))
    def test_arbitrary_container_contents(self, tag, n, b):
        self._decode_or_decode_error(bytes((tag, n)) + b)

    def _decode_or_decode_error(self, b):
        try:
            data, end = axdr.decode(b)
        except DecodeError:
            return
        self.assertLessEqual(end, len(b))
        self.assertEqual(axdr.skip(b), end)
        self.assertEqual(axdr.to_bytes(data), axdr.to_bytes(axdr.decode(axdr.to_bytes(data))[0]))

    @PROPS
    @given(GX_TYPED)
    def test_gurux_agrees(self, data):
        ours = axdr.to_bytes(data)
        self.assertEqual(hx(ours), hx(gx_encode(*to_gurux(data))))
        v, end = gx_decode(ours)
        self.assertEqual(end, len(ours))
        self.assertTrue(_same(gx_plain(v), plain(data)))
