"""AES-GCM and GMAC (NIST SP 800-38D) on the boards' only AES: cryptolib's ECB.

DLMS security suite 0 is AES-GCM-128 and suite 1 AES-GCM-256 (Green Book,
security suites). The IV is always 12 octets (system title || invocation
counter), so only 96-bit IVs are taken: J0 = IV || 0^31 || 1 (SP 800-38D 7.1).

Where the time goes, and what is done about it:

- CTR (6.5): J0 and every counter block of an APDU up to 1 KiB are written
  into one shared scratch buffer and encrypted by a single ECB call.
- GHASH (6.4) is the bottleneck: Shoup's 8-bit table, the 256 multiples of H
  (4 KB per key) and one shared 256-entry reduction table, in viper on 32-bit
  words (integers above 30 bits are heap objects on 32-bit boards, viper words
  are not). One viper call hashes A, C and the length block and, when
  encrypting, XORs the key stream into the data on the same pass.
- The public methods are @micropython.native: their frames (11-argument viper
  calls) would otherwise be heap-allocated on every call. With a tag buffer
  (``out``) encrypt_into allocates nothing; decrypt_into never does.

A 128-bit field element is four big-endian 32-bit words. The most significant
bit of octet 0 is the coefficient of x^0 (6.3), so multiplying by x is a right
shift of the 128-bit word and x^128 folds back as 0xE1 || 0^120.

The viper functions also run as plain Python on CPython (firmware/micropython.py
makes the casts identities): every word stays below 2**32 because left shifts
only move masked bits, and no literal exceeds 30 bits (mpy-cross turns larger
ones into objects, which viper arithmetic refuses). Shifted words are uint:
viper gives a binary operation the type of its left operand, and >> of an int
is arithmetic on 32-bit boards.
"""

from array import array

import micropython
from compat import aes
from micropython import const

_SLOTS = const(65)  # counter blocks per ECB call: J0 and a 1 KiB APDU

# Shared counter-block scratch, its memoryview and the views of its first
# n blocks (made once per n: slicing allocates, and cryptolib wants the input
# length exact). Created by the first Gcm; safe to share because no operation
# yields before it is finished.
_ks = None
_ks_mv = None
_ks_views = None


class AuthenticationError(Exception):
    """The tag does not match: wrong key, IV, AAD, ciphertext or tag."""


def _reduction_table():
    # R[b]: the top 16 bits that the octet b, shifted out of the low end by a
    # multiplication by x^8, folds back to (x^128 = 1 + x + x^2 + x^7).
    r = array("H", range(256))  # sized from len(range): no temporary
    for b in range(256):
        t = 0
        for i in range(8):
            t >>= 1
            if (b >> i) & 1:
                t ^= 0xE100
        r[b] = t
    return r


_R = _reduction_table()


@micropython.viper
def _table(m: ptr32, h: ptr8, r: ptr16):
    # m[4b .. 4b+3] = b * H, where the octet b holds the coefficients of
    # x^0 (MSB) .. x^7 (LSB): 0x80 is H itself, 0x40 is H * x, and so on.
    v0 = uint((h[0] << 24) | (h[1] << 16) | (h[2] << 8) | h[3])
    v1 = uint((h[4] << 24) | (h[5] << 16) | (h[6] << 8) | h[7])
    v2 = uint((h[8] << 24) | (h[9] << 16) | (h[10] << 8) | h[11])
    v3 = uint((h[12] << 24) | (h[13] << 16) | (h[14] << 8) | h[15])
    poly = uint(r[0x80]) << 16  # 0xE1000000, not a literal (30-bit limit)
    m[0] = 0
    m[1] = 0
    m[2] = 0
    m[3] = 0
    i = 0x80
    while i:
        k = i << 2
        m[k] = v0
        m[k + 1] = v1
        m[k + 2] = v2
        m[k + 3] = v3
        carry = v3 & 1
        v3 = (v3 >> 1) | ((v2 & 1) << 31)
        v2 = (v2 >> 1) | ((v1 & 1) << 31)
        v1 = (v1 >> 1) | ((v0 & 1) << 31)
        v0 = v0 >> 1
        if carry:
            v0 ^= poly
        i = i >> 1
    i = 2
    while i < 256:  # linearity: (i + j) * H = i * H + j * H for j < i
        j = 1
        while j < i:
            k = (i + j) << 2
            a = i << 2
            b = j << 2
            m[k] = m[a] ^ m[b]
            m[k + 1] = m[a + 1] ^ m[b + 1]
            m[k + 2] = m[a + 2] ^ m[b + 2]
            m[k + 3] = m[a + 3] ^ m[b + 3]
            j += 1
        i = i << 1


