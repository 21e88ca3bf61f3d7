"""HDLC frames of IEC 62056-46 (frame format type 3): codec and stream framer.

Frames are written in hex as they appear on the wire. Those marked "gurux"
are byte-for-byte what gurux-dlms 1.0.203 produces (host_tests/test_hdlc_gurux.py
checks that against the library itself); "Kamstrup" and "Kaifa" are frames
published from real Norwegian HAN meters.
"""

import unittest

from dlms import hdlc
from dlms.crc import fcs16
from dlms.errors import BufferFull, DecodeError
from support import Rng, h, hx

A = hdlc.encode_address

# gurux: client 16 -> server 1 (one-byte address), SNRM without parameters.
SNRM = "7E A0 07 03 21 93 0F 01 7E"
# gurux: SNRM proposing max info tx 512 and window rx 7 (defaults left out).
SNRM_PARAMS = "7E A0 16 03 21 93 15 DE 81 80 0A 05 02 02 00 08 04 00 00 00 07 13 32 7E"
SNRM_2 = "7E A0 08 02 23 21 93 BD 64 7E"  # gurux: server 1/17, two-byte address
SNRM_4 = "7E A0 0A 00 02 48 69 21 93 7B F7 7E"  # gurux: server 1/0x1234, four bytes
# UA with the four default parameters, windows in four octets as gurux writes them.
UA = (
    "7E A0 1E 21 03 73 C3 7A"
    " 81 80 12 05 01 80 06 01 80 07 04 00 00 00 01 08 04 00 00 00 01 53 3B 7E"
)
# gurux: the AARQ of a public client without authentication, first I frame.
AARQ = (
    "7E A0 2B 03 21 10 FB AF E6 E6 00 60 1D A1 09 06 07 60 85 74 05 08 01 01"
    " BE 10 04 0E 01 00 00 00 06 5F 1F 04 00 40 1E 5D FF FF 91 23 7E"
)
AARE_INFO = (
    "E6 E7 00 61 29 A1 09 06 07 60 85 74 05 08 01 01 A2 03 02 01 00 A3 05 A1 03 02 01 00"
    " BE 10 04 0E 08 00 06 5F 1F 04 00 00 18 1D 04 00 00 07"
)
AARE = "7E A0 37 21 03 30 6C 7C " + AARE_INFO + " 1A BE 7E"  # gurux
AARE_2 = "7E A0 38 21 02 23 30 34 E7 " + AARE_INFO + " 1A BE 7E"  # gurux, server 1/17
# gurux, server 0x21/0x3001 in four bytes: the HCS is 87 7E, a flag value in the header.
AARE_4 = "7E A0 3A 21 00 42 C0 03 30 87 7E " + AARE_INFO + " 1A BE 7E"
# gurux: the AARQ above cut into segments for a max info length of 16 (gurux
# makes the first one 3 octets short: it reserves room for the LLC twice).
AARQ_SEGMENTS = (
    "7E A8 16 03 21 10 A6 32 E6 E6 00 60 1D A1 09 06 07 60 85 74 05 6B 12 7E",
    "7E A8 19 03 21 12 4D A3 08 01 01 BE 10 04 0E 01 00 00 00 06 5F 1F 04 00 C3 26 7E",
    "7E A0 0E 03 21 14 DB 08 40 1E 5D FF FF 95 AC 7E",
)
RR = "7E A0 07 03 21 31 17 87 7E"  # gurux: client RR, N(R) 1
RNR = "7E A0 07 03 21 55 35 A2 7E"  # gurux: client RNR, N(R) 2
DISC = "7E A0 07 03 21 53 03 C7 7E"  # gurux: disconnectRequest()
DM = "7E A0 07 21 03 1F 6B E9 7E"  # gurux
FRMR = "7E A0 0C 21 03 97 3E 21 10 00 00 E2 4A 7E"  # gurux, with a 3-octet info field
UI_NO_PF = "7E A0 0B 21 03 03 B2 A4 01 02 14 C6 7E"
# Kaifa MA304 push (I frame to a one-byte 0 address, from server 1/0).
KAIFA = (
    "7E A0 27 01 02 01 10 5A 87 E6 E7 00 0F 40 00 00 00 09 0C 07 E1 09 0C 02 17 12 2A FF"
    " 80 00 00 02 01 06 00 00 05 28 B8 0C 7E"
)
# Kamstrup list 2 push: a UI frame of 229 octets.
KAMSTRUP = (
    "7E A0 E3 2B 21 13 98 86 E6 E7 00 0F 00 00 00 00 09 0C 07 E1 0A 14 05 03 2B 1E FF 80"
    " 00 00 02 19 0A 0E 4B 61 6D 73 74 72 75 70 5F 56 30 30 30 31 09 06 01 01 00 00 05 FF"
    " 0A 10 35 37 30 36 35 36 37 32 37 34 33 38 39 37 30 32 09 06 01 01 60 01 01 FF 0A 12"
    " 36 38 34 31 31 32 31 42 4E 32 34 33 31 30 31 30 34 30 09 06 01 01 01 07 00 FF 06 00"
    " 00 05 BC 09 06 01 01 02 07 00 FF 06 00 00 00 00 09 06 01 01 03 07 00 FF 06 00 00 00"
    " 00 09 06 01 01 04 07 00 FF 06 00 00 01 CE 09 06 01 01 1F 07 00 FF 06 00 00 02 34 09"
    " 06 01 01 33 07 00 FF 06 00 00 00 CA 09 06 01 01 47 07 00 FF 06 00 00 01 FF 09 06 01"
    " 01 20 07 00 FF 12 00 E8 09 06 01 01 34 07 00 FF 12 00 E4 09 06 01 01 48 07 00 FF 12"
    " 00 E9 A1 A5 7E"
)
# HAN-style push whose data holds 0x7E octets: an active power of 0x7E7E W and
# an octet-string that is itself a whole SNRM frame, flags and all.
HAN_7E = (
    "7E A0 2D 41 02 01 13 DE EF E6 E7 00 0F 40 00 00 00 00 02 03 09 06 01 00 01 07 00 FF"
    " 06 00 00 7E 7E 09 09 7E A0 07 03 21 93 0F 01 7E 9E 0E 7E"
)


