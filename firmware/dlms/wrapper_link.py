"""The server side of the TCP wrapper (IEC 62056-47), sans-IO.

The same shape as ``hdlc_link.HdlcServerLink``: ``receive_data(bytes)``,
``data_to_send()``, ``poll(now_ms)``, ``close()``; ``closed`` turns True when
the stream can no longer be trusted (a wrong wrapper version) and the
transport must hang up. Each client/server wPort pair gets its association.

What ``data_to_send()`` returns is valid until the next call into the link:
the frames are built in a response buffer the server lends (no allocation
per answer), which goes back at that next call.
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

    def _send(self, source, dest, apdu):
        n = len(apdu)
        end = self._n + wrapper.HEADER_SIZE + n
        if self._more is None:
            if self._buf is None:
                self._buf = self.server.take_buffer()
            buf = self._buf
            if end <= len(buf):
                wrapper.encode_header(buf, self._n, source, dest, n)
                buf[end - n : end] = apdu
                self._n = end
                return
            self._more = bytearray()
        self._more += wrapper.encode(source, dest, apdu)

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
            try:
                resp = a.handle(apdu)
            except Exception as e:  # never let one APDU take the connection down
                log.error("association failed: %r", e)
                resp = None
        if resp:
            self._send(dest, client, resp)

    def data_to_send(self):
        """What to send: valid until the next call into the link."""
        self._give_back()
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
        self._n = 0
        self._more = None
        self._give_back()
