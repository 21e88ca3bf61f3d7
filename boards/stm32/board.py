"""STM32 board (a NUCLEO-F429ZI, say): the meter's serial ports and clock.

Wiring assumed here (change it to the board's): an IR head for the optical
port on UART3 (half duplex: the head hears its own light); an RS-485
transceiver on UART6 with DE and /RE tied together on pin B0.
The breaker's relay driver on PG0 (high = connected).

The stm32 UART has no transmit buffer (write returns once the octets are in
the shift register) and ``init()`` resets what it is not given, so the
receive buffer size travels in ``init_kw`` across line changes.
"""

NAME = "stm32"
ARCH = "armv7emsp"  # mpy-cross -march for native/viper code
STORE_PATH = "/flash/store"

_KW = {"read_buf_len": 1024, "timeout": 0, "timeout_char": 0}


def optical(line=(9600, 8, None, 1)):
    from hal.uart_machine import MachineUart
    from machine import UART

    u = UART(3, line[0], **_KW)
    return MachineUart("optical", u, echo=True, init_kw=_KW, line=line)


def rs485(line=(9600, 8, None, 1)):
    from hal.uart_machine import MachineUart
    from machine import UART, Pin

    de = Pin("B0", Pin.OUT, value=0)
    u = UART(6, line[0], **_KW)
    return MachineUart("rs485", u, de=de, init_kw=_KW, line=line)


def relay():
    """The breaker of the disconnect control (0.0.96.3.10.255): a relay
    driver on PG0, high = supply connected. Returns relay(on)."""
    from machine import Pin

    pin = Pin("PG0", Pin.OUT)

    def drive(on):
        pin.value(1 if on else 0)

    return drive


def clock():
    from hal.clock import SystemClock

    return SystemClock()
