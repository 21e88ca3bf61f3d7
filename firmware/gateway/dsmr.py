"""DSMR P1 input of the gateway, sans-IO: framing, parsing, encrypted P1 (Smarty).

Octets from the P1 port go in, telegrams and values come out; nothing here
reads a UART or a clock. Three layers, each usable alone:

- ``TelegramFramer``: complete telegrams out of a byte stream, ``/`` up to and
  including ``!CRC`` CR LF (DSMR P1 companion standard, "P1 CS"). The CRC is CRC-16/ARC (poly
  0xA001 reflected, initial value 0) over everything from ``/`` through ``!``,
  sent as 4 hex digits. DSMR 2.2/3 telegrams have no CRC (``!`` CR LF) and are
  accepted unless ``require_crc``; a meter sending it unpadded (``!B9F``) is
  accepted too. Bytes outside telegrams are skipped, a ``/`` inside a telegram
  restarts framing there, the buffer is one preallocated bytearray.
- ``parse(telegram)``: the header and a dict of values keyed by OBIS as written
  in the telegram. Every object of DSMR 5.0.2 (P1 CS 5.0.2), Belgian e-MUCS H,
  DSMR 2.2/3 and 4 (M-Bus channels for gas, water, heat); any other
  ``OBIS(value[*unit])`` line gives a number or a raw string, except that
  equipment identifiers and messages (C.D = 96.1, 96.13) are always text.
  Never raises on content: a malformed line goes to ``errors``.
- ``SmartyReader``: the encrypted P1 of Luxembourg (Smarty, "P1 specification
  v1.1.3" 3.2.5). A frame is a general-glo-ciphering APDU: 0xDB, system
  title length (8) and title, the length of the rest (0x82 and two octets),
  security control 0x30, frame counter (4 octets), ciphertext, 12-octet GCM
  tag. IV = system title || frame counter; AAD = 0x30 || AK, where Smarty's
  AK is the fixed 00112233445566778899AABBCCDDEEFF. ``FrameCounters`` (kept
  by the caller) rejects a replayed or rolled-back frame counter per meter.
  The plaintext's own CRC is checked only on request (``check_crc``): the
  tag already authenticates it, and a Smarty CRC has been seen not to match.

Dropped input is counted per reason in ``errors`` dicts: ``FRAMING``,
``OVERSIZE``, ``CRC``, ``TAG`` (wrong key or tag mismatch) and ``STALE``.

A value is ``{"value": v, "unit": u}`` with u a string ("kWh", "kW", "V",
"A", "m3", "s", ...) or None, plus ``"timestamp"`` where the line has a
capture time (M-Bus readings, maximum demand). Timestamps ``YYMMDDhhmmssX``
become tuples ``(year, month, day, hour, minute, second, dst)``: dst True for
X = S (summer), False for W (winter), None without the letter (DSMR 2.2); an
impossible date (meters send 632525252525W for "never") is None. ``iso(ts)``
writes one as text. Numbers with a decimal point are floats; on boards with
single-precision floats (ESP32, STM32) a register like 123456.789 kWh keeps
only 7 digits, so ``parse(t, exact=True)`` gives the integer mantissa and a
``"scaler"`` (COSEM style: 123456789 and -3) instead.
"""

import binascii

from dlms.crc import reflected_table, update
from micropython import const

# Why a frame or telegram was dropped (the keys of the ``errors`` dicts)
FRAMING = "framing"
OVERSIZE = "oversize"
CRC = "crc"
TAG = "wrong key or tag mismatch"
STALE = "stale counter"

MAX_TELEGRAM = const(2048)  # DSMR 5 telegrams are ~1 KB, e-MUCS with 13 months ~1.5 KB
SMARTY_AK = b"\x00\x11\x22\x33\x44\x55\x66\x77\x88\x99\xaa\xbb\xcc\xdd\xee\xff"

_SLASH = const(0x2F)
_BANG = const(0x21)
_CR = const(0x0D)
_LF = const(0x0A)
_OPEN = const(0x28)
_GLO = const(0xDB)  # general-glo-ciphering, the APDU tag of an encrypted frame
_TITLE_LEN = const(8)  # system title (Green Book: 8 octets)
_SC = const(0x30)  # security control: authenticated and encrypted, suite 0
_TAG_LEN = const(12)


