"""A-XDR encoding of COSEM data (Blue Book 4.1.5, Green Book 9.5 Data, IEC 61334-6).

Typed data is a 2-tuple ``(tag, value)``:

- NULL_DATA, DONT_CARE: None. BOOLEAN: bool (any non-zero octet is TRUE; TRUE
  is sent as 0x01, as Gurux does). OCTET_STRING: bytes.
- ARRAY, STRUCTURE: a list of typed data (array elements are not checked to
  share one type).
- BIT_STRING: str of '0'/'1', first char = first bit on the wire (MSB first).
- Integer types, ENUM, BCD: int. BCD is the raw octet 0..255 (two BCD digits;
  the ASN.1 says Integer8, Gurux and the meters treat it as unsigned).
- VISIBLE_STRING: str, one character per byte (ISO 8859-1): any bytes decode
  and re-encode unchanged; encode takes U+0000..U+00FF, or bytes.
  UTF8_STRING: str (or bytes on encode); invalid UTF-8 is a DecodeError as far
  as the runtime checks (MicroPython lets overlong forms and surrogates pass).
- FLOAT32, FLOAT64: float. DATE_TIME, DATE, TIME: DateTime.
- COMPACT_ARRAY: ``(description, [typed data, ...])``; a description is a tag,
  ``(STRUCTURE, [description, ...])`` or ``(ARRAY, (count, description))``.

Decoding indexes into the caller's buffer and raises only DecodeError on bad
input. At most MAX_DEPTH arrays/structures nest. A compact-array description
that would yield more than four data per content byte is refused (null-data
and empty structures take no bytes there), so what decode builds stays
proportional to its input. encode() raises ValueError for a value that does
not fit its type and BufferFull when the Writer is full, restoring w.pos.
"""

import struct

from micropython import const

from dlms.errors import BufferFull, DecodeError

NULL_DATA = const(0)
ARRAY = const(1)
STRUCTURE = const(2)
BOOLEAN = const(3)
BIT_STRING = const(4)
DOUBLE_LONG = const(5)
DOUBLE_LONG_UNSIGNED = const(6)
OCTET_STRING = const(9)
VISIBLE_STRING = const(10)
UTF8_STRING = const(12)
BCD = const(13)
INTEGER = const(15)
LONG = const(16)
UNSIGNED = const(17)
LONG_UNSIGNED = const(18)
COMPACT_ARRAY = const(19)
LONG64 = const(20)
LONG64_UNSIGNED = const(21)
ENUM = const(22)
FLOAT32 = const(23)
FLOAT64 = const(24)
DATE_TIME = const(25)
DATE = const(26)
TIME = const(27)
DONT_CARE = const(255)

MAX_DEPTH = const(16)

# DateTime field codes (Blue Book 4.1.6.1)
NOT_SPECIFIED = const(0xFF)
YEAR_NOT_SPECIFIED = const(0xFFFF)
DEVIATION_NOT_SPECIFIED = const(-0x8000)
DST_END = const(0xFD)  # month
DST_BEGIN = const(0xFE)  # month
SECOND_LAST_DAY = const(0xFD)  # day of month
LAST_DAY = const(0xFE)  # day of month
# clock status bits
STATUS_INVALID = const(0x01)
STATUS_DOUBTFUL = const(0x02)
STATUS_DIFFERENT_BASE = const(0x04)
STATUS_INVALID_STATUS = const(0x08)
STATUS_DST = const(0x80)

_VAR = const(0xFE)  # variable length
_BAD = const(0xFF)  # not a data type
_LAST = const(27)  # highest tag in _SIZE
_RATIO = const(4)  # data per content byte allowed in a compact array
# Encoded size per tag 0..27, without the tag.
_SIZE = (
    b"\x00\xfe\xfe\x01\xfe\x04\x04\xff\xff\xfe\xfe\xff\xfe\x01"  # 0..13
    b"\xff\x01\x02\x01\x02\xfe\x08\x08\x01\x04\x08\x0c\x05\x04"  # 14..27
)
# Bit n set: tag n is a signed integer (double-long, integer, long, long64).
_SIGNED = const(0x118020)
# float32 overflows to infinity from FLT_MAX + half an ulp up. Made from text:
# a float literal above FLT_MAX cannot be frozen (mpy-tool.py packs every float
# constant as a float32 too, for the object representation C ports).
_F32_OVER = float("3.4028235677973366e38")
_INF = float("inf")
# the numeric types (a value with a scaler may have any of them)
NUMERIC = (
    DOUBLE_LONG,
    DOUBLE_LONG_UNSIGNED,
    INTEGER,
    LONG,
    UNSIGNED,
    LONG_UNSIGNED,
    LONG64,
    LONG64_UNSIGNED,
    FLOAT32,
    FLOAT64,
)
# isinstance() classes, built once (a tuple display allocates at every call)
_SEQ = (tuple, list)
_NUM = (int, float)
_BYTES = (bytes, bytearray, memoryview)


