"""Serial ports for the links: what every UART implementation offers.

A port carries octets, nothing more: the HDLC framing, time-outs and
addressing live in dlms/ (sans-IO). Implementations:

- ``hal.uart_machine.MachineUart``: ``machine.UART`` on a board, with an
  RS-485 driver-enable pin and echo suppression for half-duplex IR heads;
- ``hal.uart_unix.PtyUart``: the master side of a pty on the unix port (the
  simulator's optical and RS-485 ports).

The interface (``Uart``):

- ``await read(n)``: the next octets received, at most ``n`` (waits);
- ``read_now()``: what has arrived, without waiting (b"" when nothing);
- ``await write(data)``: sends every octet and returns once the last stop
  bit has left the line (an RS-485 driver is released then);
- ``set_line(baudrate, bits=8, parity=None, stop=1)``: the line settings,
  ``parity`` as machine.UART takes it (None, 0 even, 1 odd): 8N1 for
  HDLC, 7E1 for the IEC 62056-21 opening at 300 baud. Every change is kept
  in ``changes`` (and a pty also writes it to its record file);
- ``char_us()``: how long one character takes on the line;
- ``close()``.

Waiting uses the MicroPython asyncio streams (``asyncio.StreamReader`` over a
pollable object: a machine.UART or a file), which both the boards and the
unix port have.
"""

import asyncio

from compat import ticks_diff, ticks_ms
from micropython import const

_READ_BUF = const(256)  # read(): the most one call takes from the port
_ECHO_MAX = const(2100)  # one HDLC frame of 2,030 octets of information and more


def line_text(line):
    """(9600, 8, None, 1) -> "9600 8N1", as the record files and logs write it."""
    baudrate, bits, parity, stop = line
    return "%d %d%s%d" % (baudrate, bits, "N" if parity is None else "EO"[parity & 1], stop)


class EchoFilter:
    """Half-duplex IR heads (and RS-485 transceivers with the receiver left on)
    hear their own transmission: the octets we sent come back first.

    ``sent(data)`` before transmitting; ``filter(received)`` drops the echo
    in order and returns the rest. The first octet that differs ends the echo
    (what follows is the other side's), and ``clear()`` forgets an echo that
    never came once the transmission is over, so a head without echo loses
    nothing but a frame start that happened to match.
    """

    def __init__(self, limit=_ECHO_MAX):
        self.limit = limit
        self._expect = b""
        self.dropped = 0

    def sent(self, data):
        e = self._expect + bytes(data)
        if len(e) > self.limit:
            e = e[len(e) - self.limit :]
        self._expect = e

    def pending(self):
        return len(self._expect)

    def filter(self, data):
        e = self._expect
        if not e or not data:
            return data
        n = 0
        m = min(len(e), len(data))
        while n < m and data[n] == e[n]:
            n += 1
        self.dropped += n
        if n < m:
            self._expect = b""  # not our echo: the other side is talking
        else:
            self._expect = e[n:]
        return data[n:]

    def clear(self):
        self._expect = b""


class Uart:
    """The common part of a port; a subclass provides ``_io`` (a pollable
    stream with non-blocking ``read(n)``), ``_raw_read()``, ``_apply_line()``
    and ``write()``."""

    def __init__(self, name, echo=False):
        self.name = name
        self.line = (9600, 8, None, 1)
        self.changes = []  # every line setting asked for, in order
        self.echo = EchoFilter() if echo else None
        self._held = b""  # octets read while waiting for an echo, for the next read
        self._reader = None
        self._rx = None  # read()'s buffer (a memoryview); a subclass may lend its own
        self._io = None

    def set_line(self, baudrate, bits=8, parity=None, stop=1):
        line = (baudrate, bits, parity, stop)
        self._apply_line(line)
        self.line = line
        self.changes.append(line)

    def char_us(self):
        """One character on the line: start bit, data bits, parity, stop bits."""
        baudrate, bits, parity, stop = self.line
        n = 1 + bits + (0 if parity is None else 1) + stop
        return (n * 1000000 + baudrate - 1) // baudrate

    def _received(self, data):
        if not data:
            return b""
        if self.echo is not None:
            data = self.echo.filter(data)
        return data

    def read_now(self):
        """What has arrived (echo removed), without waiting; b"" when nothing."""
        held = self._held
        self._held = b""
        return held + self._received(self._raw_read())

    # -- blocking, for short synchronous sessions (a gateway polling its meter:
    # the asyncio loop waits meanwhile) --------------------------------------------

    def read_wait(self, timeout_ms):
        """What arrives within ``timeout_ms`` (echo removed); b"" if nothing."""
        import select

        data = self.read_now()
        if data:
            return data
        p = select.poll()
        p.register(self._io, select.POLLIN)
        t0 = ticks_ms()
        while True:
            left = timeout_ms - ticks_diff(ticks_ms(), t0)
            if left <= 0 or not p.poll(left):
                return b""
            data = self.read_now()
            if data:
                return data

    def write_now(self, data):
        """Every octet out before returning (blocking ``write``)."""
        raise NotImplementedError

    async def read(self, n=256):
        """The next octets received (echo removed), at most ``n``: waits for them."""
        if self._held:
            out = self._held[:n]
            self._held = self._held[n:]
            return out
        if self._reader is None:
            self._reader = asyncio.StreamReader(self._io)
        if self._rx is None:
            # into one buffer, then only what came is copied: read(n) would
            # allocate n octets at every call, which a fragmented heap refuses
            self._rx = memoryview(bytearray(_READ_BUF))
        while True:
            k = await self._reader.readinto(self._rx[: min(n, len(self._rx))])
            if k is None:  # woken with nothing to read yet
                continue
            data = bytes(self._rx[:k])
            if not data:
                # end of file (a pty without a slave): wait rather than spin
                await asyncio.sleep(0.05)
                continue
            data = self._received(data)
            if data:
                return data

    async def _end_echo(self):
        """After a transmission: the echo of its last octets is in within a
        character time; take it out of what has arrived, then stop expecting."""
        if self.echo is None:
            return
        await asyncio.sleep(self.char_us() * 2 / 1000000 + 0.001)
        self._held += self._received(self._raw_read())
        self.echo.clear()

    def _raw_read(self):
        raise NotImplementedError

    def _apply_line(self, line):
        raise NotImplementedError

    async def write(self, data):
        raise NotImplementedError

    def close(self):
        pass
