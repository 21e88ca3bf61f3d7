# runtime: cpython-only -- raw sockets and ptys against the simulator (a subprocess under the unix port)
# ruff: noqa: E501  (the line above is the runtime marker host_tests/mp_run.py reads)
"""Faults (issue 9): clients that vanish at the worst moment, a UART of garbage.

The simulator runs under the unix port with ``max_associations`` 2, so a
connection slot or an association left behind by any fault shows at once:
the next clients would be refused. Each fault is played several times over
(more connections than the meter has slots), hanging up with a FIN or with a
reset (SO_LINGER 0):

- mid-association: after the AARQ before its AARE is read; between an HLS
  AARE and pass 3 (client 1, HLS-GMAC, ciphered); an HDLC connection (SNRM,
  UA) left without DISC;
- mid-block: a ciphered GET of the object list after its first block; a SET
  by blocks (the meter receiving) after its first block;
- mid-HDLC-window: windows of 7 frames of 32 octets, the client reads part of
  the window and goes; a segmented request cut after its first frames;
- mid-frame: half a wrapper header, half an HDLC frame; a silent connection;
- a client that sends requests and never reads its answers until the
  meter's writes block, while another client is served.

Afterwards both slots still take a full session, the meter logged no error
and stops cleanly. (A GET block transfer abandoned with a FIN on the wrapper
and on HDLC is test_interop_gurux's test_drop_in_the_middle_of_a_block_transfer;
the UART that stops mid-frame and short bursts of line noise are in
test_serial_interop.)

The UART: both serial ports of the simulator (ptys) get random octets at
line rate for 3 s, the optical port at 300 Bd 7E1 with sign-on fragments,
the RS-485 bus at 9600 Bd with frame starts and flags; then an RS-485
session with each meter on the bus and an optical session (sign-on, mode E,
HDLC) must go through.
"""

import json
import os
import signal
import socket
import struct
import threading
import time

import pytest
from dlms import acse, axdr, hdlc, obis, wrapper, xdlms
from dlms.client import Client, ClientSecurity
from dlms.hdlc_client import HdlcClientLink
from simulator import Simulator, check_clean_stop
from support import Rng, h

from tools.serial_transport import SerialHdlcTransport
from tools.transports import HdlcTransport, WrapperTransport

MAX = 2
ROUNDS = 3  # each fault this many times: more than MAX, so a leaked slot shows
PASSWORD = b"12345678"
LDN = obis.parse("0.0.42.0.0.255")
SERIAL = obis.parse("0.0.96.1.0.255")
ASSOCIATION = obis.parse("0.0.40.0.0.255")
EK = bytes.fromhex("000102030405060708090A0B0C0D0E0F")
AK = bytes.fromhex("D0D1D2D3D4D5D6D7D8D9DADBDCDDDEDF")
# the simulator's defaults, with the manager (client 1) on HLS-GMAC and
# authenticated encryption, and client 2 a second manager with LLS
CLIENTS = [
    {"sap": 16, "level": "public", "authentication": "none"},
    {"sap": 17, "level": "reader", "authentication": "lls", "password": "12345678"},
    {
        "sap": 1,
        "level": "manager",
        "authentication": "hls-gmac",
        "security": "authenticated-encrypted",
    },
    {"sap": 2, "level": "manager", "authentication": "lls", "password": "12345678"},
]
AARQ_NONE = h(
    "60 1D A1 09 06 07 60 85 74 05 08 01 01 BE 10 04 0E 01 00 00 00 06 5F 1F 04 00 00 7E 1F 04 B0"
)


@pytest.fixture(scope="module")
def sim():
    s = Simulator({"clients": CLIENTS, "max_associations": MAX}, extra_args=["--stats", "--quiet"])
    yield s
    if s.alive():
        s.stop()


def connect(port):
    s = socket.create_connection(("127.0.0.1", port), 5)
    s.settimeout(5)
    return s


def vanish(s, reset):
    """Hang up: a FIN, or a reset (SO_LINGER on, time 0); then a moment for
    the meter to notice (connections faster than it closes them would be
    refused for want of a slot, rightly)."""
    if reset:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    s.close()
    time.sleep(0.15)


def recv_some(s, n=1, timeout=5):
    s.settimeout(timeout)
    data = b""
    while len(data) < n:
        got = s.recv(4096)
        if not got:
            break
        data += got
    return data


