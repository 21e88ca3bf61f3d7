# runtime: cpython-only -- drives pyserial and the iec62056-21 package against the simulator's optical pty
# ruff: noqa: E501  (the line above is the runtime marker host_tests/mp_run.py reads)
"""The simulator's optical port as a real meter's: IEC 62056-21 first.

Sign-on at 300 Bd 7E1, the identification, the option select: mode C data
readout of the configured registers (read here by the independent
``iec62056-21`` package), programming mode behind the configured password,
and mode E (Y=2) handing the port to HDLC at 9600 Bd 8N1 -- our own HDLC
client associates as client 17 with LLS -- and back to 62056-21 at 300 Bd
after the DISC (the pty's line record file has the sequence).

A Linux pty carries 8 bits whatever the format, and some kernels refuse
CS7/PARENB (EINVAL) once the meter has set the rate on its side: pyserial
then opens 8N1 at the same rate (``serial_7e1``, also under the package);
the meter takes the characters as 7-bit either way.
"""

import json
import subprocess
import sys
import termios
import time

import pytest
import serial
from dlms import acse, obis
from dlms.client import Client
from dlms.iec62056_21 import bcc, command_message
from simulator import ROOT, Simulator, check_clean_stop

from tools.serial_transport import SerialHdlcTransport

try:
    from iec62056_21.client import Iec6205621Client
except ImportError:  # pragma: no cover
    Iec6205621Client = None

PASSWORD = "ab12cd34"
IDENT = b"/MPY5\\2MPY0000000000001\r\n"
# t_r longer than the package takes to reopen its port after the option
# select (0.25 s + 0.5 s), which flushes its input (test_iec62056_21_interop)
RESPONSE_MS = 1000


@pytest.fixture(scope="module")
def sim():
    cfg = {"serial": {"optical": {"password": PASSWORD, "response_ms": RESPONSE_MS}}}
    s = Simulator(cfg, serial=True)
    try:
        yield s
    finally:
        rc = s.stop()
    check_clean_stop(s, rc)


@pytest.fixture(scope="module")
def ends(sim):
    return sim.read_endpoints()


def serial_7e1(*args, **kw):
    """serial.Serial, or the same at 8N1 where the pty refuses 7E1 (EINVAL)."""
    try:
        return serial.Serial(*args, **kw)
    except (serial.SerialException, termios.error):
        kw.update(bytesize=serial.EIGHTBITS, parity=serial.PARITY_NONE)
        return serial.Serial(*args, **kw)


class _SerialModule:
    """pyserial as the iec62056-21 package sees it, with ``serial_7e1``."""

    Serial = staticmethod(serial_7e1)

    def __getattr__(self, name):
        return getattr(serial, name)


def open_iec(path, rate=300, timeout=3):
    """pyserial at ``rate`` 7E1 (8N1 where the pty refuses it)."""
    return serial_7e1(path, rate, bytesize=7, parity="E", timeout=timeout)


def to_rate(p, rate):
    """The option select's new rate on our side (ignored where the pty refuses)."""
    try:
        p.baudrate = rate
    except (serial.SerialException, termios.error):
        pass


def sign_on(p):
    p.reset_input_buffer()
    p.write(b"/?!\r\n")
    return p.read_until(b"\r\n")


def mode_e(path, rate_char=b"5"):
    """The IEC 62056-21 opening of the optical port by hand (gurux's Python
    client leaves it to the media): sign-on at 300 Bd 7E1, the identification
    (mode E offered: ``\\2``), option select ``ACK 2 Z 2``: HDLC from now on,
    at 9600 Bd 8N1. Returns the identification."""
    with open_iec(path) as p:
        ident = sign_on(p)
        assert ident.startswith(b"/MPY" + rate_char + b"\\2"), ident
        p.write(b"\x062" + rate_char + b"2\r\n")
        p.flush()
    return ident


