# runtime: cpython-only -- drives gurux-dlms and dlms-cosem clients against the simulator subprocess
# ruff: noqa: E501
"""Ciphered sessions of independent clients with the simulated meter (unix port).

Client 1 (the manager) of the default configuration associates with HLS-GMAC
(mechanism 5) and authenticated encryption (security control 0x30, suite 0);
the meter's system title is 4D4D4D0000BC614E and its keys are the Green Book
examples (app/config.py). gurux-dlms 1.0.203 talks to it over the TCP wrapper
and over HDLC (physical address 16, 2-byte server address, window 1: gurux
cannot receive HDLC windows), dlms-cosem 25.1.0 over the wrapper only (its
HDLC reader ends a frame at any 0x7E byte inside it).

Every test records the bytes on the wire and checks them with its own parser
(not the meter's, not the client's): the AARQ carries a glo-initiateRequest
(0x21), the AARE a glo-initiateResponse (0x28), each request is answered in the
form it came in (glo-get-request 0xC8 -> glo-get-response 0xCC, glo-set 0xC9 ->
0xCD, glo-action 0xCB -> 0xCF; general-glo-ciphering 0xDB -> 0xDB), every
response deciphers with AES-GCM (the ``cryptography`` package, IV = the
meter's system title || IC, AAD = SC || AK, 12-octet tag) and the meter's
invocation counters (the AARE's, every response's, and the one inside its HLS
f(CtoS)) are at least 1 and strictly increase over every association a
meter serves.

The clients' own invocation counters come from one module-wide sequence
(``ClientCounter``): the meter refuses a counter it has already accepted from a
system title, and it remembers that across associations and reboots.

What the clients do, kept as assertions or notes so that an upgrade shows up:

- gurux proposes general-protection; when the meter grants it, gurux sends
  every request after the AARE as general-glo-ciphering (0xDB). Without it
  (``proposedConformance`` minus GENERAL_PROTECTION) it uses the
  service-specific glo- APDUs. Both forms are tested.
- gurux takes an accepted AARE whose result-source-diagnostic is not
  authentication-required (14) as "no HLS needed" (``isAuthenticationRequired``
  False) and marks the association open before pass 3, so pass 3 already goes
  as general-glo-ciphering. Gurux's example reader runs pass 3 whenever the
  mechanism is above LLS, which is what the tests do.
- gurux never checks the meter's invocation counter; dlms-cosem records it.
- gurux's SecuritySuite.SUITE_1 is "ECDH-ECDSA AES-GCM-128 SHA-256" and
  dlms-cosem wants 16-octet keys for suite 1 and 32 for suite 2, as the Green
  Book defines the suites: the meter's suite 2 is AES-GCM-256 (gurux does not
  check key lengths against the suite).
- dlms-cosem ciphers the InitiateRequest of its RLRQ (glo-initiateRequest).
"""

import contextlib
import datetime
import logging
import socket

import pytest
import structlog
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from cryptography.hazmat.primitives.keywrap import aes_key_unwrap
from dlms_cosem import cosem, dlms_data, enumerations, utils
from dlms_cosem import time as dc_time
from dlms_cosem.client import DlmsClient
from dlms_cosem.io import BlockingTcpIO, TcpTransport
from dlms_cosem.protocol import acse as dc_acse
from dlms_cosem.security import HighLevelSecurityGmacAuthentication
from gurux_dlms import (
    GXByteBuffer,
    GXDateTime,
    GXDLMSException,
    GXReplyData,
)
from gurux_dlms.enums import (
    AssociationResult,
    Authentication,
    Command,
    Conformance,
    InterfaceType,
    Security,
)
from gurux_dlms.GXDLMSClient import GXDLMSClient
from gurux_dlms.objects import (
    GXDLMSClock,
    GXDLMSData,
    GXDLMSDemandRegister,
    GXDLMSProfileGeneric,
    GXDLMSRegister,
    GXDLMSSecuritySetup,
)
from gurux_dlms.objects.enums import GlobalKeyType, SecuritySuite
from gurux_dlms.secure import GXDLMSSecureClient
from simulator import Simulator, check_clean_stop
from support import h, hx

MANAGER = 1
PHYSICAL = 16  # hdlc.physical_address of app/config.py
LDN = b"MPY0000000000001"
SERVER_TITLE = h("4D4D4D0000BC614E")
EK = h("000102030405060708090A0B0C0D0E0F")  # global unicast key (suite 0)
AK = h("D0D1D2D3D4D5D6D7D8D9DADBDCDDDEDF")
KEK = h("000102030405060708090A0B0C0D0E0F")  # master key
GURUX_TITLE = b"GRX12345"
DLMS_COSEM_TITLE = b"DLC12345"
PERIOD = datetime.timedelta(minutes=15)

