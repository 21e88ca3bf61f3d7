# runtime: cpython-only -- drives the iec62056-21 package (PyPI) with pyserial over a pty
"""An independent IEC 62056-21 client reads our meter over a serial line.

The client is the ``iec62056-21`` package (pwitab/iec62056-21, pinned in
pyproject.toml), on the slave side of a pty through its pyserial transport:
300 Bd 7E1, the sign-on, the option select, its switch to 9600 Bd (a new
pyserial port, which flushes its input), then the readout. Our sans-IO
``Iec62056Server`` sits on the master side behind the small port loop of
``PtyMeter``, which acts on the server's events and checks, each time it
writes, that the other end (the pty's termios, which pyserial sets) is at the
rate our server is at -- on a real wire octets sent at another rate are lost.
A Linux pty keeps the speed but not the 7E1 character format, so only the
rate is compared. The readout is the simulated meter's object model (app.meter) on a
fixed clock.
"""

import os
import select
import termios
import threading
import time
import unittest

from app import config
from app.meter import build_meter
from cosem.base import LogicalDevice
from cosem.data import Data
from cosem.register import UNIT_WH, Register
from dlms import axdr
from dlms.iec62056_21 import BAUD, Iec62056Server, ObjectAccess
from dlms.iec62056_21_client import parse_data_message
from hal.clock import ManualClock

try:
    from iec62056_21 import messages
    from iec62056_21.client import Iec6205621Client
except ImportError:  # pragma: no cover
    Iec6205621Client = None

CODES = [
    "0.0.96.1.0.255",
    "1.0.1.8.0.255",
    "1.0.1.8.1.255",
    "1.0.1.8.2.255",
    "1.0.2.8.0.255",
    "1.0.1.7.0.255",
    "1.0.32.7.0.255",
    "1.0.52.7.0.255",
    "1.0.72.7.0.255",
    "1.0.31.7.0.255",
    "1.0.14.7.0.255",
    "0.0.1.0.0.255",
]
# t_r: within 200 ms ... 1500 ms (6.3.14), and longer than the package takes to
# reopen its port after the option select (0.25 s + 0.5 s), which flushes input
RESPONSE_MS = 1000
_SPEEDS = {getattr(termios, "B%d" % r): r for r in (300, 600, 1200, 2400, 4800, 9600, 19200)}


class PtyMeter:
    """Our server on the master side of a pty: the port loop of a driver."""

    def __init__(self, server):
        self.server = server
        self.master, self.slave = os.openpty()
        self.name = os.ttyname(self.slave)
        self.rate = server.baud
        self.events = []  # what the server asked of the port, in order
        self.mismatches = []  # (our rate, theirs) when we wrote at a rate they were not at
        self.received = bytearray()
        self.sent = bytearray()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True)
        self._t0 = time.monotonic()
        self.error = None

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join(5)
        os.close(self.master)
        os.close(self.slave)

    def now(self):
        return int((time.monotonic() - self._t0) * 1000)

    def their_rate(self):
        # the pty's termios: what pyserial set (a Linux pty keeps the speed but
        # not the 7E1 character format, so only the rate is compared)
        return _SPEEDS.get(termios.tcgetattr(self.master)[5])

    def _loop(self):
        try:
            while not self._stop.is_set():
                r, _, _ = select.select([self.master], [], [], 0.01)
                now = self.now()
                if r:
                    data = os.read(self.master, 1024)
                    self.received += data
                    self.server.receive_data(data, now)
                self.server.poll(now)
                self._drain()
        except Exception as e:  # reported by the test
            self.error = e

    def _drain(self):
        while True:
            out = self.server.data_to_send()
            if out:
                theirs = self.their_rate()
                if theirs != self.rate:
                    self.mismatches.append((self.rate, theirs))
                os.write(self.master, out)
                self.sent += out
            ev = self.server.next_event()
            if ev is None:
                return
            self.events.append(ev)
            self.rate = ev[1]


def simulated_meter():
    model = build_meter(config.load(), hal_clock=ManualClock(1790000000))
    return model.server.devices[1]


