# runtime: cpython-only -- tools/deploy.py is a host tool (hashlib, subprocess, a fake mpremote)
"""make deploy (tools/deploy.py): what changed, and what goes to the board.

``plan()`` is checked on its own; the whole tool runs against a fake
``mpremote`` that keeps a board's filesystem in a directory and logs every
command, so a first deploy, a repeat (nothing copied), one changed file,
a file gone, and a board whose manifest lies (``--verify``) are all seen
from the board's side. Provisioning: the merged configuration is checked as
the board checks it, and placeholders or example keys are refused."""

import json
import os
import stat
import subprocess
import sys
import tempfile

import pytest

from tools import deploy

ROOT = deploy.ROOT

FAKE_MPREMOTE = r"""
import ast, json, os, shutil, sys
root = os.environ["FAKE_BOARD"]
log = open(os.path.join(root, "..", "mpremote.log"), "a")
def local(p):
    return os.path.join(root, p.lstrip(":").lstrip("/"))
args = sys.argv[1:]
cmds, cur = [], []
for a in args:
    if a == "+":
        cmds.append(cur); cur = []
    else:
        cur.append(a)
cmds.append(cur)
for c in cmds:
    if c[0] == "connect":
        log.write("connect %s\n" % c[1]); c = c[2:]
    if c and c[0] == "resume":
        log.write("resume\n"); c = c[1:]
    if not c:
        continue
    if c[0] == "exec":
        code = c[1]
        if "os.mkdir" in code:
            for d in ast.literal_eval(code.split("for d in ", 1)[1].split(":\n", 1)[0]):
                os.makedirs(local(d), exist_ok=True)
            log.write("mkdir\n")
        elif "feed" in code:
            log.write("feed\n")
        elif "machine.reset" in code:
            log.write("reset\n")
    elif c[:2] == ["fs", "cat"]:
        try:
            sys.stdout.write(open(local(c[2])).read())
        except FileNotFoundError:
            sys.stderr.write("mpremote: cat: No such file or directory.\n"); sys.exit(1)
    elif c[:2] == ["fs", "cp"]:
        src, dst = c[-2], c[-1]
        os.makedirs(os.path.dirname(local(dst)), exist_ok=True)
        shutil.copyfile(src, local(dst))
        log.write("cp %s %s\n" % ("-f" if "-f" in c else "verify", dst.lstrip(":")))
    elif c[:2] == ["fs", "rm"]:
        os.remove(local(c[2])); log.write("rm %s\n" % c[2])
    elif c == ["reset"]:
        log.write("reset\n")
    elif c[0] == "romfs":
        log.write("romfs %s\n" % c[2])
    else:
        sys.stderr.write("fake mpremote: unknown %r\n" % c); sys.exit(3)
"""

KEYS = {
    "security": {
        "system_title": "4D505900000000AA",
        "block_cipher_key": "A1" * 16,
        "authentication_key": "B2" * 16,
        "master_key": "C3" * 16,
    },
    "clients": [
        {"sap": 16, "level": "public", "authentication": "none"},
        {"sap": 17, "level": "reader", "authentication": "lls", "password": "Rd-8842"},
    ],
}
PROVISION = {
    "_comment": "host-side, never committed",
    "config": dict(
        KEYS, identity={"serial": "12345678", "logical_device_name": "MPY0000012345678"}
    ),
    "boot": {"wifi": {"ssid": "meters", "password": "wifi-pw"}},
}


@pytest.fixture
def rig(tmp_path):
    board = tmp_path / "board"
    board.mkdir()
    exe = tmp_path / "mpremote"
    exe.write_text("#!%s\n%s" % (sys.executable, FAKE_MPREMOTE))
    exe.chmod(exe.stat().st_mode | stat.S_IEXEC)
    prov = tmp_path / "keys.json"
    prov.write_text(json.dumps(PROVISION))
    os.environ["FAKE_BOARD"] = str(board)
    yield tmp_path, str(exe), str(prov)
    os.environ.pop("FAKE_BOARD", None)


