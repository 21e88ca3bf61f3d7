"""ESP32 board (an ESP32-DevKitC, say): the meter's serial ports and clock.

Wiring assumed here (change it to the board's): an IR head for the optical
port (IEC 62056-21 / 62056-46, half duplex: the head hears its own light) on
UART1, TX GPIO17, RX GPIO16; an RS-485 transceiver (MAX485 style, DE and /RE
tied together) on UART2, TX GPIO4, RX GPIO5, DE GPIO18.
The breaker's relay driver on GPIO23 (high = connected).

The TX buffers hold a whole HDLC frame, so writing one does not block the
asyncio loop; the driver-enable pin is driven by hal.uart_machine.
"""

NAME = "esp32"
ARCH = "xtensawin"  # mpy-cross -march for native/viper code
STORE_PATH = "/store"

_TXBUF = 2200  # a frame of 2,030 octets of information and its header
_RXBUF = 1024


def optical(line=(9600, 8, None, 1)):
    from hal.uart_machine import MachineUart
    from machine import UART

    u = UART(1, baudrate=line[0], tx=17, rx=16, txbuf=_TXBUF, rxbuf=_RXBUF, timeout=0)
    return MachineUart("optical", u, echo=True, line=line)


def rs485(line=(9600, 8, None, 1)):
    from hal.uart_machine import MachineUart
    from machine import UART, Pin

    de = Pin(18, Pin.OUT, value=0)
    u = UART(2, baudrate=line[0], tx=4, rx=5, txbuf=_TXBUF, rxbuf=_RXBUF, timeout=0)
    return MachineUart("rs485", u, de=de, line=line)


def relay():
    """The breaker of the disconnect control (0.0.96.3.10.255): a relay
    driver on GPIO23, high = supply connected. Returns relay(on)."""
    from machine import Pin

    pin = Pin(23, Pin.OUT)

    def drive(on):
        pin.value(1 if on else 0)

    return drive


def clock():
    from hal.clock import SystemClock

    return SystemClock()
