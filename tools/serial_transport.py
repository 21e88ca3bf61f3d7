"""Serial ports (pyserial) for the DLMS client and for 62056-21 readouts.

- ``SerialHdlcTransport(path, ...)``: HDLC (IEC 62056-46) on a line, with the
  ``exchange(apdu) -> apdu`` and ``close()`` of tools/transports.py. ``path``
  is a device (/dev/ttyUSB0, an optical head) or the simulator's pty
  (build/sim/endpoints.json, "optical" or "rs485"); ``physical`` picks the
  meter on a multi-drop bus. ``iec=True`` opens the port the way an optical
  head does: the IEC 62056-21 sign-on at 300 Bd 7E1, mode E selected, then
  HDLC at the rate the meter offered (dlms.iec62056_21_client drives it).
- ``read_readout(path, ...)``: a 62056-21 data readout (mode C, or A/B) into a
  ``Readout`` of OBIS-coded values, with the same sans-IO client.
- ``pace_baud``: the octets are handed over only as fast as a line at that
  rate carries them (ten bits each, one direction at a time), for benchmarks
  on a pty, which carries them at memory speed; ``wire_octets`` counts both
  directions.
"""

import termios
import time

import serial
from compat import ticks_ms
from dlms.hdlc_client import HdlcLinkTransport
from dlms.iec62056_21 import MODE_E
from dlms.iec62056_21_client import MODE_E_SETTLE_MS, READOUT, Iec62056Client, pump


def _line(port, rate, seven_e1):
    """The port's rate and framing; a pty refuses 7E1 (Linux keeps it 8N1)
    and some refuse rates: what it refuses stays as it was."""
    try:
        port.baudrate = rate
    except (serial.SerialException, termios.error, ValueError):
        pass
    try:
        if seven_e1:
            port.bytesize, port.parity = serial.SEVENBITS, serial.PARITY_EVEN
    except (serial.SerialException, termios.error, ValueError):
        seven_e1 = False
    if not seven_e1:
        try:
            port.bytesize, port.parity = serial.EIGHTBITS, serial.PARITY_NONE
        except (serial.SerialException, termios.error, ValueError):
            pass


def _send(port, data):
    port.write(data)
    port.flush()


def drive_iec(port, iec, timeout=20):
    """Run an ``Iec62056Client`` (already started) on a pyserial port until its
    session ends: returns ``(MODE_E, rate)`` or ``(READOUT, Readout)``;
    OSError with the client's reason on an ERROR event or a time-out."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        now = ticks_ms()
        iec.poll(now)
        ev = pump(iec, lambda out: _send(port, out), lambda rate, e7: _line(port, rate, e7))
        if ev is not None:
            return ev
        data = port.read(port.in_waiting or 1)  # the port's time-out is short (50 ms)
        if data:
            iec.receive_data(data, ticks_ms())
    raise OSError("IEC 62056-21: no end to the session in %d s" % timeout)


def open_port(path, rate=300, seven_e1=True, timeout=0.05):
    port = serial.Serial(path, rate, timeout=timeout)
    _line(port, rate, seven_e1)
    port.reset_input_buffer()
    return port


def read_readout(path, device_address="", max_baud=19200, timeout=20):
    """The meter's data readout (sign-on, option select, readout at the
    offered rate up to ``max_baud``): a dlms.iec62056_21_client.Readout."""
    port = open_port(path)
    try:
        iec = Iec62056Client(device_address, READOUT, max_baud)
        iec.start(ticks_ms())
        return drive_iec(port, iec, timeout)[1]
    finally:
        port.close()


class SerialHdlcTransport(HdlcLinkTransport):
    def __init__(
        self,
        path,
        baudrate=9600,
        client=16,
        server=1,
        physical=16,
        address_size=0,
        max_info=128,
        window=1,
        timeout=10,
        iec=False,
        device_address="",
        pace_baud=None,
    ):
        self.wire_octets = 0
        self.pace_char_s = 10.0 / pace_baud if pace_baud else 0
        self._wire_free = 0.0
        if iec:
            self.port = open_port(path, 300, True)
            c = Iec62056Client(device_address, MODE_E, max_baud=baudrate)
            c.start(ticks_ms())
            self.rate = drive_iec(self.port, c, timeout + 10)[1]
            time.sleep(MODE_E_SETTLE_MS / 1000)  # the meter switches its line too
            self.identification = c.identification
            self.port.timeout = timeout
        else:
            self.port = open_port(path, baudrate, False, timeout)
            self.rate = baudrate
            self.identification = None
        self._open(client, server, physical, address_size, max_info, window)

    def _pace(self, n):
        """n octets cross the line, after whatever is on it already."""
        self.wire_octets += n
        if self.pace_char_s:
            now = time.monotonic()
            self._wire_free = max(self._wire_free, now) + n * self.pace_char_s
            if self._wire_free > now:
                time.sleep(self._wire_free - now)

    def _send(self, data):
        self._pace(len(data))
        self.port.write(data)
        self.port.flush()

    def _read(self):
        data = self.port.read(self.port.in_waiting or 1)
        if data:
            self._pace(len(data))
        return data

    def _close(self):
        self.port.close()