# suite 2 of the meter (AES-GCM-256: 32-octet keys)
EK_256 = h("101112131415161718191A1B1C1D1E1F202122232425262728292A2B2C2D2E2F")
AK_256 = h("C0C1C2C3C4C5C6C7C8C9CACBCCCDCECFD0D1D2D3D4D5D6D7D8D9DADBDCDDDEDF")
KEK_256 = h("303132333435363738393A3B3C3D3E3F404142434445464748494A4B4C4D4E4F")
SUITE_2_CONFIG = {
    "security": {
        "suite": 2,
        "block_cipher_key": hx(EK_256).replace(" ", ""),
        "authentication_key": hx(AK_256).replace(" ", ""),
        "master_key": hx(KEK_256).replace(" ", ""),
    }
}

AARQ, AARE, RLRQ, RLRE = 0x60, 0x61, 0x62, 0x63
GLO_INITIATE_REQUEST, GLO_INITIATE_RESPONSE = 0x21, 0x28
GLO_REQUESTS = {0xC8: 0xCC, 0xC9: 0xCD, 0xCB: 0xCF}  # get, set, action -> response
GENERAL_GLO = 0xDB
PLAIN_RESPONSE = {0xCC: 0xC4, 0xCD: 0xC5, 0xCF: 0xC7}
EXCEPTION_RESPONSE = 0xD8
DIAG_AUTHENTICATION_REQUIRED = 14


class ClientCounter:
    """The clients' invocation counters: one sequence for the module, so no
    client ever offers a meter a counter twice (the meter's replay guard is per
    client system title and survives associations and reboots)."""

    next = 1000

    @classmethod
    def take(cls):
        return cls.next

    @classmethod
    def used_up_to(cls, value):
        cls.next = max(cls.next, value + 1)


# -- the meter ---------------------------------------------------------------------


def start(config=None, store=None):
    sim = Simulator(config, store=store)
    sim.ics = []  # every invocation counter the meter has sent, in order
    return sim


@pytest.fixture(scope="module", autouse=True)
def quiet_dlms_cosem():
    """dlms-cosem logs every APDU through structlog at info level."""
    saved = structlog.get_config()
    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.WARNING))
    yield
    structlog.configure(**saved)


@pytest.fixture(scope="module")
def meter():
    """The default meter, shared by the module: its counters are followed
    over every association of every test (``sim.ics``)."""
    sim = start()
    try:
        yield sim
    finally:
        rc = sim.stop()
    check_clean_stop(sim, rc)


def note_ics(sim, ics, trace=""):
    """The meter's counters of one association: at least 1, and strictly above
    everything the meter sent before (in any association)."""
    assert ics, "no invocation counter seen" + trace
    seen = sim.ics + list(ics)
    assert seen[0] >= 1, "the meter's first invocation counter is %d%s" % (seen[0], trace)
    bad = [(a, b) for a, b in zip(seen, seen[1:]) if b <= a]
    assert not bad, "the meter's invocation counter did not increase: %s in %s%s" % (
        bad,
        seen,
        trace,
    )
    sim.ics = seen


# -- bytes on the wire ---------------------------------------------------------------


def axdr_length(buf, pos):
    n = buf[pos]
    if n < 0x80:
        return n, pos + 1
    k = n & 0x7F
    return int.from_bytes(buf[pos + 1 : pos + 1 + k], "big"), pos + 1 + k


def ber_fields(buf, pos, end):
    """{tag: value} of the BER fields in buf[pos:end] (one-octet tags)."""
    out = {}
    while pos < end:
        tag = buf[pos]
        n, p = axdr_length(buf, pos + 1)  # BER lengths: same short / long forms
        out[tag] = bytes(buf[p : p + n])
        pos = p + n
    assert pos == end, "BER fields overrun: %s" % hx(buf)
    return out


def acse_fields(apdu):
    """{tag: value} of an AARQ / AARE / RLRQ / RLRE."""
    n, p = axdr_length(apdu, 1)
    assert p + n == len(apdu), "ACSE length: %s" % hx(apdu)
    return ber_fields(apdu, p, p + n)


def user_information(fields):
    ui = fields[0xBE]
    assert ui[0] == 0x04, hx(ui)
    n, p = axdr_length(ui, 1)
    return ui[p : p + n]


def aare_result(apdu):
    """(result, diagnostic) of an AARE."""
    f = acse_fields(apdu)
    result = f[0xA2]  # 02 01 r
    diag = f[0xA3]  # A1|A2 03 02 01 d
    return result[2], diag[4]


class Protected:
    """A ciphered APDU taken apart: tag, system title (general-glo only),
    security control, invocation counter, ciphertext || tag."""

    def __init__(self, apdu):
        self.apdu = bytes(apdu)
        self.tag = apdu[0]
        pos = 1
        self.title = None
        if self.tag == GENERAL_GLO:
            n = apdu[1]
            self.title = bytes(apdu[2 : 2 + n])
            pos = 2 + n
        n, pos = axdr_length(apdu, pos)
        content = bytes(apdu[pos:])
        assert len(content) == n, "ciphered APDU length %d, content %d: %s" % (
            n,
            len(content),
            hx(apdu),
        )
        self.sc = content[0]
        self.ic = int.from_bytes(content[1:5], "big")
        self.body = content[5:]

    def decipher(self, title, ek, ak):
        """The plain APDU (authenticated encryption), by the book: IV = title
        || IC, AAD = SC || AK, a 12-octet tag. InvalidTag if it does not verify."""
        iv = bytes(title) + self.ic.to_bytes(4, "big")
        ct, tag = self.body[:-12], self.body[-12:]
        d = Cipher(algorithms.AES(bytes(ek)), modes.GCM(iv, tag, min_tag_length=12)).decryptor()
        d.authenticate_additional_data(bytes((self.sc,)) + bytes(ak))
        try:
            return d.update(ct) + d.finalize()
        except InvalidTag:
            raise AssertionError("does not decipher under %s: %s" % (hx(title), hx(self.apdu)))


