"""AES-GCM / GMAC (NIST SP 800-38D) and AES key wrap (RFC 3394), on both runtimes.

Vectors:
- McGrew and Viega, "The Galois/Counter Mode of Operation (GCM)" (revised
  2005, the GCM submission to NIST), test cases 1-4 (AES-128) and 13-16
  (AES-256): the ones with 96-bit IVs.
- Green Book (DLMS UA 1000-2) worked examples with EK 000102..0F,
  AK D0D1..DF: the ciphered xDLMS InitiateRequest (glo-initiate-request,
  system title 4D4D4D0000BC614E, IC 01234567, SC 0x30) and the HLS
  authentication-mechanism 5 (GMAC) exchange (Ed. 8.1 Table 43).
- RFC 3394 section 4.1, 4.3 and 4.6.
Every one of them is cross-checked against the cryptography package in
test_gcm_cpython.py. Random cases are compared with a plain bit-by-bit
GCM written below, so the MicroPython half has an independent reference.
"""

import unittest

from compat import aes
from dlms.security import keywrap
from dlms.security.gcm import AuthenticationError, Gcm
from support import Rng, h

# -- a plain reference: SP 800-38D written out, big integers, one bit at a time


def _mult(x, y):
    # SP 800-38D 6.3 Algorithm 1; bit 127 of the integer is the x^0 coefficient
    r = 0xE1 << 120
    z = 0
    v = y
    for i in range(127, -1, -1):
        if (x >> i) & 1:
            z ^= v
        v = (v >> 1) ^ r if v & 1 else v >> 1
    return z


def _blocks(data):
    for i in range(0, len(data), 16):
        blk = bytes(data[i : i + 16])
        yield int.from_bytes(blk + bytes(16 - len(blk)), "big")


