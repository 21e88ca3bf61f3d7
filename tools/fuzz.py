"""``make fuzz``: the long fuzzing run of issue 9, on CPython and the unix port.

Every target of host_tests/fuzz_targets.py (each parser that sees outside
bytes) gets ``-n`` inputs, or ``--seconds`` per target if that comes first,
on both runtimes at once (two processes running tools/mp/fuzz_run.py). On
CPython the run is coverage-guided unless ``--no-coverage``: an input that
reaches a firmware line no input reached before joins the seeds it mutates
(a small loop on ``sys.settrace``; atheris does not install here). The unix
port mutates the seeds alone: its inputs are the ones test_fuzz.py makes for
the same ``--seed``, only more of them.

Prints a table (target, runtime, inputs, unexpected exceptions, lines
reached, seconds), writes the inputs behind any finding to
build/fuzz/findings.txt (hex, one per line, with what happened), and exits 1
if any target had an unexpected exception.

    python -m tools.fuzz [-n 50000] [--seconds 30] [--seed 1] [--runtime both]
                         [--no-coverage] [target ...]
"""

import argparse
import json
import os
import subprocess
import sys

ROOT = os.path.normpath(os.path.join(os.path.dirname(__file__), ".."))
WORKER = os.path.join(ROOT, "tools", "mp", "fuzz_run.py")
sys.path.insert(0, os.path.join(ROOT, "host_tests"))
sys.path.insert(0, os.path.join(ROOT, "firmware"))


def micropython():
    exe = os.path.join(os.path.dirname(sys.executable), "micropython")
    return exe if os.path.exists(exe) else "micropython"


def start(runtime, args, names):
    code = os.path.join(ROOT, "firmware")
    tests = os.path.join(ROOT, "host_tests")
    env = dict(os.environ)
    cover = "1" if runtime == "cpython" and args.coverage else "0"
    argv = [str(args.n), str(args.seconds), str(args.seed), cover] + names
    if runtime == "cpython":
        env["PYTHONPATH"] = os.pathsep.join((code, tests))
        cmd = [sys.executable, WORKER] + argv
    else:
        env["MICROPYPATH"] = ":".join((".frozen", code, os.path.join(tests, "mp"), tests))
        cmd = [micropython(), "-X", "heapsize=%s" % args.heap, WORKER] + argv
    return subprocess.Popen(
        cmd, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )


def collect(runtime, proc, rows, names):
    """Read the worker's JSON lines as they come (a row per target)."""
    seen = set()
    for line in proc.stdout:
        line = line.strip()
        if not line.startswith("{"):
            if line:
                print("  [%s] %s" % (runtime, line))
            continue
        r = json.loads(line)
        r["runtime"] = runtime
        rows.append(r)
        seen.add(r["name"])
        print(
            "  %-16s %-11s %8d inputs %4d unexpected  (%.0f s)"
            % (r["name"], runtime, r["inputs"], r["unexpected"], r["seconds"]),
            flush=True,
        )
    proc.wait()
    for name in names:
        if name not in seen:  # the worker died on this target
            rows.append(
                {
                    "name": name,
                    "runtime": runtime,
                    "inputs": 0,
                    "unexpected": 1,
                    "examples": [
                        ["", "the %s worker stopped (exit %s)" % (runtime, proc.returncode)]
                    ],
                    "seconds": 0,
                }
            )


def main(argv=None):
    import fuzz_targets

    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("-n", type=int, default=50000, help="inputs per target and runtime")
    p.add_argument("--seconds", type=int, default=30, help="time budget per target and runtime")
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--runtime", choices=("both", "cpython", "micropython"), default="both")
    p.add_argument("--no-coverage", dest="coverage", action="store_false")
    p.add_argument("--heap", default="4M", help="the unix port's -X heapsize")
    p.add_argument("targets", nargs="*", help="default: all of %s" % ", ".join(fuzz_targets.NAMES))
    args = p.parse_args(argv)
    names = args.targets or list(fuzz_targets.NAMES)
    for n in names:
        if n not in fuzz_targets.NAMES:
            p.error("no target %r (targets: %s)" % (n, ", ".join(fuzz_targets.NAMES)))
    runtimes = ("cpython", "micropython") if args.runtime == "both" else (args.runtime,)
    print(
        "fuzzing %d targets, %d inputs or %d s each, seed %d, on %s"
        % (len(names), args.n, args.seconds, args.seed, " and ".join(runtimes))
    )
    import threading

    rows = []
    threads = []
    for rt in runtimes:
        proc = start(rt, args, names)
        t = threading.Thread(target=collect, args=(rt, proc, rows, names))
        t.start()
        threads.append(t)
    for t in threads:
        t.join()
    order = {n: i for i, n in enumerate(names)}
    rows.sort(key=lambda r: (order.get(r["name"], 99), r["runtime"]))
    print()
    print("| target | runtime | inputs | unexpected exceptions | firmware lines reached | s |")
    print("|---|---|---|---|---|---|")
    for r in rows:
        print(
            "| %s | %s | %d | %d | %s | %.0f |"
            % (
                r["name"],
                r["runtime"],
                r["inputs"],
                r["unexpected"],
                r.get("lines") or "",
                r["seconds"],
            )
        )
    bad = [r for r in rows if r["unexpected"]]
    total = sum(r["inputs"] for r in rows)
    print("\n%d inputs, %d unexpected" % (total, sum(r["unexpected"] for r in rows)))
    if bad:
        os.makedirs(os.path.join(ROOT, "build", "fuzz"), exist_ok=True)
        path = os.path.join(ROOT, "build", "fuzz", "findings.txt")
        with open(path, "w") as f:
            for r in bad:
                for data, what in r.get("examples", []):
                    f.write("%s %s: %s\n%s\n" % (r["name"], r["runtime"], what, data))
                    print("%s on %s: %s\n  input %s" % (r["name"], r["runtime"], what, data[:200]))
        print("inputs written to %s" % os.path.relpath(path, ROOT))
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
