# runtime: cpython-only -- reads the boards' manifest.py files with a stand-in manifest API, and boots boards/unix/main.py as a subprocess
# ruff: noqa: E501  (the line above is the runtime marker host_tests/mp_run.py reads)
"""boards/<name>/: the freeze lists, the pin maps, and the unix board booted
the way a real one boots (boards/unix/main.py -> app.boot -> app.main).

The manifests are run with the functions MicroPython's tools/manifestfile.py
gives them (include, module, package, require), each relative to its own
file as there: every firmware module must be frozen once, the CPython stand-in
never, the port's own manifest first."""

import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time

import pytest
from simulator import ROOT, free_ports, micropython

from tools import build_mpy, deploy

BOARDS = ("esp32", "esp32s3", "stm32", "unix")
REAL = ("esp32", "esp32s3", "stm32")


class Manifest:
    """The manifest API, recording what would be frozen."""

    def __init__(self):
        self.frozen = []  # module paths as imported ("dlms/axdr.py")
        self.includes = []
        self.requires = []

    def run(self, path):
        path = os.path.abspath(path)
        cwd = os.getcwd()
        os.chdir(os.path.dirname(path))
        try:
            with open(path) as f:
                exec(
                    f.read(),
                    {
                        "include": self.include,
                        "module": self.module,
                        "package": self.package,
                        "require": self.requires.append,
                    },
                )
        finally:
            os.chdir(cwd)

    def include(self, path):
        if path.startswith("$("):
            self.includes.append(path)
        else:
            self.run(path)

    def module(self, name, base_path="."):
        assert os.path.isfile(os.path.join(base_path, name)), name
        self.frozen.append(name)

    def package(self, name, base_path="."):
        top = os.path.join(base_path, name)
        assert os.path.isdir(top), name
        for d, _, files in os.walk(top):
            for f in files:
                if f.endswith(".py"):
                    self.frozen.append(os.path.relpath(os.path.join(d, f), base_path))


@pytest.mark.parametrize("name", BOARDS)
def test_manifest_freezes_the_whole_firmware(name):
    m = Manifest()
    m.run(os.path.join(ROOT, "boards", name, "manifest.py"))
    want = sorted(build_mpy.sources()) + ["board.py"]
    assert sorted(m.frozen) == sorted(want)
    assert len(m.frozen) == len(set(m.frozen))
    assert "micropython.py" not in m.frozen
    # the port's own manifest first; the unix one takes only asyncio from it
    # (its variants' manifest wants micropython-lib for mip and ssl)
    first = "$(MPY_DIR)/extmod/asyncio" if name == "unix" else "$(PORT_DIR)/"
    assert m.includes and m.includes[0].startswith(first)
    if name == "stm32":
        assert m.requires == ["ntptime"]  # app.boot's NTP


def test_every_float_constant_can_be_frozen():
    # mpy-tool.py, which freezes the manifests, writes each float constant for
    # every object representation, as a float32 too, and stops the firmware
    # build at one that overflows it (seen with axdr's FLT_MAX + half an ulp)
    import ast
    import struct

    over = []
    for rel in build_mpy.sources():
        path = os.path.join(ROOT, "firmware", rel)
        with open(path) as f:
            tree = ast.parse(f.read(), path)
        for node in ast.walk(tree):
            if isinstance(node, ast.Constant) and type(node.value) is float:
                try:
                    struct.pack("<f", node.value)
                except OverflowError:
                    over.append("%s:%d %r" % (rel, node.lineno, node.value))
    assert not over, over


@pytest.mark.parametrize("name", BOARDS)
def test_board_module(name):
    b = deploy.load_board(name)  # imports nothing at the top: no machine module here
    for attr in ("NAME", "ARCH", "FS_ROOT", "CONFIG_PATH", "SETTINGS_PATH", "STORE_PATH", "CODE"):
        assert getattr(b, attr) is not None or attr == "NETWORK", attr
    assert b.NAME == name
    assert b.CODE in deploy.CODES
    for fn in (
        "relay",
        "led",
        "safe_mode_pin",
        "watchdog",
        "network",
        "ntp",
        "clock",
        "serial_args",
    ):
        assert callable(getattr(b, fn)), fn
    if name in REAL:
        for fn in ("optical", "rs485", "p1"):
            assert callable(getattr(b, fn)), fn
        assert b.CONFIG_PATH.startswith(b.FS_ROOT) and b.STORE_PATH.startswith(b.FS_ROOT)
        cfg, _, _ = deploy.board_settings(name, None)
        assert cfg["store"]["path"] == b.STORE_PATH
        assert b.serial_args(
            {"serial": {"optical": {"enabled": True}, "rs485": {"enabled": False}}}
        ) == [
            "--pty",
            "optical=board",
        ]


def pins(b):
    """Every GPIO the board uses, by what it is for."""
    used = {}
    for attr in dir(b):
        if attr.endswith(("_TX", "_RX", "_DE", "_PIN", "_REQUEST")) and not attr.startswith("_"):
            used[attr] = getattr(b, attr)
    return used


