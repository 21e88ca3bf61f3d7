# runtime: cpython-only -- runs the command-line tools and servers as subprocesses
"""The DLMS client CLI (tools/dlms_client.py) against our simulator and against
a gurux-dlms Python server (tools/gurux_server.py), and `make run`-style
configuration errors."""

import json
import os
import subprocess
import sys
import time

import pytest
from simulator import LLS_MANAGER, ROOT, GuruxServer, Simulator, micropython


def cli(port, *args, timeout=30):
    p = subprocess.run(
        [sys.executable, "-m", "tools.dlms_client", "--port", str(port), *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    return p.returncode, p.stdout.strip(), p.stderr.strip()


@pytest.fixture(scope="module")
def sim():
    s = Simulator(LLS_MANAGER)
    yield s
    assert s.stop() == 0


def test_objects(sim):
    rc, out, err = cli(sim.wrapper_port, "--json", "objects")
    assert rc == 0, err
    obis = [o["obis"] for o in json.loads(out)]
    assert obis[0] == "0.0.40.0.0.255"
    assert "0.0.42.0.0.255" in obis and "0.0.1.0.0.255" in obis


def test_get_over_wrapper_and_hdlc(sim):
    rc, out, _ = cli(sim.wrapper_port, "get", "1", "0.0.42.0.0.255", "2")
    assert (rc, out) == (0, "MPY0000000000001")
    rc, out, _ = cli(sim.hdlc_port, "--hdlc", "get", "1", "0.0.42.0.0.255", "2")
    assert (rc, out) == (0, "MPY0000000000001")
    rc, out, _ = cli(
        sim.hdlc_port,
        "--hdlc",
        "--address-size",
        "4",
        "--client",
        "17",
        "--password",
        "12345678",
        "get",
        "3",
        "1.0.1.8.0.255",
        "3",
    )
    assert (rc, out) == (0, "[0, 30]")


def test_profile_by_range_and_entries(sim):
    rc, out, err = cli(
        sim.wrapper_port,
        "--client",
        "17",
        "--password",
        "12345678",
        "--json",
        "profile",
        "1.0.99.1.0.255",
        "--entries",
        "1:10",
    )
    assert rc == 0, err
    rows = json.loads(out)
    assert len(rows) == 10 and len(rows[0]) == 4
    day = time.strftime("%Y-%m-%d", time.gmtime(time.time() - 86400))
    rc, out, err = cli(
        sim.wrapper_port,
        "--client",
        "17",
        "--password",
        "12345678",
        "--json",
        "profile",
        "1.0.99.1.0.255",
        "--from",
        day + "T00:00",
        "--to",
        day + "T01:00",
    )
    assert rc == 0, err
    assert len(json.loads(out)) == 5  # 00:00, 00:15, ... 01:00 inclusive


def test_set_and_action(sim):
    rc, _, err = cli(
        sim.wrapper_port,
        "--client",
        "1",
        "--password",
        "12345678",
        "set",
        "5",
        "1.0.1.4.0.255",
        "8",
        "u32:1800",
    )
    assert rc == 0, err
    rc, out, _ = cli(
        sim.wrapper_port,
        "--client",
        "17",
        "--password",
        "12345678",
        "get",
        "5",
        "1.0.1.4.0.255",
        "8",
    )
    assert (rc, out) == (0, "1800")
    rc, out, _ = cli(
        sim.wrapper_port,
        "--client",
        "1",
        "--password",
        "12345678",
        "action",
        "8",
        "0.0.1.0.0.255",
        "6",
        "i16:0",
    )
    assert (rc, out) == (0, "ok")


def test_refusals(sim):
    rc, _, err = cli(sim.wrapper_port, "set", "1", "0.0.42.0.0.255", "2", "octets:00")
    assert rc == 1 and "data-access-result 3" in err
    rc, _, err = cli(sim.wrapper_port, "--client", "17", "--password", "wrong", "objects")
    assert rc == 2 and "diagnostic 13" in err


def test_cli_against_a_gurux_server():
    with GuruxServer() as g:
        rc, out, err = cli(g.port, "get", "3", "1.0.1.8.0.255", "2")
        assert (rc, out) == (0, "123456"), err
        rc, out, err = cli(g.port, "get", "3", "1.0.1.8.0.255", "3")
        assert (rc, out) == (0, "[0, 30]"), err


def test_bad_config_is_refused_naming_the_field(tmp_path):
    path = tmp_path / "bad.json"
    path.write_text(
        json.dumps({"clients": [{"sap": 17, "level": "reader", "authentication": "lls"}]})
    )
    env = dict(os.environ)
    env["MICROPYPATH"] = ".frozen:firmware:boards/unix"
    p = subprocess.run(
        [micropython(), "-m", "app.main", "--config", str(path)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert p.returncode == 2
    assert "clients[0].password" in p.stdout
