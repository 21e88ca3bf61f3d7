"""Fuzz targets: one per parser that sees outside bytes (issue 9), on both runtimes.

A target takes one input (bytes) in ``run(data)`` and may raise only the
exception types in ``errors`` (the parser's documented ones: DecodeError,
ConfigError, HanError...; none for the links and servers, which turn every
malformed input into a protocol answer or a drop). Everything else that
escapes is an unexpected exception; so is any ``log.error`` line while the
target runs, because the links catch what escapes a frame or an APDU and log
it as an error (``never let one frame take the port down``): that is a crash
in disguise. Where a target produces output (frames, APDUs) it also checks the
output parses, and ``check()`` asserts that a known-good input is still
handled right (the server still answers a GET, the framer still finds a frame).

``mutate()`` makes the inputs: bit flips, interesting octets, octet insert and
delete, length-field lies (a length octet or a 16-bit length set near the
true one, or to the long forms 0x81/0x82/0xFF), truncation, splicing two seeds,
dictionary tokens and duplicated chunks, 1 to 4 of them stacked, from seeds
that are real frames (taken from the tests) or recorded sessions. ``fuzz()``
runs a target for N inputs from a seed: the same inputs on both runtimes.
On CPython ``fuzz(..., coverage=True)`` keeps every input that reached a new
line of firmware/ as a further seed (a small coverage-guided loop on
``sys.settrace``, for ``make fuzz``).

host_tests/test_fuzz.py runs each target a few thousand times (both
runtimes), test_fuzz_hypothesis.py lets hypothesis drive them (CPython),
tools/fuzz.py is the long run (``make fuzz``).
"""

import json
import sys

import log
from compat import ticks_add
from dlms import acse, axdr, hdlc, obis, wrapper, xdlms
from dlms.errors import DecodeError
from dlms.security import cipher
from support import Rng, by_entry, by_range, h

_HERE = __file__.rsplit("/", 1)[0] if "/" in __file__ else "."
MAX_INPUT = 4096

# octets that tend to mean something to a parser: lengths, flags, tags
_INTERESTING = (0x00, 0x01, 0x02, 0x03, 0x7E, 0x7F, 0x80, 0x81, 0x82, 0x83, 0x84, 0xFE, 0xFF)
_INTERESTING16 = (0x0000, 0x0001, 0x007F, 0x0080, 0x00FF, 0x0100, 0x07FF, 0x7FFF, 0x8000, 0xFFFF)

# -- mutations ---------------------------------------------------------------------------

OPS = 10  # how many kinds of mutation ``apply`` knows


def _put(d, i, v):
    b = bytearray(d)
    b[i] = v & 0xFF
    return bytes(b)


def apply(data, op, a, b, extra, seeds=(), tokens=()):
    """One mutation of ``data`` (bytes): ``op`` picks the kind, ``a`` and ``b``
    (non-negative ints) where and how, ``extra`` (bytes) what to insert.
    Deterministic: hypothesis draws the arguments, ``mutate`` the Rng.
    (Slices and concatenation only: MicroPython's bytearray cannot grow or
    shrink by slice.)"""
    d = bytes(data)
    n = len(d)
    if op == 0:  # flip one bit
        if n:
            i = a % n
            d = _put(d, i, d[i] ^ (1 << (b & 7)))
    elif op == 1:  # an interesting octet
        if n:
            d = _put(d, a % n, _INTERESTING[b % len(_INTERESTING)])
    elif op == 2:  # insert octets
        i = a % (n + 1)
        d = d[:i] + (extra or bytes((b & 0xFF,))) + d[i:]
    elif op == 3:  # delete octets
        if n:
            i = a % n
            d = d[:i] + d[i + 1 + b % 8 :]
    elif op == 4:  # a length field lies: near the octets that follow, or a long form
        if n:
            i = a % n
            rest = n - i - 1
            k = b % 8
            if k < 4:  # one octet
                v = (rest - 1, rest + 1, rest + 100, _INTERESTING[b % len(_INTERESTING)])[k]
                d = _put(d, i, v)
            elif i + 1 < n:  # two octets, big-endian
                v = (rest - 2, rest, rest + 1, _INTERESTING16[b % len(_INTERESTING16)])[k - 4]
                v &= 0xFFFF
                d = d[:i] + bytes((v >> 8, v & 0xFF)) + d[i + 2 :]
    elif op == 5:  # truncate
        if n:
            d = d[: a % n]
    elif op == 6:  # splice with a seed
        if seeds:
            other = seeds[b % len(seeds)]
            i = a % (n + 1)
            j = (a >> 8) % (len(other) + 1)
            d = d[:i] + bytes(other[j:])
    elif op == 7:  # a dictionary token
        if tokens:
            t = tokens[b % len(tokens)]
            i = a % (n + 1)
            if (a >> 12) & 1 and i < n:
                d = d[:i] + t + d[i + len(t) :]  # over the octets there
            else:
                d = d[:i] + t + d[i:]
    elif op == 8:  # duplicate a chunk
        if n:
            i = a % n
            chunk = d[i : i + 1 + b % 32]
            j = (a >> 8) % (n + 1)
            d = d[:j] + chunk + d[j:]
    else:  # overwrite with random octets
        if n and extra:
            i = a % n
            d = d[:i] + extra + d[i + len(extra) :]
    return d[:MAX_INPUT]


def mutate(rng, data, seeds=(), tokens=()):
    for _ in range(1 + rng.below(4)):
        op = rng.below(OPS)
        extra = rng.bytes(1 + rng.below(4)) if op in (2, 9) and rng.below(2) else b""
        data = apply(data, op, rng.next(), rng.next(), extra, seeds, tokens)
    return data


# -- the run -----------------------------------------------------------------------------


class Unexpected(Exception):
    """What a target's own checks found (a malformed answer, a wrong result)."""


class _ErrorTrap:
    """Stands in for log.error while a target runs: every call is a finding."""

    def __init__(self):
        self.calls = []

    def __call__(self, msg, *args):
        try:
            text = msg % args if args else msg
        except Exception:
            text = "%s %r" % (msg, args)
        self.calls.append(text)


class Result:
    def __init__(self, name):
        self.name = name
        self.inputs = 0
        self.unexpected = 0
        self.examples = []  # (input hex, what happened), the first few
        self.checks = 0
        self.corpus = 0  # inputs kept for new coverage (CPython, coverage=True)
        self.lines = 0  # firmware lines reached (coverage=True)

    def add(self, data, what):
        self.unexpected += 1
        if len(self.examples) < 5:
            self.examples.append((bytes(data).hex(), what))

    def __repr__(self):
        return "%s: %d inputs, %d unexpected" % (self.name, self.inputs, self.unexpected)


def _describe(e):
    return "%s: %s" % (type(e).__name__, e)


def run_one(target, data, result, trap):
    """Run one input; record anything unexpected in ``result``."""
    del trap.calls[:]
    try:
        target.run(data)
    except Exception as e:
        if not isinstance(e, target.errors) or isinstance(e, Unexpected):
            result.add(data, _describe(e))
            target.recover()
            return
    if trap.calls:
        result.add(data, "log.error: " + trap.calls[0])