class P1Error(Exception):
    """A telegram or frame was dropped; ``reason`` is one of the reasons above."""

    def __init__(self, reason):
        super().__init__(reason)
        self.reason = reason


# -- CRC-16/ARC: x^16 + x^15 + x^2 + 1, LSB first, no XOR in or out (P1 CS) ------


_TABLE = reflected_table(0xA001)  # CRC-16/ARC


def crc16(data, start=0, end=-1):
    """CRC-16/ARC of ``data[start:end]`` (check value of b"123456789": 0xBB3D)."""
    if end < 0:
        end = len(data)
    return update(0, data, start, end, _TABLE)


def _hexval(c):
    if 48 <= c <= 57:
        return c - 48
    if 65 <= c <= 70:
        return c - 55
    if 97 <= c <= 102:
        return c - 87
    return -1


def _crc_field(buf, start, end):
    # The CRC text buf[start:end] (after '!', without CR LF): its value, -1
    # when there is none (DSMR 2.2/3), None unless 1..4 hex digits.
    if end - start > 4:
        return None
    if end == start:
        return -1
    v = 0
    for p in range(start, end):
        d = _hexval(buf[p])
        if d < 0:
            return None
        v = (v << 4) | d
    return v


def check_telegram(telegram, require_crc=False):
    """None if ``telegram`` (bytes, ``/`` .. ``!CRC`` CR LF) is whole and its CRC
    matches, else FRAMING or CRC. Without a CRC it passes unless ``require_crc``."""
    t = telegram
    n = len(t)
    if n < 3 or t[0] != _SLASH or t[n - 1] != _LF:
        return FRAMING
    b = t.find(b"!")
    if b < 0:
        return FRAMING
    e = n - 1
    if t[e - 1] == _CR:
        e -= 1
    v = _crc_field(t, b + 1, e)
    if v is None:
        return FRAMING
    if v < 0:
        return CRC if require_crc else None
    return None if v == crc16(t, 0, b + 1) else CRC


# -- streaming framer for plain telegrams --------------------------------------------

_HUNT = const(0)  # skipping to the next '/'
_BODY = const(1)  # in a telegram, up to '!'
_CHECK = const(2)  # after '!', up to LF


class TelegramFramer:
    """Complete, CRC-checked telegrams out of a P1 byte stream.

    ``feed(data)`` takes bytes or a bytearray as they come from the port and
    returns the telegrams it completed (bytes, ``/`` .. ``!CRC`` CR LF), an
    empty tuple most of the time. ``telegrams``, ``discarded`` (octets
    outside any accepted telegram) and ``errors`` (FRAMING, CRC, OVERSIZE)
    count what happened; ``last_error`` is the latest reason. A telegram
    longer than ``max_size`` octets is dropped whole.
    """

    def __init__(self, max_size=MAX_TELEGRAM, require_crc=False):
        self._buf = bytearray(max_size)
        self._mv = memoryview(self._buf)
        self._max = max_size
        self._n = 0
        self._bang = 0  # where '!' is in the buffer
        self._state = _HUNT
        self.require_crc = require_crc
        self.telegrams = 0
        self.discarded = 0
        self.errors = {FRAMING: 0, CRC: 0, OVERSIZE: 0}
        self.last_error = None

    def reset(self):
        """Drop a partial telegram: call when the line was idle (a gap ends any telegram)."""
        self.discarded += self._n
        self._n = 0
        self._state = _HUNT

    def _drop(self, reason):
        self.errors[reason] += 1
        self.last_error = reason
        self.reset()

    def feed(self, data):
        if isinstance(data, memoryview):
            data = bytes(data)  # the scanning below needs find()
        dv = memoryview(data)
        out = None
        i = 0
        end = len(data)
        while i < end:
            st = self._state
            if st == _HUNT:
                j = data.find(b"/", i)
                if j < 0:
                    self.discarded += end - i
                    break
                self.discarded += j - i
                self._buf[0] = _SLASH
                self._n = 1
                self._state = _BODY
                i = j + 1
            elif st == _BODY:
                j = data.find(b"!", i)
                stop = end if j < 0 else j + 1
                k = data.find(b"/", i, stop)
                if k >= 0:  # a new telegram began: the end of this one was lost
                    self.discarded += k - i
                    self._drop(FRAMING)
                    i = k
                    continue
                n = self._n
                if n + stop - i > self._max:
                    self.discarded += stop - i
                    self._drop(OVERSIZE)
                    i = stop
                    continue
                self._mv[n : n + stop - i] = dv[i:stop]
                self._n = n + stop - i
                i = stop
                if j >= 0:
                    self._bang = self._n - 1
                    self._state = _CHECK
            else:  # at most "XXXX" CR LF after '!', octet by octet
                c = data[i]
                n = self._n
                if (c != _LF and c != _CR and _hexval(c) < 0) or n - self._bang > 6:
                    self._drop(FRAMING)  # not consumed: it may be the next '/'
                    continue
                if n >= self._max:
                    self._drop(OVERSIZE)
                    continue
                self._buf[n] = c
                self._n = n + 1
                i += 1
                if c == _LF:
                    t = self._finish()
                    if t is not None:
                        if out is None:
                            out = []
                        out.append(t)
        return out or ()

    def _finish(self):
        buf = self._buf
        n = self._n
        e = n - 1
        if buf[e - 1] == _CR:
            e -= 1
        v = _crc_field(buf, self._bang + 1, e)
        if v is None:
            self._drop(FRAMING)
            return None
        if (v < 0 and self.require_crc) or (v >= 0 and v != crc16(buf, 0, self._bang + 1)):
            self._drop(CRC)
            return None
        t = bytes(self._mv[:n])
        self.telegrams += 1
        self._n = 0
        self._state = _HUNT
        return t


