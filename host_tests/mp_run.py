"""Run host_tests/ under the unix MicroPython port.

    micropython host_tests/mp_run.py [test_module ...]

MICROPYPATH must hold firmware/, host_tests/mp/ and host_tests/ (the Makefile
sets it). Every test_*.py module is run unless its first lines carry a
``# runtime: cpython-only -- <reason>`` marker, in which case the module is
listed as skipped with its reason. Ends with the line ``N passed, N failed``
(plus skipped) and exits 0 only when nothing failed.
"""

import gc
import os
import sys

_MARK = "# runtime: cpython-only"


def cpython_only(path):
    with open(path) as f:
        for _ in range(12):
            line = f.readline()
            if not line:
                break
            if line.startswith(_MARK):
                return line[len(_MARK) :].strip(" -:\n") or "no reason given"
    return None


def test_cases(mod):
    import unittest

    for name in sorted(dir(mod)):
        obj = getattr(mod, name)
        if isinstance(obj, type) and obj is not unittest.TestCase:
            try:
                if issubclass(obj, unittest.TestCase):
                    yield name, obj
            except TypeError:
                pass


def run_module(modname, counts, verbose):
    import unittest

    try:
        mod = __import__(modname)
    except Exception as e:
        counts[1] += 1
        print("ERROR importing %s:" % modname)
        sys.print_exception(e)
        return
    for cname, cls in test_cases(mod):
        try:
            cls.setUpClass()
        except unittest.SkipTest as e:
            print("skip %s.%s: %s" % (modname, cname, e))
            continue
        except Exception as e:
            counts[1] += 1
            print("ERROR in %s.%s.setUpClass" % (modname, cname))
            sys.print_exception(e)
            continue
        for tname in sorted(dir(cls)):
            if not tname.startswith("test"):
                continue
            label = "%s.%s.%s" % (modname, cname, tname)
            # collections only when the heap runs out, whatever threshold the
            # firmware set (importing app sets one for a board's boot: here,
            # with the suite's live heap, it would collect far too often)
            gc.threshold(-1)
            t = cls()
            try:
                t.setUp()
                try:
                    getattr(t, tname)()
                finally:
                    t.tearDown()
                counts[0] += 1
                if verbose:
                    print("ok", label)
            except unittest.SkipTest as e:
                counts[2] += 1
                print("skip %s: %s" % (label, e))
            except Exception as e:
                counts[1] += 1
                print("FAIL", label)
                sys.print_exception(e)
            gc.collect()
        try:
            cls.tearDownClass()
        except Exception as e:
            counts[1] += 1
            print("ERROR in %s.%s.tearDownClass" % (modname, cname))
            sys.print_exception(e)


def main():
    here = __file__.rsplit("/", 1)[0] if "/" in __file__ else "."
    args = [a for a in sys.argv[1:] if not a.startswith("-")]
    verbose = "-v" in sys.argv
    if args:
        names = [a.rsplit("/", 1)[-1] for a in args]
    else:
        names = sorted(n for n in os.listdir(here) if n.startswith("test_") and n.endswith(".py"))
    counts = [0, 0, 0]  # passed, failed, skipped
    for n in names:
        if not n.endswith(".py"):
            n += ".py"
        reason = cpython_only(here + "/" + n)
        if reason:
            print("skip module %s (cpython-only: %s)" % (n, reason))
            continue
        run_module(n[:-3], counts, verbose)
        # the test module's code and data go once it has run (the firmware it
        # imported stays): the heap holds one suite module at a time
        sys.modules.pop(n[:-3], None)
        gc.collect()
    print("%d passed, %d failed, %d skipped" % tuple(counts))
    sys.exit(1 if counts[1] or not counts[0] else 0)


main()