def read_block(p):
    """An STX ... ETX BCC message (or a lone ACK / NAK)."""
    first = p.read(1)
    if first in (b"\x06", b"\x15", b""):
        return first
    m = first + p.read_until(b"\x03")
    return m + p.read(1)


def line_log(ends):
    with open(ends["optical"]["line_log"]) as f:
        return f.read().splitlines()


def wait_line(ends, want, timeout=3):
    deadline = time.time() + timeout
    while line_log(ends)[-1] != want and time.time() < deadline:
        time.sleep(0.05)
    return line_log(ends)


def number(v):
    return float(v)


@pytest.mark.skipif(Iec6205621Client is None, reason="the iec62056-21 package is not installed")
def test_the_package_reads_the_mode_c_readout(ends, monkeypatch):
    from iec62056_21 import transports

    monkeypatch.setattr(transports, "serial", _SerialModule())
    assert ends["optical"]["protocol"] == "iec62056-21"
    client = Iec6205621Client.with_serial_transport(port=ends["optical"]["path"])
    client.connect()
    try:
        answer = client.standard_readout()
    finally:
        client.transport.port.close()
    assert client.manufacturer_id == "MPY"
    assert client.switchover_baudrate == 9600
    assert client.identification.endswith("MPY0000000000001")
    got = {d.address: (d.value, d.unit or "") for d in answer.data}
    assert list(got)[:3] == ["0-0:96.1.0", "0-0:1.0.0", "1.8.0"]
    assert got["0-0:96.1.0"] == ("00000001", "")
    clock = got["0-0:1.0.0"][0]
    assert len(clock) == 13 and clock[:12].isdigit() and clock[12] in "SW"
    total, t1, t2 = (got[a] for a in ("1.8.0", "1.8.1", "1.8.2"))
    assert total[1] == t1[1] == t2[1] == "kWh"
    assert len(total[0]) == 10  # 012345.678
    assert abs(number(total[0]) - number(t1[0]) - number(t2[0])) <= 0.002
    for phase in ("32.7.0", "52.7.0", "72.7.0"):
        v, unit = got[phase]
        assert unit == "V"
        assert len(v.split(".")[1]) == 1  # scaler -1
        assert 200 < number(v) < 260
    assert got["14.7.0"][1] == "Hz" and 49 < number(got["14.7.0"][0]) < 51
    assert got["1.7.0"][1] == "kW"
    assert len(got) == 15
    wait_line(ends, "300 7E1")


def test_mode_e_hands_the_port_to_hdlc_and_back(ends):
    before = len(line_log(ends))
    assert mode_e(ends["optical"]["path"]) == IDENT
    t = SerialHdlcTransport(
        ends["optical"]["path"], client=17, physical=16, address_size=2, timeout=3
    )
    try:
        c = Client(t, acse.MECHANISM_LLS, b"12345678")
        c.associate()
        assert c.get(1, obis.parse("0.0.42.0.0.255"), 2)[1] == b"MPY0000000000001"
        c.release()
    finally:
        t.close()  # DISC / UA
    lines = wait_line(ends, "300 7E1")
    assert lines[before:] == ["9600 8N1", "300 7E1"]
    assert lines[before - 1] == "300 7E1"
    # 62056-21 again at 300 Bd
    with open_iec(ends["optical"]["path"]) as p:
        assert sign_on(p) == IDENT
        p.write(b"\x06050\r\n")  # readout at 9600 Bd
        p.flush()
        to_rate(p, 9600)
        readout = read_block(p)
        assert readout.startswith(b"\x020-0:96.1.0(00000001)\r\n")
        assert bcc(readout, 1, len(readout) - 1) == readout[-1]
        p.write(b"\x06")  # done: back to 300 Bd
    wait_line(ends, "300 7E1")


