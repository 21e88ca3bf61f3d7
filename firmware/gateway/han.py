"""HAN push input of the gateway: DLMS/COSEM pushes from a meter's HAN or
customer port, sans-IO (bytes in, results out; no UART, no clock).

Layers, each usable alone:

- ``ApduReader``: whole APDUs out of the byte stream, in the framings meters
  use on their push ports, told apart by their first octets:
  HDLC frame format type 3 (IEC 62056-46: flags, HCS, FCS, the S bit joining
  segments, the LLC header E6 E7 00 dropped), M-Bus long frames (EN 13757-2:
  68 L L 68 ... CS 16; CI 0x00-0x1F carries DLMS in transport segments, bits
  0-3 the sequence number, 0x10 the last one, then STSAP and DTSAP), the
  wrapper (IEC 62056-47: version 1, ports, length) and unframed APDUs
  (general-glo/ded-ciphering and general-block-transfer carry their length).
  Sagemcom T210-D meters (Netz NOe) send M-Bus frames of 256 and 257 octets
  with only the low octet of L (68 00 00 68, 68 01 01 68): a frame with L
  under 3 is taken when the one 256 octets longer has its checksum and
  stop octet. No unframed APDU is taken from inside an
  HDLC or M-Bus frame that failed its checks: without a tag (SC 0x20) its
  damage could not be told.
  General-block-transfer blocks (0xE0: block-control with last-block 0x80,
  block-number, block-number-acknowledged, block-data) are joined into the
  one APDU they carry. Buffers are bounded: an APDU over ``max_apdu`` (2 KB)
  is dropped and counted.
- ``unprotect()``: a general-glo-ciphering (0xDB) or general-ded-ciphering
  (0xDC) APDU opened with the meter's keys (Green Book, security suite 0/1):
  SC 0x30 authenticated and encrypted (GCM tag over AAD = SC || AK), 0x20
  encrypted only (AES-CTR from counter 2, no tag), 0x10 authenticated only
  (GMAC over SC || AK || APDU). IV = system title || invocation counter.
- ``Keys`` and ``InvocationCounters``: what the caller keeps per meter; a
  replayed or rolled-back invocation counter is refused.
- ``decode()``: a DATA-NOTIFICATION (0x0F) as OBIS values: lists that label
  their values with OBIS codes, in any arrangement; push object lists; and
  lists of bare values known by their shape (the element count and types):
  Kaifa's Norwegian lists, Wiener Netze's, Kaernten's and Wels', Slovenia's
  (``_BARE``). Any other list is refused (UNKNOWN_LAYOUT), its values never
  labelled by guesswork; the result still gives the header's date-time.
- ``HanReceiver``: the three together, ``feed(bytes) -> [result, ...]``.

A result::

    {"kind": "han",
     "timestamp": "2019-12-16T07:59:40",       # ISO 8601, offset when the meter sends one
     "system_title": "4b464d1010000023",        # hex, None for a plain push
     "invocation_counter": 41,                  # None for a plain push
     "values": {"1-0:1.8.0": {"value": 1234.5, "unit": "Wh"}, ...},
     "errors": ["wrong key or tag mismatch"]}

(and ``"telegram"`` with the text when a ciphered frame carries a DSMR P1
telegram instead of an APDU). Values keep the meter's unit with its scaler
applied: 12345 with scaler -1 and unit 30 is 1234.5 "Wh"; OBIS keys are
A-B:C.D.E, with *F only when F is not 255.
"""

import binascii

from dlms import axdr, hdlc, obis
from dlms.crc import fcs16
from dlms.errors import DecodeError
from micropython import const

# Why a frame, an APDU or a push was dropped
FRAMING = "framing"
FCS = "fcs"
OVERSIZE = "oversize"
UNKNOWN_LAYOUT = "unknown layout"
TAG_MISMATCH = "wrong key or tag mismatch"
STALE_COUNTER = "stale counter"
MISSING_KEY = "missing key"

# ApduReader framings (a mask); AUTO leaves out RAW_PLAIN, which can only be
# delimited by parsing the body and so would take noise for a push.
HDLC = const(1)
MBUS = const(2)
WRAPPER = const(4)
RAW = const(8)  # unframed general-glo/ded-ciphering and general-block-transfer
RAW_PLAIN = const(16)  # unframed plain DATA-NOTIFICATIONs
AUTO = const(15)

MAX_APDU = const(2048)

_FLAG = const(0x7E)
_MBUS_START = const(0x68)
_MBUS_STOP = const(0x16)
_DATA_NOTIFICATION = const(0x0F)
_GLO = const(0xDB)
_DED = const(0xDC)
_GBT = const(0xE0)
_LAST_BLOCK = const(0x80)
_SC_AUTH = const(0x10)
_SC_ENC = const(0x20)
_SC_COMPRESSED = const(0x80)
_TAG_LEN = const(12)
_SLASH = const(0x2F)  # a DSMR telegram's first character


class HanError(Exception):
    """A push that cannot be used; ``reason`` is one of the reasons above."""

    def __init__(self, reason):
        super().__init__(reason)
        self.reason = reason


# -- framing ------------------------------------------------------------------


def _length(buf, p, e):
    # A-XDR length at p: (n, position after it), or None when not all in yet
    if p >= e:
        return None
    n = buf[p]
    if n < 0x80:
        return n, p + 1
    k = n & 0x7F
    if k == 0 or k > 2:
        return -1, p
    if p + 1 + k > e:
        return None
    v = 0
    for i in range(p + 1, p + 1 + k):
        v = (v << 8) | buf[i]
    return v, p + 1 + k