def wrapper_apdus(stream):
    out = []
    pos = 0
    while pos < len(stream):
        assert stream[pos : pos + 2] == b"\x00\x01", "wrapper version: %s" % hx(stream[pos:])
        n = int.from_bytes(stream[pos + 6 : pos + 8], "big")
        out.append(bytes(stream[pos + 8 : pos + 8 + n]))
        pos += 8 + n
    return out


def hdlc_apdus(stream):
    """The APDUs of the I-frames in an HDLC byte stream (segments joined,
    LLC header dropped). Frames are delimited by their length field."""
    out = []
    acc = bytearray()
    pos = 0
    while pos < len(stream):
        assert stream[pos] == 0x7E, "no flag at %d: %s" % (pos, hx(stream[pos:]))
        fmt = (stream[pos + 1] << 8) | stream[pos + 2]
        length = fmt & 0x7FF
        segmented = fmt & 0x800
        frame = stream[pos + 1 : pos + 1 + length]
        assert stream[pos + 1 + length] == 0x7E, "no closing flag: %s" % hx(frame)
        pos += length + 2
        p = 2
        for _ in range(2):  # destination and source: up to the octet with bit 0 set
            while not frame[p] & 1:
                p += 1
            p += 1
        ctrl = frame[p]
        p += 1
        if ctrl & 1 or len(frame) - p <= 2:
            continue  # S- or U-frame (SNRM, UA, RR, DISC), no information
        acc += frame[p + 2 : -2]  # after the HCS, before the FCS
        if not segmented:
            assert acc[:2] == b"\xe6\xe6" or acc[:2] == b"\xe6\xe7", "LLC: %s" % hx(acc)
            out.append(bytes(acc[3:]))
            acc = bytearray()
    return out


def fctos_ic(plain):
    """The invocation counter inside the meter's f(CtoS), from the plain
    action-response to reply_to_HLS_authentication:
    C7 01 invoke 00 (success) 01 00 (data) 09 11 SC IC(4) tag(12)."""
    assert plain[0] == 0xC7 and plain[1] == 0x01 and plain[3] == 0, hx(plain)
    assert plain[4:8] == b"\x01\x00\x09\x11", hx(plain)
    return int.from_bytes(plain[9:13], "big")


# -- gurux ------------------------------------------------------------------------------


