"""Serial ports on a board (hal.uart_machine) with a fake ``machine``: the
RS-485 driver-enable pin around each transmission, echo suppression for IR
heads, line settings; and the boards' board.py import-checked."""

import asyncio
import sys
import unittest

from hal.uart import EchoFilter, line_text
from hal.uart_machine import MachineUart

EVENTS = []  # what the fake pin and UART saw, in order


class FakePin:
    OUT = 1
    IN = 0

    def __init__(self, pin=None, mode=None, value=None):
        self.pin = pin
        self.v = None
        if value is not None:
            self.value(value)

    def value(self, v=None):
        if v is None:
            return self.v
        self.v = 1 if v else 0
        EVENTS.append(("pin", self.v))


class FakeUART:
    """machine.UART as far as hal.uart_machine uses it. ``echo``: what is
    written comes back (an IR head); ``busy``: txdone() answers False that
    many times after a write (without flush())."""

    def __init__(self, uart_id=1, baudrate=9600, **kw):
        self.id = uart_id
        self.kw = kw
        self.inits = []
        self.rx = bytearray()
        self.echo = False
        self.written = bytearray()
        self.busy = 0
        self.closed = False

    def init(self, **kw):
        self.inits.append(kw)

    def write(self, data):
        data = bytes(data)
        EVENTS.append(("write", data))
        self.written += data
        if self.echo:
            self.rx += data
        return len(data)

    def flush(self):
        EVENTS.append(("flush",))

    def any(self):
        return len(self.rx)

    def read(self, n=-1):
        data = bytes(self.rx)
        self.rx = bytearray()
        return data or None

    def deinit(self):
        self.closed = True


class FakeUARTNoFlush(FakeUART):
    flush = None  # an old port: txdone() only

    def txdone(self):
        if self.busy:
            self.busy -= 1
            EVENTS.append(("busy",))
            return False
        EVENTS.append(("txdone",))
        return True


class FakeMachine:
    UART = FakeUART
    Pin = FakePin


FRAME = b"\x7e\xa0\x07\x03\x21\x93\x0f\x01\x7e"  # a SNRM from client 16
ANSWER = b"\x7e\xa0\x07\x21\x03\x73\xa3\xf1\x7e"


def run(coro):
    return asyncio.run(coro)


class TestRs485DriverEnable(unittest.TestCase):
    def setUp(self):
        EVENTS[:] = []

    def test_the_pin_is_raised_for_exactly_the_transmission(self):
        u = FakeUART(2)
        de = FakePin(18, FakePin.OUT)
        port = MachineUart("rs485", u, de=de, line=(115200, 8, None, 1))
        self.assertEqual(EVENTS, [("pin", 0)])  # receiving from the start
        run(port.write(FRAME))
        run(port.write(ANSWER))
        self.assertEqual(
            EVENTS,
            [("pin", 0)]
            + [("pin", 1), ("write", FRAME), ("flush",), ("pin", 0)]
            + [("pin", 1), ("write", ANSWER), ("flush",), ("pin", 0)],
        )
        self.assertEqual(bytes(u.written), FRAME + ANSWER)

    def test_an_inverted_driver_enable(self):
        de = FakePin(18)
        port = MachineUart("rs485", FakeUART(2), de=de, de_active=0, line=(115200, 8, None, 1))
        run(port.write(FRAME))
        self.assertEqual(EVENTS, [("pin", 1), ("pin", 0), ("write", FRAME), ("flush",), ("pin", 1)])

    def test_released_only_when_txdone_says_the_stop_bit_is_out(self):
        u = FakeUARTNoFlush(2)
        de = FakePin(18)
        port = MachineUart("rs485", u, de=de, line=(115200, 8, None, 1))
        EVENTS[:] = []
        u.busy = 3
        run(port.write(FRAME))
        self.assertEqual(
            EVENTS,
            [("pin", 1), ("write", FRAME), ("busy",), ("busy",), ("busy",), ("txdone",)]
            + [("pin", 0)],
        )

    def test_released_when_the_write_fails(self):
        class Broken(FakeUART):
            def write(self, data):
                raise OSError(5)

        de = FakePin(18)
        port = MachineUart("rs485", Broken(2), de=de, line=(115200, 8, None, 1))
        with self.assertRaises(OSError):
            run(port.write(FRAME))
        self.assertEqual(de.value(), 0)
        self.assertEqual(EVENTS[-2:], [("pin", 1), ("pin", 0)])

    def test_tail_for_ports_whose_flush_returns_early(self):
        de = FakePin(18)
        port = MachineUart("rs485", FakeUART(2), de=de, tx_tail_chars=1, line=(115200, 8, None, 1))
        run(port.write(FRAME))
        self.assertEqual(EVENTS[-3:], [("write", FRAME), ("flush",), ("pin", 0)])

    def test_without_a_pin(self):
        u = FakeUART(1)
        port = MachineUart("optical", u, line=(115200, 8, None, 1))
        run(port.write(FRAME))
        self.assertEqual(EVENTS, [("write", FRAME), ("flush",)])
        port.close()
        self.assertTrue(u.closed)


