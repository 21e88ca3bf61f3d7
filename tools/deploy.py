"""Deploy to a board over its serial port with mpremote, copying only what changed:

    make deploy BOARD=esp32 PORT=/dev/ttyUSB0 [PROVISION=keys.json] [CODE=frozen|files|romfs]
    python -m tools.deploy --board esp32 --port /dev/ttyUSB0 [--provision FILE] [--dry-run]

What goes to the board (paths under the board's ``FS_ROOT``, boards/<name>/board.py):

- ``main.py`` (boards/<name>/main.py: app.boot at every reset);
- the meter's configuration (``CONFIG_PATH``) and the boot settings
  (``SETTINGS_PATH``): boards/<name>/settings.json (``config`` and ``boot``,
  no secrets) with the provisioning file merged over it. That file, kept on
  the host and never in the repository, has the same two sections with this
  meter's keys, passwords, identity and Wi-Fi (boards/provision.example.json).
  The result is checked here as the board will check it (app.config,
  app.boot); without provisioning the board boots "not provisioned";
- the code, by ``CODE`` (the board's default in board.py): ``frozen`` sends
  none (the firmware was built from boards/<name>/manifest.py), ``files``
  sends build/mpy/<board>/ to ``lib/`` with board.py, ``romfs`` writes
  build/mpy/<board>.romfs to the board's ROMFS partition
  (``mpremote romfs deploy``) with board.py.

Only what changed is copied. The board keeps a manifest, ``.deploy.json`` in
``FS_ROOT``: the SHA-256 of every file this tool put there. A deploy reads it
(``mpremote fs cat``), compares it with the hashes of the files it would
send (``plan()``), copies the new and changed ones, removes the ones it sent
before that are gone now (never anything else: the flash store stays), and
writes the new manifest last, so an interrupted deploy copies again next
time. ``--verify`` ignores the manifest and lets mpremote compare each file's
SHA-256 on the board (``cp`` without ``-f``: slower, but it also catches
files changed on the board by hand).

A board whose meter runs has its watchdog going: mpremote interrupts the
application (``resume``: no soft reset) and the copy feeds the watchdog that
app.boot keeps (``app.boot.wdt``) between files. The board is reset at the
end to boot the new files.
"""

import argparse
import hashlib
import importlib.util
import json
import os
import shutil
import subprocess
import sys
import tempfile

ROOT = os.path.normpath(os.path.join(os.path.dirname(__file__), ".."))
BOARDS = os.path.join(ROOT, "boards")
MANIFEST = ".deploy.json"
CODES = ("frozen", "files", "romfs")
_FEED_EVERY = 4  # files copied between two watchdog feeds

# Run on the board between copies: feed the watchdog app.boot started, if any.
FEED = (
    "import sys\n"
    "b = sys.modules.get('app.boot')\n"
    "w = getattr(b, 'wdt', None) if b else None\n"
    "if w:\n"
    " w.feed()\n"
)


class DeployError(Exception):
    pass


