"""HDLC frames of IEC 62056-46 (frame format type 3), sans-IO.

A frame on the wire (62056-46, frame format type 3)::

    7E | format (2) | dest (1, 2, 4) | src (1, 2, 4) | control | [HCS (2) | info] | FCS (2) | 7E

- format: type 3 (0xA) in the top nibble, the segmentation bit S (bit 11) and an
  11-bit length = the octets between the two flags.
- HCS (over format..control) only when there is an information field; FCS over
  everything between the flags. Both are CRC-16/X.25 (``dlms.crc.fcs16``),
  low byte first on the wire.
- There is no octet stuffing in 62056-46: 0x7E occurs inside frames, so frames
  are delimited by the length field, never by scanning for flags (``Framer``).

Addresses are passed to the encoder as already-encoded bytes
(``encode_address``: the link layer computes its own two once per association)
and come out of the decoder as tuples ``(upper, lower, size)``: upper = logical
device (or the client address), lower = physical device, ``None`` when the
address is one byte. Control fields are bytes (``control``) and decode to
``(kind, nr, ns, pf)`` where kind is the control byte with N(R), N(S) and P/F
masked out: one of the kind constants below, or any other value for a command
62056-46 does not define (the link layer answers those with FRMR).

Decoding helpers raise only ``DecodeError``; ``Framer`` never raises on input.
"""

from micropython import const

from dlms.crc import fcs16
from dlms.errors import BufferFull, DecodeError

_FLAG = const(0x7E)
_TYPE3 = const(0xA0)  # frame format type 3 in the top nibble of the first octet
_SEGMENTED = const(0x08)  # S bit: bit 11 of the format field
_MIN_LENGTH = const(7)  # format 2 + dest 1 + src 1 + control 1 + FCS 2
_MAX_HEADER = const(14)  # flag + format 2 + dest 4 + src 4 + control + HCS 2
MAX_LENGTH = const(0x7FF)  # the 11-bit length field
MAX_FRAME = const(2049)  # MAX_LENGTH plus both flags
OVERHEAD = const(17)  # flags 2, format 2, addresses 4 + 4, control, HCS 2, FCS 2

# Control field kinds (62056-46, control field): the control byte with N(R), N(S), P/F zero.
I_FRAME = const(0x00)
RR = const(0x01)
RNR = const(0x05)
SNRM = const(0x83)
DISC = const(0x43)
UA = const(0x63)
DM = const(0x0F)
FRMR = const(0x87)
UI = const(0x03)
_PF = const(0x10)

# Special HDLC addresses (62056-46, addressing). ALL_STATION is the upper or lower
# address 0x7F in one- and two-byte addresses; ALL_STATION_4 is 0x3FFF in
# four-byte ones. CALLING is the physical address a server puts in
# event-notification frames it sends unasked.
NO_STATION = const(0x00)
ALL_STATION = const(0x7F)
ALL_STATION_4 = const(0x3FFF)
CALLING = const(0x7E)
CALLING_4 = const(0x3FFE)
MANAGEMENT_LOGICAL_DEVICE = const(0x01)
PUBLIC_CLIENT = const(0x10)

# LLC header of the information field (62056-46, LLC sub-layer): the
# destination LSAP E6, the source LSAP E6 (command) or E7 (response), quality 0.
LLC_COMMAND = b"\xe6\xe6\x00"  # client -> server
LLC_RESPONSE = b"\xe6\xe7\x00"  # server -> client

# SNRM / UA information field (62056-46 6.4.4.4.3.2).
_FORMAT_ID = const(0x81)
_GROUP_ID = const(0x80)
_MAX_INFO_TX = const(0x05)
_MAX_INFO_RX = const(0x06)
_WINDOW_TX = const(0x07)
_WINDOW_RX = const(0x08)
DEFAULT_MAX_INFO = const(128)
DEFAULT_WINDOW = const(1)

# Results of _check(); 0 is a good frame.
_E_FORMAT = const(1)
_E_HCS = const(2)
_E_FCS = const(3)
_E_SHORT = const(4)
_E_TYPE = const(5)