def _drain(framer):
    out = []
    while True:
        f = framer.next_frame()
        if f is None:
            return out
        out.append(f)


def _key(f):
    return (f.dest, f.src, f.control, f.segmented, bytes(f.info))


class TestAddress(unittest.TestCase):
    def test_one_byte(self):
        self.assertEqual(A(1), h("03"))
        self.assertEqual(A(16), h("21"))
        self.assertEqual(A(0x7F), h("FF"))
        self.assertEqual(hdlc.decode_address(h("21")), (16, None, 1))

    def test_two_bytes(self):
        self.assertEqual(A(1, 17), h("02 23"))
        self.assertEqual(A(1, 0), h("02 01"))
        self.assertEqual(A(0, 1, 2), h("00 03"))
        self.assertEqual(hdlc.decode_address(h("02 23")), (1, 17, 2))

    def test_four_bytes(self):
        self.assertEqual(A(1, 0x1234), h("00 02 48 69"))
        self.assertEqual(A(1, 17, 4), h("00 02 00 23"))
        self.assertEqual(hdlc.decode_address(h("00 02 48 69")), (1, 0x1234, 4))
        self.assertEqual(hdlc.decode_address(h("55 00 42 C0 03"), 1), (0x21, 0x3001, 4))

    def test_special_addresses(self):
        self.assertEqual(A(hdlc.ALL_STATION), h("FF"))
        self.assertEqual(A(hdlc.ALL_STATION, hdlc.ALL_STATION), h("FE FF"))
        self.assertEqual(A(hdlc.ALL_STATION_4, hdlc.ALL_STATION_4), h("FE FE FE FF"))
        self.assertEqual(A(hdlc.NO_STATION), h("01"))
        self.assertEqual(A(hdlc.MANAGEMENT_LOGICAL_DEVICE, hdlc.CALLING), h("02 FD"))
        self.assertEqual(A(hdlc.PUBLIC_CLIENT), h("21"))

    def test_round_trip(self):
        for upper, lower, size in ((0, None, 1), (0x7F, None, 1), (0, 0, 2), (0x7F, 0x7F, 2)):
            self.assertEqual(hdlc.decode_address(A(upper, lower, size)), (upper, lower, size))
        for upper, lower in ((0, 0), (0x3FFF, 0x3FFF), (0x80, 1), (1, 0x80), (0x2AAA, 0x1555)):
            self.assertEqual(hdlc.decode_address(A(upper, lower, 4)), (upper, lower, 4))

    def test_decode_errors(self):
        for bad in ("02 04 07", "02 04 06 08 0A", "02", ""):
            with self.assertRaises(DecodeError):
                hdlc.decode_address(h(bad))

    def test_encode_errors(self):
        for args in ((0x80, None, 1), (1, 2, 1), (0x80, 0, 2), (0x4000, 0, 4), (-1, None, 0)):
            with self.assertRaises(ValueError):
                A(*args)


