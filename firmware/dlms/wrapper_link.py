"""The server side of the TCP wrapper (IEC 62056-47), sans-IO.

The same shape as ``hdlc_link.HdlcServerLink``: ``receive_data(bytes)``,
``data_to_send()``, ``poll(now_ms)``, ``close()``; ``closed`` turns True when
the stream can no longer be trusted (a wrong wrapper version) and the
transport must hang up. Each client/server wPort pair gets its association.

What ``data_to_send()`` returns is valid until the next call into the link.
An answer goes out where its association built it, with the wrapper header
written into the room the association keeps in front of it: nothing is
copied. Several answers to pipelined requests, or an answer made elsewhere,
are gathered in a response buffer the server lends (no allocation per
answer), which goes back at that next call.
"""

import log

from dlms import wrapper, xdlms
from dlms.errors import DecodeError


class WrapperServerLink:
    def __init__(self, server):
        self.server = server
        self.reasm = wrapper.Reassembler(server.max_pdu)
        self.associations = {}
        self.closed = False
        self._here = None  # the frame to send, where its association built it
        self._buf = None  # a buffer lent by the server: the frames to send
        self._n = 0  # octets of it in use
        self._more = None  # a bytearray of frames that did not fit (rare)

    def _give_back(self):
        # what data_to_send() handed out has been written by now
        if self._buf is not None and not self._n:
            self.server.give_buffer(self._buf)
            self._buf = None

    def receive_data(self, data, now_ms=None):
        self._give_back()
        data = memoryview(data)
        pos = 0
        try:
            while pos < len(data) and not self.closed:
                n = min(self.reasm.space(), len(data) - pos)
                self.reasm.receive_data(data[pos : pos + n])
                pos += n
                while True:
                    frame = self.reasm.next_frame()
                    if frame is None:
                        break
                    self._frame_in(*frame)
        except DecodeError as e:
            log.warning("wrapper: %s: closing", e)
            self.closed = True

    def _send(self, source, dest, apdu, assoc=None):
        n = len(apdu)
        if assoc is not None and not self._n and self._more is None and self._here is None:
            room = assoc.room_before(apdu, wrapper.HEADER_SIZE)
            if room is not None:
                buf, start = room
                wrapper.encode_header(buf, start, source, dest, n)
                self._here = memoryview(buf)[start : start + wrapper.HEADER_SIZE + n]
                return
        self._gather()
        self._add(source, dest, apdu)

    def _add(self, source, dest, data):
        # into the lent buffer: a frame of ``data`` with its header, or
        # (source None) ``data`` as it is
        end = self._n + len(data) + (0 if source is None else wrapper.HEADER_SIZE)
        if self._more is None:
            if self._buf is None:
                self._buf = self.server.take_buffer()
            buf = self._buf
            if end <= len(buf):
                if source is not None:
                    wrapper.encode_header(buf, self._n, source, dest, len(data))
                buf[end - len(data) : end] = data
                self._n = end
                return
            self._more = bytearray()
        self._more += data if source is None else wrapper.encode(source, dest, data)

    def _gather(self):
        # the frame still lying in an association's buffer joins the lent
        # one, before anything can be answered over it
        here = self._here
        if here is not None:
            self._here = None
            self._add(None, None, here)

    def _frame_in(self, client, dest, apdu):
        if apdu is None:
            # over our max receive PDU (Green Book 9.3.2: pdu-too-long)
            log.warning("wrapper: APDU over %d octets refused", self.server.max_pdu)
            resp = xdlms.exception_response(
                xdlms.STATE_SERVICE_NOT_ALLOWED, xdlms.SERVICE_PDU_TOO_LONG
            )
        else:
            key = (client, dest)
            a = self.associations.get(key)
            if a is None:
                a = self.server.association(client, dest)
                if a is None:
                    log.warning("wrapper: no logical device at wPort %d", dest)
                    return
                self.associations[key] = a
            self._gather()
            try:
                resp = a.handle(apdu)
            except Exception as e:  # never let one APDU take the connection down
                log.error("association failed: %r", e)
                resp = None
            if resp:
                self._send(dest, client, resp, a)
            return
        self._send(dest, client, resp)

    def data_to_send(self):
        """What to send: valid until the next call into the link."""
        self._give_back()
        here = self._here
        if here is not None:  # then nothing else is waiting
            self._here = None
            return here
        n = self._n
        if self._more is not None:
            out = self._more
            if n:
                out = bytes(memoryview(self._buf)[:n]) + out
            self._more = None
        elif n:
            out = memoryview(self._buf)[:n]
        else:
            return b""
        self._n = 0
        return out

    def poll(self, now_ms):
        self._give_back()

    def close(self):
        for a in self.associations.values():
            a.abort()
        self.associations = {}
        self._here = None
        self._n = 0
        self._more = None
        self._give_back()
