"""The unix simulator "board": the unix MicroPython port on a PC.

What a real board's board.py names (UARTs, pins, flash) is simulated here:
TCP sockets for the network, the host clock for the RTC.
"""

NAME = "unix"
ARCH = "x64"  # mpy-cross -march for native/viper code
STORE_PATH = "build/sim/store"  # the flash store (a littlefs image comes with the store)


def relay():
    """No relay on a PC: the meter logs the breaker's switching (None)."""
    return None


def clock():
    from hal.clock import SystemClock

    return SystemClock()