# -- parser ------------------------------------------------------------------------

# How to read an object's value, by C.D.E of its OBIS code (P1 CS 5.0.2 for
# DSMR 5.0.2, e-MUCS H for Belgium, DSMR 2.2/3/4). Anything else: a number
# with an optional unit, or the raw text.
_NUM = const(1)  # a number (with a unit): anything else is an error
_TS = const(2)  # a timestamp
_STR = const(3)  # text as sent (versions, identifiers that are not hex)
_HEX = const(4)  # text sent as hex octets (equipment ids, text messages)
_TS_VALUE = const(5)  # (capture time)(value*unit): M-Bus readings, maximum demand
_FAILURES = const(6)  # power failure event log
_DEMAND = const(7)  # e-MUCS maximum demand of the last 13 months
_GAS_OLD = const(8)  # DSMR 2.2/3 gas, the value on the next line

_KINDS = {
    "0.2.8": _STR,  # 1-3:0.2.8 P1 version
    "96.1.4": _STR,  # e-MUCS version
    "0.0.0": _STR,  # equipment id / device address (62056-21 meters)
    "1.0.0": _TS,  # 0-0:1.0.0 date-time of the telegram
    "96.1.0": _HEX,  # equipment id (0-n: M-Bus device)
    "96.1.1": _HEX,  # equipment id (0-0: meter, 0-n: e-MUCS M-Bus device)
    "42.0.0": _HEX,  # logical device name (Luxembourg)
    "24.2.1": _TS_VALUE,  # 0-n: last M-Bus reading
    "24.2.3": _TS_VALUE,  # 0-n: e-MUCS gas reading (not temperature corrected)
    "1.6.0": _TS_VALUE,  # 1-0: e-MUCS maximum demand of the month
    "99.97.0": _FAILURES,
    "98.1.0": _DEMAND,
    "24.3.0": _GAS_OLD,
}
for _c in (
    "1.8.0 1.8.1 1.8.2 2.8.0 2.8.1 2.8.2 3.8.0 4.8.0 1.7.0 2.7.0 3.7.0 4.7.0 "
    "96.14.0 96.7.21 96.7.9 96.3.10 17.0.0 1.4.0 24.1.0 24.4.0 "
    "32.32.0 52.32.0 72.32.0 32.36.0 52.36.0 72.36.0 "
    "32.7.0 52.7.0 72.7.0 31.7.0 51.7.0 71.7.0 "
    "21.7.0 41.7.0 61.7.0 22.7.0 42.7.0 62.7.0"
).split():
    _KINDS[_c] = _NUM
del _c

# M-Bus device types (EN 13757-3, 0-n:24.1.0)
MEDIA = {2: "electricity", 3: "gas", 4: "heat", 6: "warm water", 7: "water", 12: "heat"}


class _Bad(Exception):
    pass


def _text(b):
    try:
        return b.decode()
    except UnicodeError:
        raise _Bad("not text")


