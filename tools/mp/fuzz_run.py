"""One runtime's share of ``make fuzz`` (tools/fuzz.py starts it on CPython and
on the unix port): the fuzz targets of host_tests/fuzz_targets.py, N inputs
each or until a time budget runs out, one JSON line per target on stdout.

    fuzz_run.py N SECONDS SEED COVERAGE TARGET...

(COVERAGE is 0 or 1; 1 on CPython keeps inputs that reach new firmware lines.)
"""

import json
import sys

import fuzz_targets as ft
import support  # noqa: F401  (quiets the firmware's log)
from compat import ticks_diff, ticks_ms


def main():
    n, seconds, seed, coverage = (int(a) for a in sys.argv[1:5])
    names = sys.argv[5:] or ft.NAMES
    for name in names:
        t0 = ticks_ms()

        def deadline(t0=t0):
            return ticks_diff(ticks_ms(), t0) > seconds * 1000

        try:
            r = ft.fuzz(ft.make(name), n, seed, coverage=bool(coverage), deadline=deadline)
            out = {
                "name": name,
                "inputs": r.inputs,
                "unexpected": r.unexpected,
                "examples": r.examples,
                "checks": r.checks,
                "corpus": r.corpus,
                "lines": r.lines,
            }
        except Exception as e:  # a target that cannot even start is a finding too
            out = {"name": name, "inputs": 0, "unexpected": 1, "examples": [["", repr(e)]]}
        out["seconds"] = ticks_diff(ticks_ms(), t0) / 1000
        print(json.dumps(out))


main()
