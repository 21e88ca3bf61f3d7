# runtime: cpython-only -- gurux-dlms and pyserial against the simulator's ptys (a subprocess started through tools/pty_launcher.py)
# ruff: noqa: E501  (the line above is the runtime marker host_tests/mp_run.py reads)
"""HDLC over serial lines (IEC 62056-46): the simulator's optical port and its
RS-485 bus with two meters (physical addresses 16 and 17), on ptys. The
optical port opens with IEC 62056-21 as a real meter's does: ``mode_e()``
signs on at 300 Bd 7E1 and selects mode E (HDLC at 9600 Bd 8N1) before
the HDLC client takes the port; a DISC gives it back to 62056-21.

The meter runs as it ships (``app.main`` under the unix port, started
through tools/pty_launcher.py so it owns the pty masters); the clients open
the slaves with pyserial as they would a USB adapter: gurux-dlms 1.0.203 (the
patterns of test_interop_gurux) and our own HDLC client link. Everything
the meters send is kept, so frames on the wire can be counted.
"""

import datetime
import os
import socket
import termios
import time

import pytest
import serial
from dlms import acse, axdr, hdlc, obis, xdlms
from dlms.client import Client
from dlms.hdlc_client import HdlcClientLink
from gurux_dlms import GXDateTime
from gurux_dlms.enums import InterfaceType
from gurux_dlms.GXDLMSClient import GXDLMSClient
from gurux_dlms.objects import GXDLMSData, GXDLMSRegister
from simulator import LLS_MANAGER, Simulator, check_clean_stop
from support import Rng, h, hx
from test_interop_gurux import (
    CLIENTS,
    PERIOD,
    READER_OBJECTS,
    Session,
    assert_quarter_hours,
    meter_time,
    octets,
    profile,
    row_times,
)
from test_optical_iec import mode_e

from tools.serial_transport import SerialHdlcTransport

LDN = {16: b"MPY0000000000001", 17: b"MPY0000000000002"}
SERIAL = {16: b"00000001", 17: b"00000002"}
PASSWORD = b"12345678"
# client 16, no authentication (as in test_hdlc_link)
PUBLIC_AARQ = h(
    "60 1D A1 09 06 07 60 85 74 05 08 01 01 BE 10 04 0E 01 00 00 00 06 5F 1F 04 00 00 7E 1F 04 B0"
)


@pytest.fixture(scope="module")
def sim():
    s = Simulator(LLS_MANAGER, serial=True)
    try:
        yield s
    finally:
        rc = s.stop()
    check_clean_stop(s, rc)


@pytest.fixture(scope="module")
def ends(sim):
    return sim.read_endpoints()


def frames(data):
    f = hdlc.Framer()
    f.receive_data(bytes(data))
    out = []
    while True:
        fr = f.next_frame()
        if fr is None:
            return out
        fr.info = bytes(fr.info)
        out.append(fr)


def get_ldn(invoke=0xC1):
    w = axdr.Writer(64)
    xdlms.get_request_normal(w, invoke, 1, obis.parse("0.0.42.0.0.255"), 2)
    return bytes(w.getvalue())


# -- gurux over pyserial ----------------------------------------------------------------


class SerialSock:
    """A pyserial port as the socket test_interop_gurux.Session talks to;
    ``wire`` keeps every octet the meters sent."""

    def __init__(self, path, timeout=3, iec=False):
        if iec:
            mode_e(path)
        self.ser = serial.Serial(path, 9600, timeout=timeout)
        self.ser.reset_input_buffer()
        self.wire = bytearray()

    def sendall(self, data):
        self.ser.write(bytes(data))
        self.ser.flush()

    def recv(self, n):
        data = self.ser.read(max(1, min(n, self.ser.in_waiting)))
        if not data:
            raise socket.timeout("no answer on %s" % self.ser.port)
        self.wire += data
        return data

    def settimeout(self, t):
        self.ser.timeout = t

    def close(self):
        self.ser.close()


class SerialSession(Session):
    """gurux with a two-byte server address (logical device 1, ``physical``)."""

    def __init__(self, path, client_sap, physical, server_sap=1, iec=False):
        auth, password, _ = CLIENTS[client_sap]
        self.link = "hdlc2"
        server = GXDLMSClient.getServerAddress(server_sap, physical, 2)
        self.client = GXDLMSClient(True, client_sap, server, auth, password, InterfaceType.HDLC)
        self.client.serverAddressSize = 2
        self.log = []
        self.sock = SerialSock(path, iec=iec)


