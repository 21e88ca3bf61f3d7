"""pytest: firmware/ and host_tests/ on sys.path, as MICROPYPATH does for the unix port."""

import os
import sys

_here = os.path.dirname(os.path.abspath(__file__))
for p in (os.path.join(_here, "..", "firmware"), _here):
    p = os.path.normpath(p)
    if p not in sys.path:
        sys.path.insert(0, p)