class TestControl(unittest.TestCase):
    def test_unnumbered(self):
        c = hdlc.control
        self.assertEqual(c(hdlc.SNRM), 0x93)
        self.assertEqual(c(hdlc.UA), 0x73)
        self.assertEqual(c(hdlc.DISC), 0x53)
        self.assertEqual(c(hdlc.DM), 0x1F)
        self.assertEqual(c(hdlc.FRMR), 0x97)
        self.assertEqual(c(hdlc.UI), 0x13)
        self.assertEqual(c(hdlc.UI, pf=False), 0x03)
        self.assertEqual(c(hdlc.SNRM, nr=5, ns=3), 0x93)  # no sequence numbers

    def test_information(self):
        c = hdlc.control
        self.assertEqual(c(hdlc.I_FRAME), 0x10)  # gurux's first I frame
        self.assertEqual(c(hdlc.I_FRAME, nr=1), 0x30)  # the server's answer
        self.assertEqual(c(hdlc.I_FRAME, nr=1, ns=1), 0x32)
        self.assertEqual(c(hdlc.I_FRAME, nr=7, ns=7, pf=False), 0xEE)
        self.assertEqual(hdlc.decode_control(0x32), (hdlc.I_FRAME, 1, 1, True))
        self.assertEqual(hdlc.decode_control(0xEE), (hdlc.I_FRAME, 7, 7, False))

    def test_supervisory(self):
        c = hdlc.control
        self.assertEqual(c(hdlc.RR, nr=1), 0x31)
        self.assertEqual(c(hdlc.RNR, nr=2), 0x55)
        self.assertEqual(hdlc.decode_control(0x51), (hdlc.RR, 2, 0, True))
        self.assertEqual(hdlc.decode_control(0xE5), (hdlc.RNR, 7, 0, False))

    def test_every_byte(self):
        known = (hdlc.RR, hdlc.RNR, hdlc.SNRM, hdlc.DISC, hdlc.UA, hdlc.DM, hdlc.FRMR, hdlc.UI)
        for b in range(256):
            kind, nr, ns, pf = hdlc.decode_control(b)
            if kind == hdlc.I_FRAME or kind in known:
                self.assertEqual(hdlc.control(kind, nr, ns, pf), b)
            else:
                # REJ, SREJ and undefined U commands: the link layer answers FRMR
                self.assertNotIn(kind, known)
        self.assertEqual(hdlc.decode_control(0x19)[0], 0x09)  # REJ


class TestEncode(unittest.TestCase):
    def _frame(self, dest, src, control, info=b"", segmented=False):
        return hx(hdlc.encode(dest, src, control, info, segmented))

    def test_snrm(self):
        self.assertEqual(self._frame(A(1), A(16), 0x93), SNRM)
        self.assertEqual(self._frame(A(1, 17), A(16), 0x93), SNRM_2)
        self.assertEqual(self._frame(A(1, 0x1234), A(16), 0x93), SNRM_4)

    def test_snrm_with_parameters(self):
        info = hdlc.encode_parameters(512, 128, 1, 7, sizes=(0, 0, 4, 4), omit_defaults=True)
        self.assertEqual(self._frame(A(1), A(16), 0x93, info), SNRM_PARAMS)

    def test_ua(self):
        info = hdlc.encode_parameters(sizes=(0, 0, 4, 4))
        self.assertEqual(self._frame(A(16), A(1), hdlc.control(hdlc.UA), info), UA)

    def test_i_frames(self):
        self.assertEqual(self._frame(A(1), A(16), 0x10, h(AARQ)[8:-3]), AARQ)
        info = h(AARE_INFO)
        self.assertEqual(self._frame(A(16), A(1), 0x30, info), AARE)
        self.assertEqual(self._frame(A(16), A(1, 17), 0x30, info), AARE_2)
        self.assertEqual(self._frame(A(16), A(0x21, 0x3001), 0x30, info), AARE_4)

    def test_segmented(self):
        apdu = h(AARQ)[8:-3]
        parts = (apdu[:13], apdu[13:29], apdu[29:])
        for i, part in enumerate(parts):
            ctl = hdlc.control(hdlc.I_FRAME, ns=i)
            got = self._frame(A(1), A(16), ctl, part, segmented=i < 2)
            self.assertEqual(got, AARQ_SEGMENTS[i])

    def test_supervisory_and_unnumbered(self):
        c = hdlc.control
        self.assertEqual(self._frame(A(1), A(16), c(hdlc.RR, nr=1)), RR)
        self.assertEqual(self._frame(A(1), A(16), c(hdlc.RNR, nr=2)), RNR)
        self.assertEqual(self._frame(A(1), A(16), c(hdlc.DISC)), DISC)
        self.assertEqual(self._frame(A(16), A(1), c(hdlc.DM)), DM)
        self.assertEqual(self._frame(A(16), A(1), c(hdlc.FRMR), h("10 00 00")), FRMR)
        self.assertEqual(self._frame(A(16), A(1), c(hdlc.UI, pf=False), h("01 02")), UI_NO_PF)

    def test_real_meter_frames(self):
        k = h(KAMSTRUP)
        self.assertEqual(self._frame(A(0x15), A(16), 0x13, k[8:-3]), KAMSTRUP)
        k = h(KAIFA)
        self.assertEqual(self._frame(A(0), A(1, 0), 0x10, k[9:-3]), KAIFA)

    def test_into_buffer(self):
        out = bytearray(40)
        end = hdlc.encode_frame(out, 3, A(1), A(16), 0x93)
        self.assertEqual(end, 12)
        self.assertEqual(hx(out[3:end]), SNRM)
        # two frames back to back in one buffer, and through a memoryview
        mv = memoryview(out)
        end2 = hdlc.encode_frame(mv, end, A(1), A(16), 0x31)
        self.assertEqual(hx(out[end:end2]), RR)

    def test_buffer_full(self):
        with self.assertRaises(BufferFull):
            hdlc.encode_frame(bytearray(8), 0, A(1), A(16), 0x93)
        with self.assertRaises(BufferFull):
            hdlc.encode_frame(bytearray(20), 12, A(1), A(16), 0x93)

    def test_longest_frame(self):
        # 2047 octets between the flags is the most the 11-bit length holds.
        info = bytes(2047 - 17 + 2)
        f = hdlc.encode(A(1, 0x1234), A(16, 0, 4), 0x10, info)
        self.assertEqual(len(f), hdlc.MAX_FRAME)
        self.assertEqual(hx(f[:3]), "7E A7 FF")
        self.assertEqual(bytes(hdlc.decode_frame(f).info), info)
        with self.assertRaises(ValueError):
            hdlc.encode(A(1, 0x1234), A(16, 0, 4), 0x10, info + b"x")
        self.assertEqual(hdlc.frame_size(2030), hdlc.MAX_FRAME - 2)
        self.assertEqual(hdlc.frame_size(128), 145)


