# runtime: cpython-only -- makes ptys with os.openpty and runs tools/pty_launcher.py (the unix port has neither)
# ruff: noqa: E501  (the line above is the runtime marker host_tests/mp_run.py reads)
"""The simulator's UART on a pty (hal.uart_unix) and tools/pty_launcher.py.

PtyUart is driven here under CPython, on a pty made by the test; the
simulator's own use of it under the unix port is in test_serial_interop.
"""

import asyncio
import json
import os
import subprocess
import sys
import tempfile
import termios
import time
import tty
import unittest

from hal import uart_unix
from hal.uart_unix import PtyUart
from simulator import ROOT


def pty_pair():
    master, slave = os.openpty()
    tty.setraw(slave)
    os.set_blocking(master, False)
    return master, slave


def read_fd(fd, n, timeout=2):
    out = b""
    deadline = time.time() + timeout
    while len(out) < n and time.time() < deadline:
        try:
            out += os.read(fd, n - len(out))
        except BlockingIOError:
            time.sleep(0.005)
    return out


class TestPtyUart(unittest.TestCase):
    def setUp(self):
        self.master, self.slave = pty_pair()
        self.tmp = tempfile.mkdtemp(prefix="pty-")
        self.record = os.path.join(self.tmp, "optical.line")
        self.port = PtyUart("optical", self.master, os.ttyname(self.slave), self.record)
        os.set_blocking(self.slave, False)

    def tearDown(self):
        self.port.close()
        os.close(self.slave)

    def test_the_line_settings_are_recorded_in_order(self):
        # the IEC 62056-21 opening and the switch to HDLC, as mode E does it
        self.port.set_line(300, 7, 0, 1)
        a = termios.tcgetattr(self.slave)
        self.assertEqual((a[4], a[5]), (termios.B300, termios.B300))
        # Linux keeps a pty at 8 bits without parity: the record file has 7E1
        self.assertEqual(a[2] & termios.CSIZE, termios.CS8)
        self.port.set_line(9600)
        a = termios.tcgetattr(self.slave)
        self.assertEqual((a[4], a[5]), (termios.B9600, termios.B9600))
        with open(self.record) as f:
            self.assertEqual(f.read(), "9600 8N1\n300 7E1\n9600 8N1\n")
        self.assertEqual(
            self.port.changes, [(9600, 8, None, 1), (300, 7, 0, 1), (9600, 8, None, 1)]
        )
        # the slave stays raw: no echo, no line editing
        self.assertFalse(termios.tcgetattr(self.slave)[3] & termios.ECHO)

    def test_octets_both_ways(self):
        self.assertEqual(self.port.read_now(), b"")
        os.write(self.slave, b"\x7e\x0d\x0a\x03\x7f")  # CR LF and DEL pass untouched
        time.sleep(0.05)
        self.assertEqual(self.port.read_now(), b"\x7e\x0d\x0a\x03\x7f")
        asyncio.run(self.port.write(bytes(range(256)) * 4))
        self.assertEqual(read_fd(self.slave, 1024), bytes(range(256)) * 4)

    def test_nobody_reading_does_not_hang_the_port(self):
        saved = uart_unix._GIVE_UP_MS
        uart_unix._GIVE_UP_MS = 50
        try:
            asyncio.run(self.port.write(bytes(200000)))  # more than the pty holds
        finally:
            uart_unix._GIVE_UP_MS = saved
        self.assertTrue(read_fd(self.slave, 100))


# app.serial.serve_port under the unix port on the master of a pty (argv: fd,
# slave path), with an HDLC link whose first octets find the heap full
STARVED = r"""
import asyncio, sys
from app.serial import serve_port
from dlms.hdlc_link import HdlcServerLink
from hal.uart_unix import PtyUart
from model import build


class Starved(HdlcServerLink):
    fail = 1

    def receive_data(self, data, now_ms=None):
        if self.fail:
            self.fail -= 1
            raise MemoryError("memory allocation failed, allocating 1040 bytes")
        return super().receive_data(data, now_ms)


class Meter:  # what serve_port uses of app.main.Meter
    stopping = False
    stats = None
    links = []


async def main():
    meter = Meter()
    port = PtyUart("rs485", int(sys.argv[1]), sys.argv[2])
    task = asyncio.create_task(serve_port(meter, port, [Starved(build(), 16, 128, 1)]))
    await asyncio.sleep(2)
    meter.stopping = True
    task.cancel()
    await asyncio.sleep_ms(50)  # its finally runs
    print("links left", len(meter.links))


asyncio.run(main())
"""


# app.gateway.read_port under the unix port on the master of a pty (argv: fd,
# slave path), feeding a gateway whose first octets find the heap full
GATEWAY_STARVED = r"""
import asyncio, sys
from app.gateway import read_port
from hal.uart_unix import PtyUart


class Gateway:  # what read_port uses of app.gateway.Gateway
    stopping = False
    fail = 1

    def feed(self, data):
        if self.fail:
            self.fail -= 1
            raise MemoryError("memory allocation failed, allocating 1040 bytes")
        print("fed", bytes(data))

    def _error(self, text):
        print("error", text)


async def main():
    gw = Gateway()
    task = asyncio.create_task(read_port(gw, PtyUart("p1", int(sys.argv[1]), sys.argv[2])))
    await asyncio.sleep(1.5)
    gw.stopping = True
    task.cancel()


asyncio.run(main())
"""