class ApduReader(hdlc.Window):
    """Whole DLMS APDUs out of a meter's push stream.

    ``feed(data)`` returns the APDUs (bytes) completed by ``data``; ``idle()``
    tells that the line went quiet, so a unit still incomplete never will be.
    ``framing`` is a mask of HDLC, MBUS, WRAPPER, RAW, RAW_PLAIN (AUTO: all
    but RAW_PLAIN). The first HDLC or M-Bus frame whose checksums hold
    settles ``framing`` on that one (until ``reset()``): from then on the
    octets of a damaged frame are noise, not an unframed APDU inside it.
    Nothing raises on input: dropped units are counted in
    ``errors`` (FRAMING, FCS: a bad HCS, FCS or M-Bus checksum, OVERSIZE),
    octets outside any unit in ``dropped``; ``frames`` and ``apdus`` count
    what went through.
    """

    def __init__(self, framing=AUTO, max_apdu=MAX_APDU):
        self.max_apdu = max_apdu
        super().__init__(max(hdlc.MAX_FRAME, max_apdu + 16) + 512)
        self._stale_count = 0
        self._unframed_from = 0  # no unframed APDU starts before this octet
        self._starts = bytearray(256)  # octets a unit may start with
        self._framing = framing
        self._settle(framing)
        self._seg = None  # link-layer segments being joined (HDLC S bit, M-Bus)
        self._seg_n = 0
        self._seg_on = False
        self._seg_skip = False  # over max_apdu: ignore up to the last segment
        self._mbus_next = 0
        self._blk = None  # general-block-transfer blocks being joined
        self._blk_n = 0
        self._blk_next = 0  # the block number expected, 0 when none is open
        self._blk_skip = False
        self._out = None
        self.errors = {FRAMING: 0, FCS: 0, OVERSIZE: 0}
        self.frames = 0
        self.apdus = 0
        self.dropped = 0

    def feed(self, data):
        """The APDUs (bytes) that ``data`` completes, oldest first."""
        out = self._out = []
        mv = memoryview(data)
        n = len(mv)
        pos = 0
        cap = len(self._buf)
        while pos < n:
            if self._end == cap:
                self._compact()
                if self._end == cap:  # cannot happen: units fit; but never wedge
                    self._start += 1
                    self.dropped += 1
                    self._compact()
            k = min(cap - self._end, n - pos)
            self._mv[self._end : self._end + k] = mv[pos : pos + k]
            self._end += k
            pos += k
            self._scan()
        self._out = None
        return out

    def idle(self):
        """The line has been quiet: what is held cannot be completed any more.
        Returns the APDUs of whole units found behind it."""
        out = self._out = []
        self._stale = self._end
        self._stale_count = 1  # one unit cut short, the rest is noise
        self._scan()
        self._out = None
        return out

    def reset(self):
        """Forget everything held (a new line, a new baud rate)."""
        self._start = self._end = self._stale = self._unframed_from = 0
        self._seg_reset()
        self._blk_reset()
        self._settle(self._framing)

    def _settle(self, framing):
        self.framing = framing
        starts = self._starts
        for i in range(256):
            starts[i] = 0
        if framing & HDLC:
            starts[_FLAG] = 1
        if framing & MBUS:
            starts[_MBUS_START] = 1
        if framing & WRAPPER:
            starts[0] = 1
        if framing & RAW:
            starts[_GLO] = starts[_DED] = starts[_GBT] = 1
        if framing & RAW_PLAIN:
            starts[_DATA_NOTIFICATION] = 1

    def _scan(self):
        buf = self._buf
        starts = self._starts
        s = self._start
        e = self._end
        while s < e:
            c = buf[s]
            if starts[c]:
                r = self._unit(c, s, e)
                if r > 0:
                    s += r
                    continue
                if r == 0:
                    if s >= self._stale:
                        break  # wait for more
                    if self._stale_count and (c != _FLAG or e - s > 2):
                        self.errors[FRAMING] += 1  # cut short by a quiet line
                        self._stale_count = 0
            if c != _FLAG:
                self.dropped += 1
            s += 1
            while s < e and not starts[buf[s]]:
                s += 1
                self.dropped += 1
        if s >= e:
            self._start = self._end = self._stale = 0
            u = self._unframed_from
            self._unframed_from = u - e if u > e else 0
        else:
            self._start = s

    def _unit(self, c, s, e):
        # > 0: a unit of that many octets taken; 0: more octets needed;
        # < 0: not a unit start
        if c == _FLAG:
            return self._hdlc(s, e)
        if c == _MBUS_START:
            return self._mbus(s, e)
        if c == 0:
            return self._wrapper(s, e)
        if s < self._unframed_from:
            return -1  # inside a frame whose checksum failed
        if c == _DATA_NOTIFICATION:
            return self._plain(s, e)
        return self._raw(c, s, e)

    def _shield(self, s, n):
        # The HDLC or M-Bus frame of n octets at s failed a check: no
        # unframed APDU is taken from its octets (it would be that frame's
        # damaged content, or run on into the next frame's header; with SC
        # 0x20 nothing would tell). Frames inside it are still looked for.
        # Returns -1, "not a unit".
        if s + n > self._unframed_from:
            self._unframed_from = s + n
        return -1

    def _compact(self):
        s = self._start
        super()._compact()
        u = self._unframed_from
        self._unframed_from = u - s if u > s else 0

    # HDLC, IEC 62056-46 frame format type 3
    def _hdlc(self, s, e):
        buf = self._buf
        if e - s < 3:
            return 0
        f0 = buf[s + 1]
        if f0 & 0xF0 != 0xA0:
            return -1
        length = ((f0 & 7) << 8) | buf[s + 2]
        if length < 7:
            return -1
        # the header (addresses, control, HCS) is checked as soon as it is in,
        # so a flag in noise is dropped without waiting for its length
        p = s + 3
        for _ in range(2):  # destination, source: 1, 2 or 4 octets
            k = 0
            while True:
                if p >= e:
                    return 0
                k += 1
                if buf[p] & 1:
                    break
                if k == 4:
                    return -1
                p += 1
            if k == 3:
                return -1
            p += 1
        hl = p + 1 - (s + 1)  # format, addresses, control
        if length > hl + 2:
            if length < hl + 5:
                return -1
            if e < p + 3:
                return 0
            h = fcs16(buf, s + 1, p + 1)
            if buf[p + 1] != h & 0xFF or buf[p + 2] != h >> 8:
                self.errors[FCS] += 1
                if e - s >= length + 2 and buf[s + length + 1] == _FLAG:
                    return self._shield(s, length + 2)  # a frame, its header damaged
                return -1
        elif length != hl + 2:
            return -1
        if e - s < length + 2:
            return 0
        try:
            f = hdlc.decode_frame(self._mv[s : s + length + 2])
        except DecodeError as x:
            self.errors[FCS if x.msg.startswith("wrong") else FRAMING] += 1  # HCS, FCS
            return self._shield(s, length + 2)
        self.frames += 1
        if self.framing != HDLC and self.framing & HDLC:
            self._settle(HDLC)
        self._hdlc_frame(f)
        return length + 1  # the closing flag may open the next frame

    def _hdlc_frame(self, f):
        info = f.info
        if not len(info):
            return
        llc = hdlc.has_llc(info, hdlc.LLC_RESPONSE) or hdlc.has_llc(info)
        if self._seg_on and llc and len(info) > 3 and info[3] in (0x0F, 0xDB, 0xDC, 0xE0):
            self.errors[FRAMING] += 1  # a new APDU before the last segment
            self._seg_reset()
        if not self._seg_on:
            if llc:
                info = info[3:]
            if not f.segmented:
                self._apdu(info)
                return
            self._seg_on = True
        self._seg_add(info)
        if not f.segmented:
            self._seg_done()

    # M-Bus long frame, EN 13757-2
    def _mbus(self, s, e):
        buf = self._buf
        if e - s < 4:
            return 0
        n = buf[s + 1]
        if buf[s + 2] != n or buf[s + 3] != _MBUS_START:
            return -1
        if e - s < n + 6:
            return 0
        if n < 3:
            # no long frame is that short. Sagemcom T210-D meters (Netz NOe)
            # send frames of 256 and 257 octets with L = 00 and 01, the low
            # octet of the length: taken when the frame 256 octets longer
            # has its checksum and stop octet. (Frames with L of 3 or more
            # are not waited for 256 octets more: one cut short would hold
            # up the frames behind it.)
            m = n + 256
            if e - s < m + 6:
                return 0
            if buf[s + m + 5] != _MBUS_STOP or not self._mbus_sum(s, m):
                self.errors[FRAMING] += 1
                return self._shield(s, m + 6)
            n = m
        elif buf[s + n + 5] != _MBUS_STOP:
            self.errors[FRAMING] += 1
            return self._shield(s, n + 6)
        elif not self._mbus_sum(s, n):
            self.errors[FCS] += 1
            return self._shield(s, n + 6)
        self.frames += 1
        if self.framing != MBUS and self.framing & MBUS:
            self._settle(MBUS)
        ci = buf[s + 6]
        if ci > 0x1F or n < 5:
            self.errors[FRAMING] += 1  # not DLMS (EN 13757-3 data records, ...)
        else:
            self._mbus_segment(ci, self._mv[s + 9 : s + 4 + n])
        return n + 6

    def _mbus_sum(self, s, n):
        return sum(self._mv[s + 4 : s + 4 + n]) & 0xFF == self._buf[s + 4 + n]

    def _mbus_segment(self, ci, data):
        seq = ci & 0x0F
        if seq == 0:
            if self._seg_on:
                self.errors[FRAMING] += 1
                self._seg_reset()
            if ci & 0x10:
                self._apdu(data)
                return
            self._seg_on = True
        elif not self._seg_on or seq != self._mbus_next:
            self.errors[FRAMING] += 1  # a segment lost, or joined midway
            self._seg_reset()
            return
        self._mbus_next = (seq + 1) & 0x0F
        self._seg_add(data)
        if ci & 0x10:
            self._seg_done()

    # wrapper, IEC 62056-47
    def _wrapper(self, s, e):
        buf = self._buf
        if e - s < 9:
            return 0
        n = (buf[s + 6] << 8) | buf[s + 7]
        if (
            buf[s + 1] != 1
            or n == 0
            or n > self.max_apdu
            or buf[s + 8] not in (0x0F, 0xDB, 0xDC, 0xE0)
        ):
            return -1
        if e - s < n + 8:
            return 0
        self.frames += 1
        self._apdu(self._mv[s + 8 : s + 8 + n])
        return n + 8

    # unframed ciphered APDUs and blocks, which carry their own length
    def _raw(self, c, s, e):
        buf = self._buf
        if c == _GBT:
            if e - s < 7:
                return 0
            if not (buf[s + 2] or buf[s + 3]):
                return -1  # block numbers start at 1
            r = _length(buf, s + 6, e)
        else:
            if e - s < 2:
                return 0
            if buf[s + 1] != 8:  # the system title
                return -1
            r = _length(buf, s + 10, e)
        if r is None:
            return 0
        n, p = r
        if n < 0 or n > self.max_apdu:
            return -1
        if c != _GBT:
            if p >= e:
                return 0
            sc = buf[p]
            if n < 5 or sc & _SC_COMPRESSED or not sc & 0x30 or sc & 0x0F > 2:
                return -1
        if e - p < n:
            return 0
        self.frames += 1
        self._apdu(self._mv[s : p + n])
        return p + n - s

    # an unframed plain DATA-NOTIFICATION: delimited by parsing it
    def _plain(self, s, e):
        buf = self._buf
        if e - s < 7:
            return 0
        p = _head_end(buf, s, e)
        if p < 0:
            return -1
        try:
            q = axdr.skip(self._mv[:e], p)
        except DecodeError as x:
            if "truncated" in x.msg or "over the end" in x.msg:
                return -1 if e - s > self.max_apdu else 0
            return -1
        self.frames += 1
        self._apdu(self._mv[s:q])
        return q - s

    # joining segments and blocks
    def _seg_reset(self):
        self._seg_on = self._seg_skip = False
        self._seg_n = 0

    def _seg_add(self, data):
        if self._seg_skip:
            return
        n = self._seg_n
        k = len(data)
        if n + k > self.max_apdu:
            self.errors[OVERSIZE] += 1
            self._seg_skip = True
            return
        if self._seg is None:
            self._seg = bytearray(self.max_apdu)
        self._seg[n : n + k] = data
        self._seg_n = n + k

    def _seg_done(self):
        if not self._seg_skip:
            self._apdu(memoryview(self._seg)[: self._seg_n])
        self._seg_reset()

    def _blk_reset(self):
        self._blk_next = self._blk_n = 0
        self._blk_skip = False

    def _apdu(self, apdu):
        # a whole link-layer APDU: a block of a general-block-transfer, or the push
        if not len(apdu):
            return
        if apdu[0] == _GBT:
            self._block(apdu)
            return
        if self._blk_next:
            self.errors[FRAMING] += 1  # the rest of a block transfer never came
            self._blk_reset()
        self._emit(apdu)

    def _block(self, d):
        # Green Book, general-block-transfer: E0, block-control, block-number,
        # block-number-acknowledged, block-data (octet string)
        n = len(d)
        bn = (d[2] << 8) | d[3] if n >= 4 else 0
        r = _length(d, 6, n) if n >= 7 else None
        if r is None or r[0] < 0 or r[1] + r[0] != n or bn == 0:
            self.errors[FRAMING] += 1
            self._blk_reset()
            return
        p = r[1]
        last = d[1] & _LAST_BLOCK
        if bn == 1:
            if self._blk_next:
                self.errors[FRAMING] += 1
            self._blk_reset()
            if last:
                self._emit(d[p:])
                return
        elif bn != self._blk_next:
            self.errors[FRAMING] += 1  # a block lost or repeated, or joined midway
            self._blk_reset()
            return
        if not self._blk_skip:
            k = n - p
            m = self._blk_n
            if m + k > self.max_apdu:
                self.errors[OVERSIZE] += 1
                self._blk_skip = True
            else:
                if self._blk is None:
                    self._blk = bytearray(self.max_apdu)
                self._blk[m : m + k] = d[p:]
                self._blk_n = m + k
        if last:
            if not self._blk_skip:
                self._emit(memoryview(self._blk)[: self._blk_n])
            self._blk_reset()
        else:
            self._blk_next = bn + 1

    def _emit(self, apdu):
        if len(apdu) > self.max_apdu:
            self.errors[OVERSIZE] += 1
            return
        self.apdus += 1
        self._out.append(bytes(apdu))


