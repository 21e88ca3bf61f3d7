"""The HDLC data link of the server (IEC 62056-46 6.4.4), sans-IO: frames in, frames out."""

import unittest

from dlms import axdr, hdlc, obis, xdlms
from dlms.hdlc_client import HdlcClientLink, LinkError
from dlms.hdlc_link import HdlcServerLink
from model import build
from support import Rng, h

AARQ = h(
    "60 1D A1 09 06 07 60 85 74 05 08 01 01 BE 10 04 0E 01 00 00 00 06 5F 1F 04 00 00 7E 1F 04 B0"
)
CLIENT = hdlc.encode_address(16)
SERVER2 = hdlc.encode_address(1, 16)  # upper 1, lower 16, two bytes


def frames(data):
    """Decode every frame in a byte string."""
    f = hdlc.Framer()
    f.receive_data(data)
    out = []
    while True:
        fr = f.next_frame()
        if fr is None:
            return out
        fr.info = bytes(fr.info)
        out.append(fr)


def get_ldn(invoke=0xC1):
    w = axdr.Writer(64)
    xdlms.get_request_normal(w, invoke, 1, obis.parse("0.0.42.0.0.255"), 2)
    return bytes(w.getvalue())


class TestServerLink(unittest.TestCase):
    def setUp(self):
        self.link = HdlcServerLink(build(max_pdu=1024), physical_address=16, max_info=256, window=7)

    def send(self, control, info=b"", dest=SERVER2, segmented=False):
        self.link.receive_data(hdlc.encode(dest, CLIENT, control, info, segmented))
        return frames(self.link.data_to_send())

    def connect(self, params=b""):
        out = self.send(hdlc.control(hdlc.SNRM), params)
        self.assertEqual(len(out), 1)
        self.assertEqual(out[0].kind, hdlc.UA)
        return hdlc.decode_parameters(out[0].info)

    def test_snrm_without_parameters_gives_the_defaults(self):
        # gurux's SNRM: 7E A0 08 02 21 21 93 ... (no information field)
        self.assertEqual(self.connect(), (128, 128, 1, 1))

    def test_snrm_negotiation(self):
        # client: transmits up to 512, receives up to 200, windows 3 / 2
        params = hdlc.encode_parameters(512, 200, 3, 2)
        # we transmit min(200, 256), receive min(512, 256), window tx 2, rx 3
        self.assertEqual(self.connect(params), (200, 256, 2, 3))

    def test_ua_answers_in_the_client_address_form(self):
        out = self.send(hdlc.control(hdlc.SNRM))
        self.assertEqual(out[0].src, (1, 16, 2))
        self.assertEqual(out[0].dest, (16, None, 1))
        out = self.send(hdlc.control(hdlc.SNRM), dest=hdlc.encode_address(1, 16, 4))
        self.assertEqual(out[0].src, (1, 16, 4))
        out = self.send(hdlc.control(hdlc.SNRM), dest=hdlc.encode_address(1))
        self.assertEqual(out[0].src, (1, None, 1))

    def test_other_physical_address_is_ignored(self):
        # multi-drop: a frame for meter 17 gets no answer from meter 16
        self.assertEqual(self.send(hdlc.control(hdlc.SNRM), dest=hdlc.encode_address(1, 17)), [])

    def test_broadcast_is_never_answered(self):
        self.assertEqual(self.send(hdlc.control(hdlc.SNRM), dest=hdlc.encode_address(1, 0x7F)), [])

    def test_i_frame_in_ndm_gets_dm(self):
        out = self.send(hdlc.control(hdlc.I_FRAME), hdlc.LLC_COMMAND + AARQ)
        self.assertEqual(out[0].kind, hdlc.DM)

    def test_disc(self):
        self.assertEqual(self.send(hdlc.control(hdlc.DISC))[0].kind, hdlc.DM)
        self.connect()
        self.assertEqual(self.send(hdlc.control(hdlc.DISC))[0].kind, hdlc.UA)
        self.assertEqual(self.link.connected(), 0)

    def test_association_over_i_frames(self):
        self.connect()
        out = self.send(hdlc.control(hdlc.I_FRAME, 0, 0), hdlc.LLC_COMMAND + AARQ)
        self.assertEqual(len(out), 1)
        f = out[0]
        self.assertEqual((f.kind, f.ns, f.nr, f.pf, f.segmented), (hdlc.I_FRAME, 0, 1, True, False))
        self.assertEqual(f.info[:3], hdlc.LLC_RESPONSE)
        self.assertEqual(f.info[3], 0x61)  # AARE
        out = self.send(hdlc.control(hdlc.I_FRAME, 1, 1), hdlc.LLC_COMMAND + get_ldn())
        self.assertEqual(out[0].info[3:], h("C4 01 C1 00 09 10") + b"MPY0000000000001")
        self.assertEqual((out[0].ns, out[0].nr), (1, 2))

    def test_wrong_sequence_number_is_refused(self):
        self.connect()
        out = self.send(hdlc.control(hdlc.I_FRAME, 0, 3), hdlc.LLC_COMMAND + AARQ)
        self.assertEqual((out[0].kind, out[0].nr), (hdlc.RR, 0))

    def test_segmented_request(self):
        self.connect()
        data = hdlc.LLC_COMMAND + AARQ
        out = self.send(hdlc.control(hdlc.I_FRAME, 0, 0), data[:20], segmented=True)
        self.assertEqual((out[0].kind, out[0].nr), (hdlc.RR, 1))
        out = self.send(hdlc.control(hdlc.I_FRAME, 0, 1), data[20:])
        self.assertEqual(out[0].info[3], 0x61)

    def test_segmented_response_with_rr(self):
        # window 1, 128-octet info fields: the 500-element array comes in segments
        self.connect()
        self.send(hdlc.control(hdlc.I_FRAME, 0, 0), hdlc.LLC_COMMAND + AARQ)
        w = axdr.Writer(64)
        xdlms.get_request_normal(w, 0xC1, 1, obis.parse("0.0.128.0.0.255"), 2)
        out = self.send(hdlc.control(hdlc.I_FRAME, 1, 1), hdlc.LLC_COMMAND + bytes(w.getvalue()))
        data = bytearray()

        count = 0
        while True:
            self.assertEqual(len(out), 1)
            f = out[0]
            self.assertLessEqual(len(f.info), 128)
            data += f.info
            count += 1
            if not f.segmented:
                break
            out = self.send(hdlc.control(hdlc.RR, (f.ns + 1) & 7))
        self.assertGreater(count, 1)
        self.assertEqual(bytes(data[:3]), hdlc.LLC_RESPONSE)
        self.assertEqual(bytes(data[3:5]), h("C4 02"))  # the first block of a GET

    def test_rnr_holds_the_segments_until_rr(self):
        # the client is busy (RNR): the server acknowledges and sends nothing
        # more until an RR asks for the rest
        self.connect()
        self.send(hdlc.control(hdlc.I_FRAME, 0, 0), hdlc.LLC_COMMAND + AARQ)
        w = axdr.Writer(64)
        xdlms.get_request_normal(w, 0xC1, 1, obis.parse("0.0.128.0.0.255"), 2)
        out = self.send(hdlc.control(hdlc.I_FRAME, 1, 1), hdlc.LLC_COMMAND + bytes(w.getvalue()))
        first = out[0]
        self.assertTrue(first.segmented)
        # the poll (P=1) is answered, with RR: no I frame while it is busy
        out = self.send(hdlc.control(hdlc.RNR, (first.ns + 1) & 7))
        self.assertEqual([(f.kind, f.pf) for f in out], [(hdlc.RR, True)])
        out = self.send(hdlc.control(hdlc.RNR, (first.ns + 1) & 7, pf=False))
        self.assertEqual(out, [])
        out = self.send(hdlc.control(hdlc.RR, (first.ns + 1) & 7))
        self.assertEqual(len(out), 1)
        self.assertEqual(out[0].kind, hdlc.I_FRAME)
        self.assertEqual(out[0].ns, (first.ns + 1) & 7)

    def test_window_of_three(self):
        self.connect(hdlc.encode_parameters(128, 128, 3, 3))
        self.send(hdlc.control(hdlc.I_FRAME, 0, 0), hdlc.LLC_COMMAND + AARQ)
        w = axdr.Writer(64)
        xdlms.get_request_normal(w, 0xC1, 1, obis.parse("0.0.128.0.0.255"), 2)
        out = self.send(hdlc.control(hdlc.I_FRAME, 1, 1), hdlc.LLC_COMMAND + bytes(w.getvalue()))
        self.assertEqual(len(out), 3)
        self.assertEqual([f.pf for f in out], [False, False, True])
        self.assertEqual([f.ns for f in out], [1, 2, 3])
        out = self.send(hdlc.control(hdlc.RR, 4))
        self.assertEqual(out[0].ns, 4)

    def test_rr_poll_without_data(self):
        self.connect()
        out = self.send(hdlc.control(hdlc.RR, 0))
        self.assertEqual((out[0].kind, out[0].nr), (hdlc.RR, 0))

    def test_undefined_control_gets_frmr(self):
        self.connect()
        out = self.send(0x0D | 0x10)  # REJ is not used by 62056-46
        self.assertEqual(out[0].kind, hdlc.FRMR)
        self.assertEqual(len(out[0].info), 3)

    def test_info_too_long_gets_frmr(self):
        self.connect()  # 128 octets receive
        out = self.send(hdlc.control(hdlc.I_FRAME), bytes(200))
        self.assertEqual(out[0].kind, hdlc.FRMR)

    def test_inactivity_timeout(self):
        self.link.receive_data(hdlc.encode(SERVER2, CLIENT, hdlc.control(hdlc.SNRM)), 1000)
        self.link.data_to_send()
        self.link.poll(1000 + 119000)
        self.assertEqual(self.link.connected(), 1)
        self.link.poll(1000 + 121000)
        self.assertEqual(self.link.connected(), 0)

    def test_inter_octet_timeout_drops_a_partial_frame(self):
        f = hdlc.encode(SERVER2, CLIENT, hdlc.control(hdlc.SNRM))
        self.link.receive_data(f[:5], 0)
        self.link.poll(1000)
        self.link.receive_data(f[5:], 1000)
        self.assertEqual(self.link.data_to_send(), b"")
        self.link.receive_data(f, 1100)
        self.assertEqual(frames(self.link.data_to_send())[0].kind, hdlc.UA)

    def test_ui_poll_answered_when_connected(self):
        self.connect()
        out = self.send(hdlc.control(hdlc.UI))
        self.assertEqual([(f.kind, f.pf) for f in out], [(hdlc.RR, True)])

    def test_information_field_under_32_refused(self):
        # an HDLC setup allows 32 to 2030: a client that can take less
        # could not be answered within its limit
        for tx, rx in ((0, 128), (128, 2), (31, 31)):
            out = self.send(hdlc.control(hdlc.SNRM), hdlc.encode_parameters(tx, rx, 1, 1))
            self.assertEqual([f.kind for f in out], [hdlc.DM], (tx, rx))
        self.assertEqual(self.link.connected(), 0)
        self.assertEqual(self.connect(hdlc.encode_parameters(32, 32, 1, 1))[:2], (32, 32))

    def test_frames_from_no_station_or_all_stations_ignored(self):
        for client in (hdlc.NO_STATION, hdlc.ALL_STATION):
            frame = hdlc.encode(SERVER2, hdlc.encode_address(client), hdlc.control(hdlc.SNRM))
            self.link.receive_data(frame)
            self.assertEqual(self.link.data_to_send(), b"")

    def test_two_meters_with_one_octet_addresses_do_not_answer_each_other(self):
        # A client on a shared pair with one-octet addresses: client 1 and
        # logical device 1 are both 03, so each meter's answer to client 1
        # looks like client 1's frame to the other. Answers are responses
        # (UA, DM), which a server never acts on: no endless FRMR or DM.
        links = [HdlcServerLink(build(), physical_address=a) for a in (16, 17)]
        me, ld = hdlc.encode_address(1), hdlc.encode_address(1)
        for control in (hdlc.control(hdlc.SNRM), hdlc.control(hdlc.DISC), hdlc.control(hdlc.DISC)):
            pending = [(None, hdlc.encode(ld, me, control))]
            sent = 0
            while pending and sent < 20:
                sender, data = pending.pop(0)
                for link in links:
                    if link is not sender:
                        link.receive_data(data)
                for link in links:
                    out = link.data_to_send()
                    if out:
                        sent += 1
                        pending.append((link, bytes(out)))
            self.assertEqual(sent, 2, control)  # each meter answered the client once
        self.assertEqual([link.frmr_sent for link in links], [0, 0])

    def test_noise_never_breaks_the_link(self):
        rng = Rng(9)
        self.connect()
        for _ in range(300):
            self.link.receive_data(rng.bytes(rng.below(64)))
        self.link.data_to_send()
        out = self.send(hdlc.control(hdlc.SNRM))
        self.assertEqual(out[0].kind, hdlc.UA)