def run_check(target, result, trap, data=b""):
    del trap.calls[:]
    result.checks += 1
    try:
        target.check()
    except Exception as e:
        result.add(data, "check after this input failed: " + _describe(e))
        target.recover()
        return
    if trap.calls:
        result.add(data, "log.error in the check: " + trap.calls[0])


def fuzz(target, n, seed=1, check_every=200, coverage=False, deadline=None):
    """``n`` inputs into ``target``; returns a Result. ``deadline``: a
    function returning True when time is up (tools/fuzz.py)."""
    result = Result(target.name)
    rng = Rng(seed * 7919 + len(target.name))
    seeds = [bytes(s)[:MAX_INPUT] for s in target.seeds()]
    tokens = tuple(target.tokens)
    pool = list(seeds)
    recent = []
    cov = _Coverage() if coverage else None
    trap = _ErrorTrap()
    saved = log.error
    log.error = trap
    try:
        run_check(target, result, trap)
        for s in seeds:  # every seed must go through cleanly
            run_one(target, s, result, trap)
            result.inputs += 1
        for i in range(n):
            if deadline is not None and i % 64 == 0 and deadline():
                break
            r = rng.below(32)
            if r == 0:
                data = rng.bytes(rng.below(96))
            elif r < 4 and recent:
                data = mutate(rng, recent[rng.below(len(recent))], seeds, tokens)
            else:
                data = mutate(rng, pool[rng.below(len(pool))], seeds, tokens)
            if cov is not None:
                cov.start()
            run_one(target, data, result, trap)
            if cov is not None and cov.stop():
                pool.append(data)
                result.corpus += 1
            result.inputs += 1
            recent.append(data)
            if len(recent) > 16:
                recent.pop(0)
            if (i + 1) % check_every == 0:
                run_check(target, result, trap, data)
        run_check(target, result, trap)
    finally:
        log.error = saved
    if cov is not None:
        result.lines = len(cov.seen)
    return result


# Viper loops (GHASH, CTR, CRCs): every input runs all their lines, and under
# the tracer they would take most of the time.
_UNTRACED = ("_ghash_tag", "_counters", "_xor", "_differ", "_table", "_crc_update", "_update")


class _Coverage:
    """Lines of firmware/ reached, through sys.settrace (CPython only)."""

    def __init__(self):
        self.seen = set()
        self.new = False
        root = _HERE.rsplit("/", 1)[0] if "/" in _HERE else ".."
        self.prefix = root + "/firmware/"

    def _local(self, frame, event, arg):
        if event == "line":
            key = (frame.f_code, frame.f_lineno)
            if key not in self.seen:
                self.seen.add(key)
                self.new = True
        return self._local

    def _global(self, frame, event, arg):
        code = frame.f_code
        if code.co_filename.startswith(self.prefix) and code.co_name not in _UNTRACED:
            return self._local
        return None

    def start(self):
        self.new = False
        sys.settrace(self._global)

    def stop(self):
        sys.settrace(None)
        return self.new


# -- helpers shared by targets -------------------------------------------------------------


# The tick period of this runtime: 2^30 on CPython (compat) and on 32-bit
# boards, 2^62 on the 64-bit unix port.
PERIOD = ticks_add(0, -1) + 1
_NEAR_WRAP = PERIOD - 300000  # the clocks start 5 minutes before the wrap


def ticks(t):
    """A millisecond count as ticks_ms() gives it, wrapping at PERIOD: the
    runs cross the wrap as a board does every 12 days. The targets keep their
    own clock unwrapped and pass this."""
    return t % PERIOD


def split(data, rng, parts=4):
    """``data`` in 1..parts chunks at rng-chosen places."""
    n = len(data)
    k = 1 + rng.below(parts)
    cuts = sorted(rng.below(n + 1) for _ in range(k - 1))
    out = []
    p = 0
    for c in cuts + [n]:
        out.append(data[p:c])
        p = c
    return out


def records(data):
    """The APDUs of a target input: a sequence of [length (2 octets)][APDU];
    the last one takes what is left when its length runs over."""
    out = []
    p = 0
    n = len(data)
    while p + 2 <= n:
        k = (data[p] << 8) | data[p + 1]
        out.append(data[p + 2 : p + 2 + k])
        p += 2 + k
    return out


def pack(*apdus):
    out = bytearray()
    for a in apdus:
        out += bytes((len(a) >> 8, len(a) & 0xFF)) + bytes(a)
    return bytes(out)


def _writer(fn, *args):
    w = axdr.Writer(512)
    fn(w, *args)
    return bytes(w.getvalue())


LN_LDN = obis.parse("0.0.42.0.0.255")
LN_CLOCK = obis.parse("0.0.1.0.0.255")
LN_ENERGY = obis.parse("1.0.1.8.0.255")
LN_DEMAND = obis.parse("1.0.1.4.0.255")
LN_PROFILE = obis.parse("1.0.99.1.0.255")
LN_ASSOC = obis.parse("0.0.40.0.0.255")
LN_SERIAL = obis.parse("0.0.96.1.0.255")
LN_BIG = obis.parse("0.0.128.0.0.255")  # host_tests/model.py's streamed array
LN_DISCONNECT = obis.parse("0.0.96.3.10.255")
LN_SECURITY = obis.parse("0.0.43.0.0.255")
LN_EVENTS = obis.parse("0.0.99.98.0.255")
LN_CALENDAR = obis.parse("0.0.13.0.0.255")

# Green Book / gurux AARQs, as in test_server.py: public (no authentication)
# and LLS with the password 12345678
AARQ_NONE = h(
    "60 1D A1 09 06 07 60 85 74 05 08 01 01 BE 10 04 0E 01 00 00 00 06 5F 1F 04 00 00 7E 1F 04 B0"
)
AARQ_LLS = h(
    "60 36 A1 09 06 07 60 85 74 05 08 01 01 8A 02 07 80 8B 07 60 85 74 05 08 02 01"
    " AC 0A 80 08 31 32 33 34 35 36 37 38 BE 10 04 0E 01 00 00 00 06 5F 1F 04 00 00 7E 1F 04 B0"
)
RLRQ = h("62 03 80 01 00")
RLRQ_INFO = h("62 15 80 01 00 BE 10 04 0E 01 00 00 00 06 5F 1F 04 00 00 7E 1F 04 B0")


def get(ln, attr, cls=1, selector=None, params=None, invoke=0xC1):
    return _writer(xdlms.get_request_normal, invoke, cls, ln, attr, selector, params)


def _profile_range():
    # the clock column from 2026-11-26 00:00 to 06:00 (deviation -60)
    def t(hour):
        return (axdr.OCTET_STRING, h("07 EA 0B 1A 04 %02X 00 00 00 FF C4 00" % hour))

    return by_range(t(0), t(6))