def read_frame(s):
    """One wrapper frame's APDU from a raw socket."""
    r = wrapper.Reassembler(0xFFFF)
    while True:
        f = r.next_frame()
        if f is not None:
            return bytes(f[2])
        got = s.recv(4096)
        assert got, "the meter hung up"
        r.receive_data(got)


def get_request(ln, attr, cls=1):
    w = axdr.Writer(64)
    xdlms.get_request_normal(w, 0xC1, cls, ln, attr)
    return bytes(w.getvalue())


class Raw:
    """Our client over a socket we can drop at any moment."""

    def __init__(self, port, client):
        self.sock = connect(port)
        self.client = client

    def exchange(self, apdu):
        self.sock.sendall(wrapper.encode(self.client, 1, apdu))
        return read_frame(self.sock)


def heap_lines(sim):
    return [json.loads(x[5:]) for x in sim.output().splitlines() if x.startswith("heap ")]


def wait_no_connection(sim, timeout=10):
    """The meter's latest heap line (one a second while anything changes)
    says no connection is open."""
    time.sleep(1.2)
    deadline = time.time() + timeout
    while time.time() < deadline:
        lines = heap_lines(sim)
        if lines and lines[-1]["connections"] == 0:
            return
        time.sleep(0.2)
    raise AssertionError("connections still open: %r" % heap_lines(sim)[-3:])


def full_session(sim, retry_s=3):
    """Both slots at once: the reader on the wrapper and on HDLC. (A connection
    that vanished a moment ago may still hold its slot: refused, this tries
    again for ``retry_s``; a slot that leaked stays taken.)"""
    deadline = time.time() + retry_s
    while True:
        try:
            return _full_session(sim)
        except OSError:
            if time.time() > deadline:
                raise
            time.sleep(0.3)


def _full_session(sim):
    t1 = WrapperTransport(port=sim.wrapper_port, client=17, timeout=10)
    t2 = None
    try:
        t2 = HdlcTransport(port=sim.hdlc_port, client=17, window=7, timeout=10)
        for t in (t1, t2):
            c = Client(t, acse.MECHANISM_LLS, PASSWORD)
            c.associate()
            assert c.get(1, LDN, 2)[1] == b"MPY0000000000001"
            assert len(c.objects()) > 20
            c.release()
    finally:
        t1.close()
        if t2 is not None:
            t2.close()


# -- the faults, each a function of (sim, reset) ------------------------------------------------


def after_aarq(sim, reset):
    s = connect(sim.wrapper_port)
    s.sendall(wrapper.encode(16, 1, AARQ_NONE))
    vanish(s, reset)


_ic = [0]


def security():
    """Our client's side of client 1's security; its invocation counter goes on
    from one association to the next (the meter refuses a replayed one)."""
    sec = ClientSecurity(b"MPYFAULT", EK, AK, ic=_ic[0])
    _ic[0] += 1000
    return sec


def hls_pending(sim, reset):
    t = Raw(sim.wrapper_port, 1)
    sec = security()
    c = Client(t, acse.MECHANISM_HLS_GMAC, security=sec)
    c._hls = lambda aare: None  # stop after the AARE: pass 3 never comes
    c.associate()
    vanish(t.sock, reset)


def ciphered_mid_block(sim, reset):
    t = Raw(sim.wrapper_port, 1)
    sec = security()
    c = Client(t, acse.MECHANISM_HLS_GMAC, max_pdu=256, security=sec)
    c.associate()
    first = c._exchange(get_request(ASSOCIATION, 2, 15))
    r = xdlms.decode_response(first)
    assert r.kind == xdlms.WITH_DATABLOCK and not r.last
    vanish(t.sock, reset)


def set_mid_block(sim, reset):
    t = Raw(sim.wrapper_port, 2)
    c = Client(t, acse.MECHANISM_LLS, PASSWORD)
    c.associate()
    value = axdr.to_bytes((axdr.OCTET_STRING, b"S" * 300))
    w = axdr.Writer(512)
    xdlms.set_request_first_datablock(w, 0xC1, 1, SERIAL, 2, False, value[:100])
    r = xdlms.decode_response(t.exchange(w.getvalue()))
    assert (r.tag, r.block) == (xdlms.SET_RESPONSE, 1)
    vanish(t.sock, reset)