class TestClientAgainstServer(unittest.TestCase):
    """Our client link and server link, wired back to back."""

    def pump(self, client, server, data):
        resp = None
        while data:
            server.receive_data(data)
            back = server.data_to_send()
            if not back:
                break
            resp = client.receive_data(back)
            data = client.data_to_send()
        return resp

    def session(self, max_info, window, size):
        server = HdlcServerLink(build(max_pdu=1024), 16, 512, 7)
        client = HdlcClientLink(16, 1, 16, size, max_info, window)
        self.assertEqual(self.pump(client, server, client.snrm()), b"")
        self.assertTrue(client.connected)
        aare = self.pump(client, server, client.request(AARQ))
        self.assertEqual(aare[0], 0x61)
        w = axdr.Writer(64)
        xdlms.get_request_normal(w, 0xC1, 1, obis.parse("0.0.128.0.0.255"), 2)
        first = self.pump(client, server, client.request(w.getvalue()))
        self.assertEqual(first[:2], h("C4 02"))
        self.pump(client, server, client.disc())
        self.assertFalse(client.connected)
        return first

    def test_sessions(self):
        for max_info, window, size in ((128, 1, 1), (128, 1, 2), (256, 1, 4), (512, 1, 2)):
            self.session(max_info, window, size)

    def test_the_snrm_is_sent_again_when_the_first_is_lost(self):
        # as after 62056-21 mode E, when the meter was still switching its
        # line: the first SNRM never arrives, the second is answered
        from dlms.hdlc_client import HdlcLinkTransport

        server = HdlcServerLink(build(), 16)

        class Lossy(HdlcLinkTransport):
            def __init__(self):
                self.sent = 0
                self.back = b""
                self._open(16, 1, 16, 2, 128, 1)

            def _send(self, data):
                self.sent += 1
                if self.sent > 1:
                    server.receive_data(data)
                    self.back += server.data_to_send()

            def _read(self):
                out, self.back = self.back, b""
                return out

            def _close(self):
                pass

        t = Lossy()
        self.assertEqual(t.sent, 2)
        self.assertTrue(t.link.connected)

    def test_dm_raises(self):
        client = HdlcClientLink(16, 1, 16)
        with self.assertRaises(LinkError):
            client.receive_data(hdlc.encode(CLIENT, SERVER2, hdlc.control(hdlc.DM)))