def test_gurux_full_session_on_the_optical_port(sim, ends):
    """The 62056-21 opening to mode E, then SNRM/UA, AARQ with LLS, the object
    list, a register, a profile range in segmented frames, release, DISC: a
    head-end's readout through an IR head."""
    assert ends["optical"]["address"] == 16
    assert ends["optical"]["protocol"] == "iec62056-21"
    s = SerialSession(ends["optical"]["path"], 17, 16, iec=True)
    try:
        s.connect()
        ua = frames(s.sock.wire)[0]
        assert ua.kind == hdlc.UA and ua.src == (1, 16, 2), s.trace()
        names = {o.logicalName for o in s.objects()}
        assert names == READER_OBJECTS, s.trace(1)
        reg = GXDLMSRegister("1.0.1.8.0.255")
        s.read(reg, 3)
        s.read(reg, 2)
        assert (reg.scaler, reg.unit) == (1, 30)
        assert isinstance(reg.value, int) and reg.value >= 0
        pg = profile(s)
        now = meter_time(s)
        newest = now - datetime.timedelta(
            minutes=now.minute % 15, seconds=now.second, microseconds=now.microsecond
        )
        start = newest - datetime.timedelta(hours=6)
        before = len(s.sock.wire)
        rows = s.rows_by_range(pg, GXDateTime(start), GXDateTime(newest - PERIOD / 15))
        assert len(rows) == 24, s.trace(2)
        times = row_times(rows)
        assert times[0] == start
        assert_quarter_hours(times, "6 hours over the optical port")
        # the response is longer than gurux's 128-octet information field
        segments = frames(s.sock.wire[before:])
        assert sum(f.segmented for f in segments) >= 3, [repr(f) for f in segments]
    except BaseException:
        s.drop()
        raise
    s.close()  # RLRQ / RLRE, DISC / UA (asserted in Session.close)
    wire = frames(s.sock.wire)
    assert wire[-1].kind == hdlc.UA
    assert all(f.src == (1, 16, 2) for f in wire)
    assert sim.alive()


def test_gurux_talks_to_both_meters_on_the_bus_in_turn(sim, ends):
    """One pair, two meters: each answers its own physical address with its
    own identity, and every frame on the wire comes from the one addressed."""
    assert ends["rs485"]["addresses"] == [16, 17]
    for physical in (16, 17, 16, 17):
        with SerialSession(ends["rs485"]["path"], 17, physical) as s:
            s.connect()
            assert octets(s.read(GXDLMSData("0.0.42.0.0.255"), 2)) == LDN[physical], s.trace(1)
            assert octets(s.read(GXDLMSData("0.0.96.1.0.255"), 2)) == SERIAL[physical]
            reg = GXDLMSRegister("1.0.1.8.0.255")
            s.read(reg, 2)
            assert reg.value >= 0
        wire = frames(s.sock.wire)
        assert len(wire) == 7  # UA, AARE, three GET responses, RLRE, UA
        assert {f.src for f in wire} == {(1, physical, 2)}, [repr(f) for f in wire]


# -- the wire, frame by frame -------------------------------------------------------------


class Line:
    """Our HDLC client link on a pyserial port, with every octet received kept."""

    def __init__(self, path, physical, client=16, max_info=128, window=1, iec=False):
        if iec:
            mode_e(path)
        self.ser = serial.Serial(path, 9600, timeout=0.02)
        self.ser.reset_input_buffer()
        self.link = HdlcClientLink(client, 1, physical, 2, max_info, window)
        self.wire = bytearray()

    def send(self, data):
        self.ser.write(bytes(data))
        self.ser.flush()

    def frames(self, quiet=0.25, timeout=3):
        """The frames that arrive until the line has been quiet for ``quiet`` s."""
        got = bytearray()
        last = time.time()
        deadline = last + timeout
        while time.time() < deadline and time.time() - last < quiet:
            data = self.ser.read(4096)
            if data:
                got += data
                last = time.time()
        self.wire += got
        return frames(got)

    def wait(self, timeout=3):
        deadline = time.time() + timeout
        while time.time() < deadline:
            data = self.ser.read(self.ser.in_waiting or 1)
            if not data:
                continue
            self.wire += data
            r = self.link.receive_data(data)
            out = self.link.data_to_send()
            if out:
                self.send(out)
            if r is not None:
                return r
        raise TimeoutError("no answer; received %s" % hx(self.wire[-64:]))

    def connect(self, aarq=PUBLIC_AARQ):
        self.send(self.link.snrm())
        assert self.wait() == b""
        assert self.link.connected
        aare = acse.decode_aare(self.exchange(aarq))
        assert aare.result == acse.RESULT_ACCEPTED
        return self

    def exchange(self, apdu):
        self.send(self.link.request(apdu))
        return self.wait()

    def ldn(self):
        r = xdlms.decode_response(self.exchange(get_ldn()))
        return r.results[0][1][1]

    def close(self):
        self.send(self.link.disc())
        self.frames(quiet=0.05)
        self.ser.close()