def _size(tag):
    if type(tag) is int and 0 <= tag <= _LAST:
        return _SIZE[tag]
    return 0 if tag == DONT_CARE else _BAD


def _isint(v):
    return isinstance(v, int) and not isinstance(v, bool)


def _short(p):
    return DecodeError("truncated", p)


def _uint(buf, p, n):
    v = 0
    for i in range(p, p + n):
        v = (v << 8) | buf[i]
    return v


def _len(buf, p, end):
    # The A-XDR length: one byte below 0x80, else 0x8N and N big-endian bytes.
    if p >= end:
        raise _short(p)
    n = buf[p]
    if n < 0x80:
        return n, p + 1
    k = n & 0x7F
    if k == 0 or k > 4:
        raise DecodeError("bad length form 0x%02X" % n, p)
    if p + 1 + k > end:
        raise _short(p)
    return _uint(buf, p + 1, k), p + 1 + k


def decode_length(buf, pos):
    """``(n, end)``; DecodeError if n is more than the bytes left after it."""
    n, q = _len(buf, pos, len(buf))
    if n > len(buf) - q:
        raise DecodeError("length %d over the end" % n, pos)
    return n, q


def encode_length(w, n):
    if not _isint(n) or n < 0 or n > 0xFFFFFFFF:
        raise ValueError("length %r" % (n,))
    if n < 0x80:
        w.byte(n)
        return
    k = 1 if n < 0x100 else 2 if n < 0x10000 else 3 if n < 0x1000000 else 4
    p = w.take(k + 1)
    b = w.buf
    b[p] = 0x80 | k
    for i in range(p + k, p, -1):
        b[i] = n & 0xFF
        n >>= 8


def _deep(p):
    return DecodeError("nesting deeper than %d" % MAX_DEPTH, p)


# -- decoding ---------------------------------------------------------------
# _val decodes the untagged value of type ``tag`` at p and appends the typed
# datum to ``out``; with out None it only walks (skip). Returns the end.


def _val(buf, p, end, tag, depth, out):
    n = _size(tag)
    if n == _BAD:
        raise DecodeError("unknown data type %d" % tag, p - 1)
    if n != _VAR:
        q = p + n
        if q > end:
            raise _short(p)
        if out is None:
            return q
        if n == 0:
            v = None
        elif tag >= DATE_TIME:
            v = _dt_read(buf, p, tag)
        elif tag == FLOAT32:
            v = struct.unpack_from(">f", buf, p)[0]
        elif tag == FLOAT64:
            v = struct.unpack_from(">d", buf, p)[0]
        elif tag == BOOLEAN:
            v = buf[p] != 0
        else:
            v = buf[p]
            if (_SIGNED >> tag) & 1 and v & 0x80:
                v -= 0x100
            for i in range(p + 1, q):
                v = (v << 8) | buf[i]
        out.append((tag, v))
        return q
    if tag == COMPACT_ARRAY:
        if depth >= MAX_DEPTH:
            raise _deep(p)
        return _compact(buf, p, end, depth + 1, out)
    if p >= end:
        raise _short(p)
    n = buf[p]
    if n < 0x80:  # the short form inline: no tuple from _len
        p += 1
    else:
        n, p = _len(buf, p, end)
    if tag == ARRAY or tag == STRUCTURE:
        if depth >= MAX_DEPTH:
            raise _deep(p)
        if n > end - p:  # every element takes at least its tag byte
            raise DecodeError("%d elements over the end" % n, p)
        items = None if out is None else []
        for _ in range(n):
            if p >= end:
                raise _short(p)
            p = _val(buf, p + 1, end, buf[p], depth + 1, items)
        if out is not None:
            out.append((tag, items))
        return p
    q = p + ((n + 7) >> 3 if tag == BIT_STRING else n)
    if q > end:
        raise DecodeError("length %d over the end" % n, p)
    if out is None:
        return q
    if tag == BIT_STRING:
        s = bytearray(n)
        for i in range(n):
            s[i] = 0x31 if buf[p + (i >> 3)] & (0x80 >> (i & 7)) else 0x30
        v = str(s, "ascii")
    else:
        v = buf[p:q]
        if tag == OCTET_STRING:
            if not isinstance(v, bytes):
                v = bytes(v)
        else:
            v = _text(v, tag == UTF8_STRING, p)
    out.append((tag, v))
    return q


