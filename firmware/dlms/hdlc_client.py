"""The client side of the HDLC data link (IEC 62056-46), sans-IO.

Used by the DLMS client (tools, gateway polling a meter): ``snrm()`` and
``disc()`` give frames to send, ``request(apdu)`` the I frames of an APDU
(with the LLC header, segmented to the negotiated length), and
``receive_data()`` digests what the meter sends: it returns the response
APDU when whole, and leaves in ``data_to_send()`` any RR the meter is
waiting for (segmented responses).
"""

from dlms import hdlc
from dlms.errors import DecodeError


class LinkError(Exception):
    pass


class HdlcClientLink:
    def __init__(self, client=16, server=1, physical=16, address_size=0, max_info=128, window=1):
        self.client = client
        self.dest = hdlc.encode_address(
            server, physical if address_size != 1 else None, address_size
        )
        self.src = hdlc.encode_address(client)
        self.max_info = max_info
        self.window = window
        self.max_info_tx = hdlc.DEFAULT_MAX_INFO
        self.max_info_rx = hdlc.DEFAULT_MAX_INFO
        self.window_tx = 1
        self.window_rx = 1
        self.vs = 0
        self.vr = 0
        self.framer = hdlc.Framer(hdlc.frame_size(max(max_info, 2030)))
        self._rx = bytearray()
        self._rest = b""
        self._out = bytearray()
        self.connected = False
        self.last_kind = None

    def _frame(self, control, info=b"", segmented=False):
        return hdlc.encode(self.dest, self.src, control, info, segmented)

    def snrm(self, send_parameters=True):
        info = b""
        if send_parameters:
            info = hdlc.encode_parameters(self.max_info, self.max_info, self.window, self.window)
        return self._frame(hdlc.control(hdlc.SNRM), info)

    def disc(self):
        return self._frame(hdlc.control(hdlc.DISC))

    def request(self, apdu):
        """The first I frame of an APDU; the other segments go out on the meter's RR
        (window 1), through ``data_to_send()``."""
        self._rest = hdlc.LLC_COMMAND + bytes(apdu)
        return self._next_segment()

    def _next_segment(self):
        data = self._rest
        chunk = data[: self.max_info_tx]
        self._rest = data[len(chunk) :]
        c = hdlc.control(hdlc.I_FRAME, self.vr, self.vs, True)
        self.vs = (self.vs + 1) & 7
        return self._frame(c, chunk, segmented=bool(self._rest))

    def data_to_send(self):
        out = bytes(self._out)
        self._out = bytearray()
        return out

    def receive_data(self, data):
        """Feed octets; returns the response APDU once whole, else None.

        After a UA the negotiated parameters are set and ``connected`` is
        True (``last_kind`` tells UA, DM, FRMR...)."""
        self.framer.receive_data(data)
        while True:
            f = self.framer.next_frame()
            if f is None:
                return None
            if f.dest[0] != self.client:
                continue
            self.last_kind = f.kind
            if f.kind == hdlc.UA:
                if not self.connected:
                    try:
                        tx, rx, wtx, wrx = hdlc.decode_parameters(f.info)
                    except DecodeError:
                        tx, rx, wtx, wrx = 128, 128, 1, 1
                    # the server's tx is our rx
                    self.max_info_rx, self.max_info_tx = tx, rx
                    self.window_rx, self.window_tx = wtx, wrx
                    self.connected = True
                    self.vs = self.vr = 0
                else:
                    self.connected = False
                return b""
            if f.kind in (hdlc.DM, hdlc.FRMR):
                self.connected = False
                raise LinkError("meter answered %s" % ("DM" if f.kind == hdlc.DM else "FRMR"))
            if f.kind == hdlc.RR:
                if self._rest:
                    self._out += self._next_segment()
                continue
            if f.kind == hdlc.I_FRAME:
                if f.ns != self.vr:
                    self._out += self._frame(hdlc.control(hdlc.RR, self.vr))
                    continue
                self.vr = (self.vr + 1) & 7
                self._rx += f.info
                if f.segmented:
                    if f.pf:
                        self._out += self._frame(hdlc.control(hdlc.RR, self.vr))
                    continue
                data = self._rx
                self._rx = bytearray()
                if not hdlc.has_llc(data, hdlc.LLC_RESPONSE):
                    raise LinkError("response without the LLC header")
                return bytes(data[3:])


class HdlcLinkTransport:
    """A blocking transport for dlms.client.Client over an HDLC link: SNRM/UA,
    I frames with RR for segments, DISC. Subclasses give ``_send(data)``,
    ``_read()`` (octets, or b"" when the line is gone or silent) and
    ``_close()``: a socket or pyserial (tools/), a UART (the gateway)."""

    def _open(self, client, server, physical, address_size, max_info, window, tries=3):
        """SNRM until a UA, ``tries`` times: a meter that was still switching
        its line (62056-21 mode E) or missed the frame gets it again."""
        self.link = HdlcClientLink(client, server, physical, address_size, max_info, window)
        for i in range(tries):
            self._send(self.link.snrm())
            try:
                self._wait()
                return
            except OSError:
                if i == tries - 1:
                    raise

    def _wait(self):
        while True:
            data = self._read()
            if not data:
                raise OSError("no answer from the meter")
            r = self.link.receive_data(data)
            out = self.link.data_to_send()
            if out:
                self._send(out)
            if r is not None:
                return r

    def exchange(self, apdu):
        self._send(self.link.request(apdu))
        return self._wait()

    def close(self):
        try:
            self._send(self.link.disc())
            self._wait()
        except OSError:
            pass
        self._close()
