"""CPython's stand-in for MicroPython's built-in ``micropython`` module.

MicroPython never imports this file: its built-in module always wins. Under
CPython it makes ``from micropython import const`` and the emitter decorators
``@micropython.native`` / ``@micropython.viper`` work, and it makes the viper
casts ``ptr8``, ``ptr16``, ``ptr32`` and ``uint`` builtins that behave as
identities, so viper functions (written to mask every result to its width)
run unchanged as plain Python. It is not deployed to boards (tools/build_mpy).
"""

import builtins


def const(x):
    return x


def native(f):
    return f


viper = native


def _cast(x):
    return x


for _name in ("ptr8", "ptr16", "ptr32"):
    setattr(builtins, _name, _cast)
builtins.uint = int
