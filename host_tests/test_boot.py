# runtime: cpython-only -- starts the simulator as a subprocess
"""Booting the simulated meter: from a ROMFS image (the .mpy files run in
place, as on a board with a ROM partition) under a heap a board could give,
and with a flash store that holds data but does not mount (refused, never
formatted over: its invocation counters would roll back)."""

import json
import os
import subprocess
import sys
import tempfile

from simulator import LLS_MANAGER, ROOT, Simulator, check_clean_stop, micropython

from tools import build_mpy


def cli(port, *args):
    p = subprocess.run(
        [sys.executable, "-m", "tools.dlms_client", "--port", str(port)]
        + ["--client", "17", "--password", "12345678", "--json", *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert p.returncode == 0, p.stderr
    return json.loads(p.stdout)


def test_session_with_the_code_in_romfs(romfs):
    # 320K: the code's objects, not its bytecode, are in the heap (make bench
    # finds the smallest heap); loaded into RAM the same session needs more
    cfg = dict(LLS_MANAGER, load_profile={"entries": 200})
    sim = Simulator(cfg, heapsize="320K", romfs=romfs)
    try:
        objs = cli(sim.wrapper_port, "objects")
        assert len(objs) > 20
        rows = cli(sim.wrapper_port, "profile", "1.0.99.1.0.255")
        assert len(rows) == 200
    finally:
        rc = sim.stop()
    check_clean_stop(sim, rc)
    assert "Simulated meter" in sim.output()


def test_romfs_image_holds_every_module(romfs):
    with open(romfs, "rb") as f:
        data = f.read()
    assert data[:3] == b"\xd2\xcd\x31"  # the ROMFS header
    for rel in build_mpy.sources():
        name = rel.rsplit("/", 1)[-1][:-3] + ".mpy"
        assert name.encode() in data, name


def test_store_that_does_not_mount_is_left_untouched():
    tmp = tempfile.mkdtemp(prefix="boot-")
    store = os.path.join(tmp, "store.img")
    junk = bytes((i * 37 + 11) & 0xFF for i in range(64 * 512))  # data, not littlefs
    with open(store, "wb") as f:
        f.write(junk)
    cfg = os.path.join(tmp, "config.json")
    with open(cfg, "w") as f:
        json.dump({"store": {"path": store}}, f)
    env = dict(os.environ)
    env["MICROPYPATH"] = ".frozen:firmware:boards/unix"
    p = subprocess.run(
        [micropython(), "-m", "app.main", "--config", cfg, "--wrapper-port", "0"]
        + ["--hdlc-port", "0", "--endpoints", os.path.join(tmp, "ep.json")],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert p.returncode == 2, p.stdout + p.stderr
    assert "cannot open the flash store" in p.stdout and "left untouched" in p.stdout
    assert "Traceback" not in p.stdout + p.stderr
    with open(store, "rb") as f:
        assert f.read() == junk


def test_a_silent_tcp_connection_is_closed_and_its_slot_freed():
    import socket
    import time

    cfg = dict(LLS_MANAGER, max_associations=1, network={"inactivity_s": 2})
    sim = Simulator(cfg)
    try:
        # (should the simulator's readiness probe still hold the one slot,
        # the meter waits for it to be freed: see test_faults)
        silent = socket.create_connection(("127.0.0.1", sim.wrapper_port), 5)
        silent.settimeout(10)
        t0 = time.time()
        assert silent.recv(100) == b""  # closed by the meter, not refused at once
        assert 1.5 < time.time() - t0 < 8
        silent.close()
        objs = cli(sim.wrapper_port, "objects")  # the one slot is free again
        assert len(objs) > 20
    finally:
        rc = sim.stop()
    check_clean_stop(sim, rc)
    assert "silent for 2 s: closed" in sim.output()
