# runtime: cpython-only -- gurux-dlms and hypothesis are CPython libraries
"""HDLC framing against gurux-dlms's own (GXDLMS.getHdlcFrame / getHdlcData).

Gurux writes a server address as one integer: the upper address for one
byte, ``upper << 7 | lower`` for two and ``upper << 14 | lower`` for four
(GXDLMSClient.getServerAddress); ``serverAddressSize`` forces the size.
"""

import unittest

import test_hdlc as vectors
from dlms import hdlc
from dlms.errors import DecodeError
from gurux_dlms.enums import InterfaceType, RequestTypes
from gurux_dlms.GXByteBuffer import GXByteBuffer
from gurux_dlms.GXDLMS import GXDLMS
from gurux_dlms.GXDLMSClient import GXDLMSClient
from gurux_dlms.GXDLMSSettings import GXDLMSSettings
from gurux_dlms.GXReplyData import GXReplyData
from hypothesis import given, settings
from hypothesis import strategies as st
from support import h, hx

A = hdlc.encode_address


def gurux_address(upper, lower=None, size=1):
    if size == 1:
        return upper
    return (upper << 7 | lower) if size == 2 else (upper << 14 | lower)


def gurux_settings(server, client=16, upper=1, lower=None, size=1):
    s = GXDLMSSettings(server, None)
    s.interfaceType = InterfaceType.HDLC
    s.clientAddress = client
    s.serverAddress = gurux_address(upper, lower, size)
    s.serverAddressSize = size
    return s


def gurux_frame(server, control, info=None, **addr):
    """The frame gurux builds; server=True for server -> client."""
    s = gurux_settings(server, **addr)
    data = GXByteBuffer(bytes(info)) if info else None
    return bytes(GXDLMS.getHdlcFrame(s, control, data))


def gurux_parse(frame):
    """(target, source, control, segmented, info without LLC) as gurux reads them."""
    s = GXDLMSSettings(True, None)  # addresses 0: accept and record any
    s.interfaceType = InterfaceType.HDLC
    reply = GXByteBuffer(bytes(frame))
    data = GXReplyData()
    data.xml = True  # as gurux's translator does: no N(S)/N(R) checks
    control = GXDLMS.getHdlcData(True, s, reply, data, None)
    assert data.complete
    info = b""
    if data.packetLength > reply.position:
        info = bytes(reply.array()[reply.position : data.packetLength])
    segmented = bool(data.moreData & RequestTypes.FRAME)
    return s.serverAddress, s.clientAddress, control, segmented, info


def our_view(f):
    """The same tuple from our decoding, for comparison with gurux_parse."""
    info = bytes(f.info)
    for llc in (hdlc.LLC_COMMAND, hdlc.LLC_RESPONSE):
        if hdlc.has_llc(info, llc):
            info = info[3:]
            break
    return gurux_address(*f.dest), gurux_address(*f.src), f.control, f.segmented, info


def client(upper=1, lower=None, size=1, **hdlc_settings):
    c = GXDLMSClient(True, 16, gurux_address(upper, lower, size))
    c.serverAddressSize = size
    for k, v in hdlc_settings.items():
        setattr(c.hdlcSettings, k, v)
    return c


def gurux_parameters(tx, rx, wtx, wrx):
    # GXDLMSServer.handleSnrmRequest's layout (max info lengths through
    # appendHdlcParameter, windows in 4 octets), with the group length right.
    b = GXByteBuffer()
    b.set(bytes((0x81, 0x80, 0)))
    b.setUInt8(5)
    GXDLMS.appendHdlcParameter(b, tx)
    b.setUInt8(6)
    GXDLMS.appendHdlcParameter(b, rx)
    b.setUInt8(7)
    b.setUInt8(4)
    b.setUInt32(wtx)
    b.setUInt8(8)
    b.setUInt8(4)
    b.setUInt32(wrx)
    b.setUInt8(len(b) - 3, 2)
    return bytes(b.array())


ADDRESSES = ((1, None, 1), (1, 17, 2), (0x7F, 0x7F, 2), (1, 0x1234, 4), (0x21, 0x3001, 4))
AARQ_APDU = h(vectors.AARQ)[11:-3]