def requests():
    """Valid xDLMS requests of every form (GET, SET, ACTION; normal, next,
    with-list, blocks, selective access) on the simulator's objects."""
    out = [
        get(LN_LDN, 2),
        get(LN_LDN, 1),
        get(LN_CLOCK, 2, cls=8),
        get(LN_ENERGY, 2, cls=3),
        get(LN_ENERGY, 3, cls=3),
        get(LN_ASSOC, 2, cls=15),
        get(LN_PROFILE, 2, cls=7, selector=1, params=_profile_range()),
        get(LN_PROFILE, 2, cls=7, selector=2, params=by_entry(1, 4)),
        get(LN_PROFILE, 3, cls=7),
        get(LN_EVENTS, 2, cls=7, selector=2, params=by_entry(1, 4)),
        get(LN_BIG, 2),
        _writer(xdlms.get_request_next, 0xC1, 1),
        _writer(
            xdlms.get_request_with_list,
            0xC1,
            [(1, LN_LDN, 2), (3, LN_ENERGY, 2), (8, LN_CLOCK, 2), (1, LN_SERIAL, 2)],
        ),
        _writer(xdlms.set_request_normal, 0xC1, 5, LN_DEMAND, 8, (axdr.DOUBLE_LONG_UNSIGNED, 900)),
        _writer(
            xdlms.set_request_normal,
            0xC1,
            8,
            LN_CLOCK,
            2,
            (axdr.OCTET_STRING, h("07 EA 0B 1A 04 0C 00 00 00 FF C4 00")),
        ),
        _writer(
            xdlms.set_request_with_list,
            0xC1,
            [(5, LN_DEMAND, 8), (1, LN_SERIAL, 2)],
            [(axdr.DOUBLE_LONG_UNSIGNED, 900), (axdr.OCTET_STRING, b"x")],
        ),
        _writer(
            xdlms.set_request_first_datablock,
            0xC1,
            1,
            LN_SERIAL,
            2,
            False,
            axdr.to_bytes((axdr.OCTET_STRING, b"S" * 40))[:20],
        ),
        _writer(xdlms.set_request_datablock, 0xC1, True, 2, b"S" * 22),
        _writer(xdlms.action_request_normal, 0xC1, 3, LN_ENERGY, 1, (axdr.INTEGER, 0)),
        _writer(xdlms.action_request_normal, 0xC1, 8, LN_CLOCK, 6, (axdr.LONG, 30)),
        _writer(xdlms.action_request_normal, 0xC1, 70, LN_DISCONNECT, 1, (axdr.INTEGER, 0)),
        _writer(xdlms.action_request_normal, 0xC1, 15, LN_ASSOC, 1, (axdr.OCTET_STRING, bytes(16))),
        _writer(xdlms.action_request_normal, 0xC1, 64, LN_SECURITY, 1, (axdr.ENUM, 0)),
        _writer(xdlms.action_request_normal, 0xC1, 1, LN_BIG, 1, (axdr.LONG_UNSIGNED, 200)),
        h("C3 02 C1 00 00 00 01"),  # ACTION next-pblock
        # ACTION with-list: reset two registers
        h("C3 03 C1 02 00 03 01 00 01 08 00 FF 01 00 03 00 00 2A 00 00 FF 01 02 01 0F 00 00"),
        # ACTION with a first parameter block
        h("C3 04 C1 00 03 01 00 01 08 00 FF 01 00 00 00 00 01 02 0F 00"),
        h("C3 06 C1 01 00 00 00 02 00"),  # ACTION parameter block
        _writer(xdlms.get_request_normal, 0xC1, 20, LN_CALENDAR, 3),
    ]
    return out


# -- the targets -----------------------------------------------------------------------------


class Target:
    name = ""
    errors = ()  # the exception types run() may raise (a tuple)
    tokens = ()  # octet strings the mutator may insert

    def seeds(self):
        return []

    def run(self, data):
        raise NotImplementedError

    def check(self):
        pass

    def recover(self):
        """After an unexpected exception: start clean (a new object)."""


# HDLC ------------------------------------------------------------------------------------------


def _hdlc_seeds():
    c = hdlc.encode_address(16)
    s2 = hdlc.encode_address(1, 16)
    s4 = hdlc.encode_address(1, 16, 4)
    i0 = hdlc.control(hdlc.I_FRAME, 0, 0)
    return [
        # gurux's SNRM without parameters (62056-46), and one with them
        hdlc.encode(s2, c, hdlc.control(hdlc.SNRM)),
        hdlc.encode(s2, c, hdlc.control(hdlc.SNRM), hdlc.encode_parameters(512, 256, 7, 7)),
        hdlc.encode(c, s2, hdlc.control(hdlc.UA), hdlc.encode_parameters(sizes=(0, 0, 4, 4))),
        hdlc.encode(s2, c, i0, hdlc.LLC_COMMAND + AARQ_NONE),
        hdlc.encode(s4, c, i0, hdlc.LLC_COMMAND + get(LN_LDN, 2)),
        hdlc.encode(s2, c, i0, hdlc.LLC_COMMAND + AARQ_NONE[:10], segmented=True),
        hdlc.encode(s2, c, hdlc.control(hdlc.RR, 3)),
        hdlc.encode(s2, c, hdlc.control(hdlc.DISC)),
        hdlc.encode(c, s2, hdlc.control(hdlc.FRMR), h("93 00 01")),
    ]


HDLC_TOKENS = (b"\x7e", b"\x7e\xa0", b"\xe6\xe6\x00", b"\x81\x80", b"\x03\x21\x93", b"\x7e\x7e")


class HdlcFrames(Target):
    """dlms.hdlc: decode_frame, decode_parameters, strip_llc, and the Framer
    fed the same octets in chunks. A frame the Framer delivers must encode
    back to a frame decode_frame reads the same."""

    name = "hdlc"
    errors = (DecodeError,)
    tokens = HDLC_TOKENS

    def __init__(self):
        self.rng = Rng(46)
        self.framer = hdlc.Framer()
        self.known = _hdlc_seeds()[3]

    def seeds(self):
        return _hdlc_seeds() + [b"".join(_hdlc_seeds())]

    def recover(self):
        self.framer = hdlc.Framer()

    def run(self, data):
        self._framer(data)
        f = hdlc.decode_frame(data)
        if f.kind in (hdlc.SNRM, hdlc.UA):
            hdlc.decode_parameters(f.info)
        hdlc.strip_llc(f.info)

    def _framer(self, data):
        fr = self.framer
        for chunk in split(data, self.rng):
            fr.receive_data(chunk)
            while True:
                f = fr.next_frame()
                if f is None:
                    break
                self._same(f)
        if self.rng.below(4) == 0:
            fr.timeout()  # the line went quiet
            while fr.next_frame() is not None:
                pass

    def _same(self, f):
        d = hdlc.encode_address(*f.dest)
        s = hdlc.encode_address(*f.src)
        raw = hdlc.encode(d, s, f.control, bytes(f.info), f.segmented)
        g = hdlc.decode_frame(raw)
        if (g.dest, g.src, g.control, bytes(g.info), g.segmented) != (
            f.dest,
            f.src,
            f.control,
            bytes(f.info),
            f.segmented,
        ):
            raise Unexpected("the framer's frame does not encode back to itself")

    def check(self):
        fr = self.framer
        fr.timeout()
        while fr.next_frame() is not None:
            pass
        fr.receive_data(self.known)
        f = fr.next_frame()
        if f is None or bytes(f.info) != hdlc.LLC_COMMAND + AARQ_NONE:
            raise Unexpected("the framer lost a good frame")
        f = hdlc.decode_frame(self.known)
        assert (f.kind, f.dest, f.src) == (hdlc.I_FRAME, (1, 16, 2), (16, None, 1))


