# A NUCLEO-F429ZI firmware with the meter frozen in (its 112 KiB flash
# filesystem cannot hold the .mpy files), from a MicroPython checkout:
#
#   make -C ports/stm32 BOARD=NUCLEO_F429ZI FROZEN_MANIFEST=$PWD/boards/stm32/manifest.py
#
# The port's manifest first (asyncio), then ntptime for app.boot (the board's
# own manifest has it in bundle-networking, which this one replaces).
include("$(PORT_DIR)/boards/manifest.py")  # noqa: F821 (the manifest API)
require("ntptime")  # noqa: F821
include("../common/manifest.py")  # noqa: F821
module("board.py")  # noqa: F821
