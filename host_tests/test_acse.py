"""ACSE (AARQ/AARE/RLRQ/RLRE, BER) and the xDLMS initiate, Green Book 9.4."""

import unittest

from dlms import acse
from dlms.errors import DecodeError
from support import Rng, h


def build_aarq():
    return acse.encode_aarq(
        acse.CONTEXT_LN,
        acse.MECHANISM_LLS,
        b"12345678",
        h("4D 4D 4D 00 00 BC 61 4E"),
        acse.encode_initiate_request(0x007E1F, 0x04B0),
    )


class TestAcse(unittest.TestCase):
    def test_aarq_bytes(self):
        self.assertEqual(
            build_aarq(),
            h(
                "60 42 A1 09 06 07 60 85 74 05 08 01 01 A6 0A 04 08 4D 4D 4D 00 00 BC 61 4E"
                " 8A 02 07 80 8B 07 60 85 74 05 08 02 01 AC 0A 80 08 31 32 33 34 35 36 37 38"
                " BE 10 04 0E 01 00 00 00 06 5F 1F 04 00 00 7E 1F 04 B0"
            ),
        )

    def test_aarq_decode(self):
        a = acse.decode_aarq(build_aarq())
        self.assertEqual(a.context, acse.CONTEXT_LN)
        self.assertEqual(a.mechanism, acse.MECHANISM_LLS)
        self.assertTrue(a.authentication_required)
        self.assertEqual(a.calling_ap_title, h("4D 4D 4D 00 00 BC 61 4E"))
        self.assertEqual(a.calling_auth_value, b"12345678")
        ini = acse.decode_initiate_request(a.user_information)
        self.assertEqual((ini.dlms_version, ini.conformance, ini.max_pdu), (6, 0x007E1F, 0x04B0))
        self.assertIsNone(ini.dedicated_key)

    def test_initiate_request_with_dedicated_key(self):
        key = bytes(range(16))
        ini = acse.decode_initiate_request(acse.encode_initiate_request(0x1D, 512, key))
        self.assertEqual((ini.dedicated_key, ini.conformance, ini.max_pdu), (key, 0x1D, 512))

    def test_initiate_response(self):
        b = acse.encode_initiate_response(0x001E1D, 0x0400)
        self.assertEqual(b, h("08 00 06 5F 1F 04 00 00 1E 1D 04 00 00 07"))
        self.assertEqual(acse.decode_initiate_response(b), (6, 0x001E1D, 0x0400, 7))

    def test_aare_round_trip(self):
        b = acse.encode_aare(
            acse.CONTEXT_LN,
            acse.RESULT_ACCEPTED,
            responding_ap_title=h("4D 4D 4D 00 00 00 00 01"),
            mechanism=acse.MECHANISM_HLS_GMAC,
            auth_value=b"S" * 16,
            user_information=acse.encode_initiate_response(0x1D, 256),
        )
        a = acse.decode_aare(b)
        self.assertEqual((a.context, a.result, a.diagnostic), (1, 0, 0))
        self.assertEqual(a.mechanism, acse.MECHANISM_HLS_GMAC)
        self.assertEqual(a.responding_auth_value, b"S" * 16)
        self.assertEqual(a.responding_ap_title, h("4D 4D 4D 00 00 00 00 01"))

    def test_long_ber_lengths(self):
        # a user-information over 127 octets needs the 0x81 length form
        b = acse.encode_aare(acse.CONTEXT_LN, 0, user_information=bytes(200))
        self.assertEqual(b[:3], h("61 81 E5"))
        self.assertEqual(len(acse.decode_aare(b).user_information), 200)

    def test_release(self):
        self.assertEqual(acse.encode_rlrq(0), h("62 03 80 01 00"))
        self.assertEqual(acse.decode_rlrq(h("62 03 80 01 00")), (0, None))
        self.assertEqual(acse.decode_rlre(acse.encode_rlre(0, b"\x08")), (0, b"\x08"))
        self.assertEqual(acse.decode_rlrq(h("62 00")), (None, None))

    def test_not_dlms_context(self):
        a = acse.decode_aarq(h("60 0B A1 09 06 07 60 85 74 05 08 09 01"))
        self.assertIsNone(a.context)

    def test_truncated_everywhere(self):
        whole = build_aarq()
        for cut in range(len(whole)):
            try:
                acse.decode_aarq(whole[:cut])
            except DecodeError:
                continue
            self.fail("AARQ cut at %d accepted" % cut)

    def test_random_bytes(self):
        rng = Rng(2)
        for _ in range(2000):
            data = bytes((0x60 + rng.below(4),)) + rng.bytes(rng.below(60))
            for fn in (acse.decode_aarq, acse.decode_aare, acse.decode_rlrq, acse.decode_rlre):
                try:
                    fn(data)
                except DecodeError:
                    pass
            try:
                acse.decode_initiate_request(b"\x01" + data)
            except DecodeError:
                pass