def hdlc_without_disc(sim, reset):
    s = connect(sim.hdlc_port)
    link = HdlcClientLink(17, 1, 16, 2, 128, 7)
    s.sendall(link.snrm())
    assert hdlc.decode_frame(recv_some(s, 9)).kind == hdlc.UA
    vanish(s, reset)


def mid_hdlc_window(sim, reset):
    """Windows of 7 frames of 32 octets: the object list comes in many; the
    client takes part of the first window and goes."""
    s = connect(sim.hdlc_port)
    link = HdlcClientLink(17, 1, 16, 2, 32, 7)

    def answer(data):
        s.sendall(data)
        while True:
            got = s.recv(4096)
            assert got
            r = link.receive_data(got)
            out = link.data_to_send()
            if out:
                s.sendall(out)
            if r is not None:
                return r

    assert answer(link.snrm()) == b""
    assert (link.window_tx, link.max_info_rx) == (7, 32)
    c = Client(
        type("T", (), {"exchange": lambda self, apdu: answer(link.request(apdu))})(),
        acse.MECHANISM_LLS,
        PASSWORD,
    )
    c.associate()
    s.sendall(link.request(get_request(ASSOCIATION, 2, 15)))
    got = recv_some(s, 100)
    assert got.count(b"\x7e") >= 2  # frames of the window are coming
    vanish(s, reset)


def segmented_request_cut(sim, reset):
    """A request in frames of 16 octets, window 3: the client sends two of
    the segments and goes."""
    s = connect(sim.hdlc_port)
    link = HdlcClientLink(16, 1, 16, 2, 16, 3)
    s.sendall(link.snrm())
    recv_some(s, 9)
    data = hdlc.LLC_COMMAND + AARQ_NONE
    out = b""
    for ns in range(2):
        c = hdlc.control(hdlc.I_FRAME, 0, ns, False)
        out += hdlc.encode(link.dest, link.src, c, data[16 * ns : 16 * ns + 16], segmented=True)
    s.sendall(out)
    time.sleep(0.05)
    vanish(s, reset)


def half_frames(sim, reset):
    s = connect(sim.wrapper_port)
    s.sendall(wrapper.encode(16, 1, AARQ_NONE)[:5])
    vanish(s, reset)
    s = connect(sim.hdlc_port)
    link = HdlcClientLink(16, 1, 16, 2)
    s.sendall(link.snrm()[:6])
    vanish(s, reset)
    s = connect(sim.wrapper_port)  # says nothing at all
    time.sleep(0.05)
    vanish(s, reset)


def never_reads(sim, reset):
    """Object-list GETs sent and never read, until the meter's writes block;
    meanwhile the other slot is served."""
    s = socket.socket()
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)  # a small window: the
    s.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 4096)  # meter blocks sooner
    s.settimeout(5)
    s.connect(("127.0.0.1", sim.wrapper_port))
    s.sendall(
        wrapper.encode(
            17,
            1,
            acse.encode_aarq(
                1,
                mechanism=1,
                auth_value=PASSWORD,
                user_information=acse.encode_initiate_request(acse.CONF_LN_SERVICES, 0xFFFF),
            ),
        )
    )
    req = wrapper.encode(17, 1, get_request(ASSOCIATION, 2, 15))
    s.setblocking(False)
    sent = 0
    blocked = False  # our sends stopped: the meter stopped reading, its writes blocked
    deadline = time.time() + 3
    while time.time() < deadline and not (blocked and sent > 100):
        try:
            s.send(req)
            sent += 1
        except BlockingIOError:
            blocked = True
            time.sleep(0.01)
    assert blocked, "the meter took %d requests without blocking" % sent
    t = WrapperTransport(port=sim.wrapper_port, client=16, timeout=10)
    try:
        c = Client(t)
        c.associate()
        assert c.get(1, LDN, 2)[1] == b"MPY0000000000001"
        c.release()
    finally:
        t.close()
    vanish(s, reset)


FAULTS = [
    after_aarq,
    hls_pending,
    ciphered_mid_block,
    set_mid_block,
    hdlc_without_disc,
    mid_hdlc_window,
    segmented_request_cut,
    half_frames,
    never_reads,
]


@pytest.mark.parametrize("fault", FAULTS, ids=[f.__name__ for f in FAULTS])
def test_client_vanishes(sim, fault):
    for i in range(ROUNDS):
        fault(sim, reset=bool(i % 2))
    full_session(sim)
    assert sim.alive()