def _text(b, utf8, p):
    try:
        s = str(b, "utf-8")
        if utf8 or len(s) == len(b):
            return s
    except UnicodeError:
        if utf8:
            raise DecodeError("invalid UTF-8", p) from None
    # visible-string with bytes over 0x7F: one character per byte
    return "".join([chr(c) for c in b])


def _compact(buf, p, end, depth, out):
    # Blue Book 4.1.5 / Green Book 9.5: contents-description, then
    # array-contents as an octet string of untagged elements.
    desc, p = _desc(buf, p, end, depth)
    mn, nodes = _shape(desc)
    if nodes > _RATIO * (mn or 1):
        raise DecodeError("compact-array description too sparse", p)
    n, p = _len(buf, p, end)
    q = p + n
    if q > end:
        raise DecodeError("length %d over the end" % n, p)
    if n and not mn:
        raise DecodeError("compact-array elements of no size", p)
    elems = None if out is None else []
    while p < q:
        p = _cval(buf, p, q, desc, depth, elems)
    if out is not None:
        out.append((COMPACT_ARRAY, (desc, elems)))
    return q


def _desc(buf, p, end, depth):
    if p >= end:
        raise _short(p)
    t = buf[p]
    p += 1
    if t == ARRAY or t == STRUCTURE:
        if depth >= MAX_DEPTH:
            raise _deep(p)
        if t == ARRAY:
            if p + 2 > end:
                raise _short(p)
            d, q = _desc(buf, p + 2, end, depth + 1)
            return (ARRAY, ((buf[p] << 8) | buf[p + 1], d)), q
        n, p = _len(buf, p, end)
        if n > end - p:
            raise DecodeError("%d elements over the end" % n, p)
        sub = []
        for _ in range(n):
            d, p = _desc(buf, p, end, depth + 1)
            sub.append(d)
        return (STRUCTURE, sub), p
    if _size(t) == _BAD or t == COMPACT_ARRAY:
        raise DecodeError("bad type %d in compact-array description" % t, p - 1)
    return t, p


def _shape(d):
    # (minimum encoded size, number of typed data) of one described element
    if type(d) is int:
        s = _size(d)
        return (1 if s == _VAR else s), 1
    t, sub = d
    if t == STRUCTURE:
        mn = 0
        nodes = 1
        for x in sub:
            a, b = _shape(x)
            mn += a
            nodes += b
        return mn, nodes
    a, b = _shape(sub[1])
    return sub[0] * a, 1 + sub[0] * b


def _cval(buf, p, end, d, depth, out):
    if type(d) is int:
        return _val(buf, p, end, d, depth, out)
    t, sub = d
    items = None if out is None else []
    if t == STRUCTURE:
        for x in sub:
            p = _cval(buf, p, end, x, depth + 1, items)
    else:
        for _ in range(sub[0]):
            p = _cval(buf, p, end, sub[1], depth + 1, items)
    if out is not None:
        out.append((t, items))
    return p


def decode(buf, pos=0):
    """``(typed_data, end)`` for the datum at ``buf[pos]``."""
    if pos < 0:
        raise ValueError("pos")
    if pos >= len(buf):
        raise _short(pos)
    out = []
    end = _val(buf, pos + 1, len(buf), buf[pos], 0, out)
    return out[0], end


def skip(buf, pos=0):
    """The end of the datum at ``buf[pos]``, checked like decode() but not built
    (text is not checked for valid UTF-8)."""
    if pos < 0:
        raise ValueError("pos")
    if pos >= len(buf):
        raise _short(pos)
    return _val(buf, pos + 1, len(buf), buf[pos], 0, None)