class TestDecode(unittest.TestCase):
    def test_snrm(self):
        f = hdlc.decode_frame(h(SNRM))
        self.assertEqual(f.dest, (1, None, 1))
        self.assertEqual(f.src, (16, None, 1))
        self.assertEqual((f.control, f.kind, f.pf), (0x93, hdlc.SNRM, True))
        self.assertEqual(f.length, 7)
        self.assertFalse(f.segmented)
        self.assertEqual(bytes(f.info), b"")

    def test_addresses(self):
        self.assertEqual(hdlc.decode_frame(h(SNRM_2)).dest, (1, 17, 2))
        self.assertEqual(hdlc.decode_frame(h(SNRM_4)).dest, (1, 0x1234, 4))
        f = hdlc.decode_frame(h(AARE_4))
        self.assertEqual((f.dest, f.src), ((16, None, 1), (0x21, 0x3001, 4)))
        self.assertEqual(bytes(f.info), h(AARE_INFO))

    def test_i_frame(self):
        f = hdlc.decode_frame(h(AARE))
        self.assertEqual((f.kind, f.nr, f.ns, f.pf), (hdlc.I_FRAME, 1, 0, True))
        self.assertTrue(hdlc.has_llc(f.info, hdlc.LLC_RESPONSE))
        self.assertEqual(bytes(hdlc.strip_llc(f.info, hdlc.LLC_RESPONSE)), h(AARE_INFO)[3:])

    def test_segmented(self):
        got = b""
        for i, text in enumerate(AARQ_SEGMENTS):
            f = hdlc.decode_frame(h(text))
            self.assertEqual(f.segmented, i < 2)
            self.assertEqual(f.ns, i)
            got += bytes(f.info)
        self.assertEqual(got, h(AARQ)[8:-3])

    def test_real_meter_frames(self):
        f = hdlc.decode_frame(h(KAMSTRUP))
        self.assertEqual((f.dest, f.src, f.kind), ((0x15, None, 1), (16, None, 1), hdlc.UI))
        self.assertEqual(len(f.info), 229 - 11)
        f = hdlc.decode_frame(h(KAIFA))
        self.assertEqual((f.dest, f.src, f.kind), ((0, None, 1), (1, 0, 2), hdlc.I_FRAME))
        self.assertEqual(hx(f.info[:8]), "E6 E7 00 0F 40 00 00 00")

    def test_flags_inside(self):
        f = hdlc.decode_frame(h(HAN_7E))
        self.assertEqual(hx(f.info[-9:]), SNRM)

    def test_errors(self):
        good = h(AARE)
        cases = (
            (good[:-1], "length field"),
            (good + b"\x7e", "length field"),
            (b"\x00" + good[1:], "not an HDLC frame"),
            (good[:1] + b"\x90" + good[2:], "type 3"),
            (good[:-1] + b"\x00", "malformed"),  # no closing flag
            (good[:6] + b"\x00" + good[7:], "HCS"),
            (good[:20] + b"\x00" + good[21:], "FCS"),
            (h("7E A0 08 02 04 21 93 00 00 7E"), "malformed"),  # 3-byte address
            (h("7E A0 07 03 21 93 00 00 7E"), "FCS"),
            (b"", "not an HDLC frame"),
        )
        for data, msg in cases:
            with self.assertRaises(DecodeError) as cm:
                hdlc.decode_frame(data)
            self.assertIn(msg, str(cm.exception))

    def test_info_too_short_for_hcs(self):
        # One or two octets after the header cannot be HCS + info.
        for extra in ("AA", "AA BB"):
            body = bytearray(h("A0 00 03 21 10 " + extra))
            body[1] = len(body) + 2
            f = fcs16(body)
            frame = b"\x7e" + bytes(body) + bytes((f & 0xFF, f >> 8)) + b"\x7e"
            with self.assertRaises(DecodeError):
                hdlc.decode_frame(frame)


