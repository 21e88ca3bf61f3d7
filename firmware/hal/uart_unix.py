"""A pty as the simulator's UART (hal.uart), on the unix port.

The unix port cannot make a pty (no openpty, no ioctl, no ffi), but it can
use one: ``tools/pty_launcher.py`` creates the pairs, sets the slaves raw and
the masters non-blocking, and execs the simulator, which inherits the master
fds (and keeps a slave fd open, so the master never reads end-of-file while
no client has the port open). Here the master fd becomes a ``FileIO``:
``select.poll`` and asyncio wait on it, and ``read`` returns what is there.
Clients open the slave's path, as they would a serial adapter.

The speed goes to the pty with ``termios.tcsetattr`` on the master, which
Linux applies to the slave, so a client sees it with ``tcgetattr``. That is
all a pty keeps: it carries octets at memory speed whatever the rate, and
Linux holds it at 8 bits without parity, so every change (speed, bits,
parity, stop bits) is also appended to the ``record`` file ("300 7E1", one
line each) for tests to check the sequence.
"""

import asyncio

import log
from micropython import const

from hal.uart import Uart, line_text

_GIVE_UP_MS = const(1000)  # a full pty nobody reads: the octets are lost, as on a wire
_READ_MAX = const(256)

# termios speed codes as Linux numbers them (the unix port's termios module
# names only B9600 and up)
_SPEEDS = {
    300: 7,
    600: 8,
    1200: 9,
    2400: 11,
    4800: 12,
    9600: 13,
    19200: 14,
    38400: 15,
    57600: 0o10001,
    115200: 0o10002,
}


class PtyUart(Uart):
    """``fd``: the pty master (or a device path: a serial adapter or another
    program's pty, the gateway's ``--serial NAME=DEVICE``); ``path``: the
    slave clients open; ``record``: the file that gets every line setting
    (or None)."""

    def __init__(self, name, fd, path, record=None, line=(9600, 8, None, 1)):
        super().__init__(name, echo=False)
        self.fd = fd
        self.path = path
        self.record = record
        self._poll = None
        self._buf = bytearray(_READ_MAX)  # one read buffer, not one per read
        self._mv = memoryview(self._buf)
        self._rx = self._mv  # read() too: each read is copied out at once
        if isinstance(fd, str):
            # a device (a USB serial adapter, another program's pty): opened
            # blocking, so reads are polled first
            import select

            self._io = open(fd, "r+b", buffering=0)
            self.fd = self._io.fileno()
            self._poll = select.poll()
            self._poll.register(self._io, select.POLLIN)
        else:
            self._io = open(fd, "r+b", buffering=0)
        if record:
            open(record, "w").close()
        self.set_line(*line)

    def _apply_line(self, line):
        import termios

        if self.record:
            with open(self.record, "a") as f:
                f.write(line_text(line) + "\n")
        speed = _SPEEDS.get(line[0])
        if speed is None or termios.B9600 != _SPEEDS[9600]:
            return  # not a Linux numbering: the record file has it
        try:
            a = termios.tcgetattr(self.fd)
            a[4] = a[5] = speed
            termios.tcsetattr(self.fd, termios.TCSANOW, a)
        except OSError as e:
            log.warning("%s: line settings not applied to the pty: %r", self.name, e)

    def _raw_read(self):
        if self._poll is not None:
            return self._device_read()
        try:
            n = self._io.readinto(self._buf)
        except OSError:
            return b""  # EIO: no slave open
        return bytes(self._mv[:n]) if n else b""

    def _device_read(self):
        # a blocking device: MicroPython's read(n) waits for all n octets, so
        # one octet at a time, as long as one is there
        mv = self._mv
        n = 0
        try:
            while n < _READ_MAX and self._poll.poll(0):
                if not self._io.readinto(mv[n : n + 1]):
                    break
                n += 1
        except OSError:
            pass
        return bytes(mv[:n]) if n else b""

    async def write(self, data):
        """Every octet into the pty; if nobody drains it for a second, the rest
        is dropped (a wire does not wait for a listener)."""
        mv = memoryview(data)
        n = len(mv)
        off = 0
        waited = 0
        while off < n:
            try:
                w = self._io.write(mv[off:])
            except OSError:
                w = None
            if w:
                off += w
                continue
            if waited >= _GIVE_UP_MS:
                log.warning("%s: nobody reads the line, %d octets lost", self.name, n - off)
                return
            await asyncio.sleep(0.002)
            waited += 2

    def write_now(self, data):
        import time

        mv = memoryview(data)
        off = 0
        waited = 0
        while off < len(mv) and waited < _GIVE_UP_MS:
            try:
                w = self._io.write(mv[off:])
            except OSError:
                w = None
            if w:
                off += w
            else:
                time.sleep(0.002)
                waited += 2

    def close(self):
        self._io.close()