# -- encoding ---------------------------------------------------------------


class Writer:
    """A position in a bounded buffer; BufferFull when it would overflow, with
    ``pos`` unchanged by the failing call."""

    def __init__(self, buf):
        if isinstance(buf, int):
            buf = bytearray(buf)
        self.buf = buf
        self.end = len(buf)
        self.pos = 0

    def take(self, n):
        """Reserve n bytes and return where they start; the caller fills them."""
        p = self.pos
        if p + n > self.end:
            raise BufferFull("%d bytes at %d of %d" % (n, p, self.end))
        self.pos = p + n
        return p

    def byte(self, b):
        if type(b) is not int or not 0 <= b <= 0xFF:
            raise ValueError("byte %r" % (b,))
        p = self.pos
        if p >= self.end:
            raise BufferFull("1 byte at %d" % p)
        self.buf[p] = b
        self.pos = p + 1

    def write(self, data):
        p = self.pos
        n = len(data)
        if p + n > self.end:
            raise BufferFull("%d bytes at %d of %d" % (n, p, self.end))
        self.buf[p : p + n] = data
        self.pos = p + n

    def u16(self, n):
        if type(n) is not int or not 0 <= n <= 0xFFFF:
            raise ValueError("u16 %r" % (n,))
        p = self.take(2)
        self.buf[p] = n >> 8
        self.buf[p + 1] = n & 0xFF

    def u32(self, n):
        if type(n) is not int or not 0 <= n <= 0xFFFFFFFF:
            raise ValueError("u32 %r" % (n,))
        p = self.take(4)
        b = self.buf
        for i in range(p + 3, p - 1, -1):
            b[i] = n & 0xFF
            n >>= 8

    def getvalue(self):
        return memoryview(self.buf)[: self.pos]

    def reset(self):
        self.pos = 0


def _pair(item):
    if not isinstance(item, _SEQ) or len(item) != 2 or type(item[0]) is not int:
        raise ValueError("not typed data: %r" % (item,))
    return item


def _seq(v):
    if not isinstance(v, _SEQ):
        raise ValueError("not a sequence: %r" % (v,))
    return v


def _enc(w, tag, v, depth):
    # The value v of type tag, without the tag.
    n = _size(tag)
    if n == _BAD:
        raise ValueError("unknown data type %r" % (tag,))
    if n == 0:
        if v is not None:
            raise ValueError("data type %d takes None" % tag)
    elif n != _VAR:
        if tag >= DATE_TIME:
            _dt_write(w, v, tag)
        elif tag == FLOAT32 or tag == FLOAT64:
            if not isinstance(v, _NUM) or isinstance(v, bool):
                raise ValueError("not a float: %r" % (v,))
            try:
                v = float(v)
            except OverflowError:
                raise ValueError("float out of range") from None
            if tag == FLOAT32 and _F32_OVER <= abs(v) < _INF:
                raise ValueError("%r does not fit float32" % v)
            struct.pack_into(">f" if tag == FLOAT32 else ">d", w.buf, w.take(n), v)
        elif tag == BOOLEAN:
            if not (isinstance(v, bool) or _isint(v)):
                raise ValueError("not a boolean: %r" % (v,))
            w.byte(1 if v else 0)
        else:
            if not _isint(v):
                raise ValueError("not an integer: %r" % (v,))
            if (_SIGNED >> tag) & 1:
                x = v >> (8 * n - 1)
                ok = x == 0 or x == -1
            else:
                ok = v >= 0 and not v >> (8 * n)
            if not ok:
                raise ValueError("%d does not fit data type %d" % (v, tag))
            p = w.take(n)
            b = w.buf
            for i in range(p + n - 1, p - 1, -1):
                b[i] = v & 0xFF
                v >>= 8
    elif tag == OCTET_STRING or tag == VISIBLE_STRING or tag == UTF8_STRING:
        if isinstance(v, str) and tag != OCTET_STRING:
            v = _text_bytes(v, tag == UTF8_STRING)
        elif not isinstance(v, _BYTES):
            raise ValueError("not bytes: %r" % (v,))
        encode_length(w, len(v))
        w.write(v)
    elif tag == BIT_STRING:
        _bits_write(w, v)
    else:
        if depth >= MAX_DEPTH:
            raise ValueError("nesting deeper than %d" % MAX_DEPTH)
        if tag == COMPACT_ARRAY:
            _compact_write(w, v, depth + 1)
            return
        encode_length(w, len(_seq(v)))
        for item in v:
            t, x = _pair(item)
            w.byte(t)
            _enc(w, t, x, depth + 1)