def snrm_to(physical, upper=1):
    return hdlc.encode(
        hdlc.encode_address(upper, physical, 2), hdlc.encode_address(16), hdlc.control(hdlc.SNRM)
    )


def test_a_frame_for_one_meter_gets_one_answer(ends):
    line = Line(ends["rs485"]["path"], 17)
    try:
        for physical in (17, 16):
            line.send(snrm_to(physical))
            got = line.frames()
            assert [(f.kind, f.src) for f in got] == [(hdlc.UA, (1, physical, 2))]
            line.send(
                hdlc.encode(
                    hdlc.encode_address(1, physical, 2),
                    hdlc.encode_address(16),
                    hdlc.control(hdlc.DISC),
                )
            )
            got = line.frames()
            assert [(f.kind, f.src) for f in got] == [(hdlc.UA, (1, physical, 2))]
        # nobody at 18; the all-station address (62056-46: never answered)
        for dest in (snrm_to(18), snrm_to(hdlc.ALL_STATION)):
            line.send(dest)
            assert line.frames() == []
        ui = hdlc.encode(
            hdlc.encode_address(hdlc.ALL_STATION, hdlc.ALL_STATION, 2),
            hdlc.encode_address(16),
            hdlc.control(hdlc.UI),
            hdlc.LLC_COMMAND + get_ldn(),
        )
        line.send(ui)
        assert line.frames() == []
        # the meters are still there
        line.send(snrm_to(16))
        assert [f.kind for f in line.frames()] == [hdlc.UA]
    finally:
        line.close()


def test_windows_of_seven_with_our_client(ends):
    """Our client proposes windows of 7 and 128-octet frames: the object list
    (over 1 KiB) comes back in windows of several I frames, the poll bit on
    the last of each."""

    class Recording(SerialHdlcTransport):
        def __init__(self, *args, **kw):
            self.wire = bytearray()
            super().__init__(*args, **kw)

        def _read(self):
            data = super()._read()
            self.wire += data
            return data

    t = Recording(
        ends["rs485"]["path"], client=17, physical=17, address_size=2, window=7, timeout=3
    )
    try:
        assert (t.link.window_tx, t.link.window_rx, t.link.max_info_rx) == (7, 7, 128)
        c = Client(t, acse.MECHANISM_LLS, PASSWORD)
        c.associate()
        t.wire = bytearray()
        assert len(c.objects()) == len(READER_OBJECTS)
        got = frames(t.wire)
        i_frames = [f for f in got if f.kind == hdlc.I_FRAME]
        without_poll = [f for f in i_frames if not f.pf]
        assert len(i_frames) >= 10
        assert len(without_poll) >= 6, [repr(f) for f in got]
        assert all(f.src == (1, 17, 2) for f in got)
        c.release()
    finally:
        t.close()


def test_the_meter_receives_a_window_of_three(ends):
    """A GET-with-list in three I frames sent back to back, the poll bit only
    on the last (window 3, information fields of 32, the smallest an HDLC
    setup allows): one answer comes back."""
    line = Line(ends["rs485"]["path"], 16, max_info=32, window=3).connect()
    try:
        assert (line.link.window_tx, line.link.max_info_tx) == (3, 32)
        w = axdr.Writer(128)
        xdlms.get_request_with_list(w, 0xC1, [(1, obis.parse("0.0.42.0.0.255"), 2)] * 8)
        data = hdlc.LLC_COMMAND + bytes(w.getvalue())
        parts = [data[i : i + 32] for i in range(0, len(data), 32)]
        assert len(parts) == 3
        out = b""
        vs = line.link.vs
        for i, part in enumerate(parts):
            last = i == len(parts) - 1
            c = hdlc.control(hdlc.I_FRAME, line.link.vr, (vs + i) & 7, last)
            out += hdlc.encode(line.link.dest, line.link.src, c, part, segmented=not last)
        line.link.vs = (vs + 3) & 7
        line.send(out)
        r = xdlms.decode_response(line.wait())
        assert [v[1] for _, v in r.results] == [LDN[16]] * 8
        assert line.ldn() == LDN[16]
    finally:
        line.close()


