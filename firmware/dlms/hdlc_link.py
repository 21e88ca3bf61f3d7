"""The server side of the HDLC data link (IEC 62056-46 6.4.4), sans-IO.

One ``HdlcServerLink`` per physical device (its lower HDLC address) on a
port: bytes in with ``receive_data()``, bytes out with ``data_to_send()``,
time passed in with ``poll(now_ms)``. Frames for another physical address are
ignored (multi-drop RS-485). Each data link connection, per client address
and upper address (logical device), owns its application association.

- SNRM negotiates the information-field lengths and window sizes (the smaller
  of both sides; the 62056-46 defaults 128 / 1 when the SNRM has no
  information field) and answers UA; DISC answers UA or DM.
- I frames are checked for N(S); segmented APDUs (S bit) are reassembled,
  acknowledged with RR when the client's window is full (P bit).
- Responses longer than the negotiated information field go out segmented,
  ``window`` frames at a time, the rest on the client's RR.
- Protocol errors answer FRMR; frames in NDM answer DM; the inactivity
  timeout drops the connection back to NDM, the inter-octet timeout drops a
  partial frame.
"""

import log
from micropython import const

from dlms import hdlc
from dlms.errors import BufferFull, DecodeError

_NDM_TIMEOUT_MS = const(120000)  # inactivity time-out, 62056-46 6.4.4.3.3 (default 120 s)
_INTER_OCTET_MS = const(200)
_LLC_LEN = const(3)
_MIN_INFO = const(32)  # HDLC setup (class 23) max info field lengths: 32 to 2030


class _Connection:
    def __init__(self, association, dest, src):
        self.association = association
        self.dest = dest  # encoded client address (our frames' destination)
        self.src = src  # encoded server address, in the client's form
        self.vs = 0
        self.vr = 0
        self.max_info_tx = hdlc.DEFAULT_MAX_INFO
        self.max_info_rx = hdlc.DEFAULT_MAX_INFO
        self.window_tx = 1
        self.window_rx = 1
        self.rx = bytearray()  # the APDU being reassembled (with its LLC)
        self.tx = None  # memoryview of the response still to send
        self.tx_first = True
        self.sent = []  # (N(S), info, segmented) of I frames not yet acknowledged