# --- addresses ---------------------------------------------------------------


def encode_address(upper, lower=None, size=0):
    """The address octets of ``(upper, lower)``, in ``size`` bytes (1, 2 or 4).

    ``size`` 0 picks the smallest: one byte when there is no lower address and
    upper < 0x80, two bytes when both are < 0x80, else four (both < 0x4000).
    A client address is ``encode_address(client)``.
    """
    if lower is None:
        lower = 0
        if size == 0 and upper < 0x80:
            size = 1
    elif size == 1:
        raise ValueError("a one-byte address has no lower address")
    if size == 0:
        size = 2 if upper < 0x80 and lower < 0x80 else 4
    if size == 1:
        if not 0 <= upper < 0x80:
            raise ValueError("address out of range")
        return bytes(((upper << 1) | 1,))
    if size == 2:
        if not (0 <= upper < 0x80 and 0 <= lower < 0x80):
            raise ValueError("address out of range")
        return bytes((upper << 1, (lower << 1) | 1))
    if size != 4 or not (0 <= upper < 0x4000 and 0 <= lower < 0x4000):
        raise ValueError("address out of range")
    return bytes(
        ((upper >> 7) << 1, (upper & 0x7F) << 1, (lower >> 7) << 1, ((lower & 0x7F) << 1) | 1)
    )


def _address_size(buf, i, limit):
    # The extension bit (bit 0) is 1 on the last octet; 3 octets is no size.
    n = 0
    while i < limit:
        n += 1
        if buf[i] & 1:
            return 0 if n == 3 else n
        if n == 4:
            return 0
        i += 1
    return 0


def _address(buf, i, n):
    if n == 1:
        return (buf[i] >> 1, None, 1)
    if n == 2:
        return (buf[i] >> 1, buf[i + 1] >> 1, 2)
    return (
        ((buf[i] >> 1) << 7) | (buf[i + 1] >> 1),
        ((buf[i + 2] >> 1) << 7) | (buf[i + 3] >> 1),
        4,
    )


def decode_address(data, pos=0):
    """``(upper, lower, size)`` of the address at ``pos``; lower is None for one byte."""
    n = _address_size(data, pos, len(data))
    if n == 0:
        raise DecodeError("HDLC address not 1, 2 or 4 octets", pos)
    return _address(data, pos, n)


# --- control field -----------------------------------------------------------


def control(kind, nr=0, ns=0, pf=True):
    """The control byte: N(R) for I, RR, RNR; N(S) for I; the P/F bit for all."""
    c = kind | (_PF if pf else 0)
    if kind & 1 == 0:  # I frame
        return c | ((nr & 7) << 5) | ((ns & 7) << 1)
    if kind & 3 == 1:  # S frame
        return c | ((nr & 7) << 5)
    return c


def decode_control(c):
    """``(kind, nr, ns, pf)`` of a control byte (never raises; see the module doc)."""
    pf = bool(c & _PF)
    if c & 1 == 0:
        return (I_FRAME, c >> 5, (c >> 1) & 7, pf)
    if c & 3 == 1:
        return (c & 0x0F, c >> 5, 0, pf)
    return (c & 0xEF, 0, 0, pf)


# --- frames ------------------------------------------------------------------