def _head_end(buf, s, e):
    # DATA-NOTIFICATION at s: where its notification-body starts, -1 if the
    # date-time is none of the forms meters send (Green Book: an octet string
    # with its length, 00 when absent; Kaifa tags it: 09 0C), -2 if short
    p = s + 5
    if p >= e:
        return -2
    k = buf[p]
    if k == 0:
        return p + 1
    if k == 12 or k == 5 or k == 4:
        return p + 1 + k
    if k == 9 and p + 1 < e and buf[p + 1] == 12:
        return p + 14
    return -1


# -- keys, counters, ciphering ------------------------------------------------


def _key_bytes(k, sizes):
    if isinstance(k, str):
        k = binascii.unhexlify(k.replace(" ", ""))
    k = bytes(k)
    if len(k) not in sizes:
        raise ValueError("key of %d octets" % len(k))
    return k


def _title(t):
    if isinstance(t, str):
        t = binascii.unhexlify(t.replace(" ", ""))
    return bytes(t)


def _hex(b):
    return binascii.hexlify(bytes(b)).decode()


class _Key:
    __slots__ = ("ek", "ak", "unauthenticated", "_gcm")

    def __init__(self, ek, ak, unauthenticated):
        self.ek = _key_bytes(ek, (16, 32))
        self.ak = None if ak is None else _key_bytes(ak, (16, 32))
        self.unauthenticated = unauthenticated
        self._gcm = None

    def gcm(self):
        if self._gcm is None:
            from dlms.security.gcm import Gcm

            self._gcm = Gcm(self.ek)  # its GHASH table: 4 KB, made once
        return self._gcm


