"""AES-GCM throughput against the raw ECB ceiling, and its heap figures.

The same script on CPython (PYTHONPATH=firmware) and on the unix MicroPython
port (MICROPYPATH=.frozen:build/mpy/unix, the .mpy build). Prints one JSON
line: for 256-octet and 1 KiB APDUs (suite 0, 12-octet IV, AAD = SC || AK as
DLMS uses it), GCM encrypt+tag with ``encrypt_into``, one raw ECB call over
the same number of 16-octet blocks (the ceiling), their ratio, the octets
allocated per encrypt, and the heap taken by importing dlms.security.gcm
(0 on CPython, which has no such figure). Figures only, no assertions.
"""

import gc
import json

from compat import IS_MICROPYTHON, aes, mem_alloc, ticks_diff, ticks_us

gc.collect()
_base = mem_alloc()
from dlms.security import gcm  # noqa: E402

gc.collect()
IMPORT_BYTES = mem_alloc() - _base

_BUDGET_US = 400000  # time per figure
_BATCH = 20  # calls between clock reads


def rate(fn):
    """Calls per second of fn()."""
    n = 0
    t0 = ticks_us()
    while True:
        for _ in range(_BATCH):
            fn()
        n += _BATCH
        dt = ticks_diff(ticks_us(), t0)
        if dt > _BUDGET_US:
            return n * 1000000 / dt


def allocated(fn):
    """Octets the heap grows by during one call of fn() (0 on CPython)."""
    fn()  # warm up: first-use allocations are not per-encrypt costs
    gc.collect()
    gc.disable()
    a = mem_alloc()
    fn()
    b = mem_alloc()
    gc.enable()
    return b - a


class Case:
    """One APDU size under one key. The timed calls are methods, not closures:
    a MicroPython closure carries its cells as arguments, which makes its frame
    big enough to be heap-allocated on every call, and that allocation pattern
    (not GCM) would then dominate the figures."""

    def __init__(self, size, key):
        self.size = size
        self.iv = bytes(range(0x40, 0x4C))
        self.aad = b"\x30" + bytes(range(0xD0, 0xE0))  # SC || AK
        self.buf = bytearray(size)
        self.tag_out = bytearray(12)
        self.g = gcm.Gcm(key)
        self.ecb = aes(key, 1)
        self.blocks = bytearray((size + 15) & ~15)
        self.ct = bytearray(size)
        self.tag = self.g.encrypt_into(self.iv, self.aad, self.ct, 0, size)
        self.work = bytearray(size)

    def enc(self):
        # the hot path: in place, the tag into a caller's buffer
        self.g.encrypt_into(self.iv, self.aad, self.buf, 0, self.size, 12, self.tag_out)

    def enc_bytes(self):
        # the tag returned as a new bytes object
        self.g.encrypt_into(self.iv, self.aad, self.buf, 0, self.size)

    def enc_alloc(self):
        self.g.encrypt(self.iv, self.aad, self.ct)

    def ceiling(self):
        self.ecb.encrypt(self.blocks, self.blocks)

    def dec(self):
        self.work[:] = self.ct
        self.g.decrypt_into(self.iv, self.aad, self.work, 0, self.size, self.tag)


def figures(size, key):
    c = Case(size, key)
    for _ in range(500):  # warm up (caches, the clock) before the first figure
        c.enc()
        c.ceiling()
    r_gcm = rate(c.enc)
    r_ecb = rate(c.ceiling)
    r_bytes = rate(c.enc_bytes)
    return {
        "gcm_us": round(1e6 / r_gcm, 2),
        "ecb_us": round(1e6 / r_ecb, 2),
        "ratio": round(r_gcm / r_ecb, 4),
        "gcm_MB_per_s": round(r_gcm * size / 1e6, 3),
        "ecb_MB_per_s": round(r_ecb * size / 1e6, 3),
        "gcm_bytes_tag_us": round(1e6 / r_bytes, 2),
        "ratio_bytes_tag": round(r_bytes / r_ecb, 4),
        "decrypt_us": round(1e6 / rate(c.dec), 2),  # includes copying the ciphertext in
        "encrypt_us": round(1e6 / rate(c.enc_alloc), 2),  # the allocating API
        "alloc_encrypt_into": allocated(c.enc),
        "alloc_encrypt_into_bytes_tag": allocated(c.enc_bytes),
        "alloc_decrypt_into": allocated(c.dec),
        "alloc_encrypt": allocated(c.enc_alloc),
    }


def key_bytes(key):
    gc.collect()
    a = mem_alloc()
    g = gcm.Gcm(key)
    gc.collect()
    b = mem_alloc()
    del g
    return b - a


def main():
    k128 = bytes(range(16))
    k256 = bytes(range(32))
    out = {
        "runtime": "micropython" if IS_MICROPYTHON else "cpython",
        "import_bytes": IMPORT_BYTES,
        # the first Gcm also makes the shared counter-block scratch
        "first_key_bytes": key_bytes(k128),
        "per_key_bytes": key_bytes(k256),
        "suite0_256": figures(256, k128),
        "suite0_1k": figures(1024, k128),
        "suite1_256": figures(256, k256),
        "suite1_1k": figures(1024, k256),
    }
    print(json.dumps(out))


main()
