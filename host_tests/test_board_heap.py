# runtime: cpython-only -- starts the simulator from a ROMFS image under a board's heap and runs tools/hil.py against it
# ruff: noqa: E501  (the line above is the runtime marker host_tests/mp_run.py reads)
"""The interop session under a board's heap, with the code in place.

The meter runs as a board runs it: the ESP32 board's configuration
(boards/esp32/settings.json, provisioned), its code run in place from a
ROMFS image (tools/romfs_launcher.py: bytecode and constants stay out of the
heap, as frozen code does), its optical port and RS-485 bus served, under
``-X heapsize=``. The session is tools/hil.py's (make hil): the 62056-21
opening and readout, gurux-dlms over HDLC on both serial ports and over TCP
(object list, logical device name, clock, energy register, release),
dlms-cosem over the wrapper.

The smallest board heap documented (boards/README.md): a generic ESP32
without PSRAM, about 100 KB free with Wi-Fi up (98 KiB here). It does not
fit: the unix port is 64-bit (every object twice as wide, the smallest heap
block 32 bytes instead of 16) and .mpy files mounted from ROMFS still intern
their names in the heap, which frozen code does not. That test is an
expected failure (strict: it reports when it starts to fit) and the
smallest heap found to work here is tested instead (README: the gap)."""

import json
import os
import subprocess
import sys

import pytest
from simulator import ROOT, Simulator, check_clean_stop

from tools import build_mpy, deploy

SMALLEST_BOARD_HEAP = "98K"  # ESP32-WROOM, Wi-Fi up: ~100,592 B (boards/README.md)
SMALLEST_HEAP_HERE = "320K"  # measured: 304K fails the serial sessions, 320K passes


@pytest.fixture(scope="module")
def romfs():
    tree = os.path.join(ROOT, "build", "mpy", "unix")
    build_mpy.build("x64", tree)
    image = tree + ".romfs"
    build_mpy.pack_romfs(tree, image)
    return image


def board_config():
    cfg, _, _ = deploy.board_settings("esp32", None)
    cfg = dict(cfg)
    cfg.pop("store")  # the Simulator's own, in a temp dir
    cfg["network"] = {}  # the Simulator's host and ports
    cfg["security"] = {
        k: v * 16
        for k, v in (("block_cipher_key", "A1"), ("authentication_key", "B2"), ("master_key", "C3"))
    }
    cfg["clients"] = [
        {"sap": 16, "level": "public", "authentication": "none"},
        {"sap": 17, "level": "reader", "authentication": "lls", "password": "Rd-4471"},
    ]
    return cfg


def session(tmp_path, heapsize, romfs):
    sim = Simulator(board_config(), heapsize=heapsize, romfs=romfs, serial=True)
    report = tmp_path / "report.json"
    try:
        ends = sim.read_endpoints()
        p = subprocess.run(
            [sys.executable, "-m", "tools.hil", "--json", str(report), "--timeout", "10"]
            + ["--optical", ends["optical"]["path"], "--rs485", ends["rs485"]["path"]]
            + ["--host", "127.0.0.1", "--wrapper-port", str(sim.wrapper_port)]
            + ["--hdlc-port", str(sim.hdlc_port), "--password", "Rd-4471"],
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=120,
        )
    finally:
        rc = sim.stop()
    check_clean_stop(sim, rc)
    rows = json.loads(report.read_text())
    assert p.returncode == 0, p.stdout
    assert [r["result"] for r in rows if r["result"] != "skip"] == ["pass"] * 7, p.stdout
    return sim


def test_interop_session_in_the_smallest_heap_found(tmp_path, romfs):
    sim = session(tmp_path, SMALLEST_HEAP_HERE, romfs)
    assert "Simulated meter" in sim.output()


@pytest.mark.xfail(
    strict=True,
    reason="does not fit: the session needs %s on the 64-bit unix port from ROMFS, the smallest board has ~%s"
    % (SMALLEST_HEAP_HERE, SMALLEST_BOARD_HEAP),
)
def test_interop_session_in_the_smallest_board_heap(tmp_path, romfs):
    session(tmp_path, SMALLEST_BOARD_HEAP, romfs)