def reference_gcm(key, iv, aad, pt):
    """(ciphertext, 16-octet tag), 96-bit IVs only."""
    e = aes(key, 1)
    hk = int.from_bytes(e.encrypt(bytes(16)), "big")
    ct = bytearray()
    for i in range(0, len(pt), 16):
        ks = e.encrypt(bytes(iv) + (i // 16 + 2).to_bytes(4, "big"))
        for k, c in enumerate(pt[i : i + 16]):
            ct.append(c ^ ks[k])
    s = 0
    for x in _blocks(aad):
        s = _mult(s ^ x, hk)
    for x in _blocks(ct):
        s = _mult(s ^ x, hk)
    s = _mult(s ^ ((len(aad) * 8) << 64 | len(ct) * 8), hk)
    ek0 = int.from_bytes(e.encrypt(bytes(iv) + b"\x00\x00\x00\x01"), "big")
    return bytes(ct), (s ^ ek0).to_bytes(16, "big")


# -- vectors -----------------------------------------------------------------

K3 = "feffe9928665731c6d6a8f9467308308"
IV3 = "cafebabefacedbaddecaf888"
P3 = (
    "d9313225f88406e5a55909c5aff5269a86a7a9531534f7da2e4c303d8a318a72"
    "1c3c0c95956809532fcf0e2449a6b525b16aedf5aa0de657ba637b391aafd255"
)
A4 = "feedfacedeadbeeffeedfacedeadbeefabaddad2"
C3 = (
    "42831ec2217774244b7221b784d0d49ce3aa212f2c02a4e035c17e2329aca12e"
    "21d514b25466931c7d8f6a5aac84aa051ba30b396a0aac973d58e091473f5985"
)
C15 = (
    "522dc1f099567d07f47f37a32a84427d643a8cdcbfe5c0c97598a2bd2555d1aa"
    "8cb08e48590dbb3da7b08b1056828838c5f61e6393ba7a0abcc9f662898015ad"
)

# (test case, key, iv, plaintext, aad, ciphertext, tag), hex
MCGREW_VIEGA = (
    (1, "00" * 16, "00" * 12, "", "", "", "58e2fccefa7e3061367f1d57a4e7455a"),
    (
        2,
        "00" * 16,
        "00" * 12,
        "00" * 16,
        "",
        "0388dace60b6a392f328c2b971b2fe78",
        "ab6e47d42cec13bdf53a67b21257bddf",
    ),
    (3, K3, IV3, P3, "", C3, "4d5c2af327cd64a62cf35abd2ba6fab4"),
    (4, K3, IV3, P3[:120], A4, C3[:120], "5bc94fbc3221a5db94fae95ae7121a47"),
    (13, "00" * 32, "00" * 12, "", "", "", "530f8afbc74536b9a963b4f1c4cb738b"),
    (
        14,
        "00" * 32,
        "00" * 12,
        "00" * 16,
        "",
        "cea7403d4d606b6e074ec5d3baf39d18",
        "d0d1c8a799996bf0265b98b5d48ab919",
    ),
    (15, K3 + K3, IV3, P3, "", C15, "b094dac5d93471bdec1a502270e3cc6c"),
    (16, K3 + K3, IV3, P3[:120], A4, C15[:120], "76fc6ece0f4e1768cddf8853bb2d551b"),
)

EK = h("000102030405060708090A0B0C0D0E0F")
AK = h("D0D1D2D3D4D5D6D7D8D9DADBDCDDDEDF")
SERVER_TITLE = h("4D4D4D0000BC614E")
CLIENT_TITLE = h("4D4D4D0000000001")

# Green Book: glo-initiate-request 21 30 | SC 30 | IC 01234567 | C | T
INITIATE_REQUEST = h(
    "01 01 10 00 11 22 33 44 55 66 77 88 99 AA BB CC DD EE FF 00 00 06 5F 1F 04 00 00 7E 1F 04 B0"
)
INITIATE_CIPHERED = h(
    "80 13 02 FF 8A 78 74 13 3D 41 4C ED 25 B4 25 34 D2 8D B0 04 77 20 60 6B 17 5B D5 22 11 BE 68"
)
INITIATE_TAG = h("41 DB 20 4D 39 EE 6F DB 8E 35 68 55")
GLO_INITIATE_REQUEST = h("21 30 30 01 23 45 67") + INITIATE_CIPHERED + INITIATE_TAG

# Green Book Table 43: HLS authentication-mechanism 5 (GMAC), SC 0x10
CTOS = h("4B35366956616759")  # "K56iVagY"
STOC = h("503677524A323146")  # "P6wRJ21F"
F_STOC = h("10 00000001 1A52FE7DD3E72748973C1E28")  # SC || IC || T, from the client
F_CTOS = h("10 01234567 FE1466AFB3DBCD4F9389E2B7")  # SC || IC || T, from the server

# RFC 3394 section 4: (section, KEK, key data, wrapped)
RFC3394 = (
    (
        "4.1",
        "000102030405060708090A0B0C0D0E0F",
        "00112233445566778899AABBCCDDEEFF",
        "1FA68B0A8112B447 AEF34BD8FB5A7B82 9D3E862371D2CFE5",
    ),
    (
        "4.3",
        "000102030405060708090A0B0C0D0E0F101112131415161718191A1B1C1D1E1F",
        "00112233445566778899AABBCCDDEEFF",
        "64E8C3F9CE0F5BA2 63E9777905818A2A 93C8191E7D6E8AE7",
    ),
    (
        "4.6",
        "000102030405060708090A0B0C0D0E0F101112131415161718191A1B1C1D1E1F",
        "00112233445566778899AABBCCDDEEFF000102030405060708090A0B0C0D0E0F",
        "28C9F404C4B810F4 CBCCB35CFB87F826 3F5786E2D80ED326 CBC7F0E71A99F43B FB988B9B7A02DD21",
    ),
)


def _flip(data, i, bit=1):
    b = bytearray(data)
    b[i] ^= bit
    return bytes(b)


class TestMcGrewViega(unittest.TestCase):
    def test_encrypt(self):
        for n, k, iv, p, a, c, t in MCGREW_VIEGA:
            g = Gcm(h(k))
            ct, tag = g.encrypt(h(iv), h(a), h(p), 16)
            self.assertEqual(ct, h(c), "test case %d ciphertext" % n)
            self.assertEqual(tag, h(t), "test case %d tag" % n)
            self.assertEqual(g.encrypt(h(iv), h(a), h(p))[1], h(t)[:12])

    def test_decrypt(self):
        for n, k, iv, p, a, c, t in MCGREW_VIEGA:
            g = Gcm(h(k))
            self.assertEqual(g.decrypt(h(iv), h(a), h(c), h(t)), h(p), "test case %d" % n)
            self.assertEqual(g.decrypt(h(iv), h(a), h(c), h(t)[:12]), h(p))

    def test_gmac_is_the_tag_of_no_data(self):
        # test cases 1 and 13: no plaintext, no AAD
        self.assertEqual(Gcm(bytes(16)).gmac(bytes(12), b"", 16), h(MCGREW_VIEGA[0][6]))
        self.assertEqual(Gcm(bytes(32)).gmac(bytes(12), b"", 16), h(MCGREW_VIEGA[4][6]))
        # and with AAD only: the tag that encrypt gives an empty plaintext
        g = Gcm(h(K3))
        self.assertEqual(g.gmac(h(IV3), h(A4)), g.encrypt(h(IV3), h(A4), b"")[1])


class TestGreenBook(unittest.TestCase):
    def test_glo_initiate_request(self):
        # suite 0, SC 0x30 (authenticated and encrypted): AAD = SC || AK
        iv = SERVER_TITLE + h("01234567")
        ct, tag = Gcm(EK).encrypt(iv, h("30") + AK, INITIATE_REQUEST)
        self.assertEqual(ct, INITIATE_CIPHERED)
        self.assertEqual(tag, INITIATE_TAG)
        apdu = h("21 30 30 01 23 45 67") + ct + tag
        self.assertEqual(apdu, GLO_INITIATE_REQUEST)

    def test_glo_initiate_request_decrypt_in_place(self):
        apdu = bytearray(GLO_INITIATE_REQUEST)
        iv = SERVER_TITLE + bytes(apdu[3:7])
        tag = memoryview(apdu)[len(apdu) - 12 :]
        Gcm(EK).decrypt_into(iv, b"\x30" + AK, apdu, 7, len(apdu) - 12, tag)
        self.assertEqual(bytes(apdu[7:-12]), INITIATE_REQUEST)

    def test_hls_gmac_stoc(self):
        # pass 3: the client answers StoC with SC || IC || GMAC(SC || AK || StoC)
        iv = CLIENT_TITLE + F_STOC[1:5]
        t = Gcm(EK).gmac(iv, h("10") + AK + STOC)
        self.assertEqual(h("10") + F_STOC[1:5] + t, F_STOC)

    def test_hls_gmac_ctos(self):
        # pass 4: the server answers CtoS with its own title and IC
        iv = SERVER_TITLE + F_CTOS[1:5]
        t = Gcm(EK).gmac(iv, h("10") + AK + CTOS)
        self.assertEqual(h("10") + F_CTOS[1:5] + t, F_CTOS)

    def test_authentication_only_is_gmac_over_the_plain_apdu(self):
        # SC 0x10: AAD = SC || AK || plain APDU, no ciphertext
        iv = SERVER_TITLE + h("01234567")
        g = Gcm(EK)
        aad = h("10") + AK + INITIATE_REQUEST
        self.assertEqual(g.gmac(iv, aad), reference_gcm(EK, iv, aad, b"")[1][:12])


class TestTamper(unittest.TestCase):
    def setUp(self):
        self.g = Gcm(EK)
        self.iv = SERVER_TITLE + h("01234567")
        self.aad = h("30") + AK

    def check_fails(self, g, iv, aad, ct, tag):
        with self.assertRaises(AuthenticationError):
            g.decrypt(iv, aad, ct, tag)
        buf = bytearray(b"<>" + ct + b"<>")
        with self.assertRaises(AuthenticationError):
            g.decrypt_into(iv, aad, buf, 2, 2 + len(ct), tag)
        self.assertEqual(bytes(buf), b"<>" + ct + b"<>")  # left as it was

    def test_tag(self):
        for i in (0, 5, 11):
            self.check_fails(
                self.g, self.iv, self.aad, INITIATE_CIPHERED, _flip(INITIATE_TAG, i, 0x80)
            )

    def test_truncated_tag_shorter(self):
        # a shorter tag is checked on its own octets only: a good prefix passes
        pt = self.g.decrypt(self.iv, self.aad, INITIATE_CIPHERED, INITIATE_TAG[:8])
        self.assertEqual(pt, INITIATE_REQUEST)
        self.check_fails(self.g, self.iv, self.aad, INITIATE_CIPHERED, _flip(INITIATE_TAG[:8], 7))

    def test_ciphertext(self):
        for i in (0, 15, 16, len(INITIATE_CIPHERED) - 1):
            self.check_fails(self.g, self.iv, self.aad, _flip(INITIATE_CIPHERED, i), INITIATE_TAG)

    def test_ciphertext_length(self):
        self.check_fails(self.g, self.iv, self.aad, INITIATE_CIPHERED[:-1], INITIATE_TAG)
        self.check_fails(self.g, self.iv, self.aad, INITIATE_CIPHERED + b"\x00", INITIATE_TAG)

    def test_aad(self):
        self.check_fails(self.g, self.iv, h("31") + AK, INITIATE_CIPHERED, INITIATE_TAG)
        self.check_fails(self.g, self.iv, _flip(self.aad, 16), INITIATE_CIPHERED, INITIATE_TAG)
        self.check_fails(self.g, self.iv, self.aad + b"\x00", INITIATE_CIPHERED, INITIATE_TAG)
        self.check_fails(self.g, self.iv, b"", INITIATE_CIPHERED, INITIATE_TAG)

    def test_iv(self):
        self.check_fails(self.g, _flip(self.iv, 11), self.aad, INITIATE_CIPHERED, INITIATE_TAG)
        self.check_fails(
            self.g, CLIENT_TITLE + h("01234567"), self.aad, INITIATE_CIPHERED, INITIATE_TAG
        )

    def test_wrong_key(self):
        self.check_fails(Gcm(AK), self.iv, self.aad, INITIATE_CIPHERED, INITIATE_TAG)
        self.check_fails(Gcm(EK + EK), self.iv, self.aad, INITIATE_CIPHERED, INITIATE_TAG)

    def test_is_an_exception(self):
        self.assertTrue(issubclass(AuthenticationError, Exception))


class TestInPlace(unittest.TestCase):
    def test_encrypt_into_equals_encrypt(self):
        r = Rng(11)
        for key_len in (16, 32):
            g = Gcm(r.bytes(key_len))
            for n in (0, 1, 15, 16, 17, 31, 100, 255, 256, 1024):
                iv, aad, pt = r.bytes(12), r.bytes(r.below(40)), r.bytes(n)
                ct, tag = g.encrypt(iv, aad, pt)
                buf = bytearray(b"head" + pt + b"tail")
                self.assertEqual(g.encrypt_into(iv, memoryview(aad), buf, 4, 4 + n), tag)
                self.assertEqual(bytes(buf), b"head" + ct + b"tail")
                g.decrypt_into(iv, aad, buf, 4, 4 + n, tag)
                self.assertEqual(bytes(buf), b"head" + pt + b"tail")

    def test_tag_into_out_buffer(self):
        # SC || IC || plaintext || room for the tag: one buffer, nothing allocated
        iv = SERVER_TITLE + h("01234567")
        n = len(INITIATE_REQUEST)
        apdu = bytearray(h("30 01234567") + INITIATE_REQUEST + bytes(12))
        mv = memoryview(apdu)
        g = Gcm(EK)
        room = mv[5 + n :]
        self.assertIs(g.encrypt_into(iv, b"\x30" + AK, apdu, 5, 5 + n, 12, room), room)
        self.assertEqual(bytes(apdu), h("30 01234567") + INITIATE_CIPHERED + INITIATE_TAG)
        t = bytearray(16)
        self.assertIs(g.gmac(CLIENT_TITLE + F_STOC[1:5], h("10") + AK + STOC, 12, t), t)
        self.assertEqual(bytes(t), F_STOC[5:] + bytes(4))

    def test_tag_lengths(self):
        g = Gcm(h(K3))
        full = h(MCGREW_VIEGA[3][6])
        for n in range(4, 17):
            ct, tag = g.encrypt(h(IV3), h(A4), h(P3[:120]), n)
            self.assertEqual(tag, full[:n])
            self.assertEqual(g.decrypt(h(IV3), h(A4), ct, tag), h(P3[:120]))
            self.assertEqual(g.gmac(h(IV3), h(A4), n), g.gmac(h(IV3), h(A4), 16)[:n])

    def test_aad_as_memoryview_slice(self):
        g = Gcm(EK)
        iv = SERVER_TITLE + h("01234567")
        frame = b"xx\x30" + AK + b"yy"
        aad = memoryview(frame)[2:19]
        ct, tag = g.encrypt(iv, aad, INITIATE_REQUEST)
        self.assertEqual(tag, INITIATE_TAG)
        self.assertEqual(g.gmac(iv, aad), g.gmac(iv, bytes(aad)))

    def test_instances_share_nothing_visible(self):
        # two keys interleaved give the same as each alone
        a, b = Gcm(EK), Gcm(AK)
        iv = SERVER_TITLE + h("01234567")
        ra = a.encrypt(iv, b"", bytes(300))
        rb = b.encrypt(iv, b"", bytes(300))
        self.assertEqual(a.encrypt(iv, b"", bytes(300)), ra)
        self.assertEqual(Gcm(AK).encrypt(iv, b"", bytes(300)), rb)


class TestAgainstReference(unittest.TestCase):
    def test_lengths_0_to_100(self):
        r = Rng(3)
        keys = (r.bytes(16), r.bytes(32))
        gcms = (Gcm(keys[0]), Gcm(keys[1]))
        for n in range(101):
            k = n & 1
            iv, aad, pt = r.bytes(12), r.bytes(r.below(35)), r.bytes(n)
            ct, tag = gcms[k].encrypt(iv, aad, pt, 16)
            self.assertEqual((ct, tag), reference_gcm(keys[k], iv, aad, pt), "length %d" % n)
            self.assertEqual(gcms[k].decrypt(iv, aad, ct, tag), pt)

    def test_one_kib(self):
        r = Rng(5)
        for key_len in (16, 32):
            key = r.bytes(key_len)
            iv, aad, pt = r.bytes(12), r.bytes(17), r.bytes(1024)
            self.assertEqual(Gcm(key).encrypt(iv, aad, pt, 16), reference_gcm(key, iv, aad, pt))

    def test_longer_than_one_ecb_call(self):
        # past 64 blocks the key stream is made in several ECB calls
        r = Rng(9)
        key = r.bytes(16)
        g = Gcm(key)
        for n in (1025, 1040, 1041, 2500):
            iv, aad, pt = r.bytes(12), r.bytes(3), r.bytes(n)
            ct, tag = g.encrypt(iv, aad, pt, 16)
            self.assertEqual((ct, tag), reference_gcm(key, iv, aad, pt), "length %d" % n)
            self.assertEqual(g.decrypt(iv, aad, ct, tag), pt)
            with self.assertRaises(AuthenticationError):
                g.decrypt(iv, aad, _flip(ct, n - 1), tag)

    def test_long_aad(self):
        r = Rng(13)
        key = r.bytes(32)
        iv, aad, pt = r.bytes(12), r.bytes(300), r.bytes(33)
        self.assertEqual(Gcm(key).encrypt(iv, aad, pt, 16), reference_gcm(key, iv, aad, pt))


class TestArguments(unittest.TestCase):
    def test_iv_must_be_96_bits(self):
        g = Gcm(EK)
        for n in (0, 8, 11, 13, 16):
            with self.assertRaises(ValueError):
                g.encrypt(bytes(n), b"", b"data")
            with self.assertRaises(ValueError):
                g.gmac(bytes(n), b"aad")
            with self.assertRaises(ValueError):
                g.decrypt(bytes(n), b"", b"data", bytes(12))

    def test_tag_length_bounds(self):
        g = Gcm(EK)
        for n in (0, 3, 17):
            with self.assertRaises(ValueError):
                g.encrypt(bytes(12), b"", b"data", n)
            with self.assertRaises(ValueError):
                g.decrypt(bytes(12), b"", b"data", bytes(n))

    def test_key_length(self):
        for n in (0, 15, 24, 33):
            with self.assertRaises(ValueError):
                Gcm(bytes(n))


class TestKeyWrap(unittest.TestCase):
    def test_rfc3394_vectors(self):
        for sec, kek, key, wrapped in RFC3394:
            self.assertEqual(keywrap.wrap(h(kek), h(key)), h(wrapped), sec)
            self.assertEqual(keywrap.unwrap(h(kek), h(wrapped)), h(key), sec)

    def test_tampered(self):
        sec, kek, key, wrapped = RFC3394[2]
        for i in (0, 7, 8, 39):
            with self.assertRaises(keywrap.IntegrityError):
                keywrap.unwrap(h(kek), _flip(h(wrapped), i))

    def test_wrong_kek(self):
        sec, kek, key, wrapped = RFC3394[0]
        with self.assertRaises(AuthenticationError):  # IntegrityError is one
            keywrap.unwrap(_flip(h(kek), 0), h(wrapped))

    def test_round_trip(self):
        r = Rng(17)
        for kek_len in (16, 32):
            for key_len in (16, 24, 32, 40):
                kek, key = r.bytes(kek_len), r.bytes(key_len)
                w = keywrap.wrap(kek, key)
                self.assertEqual(len(w), key_len + 8)
                self.assertEqual(keywrap.unwrap(kek, w), key)

    def test_lengths(self):
        for bad in (b"", bytes(8), bytes(17)):
            with self.assertRaises(ValueError):
                keywrap.wrap(EK, bad)
        for bad in (b"", bytes(16), bytes(25)):
            with self.assertRaises(ValueError):
                keywrap.unwrap(EK, bad)
        with self.assertRaises(ValueError):
            keywrap.wrap(bytes(24), EK)
