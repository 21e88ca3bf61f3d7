"""Load profiles in flash: heap while a profile is read, flash operations per capture.

The same script on CPython and on the unix MicroPython port (the module path,
firmware/ or build/mpy/unix, is set by the caller). Prints one JSON line:

- ``heap``: for a 100- and a 10,000-entry load profile (clock, status,
  import and export energy) in a FlashRingSource on a littlefs image in
  /tmp, the live heap before a read and its peak while the whole buffer is
  encoded by dlms.stream.pieces and cut by BlockSource into 1 KiB blocks
  (gc.collect() and the heap in use sampled every 50 rows), and the same for
  a range-descriptor read of the last day (96 entries); ``peak_delta`` is
  peak minus before. MicroPython figures; CPython's come from tracemalloc.
- ``flash``: program and erase operations per captured entry, while the
  10,000-entry ring fills and wraps on 512-octet blocks (the test images),
  and while a 1,000-entry ring fills and wraps on 4,096-octet blocks (SPI
  NOR flash as on ESP32 boards).
"""

import gc
import json
import os

from compat import IS_MICROPYTHON, ticks_diff, ticks_ms
from cosem.clock import Clock
from cosem.data import Data
from cosem.flash_ring import FlashRingSource
from cosem.profile import ProfileGeneric
from cosem.register import Register
from dlms import axdr
from dlms.stream import BlockSource, pieces
from hal.blockdev import FileBlockDevice
from hal.clock import ManualClock
from hal.store import open_store

_PERIOD = 900
_T0 = 1735689600  # 2025-01-01 00:00 UTC
_RECORD = 40  # a 4-column load-profile row takes 30 octets
_SAMPLE = 50  # rows between heap samples
_DIR = "/tmp/mpdlms-bench-profile"

if IS_MICROPYTHON:

    def live():
        gc.collect()
        return gc.mem_alloc()

    def tracing(on):
        pass

else:
    import tracemalloc

    def live():
        gc.collect()
        return tracemalloc.get_traced_memory()[0]

    def tracing(on):
        if on:
            tracemalloc.start()
        else:
            tracemalloc.stop()


def image(name, blocks, block_size):
    path = _DIR + "/" + name
    try:
        os.remove(path)
    except OSError:
        pass
    return open_store(None, dev=FileBlockDevice(path, block_size, blocks))


class LoadProfile:
    def __init__(self, store, entries, record=_RECORD):
        self.hal = ManualClock(_T0)
        self.clock = Clock("0.0.1.0.0.255", self.hal, time_zone=-60)
        self.energy = 0
        status = Data("0.0.96.10.1.255", (axdr.UNSIGNED, 0))
        imp = Register("1.0.1.8.0.255", axdr.DOUBLE_LONG_UNSIGNED, lambda: self.energy)
        exp = Register("1.0.2.8.0.255", axdr.DOUBLE_LONG_UNSIGNED, lambda: self.energy // 7)
        self.source = FlashRingSource(store, "lp%d" % entries, entries, record)
        self.profile = ProfileGeneric(
            "1.0.99.1.0.255",
            self.source,
            [(self.clock, 2), (status, 2), (imp, 2), (exp, 2)],
            capture_period=_PERIOD,
        )
        self.n = 0

    def capture(self, n):
        for _ in range(n):
            t = _T0 + self.n * _PERIOD
            self.hal.set(t)
            self.energy += 250
            self.profile.capture(t)
            self.n += 1


def sampled(it, peak):
    # the peak is kept in place: a list of samples would grow the heap it measures
    n = 0
    for piece in it:
        n += 1
        if n % _SAMPLE == 0:
            peak[0] = max(peak[0], live())
            peak[1] += 1
        yield piece


def stream(data):
    """Send ``data`` in 1 KiB blocks: (live heap before, peak, octets, ms)."""
    buf = bytearray(1024)
    peak = [0, 0]  # peak, samples
    src = BlockSource(sampled(pieces(data), peak))
    base = live()
    peak[0] = base
    size = 0
    t0 = ticks_ms()
    while not src.exhausted():
        size += src.fill(buf, 0, len(buf))
    ms = ticks_diff(ticks_ms(), t0)
    return base, max(peak[0], live()), size, ms


def last_day(lp):
    t = _T0 + (lp.n - 96) * _PERIOD
    lo = (axdr.OCTET_STRING, lp.clock.local_datetime(t).to_bytes())
    hi = (axdr.OCTET_STRING, lp.clock.local_datetime(t + 95 * _PERIOD).to_bytes())
    clock = (
        axdr.STRUCTURE,
        [
            (axdr.LONG_UNSIGNED, 8),
            (axdr.OCTET_STRING, lp.clock.ln),
            (axdr.INTEGER, 2),
            (axdr.LONG_UNSIGNED, 0),
        ],
    )
    return lp.profile.get(2, None, 1, (axdr.STRUCTURE, [clock, lo, hi, (axdr.ARRAY, [])]))


def heap(entries):
    store = image("heap.img", 1400, 512)
    lp = LoadProfile(store, entries)
    lp.capture(entries)
    tracing(True)
    base, peak, size, ms = stream(lp.profile.get(2, None))
    rbase, rpeak, rsize, _ = stream(last_day(lp))
    tracing(False)
    store.dev.close()
    return {
        "entries": lp.source.count(),
        "octets": size,
        "before": base,
        "peak": peak,
        "peak_delta": peak - base,
        "rows_per_s": round(entries * 1000 / ms) if ms else None,
        "last_day": {"octets": rsize, "before": rbase, "peak": rpeak, "peak_delta": rpeak - rbase},
    }


def flash(entries, captures, blocks, block_size):
    store = image("flash.img", blocks, block_size)
    lp = LoadProfile(store, entries)
    dev = store.dev
    w, e = dev.writes, dev.erases
    t0 = ticks_ms()
    lp.capture(captures)
    ms = ticks_diff(ticks_ms(), t0)
    out = {
        "block_size": block_size,
        "entries": entries,
        "captures": captures,
        "per_file": lp.source.per_file,
        "programs_per_entry": round((dev.writes - w) / captures, 2),
        "erases_per_entry": round((dev.erases - e) / captures, 3),
        "ms_per_capture": round(ms / captures, 2),
    }
    dev.close()
    return out


def main():
    try:
        os.mkdir(_DIR)
    except OSError:
        pass
    out = {"runtime": "micropython" if IS_MICROPYTHON else "cpython", "record_size": _RECORD}
    small = heap(100)
    big = heap(10000)
    out["heap"] = {"100": small, "10000": big, "peak_delta_10000_minus_100": 0}
    out["heap"]["peak_delta_10000_minus_100"] = big["peak_delta"] - small["peak_delta"]
    out["flash"] = [flash(10000, 11000, 1400, 512), flash(1000, 2000, 160, 4096)]
    for name in os.listdir(_DIR):
        os.remove(_DIR + "/" + name)
    os.rmdir(_DIR)
    print(json.dumps(out))


main()