class Keys:
    """The meters' keys (bytes or hex): ``ek`` the global unicast encryption
    key (16 octets: suite 0, 32: suite 1), ``ak`` the authentication key,
    needed to verify SC 0x30 and 0x10 pushes. Given to the constructor they
    serve any system title; ``add()`` sets them for one.

    Some network operators hand out the encryption key only, yet their meters
    send SC 0x30; with ``unauthenticated=True`` such a push is deciphered
    without its tag being checked (as SC 0x20 is), instead of refused with
    MISSING_KEY.
    """

    def __init__(self, ek=None, ak=None, unauthenticated=False):
        self._default = None if ek is None else _Key(ek, ak, unauthenticated)
        self._titles = {}

    def add(self, system_title, ek, ak=None, unauthenticated=False):
        self._titles[_title(system_title)] = _Key(ek, ak, unauthenticated)

    def get(self, system_title):
        return self._titles.get(bytes(system_title), self._default)


class InvocationCounters:
    """The last invocation counter accepted per system title: a push whose
    counter is not above it (replayed, or rolled back) is refused and counted
    in ``rejected``.

    With a ``store`` (hal.store) each title gets a dlms.security.counter
    ReplayGuard named ``prefix`` + title hex, persisted on every accepted
    push, so a replay is refused after a reboot too. In memory at most
    ``max_titles`` titles are kept, the oldest forgotten first. Call
    ``reset(title)`` when that meter's keys change.
    """

    def __init__(self, store=None, prefix="han.ic.", max_titles=8):
        self._store = store
        self._prefix = prefix
        self._max = max_titles
        self._last = {}  # title -> last IC (int), or its ReplayGuard
        self._order = []
        self.rejected = 0

    def _entry(self, title, create=True):
        t = bytes(title)
        g = self._last.get(t)
        if g is None and t not in self._last and (create or self._store is not None):
            if self._store is not None:
                from dlms.security.counter import ReplayGuard

                g = ReplayGuard(self._store, self._prefix + _hex(t))
            if len(self._order) >= self._max:
                del self._last[self._order.pop(0)]
            self._last[t] = g
            self._order.append(t)
        return t, g

    def last(self, title):
        """The last counter accepted from ``title``, or None."""
        t, g = self._entry(title, False)
        return g if g is None or isinstance(g, int) else g.last

    def check(self, title, ic):
        last = self.last(title)
        return 0 <= ic <= 0xFFFFFFFF and (last is None or ic > last)

    def accept(self, title, ic):
        """True and recorded if ``ic`` is above every counter accepted from
        ``title``; else False, counted in ``rejected``."""
        t, g = self._entry(title)
        if g is None or isinstance(g, int):
            ok = 0 <= ic <= 0xFFFFFFFF and (g is None or ic > g)
            if ok:
                self._last[t] = ic
        else:
            ok = g.check_and_accept(ic)
        if not ok:
            self.rejected += 1
        return ok

    def reset(self, title=None):
        """A new key for ``title`` (all titles when None): any counter goes again."""
        for t in list(self._last) if title is None else (title,):
            t, g = self._entry(t)
            if g is None or isinstance(g, int):
                self._last[t] = None
            else:
                g.reset()  # persisted: a reboot does not bring the old counter back


def _equal(a, b):
    d = len(a) ^ len(b)
    for i in range(min(len(a), len(b))):
        d |= a[i] ^ b[i]
    return d == 0


def unprotect(apdu, keys):
    """``(system_title, sc, ic, plain)`` of a general-glo-ciphering or
    general-ded-ciphering APDU; ``plain`` is a memoryview. Raises HanError:
    UNKNOWN_LAYOUT (malformed, compressed, nothing protected), MISSING_KEY
    (no key for the title, or no AK to verify with), TAG_MISMATCH."""
    return _unprotect(apdu, keys, None)


def _unprotect(apdu, keys, res):
    # as unprotect(), and the title and counter go into the result ``res``
    # as soon as they are read, so a refused push still shows its sender
    n = len(apdu)
    try:
        k, p = axdr.decode_length(apdu, 1)
        title = bytes(apdu[p : p + k])
        m, p = axdr.decode_length(apdu, p + k)
    except DecodeError:
        raise HanError(UNKNOWN_LAYOUT)
    if n == 0 or apdu[0] not in (_GLO, _DED) or len(title) != 8 or p + m != n or m < 5:
        raise HanError(UNKNOWN_LAYOUT)
    sc = apdu[p]
    ic = (apdu[p + 1] << 24) | (apdu[p + 2] << 16) | (apdu[p + 3] << 8) | apdu[p + 4]
    if res is not None:
        res["system_title"] = _hex(title)
        res["invocation_counter"] = ic
    if sc & _SC_COMPRESSED or not sc & (_SC_AUTH | _SC_ENC):
        raise HanError(UNKNOWN_LAYOUT)
    key = keys.get(title) if keys is not None else None
    if key is None:
        raise HanError(MISSING_KEY)
    buf = bytearray(apdu[p + 5 :])
    end = len(buf)
    tag = None
    if sc & _SC_AUTH:
        if end < _TAG_LEN:
            raise HanError(UNKNOWN_LAYOUT)
        end -= _TAG_LEN
        if key.ak is not None:
            tag = bytes(buf[end:])
        elif not key.unauthenticated:
            raise HanError(MISSING_KEY)
    iv = title + bytes(apdu[p + 1 : p + 5])
    g = key.gcm()
    if tag is None:
        if sc & _SC_ENC:
            # AES-CTR from counter 2, the GCM key stream (SP 800-38D 7.2)
            g._ctr_long(iv, buf, 0, end)
    elif sc & _SC_ENC:
        from dlms.security.gcm import AuthenticationError

        try:
            g.decrypt_into(iv, bytes((sc,)) + key.ak, buf, 0, end, tag)
        except AuthenticationError:
            raise HanError(TAG_MISMATCH)
    elif not _equal(g.gmac(iv, bytes((sc,)) + key.ak + bytes(buf[:end]), _TAG_LEN), tag):
        raise HanError(TAG_MISMATCH)
    return title, sc, ic, memoryview(buf)[:end]