def _text_bytes(s, utf8):
    b = s.encode()
    if utf8 or len(b) == len(s):
        return b
    out = bytearray(len(s))
    for i, c in enumerate(s):
        o = ord(c)
        if o > 0xFF:
            raise ValueError("visible-string takes U+0000..U+00FF")
        out[i] = o
    return out


def _bits_write(w, v):
    if not isinstance(v, str):
        raise ValueError("bit-string is a str of '0'/'1'")
    encode_length(w, len(v))
    p = w.take((len(v) + 7) >> 3)
    b = w.buf
    acc = 0
    i = 0
    for c in v:
        if c == "1":
            acc |= 0x80 >> (i & 7)
        elif c != "0":
            raise ValueError("bit-string is a str of '0'/'1'")
        i += 1
        if not i & 7:
            b[p] = acc
            p += 1
            acc = 0
    if i & 7:
        b[p] = acc


def _compact_write(w, v, depth):
    if len(_seq(v)) != 2:
        raise ValueError("compact-array is (description, elements)")
    desc, elems = v
    _desc_write(w, desc, depth)
    mn, nodes = _shape(desc)
    if nodes > _RATIO * (mn or 1) or (elems and not mn):
        raise ValueError("compact-array description too sparse to decode")
    # array-contents: encode the elements, then shift them up to make room
    # for their length, which is known only now.
    start = w.pos
    for item in _seq(elems):
        _cput(w, desc, item, depth)
    n = w.pos - start
    k = 1 if n < 0x80 else 2 if n < 0x100 else 3 if n < 0x10000 else 4 if n < 0x1000000 else 5
    if w.pos + k > w.end:
        raise BufferFull("compact-array length")
    if n:
        w.buf[start + k : start + k + n] = bytes(w.buf[start : start + n])
    w.pos = start
    encode_length(w, n)
    w.pos = start + k + n


def _desc_write(w, d, depth):
    if type(d) is int:
        if _size(d) == _BAD or d == ARRAY or d == STRUCTURE or d == COMPACT_ARRAY:
            raise ValueError("bad type %r in compact-array description" % (d,))
        w.byte(d)
        return
    if depth >= MAX_DEPTH:
        raise ValueError("nesting deeper than %d" % MAX_DEPTH)
    t, sub = _pair(d)
    if t == STRUCTURE:
        w.byte(STRUCTURE)
        encode_length(w, len(_seq(sub)))
        for x in sub:
            _desc_write(w, x, depth + 1)
    elif t == ARRAY and len(_seq(sub)) == 2:
        w.byte(ARRAY)
        w.u16(sub[0])
        _desc_write(w, sub[1], depth + 1)
    else:
        raise ValueError("bad compact-array description %r" % (d,))


def _cput(w, d, item, depth):
    t, x = _pair(item)
    if type(d) is int:
        if t != d:
            raise ValueError("element of type %d, description says %d" % (t, d))
        _enc(w, t, x, depth)
        return
    sub = d[1]
    if t != d[0] or not isinstance(x, _SEQ):
        raise ValueError("element %r does not match description %r" % (item, d))
    if t == STRUCTURE:
        if len(x) != len(sub):
            raise ValueError("element %r does not match description %r" % (item, d))
        for i in range(len(x)):
            _cput(w, sub[i], x[i], depth + 1)
    else:
        if len(x) != sub[0]:
            raise ValueError("element %r does not match description %r" % (item, d))
        for y in x:
            _cput(w, sub[1], y, depth + 1)


def encode(w, data):
    """Write typed data into Writer w. ValueError for a value that does not fit
    its type; BufferFull when w is full. On either, w.pos is restored to where
    it was, so the caller can roll back (block transfer, partial lists)."""
    start = w.pos
    try:
        t, v = _pair(data)
        w.byte(t)
        _enc(w, t, v, 0)
    except BaseException:
        w.pos = start
        raise