def test_a_frame_read_across_a_pause_of_the_meter_is_answered(sim, ends):
    """The meter stops for a moment (on a board: a flash write, a garbage
    collection; here SIGSTOP) while a frame arrives: it reads the first
    octets before the pause and the rest, which came on the line without a
    gap, after it. The frame is answered, not dropped by the 25 ms
    inter-octet time-out: that measures the line, not the meter's pauses."""
    import signal

    snrm = hdlc.encode(hdlc.encode_address(1, 16), hdlc.encode_address(16), 0x93)
    disc = hdlc.encode(hdlc.encode_address(1, 16), hdlc.encode_address(16), 0x53)
    ser = serial.Serial(ends["rs485"]["path"], 9600, timeout=0)
    try:
        for _ in range(3):
            ser.write(snrm[:6])
            time.sleep(0.01)  # the meter reads them
            os.kill(sim.proc.pid, signal.SIGSTOP)
            try:
                ser.write(snrm[6:])
                time.sleep(0.2)
            finally:
                os.kill(sim.proc.pid, signal.SIGCONT)
            got = b""
            deadline = time.time() + 2
            while time.time() < deadline and not frames(got):
                got += ser.read(256)
                time.sleep(0.01)
            assert [f.kind for f in frames(got)] == [hdlc.UA], hx(got)
            ser.write(disc)
            time.sleep(0.3)
            ser.read(256)
    finally:
        ser.close()


def test_line_noise_between_frames(ends):
    line = Line(ends["optical"]["path"], 16, iec=True).connect()
    rng = Rng(62056)
    try:
        for i in range(12):
            noise = rng.bytes(1 + rng.below(40))
            if i % 3 == 0:
                noise += b"\x7e\xa0"  # a frame start that goes nowhere
            line.send(noise)
            if i % 2:
                time.sleep(0.05)  # and the line goes quiet, or not
            assert line.ldn() == LDN[16], "round %d, noise %s" % (i, hx(noise))
    finally:
        line.close()


def test_a_client_that_stops_mid_frame(ends):
    """The start of a long frame, then silence longer than the inter-octet
    time-out (25 ms, class 23): the start is dropped and the next frame is
    understood. (Without the time-out the meter would wait for the rest its
    length field announced and take the next frame for it.)"""
    line = Line(ends["optical"]["path"], 16, iec=True).connect()
    try:
        link = line.link
        c = hdlc.control(hdlc.I_FRAME, link.vr, link.vs)
        long = hdlc.encode(link.dest, link.src, c, hdlc.LLC_COMMAND + bytes(120))
        line.send(long[:24])
        assert line.frames(quiet=0.15) == []
        line.send(link.request(get_ldn()))
        r = xdlms.decode_response(line.wait())
        assert r.results[0][1][1] == LDN[16]
    finally:
        line.close()


def test_the_line_settings_are_recorded(ends):
    with open(ends["rs485"]["line_log"]) as f:
        assert f.read() == "9600 8N1\n"
    # the optical port: 62056-21 at 300 Bd 7E1, mode E at 9600 8N1 and back
    with open(ends["optical"]["line_log"]) as f:
        lines = f.read().splitlines()
    assert lines[0] == "300 7E1"
    assert set(lines) == {"300 7E1", "9600 8N1"}
    assert all(a != b for a, b in zip(lines, lines[1:])), lines


def test_inactivity_goes_back_to_ndm_and_the_rate_from_the_config():
    """With inactivity_time_out 1 s (class 23 attribute 7) a connection left
    alone is dropped: an I frame afterwards gets DM. The configured rate is
    what the pty says before any client sets its own. (The optical port
    serves HDLC directly here: protocol "hdlc".)"""
    cfg = {"serial": {"inactivity_s": 1, "baudrate": 19200, "optical": {"protocol": "hdlc"}}}
    with Simulator(cfg, serial=True) as s:
        e = s.read_endpoints()
        fd = os.open(e["optical"]["path"], os.O_RDWR | os.O_NOCTTY)
        try:
            assert termios.tcgetattr(fd)[4:6] == [termios.B19200] * 2
        finally:
            os.close(fd)
        with open(e["rs485"]["line_log"]) as f:
            assert f.read() == "19200 8N1\n"
        line = Line(e["optical"]["path"], 16).connect()
        try:
            assert line.ldn() == LDN[16]
            time.sleep(2.5)
            line.send(line.link.request(get_ldn()))
            assert [f.kind for f in line.frames()] == [hdlc.DM]
            line.send(line.link.snrm())  # and a new connection is fine
            assert [f.kind for f in line.frames()] == [hdlc.UA]
        finally:
            line.close()
        assert "inactivity" in s.output()


def test_client_1_on_the_bus(sim, ends):
    """Client 1 on the shared bus: a meter ignores the other meter's answers
    (frames whose source is a server address), which a one-byte destination
    0x03 would otherwise make look like a frame to its own logical device 1."""
    for physical in (16, 17):
        t = SerialHdlcTransport(
            ends["rs485"]["path"], client=1, physical=physical, address_size=2, timeout=2
        )
        try:
            c = Client(t, acse.MECHANISM_LLS, PASSWORD)
            c.associate()
            assert c.get(1, obis.parse("0.0.42.0.0.255"), 2)[1] == LDN[physical]
            c.release()
        finally:
            t.close()
