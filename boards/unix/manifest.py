# A unix MicroPython with the meter frozen in, from a MicroPython checkout:
#
#   make -C ports/unix FROZEN_MANIFEST=$PWD/boards/unix/manifest.py
#
# Then `micropython -m app.main` needs no MICROPYPATH. The port's default
# manifest first (asyncio, ssl, mip).
include("$(PORT_DIR)/variants/manifest.py")  # noqa: F821 (the manifest API)
include("../common/manifest.py")  # noqa: F821
module("board.py")  # noqa: F821