def _small_server(max_pdu=512):
    from model import build

    return build(max_pdu)


def _exchange_hdlc(link, client, apdus, t):
    """Our HDLC client through ``link``: SNRM, the APDUs, DISC; the responses."""
    from dlms.hdlc_client import HdlcClientLink

    c = HdlcClientLink(client, 1, 16, 2, 64, 3)
    out = []
    stream = bytearray()

    def send(data):
        stream.extend(data)
        link.receive_data(data, t)
        for _ in range(50):
            back = link.data_to_send()
            if not back:
                raise Unexpected("the link did not answer")
            r = c.receive_data(back)
            more = c.data_to_send()
            if r is not None:
                return r
            if more:
                stream.extend(more)
                link.receive_data(more, t)
        raise Unexpected("no end to the answer")

    if send(c.snrm()) != b"":
        raise Unexpected("no UA")
    for a in apdus:
        out.append(send(c.request(a)))
    send(c.disc())
    return out, bytes(stream)


class HdlcLink(Target):
    """dlms.hdlc_link.HdlcServerLink (the meter's HDLC port) on the small
    model, fed octets in chunks with time passing between them (inter-octet
    and inactivity time-outs). Everything it sends must be whole, good frames."""

    name = "hdlc_link"
    errors = ()
    tokens = HDLC_TOKENS

    def __init__(self):
        from dlms.hdlc_link import HdlcServerLink

        self.rng = Rng(4061)
        self.server = _small_server(1024)
        self.link = HdlcServerLink(self.server, 16, 128, 7)
        self.t = _NEAR_WRAP
        self.out = hdlc.Framer()

    def recover(self):
        from dlms.hdlc_link import HdlcServerLink

        self.link = HdlcServerLink(self.server, 16, 128, 7)

    def seeds(self):
        from dlms.hdlc_link import HdlcServerLink

        link = HdlcServerLink(_small_server(1024), 16, 128, 7)
        _, session = _exchange_hdlc(link, 16, [AARQ_NONE, get(LN_LDN, 2), get(LN_BIG, 2)], 0)
        _, lls = _exchange_hdlc(link, 17, [AARQ_LLS, get(LN_ASSOC, 2, cls=15), RLRQ], 0)
        return _hdlc_seeds() + [session, lls]

    def run(self, data):
        link = self.link
        rng = self.rng
        for chunk in split(data, rng):
            r = rng.below(16)
            self.t += 1 if r < 12 else (300 if r < 15 else 130000)
            link.poll(ticks(self.t))
            link.receive_data(chunk, ticks(self.t))
            self._output(link.data_to_send())

    def _output(self, out):
        if not out:
            return
        fr = self.out
        fr.reset()
        fr.dropped = 0
        for i in range(0, len(out), 256):  # never more than the framer holds
            fr.receive_data(out[i : i + 256])
            while fr.next_frame() is not None:
                pass
        if fr.dropped or fr.pending():
            raise Unexpected("the link sent octets outside good frames")

    def check(self):
        self.t += 1000  # quiet line: any partial frame is dropped
        self.link.poll(ticks(self.t))
        self._output(self.link.data_to_send())  # answers to frames it held back
        got, _ = _exchange_hdlc(self.link, 16, [AARQ_NONE, get(LN_LDN, 2)], ticks(self.t))
        if xdlms.decode_response(got[1]).results[0][1][1] != b"MPY0000000000001":
            raise Unexpected("wrong answer to a GET")


# wrapper ---------------------------------------------------------------------------------------


def _wrap(src, dst, *apdus):
    return b"".join(wrapper.encode(src, dst, a) for a in apdus)


class Wrapper(Target):
    """dlms.wrapper.Reassembler in chunks (DecodeError: the stream is lost),
    then dlms.wrapper_link.WrapperServerLink on the small model with the same
    octets: it never raises, and what it sends reassembles into whole frames."""

    name = "wrapper"
    errors = (DecodeError,)
    tokens = (b"\x00\x01", b"\x00\x01\x00\x10\x00\x01", b"\x00\x01\x00\x11\x00\x01\x00")

    def __init__(self):
        self.rng = Rng(4059)
        self.server = _small_server(512)

    def seeds(self):
        return [
            _wrap(16, 1, AARQ_NONE, get(LN_LDN, 2), get(LN_BIG, 2), h("C0 02 C1 00 00 00 01")),
            _wrap(17, 1, AARQ_LLS, get(LN_ASSOC, 2, cls=15), RLRQ),
            _wrap(16, 1, AARQ_NONE) + h("00 01 00 10 00 01 08 00") + bytes(40),  # over-size
            _wrap(16, 5, AARQ_NONE),  # no logical device there
        ]

    def run(self, data):
        from dlms.wrapper_link import WrapperServerLink

        rng = self.rng
        link = WrapperServerLink(self.server)
        out = bytearray()
        for chunk in split(data, rng):
            link.receive_data(chunk)
            out += link.data_to_send()
        if link.closed and rng.below(2):
            link.close()
        r = wrapper.Reassembler(2048)
        r.receive_data(bytes(out))
        try:
            while r.next_frame() is not None:
                pass
        except DecodeError as e:
            raise Unexpected("the link sent a broken wrapper frame: %s" % e)
        if r.pending():
            raise Unexpected("the link sent part of a wrapper frame")
        reasm = wrapper.Reassembler(256)
        for chunk in split(data, rng):
            while chunk:
                n = min(reasm.space(), len(chunk))
                if n == 0 and reasm.next_frame() is None:
                    break
                reasm.receive_data(chunk[:n])
                chunk = chunk[n:]
                while reasm.next_frame() is not None:
                    pass

    def check(self):
        from dlms.wrapper_link import WrapperServerLink

        link = WrapperServerLink(self.server)
        link.receive_data(_wrap(16, 1, AARQ_NONE, get(LN_LDN, 2)))
        r = wrapper.Reassembler(2048)
        r.receive_data(link.data_to_send())
        r.next_frame()
        apdu = bytes(r.next_frame()[2])
        if xdlms.decode_response(apdu).results[0][1][1] != b"MPY0000000000001":
            raise Unexpected("wrong answer to a GET")


# A-XDR -----------------------------------------------------------------------------------------


