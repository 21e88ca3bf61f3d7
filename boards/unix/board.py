"""The unix simulator "board": the unix MicroPython port on a PC.

What a real board's board.py names is simulated here: the serial ports are
ptys made by tools/pty_launcher.py (``--pty NAME=FD:PATH``), the network is
the host's (nothing to bring up), the RTC is the host clock. For booting it
like a board (``micropython boards/unix/main.py``, app.boot), the
environment stands in for the pins:

- ``MPY_SAFE_MODE=1``: the safe-mode pin is held;
- ``MPY_BOARD_CONFIG`` / ``MPY_BOARD_SETTINGS``: where the "flash" keeps the
  configuration and the boot settings (default build/board/);
- ``MPY_WATCHDOG_FILE``: a file the watchdog writes its feed count to (the
  unix port has no machine.WDT; without it: no watchdog).
"""

import os

NAME = "unix"
ARCH = "x64"  # mpy-cross -march for native/viper code
FS_ROOT = "build/board"
CONFIG_PATH = os.getenv("MPY_BOARD_CONFIG") or "build/board/config.json"
SETTINGS_PATH = os.getenv("MPY_BOARD_SETTINGS") or "build/board/settings.json"
STORE_PATH = "build/sim/store.img"  # the flash store (config store.path; make run's default)
NETWORK = None  # the host's
CODE = "files"


class EnvPin:
    """A pin read from an environment variable ("1": high)."""

    def __init__(self, name):
        self.name = name

    def value(self):
        return 1 if os.getenv(self.name) == "1" else 0


class FileWatchdog:
    """machine.WDT's feed() as a count written to a file: a test sees the
    application feed it (it cannot reset anything)."""

    def __init__(self, path, timeout_ms):
        self.path = path
        self.timeout_ms = timeout_ms
        self.count = 0
        self.feed()

    def feed(self):
        self.count += 1
        with open(self.path, "w") as f:
            f.write("%d %d\n" % (self.count, self.timeout_ms))


def relay():
    """No relay on a PC: the meter logs the breaker's switching (None)."""
    return None


def led():
    return None


def safe_mode_pin():
    return EnvPin("MPY_SAFE_MODE"), 1


def watchdog(timeout_ms):
    path = os.getenv("MPY_WATCHDOG_FILE")
    return FileWatchdog(path, timeout_ms) if path else None


def network():
    return None  # the host's network is up


def ntp():
    return None  # the host keeps its own time


def clock():
    from hal.clock import SystemClock

    return SystemClock()


def serial_args(cfg):
    return []  # the ptys come on the command line from tools/pty_launcher.py