class Frame:
    """One received frame.

    ``segmented`` (S bit), ``length`` (octets between the flags), ``dest`` and
    ``src`` as ``(upper, lower, size)``, ``control`` (the byte) and its
    ``kind``, ``nr``, ``ns``, ``pf``, and ``info``: a memoryview of the
    information field (empty when there is none). From ``Framer`` it points into
    the framer's buffer and stays valid until the next ``receive_data()`` or
    ``reset()``: copy it with ``bytes(frame.info)`` to keep it.
    """

    __slots__ = ("segmented", "length", "dest", "src", "control", "kind", "nr", "ns", "pf", "info")

    def __init__(self, buf, pos, length):
        # buf (a memoryview) holds at pos the opening flag of a frame that
        # _check() passed.
        p = pos + 1
        self.segmented = bool(buf[p] & _SEGMENTED)
        self.length = length
        p += 2
        n = _address_size(buf, p, pos + length)
        self.dest = _address(buf, p, n)
        p += n
        n = _address_size(buf, p, pos + length)
        self.src = _address(buf, p, n)
        p += n
        c = buf[p]
        self.control = c
        self.kind, self.nr, self.ns, self.pf = decode_control(c)
        end = pos + length - 1  # the FCS
        p += 3 if p + 1 < end else 1  # control, and the HCS if there is info
        self.info = buf[p:end]

    def __repr__(self):
        return "Frame(dest=%r, src=%r, control=0x%02X, segmented=%r, info=%d octets)" % (
            self.dest,
            self.src,
            self.control,
            self.segmented,
            len(self.info),
        )


def _header_length(buf, p, limit):
    # Format + addresses + control from the format field at p; 0 if malformed.
    # limit is where the FCS starts: the control byte must lie before it.
    q = p + 2
    n = _address_size(buf, q, limit)
    if n == 0:
        return 0
    q += n
    n = _address_size(buf, q, limit)
    if n == 0 or q + n >= limit:
        return 0
    return q + n + 1 - p


def _check(buf, s, length, have):
    # Checks the frame whose opening flag is at buf[s], the format field
    # promising ``length``, with ``have`` octets buffered from s. Returns 0
    # for a good frame, _E_SHORT when more octets are needed to tell, else
    # the error. The header (and its HCS) is checked as soon as it is in, so
    # a false flag in noise is rejected without waiting for its length.
    if have < length + 2 and have < _MAX_HEADER:
        return _E_SHORT
    p = s + 1
    hl = _header_length(buf, p, p + length - 2)
    if hl == 0:
        return _E_FORMAT
    if length > hl + 2:  # an information field, so an HCS
        if length < hl + 5:
            return _E_FORMAT
        h = fcs16(buf, p, p + hl)
        if buf[p + hl] != h & 0xFF or buf[p + hl + 1] != h >> 8:
            return _E_HCS
    if have < length + 2:
        return _E_SHORT
    if buf[s + length + 1] != _FLAG:
        return _E_FORMAT
    f = fcs16(buf, p, s + length - 1)
    if buf[s + length - 1] != f & 0xFF or buf[s + length] != f >> 8:
        return _E_FCS
    return 0


def _try(buf, s, e, max_frame):
    # The frame at the flag buf[s] with buf[s:e] held: its length if it is
    # good, else minus _E_SHORT (need more), _E_TYPE (no type-3 format
    # field: not a frame start at all), _E_FORMAT, _E_HCS or _E_FCS.
    if e - s < 3:
        return -_E_SHORT
    f0 = buf[s + 1]
    if f0 & 0xF0 != _TYPE3:
        return -_E_TYPE
    length = ((f0 & 7) << 8) | buf[s + 2]
    if length < _MIN_LENGTH or length + 2 > max_frame:
        return -_E_FORMAT
    r = _check(buf, s, length, e - s)
    return -r if r else length


def decode_frame(data):
    """The ``Frame`` in ``data``, one whole frame from opening to closing flag."""
    n = len(data)
    if n < _MIN_LENGTH + 2 or data[0] != _FLAG:
        raise DecodeError("not an HDLC frame", 0)
    if data[1] & 0xF0 != _TYPE3:
        raise DecodeError("frame format is not type 3", 1)
    length = ((data[1] & 7) << 8) | data[2]
    if length + 2 != n:
        raise DecodeError("frame length field says %d octets" % length, 1)
    e = _check(data, 0, length, n)
    if e == _E_HCS:
        raise DecodeError("wrong HCS", 1)
    if e == _E_FCS:
        raise DecodeError("wrong FCS", n - 3)
    if e:
        raise DecodeError("malformed HDLC frame", 1)
    return Frame(memoryview(data), 0, length)


