"""STM32 board, a NUCLEO-F429ZI (MicroPython's NUCLEO_F429ZI): the meter's
ports, pins, flash, Ethernet, watchdog. Wiring: README.md here (the Pyboard D
is noted there).

USART3 (PD8/PD9) is the REPL through the ST-LINK's virtual COM port; the
Ethernet RMII pins, the three LEDs (PB0, PB7, PB14) and USB OTG (PA9-PA12)
are left alone. The F4's USARTs cannot invert a line, so P1 needs an
external inverter (a transistor or a 74HC14 gate) in front of its RX pin.

The stm32 UART has no transmit buffer (write returns once the octets are in
the shift register) and ``init()`` resets what it is not given, so the
receive buffer size travels in ``init_kw`` across line changes.
"""

# the part of the board API the machine boards share (watchdog: the IWDG,
# at most 32768 ms)
from hal.machine_board import clock, ntp, output, serial_args, watchdog  # noqa: F401

NAME = "stm32"
ARCH = "armv7emsp"  # mpy-cross -march for native/viper code (Cortex-M4F)
FS_ROOT = "/flash"  # FAT on 112 KiB of internal flash; sys.path has /flash and /flash/lib
CONFIG_PATH = "/flash/config.json"
SETTINGS_PATH = "/flash/settings.json"
STORE_PATH = "/flash/store.img"  # 64 KiB littlefs image in a file (settings.json: 128 blocks)
NETWORK = "ethernet"
CODE = "frozen"  # deploy: the firmware must be frozen: 112 KiB of flash filesystem
SAFE_MODE_WINDOW_MS = 1500  # USER held *at* reset is the port's own boot-mode menu

OPTICAL_UART = 2  # TX PD5, RX PD6
RS485_UART, RS485_DE = 5, "PG1"  # TX PC12, RX PD2
P1_UART, P1_REQUEST = 4, "PG2"  # RX PC11 (behind an inverter); TX PA0 unused
RELAY_PIN = "PG0"
LED_PIN = "PB0"  # LD1, green
SAFE_MODE_PIN = "PC13"  # the blue USER button, high while pressed

_KW = {"read_buf_len": 1024, "timeout": 0, "timeout_char": 0}
_P1_KW = {"read_buf_len": 2048, "timeout": 0, "timeout_char": 0}


def optical(line=(9600, 8, None, 1)):
    from hal.uart_machine import MachineUart
    from machine import UART

    u = UART(OPTICAL_UART, line[0], **_KW)
    return MachineUart("optical", u, echo=True, init_kw=_KW, line=line)


def rs485(line=(9600, 8, None, 1)):
    from hal.uart_machine import MachineUart
    from machine import UART, Pin

    de = Pin(RS485_DE, Pin.OUT, value=0)
    u = UART(RS485_UART, line[0], **_KW)
    return MachineUart("rs485", u, de=de, init_kw=_KW, line=line)


def p1(line=(115200, 8, None, 1)):
    """DSMR P1 (gateway role), RX behind an external inverter."""
    from hal.uart_machine import MachineUart
    from machine import UART, Pin

    Pin(P1_REQUEST, Pin.OUT, value=1)
    u = UART(P1_UART, line[0], **_P1_KW)
    return MachineUart("p1", u, init_kw=_P1_KW, line=line)


def relay():
    return output(RELAY_PIN)


def led():
    return output(LED_PIN, 0)


def safe_mode_pin():
    from machine import Pin

    return Pin(SAFE_MODE_PIN, Pin.IN), 1


def network():
    import network

    return network.LAN()  # the on-board LAN8742A, DHCP by default