def _number(s, end, exact):
    # s[:end] = [-]digits[.digits] -> (value, scaler), digit by digit: no
    # slices, and int() alone would take " 1_2"
    i = 1 if end and s[0] == 0x2D else 0
    m = 0
    sc = 0
    dot = False
    digits = 0
    for p in range(i, end):
        c = s[p]
        if 48 <= c <= 57:
            m = m * 10 + c - 48
            digits += 1
            if dot:
                sc -= 1
        elif c == 0x2E and not dot:
            dot = True
        else:
            raise _Bad("not a number")
    if not digits:
        raise _Bad("not a number")
    if i:
        m = -m
    if not dot:
        return m, 0
    if exact:
        return m, sc
    # mantissa / 10**d is correctly rounded; MicroPython's float("92.287") is not
    return m / 10 ** (-sc), sc


def _quantity(g, exact):
    # "value*unit" or "value" -> (value, scaler, unit)
    st = g.find(b"*")
    if st < 0:
        v, sc = _number(g, len(g), exact)
        return v, sc, None
    v, sc = _number(g, st, exact)
    return v, sc, _text(g[st + 1 :]) or None


def _entry(v, sc, unit, exact):
    e = {"value": v, "unit": unit}
    if exact:
        e["scaler"] = sc
    return e


def _timestamp(g):
    # YYMMDDhhmmssX (P1 CS: X = S summer, W winter; none in DSMR 2.2)
    n = len(g)
    if n == 13:
        x = g[12]
        if x == 0x53:
            dst = True
        elif x == 0x57:
            dst = False
        else:
            raise _Bad("bad timestamp")
    elif n == 12:
        dst = None
    else:
        raise _Bad("bad timestamp")
    mo = _two(g, 2)
    d = _two(g, 4)
    hh = _two(g, 6)
    mi = _two(g, 8)
    ss = _two(g, 10)
    y = _two(g, 0)
    if not (1 <= mo <= 12 and 1 <= d <= 31 and hh < 24 and mi < 60 and ss < 60):
        return None
    # YY 70-99 are 1970-1999, as C's and Python's %y: meters write the epoch,
    # 700101010000W, for a channel never read
    return ((1900 if y >= 70 else 2000) + y, mo, d, hh, mi, ss, dst)


def _two(g, p):
    a = g[p] - 48
    b = g[p + 1] - 48
    if a < 0 or a > 9 or b < 0 or b > 9:
        raise _Bad("bad timestamp")
    return a * 10 + b


def _is_timestamp(g):
    try:
        _timestamp(g)
        return True
    except _Bad:
        return False


def _hex_text(g):
    # Identifiers and messages are sent as hex octets; keep the text as sent
    # when it does not decode to printable ASCII ("00000000000000", "09610").
    if not g or len(g) & 1:
        return _text(g)
    try:
        raw = binascii.unhexlify(g)
    except ValueError:
        return _text(g)
    for c in raw:
        if c < 0x20 or c > 0x7E:
            return _text(g)
    return raw.decode()


def _count(g):
    if not g.isdigit():
        raise _Bad("bad count")
    return int(g)


# The separators of an OBIS code in order, as base-5 digits (- 1, : 2, . 3,
# * 4): A-B:C.D.E, A-B:C.D.E*F, C.D.E and C.D.E*F
_OBIS_FORMS = (193, 969, 18, 94)


def _is_obis(b):
    # each part 1..3 digits, the separators in one of the forms above
    run = 0
    form = 0
    for c in b:
        if 48 <= c <= 57:
            run += 1
            if run > 3:
                return False
            continue
        if c == 0x2D:
            k = 1
        elif c == 0x3A:
            k = 2
        elif c == 0x2E:
            k = 3
        elif c == 0x2A:
            k = 4
        else:
            return False
        if not run:
            return False
        run = 0
        form = form * 5 + k
    return run > 0 and form in _OBIS_FORMS


def _cde(key):
    # "0-1:24.2.1*255" -> "24.2.1"
    c = key.find(":")
    s = key[c + 1 :] if c >= 0 else key
    st = s.find("*")
    return s[:st] if st >= 0 else s