class TestParameters(unittest.TestCase):
    def test_defaults(self):
        self.assertEqual(hdlc.decode_parameters(b""), (128, 128, 1, 1))
        self.assertEqual(hdlc.decode_parameters(h("81 80 00")), (128, 128, 1, 1))
        self.assertEqual(hdlc.encode_parameters(omit_defaults=True), b"")
        self.assertEqual(
            hx(hdlc.encode_parameters()), "81 80 0C 05 01 80 06 01 80 07 01 01 08 01 01"
        )

    def test_sizes(self):
        p = hdlc.encode_parameters(1024, 2030, 7, 1)
        self.assertEqual(hx(p), "81 80 0E 05 02 04 00 06 02 07 EE 07 01 07 08 01 01")
        self.assertEqual(hdlc.decode_parameters(p), (1024, 2030, 7, 1))
        p = hdlc.encode_parameters(128, 128, 1, 1, sizes=(2, 4, 1, 4))
        self.assertEqual(hx(p), "81 80 13 05 02 00 80 06 04 00 00 00 80 07 01 01 08 04 00 00 00 01")
        self.assertEqual(hdlc.decode_parameters(p), (128, 128, 1, 1))
        self.assertEqual(hdlc.decode_parameters(h(UA)[8:-3]), (128, 128, 1, 1))

    def test_partial_and_unknown(self):
        # gurux's SNRM: only what differs from the defaults
        self.assertEqual(hdlc.decode_parameters(h(SNRM_PARAMS)[8:-3]), (512, 128, 1, 7))
        # parameter 0x03 (not one of 62056-46's) is skipped, 3-octet values read
        p = h("81 80 0B 03 01 00 06 03 00 01 00 07 01 03")
        self.assertEqual(hdlc.decode_parameters(p), (128, 256, 3, 1))

    def test_bad_fields(self):
        for bad in (
            "80 80 00",
            "81 81 00",
            "81 80",
            "81 80 05 05 01 80",
            "81 80 03 05 00 80",
            "81 80 07 05 05 00 00 00 00 80",
            "81 80 01 05",
        ):
            with self.assertRaises(DecodeError):
                hdlc.decode_parameters(h(bad))

    def test_encode_errors(self):
        with self.assertRaises(ValueError):
            hdlc.encode_parameters(256, sizes=(1, 0, 0, 0))
        with self.assertRaises(ValueError):
            hdlc.encode_parameters(sizes=(3, 0, 0, 0))


class TestLlc(unittest.TestCase):
    def test_headers(self):
        self.assertEqual(hdlc.LLC_COMMAND, h("E6 E6 00"))
        self.assertEqual(hdlc.LLC_RESPONSE, h("E6 E7 00"))
        info = h("E6 E6 00 60 1D")
        self.assertTrue(hdlc.has_llc(info))
        self.assertFalse(hdlc.has_llc(info, hdlc.LLC_RESPONSE))
        self.assertEqual(hdlc.strip_llc(info), h("60 1D"))
        self.assertEqual(bytes(hdlc.strip_llc(memoryview(info))), h("60 1D"))
        with self.assertRaises(DecodeError):
            hdlc.strip_llc(info, hdlc.LLC_RESPONSE)
        with self.assertRaises(DecodeError):
            hdlc.strip_llc(h("E6 E6"))


