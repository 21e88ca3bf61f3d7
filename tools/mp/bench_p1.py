"""DSMR P1 input: telegrams framed and parsed per second, and the heap over 10,000 of them.

The same script on CPython and on the unix MicroPython port (the module path,
firmware/ or build/mpy/unix, is set by the caller). Each real telegram from
host_tests/data/dsmr is cut into 64-octet chunks, as a UART read delivers
them, and fed to one ``TelegramFramer`` (CRC checked); every telegram it
completes goes through ``parse(t, exact=True)``, as app.gateway does.
Prints one JSON line, per telegram:

- ``telegrams_per_s``: over telegrams 101 to 10,000 (collections included);
- ``heap``: live heap (gc.collect() then gc.mem_alloc()) after 100 and after
  10,000 telegrams, with the last parse result still held; equal unless
  something accumulates. MicroPython only (None on CPython).
"""

import gc
import json

from compat import IS_MICROPYTHON, mem_alloc, ticks_diff, ticks_us
from gateway.dsmr import TelegramFramer, parse

_CHUNK = 64
_FIRST = 100
_TOTAL = 10000
_DATA = __file__.rsplit("/", 1)[0] + "/../../host_tests/data/dsmr/"
_TELEGRAMS = ("emucs_fluvius_v171.txt", "dsmr50_iskra.txt")


def live():
    gc.collect()
    return mem_alloc() if IS_MICROPYTHON else None


def run(name):
    with open(_DATA + name, "rb") as f:
        t = f.read()
    chunks = [t[i : i + _CHUNK] for i in range(0, len(t), _CHUNK)]
    framer = TelegramFramer()
    last = None
    n = 0
    while n < _FIRST:
        for c in chunks:
            for tg in framer.feed(c):
                last = parse(tg, exact=True)
                n += 1
    first_ok = not last["errors"]  # a bool: no reference into the first result kept
    after_first = live()
    t0 = ticks_us()
    while n < _TOTAL:
        for c in chunks:
            for tg in framer.feed(c):
                last = parse(tg, exact=True)
                n += 1
    us = ticks_diff(ticks_us(), t0)
    after_total = live()
    if framer.telegrams != n or framer.discarded or not first_ok or last["errors"]:
        raise RuntimeError("%s: telegrams lost or misread" % name)
    return {
        "telegram": name,
        "octets": len(t),
        "chunk": _CHUNK,
        "values": len(last["values"]),
        "telegrams": n,
        "telegrams_per_s": round((_TOTAL - _FIRST) * 1000000 / us, 1),
        "heap": None
        if after_first is None
        else {
            str(_FIRST): after_first,
            str(_TOTAL): after_total,
            "delta": after_total - after_first,
        },
    }


def main():
    out = {"runtime": "micropython" if IS_MICROPYTHON else "cpython", "runs": []}
    for name in _TELEGRAMS:
        out["runs"].append(run(name))
    print(json.dumps(out))


main()