class Axdr(Target):
    """dlms.axdr.decode and skip; what decodes must encode, and decode again to
    the same encoding; skip ends where decode ends."""

    name = "axdr"
    errors = (DecodeError,)
    tokens = (b"\x01\x82\xff\xff", b"\x02\x10", b"\x13\x02\x02", b"\x19", b"\x0c\x02\xc3")

    def seeds(self):
        from test_axdr import EXAMPLES

        out = [h(x) for x, _ in EXAMPLES]
        out.append(
            h("02 03") + h(EXAMPLES[-3][0]) + h(EXAMPLES[0][0]) + h("01 82 00 02 11 01 11 02")
        )
        return out

    def run(self, data):
        v, end = axdr.decode(data)
        if axdr.skip(data) != end:
            raise Unexpected("skip and decode end in different places")
        try:
            b = axdr.to_bytes(v)
        except ValueError as e:
            raise Unexpected("decoded data does not encode: %s" % e)
        v2, end2 = axdr.decode(b)
        if end2 != len(b) or axdr.to_bytes(v2) != b:
            raise Unexpected("encode(decode(x)) does not decode to itself")

    def check(self):
        v, end = axdr.decode(h("02 02 0F FE 16 1E"))
        assert (v, end) == ((axdr.STRUCTURE, [(axdr.INTEGER, -2), (axdr.ENUM, 30)]), 6)


# xDLMS requests and the AARQ ------------------------------------------------------------------


class Xdlms(Target):
    """dlms.xdlms.decode_request (GET, SET, ACTION in all their forms)."""

    name = "xdlms"
    errors = (DecodeError,)
    tokens = (b"\xc0\x01\xc1", b"\xc1\x01\xc1", b"\xc3\x01\xc1", b"\x00\x01\x00\x2a\x00\x00\xff")

    def seeds(self):
        return requests()

    def run(self, data):
        r = xdlms.decode_request(data)
        if r.tag not in (xdlms.GET_REQUEST, xdlms.SET_REQUEST, xdlms.ACTION_REQUEST):
            raise Unexpected("decoded something that is no request")

    def check(self):
        r = xdlms.decode_request(get(LN_LDN, 2))
        assert (r.tag, r.kind, r.items[0][:3]) == (xdlms.GET_REQUEST, 1, (1, LN_LDN, 2))


def _ciphered_aarqs():
    """AARQs of a ciphered association (HLS-GMAC, ciphered InitiateRequest, a
    dedicated key), as our client sends them."""
    from dlms.client import Client, ClientSecurity

    class Capture:
        def __init__(self):
            self.sent = []

        def exchange(self, apdu):
            self.sent.append(bytes(apdu))
            raise OSError("captured")

    out = []
    for ded in (None, bytes(range(16))):
        t = Capture()
        sec = ClientSecurity(b"MPYFUZZ1", bytes(range(16)), bytes(range(16, 32)), dedicated_key=ded)
        try:
            Client(t, acse.MECHANISM_HLS_GMAC, security=sec).associate()
        except OSError:
            pass
        out += t.sent
    return out


class Aarq(Target):
    """dlms.acse: decode_aarq, decode_initiate_request of its user-information,
    decode_rlrq (BER, Green Book 9.4)."""

    name = "aarq"
    errors = (DecodeError,)
    tokens = (b"\xa1\x09\x06\x07\x60\x85\x74\x05\x08\x01", b"\xbe\x10\x04\x0e", b"\x5f\x1f\x04\x00")

    def seeds(self):
        return [AARQ_NONE, AARQ_LLS, RLRQ, RLRQ_INFO] + _ciphered_aarqs()

    def run(self, data):
        if len(data) and data[0] == acse.RLRQ:
            acse.decode_rlrq(data)
            return
        a = acse.decode_aarq(data)
        if a.user_information is not None and a.user_information[:1] == b"\x01":
            acse.decode_initiate_request(a.user_information)

    def check(self):
        a = acse.decode_aarq(AARQ_LLS)
        assert (a.context, a.mechanism, a.calling_auth_value) == (1, 1, b"12345678")


# the server's request handling ------------------------------------------------------------------


def _meter(clients=None):
    """The simulated meter's object model (app.meter), in memory, its clock stopped."""
    from app import config
    from app.meter import build_meter
    from hal.clock import ManualClock

    over = {"clients": clients} if clients else {}
    cfg = config.load(json.dumps(over))
    return build_meter(cfg, hal_clock=ManualClock(1795000000)).server


PLAIN_CLIENTS = [
    {"sap": 16, "level": "public", "authentication": "none"},
    {"sap": 17, "level": "reader", "authentication": "lls", "password": "12345678"},
    {"sap": 1, "level": "manager", "authentication": "none"},
]
_SAPS = (16, 17, 1)
LDN = b"MPY0000000000001"


def check_response(resp, limit):
    """An answer of the server parses as what it says it is, within ``limit``."""
    if resp is None:
        return
    r = bytes(resp)
    if not r:
        raise Unexpected("an empty answer")
    if len(r) > limit:
        raise Unexpected("an answer of %d octets over the %d allowed" % (len(r), limit))
    try:
        if r[0] == acse.AARE:
            acse.decode_aare(r)
        elif r[0] == acse.RLRE:
            acse.decode_rlre(r)
        else:
            xdlms.decode_response(r)
    except DecodeError as e:
        raise Unexpected("the server's answer does not parse: %s: %s" % (e, r.hex()))


class Server(Target):
    """dlms.server.Association.handle on the simulator's whole object model
    (app.meter): an input is a client (first octet: 16 public, 17 reader
    with LLS, 1 manager) and a sequence of APDUs ([length][APDU]...), played
    on a fresh association: AARQ, GET/SET/ACTION with blocks, RLRQ. Every
    answer must parse and fit the PDU size."""

    name = "server"
    errors = ()
    tokens = (b"\x00\x1f", b"\xc0\x01\xc1", b"\xc1\x02\xc1", b"\xc3\x01\xc1", b"\x01\x00\x01\x08")

    def __init__(self):
        self.server = _meter(PLAIN_CLIENTS)

    def recover(self):
        self.server = _meter(PLAIN_CLIENTS)

    def seeds(self):
        reqs = requests()
        return [
            bytes((16,)) + pack(AARQ_NONE, *reqs[:12]),
            bytes((17,)) + pack(AARQ_LLS, *(reqs[:12] + [RLRQ_INFO])),
            bytes((1,)) + pack(AARQ_NONE, *reqs[12:]),
            bytes((1,)) + pack(AARQ_NONE, get(LN_PROFILE, 2, cls=7), reqs[11], reqs[11]),
            bytes((16,)) + pack(get(LN_LDN, 2), AARQ_NONE, RLRQ, get(LN_LDN, 2)),
        ]

    def run(self, data):
        if not len(data):
            return
        sap = _SAPS[data[0] % 3] if data[0] not in _SAPS else data[0]
        a = self.server.association(sap, 1)
        limit = self.server.max_pdu
        for apdu in records(data[1:]):
            check_response(a.handle(apdu), limit)
        a.abort()

    def check(self):
        a = self.server.association(16, 1)
        aare = acse.decode_aare(bytes(a.handle(AARQ_NONE)))
        if aare.result != acse.RESULT_ACCEPTED:
            raise Unexpected("the public client is refused")
        r = xdlms.decode_response(bytes(a.handle(get(LN_LDN, 2))))
        if r.results[0] != ("data", (axdr.OCTET_STRING, LDN)):
            raise Unexpected("wrong answer to a GET: %r" % (r.results,))


class _Loop:
    def __init__(self, a):
        self.a = a

    def exchange(self, apdu):
        r = self.a.handle(apdu)
        return bytes(r) if r is not None else b""


