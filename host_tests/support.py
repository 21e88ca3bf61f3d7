"""Helpers shared by the test modules, on both runtimes."""

import binascii

from dlms import axdr

CLOCK_LN = b"\x00\x00\x01\x00\x00\xff"


def h(text):
    """bytes from hex text; spaces, newlines and '|' are ignored ("7E A0 07 ...")."""
    t = text.replace(" ", "").replace("\n", "").replace("|", "")
    return binascii.unhexlify(t)


def hx(data):
    """Upper-case hex with a space between bytes, as the standard prints frames."""
    return binascii.hexlify(bytes(data), " ").decode().upper()


def definition(class_id, ln, attr, index=0):
    """A capture object definition (Blue Book 4.3.6): class, LN, attribute, data index."""
    return (
        axdr.STRUCTURE,
        [
            (axdr.LONG_UNSIGNED, class_id),
            (axdr.OCTET_STRING, ln),
            (axdr.INTEGER, attr),
            (axdr.LONG_UNSIGNED, index),
        ],
    )


def by_entry(from_entry, to_entry, from_col=1, to_col=0):
    """Profile selective access by entry (selector 2); all columns by default."""
    return (
        axdr.STRUCTURE,
        [
            (axdr.DOUBLE_LONG_UNSIGNED, from_entry),
            (axdr.DOUBLE_LONG_UNSIGNED, to_entry),
            (axdr.LONG_UNSIGNED, from_col),
            (axdr.LONG_UNSIGNED, to_col),
        ],
    )


def by_range(lo, hi, columns=()):
    """Profile selective access by range (selector 1) on the clock column:
    ``lo``/``hi`` typed values (a date-time octet string), ``columns`` the
    selected capture object definitions (none: all)."""
    return (
        axdr.STRUCTURE,
        [definition(8, CLOCK_LN, 2), lo, hi, (axdr.ARRAY, list(columns))],
    )


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
