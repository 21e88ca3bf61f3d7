"""Boot from a ROMFS image, as a board with a ROM partition does:
``micropython -m romboot MODULE [ARGS...]`` under tools/romfs_launcher.py.

Mounts the image named by ``MPY_ROMFS=ADDRESS:LENGTH`` at /rom with
vfs.VfsRom over the mapped pages (no copy: the .mpy files run in place),
puts /rom first on sys.path and runs MODULE's ``main()`` with the remaining
arguments in sys.argv."""

import os
import sys

import uctypes
import vfs


def mount(where="/rom"):
    spec = os.getenv("MPY_ROMFS")
    if not spec:
        raise SystemExit("romboot: MPY_ROMFS is not set (start through tools/romfs_launcher.py)")
    address, length = spec.split(":")
    vfs.mount(vfs.VfsRom(uctypes.bytearray_at(int(address), int(length))), where)
    sys.path.insert(0, where)


def run():
    if len(sys.argv) < 2:
        raise SystemExit("usage: micropython -m romboot MODULE [ARGS...]")
    mount()
    name = sys.argv[1]
    sys.argv[:] = sys.argv[1:]
    mod = __import__(name)
    for part in name.split(".")[1:]:
        mod = getattr(mod, part)
    mod.main()


run()