class TestRetransmission(unittest.TestCase):
    """A lost response frame is sent again when the client polls (ISO/IEC 13239)."""

    def setUp(self):
        self.link = HdlcServerLink(build(max_pdu=1024), physical_address=16, max_info=256)
        self.send(hdlc.control(hdlc.SNRM))
        self.send(hdlc.control(hdlc.I_FRAME, 0, 0), hdlc.LLC_COMMAND + AARQ)

    def send(self, control, info=b""):
        self.link.receive_data(hdlc.encode(SERVER2, CLIENT, control, info))
        return frames(self.link.data_to_send())

    def test_lost_single_frame_answer(self):
        first = self.send(hdlc.control(hdlc.I_FRAME, 1, 1), hdlc.LLC_COMMAND + get_ldn())
        # the client repeats its request (same N(S), same N(R)): the answer again
        again = self.send(hdlc.control(hdlc.I_FRAME, 1, 1), hdlc.LLC_COMMAND + get_ldn())
        self.assertEqual(len(again), 1)
        self.assertEqual((again[0].ns, again[0].info), (first[0].ns, first[0].info))

    def test_lost_segment(self):
        w = axdr.Writer(64)
        xdlms.get_request_normal(w, 0xC1, 1, obis.parse("0.0.128.0.0.255"), 2)
        seg1 = self.send(hdlc.control(hdlc.I_FRAME, 1, 1), hdlc.LLC_COMMAND + bytes(w.getvalue()))
        seg2 = self.send(hdlc.control(hdlc.RR, (seg1[0].ns + 1) & 7))
        # seg2 is lost: the same RR again
        again = self.send(hdlc.control(hdlc.RR, (seg1[0].ns + 1) & 7))
        self.assertEqual((again[0].ns, again[0].info), (seg2[0].ns, seg2[0].info))
        nxt = self.send(hdlc.control(hdlc.RR, (seg2[0].ns + 1) & 7))
        self.assertEqual(nxt[0].ns, (seg2[0].ns + 1) & 7)