def load_board(name):
    """boards/<name>/board.py as a module (it imports nothing at the top)."""
    path = os.path.join(BOARDS, name, "board.py")
    if not os.path.exists(path):
        have = sorted(
            d for d in os.listdir(BOARDS) if os.path.exists(os.path.join(BOARDS, d, "board.py"))
        )
        raise DeployError("no board %r (boards: %s)" % (name, ", ".join(have)))
    spec = importlib.util.spec_from_file_location("board_" + name, path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def merge(base, over):
    """``over`` merged into ``base`` (objects recursively, the rest replaced);
    keys starting with "_" (comments) are dropped."""
    out = {k: v for k, v in base.items() if not k.startswith("_")}
    for k, v in over.items():
        if k.startswith("_"):
            continue
        if isinstance(v, dict) and isinstance(out.get(k), dict):
            out[k] = merge(out[k], v)
        else:
            out[k] = v
    return out


def read_json(path, what):
    try:
        with open(path) as f:
            data = json.load(f)
    except OSError as e:
        raise DeployError("cannot read the %s %s: %s" % (what, path, e.strerror))
    except ValueError as e:
        raise DeployError("the %s %s is not valid JSON: %s" % (what, path, e))
    if not isinstance(data, dict):
        raise DeployError("the %s %s must hold a JSON object" % (what, path))
    for k in data:
        if not k.startswith("_") and k not in ("config", "boot"):
            raise DeployError("%s: unknown section %r (config, boot)" % (path, k))
    return data


def board_settings(name, provision=None):
    """(config, boot settings) for the board: settings.json with the
    provisioning file over it, both checked as the board will check them.
    Returns also the reason the board would boot not provisioned (or None)."""
    from app import boot, config  # firmware/, on the path through tools/__init__.py

    base = read_json(os.path.join(BOARDS, name, "settings.json"), "board settings")
    prov = read_json(provision, "provisioning file") if provision else {}
    cfg = merge(base.get("config", {}), prov.get("config", {}))
    settings = merge(base.get("boot", {}), prov.get("boot", {}))
    try:
        config.load(json.dumps(cfg))
    except config.ConfigError as e:
        raise DeployError("the configuration is refused: %s" % e)
    try:
        boot.load_settings(json.dumps(settings))
    except config.ConfigError as e:
        raise DeployError("the boot settings are refused: %s" % e)
    problem = boot.provisioning_problem(config.load(json.dumps(cfg)))
    return cfg, settings, problem


def remote(board, *parts):
    root = board.FS_ROOT.rstrip("/")
    return "/".join((root,) + parts) if root else "/" + "/".join(parts)


def local_files(name, board, code, cfg, settings):
    """{remote path: bytes} of everything this deploy puts on the board."""
    files = {}
    with open(os.path.join(BOARDS, name, "main.py"), "rb") as f:
        files[remote(board, "main.py")] = f.read()
    if code != "frozen":
        with open(os.path.join(BOARDS, name, "board.py"), "rb") as f:
            files[remote(board, "board.py")] = f.read()
    files[board.CONFIG_PATH] = (json.dumps(cfg, indent=1, sort_keys=True) + "\n").encode()
    files[board.SETTINGS_PATH] = (json.dumps(settings, indent=1, sort_keys=True) + "\n").encode()
    if code == "files":
        tree = os.path.join(ROOT, "build", "mpy", name)
        for d, dirs, names in os.walk(tree):
            dirs.sort()
            for n in sorted(names):
                if n.endswith(".mpy"):
                    rel = os.path.relpath(os.path.join(d, n), tree).replace(os.sep, "/")
                    with open(os.path.join(d, n), "rb") as f:
                        files[remote(board, "lib", *rel.split("/"))] = f.read()
    return files


def digest(data):
    return hashlib.sha256(data).hexdigest()


class Plan:
    """What a deploy does: ``copy`` (new or changed), ``remove`` (sent
    before, gone now), ``same``; ``manifest``: the board's new manifest."""

    def __init__(self, copy, remove, same, manifest):
        self.copy = copy
        self.remove = remove
        self.same = same
        self.manifest = manifest

    def empty(self):
        return not self.copy and not self.remove


def plan(hashes, board_manifest, romfs=None):
    """``hashes``: {remote path: sha256 hex} to be on the board; ``board_manifest``:
    the manifest read from it ({} for a first deploy). ``romfs``: the
    image's hash (a ROMFS deploy), compared with the manifest's."""
    had = board_manifest.get("files", {}) if isinstance(board_manifest, dict) else {}
    copy = sorted(p for p, h in hashes.items() if had.get(p) != h)
    same = sorted(p for p, h in hashes.items() if had.get(p) == h)
    remove = sorted(p for p in had if p not in hashes)
    manifest = {"format": 1, "files": dict(sorted(hashes.items()))}
    if romfs is not None:
        manifest["romfs"] = romfs
        if board_manifest.get("romfs") != romfs:
            copy.append(":romfs")
    return Plan(copy, remove, same, manifest)


def parse_manifest(text):
    try:
        m = json.loads(text)
    except ValueError:
        return {}
    return m if isinstance(m, dict) and isinstance(m.get("files", {}), dict) else {}


def read_board_manifest(mpremote, port, path):
    """The manifest on the board ({} when there is none); DeployError when the
    board does not answer."""
    p = subprocess.run(
        [mpremote, "connect", port, "resume", "fs", "cat", ":" + path],
        capture_output=True,
        text=True,
        timeout=60,
    )
    out = p.stdout + p.stderr
    if p.returncode == 0:
        return parse_manifest(p.stdout)
    if "No such file" in out or "ENOENT" in out:
        return {}
    raise DeployError("mpremote could not read %s on %s:\n%s" % (path, port, out.strip()))


def commands(mpremote, port, pl, files, tmp, board, verify=False, image=None, reset=True):
    """The mpremote command line that carries out ``pl`` (one connection,
    commands chained with "+"). Generated files go through ``tmp``."""
    cmd = [mpremote, "connect", port, "resume", "exec", FEED]
    dirs = set()
    for path in pl.copy:
        if path != ":romfs":
            d = path.rsplit("/", 1)[0]
            while d and d != board.FS_ROOT.rstrip("/"):
                dirs.add(d)
                d = d.rsplit("/", 1)[0]
    if dirs:
        mk = "import os\nfor d in %r:\n try:\n  os.mkdir(d)\n except OSError:\n  pass\n"
        cmd += ["+", "exec", mk % sorted(dirs, key=lambda d: (d.count("/"), d))]
    n = 0
    for path in pl.copy:
        if path == ":romfs":
            cmd += ["+", "romfs", "deploy", image]
            continue
        src = os.path.join(tmp, "%03d_%s" % (n, path.rsplit("/", 1)[-1]))
        with open(src, "wb") as f:
            f.write(files[path])
        cmd += ["+", "fs", "cp"] + ([] if verify else ["-f"]) + [src, ":" + path]
        n += 1
        if n % _FEED_EVERY == 0:
            cmd += ["+", "exec", FEED]
    for path in pl.remove:
        cmd += ["+", "fs", "rm", ":" + path]
    man = os.path.join(tmp, "manifest.json")
    with open(man, "w") as f:
        json.dump(pl.manifest, f, indent=1)
    cmd += ["+", "fs", "cp", "-f", man, ":" + remote(board, MANIFEST)]
    if reset:
        cmd += ["+", "reset"]
    return cmd


def mpremote_exe():
    exe = os.path.join(os.path.dirname(sys.executable), "mpremote")
    return exe if os.path.exists(exe) else "mpremote"


def deploy(a, out=print):
    board = load_board(a.board)
    if not hasattr(board, "optical"):
        raise DeployError(
            "BOARD=%s is not a board to deploy to (it has no ports): BOARD=esp32, esp32s3 or stm32"
            % a.board
        )
    code = a.code or getattr(board, "CODE", "frozen")
    if code not in CODES:
        raise DeployError("CODE must be one of %s" % ", ".join(CODES))
    cfg, settings, problem = board_settings(a.board, a.provision)
    if problem and a.provision:
        raise DeployError("%s: the board would boot not provisioned (%s)" % (a.provision, problem))
    if problem:
        out(
            "deploy: no PROVISION file: the board will boot NOT PROVISIONED (%s); "
            "give PROVISION=<file>.json (boards/provision.example.json)" % problem
        )
    image = None
    if code in ("files", "romfs"):
        from tools import build_mpy

        tree = os.path.join(ROOT, "build", "mpy", a.board)
        build_mpy.build(board.ARCH, tree)
        if code == "romfs":
            image = tree + ".romfs"
            build_mpy.pack_romfs(tree, image)
    files = local_files(a.board, board, code, cfg, settings)
    hashes = {p: digest(d) for p, d in files.items()}
    romfs = None
    if image:
        with open(image, "rb") as f:
            romfs = digest(f.read())
    mpremote = a.mpremote or mpremote_exe()
    if a.verify or a.dry_run:
        had = {}
    else:
        had = read_board_manifest(mpremote, a.port, remote(board, MANIFEST))
    pl = plan(hashes, had, romfs)
    out(
        "deploy %s (%s code) to %s: %d to copy, %d to remove, %d unchanged"
        % (a.board, code, a.port, len(pl.copy), len(pl.remove), len(pl.same))
    )
    for p in pl.copy:
        out("  copy   %s" % ("ROMFS image " + image if p == ":romfs" else p))
    for p in pl.remove:
        out("  remove %s" % p)
    if pl.empty() and not a.verify:
        out("deploy: the board is up to date")
        return 0
    tmp = tempfile.mkdtemp(prefix="deploy-")  # mode 0700: the configuration holds keys
    try:
        cmd = commands(mpremote, a.port, pl, files, tmp, board, a.verify, image, not a.no_reset)
        if a.dry_run:
            out("dry run: " + " ".join(c if "\n" not in c else "'<code>'" for c in cmd))
            return 0
        rc = subprocess.run(cmd).returncode
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    if rc:
        raise DeployError("mpremote failed (exit %d); the board's manifest was not updated" % rc)
    out("deploy: done%s" % ("" if a.no_reset else "; the board was reset"))
    return 0


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--board", default="esp32")
    p.add_argument("--port", default="", help="the board's serial port (/dev/ttyUSB0)")
    p.add_argument("--provision", default="", help="the host-side file with keys and passwords")
    p.add_argument("--code", choices=CODES, help="how the code goes (default: board.py CODE)")
    p.add_argument("--verify", action="store_true", help="compare on the board, not the manifest")
    p.add_argument("--dry-run", action="store_true", help="print the plan and the mpremote command")
    p.add_argument("--no-reset", action="store_true")
    p.add_argument("--mpremote", help="the mpremote command (default: the venv's)")
    a = p.parse_args(argv)
    if not a.port:
        print(
            "make deploy: no PORT given: name the board's serial port, e.g.\n"
            "  make deploy BOARD=%s PORT=/dev/ttyUSB0 PROVISION=keys.json\n"
            "(`.venv/bin/mpremote connect list` shows the ports). Nothing was copied."
            % (a.board if a.board != "unix" else "esp32")
        )
        return 2
    try:
        return deploy(a)
    except DeployError as e:
        print("deploy: %s" % e)
        return 1


if __name__ == "__main__":
    sys.exit(main())