_GLO_FORM = (0x01, 0x08, 0x0E, 0xC0, 0xC1, 0xC2, 0xC3, 0xC4, 0xC5, 0xC7)


class ServerCiphered(Target):
    """The same server with the simulator's default security (client 1:
    HLS-GMAC, authenticated encryption, suite 0), in one association set up by
    our client. The first octet picks the mode: even, the rest is plain APDUs
    ([length][APDU]...) that the harness ciphers with the right key and a
    fresh invocation counter, so the server deciphers and serves them (and its
    ciphered answers must decipher); odd, the rest goes in as it is (the
    ciphered envelope itself: glo-, ded-, general-glo-ciphering, replays)."""

    name = "server_ciphered"
    errors = ()
    tokens = (b"\xc8", b"\xdb\x08", b"\x30\x00\x00\x00", b"\xc0\x01\xc1", b"\xc3\x01\xc1")

    def __init__(self):
        self.server = _meter()
        self.ic = 0
        self.client = None
        self._associate()

    def recover(self):
        self.server = _meter()
        self.client = None
        self._associate()

    def _associate(self):
        from dlms.client import Client, ClientSecurity

        if self.client is not None:
            self.ic = self.client.security.ic
        sec = ClientSecurity(
            b"MPYFUZZ1",
            h("000102030405060708090A0B0C0D0E0F"),
            h("D0D1D2D3D4D5D6D7D8D9DADBDCDDDEDF"),
            ic=self.ic,
        )
        self.assoc = self.server.association(1, 1)
        self.client = Client(_Loop(self.assoc), acse.MECHANISM_HLS_GMAC, security=sec)
        self.client.associate()

    def seeds(self):
        c = self.client
        reqs = requests()
        ciphered = [c._protect(r) for r in reqs[:6]]
        sec = c.security
        sec.general = True
        ciphered += [c._protect(r) for r in reqs[6:9]]
        sec.general = False
        return [
            b"\x00" + pack(*reqs[:12]),
            b"\x00" + pack(*reqs[12:]),
            b"\x00" + pack(get(LN_BIG, 2), reqs[11], reqs[11]),
            b"\x01" + pack(*ciphered),
            b"\x01" + pack(ciphered[0], ciphered[0]),  # a replay
        ]

    def run(self, data):
        from dlms.server import STATE_ASSOCIATED

        if not len(data):
            return
        if self.assoc.state != STATE_ASSOCIATED:
            self._associate()
        c = self.client
        limit = self.server.max_pdu
        inner = not data[0] & 1
        for apdu in records(data[1:]):
            if inner and len(apdu):
                # a plain tag without a glo- form goes in general-glo-ciphering
                c.security.general = apdu[0] not in _GLO_FORM
                apdu = c._protect(apdu)
                c.security.general = False
            resp = self.assoc.handle(apdu)
            if resp is not None and cipher.is_protected(resp[0]):
                try:
                    resp = c._unprotect(bytes(resp))
                except Exception as e:
                    raise Unexpected("a ciphered answer does not decipher: %s" % e)
            check_response(resp, limit)

    def check(self):
        from dlms.server import STATE_ASSOCIATED

        if self.assoc.state != STATE_ASSOCIATED:
            self._associate()
        if self.client.get(1, LN_LDN, 2) != (axdr.OCTET_STRING, LDN):
            raise Unexpected("wrong answer to a ciphered GET")


# the reading side: what a gateway or our client takes from a meter ----------------------------


def _responses():
    """A session's answers from the simulated meter (client 17, LLS): AARE,
    GET normal/with-list/blocks, SET, ACTION, exception, RLRE."""
    server = _meter(PLAIN_CLIENTS)
    out = []
    for sap, aarq, reqs in ((17, AARQ_LLS, requests()[:13]), (1, AARQ_NONE, requests()[13:])):
        a = server.association(sap, 1)
        for apdu in [aarq] + reqs + [RLRQ_INFO, get(LN_LDN, 2)]:
            r = a.handle(apdu)
            if r is not None:
                out.append(bytes(r))
    return out


class Client(Target):
    """What a gateway reads from a meter: dlms.xdlms.decode_response,
    dlms.acse.decode_aare / decode_rlre / decode_initiate_response,
    dlms.notification.decode (DecodeError), the HDLC client link
    (dlms.hdlc_client, LinkError) fed the meter's frames, and the
    IEC 62056-21 reader (dlms.iec62056_21_client) fed a meter's answers."""

    name = "client"
    tokens = (
        b"\xc4\x01\xc1\x00",
        b"\xc4\x02\xc1",
        b"\x61\x29",
        b"\x0f",
        b"\x7e\xa0",
        b"\x02",
        b"\x03",
    )

    def __init__(self):
        from dlms.hdlc_client import LinkError

        self.errors = (DecodeError, LinkError)
        self.rng = Rng(62056)
        self.t = _NEAR_WRAP

    def seeds(self):
        from dlms import notification
        from dlms.hdlc_link import HdlcServerLink

        out = _responses()
        out.append(
            notification.encode(
                notification.long_invoke_id(1), (axdr.STRUCTURE, [(axdr.UNSIGNED, 1)]), bytes(12)
            )
        )
        link = HdlcServerLink(_small_server(1024), 16, 128, 7)
        frames = bytearray()
        for data in (
            hdlc.encode(
                hdlc.encode_address(1, 16), hdlc.encode_address(16), hdlc.control(hdlc.SNRM)
            ),
            hdlc.encode(
                hdlc.encode_address(1, 16),
                hdlc.encode_address(16),
                hdlc.control(hdlc.I_FRAME, 0, 0),
                hdlc.LLC_COMMAND + AARQ_NONE,
            ),
        ):
            link.receive_data(data)
            frames += link.data_to_send()
        out.append(b"\x7e" + bytes(frames))
        out.append(b"/MPY5\\2MPY0000000000001\r\n\x021.8.0(012345.678*kWh)\r\n!\r\n\x03\x1d")
        return out

    def run(self, data):
        from dlms import notification
        from dlms.hdlc_client import HdlcClientLink
        from dlms.iec62056_21_client import Iec62056Client, parse_data_message

        if len(data) and data[0] == 0x7E:
            c = HdlcClientLink(16, 1, 16, 2)
            c.receive_data(hdlc.encode_address(16))  # noise first
            for chunk in split(data, self.rng):
                c.receive_data(chunk)
                c.data_to_send()
            return
        if len(data) and data[0] == 0x2F:  # '/': a 62056-21 meter's answers
            c = Iec62056Client()
            c.start(ticks(self.t))
            for chunk in split(data, self.rng):
                self.t += 300
                c.poll(ticks(self.t))
                c.receive_data(chunk, ticks(self.t))
                while c.data_to_send() or c.next_event():
                    pass
            parse_data_message(data)
            return
        tag = data[0] if len(data) else -1
        if tag == acse.AARE:
            a = acse.decode_aare(data)
            if a.user_information and a.user_information[:1] == b"\x08":
                acse.decode_initiate_response(a.user_information)
        elif tag == acse.RLRE:
            acse.decode_rlre(data)
        elif tag == xdlms.DATA_NOTIFICATION:
            notification.decode(data)
        else:
            xdlms.decode_response(data)

    def check(self):
        r = xdlms.decode_response(h("C4 01 C1 00 09 10") + LDN)
        assert r.results[0] == ("data", (axdr.OCTET_STRING, LDN))


