"""Does the meter's interop session fit in a board's heap? (issue 8)

    python -m tools.board_heap [--board esp32] [--romfs IMAGE] HEAP [HEAP ...]

For each ``-X heapsize=`` given (``98K``, ``112K``...) the simulator starts
with the board's configuration (boards/<board>/settings.json, provisioned
with test keys and an LLS reader), its optical port and RS-485 bus served on
ptys, and tools/hil.py runs its session against it (make hil: the 62056-21
opening and readout, gurux-dlms over HDLC on both serial ports and over
TCP, dlms-cosem over the wrapper). A heap passes when every check passes
and the meter stops cleanly (no traceback, no error line: an out-of-memory
connection is logged as one). Prints a line per heap and exits 0 when all
passed.

Which MicroPython runs it: ``$MPDLMS_MICROPYTHON`` if set, else the venv's
unix port (64-bit). On the venv's port ``--romfs build/mpy/unix.romfs``
runs the code in place, as a board runs it from flash. A 32-bit unix build
with the firmware frozen in (boards/unix/README.md) is what stands closest
to a board: set ``MPDLMS_MICROPYTHON`` to it and leave out ``--romfs``.
"""

import argparse
import json
import os
import subprocess
import sys
import tempfile

ROOT = os.path.normpath(os.path.join(os.path.dirname(__file__), ".."))
sys.path.insert(0, os.path.join(ROOT, "host_tests"))

from simulator import Simulator, check_clean_stop  # noqa: E402

from tools import deploy  # noqa: E402

PASSWORD = "Rd-4471"


def board_config(board="esp32"):
    """The board's configuration as ``make deploy`` provisions it, with test
    keys and two clients (public; reader with LLS ``PASSWORD``); the store
    and the network left to the Simulator."""
    cfg, _, _ = deploy.board_settings(board, None)
    cfg = dict(cfg)
    cfg.pop("store")  # the Simulator's own, in a temp dir
    cfg["network"] = {}  # the Simulator's host and ports
    cfg["security"] = {
        k: v * 16
        for k, v in (("block_cipher_key", "A1"), ("authentication_key", "B2"), ("master_key", "C3"))
    }
    cfg["clients"] = [
        {"sap": 16, "level": "public", "authentication": "none"},
        {"sap": 17, "level": "reader", "authentication": "lls", "password": PASSWORD},
    ]
    return cfg


def session(heapsize, romfs=None, board="esp32"):
    """Run the session under ``heapsize``. Returns (rows of tools/hil.py's
    report, hil's output, the Simulator after its stop); raises
    AssertionError when a check failed or the meter did not stop cleanly,
    RuntimeError when it did not start."""
    sim = Simulator(board_config(board), heapsize=heapsize, romfs=romfs, serial=True)
    with tempfile.TemporaryDirectory() as tmp:
        report = os.path.join(tmp, "report.json")
        try:
            ends = sim.read_endpoints()
            p = subprocess.run(
                [sys.executable, "-m", "tools.hil", "--json", report, "--timeout", "10"]
                + ["--optical", ends["optical"]["path"], "--rs485", ends["rs485"]["path"]]
                + ["--host", "127.0.0.1", "--wrapper-port", str(sim.wrapper_port)]
                + ["--hdlc-port", str(sim.hdlc_port), "--password", PASSWORD],
                cwd=ROOT,
                capture_output=True,
                text=True,
                timeout=120,
            )
        finally:
            rc = sim.stop()
        with open(report) as f:
            rows = json.load(f)
    check_clean_stop(sim, rc)
    assert p.returncode == 0, p.stdout
    assert [r["result"] for r in rows if r["result"] != "skip"] == ["pass"] * 7, p.stdout
    return rows, p.stdout, sim


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("heaps", nargs="+", metavar="HEAP")
    ap.add_argument("--board", default="esp32")
    ap.add_argument("--romfs", help="a ROMFS image to run the code from (make mpy)")
    a = ap.parse_args(argv)
    ok = True
    for heap in a.heaps:
        try:
            session(heap, a.romfs, a.board)
            print("%-6s pass" % heap)
        except (AssertionError, RuntimeError, OSError, ValueError, subprocess.SubprocessError) as e:
            ok = False
            lines = [x for x in str(e).splitlines() if x.strip()]
            why = [x for x in lines if "Error" in x or x.startswith("E ")] or lines
            print("%-6s fail  %s" % (heap, why[-1][:160] if why else type(e).__name__))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