def _put_spec(w, spec, v, depth):
    if spec is None:
        t, v = _pair(v)
        w.byte(t)
        _enc(w, t, v, depth)
    elif type(spec) is int:
        w.byte(spec)
        _enc(w, spec, v, depth)
    else:
        t, sub = _pair(spec)
        if depth >= MAX_DEPTH:
            raise ValueError("nesting deeper than %d" % MAX_DEPTH)
        if t == STRUCTURE:
            if len(_seq(v)) != len(_seq(sub)):
                raise ValueError("%r does not match %r" % (v, spec))
            w.byte(STRUCTURE)
            encode_length(w, len(v))
            for i in range(len(v)):
                _put_spec(w, sub[i], v[i], depth + 1)
        elif t == ARRAY:
            w.byte(ARRAY)
            encode_length(w, len(_seq(v)))
            for x in v:
                _put_spec(w, sub, x, depth + 1)
        else:
            raise ValueError("bad spec %r" % (spec,))


def encode_value(w, spec, value):
    """Schema-driven encode: spec is a tag (value plain), ``(STRUCTURE, (spec,
    ...))`` or ``(ARRAY, spec)`` (value a sequence), or None (value is typed
    data). Errors and w.pos as for encode()."""
    start = w.pos
    try:
        _put_spec(w, spec, value, 0)
    except BaseException:
        w.pos = start
        raise


def to_bytes(data):
    """bytes of typed data; allocates, not for hot paths."""
    n = 64
    while True:
        w = Writer(n)
        try:
            encode(w, data)
            return bytes(w.getvalue())
        except BufferFull:
            n *= 4


# -- date-time --------------------------------------------------------------


def _days(y, m, d):
    # days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant)
    y -= m <= 2
    era = y // 400
    yoe = y - era * 400
    doy = (153 * (m - 3 if m > 2 else m + 9) + 2) // 5 + d - 1
    return era * 146097 + yoe * 365 + yoe // 4 - yoe // 100 + doy - 719468


