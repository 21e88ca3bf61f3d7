"""Generic ESP32 board (ESP32-WROOM-32 or -WROVER, e.g. an ESP32-DevKitC):
the meter's ports, pins, flash, network, watchdog. Wiring: README.md here.

Pins avoid GPIO6-11 (SPI flash), GPIO16/17 (PSRAM on WROVER modules) and
the strapping pins except GPIO0 (the BOOT button, the safe-mode pin) and
GPIO2 (the LED). Receive lines are on the input-only GPIO34-39 where they
can be. The ESP32 has three UARTs and UART0 is the REPL, so UART2 is the
RS-485 bus in the meter role and the P1 input in the gateway role.

The TX buffers hold a whole HDLC frame, so writing one does not block the
asyncio loop; the RS-485 driver-enable pin is driven by hal.uart_machine.
Nothing here runs at import: every function makes its object when asked.
"""

# the part of the board API the machine boards share
from hal.machine_board import clock, ntp, output, serial_args, watchdog  # noqa: F401

NAME = "esp32"
ARCH = "xtensawin"  # mpy-cross -march for native/viper code
FS_ROOT = "/"  # littlefs in the "vfs" partition; sys.path has "" and "/lib"
CONFIG_PATH = "/config.json"  # the meter's configuration (app/config.py), from make deploy
SETTINGS_PATH = "/settings.json"  # the boot settings (app/boot.py): Wi-Fi, NTP, watchdog
STORE_PATH = "/store/store.img"  # the flash store: a littlefs image in a file (hal.store)
NETWORK = "wifi"
CODE = "frozen"  # deploy: the firmware is frozen (manifest.py); ~110 KB of heap hold no .mpy
SAFE_MODE_WINDOW_MS = 1500  # BOOT held at reset selects the ROM bootloader: press it after

OPTICAL_UART, OPTICAL_TX, OPTICAL_RX = 1, 25, 26
RS485_UART, RS485_TX, RS485_RX, RS485_DE = 2, 27, 35, 33
P1_UART, P1_RX, P1_REQUEST = 2, 34, 32  # gateway role: UART2 is P1 instead of RS-485
RELAY_PIN = 23
LED_PIN = 2
SAFE_MODE_PIN = 0

_TXBUF = 2200  # a frame of 2,030 octets of information and its header
_RXBUF = 1024
_P1_RXBUF = 2048  # a whole DSMR telegram (~1 KB, e-MUCS ~1.5 KB) while Wi-Fi is busy


def optical(line=(9600, 8, None, 1)):
    """The IR head (IEC 62056-21 / 62056-46), half duplex: it hears its own light."""
    from hal.uart_machine import MachineUart
    from machine import UART

    kw = {"tx": OPTICAL_TX, "rx": OPTICAL_RX, "txbuf": _TXBUF, "rxbuf": _RXBUF, "timeout": 0}
    u = UART(OPTICAL_UART, baudrate=line[0], **kw)
    return MachineUart("optical", u, echo=True, init_kw=kw, line=line)


def rs485(line=(9600, 8, None, 1)):
    """A MAX485-style transceiver, DE and /RE tied together."""
    from hal.uart_machine import MachineUart
    from machine import UART, Pin

    de = Pin(RS485_DE, Pin.OUT, value=0)
    kw = {"tx": RS485_TX, "rx": RS485_RX, "txbuf": _TXBUF, "rxbuf": _RXBUF, "timeout": 0}
    u = UART(RS485_UART, baudrate=line[0], **kw)
    return MachineUart("rs485", u, de=de, init_kw=kw, line=line)


def p1(line=(115200, 8, None, 1)):
    """A DSMR P1 input (gateway role). P1 is open collector and inverted, so
    the RX line is inverted in the UART (no external inverter); the data
    request line is raised through a transistor to 5 V. RX only (tx=-1)."""
    from hal.uart_machine import MachineUart
    from machine import UART, Pin

    Pin(P1_REQUEST, Pin.OUT, value=1)
    kw = {"tx": -1, "rx": P1_RX, "rxbuf": _P1_RXBUF, "timeout": 0, "invert": UART.INV_RX}
    u = UART(P1_UART, baudrate=line[0], **kw)
    return MachineUart("p1", u, init_kw=kw, line=line)


def relay():
    """The breaker of the disconnect control (0.0.96.3.10.255): a relay
    driver, high = supply connected. Returns relay(on)."""
    return output(RELAY_PIN)


def led():
    """The status LED (on: needs attention, safe mode or not provisioned)."""
    return output(LED_PIN, 0)


def safe_mode_pin():
    """The BOOT button: pulled up, low while pressed."""
    from machine import Pin

    return Pin(SAFE_MODE_PIN, Pin.IN, Pin.PULL_UP), 0


def network():
    import network

    return network.WLAN(network.STA_IF)
