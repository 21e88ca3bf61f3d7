"""Import the codec modules and round-trip a 1 KiB HDLC frame; print the heap used.

Meant for ``micropython -X heapsize=32K`` with the .mpy build on the path.
Prints one JSON line.
"""

import gc
import json

gc.collect()
base = gc.mem_alloc()
from dlms import axdr, crc, hdlc, obis, wrapper  # noqa: E402

gc.collect()
imported = gc.mem_alloc() - base

info = bytes(range(256)) * 4
dest = hdlc.encode_address(1, 16)
src = hdlc.encode_address(16)
out = bytearray(hdlc.frame_size(len(info)))
n = hdlc.encode_frame(out, 0, dest, src, hdlc.control(hdlc.I_FRAME), info)
framer = hdlc.Framer(hdlc.frame_size(len(info)))
framer.receive_data(memoryview(out)[:n])
f = framer.next_frame()
ok = f is not None and bytes(f.info) == info
apdu = wrapper.encode(16, 1, axdr.to_bytes((axdr.OCTET_STRING, obis.parse("1-0:1.8.0"))))
ok = ok and crc.fcs16(b"123456789") == 0x906E and len(apdu) == 16
gc.collect()
print(
    json.dumps(
        {
            "heap_total": gc.mem_alloc() + gc.mem_free(),
            "imported_bytes": imported,
            "after_roundtrip_bytes": gc.mem_alloc() - base,
            "roundtrip_ok": ok,
        }
    )
)
