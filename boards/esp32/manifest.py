# A generic ESP32 firmware with the meter frozen in (ESP32_GENERIC, or its
# SPIRAM variant for WROVER modules), from a MicroPython checkout:
#
#   make -C ports/esp32 BOARD=ESP32_GENERIC FROZEN_MANIFEST=$PWD/boards/esp32/manifest.py
#
# The port's manifest first: _boot.py (mounts the filesystem), asyncio, and
# bundle-networking (ntptime for app.boot). main.py stays on the filesystem
# (make deploy), so it can be replaced without a new firmware.
include("$(PORT_DIR)/boards/manifest.py")  # noqa: F821 (the manifest API)
include("../common/manifest.py")  # noqa: F821
module("board.py")  # noqa: F821