# -- values ---------------------------------------------------------------------

# Blue Book 4.3.2, the unit enumeration (1..57); 255 is "count", no unit
_UNITS = (
    "a|mo|wk|d|h|min|s|°|°C|currency|m|m/s|m³|m³|m³/h|m³/h|m³/d|m³/d|l|kg|N|Nm|Pa|bar|J|J/h|"
    "W|VA|var|Wh|VAh|varh|A|C|V|V/m|F|Ω|Ωm²/m|Wb|T|A/m|H|Hz|1/(Wh)|1/(varh)|1/(VAh)|V²h|"
    "A²h|kg/s|S|K|1/(V²h)|1/(A²h)|1/m³|%|Ah"
)


def unit_name(code):
    """The symbol of a Blue Book unit code, None for 0, 255 and unknown codes."""
    if not 1 <= code <= 57:
        return None
    i = 0
    for _ in range(code - 1):
        i = _UNITS.find("|", i) + 1
    j = _UNITS.find("|", i)
    return _UNITS[i:] if j < 0 else _UNITS[i:j]


# Registers some meters push without their scaler_unit (attribute 3): the
# scaler by maker (system title or list id) and OBIS C.D, as the makers
# document their HAN lists, three octets a register: C, D and the scaler
# (two's complement). Kaifa MA304/MA105 (list KFM_001): currents in mA,
# voltages in 0.1 V. Kamstrup Omnipower (Kamstrup_V0001): currents in 0.01 A,
# energies in 0.01 kWh, and in the Danish list the energies per phase too
# (their sum is the total's) and power factors in 0.01. Landis+Gyr E450/E360
# push lists: currents in 0.01 A, power factors in 0.001.
_SCALERS = {
    # IL1-3 -3, UL1-3 -1
    "KFM": b"\x1f\x07\xfd\x33\x07\xfd\x47\x07\xfd\x20\x07\xff\x34\x07\xff\x48\x07\xff",
    # IL1-3 -2; A+, A-, R+, R- 1; A+, A- of L1-L3 1; PF, PF L1-L3 -2
    "KAM": b"\x1f\x07\xfe\x33\x07\xfe\x47\x07\xfe\x01\x08\x01\x02\x08\x01\x03\x08\x01"
    b"\x04\x08\x01\x15\x08\x01\x29\x08\x01\x3d\x08\x01\x16\x08\x01\x2a\x08\x01"
    b"\x3e\x08\x01\x0d\x07\xfe\x21\x07\xfe\x35\x07\xfe\x49\x07\xfe",
    # IL1-3 -2, PF, PF L1-L3 -3
    "LGZ": b"\x1f\x07\xfe\x33\x07\xfe\x47\x07\xfe\x0d\x07\xfd\x21\x07\xfd\x35\x07\xfd\x49\x07\xfd",
}


def _scaler(maker, code):
    t = _SCALERS.get(maker)
    if t is not None:
        for i in range(0, len(t), 3):
            if code[2] == t[i] and code[3] == t[i + 1]:
                s = t[i + 2]
                return s - 256 if s > 127 else s
    return 0


def _obis_unit(code):
    # The unit an electricity OBIS code implies (IEC 62056-6-1: C the quantity,
    # 21-40, 41-60, 61-80 its phases L1, L2, L3; D 7 instantaneous, 8 energy)
    # for values sent without a scaler_unit.
    if code[0] != 1:
        return None
    c = code[2]
    d = code[3]
    if 21 <= c <= 80:
        c = (c - 1) % 20 + 1
    elif c == 91:
        c = 11
    if c > 16 or d < 2 or d > 10:
        return None
    energy = d >= 8
    if c in (1, 2, 15, 16):
        return "Wh" if energy else "W"
    if 3 <= c <= 8:
        return "varh" if energy else "var"
    if c in (9, 10):
        return "VAh" if energy else "VA"
    if energy:
        return None
    return ("A", "V", None, "Hz")[c - 11] if c >= 11 else None


