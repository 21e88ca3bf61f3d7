# runtime: cpython-only -- runs tools/hil.py (gurux-dlms, dlms-cosem, iec62056-21, pyserial) against the simulator's ptys and ports
# ruff: noqa: E501  (the line above is the runtime marker host_tests/mp_run.py reads)
"""make hil in CI: tools/hil.py, the code path a flashed board is tested
with, run as ``make hil`` runs it (a subprocess) against the simulated meter
on the unix port: its optical port and RS-485 bus on ptys stand in for the
USB adapters, its TCP ports for the board's address. Every check must pass
and the report must list them. The P1 loopback runs against the simulator in
gateway mode (app.gateway with a P1 pty). Credentials come from a
provisioning file, as on a rig."""

import inspect
import json
import subprocess
import sys

import pytest
from gateway.dsmr import check_telegram, parse
from simulator import ROOT, Simulator, check_clean_stop

from tools import hil

LDN = "MPYHIL0000000042"
PASSWORD = "Hil-r3ader"
CONFIG = {
    "identity": {"serial": "00000042", "logical_device_name": LDN},
    "clients": [
        {"sap": 16, "level": "public", "authentication": "none"},
        {"sap": 17, "level": "reader", "authentication": "lls", "password": PASSWORD},
    ],
}
METER_CHECKS = [
    "gurux HDLC (optical, mode E)",
    "iec62056-21 readout (optical)",
    "gurux HDLC (RS-485)",
    "gurux wrapper (TCP)",
    "gurux HDLC (TCP)",
    "dlms-cosem wrapper (TCP)",
    "P1 loopback",
    "consistency",
]


@pytest.fixture(scope="module")
def provision(tmp_path_factory):
    path = tmp_path_factory.mktemp("hil") / "keys.json"
    path.write_text(json.dumps({"config": CONFIG}))
    return str(path)


def tcp(sim):
    """tools.hil's options for the simulator's TCP ports."""
    return [
        "--host",
        "127.0.0.1",
        "--wrapper-port",
        str(sim.wrapper_port),
        "--hdlc-port",
        str(sim.hdlc_port),
    ]


def run_hil(tmp_path, *args):
    report = tmp_path / "report.json"
    p = subprocess.run(
        [sys.executable, "-m", "tools.hil", "--json", str(report), "--timeout", "10", *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    rows = json.loads(report.read_text()) if report.exists() else []
    return p.returncode, p.stdout + p.stderr, {r["check"]: r for r in rows}


def test_every_check_passes_against_the_simulated_meter(tmp_path, provision):
    sim = Simulator(CONFIG, serial=True)
    try:
        ends = sim.read_endpoints()
        rc, out, rows = run_hil(
            tmp_path,
            "--optical",
            ends["optical"]["path"],
            "--rs485",
            ends["rs485"]["path"],
            *tcp(sim),
            "--provision",
            provision,
        )
    finally:
        rc_sim = sim.stop()
    check_clean_stop(sim, rc_sim)
    assert rc == 0, out
    assert list(rows) == METER_CHECKS, out
    for name in METER_CHECKS[:-2] + ["consistency"]:
        assert rows[name]["result"] == "pass", out
    assert rows["P1 loopback"]["result"] == "skip"
    # the report, as printed
    for name in METER_CHECKS:
        assert name in out
    assert "hil: 7 passed, 0 failed, 1 skipped" in out
    assert LDN in rows["gurux HDLC (optical, mode E)"]["detail"]
    assert "mode E at 9600 Bd" in rows["gurux HDLC (optical, mode E)"]["detail"]
    assert "15 values" in rows["iec62056-21 readout (optical)"]["detail"]
    assert "46 objects" in rows["gurux HDLC (RS-485)"]["detail"]
    assert "1.0.1.8.0.255 = " in rows["dlms-cosem wrapper (TCP)"]["detail"]
    assert "6 sessions" in rows["consistency"]["detail"]


@pytest.mark.skipif(
    "module" not in inspect.signature(Simulator).parameters,
    reason="the simulator cannot start app.gateway here",
)
def test_p1_loopback_through_the_gateway(tmp_path, provision):
    sim = Simulator(CONFIG, module="app.gateway", ptys=("p1",))
    try:
        rc, out, rows = run_hil(
            tmp_path,
            "--p1",
            sim.read_endpoints()["p1"]["path"],
            *tcp(sim),
            "--provision",
            provision,
        )
    finally:
        rc_sim = sim.stop()
    assert rc_sim == 0, sim.output()
    assert rc == 0, out
    assert rows["P1 loopback"]["result"] == "pass", out
    assert "1.0.1.8.1.255 = " in rows["P1 loopback"]["detail"]
    for name in ("gurux wrapper (TCP)", "gurux HDLC (TCP)", "dlms-cosem wrapper (TCP)"):
        assert rows[name]["result"] == "pass", out
    assert "hil: 5 passed, 0 failed, 3 skipped" in out


def test_a_wrong_password_fails_and_says_why(tmp_path):
    sim = Simulator(CONFIG)
    try:
        rc, out, rows = run_hil(
            tmp_path,
            *tcp(sim),
            "--password",
            "wrong",
        )
    finally:
        sim.stop()
    assert rc == 1, out
    assert rows["gurux wrapper (TCP)"]["result"] == "fail"
    assert rows["dlms-cosem wrapper (TCP)"]["result"] == "fail"
    assert "hil: 0 passed, 3 failed" in out


def test_a_board_that_hangs_up_fails_the_checks_instead_of_hanging(tmp_path):
    # a board out of memory closes the connection after the request; dlms-cosem
    # alone would read an empty socket for ever
    import socket
    import threading

    srv = socket.socket()
    srv.bind(("127.0.0.1", 0))
    srv.listen(8)
    port = srv.getsockname()[1]
    stop = threading.Event()

    def hang_up():
        srv.settimeout(0.2)
        while not stop.is_set():
            try:
                conn, _ = srv.accept()
            except OSError:
                continue
            conn.settimeout(2)
            try:
                conn.recv(4096)  # the AARQ (or SNRM)
            except OSError:
                pass
            conn.close()

    t = threading.Thread(target=hang_up, daemon=True)
    t.start()
    try:
        rc, out, rows = run_hil(
            tmp_path, "--host", "127.0.0.1", "--wrapper-port", str(port), "--hdlc-port", str(port)
        )
    finally:
        stop.set()
        t.join(5)
        srv.close()
    assert rc == 1, out
    assert rows["dlms-cosem wrapper (TCP)"]["result"] == "fail", out
    assert "closed" in rows["dlms-cosem wrapper (TCP)"]["detail"], out
    assert rows["gurux wrapper (TCP)"]["result"] == "fail", out


def test_without_port_or_host_it_says_so_and_skips():
    p = subprocess.run(
        [sys.executable, "-m", "tools.hil"], cwd=ROOT, capture_output=True, text=True, timeout=60
    )
    assert p.returncode == 0
    assert "no PORT" in p.stdout and "nothing to test, skipped" in p.stdout


def test_the_p1_telegram_is_a_valid_dsmr_5_telegram():
    t, want = hil.p1_telegram(12345)
    assert check_telegram(t, require_crc=True) is None
    got = parse(t)
    assert got["errors"] == []
    assert got["values"]["1-0:1.8.1"] == {"value": want["1.0.1.8.1.255"], "unit": "kWh"}
    assert got["values"]["1-0:1.8.2"]["value"] == want["1.0.1.8.2.255"]