class TestGuruxBuildsOurFrames(unittest.TestCase):
    def test_snrm(self):
        for upper, lower, size in ADDRESSES:
            ours = hdlc.encode(A(upper, lower, size), A(16), hdlc.control(hdlc.SNRM))
            self.assertEqual(hx(client(upper, lower, size).snrmRequest()), hx(ours))
        self.assertEqual(hx(client().snrmRequest()), vectors.SNRM)
        self.assertEqual(hx(client(1, 17, 2).snrmRequest()), vectors.SNRM_2)
        self.assertEqual(hx(client(1, 0x1234, 4).snrmRequest()), vectors.SNRM_4)

    def test_snrm_with_parameters(self):
        for tx, rx, wtx, wrx in ((512, 128, 1, 7), (128, 64, 1, 1), (2030, 2030, 7, 7)):
            c = client(maxInfoTX=tx, maxInfoRX=rx, windowSizeTX=wtx, windowSizeRX=wrx)
            info = hdlc.encode_parameters(tx, rx, wtx, wrx, sizes=(0, 0, 4, 4), omit_defaults=True)
            ours = hdlc.encode(A(1), A(16), 0x93, info)
            self.assertEqual(hx(c.snrmRequest()), hx(ours))
        c = client(maxInfoTX=512, windowSizeRX=7)
        self.assertEqual(hx(c.snrmRequest()), vectors.SNRM_PARAMS)

    def test_ua(self):
        for tx, rx, wtx, wrx in ((128, 128, 1, 1), (1024, 512, 7, 1), (2030, 32, 3, 7)):
            info = hdlc.encode_parameters(tx, rx, wtx, wrx, sizes=(0, 0, 4, 4))
            self.assertEqual(hx(info), hx(gurux_parameters(tx, rx, wtx, wrx)))
            for upper, lower, size in ADDRESSES:
                theirs = gurux_frame(True, 0x73, info, upper=upper, lower=lower, size=size)
                ours = hdlc.encode(A(16), A(upper, lower, size), 0x73, info)
                self.assertEqual(hx(theirs), hx(ours))
        self.assertEqual(hx(gurux_frame(True, 0x73, h(vectors.UA)[8:-3])), vectors.UA)

    def test_aarq(self):
        for upper, lower, size in ADDRESSES:
            frames = client(upper, lower, size).aarqRequest()
            self.assertEqual(len(frames), 1)
            ours = hdlc.encode(A(upper, lower, size), A(16), 0x10, hdlc.LLC_COMMAND + AARQ_APDU)
            self.assertEqual(hx(frames[0]), hx(ours))
        self.assertEqual(hx(client().aarqRequest()[0]), vectors.AARQ)

    def test_segmented_aarq(self):
        # gurux fills the first segment 3 octets short of the maximum (it
        # takes the LLC off the room twice), the others to the maximum.
        for max_info in (16, 20, 32):
            for upper, lower, size in ADDRESSES:
                frames = client(upper, lower, size, maxInfoTX=max_info).aarqRequest()
                info = hdlc.LLC_COMMAND + AARQ_APDU
                cuts = [0, max_info - 3]
                while cuts[-1] + max_info < len(info):
                    cuts.append(cuts[-1] + max_info)
                cuts.append(len(info))
                self.assertEqual(len(frames), len(cuts) - 1)
                for i in range(len(frames)):
                    ctl = hdlc.control(hdlc.I_FRAME, ns=i)
                    part = info[cuts[i] : cuts[i + 1]]
                    ours = hdlc.encode(A(upper, lower, size), A(16), ctl, part, i < len(frames) - 1)
                    self.assertEqual(hx(frames[i]), hx(ours))

    def test_server_i_frames(self):
        info = h(vectors.AARE_INFO)
        for nr, ns in ((1, 0), (2, 1), (7, 7)):
            ctl = hdlc.control(hdlc.I_FRAME, nr, ns)
            for upper, lower, size in ADDRESSES:
                theirs = gurux_frame(True, ctl, info, upper=upper, lower=lower, size=size)
                self.assertEqual(
                    hx(theirs), hx(hdlc.encode(A(16), A(upper, lower, size), ctl, info))
                )
        self.assertEqual(hx(gurux_frame(True, 0x30, info)), vectors.AARE)
        self.assertEqual(
            hx(gurux_frame(True, 0x30, info, upper=1, lower=17, size=2)), vectors.AARE_2
        )
        four = gurux_frame(True, 0x30, info, upper=0x21, lower=0x3001, size=4)
        self.assertEqual(hx(four), vectors.AARE_4)

    def test_server_segments(self):
        # gurux's server cuts a long reply into segmented frames, every one of
        # them 3 octets short of maxInfoTX (the room it keeps for the LLC).
        s = gurux_settings(True)
        s.hdlc.maxInfoTX = 32
        data = GXByteBuffer(bytes(range(100)))
        frames = []
        while len(data):
            frames.append(bytes(GXDLMS.getHdlcFrame(s, 0x30, data)))
        sizes = [len(hdlc.decode_frame(f).info) for f in frames]
        self.assertEqual(sizes, [29, 29, 29, 13])
        pos = 0
        for i, f in enumerate(frames):
            part = bytes(range(100))[pos : pos + sizes[i]]
            pos += sizes[i]
            ours = hdlc.encode(A(16), A(1), 0x30, part, segmented=i < 3)
            self.assertEqual(hx(f), hx(ours))

    def test_supervisory_and_unnumbered(self):
        c = client()
        c.snrmRequest()
        self.assertEqual(hx(c.disconnectRequest(True)), vectors.DISC)
        s = gurux_settings(False)
        rr = GXDLMS.receiverReady(s, RequestTypes.FRAME)
        f = hdlc.decode_frame(rr)
        self.assertEqual(f.kind, hdlc.RR)
        self.assertEqual(hx(rr), hx(hdlc.encode(A(1), A(16), hdlc.control(hdlc.RR, f.nr))))
        for ctl, text in ((0x31, vectors.RR), (0x55, vectors.RNR), (0x53, vectors.DISC)):
            self.assertEqual(hx(gurux_frame(False, ctl)), text)
        for ctl, text in ((0x1F, vectors.DM),):
            self.assertEqual(hx(gurux_frame(True, ctl)), text)
        self.assertEqual(hx(gurux_frame(True, 0x97, h("10 00 00"))), vectors.FRMR)
        self.assertEqual(hx(gurux_frame(True, 0x03, h("01 02"))), vectors.UI_NO_PF)

    def test_gurux_length_bug(self):
        # gurux computes the top three length bits from addresses + info only,
        # without the 7 octets of format, control, HCS and FCS: a frame whose
        # length is 256..262 with addresses + info under 256 gets a length
        # field 256 too small. Ours is right; theirs does not decode.
        s = gurux_settings(True)
        s.hdlc.maxInfoTX = 512
        for n in (246, 247, 250, 253, 254):
            theirs = bytes(GXDLMS.getHdlcFrame(s, 0x30, GXByteBuffer(bytes(n))))
            ours = hdlc.encode(A(16), A(1), 0x30, bytes(n))
            self.assertEqual(len(theirs), len(ours))
            wrong = 247 <= n <= 253  # 2 address octets + n < 256 <= 9 + n
            self.assertEqual(ours[1], 0xA0 if n == 246 else 0xA1)
            self.assertEqual(theirs[1], 0xA0 if n == 246 or wrong else 0xA1)
            if wrong:
                with self.assertRaises(DecodeError):
                    hdlc.decode_frame(theirs)
            else:
                self.assertEqual(theirs, ours)