@micropython.viper
def _ghash_tag(
    m: ptr32,
    r: ptr16,
    aad: ptr8,
    alen: int,
    c: ptr8,
    start: int,
    end: int,
    ks: ptr8,
    out: ptr8,
    tlen: int,
    enc: int,
):
    # out[0:tlen] = GHASH(H, A || 0* || C || 0* || [len(A)]64 || [len(C)]64) ^ E(J0)
    # (SP 800-38D 7.1 steps 5-6) with A = aad[0:alen], C = c[start:end] and
    # E(J0) in ks[0:16]. With enc, c[start:end] is plaintext, encrypted on the
    # way with the key stream in ks[16:] (one pass over the data, not two).
    # Each block: z = (z ^ X) * H, by Horner over its 16 octets, last first
    # (Shoup): acc = acc * x^8 ^ M[octet], the octet shifted out of acc
    # reduced through r. Octets at or past `lim` are the zero padding.
    z0 = uint(0)
    z1 = uint(0)
    z2 = uint(0)
    z3 = uint(0)
    p = aad
    pos = 0
    lim = alen
    phase = 0
    e = 0
    koff = 16 - start
    while True:
        if pos >= lim:
            if phase == 0:  # A done: on to C
                phase = 1
                e = enc
                p = c
                pos = start
                lim = end
                continue
            if phase == 1:  # C done: the length block, no octets to read
                phase = 2
                z1 ^= uint(alen) << 3  # lengths below 2**29 octets
                z3 ^= uint(end - start) << 3
            else:
                break
        a0 = uint(0)
        a1 = uint(0)
        a2 = uint(0)
        a3 = uint(0)
        q = pos + 15
        i = 0
        while i < 4:
            if i == 0:
                w = z3
            elif i == 1:
                w = z2
            elif i == 2:
                w = z1
            else:
                w = z0
            n = 0
            while n < 4:
                b = w & 0xFF
                if q < lim:
                    x = p[q]
                    if e:
                        x ^= ks[q + koff]
                        p[q] = x
                    b ^= x
                w = w >> 8
                rem = a3 & 0xFF
                a3 = (a3 >> 8) | ((a2 & 0xFF) << 24)
                a2 = (a2 >> 8) | ((a1 & 0xFF) << 24)
                a1 = (a1 >> 8) | ((a0 & 0xFF) << 24)
                a0 = (a0 >> 8) ^ (uint(r[rem]) << 16)
                k = b << 2
                a0 ^= m[k]
                a1 ^= m[k + 1]
                a2 ^= m[k + 2]
                a3 ^= m[k + 3]
                q -= 1
                n += 1
            i += 1
        z0 = a0
        z1 = a1
        z2 = a2
        z3 = a3
        pos += 16
    i = 0
    while i < tlen:
        if i < 4:
            w = z0
        elif i < 8:
            w = z1
        elif i < 12:
            w = z2
        else:
            w = z3
        out[i] = ks[i] ^ ((w >> ((3 - (i & 3)) << 3)) & 0xFF)
        i += 1


@micropython.viper
def _counters(ks: ptr8, iv: ptr8, ctr: int, n: int):
    # n counter blocks IV || ctr, IV || ctr + 1, ... from the start of ks.
    # inc32 (6.2) wraps at 2**32; from a 96-bit IV that takes 64 GiB of
    # data, so ctr stays far below 30 bits here.
    p = 0
    end = n << 4
    while p < end:
        j = 0
        while j < 12:
            ks[p + j] = iv[j]
            j += 1
        ks[p + 12] = (ctr >> 24) & 0xFF
        ks[p + 13] = (ctr >> 16) & 0xFF
        ks[p + 14] = (ctr >> 8) & 0xFF
        ks[p + 15] = ctr & 0xFF
        ctr += 1
        p += 16


@micropython.viper
def _xor(buf: ptr8, start: int, end: int, ks: ptr8, k: int):
    while start < end:
        buf[start] ^= ks[k]
        start += 1
        k += 1


@micropython.viper
def _differ(a: ptr8, b: ptr8, n: int) -> int:
    # constant time in the contents: no early exit
    d = 0
    i = 0
    while i < n:
        d |= a[i] ^ b[i]
        i += 1
    return d


def _stream(a, iv, ctr, n):
    # E(K, IV || ctr), ..., n blocks into the scratch by one ECB call
    _counters(_ks, iv, ctr, n)
    mv = _ks_views[n]
    if mv is None:
        mv = _ks_views[n] = _ks_mv[: n << 4]
    a.encrypt(mv, mv)