@pytest.mark.parametrize(
    "name, forbidden",
    [
        ("esp32", set(range(6, 12)) | {16, 17, 1, 3}),  # flash, WROVER PSRAM, UART0 (REPL)
        ("esp32s3", set(range(26, 38)) | {19, 20, 43, 44}),  # flash + octal PSRAM, USB, UART0
        (
            "stm32",
            {
                "PD8",
                "PD9",
                "PA9",
                "PA10",
                "PA11",
                "PA12",
                "PA1",
                "PA2",
                "PA7",
                "PB13",
                "PC1",
                "PC4",
                "PC5",
                "PG11",
                "PG13",
            },
        ),
    ],
)
def test_pins_are_distinct_and_free(name, forbidden):
    used = pins(deploy.load_board(name))
    assert len(set(used.values())) == len(used), used  # no pin for two things
    assert not set(used.values()) & forbidden, used


# -- the unix board booted like a board ------------------------------------------------


def boot_unix(tmp, config, env=None, args=()):
    env = dict(os.environ, MICROPYPATH=".frozen:firmware:boards/unix", **(env or {}))
    path = os.path.join(tmp, "config.json")
    if config is not None:
        with open(path, "w") as f:
            json.dump(dict(config, store={"path": os.path.join(tmp, "store.img")}), f)
    env["MPY_BOARD_CONFIG"] = path
    env["MPY_BOARD_SETTINGS"] = os.path.join(tmp, "settings.json")
    with open(env["MPY_BOARD_SETTINGS"], "w") as f:
        json.dump({"watchdog_ms": 5000}, f)
    return subprocess.Popen(
        [micropython(), "-X", "heapsize=2M", "boards/unix/main.py", *args],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


PROVISIONED = {
    "security": {
        "block_cipher_key": "A1" * 16,
        "authentication_key": "B2" * 16,
        "master_key": "C3" * 16,
    },
    "clients": [{"sap": 17, "level": "reader", "authentication": "lls", "password": "Rd-1"}],
}


def test_unix_board_boots_the_meter_and_feeds_the_watchdog():
    tmp = tempfile.mkdtemp(prefix="board-")
    wport, hport = free_ports(2)
    wdt = os.path.join(tmp, "watchdog")
    p = boot_unix(
        tmp,
        PROVISIONED,
        {"MPY_WATCHDOG_FILE": wdt},
        ["--wrapper-port", str(wport), "--hdlc-port", str(hport), "--host", "127.0.0.1"],
    )
    try:
        deadline = time.time() + 20
        while True:
            try:
                socket.create_connection(("127.0.0.1", wport), 0.5).close()
                break
            except OSError:
                assert p.poll() is None and time.time() < deadline, p.stdout.read()
                time.sleep(0.1)
        h = subprocess.run(
            [sys.executable, "-m", "tools.hil", "--host", "127.0.0.1", "--wrapper-port", str(wport)]
            + ["--hdlc-port", str(hport), "--password", "Rd-1"],
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert h.returncode == 0, h.stdout
        time.sleep(1.2)  # the tick task feeds once a second
        with open(wdt) as f:
            count, timeout = map(int, f.read().split())
        assert count >= 2 and timeout == 5000
    finally:
        p.send_signal(signal.SIGINT)
        out = p.communicate(timeout=10)[0]
    assert p.returncode == 0, out
    lines = out.splitlines()
    assert lines[0] == "boot: unix"
    assert "I watchdog: 5000 ms, fed by the application" in lines
    assert any(ln.startswith("Simulated meter") for ln in lines)
    assert "Traceback" not in out


def test_unix_board_without_keys_is_not_provisioned_and_serves_nothing():
    tmp = tempfile.mkdtemp(prefix="board-")
    (wport,) = free_ports(1)
    for config in (None, {}):  # no file; the simulator's example keys
        p = boot_unix(tmp, config, args=["--wrapper-port", str(wport)])
        out = p.communicate(timeout=30)[0]
        assert p.returncode == 0, out
        assert "boot: NOT PROVISIONED" in out
        assert "make deploy BOARD=unix" in out
        assert "Simulated meter" not in out
        with pytest.raises(OSError):
            socket.create_connection(("127.0.0.1", wport), 0.5).close()


def test_unix_board_safe_mode():
    tmp = tempfile.mkdtemp(prefix="board-")
    p = boot_unix(tmp, PROVISIONED, {"MPY_SAFE_MODE": "1"})
    out = p.communicate(timeout=30)[0]
    assert p.returncode == 0, out
    assert "boot: SAFE MODE" in out and "Simulated meter" not in out


class _FakePin:
    OUT = "out"
    made = []

    def __init__(self, pin_id, mode, **kw):
        self.values = [kw["value"]] if "value" in kw else []
        _FakePin.made.append((pin_id, mode, dict(kw), self))

    def value(self, v):
        self.values.append(v)


@pytest.mark.parametrize("name", REAL)
def test_relay_keeps_its_state_at_boot_and_the_led_starts_off(name, monkeypatch):
    # hal.machine_board.output with a stand-in machine.Pin: the relay pin is
    # made an output without a level (the supply stays as it was until the
    # disconnect control drives it), the LED starts off
    import types

    monkeypatch.setitem(sys.modules, "machine", types.SimpleNamespace(Pin=_FakePin))
    _FakePin.made = []
    b = deploy.load_board(name)
    relay = b.relay()
    pin_id, mode, kw, pin = _FakePin.made[-1]
    assert (pin_id, mode, kw) == (b.RELAY_PIN, "out", {})
    relay(True)
    relay(False)
    assert pin.values == [1, 0]
    if name != "esp32s3":  # its LED is a NeoPixel
        led = b.led()
        pin_id, mode, kw, pin = _FakePin.made[-1]
        assert (pin_id, mode, kw) == (b.LED_PIN, "out", {"value": 0})
        led(True)
        assert pin.values == [0, 1]