class TestEcho(unittest.TestCase):
    def setUp(self):
        EVENTS[:] = []

    def test_the_heads_echo_is_dropped(self):
        u = FakeUART(1)
        u.echo = True
        port = MachineUart("optical", u, echo=True, line=(115200, 8, None, 1))
        run(port.write(FRAME))
        u.rx += ANSWER  # the other side's answer, after the echo
        self.assertEqual(port.read_now(), ANSWER)
        self.assertEqual(port.echo.dropped, len(FRAME))
        self.assertEqual(port.read_now(), b"")

    def test_an_answer_arriving_with_the_echo(self):
        u = FakeUART(1)
        u.echo = True
        port = MachineUart("optical", u, echo=True, line=(115200, 8, None, 1))
        EVENTS[:] = []

        def write(data):
            FakeUART.write(u, data)
            u.rx += ANSWER[:4]  # already coming in behind the echo
            return len(data)

        u.write = write
        run(port.write(FRAME))
        u.rx += ANSWER[4:]
        self.assertEqual(port.read_now(), ANSWER)

    def test_a_head_without_echo_loses_nothing(self):
        u = FakeUART(1)
        port = MachineUart("optical", u, echo=True, line=(115200, 8, None, 1))
        run(port.write(FRAME))
        u.rx += ANSWER  # starts with the same flag as what we sent
        self.assertEqual(port.read_now(), ANSWER)

    def test_filter_across_chunks(self):
        f = EchoFilter()
        f.sent(b"\x7e\xa0\x07\x03")
        self.assertEqual(f.filter(b"\x7e\xa0"), b"")
        self.assertEqual(f.pending(), 2)
        self.assertEqual(f.filter(b"\x07\x03\x7e\x11"), b"\x7e\x11")
        self.assertEqual(f.pending(), 0)
        self.assertEqual(f.filter(b"\x7e"), b"\x7e")

    def test_a_differing_octet_ends_the_echo(self):
        f = EchoFilter()
        f.sent(b"\x01\x02\x03\x04")
        self.assertEqual(f.filter(b"\x01\x02\x09\x03\x04"), b"\x09\x03\x04")
        self.assertEqual(f.pending(), 0)

    def test_bounded(self):
        f = EchoFilter(limit=8)
        f.sent(bytes(range(20)))
        self.assertEqual(f.pending(), 8)
        self.assertEqual(f.filter(bytes(range(12, 20)) + b"x"), b"x")


class TestLine(unittest.TestCase):
    def test_line_changes_go_to_uart_init_and_are_kept(self):
        u = FakeUART(3)
        kw = {"read_buf_len": 1024, "timeout": 0}
        port = MachineUart("optical", u, init_kw=kw, line=(300, 7, 0, 1))
        port.set_line(9600)
        self.assertEqual(
            u.inits,
            [
                {
                    "baudrate": 300,
                    "bits": 7,
                    "parity": 0,
                    "stop": 1,
                    "read_buf_len": 1024,
                    "timeout": 0,
                },
                {
                    "baudrate": 9600,
                    "bits": 8,
                    "parity": None,
                    "stop": 1,
                    "read_buf_len": 1024,
                    "timeout": 0,
                },
            ],
        )
        self.assertEqual(port.changes, [(300, 7, 0, 1), (9600, 8, None, 1)])
        self.assertEqual([line_text(c) for c in port.changes], ["300 7E1", "9600 8N1"])

    def test_character_time(self):
        port = MachineUart("optical", FakeUART(1), line=(9600, 8, None, 1))
        self.assertEqual(port.char_us(), 1042)  # 10 bits
        port.set_line(300, 7, 0, 1)
        self.assertEqual(port.char_us(), 33334)  # 10 bits at 300 Bd
        port.set_line(1200, 8, 1, 2)
        self.assertEqual(port.char_us(), 10000)  # 12 bits
        self.assertEqual(line_text(port.line), "1200 8O2")


class TestBoards(unittest.TestCase):
    """boards/esp32 and boards/stm32 import and build their ports with a fake
    ``machine`` (the unix port's own machine module has no UART)."""

    def board(self, name):
        here = __file__.rsplit("/", 1)[0] if "/" in __file__ else "."
        saved = sys.modules.get("machine")
        sys.modules["machine"] = FakeMachine
        sys.path.insert(0, here + "/../boards/" + name)
        try:
            sys.modules.pop("board", None)
            b = __import__("board")
            return b, b.optical(), b.rs485()
        finally:
            sys.path.pop(0)
            sys.modules.pop("board", None)
            if saved is None:
                sys.modules.pop("machine", None)
            else:
                sys.modules["machine"] = saved

    def check(self, name, arch):
        EVENTS[:] = []
        b, optical, rs485 = self.board(name)
        self.assertEqual((b.NAME, b.ARCH), (name, arch))
        self.assertIsNotNone(optical.echo)
        self.assertIsNone(optical.de)
        self.assertIsNone(rs485.echo)
        self.assertEqual(rs485.de.value(), 0)
        self.assertEqual(rs485.line, (9600, 8, None, 1))
        run(rs485.write(FRAME))
        self.assertEqual(EVENTS[-4:], [("pin", 1), ("write", FRAME), ("flush",), ("pin", 0)])

    def test_esp32(self):
        self.check("esp32", "xtensawin")

    def test_stm32(self):
        self.check("stm32", "armv7emsp")


if __name__ == "__main__":
    unittest.main()
