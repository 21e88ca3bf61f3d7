"""The server side of the TCP wrapper (IEC 62056-47), sans-IO.

The same shape as ``hdlc_link.HdlcServerLink``: ``receive_data(bytes)``,
``data_to_send()``, ``poll(now_ms)``, ``close()``; ``closed`` turns True when
the stream can no longer be trusted (a wrong wrapper version) and the
transport must hang up. Each client/server wPort pair gets its association.
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
        self._out = bytearray()

    def receive_data(self, data, now_ms=None):
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
            if self._out:
                self._out += wrapper.encode(dest, client, resp)
            else:  # the usual case: the frame built in place, one allocation
                n = len(resp)
                out = bytearray(wrapper.HEADER_SIZE + n)
                wrapper.encode_header(out, 0, dest, client, n)
                out[wrapper.HEADER_SIZE :] = resp
                self._out = out

    def data_to_send(self):
        """What to send (bytes-like; the caller's from now on)."""
        out = self._out
        if not out:
            return b""
        self._out = bytearray()
        return out

    def poll(self, now_ms):
        pass

    def close(self):
        for a in self.associations.values():
            a.abort()
        self.associations = {}
