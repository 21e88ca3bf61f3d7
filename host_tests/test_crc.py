"""FCS-16 / HCS (IEC 62056-46 clause 6.4.4, CRC-16/X.25)."""

import unittest

from dlms.crc import fcs16, fcs16_update
from support import Rng, h


def _bitwise(data):
    crc = 0xFFFF
    for b in data:
        crc ^= b
        for _ in range(8):
            crc = (crc >> 1) ^ 0x8408 if crc & 1 else crc >> 1
    return crc ^ 0xFFFF


class TestFcs16(unittest.TestCase):
    def test_check_value(self):
        self.assertEqual(fcs16(b"123456789"), 0x906E)

    def test_empty(self):
        self.assertEqual(fcs16(b""), 0x0000)

    def test_snrm_frame(self):
        # gurux's SNRM to server 1 / client 16: 7E A0 07 03 21 93 0F 01 7E,
        # FCS 0x010F sent low byte first.
        frame = h("A0 07 03 21 93")
        self.assertEqual(fcs16(frame), 0x010F)

    def test_residue(self):
        # A frame followed by its FCS (low byte first) leaves the good residue.
        data = b"DLMS/COSEM"
        f = fcs16(data)
        whole = data + bytes((f & 0xFF, f >> 8))
        self.assertEqual(fcs16_update(0xFFFF, whole), 0xF0B8)

    def test_matches_bitwise_on_random_data(self):
        r = Rng(7)
        for n in (1, 2, 15, 128, 1000):
            d = r.bytes(n)
            self.assertEqual(fcs16(d), _bitwise(d))

    def test_slices_and_memoryview(self):
        d = bytearray(b"xx123456789yy")
        self.assertEqual(fcs16(d, 2, 11), 0x906E)
        self.assertEqual(fcs16(memoryview(d)[2:11]), 0x906E)

    def test_incremental(self):
        crc = fcs16_update(0xFFFF, b"1234")
        crc = fcs16_update(crc, b"56789")
        self.assertEqual(crc ^ 0xFFFF, 0x906E)