class TestFramer(unittest.TestCase):
    def _feed(self, data, framer=None, step=0):
        fr = framer or hdlc.Framer()
        out = []
        if step:
            for i in range(0, len(data), step):
                fr.receive_data(data[i : i + step])
                out += _drain(fr)
        else:
            fr.receive_data(data)
            out = _drain(fr)
        return fr, out

    def test_one_frame(self):
        fr, out = self._feed(h(SNRM))
        self.assertEqual(len(out), 1)
        self.assertEqual(out[0].kind, hdlc.SNRM)
        self.assertEqual((fr.frames, fr.dropped, fr.pending()), (1, 0, 0))

    def test_separate_flags(self):
        data = h(SNRM) + h(UA) + h(AARE)
        fr, out = self._feed(data)
        self.assertEqual([f.kind for f in out], [hdlc.SNRM, hdlc.UA, hdlc.I_FRAME])
        self.assertEqual(fr.dropped, 0)

    def test_shared_flags(self):
        data = h(SNRM) + h(UA)[1:] + h(AARE)[1:]  # 7E frame 7E frame 7E frame 7E
        fr, out = self._feed(data)
        self.assertEqual([f.kind for f in out], [hdlc.SNRM, hdlc.UA, hdlc.I_FRAME])
        self.assertEqual(bytes(out[2].info), h(AARE_INFO))
        self.assertEqual(fr.dropped, 0)

    def test_idle_flags(self):
        data = b"\x7e\x7e\x7e" + h(SNRM) + b"\x7e\x7e" + h(RR) + b"\x7e"
        fr, out = self._feed(data)
        self.assertEqual([f.control for f in out], [0x93, 0x31])
        self.assertEqual((fr.dropped, fr.pending()), (0, 0))

    def test_one_byte_at_a_time(self):
        data = h(SNRM) + h(UA)[1:] + h(AARE) + h(HAN_7E) + h(KAMSTRUP)[1:]
        fr, out = self._feed(data, step=1)
        self.assertEqual(len(out), 5)
        self.assertEqual(bytes(out[3].info), h(HAN_7E)[9:-3])
        self.assertEqual(len(out[4].info), 229 - 11)
        self.assertEqual((fr.frames, fr.dropped, fr.fcs_errors, fr.hcs_errors), (5, 0, 0, 0))

    def test_flags_inside_frames(self):
        # 0x7E in the data and in the HCS, and a whole frame inside the data:
        # the length field delimits, so exactly these frames come out.
        for step in (0, 1, 7):
            fr, out = self._feed(h(HAN_7E) + h(AARE_4) + h(HAN_7E)[1:], step=step)
            self.assertEqual([f.kind for f in out], [hdlc.UI, hdlc.I_FRAME, hdlc.UI])
            self.assertEqual(out[1].src, (0x21, 0x3001, 4))
            self.assertEqual(fr.dropped, 0)

    def test_segments(self):
        data = b"".join(h(t) for t in AARQ_SEGMENTS)
        fr, out = self._feed(data, step=5)
        self.assertEqual([f.segmented for f in out], [True, True, False])
        self.assertEqual(b"".join(bytes(f.info) for f in out), h(AARQ)[8:-3])

    def test_garbage_between_frames(self):
        data = b"\x00\xff\xa0" + h(SNRM) + b"ABC\x7e\xa0" + h(RR) + b"\x7e\xa3\x01\x02" + h(DISC)
        fr, out = self._feed(data)
        self.assertEqual([f.control for f in out], [0x93, 0x31, 0x53])
        self.assertGreater(fr.dropped, 5)

    def test_wrong_hcs(self):
        bad = bytearray(h(AARE))
        bad[6] ^= 1
        fr, out = self._feed(bytes(bad) + h(SNRM))
        self.assertEqual([f.kind for f in out], [hdlc.SNRM])
        self.assertEqual((fr.hcs_errors, fr.fcs_errors), (1, 0))

    def test_wrong_fcs(self):
        bad = bytearray(h(AARE))
        bad[30] ^= 0x80
        for step in (0, 1):
            fr, out = self._feed(bytes(bad) + h(SNRM) + bytes(bad) + h(RR)[1:], step=step)
            self.assertEqual([f.control for f in out], [0x93, 0x31])
            self.assertEqual((fr.fcs_errors, fr.hcs_errors), (2, 0))

    def test_wrong_fcs_without_info(self):
        bad = bytearray(h(SNRM))
        bad[-2] ^= 1
        fr, out = self._feed(bytes(bad) + h(RR))
        self.assertEqual([f.control for f in out], [0x31])
        self.assertEqual(fr.fcs_errors, 1)

    def test_length_too_long(self):
        # The length says 2 more octets: the closing flag is not where it says,
        # and the next frame, which the lying length overlaps, is still found.
        bad = bytearray(h(SNRM))
        bad[2] += 2
        fr, out = self._feed(bytes(bad) + h(RR) + h(DISC))
        self.assertEqual([f.control for f in out], [0x31, 0x53])
        self.assertEqual(fr.format_errors, 1)

    def test_length_too_short(self):
        bad = bytearray(h(AARE))
        bad[2] -= 4
        fr, out = self._feed(bytes(bad) + h(RR))
        self.assertEqual([f.control for f in out], [0x31])

    def test_length_too_short_for_a_frame(self):
        for n in (0, 1, 4, 6):
            fr, out = self._feed(h("7E A0") + bytes((n,)) + h("03 21 93 0F 01") + h(RR))
            self.assertEqual([f.control for f in out], [0x31])

    def test_truncated_frames_then_good(self):
        # A cut frame is found out when the octets after it do not close it,
        # or (when the stream stops) by the inter-octet timeout. (Cut just
        # before its closing flag, the next frame's opening flag closes it.)
        aare = h(AARE)
        for cut in (2, 3, 5, 9, 10, 20, len(aare) - 3, len(aare) - 2):
            for step in (0, 1, 4):
                fr, out = self._feed(aare[:cut] + h(AARE) + aare[:cut] + h(SNRM), step=step)
                fr.timeout()
                out += _drain(fr)
                self.assertEqual([f.control for f in out], [0x30, 0x93], "cut %d" % cut)
                self.assertEqual(fr.pending(), 0)

    def test_bad_address_size(self):
        # three-octet destination address: not a frame, even with a good FCS
        bad = hdlc.encode(h("02 04 07"), A(16), 0x93)
        fr, out = self._feed(bad + h(RR))
        self.assertEqual([f.control for f in out], [0x31])
        self.assertEqual(fr.format_errors, 1)

    def test_unknown_control_is_delivered(self):
        # the link layer answers a command it does not know with FRMR
        fr, out = self._feed(hdlc.encode(A(1), A(16), 0xB3))
        self.assertEqual(out[0].kind, 0xA3)

    def test_max_frame(self):
        fr = hdlc.Framer(max_frame=hdlc.frame_size(32))
        big = hdlc.encode(A(1), A(16), 0x10, bytes(40))
        small = hdlc.encode(A(1), A(16), 0x10, bytes(32))
        fr, out = self._feed(big + small, fr)
        self.assertEqual([len(f.info) for f in out], [32])
        self.assertEqual(fr.format_errors, 1)

    def test_pending_and_reset(self):
        fr = hdlc.Framer()
        fr.receive_data(h(AARE)[:20])
        self.assertIsNone(fr.next_frame())
        self.assertEqual(fr.pending(), 20)
        fr.reset()
        self.assertEqual((fr.pending(), fr.dropped), (0, 20))
        fr.receive_data(h(AARE)[20:] + h(SNRM))
        self.assertEqual([f.control for f in _drain(fr)], [0x93])
        self.assertEqual(fr.pending(), 0)  # the lone closing flag does not count

    def test_timeout_abandons_a_partial_frame(self):
        fr = hdlc.Framer()
        fr.receive_data(h(AARE)[:20])
        self.assertEqual(_drain(fr), [])
        fr.timeout()
        self.assertEqual(fr.pending(), 0)
        fr.receive_data(h(AARE)[20:] + h(SNRM))  # the rest can no longer complete it
        self.assertEqual([f.control for f in _drain(fr)], [0x93])
        self.assertEqual(fr.format_errors, 1)

    def test_timeout_keeps_whole_frames(self):
        # A truncated frame whose header was good holds back the frames behind
        # it (they could be its data) until the line goes quiet.
        fr = hdlc.Framer()
        fr.receive_data(h(AARE)[:30] + h(RR) + h(SNRM))
        self.assertEqual(_drain(fr), [])
        fr.timeout()
        self.assertEqual([f.control for f in _drain(fr)], [0x31, 0x93])
        fr.receive_data(h(AARE))
        self.assertEqual([f.control for f in _drain(fr)], [0x30])

    def test_noise_before_a_frame_does_not_hold_it(self):
        # A false start whose header is not all in yet gives way to a whole frame.
        for noise in ("7E A0", "7E A3 01 02", "7E A7 FF 7E", "55 7E A0 7E 7E A1"):
            fr, out = self._feed(h(noise) + h(RR))
            self.assertEqual([f.control for f in out], [0x31], noise)

    def test_info_is_a_view_until_next_data(self):
        fr = hdlc.Framer()
        fr.receive_data(h(SNRM) + h(AARE))
        a = fr.next_frame()
        b = fr.next_frame()
        self.assertEqual(bytes(b.info), h(AARE_INFO))
        self.assertEqual(bytes(a.info), b"")
        kept = bytes(b.info)
        fr.receive_data(h(RR))
        self.assertEqual(kept, h(AARE_INFO))


