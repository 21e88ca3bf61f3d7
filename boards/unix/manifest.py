# A unix MicroPython with the meter frozen in, from a MicroPython checkout
# (boards/unix/README.md has the 32-bit build that stands in for a board):
#
#   make -C ports/unix FROZEN_MANIFEST=$PWD/boards/unix/manifest.py
#
# Then `micropython -m app.main` needs no MICROPYPATH. Only asyncio from the
# port's own manifest: the meter needs neither mip nor ssl.
include("$(MPY_DIR)/extmod/asyncio")  # noqa: F821 (the manifest API)
include("../common/manifest.py")  # noqa: F821
module("board.py")  # noqa: F821
