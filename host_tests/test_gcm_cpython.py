# runtime: cpython-only -- cross-checks against the cryptography package
"""dlms.security.gcm and keywrap against the cryptography package.

Every vector that test_gcm.py takes from a document is recomputed here with
cryptography's AESGCM / aes_key_wrap, so that a vector copied wrong cannot
pass on both sides; then random and hypothesis-generated cases. Tags are
compared on their first 12 octets (DLMS's length) and in full.
"""

import unittest

import test_gcm as v
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.keywrap import (
    InvalidUnwrap,
    aes_key_unwrap,
    aes_key_wrap,
)
from dlms.security import keywrap
from dlms.security.gcm import AuthenticationError, Gcm
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from support import Rng, h

PROPS = settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def aesgcm(key, iv, aad, pt):
    """(ciphertext, 16-octet tag) from cryptography."""
    r = AESGCM(bytes(key)).encrypt(bytes(iv), bytes(pt), bytes(aad))
    return r[:-16], r[-16:]


class TestVectorsAgainstCryptography(unittest.TestCase):
    def test_mcgrew_viega(self):
        for n, k, iv, p, a, c, t in v.MCGREW_VIEGA:
            self.assertEqual(aesgcm(h(k), h(iv), h(a), h(p)), (h(c), h(t)), "test case %d" % n)

    def test_green_book_initiate_request(self):
        iv = v.SERVER_TITLE + h("01234567")
        ct, tag = aesgcm(v.EK, iv, h("30") + v.AK, v.INITIATE_REQUEST)
        self.assertEqual(ct, v.INITIATE_CIPHERED)
        self.assertEqual(tag[:12], v.INITIATE_TAG)

    def test_green_book_hls_gmac(self):
        for title, f, chal in (
            (v.CLIENT_TITLE, v.F_STOC, v.STOC),
            (v.SERVER_TITLE, v.F_CTOS, v.CTOS),
        ):
            _, tag = aesgcm(v.EK, title + f[1:5], h("10") + v.AK + chal, b"")
            self.assertEqual(tag[:12], f[5:])

    def test_rfc3394(self):
        for sec, kek, key, wrapped in v.RFC3394:
            self.assertEqual(aes_key_wrap(h(kek), h(key)), h(wrapped), sec)

    def test_reference_gcm_of_test_gcm(self):
        # the plain reference the MicroPython half relies on
        r = Rng(21)
        for n in (0, 1, 16, 33, 200):
            key, iv, aad, pt = r.bytes(16 + 16 * (n & 1)), r.bytes(12), r.bytes(n % 23), r.bytes(n)
            self.assertEqual(v.reference_gcm(key, iv, aad, pt), aesgcm(key, iv, aad, pt))


class TestRandomAgainstCryptography(unittest.TestCase):
    def test_random(self):
        r = Rng(2024)
        for i in range(300):
            key = r.bytes(16 if i & 1 else 32)
            iv, aad, pt = r.bytes(12), r.bytes(r.below(64)), r.bytes(r.below(1100))
            ct, tag = aesgcm(key, iv, aad, pt)
            g = Gcm(key)
            self.assertEqual(g.encrypt(iv, aad, pt, 16), (ct, tag))
            self.assertEqual(g.encrypt(iv, aad, pt), (ct, tag[:12]))
            self.assertEqual(g.decrypt(iv, aad, ct, tag[:12]), pt)

    def test_apdu_sizes(self):
        r = Rng(7)
        for n in (256, 1024, 1025, 2048, 4000):
            key, iv, aad, pt = r.bytes(32), r.bytes(12), r.bytes(17), r.bytes(n)
            buf = bytearray(pt)
            tag = Gcm(key).encrypt_into(iv, aad, buf, 0, n)
            ct, full = aesgcm(key, iv, aad, pt)
            self.assertEqual((bytes(buf), tag), (ct, full[:12]))


class TestHypothesis(unittest.TestCase):
    @PROPS
    @given(
        st.sampled_from([16, 32]).flatmap(lambda n: st.binary(min_size=n, max_size=n)),
        st.binary(min_size=12, max_size=12),
        st.binary(max_size=80),
        st.binary(max_size=600),
    )
    def test_encrypt_matches(self, key, iv, aad, pt):
        ct, tag = aesgcm(key, iv, aad, pt)
        g = Gcm(key)
        self.assertEqual(g.encrypt(iv, aad, pt), (ct, tag[:12]))
        self.assertEqual(g.decrypt(iv, aad, ct, tag[:12]), pt)
        if not pt:
            self.assertEqual(g.gmac(iv, aad), tag[:12])

    @PROPS
    @given(
        st.binary(min_size=16, max_size=16),
        st.binary(min_size=12, max_size=12),
        st.binary(min_size=1, max_size=120),
        st.data(),
    )
    def test_any_flip_is_caught(self, key, iv, pt, data):
        ct, tag = aesgcm(key, iv, b"\x30", pt)
        blob = bytearray(ct + tag[:12])
        i = data.draw(st.integers(0, len(blob) - 1))
        blob[i] ^= 1 << data.draw(st.integers(0, 7))
        with self.assertRaises(AuthenticationError):
            Gcm(key).decrypt(iv, b"\x30", bytes(blob[:-12]), bytes(blob[-12:]))

    @PROPS
    @given(
        st.sampled_from([16, 32]).flatmap(lambda n: st.binary(min_size=n, max_size=n)),
        st.integers(2, 6).flatmap(lambda n: st.binary(min_size=8 * n, max_size=8 * n)),
    )
    def test_keywrap_matches(self, kek, key):
        w = aes_key_wrap(kek, key)
        self.assertEqual(keywrap.wrap(kek, key), w)
        self.assertEqual(keywrap.unwrap(kek, w), key)

    @PROPS
    @given(
        st.binary(min_size=16, max_size=16),
        st.binary(min_size=24, max_size=40).filter(lambda b: len(b) % 8 == 0),
    )
    def test_keywrap_refuses_what_cryptography_refuses(self, kek, blob):
        try:
            expect = aes_key_unwrap(kek, blob)
        except InvalidUnwrap:
            expect = None
        if expect is None:
            with self.assertRaises(keywrap.IntegrityError):
                keywrap.unwrap(kek, blob)
        else:
            self.assertEqual(keywrap.unwrap(kek, blob), expect)