class GuruxSession:
    """gurux's secure client as client 1 with HLS-GMAC and authenticated
    encryption, on its own TCP connection (link "wrapper" or "hdlc"), with the
    blocking transport of Gurux's example reader. Every byte sent and received
    is kept (``tx``, ``rx``) for the wire checks."""

    def __init__(
        self, sim, link="wrapper", ek=EK, ak=AK, suite=0, title=GURUX_TITLE, general=False
    ):
        self.sim = sim
        self.link = link
        self.ek, self.ak, self.suite, self.title = ek, ak, suite, title
        self.general = general
        if link == "wrapper":
            iface, port, server = InterfaceType.WRAPPER, sim.wrapper_port, 1
        else:
            iface, port = InterfaceType.HDLC, sim.hdlc_port
            server = GXDLMSClient.getServerAddress(1, PHYSICAL, 2)
        c = GXDLMSSecureClient(True, MANAGER, server, Authentication.HIGH_GMAC, None, iface)
        if link != "wrapper":
            c.serverAddressSize = 2
        cipher = c.ciphering
        cipher.systemTitle = bytearray(title)
        cipher.blockCipherKey = bytearray(ek)
        cipher.authenticationKey = bytearray(ak)
        cipher.security = Security.AUTHENTICATION_ENCRYPTION
        cipher.securitySuite = SecuritySuite(suite)
        cipher.invocationCounter = ClientCounter.take()
        if not general:
            c.proposedConformance &= ~Conformance.GENERAL_PROTECTION
        self.client = c
        self.tx = bytearray()
        self.rx = bytearray()
        self.log = []
        self.aare = None
        self.sock = socket.create_connection(("127.0.0.1", port), 5)
        self.sock.settimeout(10)

    # transport ---------------------------------------------------------------------

    def packet(self, data, reply):
        if not data:
            return
        self.sock.sendall(bytes(data))
        self.tx += bytes(data)
        rd = GXByteBuffer()
        notify = GXReplyData()
        self.log.append((hx(data), ""))
        try:
            while not self.client.getData(rd, reply, notify):
                chunk = self.sock.recv(4096)
                if not chunk:
                    raise ConnectionError("the meter closed the connection")
                self.rx += chunk
                rd.set(chunk)
        finally:
            self.log[-1] = (hx(data), hx(rd.array()))
            ClientCounter.used_up_to(self.client.ciphering.invocationCounter)
        if reply.error:
            raise GXDLMSException(reply.error)

    def transfer(self, data, reply):
        if isinstance(data, list):
            for it in data:
                reply.clear()
                self.transfer(it, reply)
            return
        self.packet(data, reply)
        while reply.isMoreData():
            self.packet(self.client.receiverReady(reply), reply)

    def raw(self, frame):
        """Send wrapper bytes as they are and return the APDU of the answer."""
        assert self.link == "wrapper"
        self.sock.sendall(frame)
        head = b""
        while len(head) < 8:
            head += self.sock.recv(8 - len(head))
        n = int.from_bytes(head[6:8], "big")
        body = b""
        while len(body) < n:
            body += self.sock.recv(n - len(body))
        self.log.append((hx(frame), hx(head + body)))
        return body

    def trace(self, last=6):
        lines = []
        for tx, rx in self.log[-last:]:
            lines.append("TX " + tx)
            lines.append("RX " + rx)
        return "\n" + "\n".join(lines)

    # association ---------------------------------------------------------------------

    def connect(self):
        """SNRM / UA (HDLC), AARQ / AARE, then HLS pass 3 / 4 as Gurux's reader
        does it (whenever the mechanism is above LLS)."""
        reply = GXReplyData()
        snrm = self.client.snrmRequest()
        if snrm:
            self.packet(snrm, reply)
            self.client.parseUAResponse(reply.data)
            reply.clear()
        self.transfer(self.client.aarqRequest(), reply)
        self.aare = GXByteBuffer(reply.data.array())
        self.client.parseAareResponse(reply.data)
        reply.clear()
        self.transfer(self.client.getApplicationAssociationRequest(), reply)
        self.client.parseApplicationAssociationResponse(reply.data)
        return self

    def reply_of(self, data):
        reply = GXReplyData()
        self.transfer(data, reply)
        return reply

    def read(self, obj, index):
        reply = self.reply_of(self.client.read(obj, index)[0])
        if obj.getDataType(index) == 0:
            obj.setDataType(index, reply.valueType)
        return self.client.updateValue(obj, index, reply.value)

    def write(self, obj, index):
        self.reply_of(self.client.write(obj, index))

    def call(self, data):
        return self.reply_of(data).value

    def close(self):
        try:
            reply = GXReplyData()
            release = self.client.releaseRequest()
            if release:
                self.transfer(release, reply)
                assert reply.command == Command.RELEASE_RESPONSE, self.trace(1)
                reply.clear()
            disc = self.client.disconnectRequest()
            if disc:
                self.packet(disc, reply)
                assert reply.command == Command.UA, self.trace(1)
        finally:
            self.sock.close()

    def drop(self):
        self.sock.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        if exc[0] is None:
            self.close()
        else:
            self.drop()

    # the wire ---------------------------------------------------------------------------

    def apdus(self):
        parse = wrapper_apdus if self.link == "wrapper" else hdlc_apdus
        return parse(self.tx), parse(self.rx)

    def check_wire(self, ek=None, note=True):
        """Check every exchange of the session (see the module docstring);
        returns the meter's invocation counters and notes them for the meter."""
        ek = ek or self.ek
        sc = 0x30 | self.suite
        tx, rx = self.apdus()
        trace = self.trace(40)
        assert len(tx) == len(rx), "%d requests, %d responses%s" % (len(tx), len(rx), trace)
        assert tx[0][0] == AARQ and rx[0][0] == AARE, trace
        ics = []
        # AARQ: glo-initiateRequest; AARE: glo-initiateResponse under the meter's title
        ini = Protected(user_information(acse_fields(tx[0])))
        assert (ini.tag, ini.sc) == (GLO_INITIATE_REQUEST, sc), hx(tx[0])
        aare = acse_fields(rx[0])
        assert aare[0xA4] == b"\x04\x08" + SERVER_TITLE, hx(rx[0])
        ini = Protected(user_information(aare))
        assert (ini.tag, ini.sc) == (GLO_INITIATE_RESPONSE, sc), hx(rx[0])
        assert ini.decipher(SERVER_TITLE, ek, self.ak)[0] == 0x08, hx(rx[0])
        ics.append(ini.ic)
        hls_seen = False
        for req, resp in zip(tx[1:], rx[1:]):
            if req[0] in (RLRQ, AARQ):
                continue
            what = "\n>> %s\n<< %s" % (hx(req), hx(resp))
            q, r = Protected(req), Protected(resp)
            if self.general:
                assert q.tag in (GENERAL_GLO, 0xCB), "request form" + what
            else:
                assert q.tag in GLO_REQUESTS, "request form" + what
            if q.tag == GENERAL_GLO:
                assert r.tag == GENERAL_GLO, "general-glo answered otherwise" + what
                assert (q.title, r.title) == (self.title, SERVER_TITLE), what
            else:
                assert r.tag == GLO_REQUESTS[q.tag], "glo request answered otherwise" + what
            assert (q.sc, r.sc) == (sc, sc), "security control" + what
            plain = r.decipher(SERVER_TITLE, ek, self.ak)
            if r.tag != GENERAL_GLO:
                assert plain[0] == PLAIN_RESPONSE[r.tag], what
            ics.append(r.ic)
            if not hls_seen:  # the first request after the AARE is HLS pass 3
                hls_seen = True
                ics.append(fctos_ic(plain))
        assert hls_seen, trace
        if note:
            note_ics(self.sim, ics, trace)
        return ics