def _failures(groups):
    # 1-0:99.97.0(n)(0-0:96.7.19)(end time)(duration*s)...: the power failure
    # event log (P1 CS 5.0.2), as [(timestamp, seconds), ...]
    if len(groups) < 2:
        raise _Bad("bad event log")
    n = _count(groups[0]) if groups[0] else 0
    items = groups[2:]
    if n == 0 and not any(items):
        return {"value": [], "unit": "s"}
    if len(items) != 2 * n:
        raise _Bad("event count")
    out = []
    for k in range(0, 2 * n, 2):
        v, _, unit = _quantity(items[k + 1], False)
        if unit not in (None, "s"):
            raise _Bad("event unit")
        out.append((_timestamp(items[k]), v))
    return {"value": out, "unit": "s"}


def _demand(groups):
    # 0-0:98.1.0(n)(1-0:1.6.0)(1-0:1.6.0)(month)(peak time)(kW)...: e-MUCS
    # maximum demand of the last 13 months, [(month, peak time, kW), ...].
    # None when the line has another layout (E.ON Hungary sends a billing
    # snapshot under the same code): the caller keeps that as text.
    if len(groups) < 3 or not groups[0].isdigit() or not _is_obis(groups[1]):
        return None
    n = int(groups[0])
    items = groups[3:]
    if n == 0 and not any(items):
        return {"value": [], "unit": None}
    if len(items) != 3 * n:
        raise _Bad("demand count")
    out = []
    unit = None
    for k in range(0, 3 * n, 3):
        v, _, unit = _quantity(items[k + 2], False)
        out.append((_timestamp(items[k]), _timestamp(items[k + 1]), v))
    return {"value": out, "unit": unit}


def _gas_old(groups, exact):
    # DSMR 2.2/3 0-n:24.3.0(time)(status)(period)(count)(0-n:24.2.1)(unit) and
    # the values in the next groups, usually on the next line
    if len(groups) < 6:
        raise _Bad("bad gas profile")
    n = _count(groups[3])
    items = groups[6:]
    if len(items) != n or not n:
        raise _Bad("gas value count")
    vals = [_number(g, len(g), exact) for g in items]
    v = vals[0][0] if n == 1 else [x[0] for x in vals]
    e = _entry(v, vals[0][1], _text(groups[5]) or None, exact)
    e["timestamp"] = _timestamp(groups[0])
    return e


def _interpret(cde, groups, rest, exact):
    kind = _KINDS.get(cde)
    if kind is None and (cde.startswith("96.1.") or cde.startswith("96.13.")):
        # equipment identifiers (96.1.0-.9, e.g. Sagemcom's 96.1.2 serial)
        # and text messages (96.13.0, .1, Lux .2-.5): text, sent as hex
        # octets or as is, never a number
        kind = _HEX
    ng = len(groups)
    if kind == _FAILURES:
        return _failures(groups)
    if kind == _GAS_OLD:
        return _gas_old(groups, exact)
    if kind == _DEMAND:
        e = _demand(groups)
        if e is not None:
            return e
        kind = None
    if ng == 1:
        g = groups[0]
        if kind == _TS:
            return {"value": _timestamp(g), "unit": None}
        if kind == _STR:
            return {"value": _text(g), "unit": None}
        if kind == _HEX:
            return {"value": _hex_text(g), "unit": None}
        if kind == _NUM or kind == _TS_VALUE:
            return _entry(*_quantity(g, exact), exact)
        if kind is None:
            try:
                return _entry(*_quantity(g, exact), exact)
            except _Bad:
                return {"value": _text(g), "unit": None}
    elif ng == 2 and (kind == _TS_VALUE or (kind is None and _is_timestamp(groups[0]))):
        try:
            e = _entry(*_quantity(groups[1], exact), exact)
        except _Bad:
            if kind is not None:
                raise
            return {"value": _text(rest), "unit": None}
        e["timestamp"] = _timestamp(groups[0])
        return e
    if kind is not None:
        raise _Bad("unexpected values")
    return {"value": _text(rest), "unit": None}


def _parse_line(line, values, errors, exact):
    p = line.find(b"(")
    k = p
    while k > 0 and line[k - 1] == 0x20:
        k -= 1
    key = line[:k] if k > 0 else b""
    if not key or not _is_obis(key):
        errors.append((_shown(line), "no OBIS code"))
        return
    groups = []
    q = p
    n = len(line)
    while q < n:
        c = line[q]
        if c == _OPEN:
            r = line.find(b")", q + 1)
            if r < 0 or line.find(b"(", q + 1, r) >= 0:
                errors.append((_shown(line), "unbalanced parentheses"))
                return
            groups.append(line[q + 1 : r])
            q = r + 1
        elif c == _CR or c == _LF or c == 0x20:
            q += 1
        else:
            errors.append((_shown(line), "text between values"))
            return
    k = key.decode()
    try:
        values[k] = _interpret(_cde(k), groups, line[p:], exact)
    except _Bad as e:
        errors.append((_shown(line), e.args[0]))