def _civil(z):
    z += 719468
    era = z // 146097
    doe = z - era * 146097
    yoe = (doe - doe // 1460 + doe // 36524 - doe // 146096) // 365
    doy = doe - (365 * yoe + yoe // 4 - yoe // 100)
    mp = (5 * doy + 2) // 153
    m = mp + 3 if mp < 10 else mp - 9
    return yoe + era * 400 + (m <= 2), m, doy - (153 * mp + 2) // 5 + 1


class DateTime:
    """COSEM date-time (Blue Book 4.1.6.1), also the value of DATE and TIME.

    Fields are kept as on the wire, unchecked on decode so that re-encoding is
    byte-identical: year (0xFFFF not specified), month (DST_BEGIN, DST_END),
    day (LAST_DAY, SECOND_LAST_DAY), weekday (1 = Monday), hour, minute,
    second, hundredths (0xFF not specified), deviation in minutes with
    UTC = local time + deviation (DEVIATION_NOT_SPECIFIED = -0x8000), status
    (STATUS_* bits, 0xFF not specified). A DATE leaves the time fields, a TIME
    the date fields, as not specified.
    """

    __slots__ = (
        "year",
        "month",
        "day",
        "weekday",
        "hour",
        "minute",
        "second",
        "hundredths",
        "deviation",
        "status",
    )

    def __init__(
        self,
        year=YEAR_NOT_SPECIFIED,
        month=NOT_SPECIFIED,
        day=NOT_SPECIFIED,
        weekday=NOT_SPECIFIED,
        hour=NOT_SPECIFIED,
        minute=NOT_SPECIFIED,
        second=NOT_SPECIFIED,
        hundredths=NOT_SPECIFIED,
        deviation=DEVIATION_NOT_SPECIFIED,
        status=NOT_SPECIFIED,
    ):
        self.year = year
        self.month = month
        self.day = day
        self.weekday = weekday
        self.hour = hour
        self.minute = minute
        self.second = second
        self.hundredths = hundredths
        self.deviation = deviation
        self.status = status

    def _fields(self):
        return (
            self.year,
            self.month,
            self.day,
            self.weekday,
            self.hour,
            self.minute,
            self.second,
            self.hundredths,
            self.deviation,
            self.status,
        )

    def __eq__(self, other):
        return isinstance(other, DateTime) and self._fields() == other._fields()

    def __repr__(self):
        return "DateTime(%r, %r, %r, %r, %r, %r, %r, %r, %r, %r)" % self._fields()

    @staticmethod
    def from_bytes(b):
        """From the 12 octets of a date-time; DecodeError on another length."""
        return _dt_from(b, DATE_TIME)

    @staticmethod
    def from_date_bytes(b):
        return _dt_from(b, DATE)

    @staticmethod
    def from_time_bytes(b):
        return _dt_from(b, TIME)

    def to_bytes(self):
        return _dt_bytes(self, DATE_TIME)

    def date_bytes(self):
        return _dt_bytes(self, DATE)

    def time_bytes(self):
        return _dt_bytes(self, TIME)

    @staticmethod
    def from_tuple(
        year,
        month,
        day,
        hour=0,
        minute=0,
        second=0,
        hundredths=0,
        deviation=DEVIATION_NOT_SPECIFIED,
        status=0,
    ):
        """A fully specified date-time; the weekday is computed."""
        wd = (_days(year, month, day) + 3) % 7 + 1
        return DateTime(year, month, day, wd, hour, minute, second, hundredths, deviation, status)

    def to_epoch(self):
        """UTC seconds since 1970 (hundredths dropped). An unspecified deviation
        counts as 0. ValueError unless date and time are specified."""
        if not (
            self.year != YEAR_NOT_SPECIFIED
            and 1 <= self.month <= 12
            and 1 <= self.day <= 31
            and self.hour < 24
            and self.minute < 60
            and self.second < 60
        ):
            raise ValueError("date-time not fully specified: %r" % (self,))
        s = _days(self.year, self.month, self.day) * 86400
        s += self.hour * 3600 + self.minute * 60 + self.second
        if self.deviation != DEVIATION_NOT_SPECIFIED:
            s += self.deviation * 60
        return s

    @staticmethod
    def from_epoch(seconds, deviation=0, status=0):
        """The local date-time of UTC ``seconds`` (int) at ``deviation``
        (minutes, UTC = local + deviation); hundredths 0."""
        local = int(seconds)
        if deviation != DEVIATION_NOT_SPECIFIED:
            local -= deviation * 60
        days, s = divmod(local, 86400)
        y, m, d = _civil(days)
        return DateTime(
            y, m, d, (days + 3) % 7 + 1, s // 3600, s // 60 % 60, s % 60, 0, deviation, status
        )


def _dt_read(buf, p, tag):
    d = DateTime()
    if tag != TIME:
        d.year = (buf[p] << 8) | buf[p + 1]
        d.month = buf[p + 2]
        d.day = buf[p + 3]
        d.weekday = buf[p + 4]
        p += 5
    if tag != DATE:
        d.hour = buf[p]
        d.minute = buf[p + 1]
        d.second = buf[p + 2]
        d.hundredths = buf[p + 3]
    if tag == DATE_TIME:
        v = (buf[p + 4] << 8) | buf[p + 5]
        d.deviation = v - 0x10000 if v & 0x8000 else v
        d.status = buf[p + 6]
    return d


def _dt_from(b, tag):
    n = _SIZE[tag]
    if len(b) != n:
        raise DecodeError("%d bytes, %d expected" % (len(b), n), 0)
    return _dt_read(b, 0, tag)


def _dt_bytes(d, tag):
    w = Writer(_SIZE[tag])
    _dt_write(w, d, tag)
    return bytes(w.buf)


def _dt_write(w, d, tag):
    if not isinstance(d, DateTime):
        raise ValueError("not a DateTime: %r" % (d,))
    if tag != TIME:
        w.u16(d.year)
        w.byte(d.month)
        w.byte(d.day)
        w.byte(d.weekday)
    if tag != DATE:
        w.byte(d.hour)
        w.byte(d.minute)
        w.byte(d.second)
        w.byte(d.hundredths)
    if tag == DATE_TIME:
        v = d.deviation
        if type(v) is not int or not -0x8000 <= v <= 0x7FFF:
            raise ValueError("deviation %r" % (v,))
        w.u16(v & 0xFFFF)
        w.byte(d.status)
