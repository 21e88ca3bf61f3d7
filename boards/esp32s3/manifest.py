# An ESP32-S3 firmware with the meter frozen in (ESP32_GENERIC_S3, variant
# SPIRAM_OCT for the N8R8 / N16R8 modules), from a MicroPython checkout:
#
#   make -C ports/esp32 BOARD=ESP32_GENERIC_S3 BOARD_VARIANT=SPIRAM_OCT \
#       FROZEN_MANIFEST=$PWD/boards/esp32s3/manifest.py
#
# The port's manifest first: _boot.py, asyncio, bundle-networking (ntptime),
# neopixel (the status LED). main.py stays on the filesystem (make deploy).
include("$(PORT_DIR)/boards/manifest.py")  # noqa: F821 (the manifest API)
include("../common/manifest.py")  # noqa: F821
module("board.py")  # noqa: F821