def _shown(line):
    # the start of a bad line, for the errors list
    try:
        return line[:48].decode()
    except UnicodeError:
        return str(line[:48])


def parse(telegram, exact=False):
    """The contents of one telegram (bytes or str) as a dict::

        {"header": "ISk5\\\\2MT382-1000",   # the identification line after '/'
         "manufacturer": "ISk",           # its three-letter flag
         "identification": "MT382-1000",  # what follows the baud rate character
         "timestamp": (2017, 1, 2, 19, 20, 2, False),   # 0-0:1.0.0, or None
         "crc": "6EEE",                   # as sent, None when there is none
         "values": {"1-0:1.8.1": {"value": 4.426, "unit": "kWh"}, ...},
         "errors": [(line, reason), ...]}

    The CRC is not checked here (the framers do that, or ``check_telegram``).
    """
    t = telegram.encode() if isinstance(telegram, str) else telegram
    values = {}
    errors = []
    res = {
        "header": None,
        "manufacturer": None,
        "identification": None,
        "timestamp": None,
        "crc": None,
        "values": values,
        "errors": errors,
    }
    n = len(t)
    s = t.find(b"/")
    if s < 0:
        errors.append(("", "no header"))
        return res
    e = t.find(b"\n", s)
    if e < 0:
        e = n
    try:
        header = t[s + 1 : e].strip().decode()
    except UnicodeError:
        header = ""
        errors.append(("", "no header"))
    res["header"] = header
    res["manufacturer"] = header[:3]
    ident = header[4:]
    res["identification"] = ident[2:] if ident[:1] == "\\" else ident
    pos = e + 1
    while pos < n:
        e = t.find(b"\n", pos)
        if e < 0:
            e = n
        while e + 1 < n and t[e + 1] == _OPEN:  # DSMR 2.2/3: a value on the next line
            e = t.find(b"\n", e + 1)
            if e < 0:
                e = n
        a = pos
        b = e
        pos = e + 1
        while b > a and (t[b - 1] == _CR or t[b - 1] == 0x20):
            b -= 1
        while a < b and t[a] == 0x20:
            a += 1
        if a == b:
            continue
        if t[a] == _BANG:
            res["crc"] = _shown(t[a + 1 : b]) or None
            break
        _parse_line(t[a:b], values, errors, exact)
    ts = values.get("0-0:1.0.0")
    if ts is not None:
        res["timestamp"] = ts["value"]
    return res


def mbus_devices(values):
    """The M-Bus devices in ``parse(...)["values"]``, by channel n of 0-n:...::

    {1: {"type": 3, "medium": "gas", "id": "...", "value": 12785.123,
         "unit": "m3", "timestamp": (...)}}

    from 0-n:24.1.0 (device type), 0-n:96.1.0 / 96.1.1 (equipment id) and
    0-n:24.2.1 / 24.2.3 / 24.3.0 (reading); keys a telegram lacks are None.
    """
    out = {}
    for k, e in values.items():
        c = k.find(":")
        if not k.startswith("0-") or c < 3 or not k[2:c].isdigit() or k[2:c] == "0":
            continue
        cde = _cde(k)
        if cde not in ("24.1.0", "96.1.0", "96.1.1", "24.2.1", "24.2.3", "24.3.0"):
            continue
        ch = int(k[2:c])
        d = out.get(ch)
        if d is None:
            d = out[ch] = {
                "type": None,
                "medium": None,
                "id": None,
                "value": None,
                "unit": None,
                "timestamp": None,
            }
        if cde == "24.1.0":
            d["type"] = e["value"]
            d["medium"] = MEDIA.get(e["value"])
        elif cde == "96.1.0" or cde == "96.1.1":
            d["id"] = e["value"]
        else:
            d["value"] = e["value"]
            d["unit"] = e["unit"]
            d["timestamp"] = e.get("timestamp")
    return out