def run_on_pty(script_text, feed, gap=0.4):
    """Run ``script_text`` under the unix port with the master of a new pty
    (argv: its fd and the slave's path); write each of ``feed`` to the slave
    ``gap`` seconds apart. Returns (what came back each time, the output)."""
    from simulator import micropython

    master, slave = pty_pair()
    os.set_blocking(slave, False)
    tmp = tempfile.mkdtemp(prefix="pty-script-")
    script = os.path.join(tmp, "script.py")
    with open(script, "w") as f:
        f.write(script_text)
    env = dict(os.environ)
    env["MICROPYPATH"] = ".frozen:%s:%s" % (
        os.path.join(ROOT, "firmware"),
        os.path.join(ROOT, "host_tests"),
    )
    p = subprocess.Popen(
        [micropython(), "-X", "heapsize=2M", script, str(master), os.ttyname(slave)],
        cwd=ROOT,
        env=env,
        pass_fds=(master,),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    os.close(master)
    got = []
    try:
        time.sleep(0.6)  # the script imports and starts
        for data in feed:
            os.write(slave, data)
            got.append(read_fd(slave, 4096, timeout=gap))
        out = p.communicate(timeout=10)[0]
    finally:
        if p.poll() is None:
            p.kill()
        os.close(slave)
    return got, out


class TestGatewayPort(unittest.TestCase):
    def test_out_of_memory_loses_what_was_under_way_and_the_port_reads_on(self):
        _, out = run_on_pty(
            GATEWAY_STARVED, [b"/ISK5\\2M550T-1012\r\n", b"1-0:1.8.1(1.000*kWh)\r\n"]
        )
        self.assertIn("error out of memory: MemoryError(", out)
        self.assertIn("fed b'1-0:1.8.1(1.000*kWh)\\r\\n'", out)


class TestServePort(unittest.TestCase):
    """app.serial.serve_port (the RS-485 bus side of the meter) under the unix port."""

    def test_out_of_memory_drops_the_connections_and_the_port_serves_on(self):
        from dlms import hdlc

        snrm = hdlc.encode(hdlc.encode_address(1, 16), hdlc.encode_address(16), 0x93)
        got, out = run_on_pty(STARVED, [snrm, snrm])
        self.assertEqual(got[0], b"", out)  # dropped with the heap full
        ua = hdlc.decode_frame(got[1])
        self.assertEqual((ua.control, ua.dest[:2], ua.src[:2]), (0x73, (16, None), (1, 16)), out)
        self.assertIn("rs485: out of memory", out)
        self.assertIn("links left 0", out)  # its task ended cleanly


CHILD = r"""
import json, os, stat, sys
ports = {}
args = sys.argv[1:]
for i, a in enumerate(args):
    if a == "--pty":
        name, _, rest = args[i + 1].partition("=")
        fd, _, path = rest.partition(":")
        fd = int(fd)
        slave = os.open(path, os.O_RDWR | os.O_NOCTTY)
        os.write(slave, b"ping " + name.encode())
        import time; time.sleep(0.05)
        ports[name] = {
            "path": path,
            "blocking": os.get_blocking(fd),
            "read": os.read(fd, 100).decode(),
            "char_device": stat.S_ISCHR(os.fstat(fd).st_mode),
        }
print(json.dumps({"pid": os.getpid(), "args": args[:2], "ports": ports}))
"""


class TestLauncher(unittest.TestCase):
    def test_the_command_inherits_the_masters(self):
        p = subprocess.run(
            [
                sys.executable,
                "-m",
                "tools.pty_launcher",
                "--",
                sys.executable,
                "-c",
                CHILD,
                "x",
                "y",
            ],
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=20,
        )
        self.assertEqual(p.returncode, 0, p.stderr)
        out = json.loads(p.stdout)
        self.assertEqual(out["args"], ["x", "y"])  # its own arguments first
        self.assertEqual(sorted(out["ports"]), ["optical", "rs485"])
        for name, port in out["ports"].items():
            self.assertTrue(port["path"].startswith("/dev/pts/"), port)
            self.assertFalse(port["blocking"])
            self.assertTrue(port["char_device"])
            self.assertEqual(port["read"], "ping " + name)

    def test_named_ports(self):
        p = subprocess.run(
            [
                sys.executable,
                "-m",
                "tools.pty_launcher",
                "--pty",
                "p1",
                "--",
                sys.executable,
                "-c",
                CHILD,
            ],
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=20,
        )
        self.assertEqual(sorted(json.loads(p.stdout)["ports"]), ["p1"])

    def test_usage(self):
        p = subprocess.run(
            [sys.executable, "-m", "tools.pty_launcher", "micropython"],
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=20,
        )
        self.assertNotEqual(p.returncode, 0)
        self.assertIn("usage", p.stderr)


if __name__ == "__main__":
    unittest.main()