# IEC 62056-21 ----------------------------------------------------------------------------------

_P1 = b"\x01P1\x02(12345678)\x03i"
_R1 = b"\x01R1\x021.8.0()\x03Z"
_B0 = b"\x01B0\x03q"


def _cmd(c, d):
    from dlms.iec62056_21 import command_message

    return command_message(c, d)


class Iec62056(Target):
    """dlms.iec62056_21.Iec62056Server (the optical port) with the simulator's
    readout, R1 and W1 on its objects (ObjectAccess), password 12345678: the
    input arrives in chunks, with pauses of every length between them (t_r,
    t_a, t_t, the inactivity time-out); a mode E hand-over is given back."""

    name = "iec62056_21"
    errors = ()
    tokens = (b"/?!\r\n", b"\x06050\r\n", b"\x06051\r\n", b"\x01P1\x02(", b"\x03", b"\x02", b"\r\n")

    def __init__(self):
        self.rng = Rng(1107)
        self.device = _meter(PLAIN_CLIENTS).devices[1]
        self._new()

    def _new(self):
        from dlms.iec62056_21 import Iec62056Server, ObjectAccess

        codes = ["0.0.96.1.0.255", "0.0.1.0.0.255", "1.0.1.8.0.255", "1.0.1.4.0.255"]
        codes += ["1.0.32.7.0.255", "0.0.96.14.0.255"]
        access = ObjectAccess(self.device, codes)
        self.s = Iec62056Server(
            "MPY0000000000001",
            access.readout,
            password="12345678",
            read=access.read,
            write=access.write,
        )
        self.t = _NEAR_WRAP

    def recover(self):
        self._new()

    def seeds(self):
        return [
            b"/?!\r\n\x06050\r\n",
            b"/?!\r\n\x06051\r\n" + _P1 + _R1 + _cmd("W1", "1.4.0(900)") + _B0,
            b"/?!\r\n\x06051\r\n" + _P1 + _cmd("W1", "0.0.96.1.0(x)") + _cmd("R1", "1-0:1.8.0(1)"),
            b"/?MPY0000000000001!\r\n\x06052\r\n",
            b"/?!\r\n\x06050\r\n\x15\x15\x06",
            b"/?12!\r\n/?!\r\n\x060Z0\r\n",
        ]

    def _drain(self):
        from dlms.iec62056_21 import MODE_E

        s = self.s
        got = bytearray()
        while True:
            got += s.data_to_send()
            ev = s.next_event()
            if ev is None:
                break
            if ev[0] == MODE_E:
                s.reset()  # the HDLC session is over at once
        return bytes(got)

    def _wait(self, ms):
        # poll when the server asks (wait_ms), but in at most ~10 steps: a
        # long pause need not be walked every 50 ms
        end = self.t + ms
        least = max(1, ms // 8)
        while True:
            w = self.s.wait_ms(ticks(self.t))
            step = end - self.t if w is None else max(w, least, 1)
            self.t = min(end, self.t + step)
            self.s.poll(ticks(self.t))
            self._drain()
            if self.t >= end:
                return

    def run(self, data):
        rng = self.rng
        for chunk in split(data, rng):
            self.s.receive_data(chunk, ticks(self.t))
            self._drain()
            r = rng.below(8)
            self._wait((5, 250, 250, 600, 1600, 2300, 3000, 130000)[r])

    def check(self):
        # any session ends at the inactivity time-out (120 s after the line
        # went quiet: after whatever is still queued to go at 300 Bd)
        self._wait(130000)
        for _ in range(30):
            if not self.s.busy():
                break
            self._wait(10000)
        self.s.receive_data(b"/?!\r\n", ticks(self.t))
        got = self._drain()
        end = self.t + 2000
        while not got.endswith(b"\r\n") and self.t < end:
            self.t += 50
            self.s.poll(ticks(self.t))
            got += self._drain()
        if got != b"/MPY5\\2MPY0000000000001\r\n":
            raise Unexpected("no identification after a sign-on: %r" % got)
        self._wait(5000)


# DSMR P1 ---------------------------------------------------------------------------------------

SMARTY_KEY = h("D491470F47126332B07D1923B3504188")
_DSMR_FILES = (
    "dsmr50_iskra.txt",
    "dsmr502_spec_example.txt",
    "emucs_fluvius_v171.txt",
    "dsmr22_example.txt",
    "dsmr30_example.txt",
    "dsmr42_kaifa.txt",
)


def _data(path):
    with open(_HERE + "/data/" + path, "rb") as f:
        return f.read()


def smarty_frame():
    import binascii

    return binascii.unhexlify(_data("dsmr/smarty_encrypted.hex").replace(b"\n", b""))


class Dsmr(Target):
    """gateway.dsmr: TelegramFramer in chunks, parse (and exact=True),
    mbus_devices and check_telegram of each telegram, parse of the raw input,
    and SmartyReader (Luxembourg's encrypted P1). First octet odd: the rest is
    a plaintext telegram that the harness encrypts as a Smarty frame with the
    right key and a fresh frame counter, so the decrypted text is parsed."""

    name = "dsmr"
    errors = ()
    tokens = (b"1-0:1.8.1(", b"*kWh)", b"0-1:24.2.1(", b"!", b"\r\n", b"(", b")", b"*", b"/")

    def __init__(self):
        from gateway import dsmr

        self.rng = Rng(1)
        self.framer = dsmr.TelegramFramer()
        self.smarty = dsmr.SmartyReader(SMARTY_KEY)
        self.fc = 0x10000000
        self.known = _data("dsmr/" + _DSMR_FILES[0])
        self.frame = smarty_frame()

    def recover(self):
        self.__init__()

    def seeds(self):
        t = [_data("dsmr/" + f) for f in _DSMR_FILES]
        return [b"\x00" + x for x in t] + [b"\x01" + t[0], b"\x00" + self.frame, b"\x01" + t[2]]

    def _encrypt(self, plain):
        from dlms.security.gcm import Gcm
        from gateway import dsmr

        self.fc += 1
        title = b"SAGgp\x01\xbdT"
        fc = bytes(((self.fc >> 24) & 0xFF, (self.fc >> 16) & 0xFF, (self.fc >> 8) & 0xFF))
        fc += bytes((self.fc & 0xFF,))
        ct, tag = Gcm(SMARTY_KEY).encrypt(title + fc, b"\x30" + dsmr.SMARTY_AK, plain, 12)
        n = 5 + len(ct) + 12
        return b"\xdb\x08" + title + bytes((0x82, n >> 8, n & 0xFF)) + b"\x30" + fc + ct + tag

    def _telegram(self, t):
        from gateway import dsmr

        r = dsmr.parse(t)
        dsmr.mbus_devices(r["values"])
        dsmr.parse(t, exact=True)
        dsmr.check_telegram(t)
        for v in r["values"].values():
            ts = v.get("timestamp") if isinstance(v, dict) else None
            if ts is not None:
                dsmr.iso(ts)

    def run(self, data):
        from gateway import dsmr

        if not len(data):
            return
        body = data[1:]
        if data[0] & 1 and len(body) < 2000:
            for t in self.smarty.feed(self._encrypt(body)):
                self._telegram(t)
            return
        for chunk in split(body, self.rng):
            for t in self.framer.feed(chunk):
                self._telegram(t)
            for t in self.smarty.feed(chunk):
                self._telegram(t)
        dsmr.parse(body)
        if self.rng.below(4) == 0:
            self.framer.reset()
            self.smarty.reset()

    def check(self):
        from gateway import dsmr

        self.framer.reset()
        got = self.framer.feed(self.known)
        if len(got) != 1 or got[0] != self.known:
            raise Unexpected("the framer lost a good telegram")
        if dsmr.parse(got[0])["values"]["1-0:1.8.1"]["unit"] != "kWh":
            raise Unexpected("wrong parse of a good telegram")
        self.smarty.reset()
        self.smarty.counters = dsmr.FrameCounters()
        if len(self.smarty.feed(self.frame)) != 1:
            raise Unexpected("the Smarty reader lost a good frame")


# HAN -------------------------------------------------------------------------------------------


def han_samples():
    """name -> (framing, data, ek, ak) from data/han/samples.txt."""
    out = {}
    cur = None
    text = _data("han/samples.txt").decode()
    for line in text.split("\n"):
        if line.startswith("#"):
            continue
        if line.startswith("== "):
            cur = out[line[3:].strip()] = {"hex": "", "in_hex": False}
        elif cur is None or not line.strip():
            continue
        elif cur["in_hex"]:
            cur["hex"] += line
        elif line.startswith("hex:"):
            cur["in_hex"] = True
        else:
            k, _, v = line.partition(":")
            cur[k.strip()] = v.strip()
    for s in out.values():
        s["data"] = h(s.pop("hex"))
    return out


class Han(Target):
    """gateway.han: HanReceiver (ApduReader framings: HDLC, M-Bus, wrapper,
    raw; general-block-transfer; unprotect with the samples' keys; decode of
    the DATA-NOTIFICATION) fed in chunks with idle gaps, plus han.decode of
    the raw input and han.unprotect (HanError)."""

    name = "han"
    tokens = (b"\x7e\xa0", b"\x68", b"\x16", b"\x0f", b"\xdb\x08", b"\xe0\x80", b"\x09\x06\x01\x00")

    def __init__(self):
        from gateway import han

        self.han = han
        self.errors = (han.HanError,)
        self.rng = Rng(7)
        self.samples = han_samples()
        # every sample's key, under the system title its pushes carry
        keys = han.Keys()
        for s in self.samples.values():
            if not s.get("ek"):
                continue
            r = han.ApduReader()
            for a in list(r.feed(s["data"])) + list(r.idle()):
                if len(a) > 10 and a[0] in (0xDB, 0xDC):
                    keys.add(bytes(a[2 : 2 + a[1]]), s["ek"], s.get("ak"))
            if s.get("framing") == "apdu" and s["data"][0] in (0xDB, 0xDC):
                a = s["data"]
                keys.add(bytes(a[2 : 2 + a[1]]), s["ek"], s.get("ak"))
        self.keys = keys
        self.recv = han.HanReceiver(keys)
        self.known = self.samples["kamstrup_se_hdlc"]["data"]

    def recover(self):
        self.recv = self.han.HanReceiver(self.keys)

    def seeds(self):
        return [s["data"] for s in self.samples.values()]

    def run(self, data):
        han = self.han
        for chunk in split(data, self.rng):
            self.recv.feed(chunk)
            if self.rng.below(3) == 0:
                self.recv.idle()
        han.decode(data, self.keys, han.InvocationCounters())
        if len(data) and data[0] in (0xDB, 0xDC):
            han.unprotect(data, self.keys)

    def check(self):
        self.recv.idle()
        self.recv.reader.reset()
        got = self.recv.feed(self.known) + self.recv.idle()
        if len(got) != 1 or len(got[0]["values"]) < 10 or got[0]["errors"]:
            raise Unexpected("a good push was lost: %r" % (got,))


# the JSON configuration --------------------------------------------------------------------------


CONFIGS = (
    {},
    {"clients": PLAIN_CLIENTS, "max_pdu": 512, "max_associations": 4},
    {
        "identity": {"serial": "12345678", "logical_device_name": "ABC0000000000042"},
        "hdlc": {"physical_address": 17, "max_info": 128, "window": 1},
        "serial": {
            "baudrate": 19200,
            "inactivity_s": 1,
            "optical": {"protocol": "hdlc", "password": "ab12cd34", "readout": ["1.0.1.8.0.255"]},
            "rs485": {"enabled": True, "addresses": [16, 17, 18]},
        },
    },
    {
        "clients": [
            {
                "sap": 1,
                "level": "manager",
                "authentication": "hls-gmac",
                "security": "authenticated-encrypted",
            },
            {"sap": 2, "level": "reader", "authentication": "hls-sha256", "password": "x" * 16},
        ],
        "security": {"suite": 2, "block_cipher_key": "00" * 32, "master_key": "11" * 32},
        "gas": {"enabled": False},
        "clock": {"time_zone": -60, "dst": True},
    },
    {"push": {"enabled": True, "destination": "127.0.0.1:4060", "security": "none"}},
)


class Config(Target):
    """app.config.load_bytes (a configuration file's octets: UTF-8 JSON over
    the defaults, validated): ConfigError and nothing else."""

    name = "config"
    tokens = (
        b'"clients"',
        b'"sap"',
        b'"level"',
        b'"authentication"',
        b'"password"',
        b'"security"',
        b'"serial"',
        b'"push"',
        b'"max_pdu"',
        b"null",
        b"true",
        b"-1",
        b"1e400",
        b"99999999999999999999",
        b"[]",
        b"{}",
        b'"\\u0000"',
        b"[[[[[[[[",
        b":",
        b",",
    )

    def __init__(self):
        from app import config

        self.config = config
        self.errors = (config.ConfigError,)

    def seeds(self):
        return [json.dumps(c).encode() for c in CONFIGS]

    def run(self, data):
        cfg = self.config.load_bytes(data)
        if not isinstance(cfg, dict):
            raise Unexpected("a configuration that is no object")

    def check(self):
        cfg = self.config.load_bytes(
            b'{"max_pdu": 512, "clients": [{"sap": 16, "level": "public"}]}'
        )
        assert cfg["max_pdu"] == 512 and cfg["clients"][0]["sap"] == 16


# every target, in the order of the report
TARGETS = (HdlcFrames, HdlcLink, Wrapper, Axdr, Xdlms, Aarq, Server, ServerCiphered, Client)
TARGETS += (Iec62056,)
TARGETS += (Dsmr, Han, Config)
NAMES = tuple(t.name for t in TARGETS)


def make(name):
    """A new instance of the target called ``name``."""
    for cls in TARGETS:
        if cls.name == name:
            return cls()
    raise KeyError(name)
