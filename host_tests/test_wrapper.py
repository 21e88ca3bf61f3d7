"""The wrapper of IEC 62056-47: header, encode, reassembly over TCP chunking."""

import unittest

from dlms import wrapper
from dlms.errors import DecodeError
from support import Rng, h

# An AARQ from the public client (wPort 16) to the management logical device
# (wPort 1), as Gurux sends it over TCP.
AARQ = h(
    "60 1D A1 09 06 07 60 85 74 05 08 01 01 BE 10 04 0E 01 00 00 00 06 5F 1F 04 00 00 7E 1F FF FF"
)
FRAME = h("00 01 00 10 00 01 00 1F") + AARQ


class TestWrapper(unittest.TestCase):
    def test_encode(self):
        self.assertEqual(wrapper.encode(16, 1, AARQ), FRAME)

    def test_header(self):
        self.assertEqual(wrapper.decode_header(FRAME), (16, 1, len(AARQ)))
        out = bytearray(10)
        self.assertEqual(wrapper.encode_header(out, 2, 1, 16, 0x1234), 10)
        self.assertEqual(bytes(out), h("00 00 00 01 00 01 00 10 12 34"))

    def test_bad_version(self):
        with self.assertRaises(DecodeError):
            wrapper.decode_header(h("00 02 00 10 00 01 00 00"))
        with self.assertRaises(DecodeError):
            wrapper.decode_header(h("00 01 00"))

    def test_whole_frame(self):
        r = wrapper.Reassembler()
        r.receive_data(FRAME)
        src, dst, apdu = r.next_frame()
        self.assertEqual((src, dst, bytes(apdu)), (16, 1, AARQ))
        self.assertIsNone(r.next_frame())
        self.assertEqual(r.pending(), 0)

    def test_one_byte_at_a_time(self):
        r = wrapper.Reassembler()
        got = []
        for b in FRAME + FRAME:
            r.receive_data(bytes((b,)))
            f = r.next_frame()
            if f:
                got.append(bytes(f[2]))
        self.assertEqual(got, [AARQ, AARQ])

    def test_random_chunking(self):
        rng = Rng(3)
        apdus = [rng.bytes(rng.below(300)) for _ in range(50)]
        stream = b"".join(wrapper.encode(1, 16, a) for a in apdus)
        r = wrapper.Reassembler(max_apdu=300)
        got = []
        i = 0
        while i < len(stream):
            n = 1 + rng.below(min(200, r.space()))
            r.receive_data(stream[i : i + n])
            i += n
            while True:
                f = r.next_frame()
                if f is None:
                    break
                got.append(bytes(f[2]))
        self.assertEqual(got, apdus)

    def test_empty_apdu(self):
        r = wrapper.Reassembler()
        r.receive_data(h("00 01 00 01 00 10 00 00"))
        self.assertEqual(bytes(r.next_frame()[2]), b"")

    def test_oversize_frame_is_reported_and_skipped(self):
        r = wrapper.Reassembler(max_apdu=64)
        big = wrapper.encode(16, 1, bytes(range(200)))
        got = []
        for i in range(0, len(big + FRAME), 7):  # in 7-octet chunks
            r.receive_data((big + FRAME)[i : i + 7])
            while True:
                f = r.next_frame()
                if f is None:
                    break
                got.append((f[0], f[1], None if f[2] is None else bytes(f[2])))
        self.assertEqual(got, [(16, 1, None), (16, 1, AARQ)])

    def test_oversize_frame_in_one_chunk(self):
        r = wrapper.Reassembler(max_apdu=300)
        r.receive_data(wrapper.encode(16, 1, bytes(301))[:100])
        self.assertEqual(r.next_frame(), (16, 1, None))
        r.receive_data(bytes(209) + FRAME)
        self.assertEqual(bytes(r.next_frame()[2]), AARQ)

    def test_overflow_refused(self):
        r = wrapper.Reassembler(max_apdu=16)
        with self.assertRaises(DecodeError):
            r.receive_data(bytes(25))

    def test_garbage_is_a_decode_error(self):
        rng = Rng(11)
        for _ in range(500):
            r = wrapper.Reassembler(max_apdu=128)
            try:
                r.receive_data(rng.bytes(1 + rng.below(100)))
                while r.next_frame():
                    pass
            except DecodeError:
                pass


class TestServerLink(unittest.TestCase):
    """dlms.wrapper_link: answers built in a buffer the server lends."""

    AARQ = h(
        "60 1D A1 09 06 07 60 85 74 05 08 01 01 BE 10 04 0E 01 00 00 00 06 5F 1F"
        " 04 00 00 7E 1F 04 B0"
    )

    def setUp(self):
        from dlms.wrapper_link import WrapperServerLink
        from model import build

        self.server = build(max_pdu=64)
        self.link = WrapperServerLink(self.server)

    def apdus(self, out):
        r = wrapper.Reassembler(4096)
        r.receive_data(bytes(out))
        got = []
        while True:
            f = r.next_frame()
            if f is None:
                return got
            got.append((f[0], f[1], bytes(f[2])))

    def get_ldn(self, invoke):
        from dlms import axdr, obis, xdlms

        w = axdr.Writer(32)
        xdlms.get_request_normal(w, invoke, 1, obis.parse("0.0.42.0.0.255"), 2)
        return wrapper.encode(16, 1, bytes(w.getvalue()))

    def test_the_lent_buffer_goes_back_at_the_next_call(self):
        self.server.reserve()
        lent = self.server._spare[0]
        self.link.receive_data(wrapper.encode(16, 1, self.AARQ))
        out = self.link.data_to_send()
        self.assertEqual(self.apdus(out)[0][:2], (1, 16))
        self.assertEqual(self.apdus(out)[0][2][0], 0x61)  # AARE
        self.assertEqual(self.server._spare, [])  # lent with the octets
        self.link.poll(0)
        self.assertEqual(len(self.server._spare), 1)
        self.assertIs(self.server._spare[0], lent)
        self.assertEqual(self.link.data_to_send(), b"")

    def test_an_answer_goes_out_where_its_association_built_it(self):
        self.link.receive_data(wrapper.encode(16, 1, self.AARQ))
        self.link.data_to_send()
        self.link.receive_data(self.get_ldn(0xC1))
        out = self.link.data_to_send()
        (a,) = self.link.associations.values()
        self.assertIsNone(self.link._buf)  # the link took no buffer for it
        self.assertEqual(bytes(out[:8]), h("00 01 00 01 00 10 00 16"))  # wPorts 1 -> 16, 22 octets
        self.assertEqual(bytes(out[8:12]), h("C4 01 C1 00"))
        a._buf[:] = bytes(len(a._buf))  # the same octets: a view of that buffer
        self.assertEqual(bytes(out), bytes(len(out)))

    def test_pipelined_requests_more_than_the_buffer_holds(self):
        # a 64-octet PDU: the buffer holds 94 octets, three answers of 8 + 22;
        # the fourth goes past it and is copied on
        self.link.receive_data(wrapper.encode(16, 1, self.AARQ))
        self.link.data_to_send()
        invokes = (0xC1, 0xC2, 0xC3, 0xC4)
        self.link.receive_data(b"".join(self.get_ldn(i) for i in invokes))
        self.assertIsNotNone(self.link._more)
        got = self.apdus(self.link.data_to_send())
        self.assertEqual([a[2][:3] for a in got], [bytes((0xC4, 1, i)) for i in invokes])
        self.assertEqual(len({a[2][3:] for a in got}), 1)
        self.link.close()
        self.assertEqual(self.link.data_to_send(), b"")