def test_no_snrm_after_mode_e_goes_back_to_62056_21(sim, ends):
    before = len(line_log(ends))
    mode_e(ends["optical"]["path"])
    time.sleep(10.6)
    assert line_log(ends)[before:] == ["9600 8N1", "300 7E1"]
    with open_iec(ends["optical"]["path"]) as p:
        assert sign_on(p) == IDENT
    time.sleep(2.2)  # no option select: the readout goes out at 300 Bd, then idle
    assert "back to IEC 62056-21" in sim.output()


def test_programming_mode_wants_the_password(ends):
    with open_iec(ends["optical"]["path"]) as p:
        assert sign_on(p) == IDENT
        p.write(b"\x06051\r\n")  # programming mode at 9600 Bd
        p.flush()
        to_rate(p, 9600)
        assert read_block(p) == command_message("P0", "()")
        p.write(command_message("P1", "(wrong)"))
        assert read_block(p) == b"\x15"  # NAK
        p.write(command_message("R1", "1.8.0()"))
        assert read_block(p).startswith(b"\x02(ER password")
        p.write(command_message("P1", "(%s)" % PASSWORD))
        assert read_block(p) == b"\x06"
        p.write(command_message("R1", "32.7.0()"))
        answer = read_block(p)
        assert answer.startswith(b"\x0232.7.0(") and b"*V)" in answer, answer
        p.write(command_message("B0"))
    wait_line(ends, "300 7E1")


def test_line_noise_before_a_sign_on(ends):
    with open_iec(ends["optical"]["path"]) as p:
        p.write(b"\x00\xff\x7e\xa0 garbage !\r\n/?12")
        time.sleep(0.1)
        assert sign_on(p) == IDENT
        p.write(b"\x06050\r\n")
        p.flush()
        to_rate(p, 9600)
        assert read_block(p).startswith(b"\x020-0:96.1.0(")
        p.write(b"\x06")
    wait_line(ends, "300 7E1")


def our_cli(*args, timeout=60):
    p = subprocess.run(
        [sys.executable, "-m", "tools.dlms_client", *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    return p.returncode, p.stdout.strip(), p.stderr.strip()


def test_our_62056_21_client_reads_the_readout(ends):
    # the gateway's reader (dlms.iec62056_21_client) through tools/serial_transport.py
    before = len(line_log(ends))
    rc, out, err = our_cli("--serial", ends["optical"]["path"], "--json", "readout")
    assert rc == 0, err
    r = json.loads(out)
    assert r["identification"] == "MPY5MPY0000000000001"
    got = r["values"]
    assert got["0-0:96.1.0"] == {"value": "00000001", "unit": None}
    total, t1, t2 = (got[a] for a in ("1.8.0", "1.8.1", "1.8.2"))
    assert total["unit"] == t1["unit"] == t2["unit"] == "kWh"
    assert abs(number(total["value"]) - number(t1["value"]) - number(t2["value"])) <= 0.002
    assert got["14.7.0"]["unit"] == "Hz" and 49 < number(got["14.7.0"]["value"]) < 51
    assert len(got) == 15
    # the option select took it to 9600 Bd for the readout, and back to 300 Bd
    lines = wait_line(ends, "300 7E1")
    assert "9600 7E1" in lines[before:]


def test_our_client_switches_to_mode_e_and_runs_a_dlms_session(ends):
    before = len(line_log(ends))
    rc, out, err = our_cli(
        "--serial",
        ends["optical"]["path"],
        "--iec",
        "--client",
        "17",
        "--password",
        "12345678",
        "--address-size",
        "2",
        "get",
        "1",
        "0.0.42.0.0.255",
        "2",
    )
    assert (rc, out) == (0, "MPY0000000000001"), err
    lines = wait_line(ends, "300 7E1")
    assert lines[before:] == ["9600 8N1", "300 7E1"]


def test_our_client_wants_mode_e_from_a_meter_that_offers_none(ends):
    # the RS-485 bus speaks HDLC only: nothing answers a sign-on there
    rc, _, err = our_cli("--serial", ends["rs485"]["path"], "--timeout", "2", "readout")
    assert rc == 2 and "IEC 62056-21" in err