def encode_frame(out, pos, dest, src, control, info=b"", segmented=False):
    """Write one frame into ``out`` (bytearray or memoryview) at ``pos``.

    ``dest`` and ``src`` are encoded addresses (``encode_address``),
    ``control`` a control byte (``control()``). Returns the position after the
    closing flag. BufferFull if ``out`` is too short, ValueError if the frame
    is longer than the 11-bit length field.
    """
    n = len(info)
    hl = 3 + len(dest) + len(src)
    length = hl + 2 + (n + 2 if n else 0)
    if length > MAX_LENGTH:
        raise ValueError("HDLC frame over 2047 octets")
    end = pos + length + 2
    if end > len(out):
        raise BufferFull("HDLC frame of %d octets" % (length + 2))
    out[pos] = _FLAG
    p = pos + 1
    out[p] = _TYPE3 | (_SEGMENTED if segmented else 0) | (length >> 8)
    out[p + 1] = length & 0xFF
    q = p + 2
    out[q : q + len(dest)] = dest
    q += len(dest)
    out[q : q + len(src)] = src
    q += len(src)
    out[q] = control
    q += 1
    if n:
        h = fcs16(out, p, q)
        out[q] = h & 0xFF
        out[q + 1] = h >> 8
        q += 2
        out[q : q + n] = info
        q += n
    f = fcs16(out, p, q)
    out[q] = f & 0xFF
    out[q + 1] = f >> 8
    out[q + 2] = _FLAG
    return end


def encode(dest, src, control, info=b"", segmented=False):
    """bytes of one frame (see ``encode_frame``)."""
    n = len(info)
    out = bytearray(7 + len(dest) + len(src) + (n + 2 if n else 0))
    encode_frame(out, 0, dest, src, control, info, segmented)
    return bytes(out)


def frame_size(max_info):
    """The longest frame on the wire (flags included) for a maximum info length."""
    return min(max_info + OVERHEAD, MAX_FRAME)


# --- LLC ---------------------------------------------------------------------


def has_llc(info, llc=LLC_COMMAND):
    """True if ``info`` starts with the LLC header ``llc``."""
    return len(info) >= 3 and info[0] == llc[0] and info[1] == llc[1] and info[2] == llc[2]


def strip_llc(info, llc=LLC_COMMAND):
    """``info`` after its LLC header; DecodeError if it does not start with ``llc``."""
    if not has_llc(info, llc):
        raise DecodeError("no LLC header", 0)
    return info[3:]


# --- SNRM / UA parameters ----------------------------------------------------


def _value_size(v):
    if v < 0x100:
        return 1
    if v < 0x10000:
        return 2
    return 4


def encode_parameters(
    max_info_tx=DEFAULT_MAX_INFO,
    max_info_rx=DEFAULT_MAX_INFO,
    window_tx=DEFAULT_WINDOW,
    window_rx=DEFAULT_WINDOW,
    sizes=None,
    omit_defaults=False,
):
    """The information field of an SNRM or UA carrying the four parameters.

    Values are the sender's: max info length and window size it transmits and
    receives. ``sizes`` is a 4-tuple of value sizes in octets (1, 2 or 4; 0 =
    the smallest that holds the value, the default for all). With
    ``omit_defaults`` parameters equal to the defaults (128, 128, 1, 1) are left
    out, and b"" is returned when all are. Gurux's UA writes the windows in 4
    octets: ``sizes=(0, 0, 4, 4)``.
    """
    values = (max_info_tx, max_info_rx, window_tx, window_rx)
    defaults = (DEFAULT_MAX_INFO, DEFAULT_MAX_INFO, DEFAULT_WINDOW, DEFAULT_WINDOW)
    out = bytearray(3 + 4 * 6)
    out[0] = _FORMAT_ID
    out[1] = _GROUP_ID
    p = 3
    for i in range(4):
        v = values[i]
        if omit_defaults and v == defaults[i]:
            continue
        n = sizes[i] if sizes else 0
        if n == 0:
            n = _value_size(v)
        if n not in (1, 2, 4) or v < 0 or v >= 1 << (8 * n):
            raise ValueError("HDLC parameter value or size")
        out[p] = _MAX_INFO_TX + i
        out[p + 1] = n
        p += 2
        for k in range(n):
            out[p + k] = (v >> (8 * (n - 1 - k))) & 0xFF
        p += n
    if p == 3 and omit_defaults:
        return b""
    out[2] = p - 3
    return bytes(out[:p])