def gurux(sim, link="wrapper", **kw):
    s = GuruxSession(sim, link, **kw)
    try:
        return s.connect()
    except BaseException:
        s.drop()
        raise


def octets(v):
    return v.encode() if isinstance(v, str) else bytes(v)


def read_ldn(s):
    return octets(s.read(GXDLMSData("0.0.42.0.0.255"), 2))


# -- gurux: full sessions ----------------------------------------------------------------


@pytest.mark.parametrize(
    "link,general",
    [("wrapper", False), ("hdlc", False), ("wrapper", True), ("hdlc", True)],
    ids=["wrapper-glo", "hdlc-glo", "wrapper-general-glo", "hdlc-general-glo"],
)
def test_gurux_session(meter, link, general):
    with gurux(meter, link, general=general) as s:
        granted = s.client.negotiatedConformance & Conformance.GENERAL_PROTECTION
        assert bool(granted) == general, s.trace(3)
        assert read_ldn(s) == LDN
        clock = GXDLMSClock("0.0.1.0.0.255")
        now = s.read(clock, 2).value
        utc = datetime.datetime.now(datetime.timezone.utc)
        assert abs((now - utc).total_seconds()) < 120, s.trace(1)

        reg = GXDLMSRegister("1.0.1.8.0.255")
        s.read(reg, 3)
        s.read(reg, 2)
        assert (reg.scaler, reg.unit) == (1, 30), s.trace(2)
        assert isinstance(reg.value, int) and reg.value >= 0

        # one day of the load profile: several GET blocks, each ciphered
        pg = GXDLMSProfileGeneric("1.0.99.1.0.255")
        s.read(pg, 3)
        newest = now.replace(minute=now.minute - now.minute % 15, second=0, microsecond=0)
        start = newest - datetime.timedelta(days=1)
        reply = s.reply_of(
            s.client.readRowsByRange(
                pg, GXDateTime(start), GXDateTime(newest - datetime.timedelta(minutes=1))
            )
        )
        rows = s.client.updateValue(pg, 2, reply.value)
        assert len(rows) == 96, s.trace(4)
        times = [r[0].value for r in rows]
        assert times[0] == start
        assert all(b - a == PERIOD for a, b in zip(times, times[1:])), times

        # the manager writes the demand period and reads it back
        demand = GXDLMSDemandRegister("1.0.1.4.0.255")
        assert s.read(demand, 8) == 900, s.trace(1)
        try:
            demand.period = 1800
            s.write(demand, 8)
            assert s.read(demand, 8) == 1800, s.trace(2)
        finally:
            demand.period = 900
            s.write(demand, 8)
        assert s.read(demand, 8) == 900, s.trace(2)
    tx, rx = s.apdus()
    ics = s.check_wire()
    # the range read came in blocks (GET-next requests, datablock responses)
    blocks = [
        r
        for r in rx[1:]
        if r[0] != RLRE and Protected(r).decipher(SERVER_TITLE, EK, AK)[:2] == b"\xc4\x02"
    ]
    assert len(blocks) >= 3, s.trace(40)
    assert rx[-1][0] == RLRE and tx[-1][0] == RLRQ
    # the AARE, f(CtoS), every response but the RLRE: as many as requests
    assert len(ics) == len(tx)


def test_hls_aare_says_authentication_required(meter):
    """An AARE that accepts an HLS association answers result-source-diagnostic
    acse-service-user authentication-required (14), as real meters and
    gurux's own server do; gurux's ``isAuthenticationRequired`` reads it, and a
    client that relies on it (rather than on the mechanism) would skip HLS
    pass 3 and be refused every request afterwards."""
    s = gurux(meter)
    try:
        result, diag = aare_result(s.apdus()[1][0])
        assert result == 0
        assert diag == DIAG_AUTHENTICATION_REQUIRED, "AARE: " + hx(s.apdus()[1][0])
        assert s.client.isAuthenticationRequired
    finally:
        s.close()
        s.check_wire()


def test_gurux_suite_1():
    """Suite 1 ciphers with AES-GCM-128 like suite 0 (its ECDH/ECDSA part is not
    offered): gurux's SecuritySuite.SUITE_1, 16-octet keys, SC 0x31 both ways."""
    sim = start({"security": {"suite": 1}})
    try:
        with gurux(sim, "wrapper", suite=1) as s:
            assert read_ldn(s) == LDN
        s.check_wire()
    finally:
        rc = sim.stop()
    check_clean_stop(sim, rc)