class TestGuruxReadsOurFrames(unittest.TestCase):
    def test_vectors(self):
        names = ("SNRM", "SNRM_2", "SNRM_4", "SNRM_PARAMS", "UA", "AARQ", "AARE", "AARE_2")
        names += ("AARE_4", "RR", "RNR", "DISC", "DM", "FRMR", "UI_NO_PF", "KAIFA", "KAMSTRUP")
        names += ("HAN_7E",)
        for name in names:
            frame = h(getattr(vectors, name))
            self.assertEqual(gurux_parse(frame), our_view(hdlc.decode_frame(frame)), name)
        for text in vectors.AARQ_SEGMENTS:
            frame = h(text)
            self.assertEqual(gurux_parse(frame), our_view(hdlc.decode_frame(frame)))

    def test_addresses(self):
        for upper, lower, size in ADDRESSES + ((0x3FFF, 0x3FFF, 4), (0, 1, 2), (0x7F, None, 1)):
            frame = hdlc.encode(A(upper, lower, size), A(16), 0x10, b"\xe6\xe6\x00\x01")
            target, source, ctl, seg, info = gurux_parse(frame)
            self.assertEqual(target, gurux_address(upper, lower, size))
            self.assertEqual((source, ctl, seg, info), (16, 0x10, False, b"\x01"))

    def test_ua_parameters(self):
        # The client takes the server's transmit values as its receive ones.
        for values in ((128, 128, 1, 1), (1024, 256, 7, 3), (2030, 64, 1, 7)):
            for sizes in (None, (0, 0, 4, 4), (2, 2, 1, 1), (4, 4, 4, 4)):
                c = client()
                c.snrmRequest()
                c.parseUAResponse(GXByteBuffer(hdlc.encode_parameters(*values, sizes=sizes)))
                hs = c.hdlcSettings
                got = (hs.maxInfoRX, hs.maxInfoTX, hs.windowSizeRX, hs.windowSizeTX)
                self.assertEqual(got, values)

    def test_gurux_ua_group_length(self):
        # GXDLMSServer.handleSnrmRequest (1.0.203) writes the group length with
        # setUInt8's arguments swapped: the length stays 0 and a 2 lands inside
        # the receive window. Gurux's own parser ignores the group length; ours
        # honours it and reads the defaults.
        b = GXByteBuffer(gurux_parameters(128, 128, 1, 1))
        b.setUInt8(0, 2)
        b.setUInt8(2, len(b) - 3)  # the server's call
        field = bytes(b.array())
        self.assertEqual(hx(field[:3]), "81 80 00")
        self.assertEqual(hdlc.decode_parameters(field), (128, 128, 1, 1))