def decode_parameters(info):
    """``(max_info_tx, max_info_rx, window_tx, window_rx)`` from an SNRM/UA info field.

    The values are the sender's (the receiver swaps tx and rx); absent
    parameters, or an empty field, give the defaults 128, 128, 1, 1. Values of
    1 to 4 octets are accepted and unknown parameters skipped.
    """
    values = [DEFAULT_MAX_INFO, DEFAULT_MAX_INFO, DEFAULT_WINDOW, DEFAULT_WINDOW]
    n = len(info)
    if n == 0:
        return tuple(values)
    if n < 3 or info[0] != _FORMAT_ID or info[1] != _GROUP_ID:
        raise DecodeError("not an HDLC parameter field", 0)
    end = 3 + info[2]
    if end > n:
        raise DecodeError("HDLC parameter group longer than the field", 2)
    p = 3
    while p < end:
        if p + 2 > end:
            raise DecodeError("HDLC parameter truncated", p)
        pid = info[p]
        size = info[p + 1]
        if size < 1 or size > 4 or p + 2 + size > end:
            raise DecodeError("HDLC parameter length %d" % size, p + 1)
        v = 0
        for k in range(size):
            v = (v << 8) | info[p + 2 + k]
        if _MAX_INFO_TX <= pid <= _WINDOW_RX:
            values[pid - _MAX_INFO_TX] = v
        p += 2 + size
    return tuple(values)


# --- receiving ---------------------------------------------------------------


class Window:
    """Received octets ``buf[_start:_end]`` in a bounded buffer; those before
    ``_stale`` came before a time-out. ``_compact()`` moves them to the front.
    The base of the HDLC ``Framer`` and of gateway.han's ``ApduReader``."""

    def __init__(self, capacity):
        self._buf = bytearray(capacity)
        self._mv = memoryview(self._buf)
        self._start = self._end = self._stale = 0

    def _compact(self):
        s = self._start
        if s:
            n = self._end - s
            self._mv[0:n] = self._mv[s : self._end]
            self._start = 0
            self._end = n
            self._stale = self._stale - s if self._stale > s else 0