def test_gurux_suite_2():
    """The meter's suite 2 (AES-GCM-256, 32-octet keys) with gurux's
    SecuritySuite.SUITE_2: SC 0x32 both ways, over the wrapper and HDLC."""
    sim = start(SUITE_2_CONFIG)
    try:
        with gurux(sim, "wrapper", ek=EK_256, ak=AK_256, suite=2) as s:
            assert read_ldn(s) == LDN
            reg = GXDLMSRegister("1.0.1.8.0.255")
            s.read(reg, 3)
            assert (reg.scaler, reg.unit) == (1, 30), s.trace(1)
        s.check_wire()
        with gurux(sim, "hdlc", ek=EK_256, ak=AK_256, suite=2, general=True) as s:
            assert read_ldn(s) == LDN
        s.check_wire()
        # the 128-bit key is refused by this meter
        with pytest.raises(GXDLMSException) as e:
            gurux(sim, "wrapper", ek=EK, ak=AK_256, suite=2)
        assert e.value.result == AssociationResult.PERMANENT_REJECTED
    finally:
        rc = sim.stop()
    check_clean_stop(sim, rc)


# -- dlms-cosem -----------------------------------------------------------------------------


class RecordingTcpTransport(TcpTransport):
    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.exchanges = []

    def send_request(self, bytes_to_send):
        response = bytes(super().send_request(bytes_to_send))
        self.exchanges.append((bytes(bytes_to_send), response))
        return response


def dc_trace(client, last=40):
    lines = []
    for req, resp in client.transport.exchanges[-last:]:
        lines.append(">> " + hx(req))
        lines.append("<< " + hx(resp))
    return "\n" + "\n".join(lines)


@contextlib.contextmanager
def dlms_cosem(sim, ek=EK, ak=AK, suite=0):
    transport = RecordingTcpTransport(
        client_logical_address=MANAGER,
        server_logical_address=1,
        io=BlockingTcpIO("127.0.0.1", sim.wrapper_port, timeout=10),
    )
    c = DlmsClient(
        transport=transport,
        authentication=HighLevelSecurityGmacAuthentication(challenge_length=32),
        encryption_key=ek,
        authentication_key=ak,
        security_suite=suite,
        client_system_title=DLMS_COSEM_TITLE,
        client_initial_invocation_counter=ClientCounter.take(),
    )
    c.connect()
    try:
        yield c
    finally:
        ClientCounter.used_up_to(c.dlms_connection.client_invocation_counter)
        c.disconnect()


def dc_attr(ic, obis, attr):
    return cosem.CosemAttribute(ic, cosem.Obis(*obis), attr)


def test_dlms_cosem_session(meter):
    IC = enumerations.CosemInterface
    energy = (1, 0, 1, 8, 0, 255)
    period = dc_attr(IC.DEMAND_REGISTER, (1, 0, 1, 4, 0, 255), 8)
    with dlms_cosem(meter) as c:
        c.associate()
        assert utils.parse_as_dlms_data(c.get(dc_attr(IC.REGISTER, energy, 3))) == [0, 30]
        value = utils.parse_as_dlms_data(c.get(dc_attr(IC.REGISTER, energy, 2)))
        assert isinstance(value, int) and value >= 0
        raw = utils.parse_as_dlms_data(c.get(dc_attr(IC.CLOCK, (0, 0, 1, 0, 0, 255), 2)))
        dt, _ = dc_time.datetime_from_bytes(raw)
        utc = datetime.datetime.now(datetime.timezone.utc)
        assert abs((dt - utc).total_seconds()) < 120
        assert utils.parse_as_dlms_data(c.get(period)) == 900
        try:
            resp = c.set(period, dlms_data.DoubleLongUnsignedData(1800).to_bytes())
            assert resp.result is enumerations.DataAccessResult.SUCCESS, dc_trace(c)
            assert utils.parse_as_dlms_data(c.get(period)) == 1800
        finally:
            resp = c.set(period, dlms_data.DoubleLongUnsignedData(900).to_bytes())
        assert resp.result is enumerations.DataAccessResult.SUCCESS, dc_trace(c)
        assert utils.parse_as_dlms_data(c.get(period)) == 900
        rlre = c.release_association()
        assert isinstance(rlre, dc_acse.ReleaseResponse), dc_trace(c)
    trace = dc_trace(c)
    ex = c.transport.exchanges
    aarq, aare = ex[0]
    ini = Protected(user_information(acse_fields(aarq)))
    assert (ini.tag, ini.sc) == (GLO_INITIATE_REQUEST, 0x30), trace
    assert aare_result(aare)[0] == 0, trace
    ini = Protected(user_information(acse_fields(aare)))
    assert (ini.tag, ini.sc) == (GLO_INITIATE_RESPONSE, 0x30), trace
    ics = [ini.ic]
    assert ex[-1][0][0] == RLRQ and ex[-1][1][0] == RLRE, trace
    for n, (req, resp) in enumerate(ex[1:-1]):
        what = "\n>> %s\n<< %s" % (hx(req), hx(resp))
        q, r = Protected(req), Protected(resp)
        # dlms-cosem sends general-glo-ciphering and accepts nothing else
        assert (q.tag, r.tag) == (GENERAL_GLO, GENERAL_GLO), what
        assert (q.title, r.title) == (DLMS_COSEM_TITLE, SERVER_TITLE), what
        assert (q.sc, r.sc) == (0x30, 0x30), what
        plain = r.decipher(SERVER_TITLE, EK, AK)
        ics.append(r.ic)
        if n == 0:
            ics.append(fctos_ic(plain))
    note_ics(meter, ics, trace)


