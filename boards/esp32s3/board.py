"""ESP32-S3 board (an ESP32-S3-DevKitC-1 with an N8R8 or N16R8 module, octal
PSRAM): the meter's ports, pins, flash, network, watchdog. Wiring: README.md.

Pins avoid GPIO26-32 (SPI flash and PSRAM), GPIO33-37 (octal PSRAM),
GPIO19/20 (USB), GPIO43/44 (UART0, the REPL's UART) and the strapping pins
except GPIO0 (the BOOT button, the safe-mode pin). Like the ESP32 it has
three UARTs: UART2 is the RS-485 bus in the meter role and the P1 input in
the gateway role. The status LED is the DevKitC-1's RGB LED (a WS2812 on
GPIO48 on v1.0 boards, GPIO38 on v1.1).

With PSRAM the MicroPython heap grows into it (megabytes), so the firmware
can also run from .mpy files copied to /lib (``make deploy CODE=files``);
frozen code (manifest.py) leaves the most memory and starts fastest.
"""

# the part of the board API the machine boards share
from hal.machine_board import clock, ntp, output, serial_args, watchdog  # noqa: F401

NAME = "esp32s3"
ARCH = "xtensawin"  # mpy-cross -march for native/viper code (the S3 is an LX7)
FS_ROOT = "/"
CONFIG_PATH = "/config.json"
SETTINGS_PATH = "/settings.json"
STORE_PATH = "/store/store.img"
NETWORK = "wifi"
CODE = "files"  # deploy: .mpy files in /lib (the heap is in PSRAM); "frozen" also works
SAFE_MODE_WINDOW_MS = 1500

OPTICAL_UART, OPTICAL_TX, OPTICAL_RX = 1, 17, 18
RS485_UART, RS485_TX, RS485_RX, RS485_DE = 2, 4, 5, 6
P1_UART, P1_RX, P1_REQUEST = 2, 7, 15
RELAY_PIN = 10
LED_PIN = 48  # the RGB LED (WS2812); 38 on DevKitC-1 v1.1
SAFE_MODE_PIN = 0

_TXBUF = 2200
_RXBUF = 1024
_P1_RXBUF = 2048


def optical(line=(9600, 8, None, 1)):
    from hal.uart_machine import MachineUart
    from machine import UART

    kw = {"tx": OPTICAL_TX, "rx": OPTICAL_RX, "txbuf": _TXBUF, "rxbuf": _RXBUF, "timeout": 0}
    u = UART(OPTICAL_UART, baudrate=line[0], **kw)
    return MachineUart("optical", u, echo=True, init_kw=kw, line=line)


def rs485(line=(9600, 8, None, 1)):
    from hal.uart_machine import MachineUart
    from machine import UART, Pin

    de = Pin(RS485_DE, Pin.OUT, value=0)
    kw = {"tx": RS485_TX, "rx": RS485_RX, "txbuf": _TXBUF, "rxbuf": _RXBUF, "timeout": 0}
    u = UART(RS485_UART, baudrate=line[0], **kw)
    return MachineUart("rs485", u, de=de, init_kw=kw, line=line)


def p1(line=(115200, 8, None, 1)):
    """DSMR P1 (gateway role): RX inverted in the UART, data request raised."""
    from hal.uart_machine import MachineUart
    from machine import UART, Pin

    Pin(P1_REQUEST, Pin.OUT, value=1)
    kw = {"tx": -1, "rx": P1_RX, "rxbuf": _P1_RXBUF, "timeout": 0, "invert": UART.INV_RX}
    u = UART(P1_UART, baudrate=line[0], **kw)
    return MachineUart("p1", u, init_kw=kw, line=line)


def relay():
    return output(RELAY_PIN)


def led():
    """The RGB LED: red when it needs attention (safe mode, not provisioned)."""
    from machine import Pin
    from neopixel import NeoPixel

    np = NeoPixel(Pin(LED_PIN), 1)

    def drive(on):
        np[0] = (32, 0, 0) if on else (0, 0, 0)
        np.write()

    return drive


def safe_mode_pin():
    from machine import Pin

    return Pin(SAFE_MODE_PIN, Pin.IN, Pin.PULL_UP), 0


def network():
    import network

    return network.WLAN(network.STA_IF)