addresses = st.one_of(
    st.tuples(st.integers(0, 0x7F), st.none(), st.just(1)),
    st.tuples(st.integers(0, 0x7F), st.integers(0, 0x7F), st.just(2)),
    st.tuples(st.integers(0, 0x3FFF), st.integers(0, 0x3FFF), st.just(4)),
)
frames = st.tuples(
    addresses, addresses, st.integers(0, 255), st.binary(max_size=300), st.booleans()
)


def _encode(t):
    dest, src, ctl, info, seg = t
    return hdlc.encode(A(*dest), A(*src), ctl, info, seg)


def _key(f):
    return (f.dest, f.src, f.control, bytes(f.info), f.segmented)


class TestProperties(unittest.TestCase):
    @settings(max_examples=200, deadline=None)
    @given(frames)
    def test_round_trip(self, t):
        dest, src, ctl, info, seg = t
        f = hdlc.decode_frame(_encode(t))
        self.assertEqual((f.dest, f.src, f.control, bytes(f.info), f.segmented), t)
        kind, nr, ns, pf = hdlc.decode_control(ctl)
        self.assertEqual((f.kind, f.nr, f.ns, f.pf), (kind, nr, ns, pf))

    @settings(max_examples=200, deadline=None)
    @given(frames.filter(lambda t: t[2] & 1 == 0))
    def test_gurux_reads_i_frames(self, t):
        frame = _encode(t)
        self.assertEqual(gurux_parse(frame), our_view(hdlc.decode_frame(frame)))

    @settings(max_examples=200, deadline=None)
    @given(
        st.lists(st.tuples(frames, st.binary(max_size=40), st.booleans()), max_size=8),
        st.lists(st.integers(1, 256), min_size=1, max_size=50),
    )
    def test_stream_with_garbage(self, items, cuts):
        stream = bytearray()
        expected = []
        for t, garbage, share in items:
            f = _encode(t)
            stream += garbage
            if share and stream and stream[-1] == 0x7E:
                f = f[1:]
            stream += f
            expected.append(t)
        fr = hdlc.Framer()
        got = []
        pos = 0
        i = 0
        while pos < len(stream):
            n = cuts[i % len(cuts)]
            i += 1
            fr.receive_data(bytes(stream[pos : pos + n]))
            pos += n
            got += [_key(f) for f in vectors._drain(fr)]  # info is a view: copy now
        fr.timeout()
        got += [_key(f) for f in vectors._drain(fr)]
        self.assertEqual(got, expected)
        self.assertEqual(fr.overflows, 0)
