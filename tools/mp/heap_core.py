"""Import only the modules every meter session runs through; print the heap they take.

The wrapper transport, ACSE, xDLMS, the association and the server, and the
interface classes the session reads (Data, Register, Clock, Profile
generic), with nothing of the application around them: no asyncio loop, no
HDLC, no security, no flash, no model. Loaded from the .mpy build (the
caller sets the path), this is the floor under any complete meter on the
runtime it runs on. Prints one JSON line.
"""

import gc
import json

CORE = (
    "compat",
    "log",
    "dlms.errors",
    "dlms.obis",
    "dlms.axdr",
    "dlms.stream",
    "dlms.xdlms",
    "dlms.acse",
    "dlms.lls_guard",
    "dlms.association_control",
    "dlms.services",
    "dlms.server",
    "dlms.wrapper",
    "dlms.wrapper_link",
    "cosem.base",
    "cosem.association",
    "cosem.data",
    "cosem.register",
    "cosem.clock",
    "cosem.profile",
)

gc.collect()
base = gc.mem_alloc()
per = {}
for name in CORE:
    gc.collect()
    a = gc.mem_alloc()
    __import__(name)
    gc.collect()
    per[name] = gc.mem_alloc() - a
gc.collect()
print(json.dumps({"imported_bytes": gc.mem_alloc() - base, "modules": per}))