def _iso(b, p=0):
    # COSEM date-time (Blue Book 4.1.6.1) as ISO 8601; None if no date. The
    # deviation is UTC minus local time in minutes, so the offset is its negative.
    y = (b[p] << 8) | b[p + 1]
    mo = b[p + 2]
    d = b[p + 3]
    if y == 0xFFFF or not 1 <= mo <= 12 or not 1 <= d <= 31:
        return None
    text = "%04d-%02d-%02d" % (y, mo, d)
    h = b[p + 5]
    if h > 23:
        return text
    mi = b[p + 6]
    s = b[p + 7]
    text += "T%02d:%02d:%02d" % (h, mi if mi < 60 else 0, s if s < 60 else 0)
    dev = (b[p + 9] << 8) | b[p + 10]
    if dev != 0x8000:
        if dev & 0x8000:
            dev -= 0x10000
        off = -dev
        sign = "+" if off >= 0 else "-"
        off = abs(off)
        text += "%s%02d:%02d" % (sign, off // 60, off % 60)
    return text


def _is_date_time(b):
    if len(b) != 12:
        return False
    mo, d, h, mi, s = b[2], b[3], b[5], b[6], b[7]
    return (
        (1 <= mo <= 12 or mo >= 0xFD)
        and (1 <= d <= 31 or d >= 0xFD)
        and (h < 24 or h == 0xFF)
        and (mi < 60 or mi == 0xFF)
        and (s < 60 or s == 0xFF)
    )


def _text(b):
    for c in b:
        if c < 0x20 or c > 0x7E:
            return _hex(b)
    return str(bytes(b), "ascii")


def _scale(v, s):
    if s == 0:
        return v
    if s > 0:
        return v * 10**s
    return v / 10 ** (-s)  # correctly rounded: 2322 / 10 is the float 232.2


def _value(code, typed, su, maker):
    # {"value", "unit"} of one entry, None to leave it out. ``su``: the
    # scaler_unit structure sent with the value, or an int, the scaler a
    # bare list's layout gives it (_BARE), or None
    tag, v = typed
    if tag in axdr.NUMERIC:
        if su is None:
            s = _scaler(maker, code)
            unit = _obis_unit(code)
        elif isinstance(su, int):
            s = su
            unit = _obis_unit(code)
        else:
            s = su[1][0][1]
            unit = unit_name(su[1][1][1])
        return {"value": _scale(v, s), "unit": unit}
    if tag == axdr.BOOLEAN:
        return {"value": 1 if v else 0, "unit": None}  # as P1 sends 0-0:96.3.10
    if tag == axdr.OCTET_STRING:
        v = _iso(v) if _is_date_time(v) else _text(v)
    elif tag == axdr.DATE_TIME:
        v = _iso(v.to_bytes())
    elif tag == axdr.NULL_DATA or tag == axdr.ARRAY or tag == axdr.STRUCTURE:
        return None
    elif tag == axdr.COMPACT_ARRAY or tag == axdr.DATE or tag == axdr.TIME:
        return None
    return {"value": v, "unit": None}


# -- layouts --------------------------------------------------------------------

_LIST_VERSION = b"\x01\x01\x00\x02\x81\xff"  # 1-1:0.2.129, OBIS list version identifier
_DEVICE_NAME = b"\x00\x00\x2a\x00\x00\xff"  # 0-0:42.0.0, COSEM logical device name
_CLOCK = b"\x00\x00\x01\x00\x00\xff"  # 0-0:1.0.0

# Kaifa's Norwegian lists (list KFM_001, from the NVE/NEK HAN OBIS list):
# bare values in a fixed order, told apart by their count. Three-phase list 3
# in order; list 2 is its first 13; single-phase lists leave out IL2, IL3,
# UL2, UL3; list 1 is active power import alone.
_KFM_LIST3 = (
    _LIST_VERSION,
    b"\x00\x00\x60\x01\x00\xff",  # 0-0:96.1.0 meter ID (GS1)
    b"\x00\x00\x60\x01\x07\xff",  # 0-0:96.1.7 meter type
    b"\x01\x00\x01\x07\x00\xff",  # P+ (W)
    b"\x01\x00\x02\x07\x00\xff",  # P-
    b"\x01\x00\x03\x07\x00\xff",  # Q+ (var)
    b"\x01\x00\x04\x07\x00\xff",  # Q-
    b"\x01\x00\x1f\x07\x00\xff",  # IL1
    b"\x01\x00\x33\x07\x00\xff",  # IL2
    b"\x01\x00\x47\x07\x00\xff",  # IL3
    b"\x01\x00\x20\x07\x00\xff",  # UL1
    b"\x01\x00\x34\x07\x00\xff",  # UL2
    b"\x01\x00\x48\x07\x00\xff",  # UL3
    _CLOCK,
    b"\x01\x00\x01\x08\x00\xff",  # A+ (Wh)
    b"\x01\x00\x02\x08\x00\xff",  # A-
    b"\x01\x00\x03\x08\x00\xff",  # R+ (varh)
    b"\x01\x00\x04\x08\x00\xff",  # R-
)
_ONE_PHASE = (0, 1, 2, 3, 4, 5, 6, 7, 10, 13, 14, 15, 16, 17)

# Other lists of bare values, Austrian and Slovenian, in pairs: the shape,
# one letter per element giving its type (t a date-time: octet string of
# 12; s another octet string; i an octet string of 2 read as a number, the
# tariff; n a push setup's logical name, 0-x:25.9.y; u double-long-
# unsigned; v long-unsigned; b boolean), then what each element is, seven
# octets an element: its OBIS code A B C D E F (A = FF: left out, e.g. the
# date-time the header has too, or texts always empty) and its scaler (two's
# complement). A list is one of these when its element count and every
# element's type match. Units follow from the codes (_obis_unit): energies
# in Wh and varh, powers in W and var. (Bytes constants stay in flash.)
_BARE = (
    # Wiener Netze (Iskra AM550, Landis+Gyr E450): the clock, +A, -A, +R,
    # -R, +P, -P, +Q, -Q
    "tuuuuuuuu",
    b"\x00\x00\x01\x00\x00\xff\x00\x01\x00\x01\x08\x00\xff\x00\x01\x00\x02\x08\x00\xff\x00"
    b"\x01\x00\x03\x08\x00\xff\x00\x01\x00\x04\x08\x00\xff\x00\x01\x00\x01\x07\x00\xff\x00"
    b"\x01\x00\x02\x07\x00\xff\x00\x01\x00\x03\x07\x00\xff\x00\x01\x00\x04\x07\x00\xff\x00",
    # Wiener Netze, Siemens IM350: its logical device name (SMS...) first
    "stuuuuuuuu",
    b"\x00\x00\x2a\x00\x00\xff\x00\x00\x00\x01\x00\x00\xff\x00\x01\x00\x01\x08\x00\xff\x00"
    b"\x01\x00\x02\x08\x00\xff\x00\x01\x00\x03\x08\x00\xff\x00\x01\x00\x04\x08\x00\xff\x00"
    b"\x01\x00\x01\x07\x00\xff\x00\x01\x00\x02\x07\x00\xff\x00\x01\x00\x03\x07\x00\xff\x00"
    b"\x01\x00\x04\x07\x00\xff\x00",
    # Kaernten Netz (IM350, AM550): the push setup's name, the serial number
    # (given as 0-0:96.1.0), time, date, +A, -A, +R, -R, +P, -P and two
    # customer texts, always empty; Linz/Wels Netz (IM350) leave them out
    "nsssuuuuuuss",
    b"\xff\xff\xff\xff\xff\xff\x00\x00\x00\x60\x01\x00\xff\x00\xff\xff\xff\xff\xff\xff\x00"
    b"\xff\xff\xff\xff\xff\xff\x00\x01\x00\x01\x08\x00\xff\x00\x01\x00\x02\x08\x00\xff\x00"
    b"\x01\x00\x03\x08\x00\xff\x00\x01\x00\x04\x08\x00\xff\x00\x01\x00\x01\x07\x00\xff\x00"
    b"\x01\x00\x02\x07\x00\xff\x00\xff\xff\xff\xff\xff\xff\x00\xff\xff\xff\xff\xff\xff\x00",
    "nsssuuuuuu",
    b"\xff\xff\xff\xff\xff\xff\x00\x00\x00\x60\x01\x00\xff\x00\xff\xff\xff\xff\xff\xff\x00"
    b"\xff\xff\xff\xff\xff\xff\x00\x01\x00\x01\x08\x00\xff\x00\x01\x00\x02\x08\x00\xff\x00"
    b"\x01\x00\x03\x08\x00\xff\x00\x01\x00\x04\x08\x00\xff\x00\x01\x00\x01\x07\x00\xff\x00"
    b"\x01\x00\x02\x07\x00\xff\x00",
    # Slovenia (Iskra, ECE list 1): logical device name, device ID
    # (0-0:96.1.2), +P, -P, +Q, -Q, voltages in 0.1 V, currents in 0.01 A,
    # +P and -P per phase
    "ssuuuuvvvvvvuuuuuu",
    b"\x00\x00\x2a\x00\x00\xff\x00\x00\x00\x60\x01\x02\xff\x00\x01\x00\x01\x07\x00\xff\x00"
    b"\x01\x00\x02\x07\x00\xff\x00\x01\x00\x03\x07\x00\xff\x00\x01\x00\x04\x07\x00\xff\x00"
    b"\x01\x00\x20\x07\x00\xff\xff\x01\x00\x34\x07\x00\xff\xff\x01\x00\x48\x07\x00\xff\xff"
    b"\x01\x00\x1f\x07\x00\xff\xfe\x01\x00\x33\x07\x00\xff\xfe\x01\x00\x47\x07\x00\xff\xfe"
    b"\x01\x00\x15\x07\x00\xff\x00\x01\x00\x29\x07\x00\xff\x00\x01\x00\x3d\x07\x00\xff\x00"
    b"\x01\x00\x16\x07\x00\xff\x00\x01\x00\x2a\x07\x00\xff\x00\x01\x00\x3e\x07\x00\xff\x00",
    # Slovenia (Iskra, ECE list 2): logical device name, device ID 4
    # (0-0:96.1.3), breaker state (0-0:96.3.10), tariff (0-0:96.14.0), +A
    # and its tariffs 1 and 2, -A and its tariffs, +R, -R
    "ssbiuuuuuuuu",
    b"\x00\x00\x2a\x00\x00\xff\x00\x00\x00\x60\x01\x03\xff\x00\x00\x00\x60\x03\x0a\xff\x00"
    b"\x00\x00\x60\x0e\x00\xff\x00\x01\x00\x01\x08\x00\xff\x00\x01\x00\x01\x08\x01\xff\x00"
    b"\x01\x00\x01\x08\x02\xff\x00\x01\x00\x02\x08\x00\xff\x00\x01\x00\x02\x08\x01\xff\x00"
    b"\x01\x00\x02\x08\x02\xff\x00\x01\x00\x03\x08\x00\xff\x00\x01\x00\x04\x08\x00\xff\x00",
)


def _kaifa_list(n):
    if n == 1:
        return (_KFM_LIST3[3],)
    if n in (13, 18):
        return _KFM_LIST3[:n]
    if n in (9, 14):
        return tuple(_KFM_LIST3[i] for i in _ONE_PHASE[:n])
    return None


def _is_obis(t):
    # an octet string of six octets that can be a logical name (A is 0..15)
    return t[0] == axdr.OCTET_STRING and len(t[1]) == 6 and t[1][0] <= 15


def _is_scaler_unit(t):
    return (
        t[0] == axdr.STRUCTURE
        and len(t[1]) == 2
        and t[1][0][0] == axdr.INTEGER
        and t[1][1][0] == axdr.ENUM
    )


def _walk(items, out):
    # Labelled values anywhere in the body: an OBIS octet string followed by
    # its value, and by a scaler_unit structure when one follows. Covers an
    # array of {OBIS, value, {scaler, unit}} (Aidon, Austrian and Swiss
    # meters), flat OBIS, value pairs (Kamstrup, Kaifa's Swedish list),
    # flat triples (EVN) and mixtures of those. Returns how many values
    # (other than null-data) it left unlabelled.
    i = 0
    n = len(items)
    left = 0
    while i < n:
        t = items[i]
        # (0-x:25.9.y, a push setup's logical name, labels no value: a bare
        # list may begin with it, Kaernten's)
        if i + 1 < n and _is_obis(t) and not (t[1][0] == 0 and t[1][2] == 25 and t[1][3] == 9):
            su = None
            step = 2
            if i + 2 < n and _is_scaler_unit(items[i + 2]):
                su = items[i + 2]
                step = 3
            out.append((t[1], items[i + 1], su))
            i += step
            continue
        if t[0] == axdr.STRUCTURE or t[0] == axdr.ARRAY:
            left += _walk(t[1], out)
        elif t[0] != axdr.NULL_DATA:
            left += 1
        i += 1
    return left


def _push_list(items, out):
    # Blue Book 4.4.8, Push setup: a body whose first element is the
    # push_object_list (array of {class_id, logical_name, attribute_index,
    # data_index}) and then one value per object (Landis+Gyr). Attribute 2
    # is a value; attribute 3 of a register its scaler_unit.
    if not items or items[0][0] != axdr.ARRAY:
        return False
    objs = items[0][1]
    off = len(items) - len(objs)
    if not objs or off not in (0, 1):
        return False
    for o in objs:
        f = o[1]
        if (
            o[0] != axdr.STRUCTURE
            or len(f) != 4
            or f[0][0] != axdr.LONG_UNSIGNED
            or not _is_obis(f[1])
            or f[2][0] != axdr.INTEGER
        ):
            return False
    units = {}
    for i in range(len(objs)):
        f = objs[i][1]
        cls, code, attr = f[0][1], f[1][1], f[2][1]
        k = i + off
        if k < 1 or cls == 40:  # the list itself, the push setup's own attributes
            continue
        if attr == 3 and cls in (3, 4, 5) and _is_scaler_unit(items[k]):
            units[code] = items[k]
        elif attr == 2:
            out.append((code, items[k], None))
    for j in range(len(out)):
        su = units.get(out[j][0])
        if su is not None:
            out[j] = (out[j][0], out[j][1], su)
    return True


def _bare(items, out):
    # A list of bare values of one of the _BARE shapes: its entries into out
    n = len(items)
    for j in range(0, len(_BARE), 2):
        shape = _BARE[j]
        if len(shape) != n:
            continue
        for i in range(n):
            k = shape[i]
            tag, v = items[i]
            if tag == axdr.OCTET_STRING:
                if k == "s":
                    continue
                if k == "t" and _is_date_time(v):
                    continue
                if k == "i" and len(v) == 2:
                    continue
                if k == "n" and len(v) == 6 and v[0] == 0 and v[2] == 25 and v[3] == 9:
                    continue  # 0-x:25.9.y
            elif k == "u" and tag == axdr.DOUBLE_LONG_UNSIGNED:
                continue
            elif k == "v" and tag == axdr.LONG_UNSIGNED:
                continue
            elif k == "b" and tag == axdr.BOOLEAN:
                continue
            break
        else:
            codes = _BARE[j + 1]
            for i in range(n):
                p = 7 * i
                if codes[p] == 0xFF:
                    continue
                t = items[i]
                if shape[i] == "i":
                    t = (axdr.LONG_UNSIGNED, (t[1][0] << 8) | t[1][1])
                s = codes[p + 6]
                out.append((codes[p : p + 6], t, s - 256 if s > 127 else s))
            return True
    return False


def _entries(body):
    """(OBIS octets, typed value, scaler_unit) of a notification-body, the
    scaler_unit being the structure sent, a bare layout's scaler or None.
    Empty when the layout is not one we know: no value is given a code by
    guesswork."""
    out = []
    tag, items = body
    if tag != axdr.STRUCTURE and tag != axdr.ARRAY:
        return out
    if _push_list(items, out):
        return out
    if tag == axdr.STRUCTURE and _bare(items, out):
        return out
    left = _walk(items, out)
    if out:
        if left > len(out):
            return []  # mostly values without codes: not a labelled list
        # Kamstrup sends its list version first, with no OBIS code
        if len(items) > 1 and items[0][0] == axdr.VISIBLE_STRING and _is_obis(items[1]):
            out.insert(0, (_LIST_VERSION, items[0], None))
        return out
    codes = _kaifa_list(len(items))
    if codes is not None and len(items) > 1:
        t = items[0]  # the list version, KFM_001
        if t[0] != axdr.OCTET_STRING or not bytes(t[1]).startswith(b"KFM"):
            codes = None
    if codes is not None and all(t[0] != axdr.STRUCTURE and t[0] != axdr.ARRAY for t in items):
        for i in range(len(items)):
            out.append((codes[i], items[i], None))
    return out


def _maker(title, entries):
    # The meter's maker, for _SCALERS: the FLAG id leading its system title,
    # its list version or its logical device name, the first one listed there
    if title is not None and all(0x41 <= c <= 0x5A for c in title[:3]):
        m = str(title[:3], "ascii")
        if m in _SCALERS:
            return m
    for code, t, _ in entries:
        if (code[2:5] == b"\x00\x02\x81" or code == _DEVICE_NAME) and t[0] in (
            axdr.OCTET_STRING,
            axdr.VISIBLE_STRING,
        ):
            v = t[1] if isinstance(t[1], str) else _text(t[1])
            m = "KAM" if v.startswith("Kamstrup") else v[:3].upper()
            if m in _SCALERS:
                return m
    if len(entries) and entries[0][0] is _KFM_LIST3[3]:
        return "KFM"  # Kaifa's list 1: one bare value
    return None


def _notification(apdu):
    # (date-time octets or None, notification-body) of a DATA-NOTIFICATION
    n = len(apdu)
    p = _head_end(apdu, 0, n)
    if p < 0 or p > n:
        raise HanError(UNKNOWN_LAYOUT)
    k = apdu[5]
    dt = None
    if k == 12:
        dt = apdu[6:18]
    elif k == 9:
        dt = apdu[7:19]
    elif k == 5:
        dt = bytes(apdu[6:11]) + b"\xff\xff\xff\xff\x80\x00\xff"
    try:
        body, end = axdr.decode(apdu, p)
    except DecodeError:
        raise HanError(UNKNOWN_LAYOUT)
    if end != n:
        raise HanError(UNKNOWN_LAYOUT)
    return dt, body


def _result():
    return {
        "kind": "han",
        "timestamp": None,
        "system_title": None,
        "invocation_counter": None,
        "values": {},
        "errors": [],
    }


def decode(apdu, keys=None, counters=None):
    """The result (see the module doc) of one APDU from ``ApduReader``: a
    DATA-NOTIFICATION, plain or in general-glo/ded-ciphering. ``keys``: a
    Keys; ``counters``: an InvocationCounters, consulted once the push has
    authenticated (or, SC 0x20, deciphered to an APDU). Never raises on
    content: what went wrong is in ``errors``, one reason per push."""
    res = _result()
    try:
        _decode(apdu, keys, counters, res)
    except HanError as e:
        res["errors"].append(e.reason)
    return res


def _decode(apdu, keys, counters, res):
    if not len(apdu):
        raise HanError(UNKNOWN_LAYOUT)
    title = ic = None
    if apdu[0] == _GLO or apdu[0] == _DED:
        title, sc, ic, apdu = _unprotect(apdu, keys, res)
        first = apdu[0] if len(apdu) else -1
        if first != _DATA_NOTIFICATION and first != _SLASH:
            # a wrong key turns ciphertext whose tag was not checked into noise
            verified = sc & _SC_AUTH and keys.get(title).ak is not None
            raise HanError(UNKNOWN_LAYOUT if verified else TAG_MISMATCH)
        if counters is not None and not counters.check(title, ic):
            counters.rejected += 1
            raise HanError(STALE_COUNTER)
        if first == _SLASH:  # a DSMR P1 telegram (Luxembourg's Smarty)
            if counters is not None and sc & _SC_AUTH and keys.get(title).ak is not None:
                counters.accept(title, ic)  # tag verified: its counter is the meter's
            res["telegram"] = "".join([chr(c) for c in apdu])
            return
    if apdu[0] != _DATA_NOTIFICATION:
        raise HanError(UNKNOWN_LAYOUT)
    dt, body = _notification(apdu)
    if dt is not None:
        res["timestamp"] = _iso(dt)  # shown even when the list is not one we know
    entries = _entries(body)
    if not entries:
        raise HanError(UNKNOWN_LAYOUT)
    if title is not None and counters is not None:
        # the counter is recorded only once the push has decoded: one in a
        # frame without a tag could be anyone's (1 in 256 random plaintexts
        # begin 0x0F), and a forged high one recorded would refuse the
        # meter's real pushes for good
        counters.accept(title, ic)
    maker = _maker(title, entries)
    values = res["values"]
    for code, typed, su in entries:
        v = _value(code, typed, su, maker)
        if v is not None:
            values[obis.short(code)] = v
    if res["timestamp"] is None:
        clock = values.get("0-0:1.0.0")
        if clock is not None and isinstance(clock["value"], str):
            res["timestamp"] = clock["value"]


class HanReceiver:
    """A HAN port end to end: ``feed(bytes)`` -> results (``decode``).

    ``keys``: a Keys (None: plain pushes only); ``counters``: an
    InvocationCounters (default: a new one in memory). Link-level drops are
    counted in ``reader.errors``, refused pushes in ``errors`` (reason ->
    count) and come back as results with their reason."""

    def __init__(self, keys=None, counters=None, framing=AUTO, max_apdu=MAX_APDU):
        self.reader = ApduReader(framing, max_apdu)
        self.keys = keys
        self.counters = InvocationCounters() if counters is None else counters
        self.errors = {}

    def feed(self, data):
        return self._decode(self.reader.feed(data))

    def idle(self):
        return self._decode(self.reader.idle())

    def _decode(self, apdus):
        out = []
        for a in apdus:
            r = decode(a, self.keys, self.counters)
            for e in r["errors"]:
                self.errors[e] = self.errors.get(e, 0) + 1
            out.append(r)
        return out