def test_aes_gcm_256_is_suite_2_as_in_the_green_book():
    """The Green Book's security suites: 0 AES-GCM-128; 1
    ECDH-ECDSA-AES-GCM-128-SHA-256 (AES-GCM-128 again, plus ECC); 2
    ECDH-ECDSA-AES-GCM-256-SHA-384, the one with AES-GCM-256 and 256-bit keys
    (and AES-256 key wrap). dlms-cosem follows it (16-octet keys for suites 0
    and 1, 32 for suite 2), so does gurux's SecuritySuite enum. A meter that
    ciphers with AES-GCM-256 must say suite 2 in its security control bytes
    (SC 0x32) and in Security setup security_suite."""
    from dlms_cosem.security import validate_key

    with pytest.raises(ValueError):
        validate_key(1, EK_256)
    validate_key(2, EK_256)
    config = SUITE_2_CONFIG
    try:
        sim = start(config)
    except RuntimeError as e:
        pytest.fail("the meter cannot be configured for suite 2: %s" % str(e)[-200:])
    try:
        with dlms_cosem(sim, ek=EK_256, ak=AK_256, suite=2) as c:
            c.associate()
            ldn = dc_attr(enumerations.CosemInterface.DATA, (0, 0, 42, 0, 0, 255), 2)
            assert utils.parse_as_dlms_data(c.get(ldn)) == LDN, dc_trace(c)
            c.release_association()
        for req, resp in c.transport.exchanges[1:-1]:
            assert (Protected(req).sc, Protected(resp).sc) == (0x32, 0x32), dc_trace(c)
    finally:
        rc = sim.stop()
    check_clean_stop(sim, rc)


# -- refusals ----------------------------------------------------------------------------


@pytest.mark.parametrize("wrong", ["block_cipher_key", "authentication_key"])
def test_wrong_key_is_rejected(meter, wrong):
    bad = h("FF" * 16)
    kw = {"ek": bad} if wrong == "block_cipher_key" else {"ak": bad}
    s = GuruxSession(meter, "wrapper", **kw)
    try:
        with pytest.raises(GXDLMSException) as e:
            s.connect()
        assert e.value.result == AssociationResult.PERMANENT_REJECTED, s.trace()
        aare = s.apdus()[1][0]
        assert aare_result(aare)[0] == 1, hx(aare)  # rejected-permanent
        assert 0xBE not in acse_fields(aare), hx(aare)  # nothing ciphered for a stranger
    finally:
        s.drop()
    # the meter goes on serving the right keys
    with gurux(meter, "hdlc") as s:
        assert read_ldn(s) == LDN
    s.check_wire()


def test_replayed_ciphered_get_is_refused(meter):
    """The exact bytes of an earlier ciphered GET, again: exception-response
    service-not-allowed / invocation-counter-error with the lowest counter
    the meter still accepts (an Unsigned32, Green Book 9.5; gurux and
    dlms-cosem read it), in the same association and in the next one; the
    association goes on."""
    from dlms_cosem.protocol.xdlms.exception_response import ExceptionResponse

    def lowest_accepted(resp):
        assert resp[:3] == h("D8 01 06"), hx(resp)
        return ExceptionResponse.from_bytes(resp).invocation_counter_data

    with gurux(meter, "wrapper") as s:
        assert read_ldn(s) == LDN
        frame = wrapper_frames(s.tx)[-1]
        p = Protected(frame[8:])
        assert p.tag == 0xC8, hx(frame)
        assert read_ldn(s) == LDN
        second = Protected(wrapper_frames(s.tx)[-1][8:]).ic
        resp = s.raw(frame)  # (raw exchanges stay out of tx / rx)
        assert lowest_accepted(resp) == second + 1 > p.ic, s.trace(1)
        assert read_ldn(s) == LDN
    s.check_wire()
    with gurux(meter, "wrapper") as s:
        resp = s.raw(frame)
        assert lowest_accepted(resp) > p.ic, s.trace(1)
        assert read_ldn(s) == LDN
    s.check_wire()