class Framer(Window):
    """Whole frames out of a serial byte stream, in a bounded buffer.

    ``receive_data(chunk)``, then ``next_frame()`` until it returns None. A
    frame starts at a flag whose format field is type 3; it is taken when the
    octet ``length + 1`` after the flag is a flag and the HCS and FCS are
    right. Anything else drops that one flag and the search resumes at the
    next 0x7E, so a frame after garbage, a truncated frame or a false flag in
    the data is still found. A closing flag may open the next frame. A start
    whose header is not all in yet is given up when a whole good frame
    follows it, so noise just before a frame does not hold the frame back.

    ``max_frame`` is the longest frame accepted, flags included (see
    ``frame_size``); ``capacity`` the buffer (default ``max_frame + 256``).
    After ``next_frame()`` has returned None at most ``max_frame - 1`` octets
    are held, so a chunk of up to ``capacity - max_frame + 1`` octets is never
    lost. Beyond that the oldest octets are dropped (counted in ``overflows``).

    Counters: ``frames`` delivered; ``hcs_errors``, ``fcs_errors``;
    ``format_errors``: other type-3 starts that were no frame (length out of
    range, bad address, no closing flag, cut short); ``dropped``: octets
    discarded outside good frames, other than repeated flags (overflows
    included); ``overflows``: octets dropped for want of room.

    The inter-octet timeout (IEC HDLC setup, class 23, attribute 7) is the
    link layer's: while ``pending()`` is non-zero a frame is coming in; when
    the line has been quiet too long it calls ``timeout()``.
    """

    def __init__(self, max_frame=MAX_FRAME, capacity=0):
        if max_frame > MAX_FRAME or max_frame < _MIN_LENGTH + 2:
            raise ValueError("max_frame")
        if capacity < max_frame:
            capacity = max_frame + 256
        self.max_frame = max_frame
        super().__init__(capacity)
        self._ready = 0  # length of the checked frame at _start, 0 if none
        self._stale = 0  # octets before this index arrived before a timeout
        self.frames = 0
        self.hcs_errors = 0
        self.fcs_errors = 0
        self.format_errors = 0
        self.dropped = 0
        self.overflows = 0

    def receive_data(self, data):
        n = len(data)
        if n == 0:
            return
        cap = len(self._buf)
        if self._end + n > cap:
            self._compact()
            if self._end + n > cap:
                self._scan()  # drop what cannot start a frame
                self._compact()
                if self._end + n > cap:
                    # Still no room: lose the oldest octets.
                    if n > cap:
                        lost = self._end + n - cap
                        self._end = self._stale = 0
                        data = memoryview(data)[n - cap :]
                        n = cap
                    else:
                        lost = self._end + n - cap
                        self._start = lost
                        self._compact()
                    self._ready = 0
                    self.overflows += lost
                    self.dropped += lost
        e = self._end
        self._mv[e : e + n] = data
        self._end = e + n

    def next_frame(self):
        """The next good ``Frame``, or None when more octets are needed."""
        length = self._scan()
        if not length:
            return None
        s = self._start
        f = Frame(self._mv, s, length)
        self.frames += 1
        self._start = s + length + 1  # keep the closing flag: it may open the next
        self._ready = 0
        return f

    def pending(self):
        """Octets held beyond a lone flag: non-zero while a frame is coming in."""
        n = self._end - self._start
        if n == 1 and self._buf[self._start] == _FLAG:
            return 0
        return n

    def space(self):
        """Octets ``receive_data()`` takes now without dropping any."""
        return len(self._buf) - (self._end - self._start)

    def timeout(self):
        """The inter-octet timeout expired: abandon any frame not yet whole.

        Octets held now can no longer complete a frame; whole frames among
        them are still returned by ``next_frame()``.
        """
        self._stale = self._end
        self._scan()

    def reset(self):
        """Discard everything held (a new connection, a baud rate change)."""
        self.dropped += self.pending()
        self._start = self._end = self._ready = self._stale = 0

    def _scan(self):
        # Advance _start to a frame start; returns the frame's length when a
        # whole good frame is there, 0 when more octets are needed.
        if self._ready:
            return self._ready
        buf = self._buf
        e = self._end
        s = self._start
        mf = self.max_frame
        while True:
            if s >= e:
                self._start = self._end = self._stale = 0
                return 0
            if buf[s] != _FLAG:
                i = buf.find(b"\x7e", s, e)
                if i < 0:
                    self.dropped += e - s
                    self._start = self._end = self._stale = 0
                    return 0
                self.dropped += i - s
                s = i
            self._start = s
            if s + 1 < e and buf[s + 1] == _FLAG:  # flags between frames
                s += 1
                continue
            r = _try(buf, s, e, mf)
            if r > 0:
                self._ready = r
                return r
            if r == -_E_SHORT:
                if s < self._stale:
                    r = -_E_FORMAT  # cut short by the inter-octet timeout
                elif e - s < _MAX_HEADER and self._later_frame(s + 1, e):
                    r = -_E_FORMAT  # a false start: a whole frame follows
                else:
                    return 0
            if r == -_E_HCS:
                self.hcs_errors += 1
            elif r == -_E_FCS:
                self.fcs_errors += 1
            elif r == -_E_FORMAT:
                self.format_errors += 1
            self.dropped += 1
            s += 1

    def _later_frame(self, j, e):
        # Is there a whole good frame at a flag in buf[j:e]?
        buf = self._buf
        while True:
            j = buf.find(b"\x7e", j, e)
            if j < 0:
                return False
            if _try(buf, j, e, self.max_frame) > 0:
                return True
            j += 1