def iso(ts, cet=False):
    """A timestamp tuple as ISO 8601 local time ("2010-12-09T11:30:20"); with
    ``cet`` and a known dst flag, the Central European offset is appended
    (+01:00 for W, +02:00 for S: the zone of every P1 country so far)."""
    if ts is None:
        return None
    s = "%04d-%02d-%02dT%02d:%02d:%02d" % ts[:6]
    if cet and ts[6] is not None:
        s += "+02:00" if ts[6] else "+01:00"
    return s


# -- encrypted P1 (Luxembourg Smarty) --------------------------------------------------


def _frame_length(buf, n, limit):
    # Total length of the frame whose first n octets are buf[:n]: 0 while the
    # header is incomplete, -1 if it cannot start a frame, -2 if longer than limit
    if n < 2:
        return 0
    if buf[1] != _TITLE_LEN:
        return -1
    if n < 11:
        return 0
    t = buf[10]  # A-XDR length of the rest: short form, or 0x81 / 0x82 + octets
    if t < 0x80:
        h = 11
        length = t
    elif t == 0x81:
        if n < 12:
            return 0
        h = 12
        length = buf[11]
    elif t == 0x82:
        if n < 13:
            return 0
        h = 13
        length = (buf[11] << 8) | buf[12]
    else:
        return -1
    if length < 5 + _TAG_LEN:
        return -1
    if n <= h:
        return 0
    if buf[h] != _SC:
        return -1
    if h + length > limit:
        return -2
    return h + length


def _header_len(frame):
    t = frame[10]
    return 11 if t < 0x80 else (12 if t == 0x81 else 13)


class EncryptedFramer:
    """Whole encrypted P1 frames (0xDB ...) out of a byte stream, by the length
    in their header. ``feed(data)`` returns the completed frames (bytearrays,
    decrypted in place by ``decrypt_frame``), an empty tuple most of the time.
    A header that cannot be one (title length not 8, bad length form, security
    control not 0x30) counts as FRAMING and the search restarts at the next 0xDB
    after its first octet; a frame over ``max_size`` counts as OVERSIZE."""

    def __init__(self, max_size=MAX_TELEGRAM, errors=None):
        self._buf = bytearray(max_size)
        self._mv = memoryview(self._buf)
        self._max = max_size
        self._n = 0
        self._total = 0  # 0 until the header is complete
        self.frames = 0
        self.discarded = 0
        self.errors = errors if errors is not None else {FRAMING: 0, OVERSIZE: 0}
        self.last_error = None

    def reset(self):
        """Drop a partial frame: call when the line was idle."""
        self.discarded += self._n
        self._n = 0
        self._total = 0

    def _resync(self, reason):
        self.errors[reason] += 1
        self.last_error = reason
        buf = self._buf
        n = self._n
        while True:  # the header octets read so far may hold the next start
            k = buf.find(b"\xdb", 1, n)
            if k < 0:
                self.discarded += n
                self._n = 0
                return
            self.discarded += k
            buf[0 : n - k] = buf[k:n]
            n -= k
            t = _frame_length(buf, n, self._max)
            if t >= 0:
                self._n = n
                self._total = t
                return

    def feed(self, data):
        if isinstance(data, memoryview):
            data = bytes(data)
        dv = memoryview(data)
        out = None
        i = 0
        end = len(data)
        while i < end:
            n = self._n
            if n == 0:
                j = data.find(b"\xdb", i)
                if j < 0:
                    self.discarded += end - i
                    break
                self.discarded += j - i
                self._buf[0] = _GLO
                self._n = 1
                self._total = 0
                i = j + 1
            elif self._total == 0:  # the header, octet by octet (at most 14)
                self._buf[n] = data[i]
                self._n = n + 1
                i += 1
                t = _frame_length(self._buf, n + 1, self._max)
                if t < 0:
                    self._resync(FRAMING if t == -1 else OVERSIZE)
                else:
                    self._total = t
            else:
                k = self._total - n
                if k > end - i:
                    k = end - i
                self._mv[n : n + k] = dv[i : i + k]
                self._n = n + k
                i += k
                if self._n == self._total:
                    if out is None:
                        out = []
                    out.append(bytearray(self._mv[: self._n]))
                    self.frames += 1
                    self._n = 0
                    self._total = 0
        return out or ()