def test_a_connection_is_not_refused_for_a_slot_held_by_one_already_gone(sim):
    # One slot free. While the meter is stopped (SIGSTOP), a connection
    # comes and goes unserved (a probe, a client that gave up) and a real
    # client connects to the other port and sends its SNRM. Resumed, the
    # meter accepts both at once: the first takes the slot before its task
    # has read the end of its stream, so the client must wait for that
    # slot, not be refused.
    hold = WrapperTransport(port=sim.wrapper_port, client=17, timeout=10)
    snrm = hdlc.encode(hdlc.encode_address(1, 16), hdlc.encode_address(16), 0x93)
    try:
        Client(hold, acse.MECHANISM_LLS, PASSWORD).associate()
        refused = sim.output().count("already open")
        for _ in range(3):
            os.kill(sim.proc.pid, signal.SIGSTOP)
            try:
                connect(sim.wrapper_port).close()
                s = connect(sim.hdlc_port)
                s.sendall(snrm)
            finally:
                os.kill(sim.proc.pid, signal.SIGCONT)
            try:
                framer = hdlc.Framer()
                framer.receive_data(recv_some(s, 1))
                assert framer.next_frame().kind == hdlc.UA
            finally:
                vanish(s, False)
        assert sim.output().count("already open") == refused
    finally:
        hold.close()
    wait_no_connection(sim)


def held_back(client=16):
    """Octets that hold a whole SNRM back: the first 12 octets of a longer
    frame, header and HCS good (the framer waits for the rest), then the
    SNRM. Only the inter-octet time-out abandons the first and frees it."""
    server, me = hdlc.encode_address(1, 16), hdlc.encode_address(client)
    longer = hdlc.encode(server, me, 0x10, bytes(60))
    return longer[:12] + hdlc.encode(server, me, 0x93)


def test_a_frame_released_by_the_inter_octet_timeout_is_answered_at_once(sim):
    # the meter's once-a-second tick polls the link's time-outs; the UA it
    # releases goes out then, not with the client's next octets (none here)
    s = connect(sim.hdlc_port)
    try:
        s.sendall(held_back())
        # the client sends nothing more: only the meter's tick can answer
        got = recv_some(s, 1, timeout=4)
        assert got, "no answer within 4 s"
        framer = hdlc.Framer()
        framer.receive_data(got)
        assert framer.next_frame().kind == hdlc.UA
        s.sendall(hdlc.encode(hdlc.encode_address(1, 16), hdlc.encode_address(16), 0x53))
        recv_some(s, 1)
    finally:
        vanish(s, False)


def test_the_meter_is_clean_after_the_faults(sim):
    full_session(sim)
    wait_no_connection(sim)
    time.sleep(0.3)  # no Ctrl-C inside a gc.collect() (see tools/bench.py)
    check_clean_stop(sim, sim.stop())


# -- more connections than the heap holds ------------------------------------------------------


def test_a_flood_of_connections_that_fills_the_heap_leaves_the_meter_reachable(romfs):
    # code in place from ROMFS in 256 KiB (the session needs 224): forty
    # clients, slots for all of them, each opening an association, fill the
    # heap long before the last. Those it cannot hold are closed at once;
    # MicroPython's own accept loop (asyncio.start_server) would itself die
    # of the MemoryError and leave the port taking connections nobody serves.
    sim = Simulator({"max_associations": 64}, heapsize="256K", romfs=romfs, extra_args=["--stats"])
    try:
        socks = []
        for _ in range(40):
            try:
                s = connect(sim.wrapper_port)
                s.sendall(wrapper.encode(16, 1, AARQ_NONE))
                socks.append(s)
            except OSError:
                break
        answered = 0
        for s in socks:
            try:
                if recv_some(s, 1, timeout=3):
                    answered += 1
            except OSError:
                pass
        assert 0 < answered < 40  # some answered, the heap full before the last
        for s in socks:
            s.close()
        wait_no_connection(sim)
        s = connect(sim.wrapper_port)
        try:
            s.sendall(wrapper.encode(16, 1, AARQ_NONE))
            assert read_frame(s)[0] == acse.AARE
        finally:
            s.close()
        assert "out of memory" in sim.output()
    finally:
        sim.stop()


# -- a UART full of garbage ---------------------------------------------------------------------