@unittest.skipIf(Iec6205621Client is None, "the iec62056-21 package is not installed")
class TestPackageReadsOurMeter(unittest.TestCase):
    def test_mode_c_readout(self):
        access = ObjectAccess(simulated_meter(), CODES)
        expected = access.readout()
        server = Iec62056Server(
            "mpdlms0001", access.readout, modes="CE", baud=9600, response_ms=RESPONSE_MS
        )
        with PtyMeter(server) as port:
            client = Iec6205621Client.with_serial_transport(port=port.name)
            client.connect()
            try:
                answer = client.standard_readout()
            finally:
                client.transport.port.close()
            deadline = time.monotonic() + 5
            while server.busy() and time.monotonic() < deadline:
                time.sleep(0.05)
        self.assertIsNone(port.error)
        # what the package made of our identification
        self.assertEqual(client.manufacturer_id, "MPY")
        self.assertEqual(client.switchover_baudrate, 9600)
        self.assertTrue(client.identification.endswith("mpdlms0001"))
        # its values: every data set of the readout, address, value and unit
        got = [(d.address, d.value, d.unit or "") for d in answer.data]
        self.assertEqual(got, expected)
        self.assertEqual(got[1][0], "1.8.0")
        self.assertEqual(got[1][2], "kWh")
        self.assertEqual(len(got[1][1]), 10)  # 012345.678
        # the same readout through our own parser, BCC included
        ours = parse_data_message(bytes(port.sent).split(b"\r\n", 1)[1])
        self.assertEqual([(a, v[0][0], v[0][1]) for a, v in ours.lines], expected)
        # the octets the package sent, and the port's rates in order
        self.assertEqual(bytes(port.received), b"/?!\r\n\x06050\r\n")
        self.assertEqual(port.events, [(BAUD, 9600), (BAUD, 300)])
        self.assertEqual(port.mismatches, [])

    def test_programming_mode(self):
        device = LogicalDevice(1, b"MPY0000000000001")
        device.add(Data("0.0.96.1.0.255", (axdr.OCTET_STRING, b"12345678"), writable=()))
        energy = Register("1.0.1.8.0.255", axdr.DOUBLE_LONG_UNSIGNED, 12345678, 0, UNIT_WH)
        device.add(energy)
        access = ObjectAccess(device, ["0.0.96.1.0.255", "1.0.1.8.0.255"])
        server = Iec62056Server(
            "mpdlms0001",
            access.readout,
            password="12345678",
            read=access.read,
            write=access.write,
            response_ms=RESPONSE_MS,
        )
        with PtyMeter(server) as port:
            client = Iec6205621Client.with_serial_transport(port=port.name, password="12345678")
            client.connect()
            try:
                p0 = client.access_programming_mode()
                # the package's send_password() cannot build its data set (0.0.2):
                # the same P1 message from its own message classes
                pw = messages.DataSet(address="", value="12345678")
                client.transport.send(messages.CommandMessage("P", 1, pw).to_bytes())
                ack = client._recv_ack()
                first = client.read_single_value("1.8.0")
                client.write_single_value("1.8.0", "000001.500")
                second = client.read_single_value("1.8.0")
                client.send_break()
            finally:
                client.transport.port.close()
            deadline = time.monotonic() + 5
            while server.busy() and time.monotonic() < deadline:
                time.sleep(0.05)
        self.assertIsNone(port.error)
        self.assertEqual((p0.command, p0.command_type, p0.data_set.value), ("P", 0, ""))
        self.assertEqual(ack, "\x06")
        self.assertEqual((first.address, first.value, first.unit), ("1.8.0", "012345.678", "kWh"))
        self.assertEqual((second.value, second.unit), ("000001.500", "kWh"))
        self.assertEqual(energy.value, 1500)
        self.assertEqual(port.events, [(BAUD, 9600), (BAUD, 300)])
        self.assertEqual(port.mismatches, [])


if __name__ == "__main__":
    unittest.main()