class FrameCounters:
    """The last authenticated frame counter of each meter (system title).

    The caller keeps one for the life of the gateway (and may persist
    ``last()`` values and ``accept()`` them back after a reboot). A frame whose
    counter is not above the last one is a replay or a rollback. At most
    ``max_titles`` meters are remembered (a P1 port has one).
    """

    def __init__(self, max_titles=4):
        self._last = {}
        self._max = max_titles

    def last(self, title):
        return self._last.get(bytes(title))

    def is_stale(self, title, counter):
        last = self._last.get(bytes(title))
        return last is not None and counter <= last

    def accept(self, title, counter):
        title = bytes(title)
        d = self._last
        if title not in d and len(d) >= self._max:
            d.pop(next(iter(d)))
        d[title] = counter


def frame_header(frame):
    """(system title, frame counter) of a whole encrypted frame; P1Error(FRAMING)
    if it is not one."""
    n = len(frame)
    if n < 1 or frame[0] != _GLO or _frame_length(frame, n, n) != n:
        raise P1Error(FRAMING)
    h = _header_len(frame)
    return bytes(frame[2:10]), int.from_bytes(frame[h + 1 : h + 5], "big")


def decrypt_frame(frame, gcm, counters=None, ak=SMARTY_AK, check_crc=False):
    """The plaintext telegram (bytes) of one encrypted frame.

    ``gcm`` is a ``dlms.security.gcm.Gcm`` under the meter's key; a bytearray
    frame is decrypted in place. With ``counters`` (FrameCounters) a stale
    frame counter is refused before decrypting and an authenticated one
    recorded. The plaintext must be one telegram (``/`` .. ``!`` CRC CR LF);
    its CRC is only checked with ``check_crc``: the GCM tag already proves
    every octet, and the one public Smarty frame with its key carries a CRC
    that does not match its plaintext (host_tests/data/dsmr/README.md).
    Raises P1Error with reason FRAMING, STALE, TAG or CRC.
    """
    from dlms.security.gcm import AuthenticationError

    title, fc = frame_header(frame)
    if counters is not None and counters.is_stale(title, fc):
        raise P1Error(STALE)
    h = _header_len(frame)
    n = len(frame)
    start = h + 5
    end = n - _TAG_LEN
    buf = frame if isinstance(frame, bytearray) else bytearray(frame)
    iv = title + bytes(frame[h + 1 : start])
    try:
        gcm.decrypt_into(iv, b"\x30" + ak, buf, start, end, bytes(frame[end:]))
    except AuthenticationError:
        raise P1Error(TAG)
    if counters is not None:
        counters.accept(title, fc)  # authentic, whatever the plaintext holds
    t = bytes(memoryview(buf)[start:end])
    r = check_telegram(t)
    if r == FRAMING or (r == CRC and check_crc):
        raise P1Error(r)
    return t


class SmartyReader:
    """Encrypted P1 in, plaintext telegrams out: ``feed(data)`` returns the
    telegrams (bytes, authenticated) completed by ``data``; ``parse()`` them.

    ``key`` is the meter's 16-octet GUEK (from the grid operator), ``ak`` the
    authentication key (Smarty's is fixed). ``errors`` counts every dropped
    frame by reason (FRAMING, OVERSIZE, CRC, TAG, STALE); ``counters`` is the
    caller's FrameCounters (a new one if not given). ``check_crc``: see
    ``decrypt_frame``.
    """

    def __init__(self, key, counters=None, ak=SMARTY_AK, max_size=MAX_TELEGRAM, check_crc=False):
        # imported here: a gateway reading plain P1 never loads the GCM code
        from dlms.security.gcm import Gcm

        self._gcm = Gcm(key)
        self._ak = bytes(ak)
        self.counters = counters if counters is not None else FrameCounters()
        self.errors = {FRAMING: 0, OVERSIZE: 0, CRC: 0, TAG: 0, STALE: 0}
        self.framer = EncryptedFramer(max_size, self.errors)
        self.check_crc = check_crc
        self.telegrams = 0
        self.last_error = None

    def reset(self):
        """Drop a partial frame: call when the line was idle."""
        self.framer.reset()

    def feed(self, data):
        out = None
        for f in self.framer.feed(data):
            try:
                t = decrypt_frame(f, self._gcm, self.counters, self._ak, self.check_crc)
            except P1Error as e:
                self.errors[e.reason] += 1
                self.last_error = e.reason
                continue
            self.telegrams += 1
            if out is None:
                out = []
            out.append(t)
        if self.framer.last_error is not None:
            self.last_error = self.framer.last_error
            self.framer.last_error = None
        return out or ()
