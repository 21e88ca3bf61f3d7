"""Host-side tools (CPython). The firmware's modules are importable from here."""

import os
import sys

_FIRMWARE = os.path.normpath(os.path.join(os.path.dirname(__file__), "..", "firmware"))
if _FIRMWARE not in sys.path:
    sys.path.insert(0, _FIRMWARE)
