"""pytest: firmware/ and host_tests/ on sys.path, as MICROPYPATH does for the unix port."""

import os
import sys

import pytest

_here = os.path.dirname(os.path.abspath(__file__))
for p in (os.path.join(_here, "..", "firmware"), _here):
    p = os.path.normpath(p)
    if p not in sys.path:
        sys.path.insert(0, p)


@pytest.fixture(scope="session")
def romfs():
    """The firmware's ROMFS image for the unix port (build/mpy/unix.romfs),
    built once for every test that runs the code in place from it."""
    from tools import build_mpy

    root = os.path.normpath(os.path.join(_here, ".."))
    tree = os.path.join(root, "build", "mpy", "unix")
    build_mpy.build("x64", tree)
    image = tree + ".romfs"
    build_mpy.pack_romfs(tree, image)
    return image