class TestFramerRobustness(unittest.TestCase):
    def _random_frame(self, r):
        sizes = (1, 2, 4)
        dsize = sizes[r.below(3)]
        ssize = sizes[r.below(3)]
        lim = {1: 0x80, 2: 0x80, 4: 0x4000}
        dest = A(r.below(lim[dsize]), None if dsize == 1 else r.below(lim[dsize]), dsize)
        src = A(r.below(lim[ssize]), None if ssize == 1 else r.below(lim[ssize]), ssize)
        ctl = r.below(256)
        n = (0, 0, 1, 2, 5, 30, 120, 300)[r.below(8)]
        # info rich in flag octets and format-field lookalikes
        info = bytes((0x7E, 0xA0, 0xA8, r.next() & 0xFF)[r.below(4)] for _ in range(n))
        return hdlc.encode(dest, src, ctl, info, segmented=bool(r.below(2)))

    def _noise(self, r, n):
        alphabet = (0x7E, 0x7E, 0xA0, 0xA1, 0x07, 0x03, 0x21, 0x93)
        return bytes(alphabet[r.below(8)] if r.below(2) else r.next() & 0xFF for _ in range(n))

    def test_random_bytes_never_raise(self):
        r = Rng(2024)
        fr = hdlc.Framer(max_frame=300, capacity=400)
        for _ in range(60):
            fr.receive_data(self._noise(r, r.below(120)))
            _drain(fr)
            self.assertLessEqual(fr._end, 400)
        fr.receive_data(h(SNRM))
        self.assertEqual(_drain(fr)[-1].control, 0x93)

    def test_frames_in_noise_are_all_recovered(self):
        r = Rng(62056)
        stream = bytearray()
        sent = []
        for _ in range(60):
            kind = r.below(4)
            if kind == 0:
                stream += self._noise(r, r.below(40))
            elif kind == 1:  # a frame cut short (before its FCS ends)
                f = self._random_frame(r)
                stream += f[: 1 + r.below(len(f) - 2)]
            elif kind == 2:  # a frame with one octet flipped
                f = bytearray(self._random_frame(r))
                f[1 + r.below(len(f) - 2)] ^= 1 << r.below(8)
                stream += f
            f = self._random_frame(r)
            sent.append(hdlc.decode_frame(f))
            if r.below(3) == 0 and stream and stream[-1] == 0x7E:
                f = f[1:]  # share the flag
            stream += f
        expected = [_key(f) for f in sent]
        for step in (0, 1, 13, 256):
            got = []
            if step:
                fr = hdlc.Framer()
                for i in range(0, len(stream), step):
                    fr.receive_data(stream[i : i + step])
                    got += [_key(f) for f in _drain(fr)]
            else:  # all at once, into a buffer that holds it all
                fr = hdlc.Framer(capacity=len(stream))
                fr.receive_data(stream)
                got = [_key(f) for f in _drain(fr)]
            fr.timeout()  # the line goes quiet: a frame after a cut one comes out
            got += [_key(f) for f in _drain(fr)]
            self.assertEqual(fr.overflows, 0)
            self.assertEqual(len(got), len(expected), "step %d" % step)
            self.assertEqual(got, expected)
            self.assertEqual(fr.frames, len(expected))

    def test_buffer_bound(self):
        fr = hdlc.Framer(max_frame=64, capacity=100)
        size = len(fr._buf)
        r = Rng(5)
        for _ in range(50):
            fr.receive_data(self._noise(r, r.below(90)))
            _drain(fr)
            self.assertLessEqual(fr._end - fr._start, 100)
        # a chunk bigger than the whole buffer keeps its newest octets
        fr.receive_data(bytes(500) + h(SNRM))
        self.assertEqual([f.control for f in _drain(fr)], [0x93])
        self.assertGreater(fr.overflows, 0)
        self.assertEqual(len(fr._buf), size)

    def test_undrained_chunks_overflow_oldest_first(self):
        fr = hdlc.Framer(max_frame=64, capacity=80)
        for _ in range(20):
            fr.receive_data(h(RR))  # never drained
        self.assertLessEqual(fr._end - fr._start, 80)
        got = _drain(fr)
        self.assertGreater(len(got), 0)
        self.assertEqual(got[-1].control, 0x31)  # the newest survive
        self.assertGreater(fr.overflows, 0)

    def test_chunk_that_fits_is_never_lost(self):
        # After draining, any chunk up to capacity - max_frame + 1 fits.
        fr = hdlc.Framer(max_frame=80, capacity=120)
        frame = hdlc.encode(A(1), A(16), 0x10, bytes(60))
        self.assertEqual(len(frame), 71)
        for _ in range(10):
            fr.receive_data(frame[:40])
            self.assertEqual(_drain(fr), [])
            self.assertLessEqual(fr.space(), 120)
            fr.receive_data(frame[40:] + frame[:1])
            self.assertEqual(len(_drain(fr)), 1)
            fr.reset()
        self.assertEqual(fr.overflows, 0)
