"""Helpers shared by the test modules, on both runtimes."""

import binascii


def h(text):
    """bytes from hex text; spaces, newlines and '|' are ignored ("7E A0 07 ...")."""
    t = text.replace(" ", "").replace("\n", "").replace("|", "")
    return binascii.unhexlify(t)


def hx(data):
    """Upper-case hex with a space between bytes, as the standard prints frames."""
    return binascii.hexlify(bytes(data), " ").decode().upper()


class Rng:
    """A small deterministic xorshift32 generator: same sequence on both runtimes."""

    def __init__(self, seed=1):
        self.s = (seed & 0xFFFFFFFF) or 1

    def next(self):
        x = self.s
        x ^= (x << 13) & 0xFFFFFFFF
        x ^= x >> 17
        x ^= (x << 5) & 0xFFFFFFFF
        self.s = x
        return x

    def below(self, n):
        return self.next() % n

    def bytes(self, n):
        return bytes(self.next() & 0xFF for _ in range(n))


def quiet():
    """Keep the firmware's log lines out of test output (log.last_errors still
    records the warnings and errors)."""
    import log

    log.level = 50


quiet()