def test_unciphered_get_is_refused(meter):
    """Client 1 must cipher: a plain GET inside its association is refused
    with an exception-response, and the association goes on."""
    get_ldn = h("C0 01 C1 00 01 00 00 2A 00 00 FF 02 00")
    frame = h("00 01 00 01 00 01") + len(get_ldn).to_bytes(2, "big") + get_ldn
    with gurux(meter, "wrapper") as s:
        resp = s.raw(frame)
        assert resp[0] == EXCEPTION_RESPONSE, s.trace(1)
        assert resp == h("D8 01 01"), s.trace(1)  # service-not-allowed, operation-not-possible
        assert read_ldn(s) == LDN


# -- counters across a restart ---------------------------------------------------------------


def test_counters_survive_a_restart(tmp_path):
    store = str(tmp_path / "store.img")
    sim = start(store=store)
    try:
        with gurux(sim, "wrapper") as s:
            assert read_ldn(s) == LDN
        s.check_wire()
        aarq = wrapper_frames(s.tx)[0]
    finally:
        rc = sim.stop()
    check_clean_stop(sim, rc)
    before = list(sim.ics)

    sim2 = start(store=store)
    try:
        # the client's last AARQ, replayed to the rebooted meter: refused
        with socket.create_connection(("127.0.0.1", sim2.wrapper_port), 5) as sock:
            sock.settimeout(10)
            sock.sendall(aarq)
            aare = read_wrapper(sock)
        assert aare_result(aare)[0] == 1, "replayed AARQ accepted after a reboot: " + hx(aare)
        # a session with the client's counter carried on
        with gurux(sim2, "hdlc") as s:
            assert read_ldn(s) == LDN
        ics = s.check_wire()
        assert ics[0] > max(before), "after the restart %s, before %s" % (ics, before)
        with gurux(sim2, "wrapper", general=True) as s:
            assert read_ldn(s) == LDN
        s.check_wire()
    finally:
        rc = sim2.stop()
    check_clean_stop(sim2, rc)


def wrapper_frames(stream):
    out = []
    pos = 0
    while pos < len(stream):
        n = int.from_bytes(stream[pos + 6 : pos + 8], "big")
        out.append(bytes(stream[pos : pos + 8 + n]))
        pos += 8 + n
    return out


def read_wrapper(sock):
    data = b""
    while len(data) < 8 or len(data) < 8 + int.from_bytes(data[6:8], "big"):
        chunk = sock.recv(4096)
        if not chunk:
            raise ConnectionError("closed")
        data += chunk
    return data[8:]


# -- key transfer -----------------------------------------------------------------------------


def test_global_key_transfer():
    """Security setup global_key_transfer (method 2) of a new global unicast
    key wrapped with the master key (RFC 3394): the answer still comes under
    the old key; afterwards the new key opens a session and the old one does
    not. On a meter of its own, so the others keep the default keys."""
    new = h("F0E1D2C3B4A5968778695A4B3C2D1E0F")
    sim = start()
    try:
        with gurux(sim, "wrapper") as s:
            setup = GXDLMSSecuritySetup("0.0.43.0.0.255")
            assert s.read(setup, 3) == 0, s.trace(1)  # security_suite
            assert octets(s.read(setup, 5)) == SERVER_TITLE, s.trace(1)
            assert octets(s.read(setup, 4)) == GURUX_TITLE, s.trace(1)
            s.call(
                setup.globalKeyTransfer(s.client, KEK, [(GlobalKeyType.UNICAST_ENCRYPTION, new)])
            )
            req = Protected(wrapper_apdus(s.tx)[-1]).decipher(GURUX_TITLE, EK, AK)
            resp = Protected(wrapper_apdus(s.rx)[-1]).decipher(SERVER_TITLE, EK, AK)
        # ACTION class 64, 0.0.43.0.0.255, method 2, array of one
        # {enum key_id 0, octet-string of 24}: the key wrapped by RFC 3394
        assert req[:2] == h("C3 01"), hx(req)
        assert req[3:] == h("00 40 00 00 2B 00 00 FF 02 01 01 01 02 02 16 00 09 18") + req[-24:]
        assert aes_key_unwrap(KEK, req[-24:]) == new
        assert resp == h("C7 01") + req[2:3] + h("00 00"), hx(resp)  # success, no data
        s.check_wire()  # every answer, the key transfer's too, under the old key
        # the old key is refused
        with pytest.raises(GXDLMSException) as e:
            gurux(sim, "wrapper")
        assert e.value.result == AssociationResult.PERMANENT_REJECTED
        # the new key works (a new key starts a new series of counters)
        sim.ics = []
        with gurux(sim, "hdlc", ek=new) as s:
            assert read_ldn(s) == LDN
        s.check_wire()
        with gurux(sim, "wrapper", ek=new, general=True) as s:
            assert read_ldn(s) == LDN
        s.check_wire()
    finally:
        rc = sim.stop()
    check_clean_stop(sim, rc)


# -- the meter's counter over the whole module --------------------------------------------------


def test_meter_counters_over_the_module(meter):
    assert len(meter.ics) > 20, meter.ics
    assert meter.ics[0] >= 1
    assert all(b > a for a, b in zip(meter.ics, meter.ics[1:])), meter.ics
