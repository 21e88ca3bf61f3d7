"""AES key wrap (RFC 3394) for key transfer under the master key (KEK).

Security setup (class_id 64) method global_key_transfer carries each new
key wrapped under the master key, 128 bits for suite 0 and 256 bits for
suite 1. Built on ECB only (cryptolib.aes mode 1). Not a hot path: six
passes over the n 64-bit blocks of the key, 6n AES calls.

A cryptolib.aes object only ever encrypts or only ever decrypts, so wrap and
unwrap make their own.
"""

from compat import aes

from dlms.security.gcm import AuthenticationError

_IV = b"\xa6\xa6\xa6\xa6\xa6\xa6\xa6\xa6"  # RFC 3394 2.2.3.1 default IV


class IntegrityError(AuthenticationError):
    """The unwrapped key fails the integrity check: wrong KEK or damaged data."""


def _kek(kek):
    if len(kek) != 16 and len(kek) != 32:
        raise ValueError("KEK must be 16 or 32 octets")
    return aes(bytes(kek), 1)


def _xor_t(b, t):
    # A ^ t: t is the 64-bit big-endian step counter, below 2**32 here
    b[4] ^= (t >> 24) & 0xFF
    b[5] ^= (t >> 16) & 0xFF
    b[6] ^= (t >> 8) & 0xFF
    b[7] ^= t & 0xFF


def wrap(kek, key):
    """The key wrapped under kek: 8 octets longer (RFC 3394 2.2.1)."""
    n = len(key) >> 3
    if len(key) & 7 or n < 2:
        raise ValueError("key to wrap must be a multiple of 8 octets, at least 16")
    e = _kek(kek)
    r = bytearray(_IV) + bytes(key)  # A || R[1] .. R[n]
    b = bytearray(16)
    mv = memoryview(r)
    t = 0
    for _ in range(6):
        for i in range(8, 8 * n + 1, 8):
            t += 1
            b[0:8] = mv[0:8]
            b[8:16] = mv[i : i + 8]
            e.encrypt(b, b)  # B = AES(K, A || R[i])
            _xor_t(b, t)  # A = MSB64(B) ^ t
            mv[0:8] = b[0:8]
            mv[i : i + 8] = b[8:16]  # R[i] = LSB64(B)
    return bytes(r)


def unwrap(kek, wrapped):
    """The key inside wrapped (RFC 3394 2.2.2); IntegrityError if the check fails."""
    n = (len(wrapped) >> 3) - 1
    if len(wrapped) & 7 or n < 2:
        raise ValueError("wrapped key must be a multiple of 8 octets, at least 24")
    d = _kek(kek)
    r = bytearray(wrapped)
    b = bytearray(16)
    mv = memoryview(r)
    t = 6 * n
    for _ in range(6):
        for i in range(8 * n, 0, -8):
            b[0:8] = mv[0:8]
            _xor_t(b, t)
            b[8:16] = mv[i : i + 8]
            d.decrypt(b, b)  # B = AES-1(K, (A ^ t) || R[i])
            mv[0:8] = b[0:8]
            mv[i : i + 8] = b[8:16]
            t -= 1
    bad = 0
    for i in range(8):  # every octet, whatever the first difference
        bad |= r[i] ^ 0xA6
    if bad:
        raise IntegrityError("key unwrap integrity check failed")
    return bytes(r[8:])