def deploy_cmd(exe, *args):
    p = subprocess.run(
        [sys.executable, "-m", "tools.deploy", "--port", "/dev/ttyFAKE", "--mpremote", exe, *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        env=dict(os.environ),
    )
    return p.returncode, p.stdout + p.stderr


def board_log(tmp):
    path = tmp / "mpremote.log"
    text = path.read_text() if path.exists() else ""
    path.write_text("")
    return text.splitlines()


# -- plan -----------------------------------------------------------------------------


def test_plan_first_deploy_copies_everything():
    p = deploy.plan({"/main.py": "aa", "/config.json": "bb"}, {})
    assert p.copy == ["/config.json", "/main.py"] and p.remove == [] and p.same == []
    assert p.manifest == {"format": 1, "files": {"/config.json": "bb", "/main.py": "aa"}}


def test_plan_copies_only_what_changed_and_removes_what_it_sent_before():
    had = {"format": 1, "files": {"/main.py": "aa", "/config.json": "bb", "/lib/old.mpy": "cc"}}
    p = deploy.plan({"/main.py": "aa", "/config.json": "b2", "/lib/new.mpy": "dd"}, had)
    assert p.copy == ["/config.json", "/lib/new.mpy"]
    assert p.same == ["/main.py"]
    assert p.remove == ["/lib/old.mpy"]  # only files the manifest lists: never the store
    assert not deploy.plan({"/main.py": "aa"}, {"files": {"/main.py": "aa"}}).copy


def test_plan_romfs_image_by_hash():
    p = deploy.plan({"/main.py": "aa"}, {"files": {"/main.py": "aa"}, "romfs": "r1"}, romfs="r2")
    assert p.copy == [":romfs"] and p.manifest["romfs"] == "r2"
    assert deploy.plan({}, {"romfs": "r2"}, romfs="r2").empty()


def test_unreadable_manifest_counts_as_none():
    assert deploy.parse_manifest("not json") == {}
    assert deploy.parse_manifest('{"files": []}') == {}
    assert deploy.parse_manifest('{"format": 1, "files": {"/a": "b"}}')["files"] == {"/a": "b"}


# -- what goes to the board -----------------------------------------------------------


def test_provisioning_is_merged_and_checked(tmp_path):
    prov = tmp_path / "p.json"
    prov.write_text(json.dumps(PROVISION))
    cfg, settings, problem = deploy.board_settings("esp32", str(prov))
    assert problem is None
    assert cfg["security"]["block_cipher_key"] == "A1" * 16
    assert cfg["store"]["path"] == "/store/store.img"  # from boards/esp32/settings.json
    assert settings["wifi"] == {"ssid": "meters", "password": "wifi-pw"}
    assert settings["ntp"]["host"] == "pool.ntp.org"
    assert "_comment" not in json.dumps([cfg, settings])
    # without provisioning: allowed, but the board will say it is not provisioned
    _, _, problem = deploy.board_settings("esp32", None)
    assert "example" in problem


def test_placeholders_and_example_keys_are_refused(tmp_path):
    example = os.path.join(ROOT, "boards", "provision.example.json")
    with pytest.raises(deploy.DeployError, match="configuration is refused: security"):
        deploy.board_settings("esp32", example)
    prov = tmp_path / "p.json"
    prov.write_text(json.dumps({"config": {"clients": KEYS["clients"]}}))
    a = deploy.main(["--board", "esp32", "--port", "x", "--provision", str(prov), "--dry-run"])
    assert a == 1  # example keys left: refused before anything is copied
    prov.write_text(json.dumps({"wifi": {}}))
    with pytest.raises(deploy.DeployError, match="unknown section 'wifi'"):
        deploy.board_settings("esp32", str(prov))


def test_every_board_settings_file_is_a_valid_configuration():
    for name in ("esp32", "esp32s3", "stm32", "unix"):
        board = deploy.load_board(name)
        cfg, settings, problem = deploy.board_settings(name, None)
        assert problem  # the repository holds no keys
        assert cfg.get("store", {}).get("path", board.STORE_PATH) in (
            board.STORE_PATH,
            "build/board/store.img",
        )
        assert settings.get("watchdog_ms", 30000) <= 32768  # STM32's IWDG limit


def test_frozen_sends_no_code_files_sends_the_mpy_tree():
    board = deploy.load_board("esp32")
    cfg, settings, _ = deploy.board_settings("esp32", None)
    frozen = deploy.local_files("esp32", board, "frozen", cfg, settings)
    assert sorted(frozen) == ["/config.json", "/main.py", "/settings.json"]
    from tools import build_mpy

    build_mpy.build(board.ARCH, os.path.join(ROOT, "build", "mpy", "esp32"))
    files = deploy.local_files("esp32", board, "files", cfg, settings)
    assert "/board.py" in files and "/lib/dlms/hdlc.mpy" in files and "/lib/app/boot.mpy" in files
    assert not [p for p in files if p.endswith("micropython.mpy")]
    stm = deploy.load_board("stm32")
    cfg, settings, _ = deploy.board_settings("stm32", None)
    assert "/flash/config.json" in deploy.local_files("stm32", stm, "frozen", cfg, settings)


# -- against a (fake) board -----------------------------------------------------------


def test_deploy_copies_only_what_changed(rig):
    tmp, exe, prov = rig
    board_fs = tmp / "board"
    rc, out = deploy_cmd(exe, "--board", "esp32s3", "--provision", prov)
    assert rc == 0, out
    first = board_log(tmp)
    copies = [ln for ln in first if ln.startswith("cp ")]
    assert "cp -f /config.json" in copies and "cp -f /lib/dlms/axdr.mpy" in copies
    assert copies[-1] == "cp -f /.deploy.json"  # the manifest last
    assert first[:2] == ["connect /dev/ttyFAKE", "resume"]  # no soft reset: app.boot's WDT is fed
    assert "feed" in first and first[-1] == "reset"
    cfg = json.loads((board_fs / "config.json").read_text())
    assert cfg["security"]["authentication_key"] == "B2" * 16
    assert json.loads((board_fs / "settings.json").read_text())["wifi"]["ssid"] == "meters"

    rc, out = deploy_cmd(exe, "--board", "esp32s3", "--provision", prov)
    assert rc == 0 and "up to date" in out, out
    assert [ln for ln in board_log(tmp) if not ln.startswith(("connect", "resume"))] == []

    prov2 = tmp / "keys2.json"
    p = dict(PROVISION, boot={"wifi": {"ssid": "meters", "password": "new-pw"}})
    prov2.write_text(json.dumps(p))
    (board_fs / "store").mkdir()
    (board_fs / "store" / "store.img").write_bytes(b"\xff" * 512)  # the meter's data
    (board_fs / "lib" / "dlms" / "stale.mpy").write_bytes(b"old")
    man = json.loads((board_fs / ".deploy.json").read_text())
    man["files"]["/lib/dlms/stale.mpy"] = "00"
    (board_fs / ".deploy.json").write_text(json.dumps(man))
    rc, out = deploy_cmd(exe, "--board", "esp32s3", "--provision", str(prov2))
    assert rc == 0, out
    third = board_log(tmp)
    assert [ln for ln in third if ln.startswith(("cp", "rm"))] == [
        "cp -f /settings.json",
        "rm :/lib/dlms/stale.mpy",
        "cp -f /.deploy.json",
    ]
    assert (board_fs / "store" / "store.img").exists()


def test_verify_lets_mpremote_compare_every_file(rig):
    tmp, exe, prov = rig
    rc, out = deploy_cmd(exe, "--board", "stm32", "--provision", prov)
    assert rc == 0, out
    board_log(tmp)
    rc, out = deploy_cmd(exe, "--board", "stm32", "--provision", prov, "--verify", "--no-reset")
    assert rc == 0, out
    log = board_log(tmp)
    assert "cp verify /flash/main.py" in log and "reset" not in log
    assert not (tmp / "board" / "lib").exists()  # stm32: frozen code, nothing in lib


def test_dry_run_shows_the_plan_and_copies_nothing(rig):
    tmp, exe, prov = rig
    rc, out = deploy_cmd(exe, "--board", "esp32", "--provision", prov, "--dry-run")
    assert rc == 0, out
    assert "copy   /config.json" in out and "dry run:" in out
    assert "A1A1A1" not in out  # keys never on the console
    assert board_log(tmp) == []


def test_without_port_says_so_and_fails(capsys):
    assert deploy.main(["--board", "esp32"]) == 2
    assert "no PORT given" in capsys.readouterr().out


def test_board_that_does_not_answer(tmp_path):
    exe = tmp_path / "mpremote"
    exe.write_text("#!/bin/sh\necho 'mpremote: failed to access /dev/ttyFAKE' >&2\nexit 1\n")
    exe.chmod(0o755)
    prov = tmp_path / "p.json"
    prov.write_text(json.dumps(PROVISION))
    rc, out = deploy_cmd(str(exe), "--board", "esp32", "--provision", str(prov))
    assert rc == 1 and "failed to access" in out


def test_generated_files_are_removed(rig, monkeypatch):
    tmp, exe, prov = rig
    made = []
    real = tempfile.mkdtemp

    def mkdtemp(**kw):
        made.append(real(**kw))
        return made[-1]

    monkeypatch.setattr(tempfile, "mkdtemp", mkdtemp)
    assert (
        deploy.main(["--board", "esp32", "--port", "p", "--mpremote", exe, "--provision", prov])
        == 0
    )
    assert made and not os.path.exists(made[0])  # the configuration with the keys is gone