class HdlcServerLink:
    def __init__(
        self,
        server,
        physical_address=16,
        max_info=512,
        window=7,
        inactivity_ms=_NDM_TIMEOUT_MS,
        inter_octet_ms=_INTER_OCTET_MS,
    ):
        self.server = server
        self.physical_address = physical_address
        self.max_info = max_info  # what we can receive and send in one info field
        self.window = window
        self.inactivity_ms = inactivity_ms
        self.inter_octet_ms = inter_octet_ms
        self.framer = hdlc.Framer(hdlc.frame_size(max(max_info, hdlc.DEFAULT_MAX_INFO)))
        self._out = bytearray()
        self._conns = {}
        self._last_rx = None
        self._last_octet = None
        self.frmr_sent = 0
        self.closed = False  # an HDLC port never needs hanging up

    # -- sans-IO interface --------------------------------------------------------

    def receive_data(self, data, now_ms=None):
        if now_ms is not None:
            self._last_octet = now_ms
        self.framer.receive_data(data)
        self._frames_in(now_ms)

    def _frames_in(self, now_ms):
        while True:
            f = self.framer.next_frame()
            if f is None:
                break
            # A frame from a server (source longer than one octet: another
            # meter answering its client on a shared bus), a response (UA, DM,
            # FRMR: a secondary station only ever receives commands, ISO/IEC
            # 13239; with one-octet addresses another meter's answers to
            # client 1 look like client 1's frames to logical device 1), a
            # frame from no station or all stations, or one for another
            # physical address is none of ours, and does not keep us awake.
            kind = f.kind
            client = f.src[0]
            if f.src[2] != 1 or kind == hdlc.UA or kind == hdlc.DM or kind == hdlc.FRMR:
                continue
            if client == hdlc.NO_STATION or client == hdlc.ALL_STATION or not self._ours(f.dest):
                continue
            if now_ms is not None:
                self._last_rx = now_ms
            try:
                self._frame_in(f)
            except Exception as e:  # never let one frame take the port down
                log.error("HDLC frame handling failed: %r", e)

    def data_to_send(self):
        """What to send (bytes-like; the caller's from now on)."""
        out = self._out
        if not out:
            return b""
        self._out = bytearray()
        return out

    def poll(self, now_ms):
        """Apply the time-outs; call it now and then with a ms clock."""
        from compat import ticks_diff

        if self._last_octet is not None and self.framer.pending():
            if ticks_diff(now_ms, self._last_octet) > self.inter_octet_ms:
                self.framer.timeout()
                # whole frames the abandoned one held back are answered now,
                # not ahead of whatever the client sends next
                self._frames_in(now_ms)
        if self._conns and self._last_rx is not None:
            if ticks_diff(now_ms, self._last_rx) > self.inactivity_ms:
                log.info("HDLC inactivity time-out: back to NDM")
                self.close()

    def close(self):
        """The port is gone: every connection back to NDM, associations aborted."""
        for c in self._conns.values():
            if c.association is not None:
                c.association.abort()
        self._conns = {}
        self.framer.reset()

    def connected(self):
        return len(self._conns)

    # -- frames in ------------------------------------------------------------------

    def _ours(self, dest):
        upper, lower, size = dest
        if size == 1:
            return upper in self.server.devices or upper == hdlc.ALL_STATION
        if size == 2:
            broadcast = lower == hdlc.ALL_STATION
        else:
            broadcast = lower == 0x3FFF
        return lower == self.physical_address or broadcast

    def _frame_in(self, f):
        upper, lower, size = f.dest
        client = f.src[0]
        broadcast = upper == hdlc.ALL_STATION or (size == 2 and lower == hdlc.ALL_STATION)
        broadcast = broadcast or (size == 4 and (upper == 0x3FFF or lower == 0x3FFF))
        if broadcast:
            # 62056-46 6.4.2.2: all-station frames are never answered
            return
        key = (client, upper)
        conn = self._conns.get(key)
        kind = f.kind
        if kind == hdlc.SNRM:
            self._snrm(f, key, conn)
        elif kind == hdlc.DISC:
            src = hdlc.encode_address(upper, lower, size)
            dst = hdlc.encode_address(client)
            if conn is None:
                self._send(dst, src, hdlc.control(hdlc.DM))
            else:
                if conn.association is not None:
                    conn.association.abort()
                del self._conns[key]
                self._send(dst, src, hdlc.control(hdlc.UA))
        elif conn is None:
            if kind != hdlc.UI and f.pf:
                self._send(
                    hdlc.encode_address(client),
                    hdlc.encode_address(upper, lower, size),
                    hdlc.control(hdlc.DM),
                )
        elif kind == hdlc.I_FRAME:
            self._i_frame(f, conn)
        elif kind == hdlc.RR:
            self._ack(conn, f.nr)
            if conn.sent and f.pf:
                # polled with frames outstanding: the client lost them
                self._resend(conn)
            elif conn.tx is not None:
                self._send_window(conn)
            elif f.pf:
                self._send(conn.dest, conn.src, hdlc.control(hdlc.RR, conn.vr))
        elif kind == hdlc.RNR or kind == hdlc.UI:
            if kind == hdlc.RNR:
                self._ack(conn, f.nr)  # the client is busy: hold the rest until RR
            if f.pf:
                # a poll is answered (F=1), and after RNR without I frames
                self._send(conn.dest, conn.src, hdlc.control(hdlc.RR, conn.vr))
        else:
            self._frmr(conn, f.control, 0x01)  # W: undefined control field

    def _snrm(self, f, key, conn):
        upper, lower, size = f.dest
        if upper not in self.server.devices:
            return
        try:
            tx, rx, wtx, wrx = hdlc.decode_parameters(f.info)
        except DecodeError:
            tx = rx = hdlc.DEFAULT_MAX_INFO
            wtx = wrx = 1
        if tx < _MIN_INFO or rx < _MIN_INFO:
            # below the smallest information field an HDLC setup allows
            # (class 23: 32 to 2030): not a connection we could keep to
            log.warning("HDLC SNRM refused: information field %d/%d under %d", tx, rx, _MIN_INFO)
            self._send(
                hdlc.encode_address(f.src[0]),
                hdlc.encode_address(upper, lower, size),
                hdlc.control(hdlc.DM),
            )
            return
        if conn is not None and conn.association is not None:
            conn.association.abort()
        association = self.server.association(f.src[0], upper)
        conn = _Connection(
            association, hdlc.encode_address(f.src[0]), hdlc.encode_address(upper, lower, size)
        )
        # the client's transmit values bound what we receive, and vice versa
        conn.max_info_rx = min(tx, self.max_info)
        conn.max_info_tx = min(rx, self.max_info)
        conn.window_rx = max(1, min(wtx, self.window))
        conn.window_tx = max(1, min(wrx, self.window))
        self._conns[key] = conn
        ua = hdlc.encode_parameters(
            conn.max_info_tx, conn.max_info_rx, conn.window_tx, conn.window_rx
        )
        log.info(
            "HDLC connected: client %d, logical device %d, info %d/%d, window %d/%d",
            f.src[0],
            upper,
            conn.max_info_tx,
            conn.max_info_rx,
            conn.window_tx,
            conn.window_rx,
        )
        self._send(conn.dest, conn.src, hdlc.control(hdlc.UA), ua)

    def _ack(self, conn, nr):
        # N(R) acknowledges our frames before it; one not outstanding is ignored
        sent = conn.sent
        if nr != conn.vs and not any(e[0] == nr for e in sent):
            return
        while sent and sent[0][0] != nr:
            sent.pop(0)

    def _i_frame(self, f, conn):
        if f.ns != conn.vr:
            self._ack(conn, f.nr)
            if f.pf and f.ns == (conn.vr - 1) & 7 and conn.sent:
                # the request again: our answer was lost, send it again
                self._resend(conn)
            elif f.pf:
                # out of sequence: ask again for the expected frame
                self._send(conn.dest, conn.src, hdlc.control(hdlc.RR, conn.vr))
            return
        if len(f.info) > conn.max_info_rx:
            self._frmr(conn, f.control, 0x04)  # Y: information field too long
            return
        conn.vr = (conn.vr + 1) & 7
        self._ack(conn, f.nr)
        conn.tx = None  # a new request ends any response in progress
        conn.sent = []
        limit = self.server.max_pdu + _LLC_LEN
        if len(conn.rx) + len(f.info) > limit:
            conn.rx = bytearray()
            self._frmr(conn, f.control, 0x04)
            return
        conn.rx += f.info
        if f.segmented:
            if f.pf:
                self._send(conn.dest, conn.src, hdlc.control(hdlc.RR, conn.vr))
            return
        data = conn.rx
        conn.rx = bytearray()
        if not hdlc.has_llc(data, hdlc.LLC_COMMAND):
            log.warning("HDLC I frame without the LLC header: dropped")
            self._send(conn.dest, conn.src, hdlc.control(hdlc.RR, conn.vr))
            return
        response = None
        if conn.association is not None:
            response = conn.association.handle(memoryview(data)[_LLC_LEN:])
        if not response:
            self._send(conn.dest, conn.src, hdlc.control(hdlc.RR, conn.vr))
            return
        conn.tx = memoryview(response)
        conn.tx_first = True
        self._send_window(conn)

    # -- frames out -----------------------------------------------------------------

    def _send_window(self, conn):
        sent = len(conn.sent)
        while conn.tx is not None and sent < conn.window_tx:
            room = conn.max_info_tx
            if conn.tx_first:
                room -= _LLC_LEN
            chunk = conn.tx[:room]
            rest = conn.tx[room:]
            last = not len(rest)
            info = (hdlc.LLC_RESPONSE + bytes(chunk)) if conn.tx_first else bytes(chunk)
            conn.tx_first = False
            conn.tx = None if last else rest
            sent += 1
            final = last or sent >= conn.window_tx
            c = hdlc.control(hdlc.I_FRAME, conn.vr, conn.vs, final)
            conn.sent.append((conn.vs, info, not last))
            conn.vs = (conn.vs + 1) & 7
            self._send(conn.dest, conn.src, c, info, segmented=not last)

    def _resend(self, conn):
        last = len(conn.sent) - 1
        for i, (ns, info, segmented) in enumerate(conn.sent):
            c = hdlc.control(hdlc.I_FRAME, conn.vr, ns, i == last)
            self._send(conn.dest, conn.src, c, info, segmented)

    def _frmr(self, conn, rejected, flags):
        # FRMR information field: the rejected control field, V(S) and V(R),
        # and the W/X/Y/Z flags (ISO/IEC 13239 5.5.3.4.9)
        self.frmr_sent += 1
        info = bytes((rejected, (conn.vr << 5) | (conn.vs << 1), flags))
        self._send(conn.dest, conn.src, hdlc.control(hdlc.FRMR), info)

    # where every link encodes a frame before copying it out: one buffer for
    # all of them (grown to the longest frame sent), not one per link
    _frame = bytearray(hdlc.frame_size(hdlc.DEFAULT_MAX_INFO))

    def _send(self, dest, src, control, info=b"", segmented=False):
        buf = HdlcServerLink._frame
        try:
            n = hdlc.encode_frame(buf, 0, dest, src, control, info, segmented)
        except BufferFull:
            buf = HdlcServerLink._frame = bytearray(hdlc.frame_size(len(info)))
            n = hdlc.encode_frame(buf, 0, dest, src, control, info, segmented)
        self._out += memoryview(buf)[:n]
