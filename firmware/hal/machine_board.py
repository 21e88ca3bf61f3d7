"""What the boards with MicroPython's ``machine`` module (boards/esp32,
esp32s3, stm32) share in their board.py: app.boot's board API where it is
the same on each. Nothing is imported from ``machine`` until a function is
called, so a board.py that takes these names imports nothing at the top.
"""


def output(pin_id, value=None):
    """A push-pull output pin as ``drive(on)`` (a relay driver, an LED),
    driven to ``value`` at once, or left as it is (None: a relay keeps the
    supply as it was until the disconnect control says otherwise)."""
    from machine import Pin

    if value is None:
        pin = Pin(pin_id, Pin.OUT)
    else:
        pin = Pin(pin_id, Pin.OUT, value=value)

    def drive(on):
        pin.value(1 if on else 0)

    return drive


def watchdog(timeout_ms):
    from machine import WDT

    return WDT(timeout=timeout_ms)


def ntp():
    import ntptime  # micropython-lib: the ports' bundle-networking, or the board's manifest

    return ntptime


def clock():
    from hal.clock import SystemClock

    return SystemClock()


def serial_args(cfg):
    """app.main options for the serial ports the configuration enables: the
    board's own UARTs (``NAME=board``)."""
    args = []
    for name in ("optical", "rs485"):
        if cfg["serial"][name]["enabled"]:
            args += ["--pty", name + "=board"]
    return args
