"""Codec throughput, the same script on CPython and on the unix MicroPython port.

Prints one JSON line: operations per second and MB/s for A-XDR decode and
encode, HDLC frame encode and decode (FCS included), and FCS-16 alone.
Run by tools/bench.py; the module path (firmware/ or build/mpy/unix) is set
by the caller.
"""

import json

from compat import ticks_diff, ticks_us
from dlms import axdr, hdlc
from dlms.crc import fcs16

_BUDGET_US = 400000  # time per figure


def rate(fn, nbytes):
    n = 0
    t0 = ticks_us()
    while True:
        fn()
        n += 1
        dt = ticks_diff(ticks_us(), t0)
        if dt > _BUDGET_US and n >= 3:
            break
    ops = n * 1000000 / dt
    return {"ops_per_s": round(ops, 1), "MB_per_s": round(ops * nbytes / 1e6, 3)}


def profile_rows(n):
    # n load-profile rows: {date-time, status, import Wh, export Wh}
    rows = []
    for i in range(n):
        rows.append(
            (
                axdr.STRUCTURE,
                [
                    (axdr.OCTET_STRING, b"\x07\xea\x0b\x1a\x04\x0c\x00\x00\x00\xff\xc4\x00"),
                    (axdr.UNSIGNED, 0),
                    (axdr.DOUBLE_LONG_UNSIGNED, 60000000 + i * 250),
                    (axdr.DOUBLE_LONG_UNSIGNED, 10000000 + i * 70),
                ],
            )
        )
    return (axdr.ARRAY, rows)


def main():
    out = {}
    data = profile_rows(36)  # about 1 KiB encoded
    enc = axdr.to_bytes(data)
    w = axdr.Writer(len(enc) + 16)

    def encode():
        w.pos = 0
        axdr.encode(w, data)

    out["axdr_decode_1k"] = rate(lambda: axdr.decode(enc), len(enc))
    out["axdr_encode_1k"] = rate(encode, len(enc))
    out["axdr_bytes"] = len(enc)

    info = bytes(range(256)) * 4
    dest = hdlc.encode_address(1, 16)
    src = hdlc.encode_address(16)
    frame = bytearray(hdlc.frame_size(len(info)))
    n = hdlc.encode_frame(frame, 0, dest, src, hdlc.control(hdlc.I_FRAME), info)
    wire = bytes(frame[:n])
    framer = hdlc.Framer(hdlc.frame_size(len(info)))

    def frame_encode():
        hdlc.encode_frame(frame, 0, dest, src, 0x10, info)

    def frame_decode():
        framer.receive_data(wire)
        f = framer.next_frame()
        if f is None or len(f.info) != len(info):
            raise RuntimeError("frame lost")

    out["hdlc_encode_1k"] = rate(frame_encode, len(wire))
    out["hdlc_decode_1k"] = rate(frame_decode, len(wire))
    out["fcs16_1k"] = rate(lambda: fcs16(info), len(info))
    print(json.dumps(out))


main()