class Gcm:
    """AES-GCM under one key (16 octets: suite 0, 32 octets: suite 1).

    Keeps the AES key schedule, the GHASH table of the key (4 KB) and a
    16-octet tag buffer; all instances share one 1 KiB counter-block scratch.
    Not re-entrant: an operation must finish before the next starts (true of
    asyncio tasks, as nothing here awaits; not of interrupt handlers).
    """

    def __init__(self, key):
        global _ks, _ks_mv, _ks_views
        if len(key) != 16 and len(key) != 32:
            raise ValueError("AES key must be 16 or 32 octets")
        self._aes = aes(bytes(key), 1)
        h = bytearray(16)
        self._aes.encrypt(h, h)  # H = E(K, 0^128)
        self._m = array("I", range(1024))  # all overwritten; no 4 KB temporary
        _table(self._m, h, _R)
        self._out = bytearray(16)  # the full tag before truncation
        self._out12 = memoryview(self._out)[:12]  # DLMS's tag length
        if _ks is None:
            _ks = bytearray(_SLOTS << 4)
            _ks_mv = memoryview(_ks)
            _ks_views = [None] * (_SLOTS + 1)

    def _ctr_long(self, iv, buf, start, end):
        # CTR over more blocks than the scratch holds, 64 blocks per ECB call;
        # leaves E(J0) in slot 0 as the short path does
        ctr = 2
        while start < end:
            n = end - start
            if n > (_SLOTS - 1) << 4:
                n = (_SLOTS - 1) << 4
            b = (n + 15) >> 4
            _stream(self._aes, iv, ctr, b)
            _xor(buf, start, start + n, _ks, 0)
            start += n
            ctr += b
        _stream(self._aes, iv, 1, 1)

    @micropython.native
    def encrypt_into(self, iv, aad, buf, start, end, tag_len=12, out=None):
        """Encrypt the bytearray buf[start:end] in place and return the tag.

        The tag is a new bytes object, or, given ``out`` (a bytearray or
        memoryview of at least tag_len octets), written into ``out``, which
        is returned: then nothing at all is allocated.
        """
        _check(iv, tag_len)
        t = self._out if out is None else out
        b = (end - start + 15) >> 4
        if b < _SLOTS:  # J0 and every counter block in one ECB call
            _stream(self._aes, iv, 1, b + 1)
            _ghash_tag(self._m, _R, aad, len(aad), buf, start, end, _ks, t, tag_len, 1)
        else:
            self._ctr_long(iv, buf, start, end)
            _ghash_tag(self._m, _R, aad, len(aad), buf, start, end, _ks, t, tag_len, 0)
        if out is not None:
            return out
        if tag_len == 12:
            return bytes(self._out12)
        return bytes(self._out[:tag_len])

    @micropython.native
    def decrypt_into(self, iv, aad, buf, start, end, tag):
        """Decrypt the bytearray buf[start:end] in place once the tag is verified.

        GHASH runs over the ciphertext, so the tag is checked before anything
        is decrypted: on AuthenticationError buf is left as it was (still the
        ciphertext). The tag may be 4..16 octets (DLMS: 12), compared in
        constant time. Allocates nothing.
        """
        n = len(tag)
        _check(iv, n)
        b = (end - start + 15) >> 4
        short = b < _SLOTS
        _stream(self._aes, iv, 1, b + 1 if short else 1)
        _ghash_tag(self._m, _R, aad, len(aad), buf, start, end, _ks, self._out, n, 0)
        if _differ(self._out, tag, n):
            raise AuthenticationError("GCM tag mismatch")
        if short:
            _xor(buf, start, end, _ks, 16)
        else:
            self._ctr_long(iv, buf, start, end)

    @micropython.native
    def encrypt(self, iv, aad, data, tag_len=12):
        """(ciphertext, tag) of data; tag_len 4..16 octets (DLMS: 12)."""
        buf = bytearray(data)
        tag = self.encrypt_into(iv, aad, buf, 0, len(buf), tag_len)
        return bytes(buf), tag

    @micropython.native
    def decrypt(self, iv, aad, ciphertext, tag):
        """The plaintext; AuthenticationError if the tag does not match."""
        buf = bytearray(ciphertext)
        self.decrypt_into(iv, aad, buf, 0, len(buf), tag)
        return bytes(buf)

    @micropython.native
    def gmac(self, iv, aad, tag_len=12, out=None):
        """GMAC: the GCM tag of aad alone (SP 800-38D 3; Green Book HLS-GMAC).

        A new bytes object, or written into ``out`` and ``out`` returned.
        """
        _check(iv, tag_len)
        _stream(self._aes, iv, 1, 1)
        t = self._out if out is None else out
        _ghash_tag(self._m, _R, aad, len(aad), _ks, 0, 0, _ks, t, tag_len, 0)
        if out is not None:
            return out
        if tag_len == 12:
            return bytes(self._out12)
        return bytes(self._out[:tag_len])


def _check(iv, tag_len):
    if len(iv) != 12:
        raise ValueError("GCM IV must be 12 octets")
    if tag_len < 4 or tag_len > 16:
        raise ValueError("GCM tag length must be 4..16 octets")
