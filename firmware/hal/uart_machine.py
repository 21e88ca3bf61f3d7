"""A board's UART (``machine.UART``) as a serial port for the links (hal.uart).

RS-485 is half duplex: the transceiver's driver-enable pin (DE, often tied to
/RE) is raised for exactly the transmission. It goes up before the first
start bit and down after the last stop bit: most of the transmission time is
slept (the TX buffer of the driver shifts it out, the other tasks run), the
last few milliseconds are spun on ``UART.flush()`` / ``UART.txdone()``, which
return once the transmit-complete flag is set (esp32 uart_wait_tx_done,
stm32 TC). Ports whose flush returns while the last character is still
shifting out (rp2, esp8266, nrf: see the machine.UART documentation) pass
``tx_tail_chars=1``.

An IR head on a half-duplex optical port (IEC 62056-21) hears its own
light: with ``echo=True`` the octets we sent are dropped from what comes
back (hal.uart.EchoFilter).
"""

import asyncio

from compat import ticks_diff, ticks_us
from micropython import const

from hal.uart import Uart

_SPIN_US = const(3000)  # the end of a transmission is waited for without yielding


class MachineUart(Uart):
    """``uart``: a machine.UART made by board.py (pins, buffers: its TX buffer
    should hold a whole frame so ``write`` does not block); ``de``: the
    driver-enable machine.Pin, or None; ``de_active``: the level that enables
    the driver; ``init_kw``: other ``UART.init`` arguments to keep across line
    changes (pins, buffer sizes, time-outs)."""

    def __init__(
        self,
        name,
        uart,
        de=None,
        de_active=1,
        echo=False,
        tx_tail_chars=0,
        init_kw=None,
        line=(9600, 8, None, 1),
    ):
        super().__init__(name, echo)
        self.uart = uart
        self._io = uart
        self.de = de
        self._de_on = 1 if de_active else 0
        self.tx_tail_chars = tx_tail_chars
        self._init_kw = init_kw or {}
        self._driver(1 - self._de_on)  # receiving
        self.set_line(*line)

    def _apply_line(self, line):
        baudrate, bits, parity, stop = line
        self.uart.init(baudrate=baudrate, bits=bits, parity=parity, stop=stop, **self._init_kw)

    def _raw_read(self):
        u = self.uart
        if not u.any():
            return b""
        return u.read() or b""

    def _drive(self, data):
        """The start of every transmission: ``data`` noted for the echo
        filter, the driver enabled. False (nothing done) for no octets."""
        if not len(data):
            return False
        if self.echo is not None:
            self.echo.sent(data)
        self._driver(self._de_on)
        return True

    def _driver(self, level):
        if self.de is not None:
            self.de.value(level)

    async def write(self, data):
        """Every octet out; returns after the last stop bit, driver released."""
        t0 = ticks_us()
        if not self._drive(data):
            return
        try:
            n = len(data)
            mv = memoryview(data)
            off = 0
            while off < n:
                w = self.uart.write(mv[off:])
                if w:
                    off += w
                else:
                    await asyncio.sleep(0.001)  # TX buffer full
            left = n * self.char_us() - ticks_diff(ticks_us(), t0) - _SPIN_US
            if left > 0:
                await asyncio.sleep(left / 1000000)
            self._wait_sent()
        finally:
            self._driver(1 - self._de_on)
        await self._end_echo()

    def write_now(self, data):
        """``write`` without asyncio: the driver enabled for exactly the frame."""
        if not self._drive(data):
            return
        try:
            mv = memoryview(data)
            off = 0
            while off < len(data):
                off += self.uart.write(mv[off:]) or 0
            self._wait_sent()
        finally:
            self._driver(1 - self._de_on)

    def _wait_sent(self):
        u = self.uart
        flush = getattr(u, "flush", None)
        if flush is not None:
            flush()
        else:
            while not u.txdone():
                pass
        if self.tx_tail_chars:
            t = ticks_us()
            tail = self.tx_tail_chars * self.char_us()
            while ticks_diff(ticks_us(), t) < tail:
                pass

    def close(self):
        self._driver(1 - self._de_on)
        self.uart.deinit()
