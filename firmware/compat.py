"""What differs between MicroPython and CPython, in one place.

Every other module imports these names from here and never asks which runtime
it runs on (DESIGN.md, "Runtime rules").

- ``const`` and the code emitters: firmware modules write the MicroPython
  idioms (``from micropython import const``, ``@micropython.viper``) and under
  CPython ``firmware/micropython.py`` stands in for the built-in module, which
  MicroPython never shadows. Viper functions are written to be valid, correct
  Python too: every result is masked to its width.
- ``ticks_ms`` / ``ticks_diff`` / ``ticks_add``: a wrapping millisecond clock;
  ``sleep_ms``.
- ``aes``: ``cryptolib.aes`` (ECB=1, CBC=2), or a shim with the same interface
  built on the ``cryptography`` package.
- ``mem_free`` / ``mem_alloc``: heap figures (0 where the runtime has none).
- ``littlefs``: ``vfs.VfsLfs2``, or littlefs-python on CPython (hal.blockdev).
- ``bounded``: an await with a time limit that leaves Ctrl-C alone.
"""

import gc
import sys

from micropython import const  # noqa: F401  (re-exported)

IS_MICROPYTHON = sys.implementation.name == "micropython"

if IS_MICROPYTHON:
    import time

    import cryptolib

    ticks_ms = time.ticks_ms
    ticks_us = time.ticks_us
    ticks_diff = time.ticks_diff
    ticks_add = time.ticks_add
    sleep_ms = time.sleep_ms
    aes = cryptolib.aes
    mem_free = gc.mem_free
    mem_alloc = gc.mem_alloc

    def littlefs(dev, guarded, _cpython_fs, readsize, progsize, lookahead):
        """littlefs v2 on a block device (hal.blockdev.mount): vfs.VfsLfs2."""
        import vfs

        blank = dev.blank()
        g = guarded(dev)
        if blank:
            vfs.VfsLfs2.mkfs(g, readsize=readsize, progsize=progsize, lookahead=lookahead)
        return vfs.VfsLfs2(g, readsize=readsize, progsize=progsize, lookahead=lookahead)

    def from_bytes_signed(b):
        n = int.from_bytes(b, "big")
        bits = len(b) * 8
        if n >> (bits - 1):
            n -= 1 << bits
        return n

else:
    import time

    _TICKS_PERIOD = 1 << 30
    _TICKS_HALF = _TICKS_PERIOD >> 1

    def ticks_ms():
        return int(time.monotonic() * 1000) & (_TICKS_PERIOD - 1)

    def ticks_us():
        return int(time.monotonic() * 1000000) & (_TICKS_PERIOD - 1)

    def ticks_diff(a, b):
        return ((a - b + _TICKS_HALF) & (_TICKS_PERIOD - 1)) - _TICKS_HALF

    def ticks_add(a, delta):
        return (a + delta) & (_TICKS_PERIOD - 1)

    def sleep_ms(ms):
        time.sleep(ms / 1000)

    def mem_free():
        return 0

    def mem_alloc():
        return 0

    def from_bytes_signed(b):
        return int.from_bytes(b, "big", signed=True)

    def littlefs(dev, _guarded, cpython_fs, *geometry):
        """littlefs v2 on a block device: the littlefs-python package (hal.blockdev)."""
        return cpython_fs(dev)

    class aes:
        """cryptolib.aes on CPython: ECB (mode 1) and CBC (mode 2)."""

        def __init__(self, key, mode, iv=None):
            from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

            if mode == 1:
                m = modes.ECB()
            elif mode == 2:
                m = modes.CBC(bytes(iv if iv is not None else bytes(16)))
            else:
                raise ValueError("mode")
            c = Cipher(algorithms.AES(bytes(key)), m)
            self._enc = c.encryptor()
            self._dec = c.decryptor()

        def encrypt(self, data, out=None):
            r = self._enc.update(bytes(data))
            if out is None:
                return r
            out[: len(r)] = r

        def decrypt(self, data, out=None):
            r = self._dec.update(bytes(data))
            if out is None:
                return r
            out[: len(r)] = r


async def bounded(coro, limit_ms, exc, msg, poll_s=0.01):
    """``coro``'s result, or ``exc(msg % limit_ms)`` once ``limit_ms`` has
    passed. Polled rather than with asyncio.wait_for: MicroPython's helper
    task swallows a Ctrl-C landing in it (see app.main.serve)."""
    import asyncio

    box = []
    t = asyncio.create_task(_guarded(coro, box))
    start = ticks_ms()
    while not box:
        if ticks_diff(ticks_ms(), start) > limit_ms:
            t.cancel()
            raise exc(msg % limit_ms)
        await asyncio.sleep(poll_s)
    r = box[0]
    if isinstance(r, Exception):
        raise r
    return r


async def _guarded(coro, box):
    # the outcome of ``coro`` in ``box``: an ended task never holds an
    # exception (asyncio would print it); Ctrl-C still goes through
    try:
        box.append(await coro)
    except Exception as e:
        box.append(e)
