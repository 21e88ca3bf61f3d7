# runtime: cpython-only -- cross-checks against the cryptography package, hypothesis
"""gateway/dsmr.py against independent references, and properties.

- The Smarty frame of test_dsmr.py decrypted by the cryptography package
  (AES-GCM with a 12-octet tag), and frames that cryptography encrypts read
  by SmartyReader: our GCM is not the only judge of our frame layout.
- CRC-16/ARC against a bit-at-a-time reference.
- Hypothesis: the framers' output does not depend on how the stream is cut,
  nothing raises on arbitrary input, and every telegram a framer emits checks.
"""

import unittest

import test_dsmr as v
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from gateway.dsmr import (
    FRAMING,
    SMARTY_AK,
    TAG,
    EncryptedFramer,
    SmartyReader,
    TelegramFramer,
    check_telegram,
    crc16,
    parse,
)
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

PROPS = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def crypto_decrypt(key, frame, ak=SMARTY_AK):
    title, fc = frame[2:10], frame[14:18]
    d = Cipher(algorithms.AES(key), modes.GCM(title + fc, frame[-12:], 12)).decryptor()
    d.authenticate_additional_data(b"\x30" + ak)
    return d.update(frame[18:-12]) + d.finalize()


def crypto_frame(key, title, fc, plaintext, ak=SMARTY_AK):
    fcb = fc.to_bytes(4, "big")
    e = Cipher(algorithms.AES(key), modes.GCM(title + fcb)).encryptor()
    e.authenticate_additional_data(b"\x30" + ak)
    ct = e.update(plaintext) + e.finalize()
    body = b"\x30" + fcb + ct + e.tag[:12]  # a GCM tag truncated to 12 octets
    return b"\xdb\x08" + title + b"\x82" + len(body).to_bytes(2, "big") + body


def crc_reference(data):
    c = 0
    for b in data:
        c ^= b
        for _ in range(8):
            c = (c >> 1) ^ 0xA001 if c & 1 else c >> 1
    return c


ALL = v.WITH_CRC + v.WITHOUT_CRC


class TestAgainstCryptography(unittest.TestCase):
    def test_real_frame(self):
        frame = v.smarty_frame()
        plain = crypto_decrypt(v.SMARTY_KEY, frame)
        self.assertEqual(plain, v.data("smarty_plaintext.txt"))
        self.assertEqual(SmartyReader(v.SMARTY_KEY).feed(frame), [plain])

    def test_frames_encrypted_by_cryptography(self):
        r = SmartyReader(v.SMARTY_KEY)
        for i, name in enumerate(ALL):
            t = v.data(name)[: v.telegram_end(v.data(name))]
            f = crypto_frame(v.SMARTY_KEY, b"TESTMETR", 100 + i, t)
            self.assertEqual(r.feed(f), [t], name)
        # under another authentication key: refused
        f = crypto_frame(v.SMARTY_KEY, b"TESTMETR", 1000, t, ak=bytes(16))
        self.assertEqual(r.feed(f), ())
        self.assertEqual(r.errors[TAG], 1)

    def test_crc_reference(self):
        for name in ALL:
            t = v.data(name)
            b = t.find(b"!")
            self.assertEqual(crc16(t, 0, b + 1), crc_reference(t[: b + 1]), name)


def _stream():
    names = st.lists(st.sampled_from(ALL), min_size=1, max_size=4)
    junk = st.binary(max_size=30).filter(lambda b: b"/" not in b)
    return st.tuples(names, st.lists(junk, min_size=5, max_size=5))


class TestProperties(unittest.TestCase):
    @PROPS
    @given(_stream(), st.lists(st.integers(1, 400), min_size=1, max_size=30))
    def test_framer_cuts_do_not_matter(self, spec, cuts):
        names, junk = spec
        telegrams = [v.data(n)[: v.telegram_end(v.data(n))] for n in names]
        stream = b""
        for i, t in enumerate(telegrams):
            stream += junk[i] + t
        f = TelegramFramer()
        out = []
        pos = 0
        k = 0
        while pos < len(stream):
            n = cuts[k % len(cuts)]
            out.extend(f.feed(stream[pos : pos + n]))
            pos += n
            k += 1
        self.assertEqual(out, telegrams)
        self.assertEqual(f.errors, TelegramFramer().errors)

    @PROPS
    @given(st.binary(max_size=3000), st.integers(1, 300))
    def test_framer_on_noise(self, data, cut):
        f = TelegramFramer(max_size=512)
        for i in range(0, len(data), cut):
            for t in f.feed(data[i : i + cut]):
                self.assertIsNone(check_telegram(t))
                self.assertLessEqual(len(t), 512)

    @PROPS
    @given(st.binary(max_size=2000))
    def test_parse_never_raises(self, data):
        r = parse(data)
        self.assertIsInstance(r["errors"], list)

    @PROPS
    @given(
        st.lists(
            st.sampled_from(
                [b"/X5\r\n", b"1-0:1.8.1", b"0-1:24.2.1", b"1-0:99.97.0", b"0-0:98.1.0", b"(", b")"]
                + [b"*kWh", b"12.5", b"200101000000W", b"\r\n", b"!", b"(0-0:96.7.19)", b"*"]
            ),
            max_size=60,
        )
    )
    def test_parse_never_raises_on_p1_pieces(self, pieces):
        r = parse(b"".join(pieces))
        for e in r["values"].values():
            self.assertIn("value", e)

    @PROPS
    @given(st.lists(st.integers(0, 2), min_size=1, max_size=4), st.integers(1, 200))
    def test_encrypted_framer_cuts(self, which, cut):
        frames = [
            crypto_frame(v.SMARTY_KEY, b"TESTMETR", i + 1, v.data(ALL[w]))
            for i, w in enumerate(which)
        ]
        stream = b"\x00\xdb".join(frames)  # a false start between frames
        ef = EncryptedFramer()
        out = []
        for i in range(0, len(stream), cut):
            out.extend(ef.feed(stream[i : i + cut]))
        self.assertEqual(out, frames)
        self.assertEqual(ef.errors[FRAMING], len(frames) - 1)

    @PROPS
    @given(st.binary(max_size=3000), st.integers(1, 300))
    def test_encrypted_framer_on_noise(self, data, cut):
        ef = EncryptedFramer(max_size=600)
        for i in range(0, len(data), cut):
            for f in ef.feed(data[i : i + cut]):
                self.assertEqual(f[0], 0xDB)
                self.assertLessEqual(len(f), 600)