def pace(fd, data, rate, stop):
    """``data`` written to ``fd`` at ``rate`` octets a second, in 20 ms slices;
    what comes back is read and dropped (as a line would carry it away)."""
    per = max(1, rate // 50)
    i = 0
    while i < len(data) and not stop.is_set():
        os.write(fd, data[i : i + per])
        i += per
        time.sleep(0.02)
        try:
            os.read(fd, 65536)
        except BlockingIOError:
            pass


def garbage(rng, n, specials):
    out = bytearray()
    while len(out) < n:
        r = rng.below(10)
        if r < 2:
            out += specials[rng.below(len(specials))]
        else:
            out += rng.bytes(1 + rng.below(24))
    return bytes(out[:n])


def drain(fd, quiet=0.5, timeout=20):
    """Read until the line has been quiet for ``quiet`` s."""
    last = time.time()
    end = last + timeout
    while time.time() < end and time.time() - last < quiet:
        try:
            if os.read(fd, 65536):
                last = time.time()
        except BlockingIOError:
            time.sleep(0.02)


def test_uart_garbage_at_line_rate():
    from test_optical_iec import mode_e

    rng = Rng(485)
    frame_start = hdlc.encode(
        hdlc.encode_address(1, 16), hdlc.encode_address(16), hdlc.control(hdlc.SNRM)
    )
    with Simulator({"clients": CLIENTS}, serial=True, extra_args=["--quiet"]) as s:
        ends = s.read_endpoints()
        fds = {}
        for name in ("rs485", "optical"):
            fds[name] = os.open(ends[name]["path"], os.O_RDWR | os.O_NOCTTY | os.O_NONBLOCK)
        try:
            bus = garbage(
                rng,
                960 * 3,
                [b"\x7e", b"\x7e\xa0", b"\x7e\xa8\x7f", frame_start[:-3], frame_start[:9]],
            )
            eye = garbage(rng, 30 * 3, [b"/?", b"/?!", b"\x06", b"\x01P1\x02(", b"\x03", b"\r\n"])
            stop = threading.Event()
            threads = [
                threading.Thread(target=pace, args=(fds["rs485"], bus, 960, stop)),
                threading.Thread(target=pace, args=(fds["optical"], eye, 30, stop)),
            ]
            for t in threads:
                t.start()
            for t in threads:
                t.join(30)
            for fd in fds.values():
                drain(fd)
        finally:
            for fd in fds.values():
                os.close(fd)
        # a correct session with each meter on the bus, then on the optical port
        for physical in (16, 17):
            t = SerialHdlcTransport(
                ends["rs485"]["path"], client=17, physical=physical, address_size=2, timeout=3
            )
            try:
                c = Client(t, acse.MECHANISM_LLS, PASSWORD)
                c.associate()
                assert c.get(1, LDN, 2)[1] == ("MPY000000000000%d" % (physical - 15)).encode()
                c.release()
            finally:
                t.close()
        # the bus: a frame held back behind an abandoned one is answered once
        # tick() polls the time-out, with no more octets from the client
        fd = os.open(ends["rs485"]["path"], os.O_RDWR | os.O_NOCTTY | os.O_NONBLOCK)
        try:
            os.write(fd, held_back())
            got = b""
            deadline = time.time() + 3
            while time.time() < deadline and not got.endswith(b"\x7e"):
                try:
                    got += os.read(fd, 4096)
                except BlockingIOError:
                    time.sleep(0.02)
            framer = hdlc.Framer()
            framer.receive_data(got)
            f = framer.next_frame()
            assert f is not None and f.kind == hdlc.UA and f.src[1] == 16, got
            server, me = hdlc.encode_address(1, 16), hdlc.encode_address(16)
            os.write(fd, hdlc.encode(server, me, 0x53))
            drain(fd)
        finally:
            os.close(fd)
        time.sleep(2.5)  # t_t / t_a: the optical port back at the sign-on
        mode_e(ends["optical"]["path"])
        t = SerialHdlcTransport(
            ends["optical"]["path"], client=17, physical=16, address_size=2, timeout=3
        )
        try:
            c = Client(t, acse.MECHANISM_LLS, PASSWORD)
            c.associate()
            assert c.get(1, LDN, 2)[1] == b"MPY0000000000001"
            c.release()
        finally:
            t.close()
        time.sleep(0.5)
        rc = s.stop()
    check_clean_stop(s, rc)
