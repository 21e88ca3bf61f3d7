"""The xDLMS services of an association (Green Book 9.3): GET, SET and ACTION
in their normal, with-list and block-transfer forms.

A part of ``dlms.server.Association`` (a mixin): answers are written into the
association's own buffer, and long answers stream through a BlockSource so
heap use does not grow with their size.
"""

import log
from micropython import const

from dlms import acse, axdr, xdlms
from dlms.errors import BufferFull, DecodeError
from dlms.stream import BlockSource, pieces

# Room kept in front of a response body for the largest service header
# (GET-Response-With-Datablock: 3 + 1 + 4 + 1 + a 3-octet length), in front
# of that for what ciphering puts before an APDU (general-glo tag, title
# 1 + 8, a 3-octet length, SC, IC 4: dlms.security.cipher.seal), and in
# front of that for the TCP wrapper's header (8), which its link writes there.
HEADROOM = const(38)
# the longest block header: GET-Response-With-Datablock with a 3-octet length
_BLOCK_HEAD = const(12)
# a with-list answer's header: tag, choice, invoke, a 3-octet count at most
_LIST_HEAD = const(6)
# the answer to a with-list request whose answer cannot fit the negotiated
# PDU: exception-response service-not-allowed / pdu-too-long (Green Book 9.5)
_TOO_LONG = xdlms.exception_response(xdlms.STATE_SERVICE_NOT_ALLOWED, xdlms.SERVICE_PDU_TOO_LONG)


class Services:
    # GET ------------------------------------------------------------------------

    def _get(self, req):
        if req.kind == xdlms.NEXT:
            return self._get_next(req)
        if req.kind == xdlms.NORMAL:
            result, value = self._call(self.read, req.items[0])
            if result != xdlms.SUCCESS:
                w = self._writer()
                xdlms.get_response_normal_result(w, req.invoke, result)
                return w.getvalue()
            return self._send_body(req.invoke, pieces(value), xdlms.NORMAL)
        return self._send_body(req.invoke, self._list_pieces(req.items), xdlms.WITH_LIST)

    def _list_pieces(self, items):
        w = axdr.Writer(4)
        axdr.encode_length(w, len(items))
        yield bytes(w.getvalue())
        for item in items:
            result, value = self._call(self.read, item)
            if result != xdlms.SUCCESS:
                yield bytes((1, result))
                continue
            yield b"\x00"
            try:
                yield from pieces(value)
            except Exception as e:
                # Too late to change the result octet: the transfer is broken.
                log.error("encoding %r failed: %r", item[:3], e)
                raise

    def _buffer(self):
        buf = self._buf
        if buf is None:
            buf = self._buf = self.server.take_buffer()
        return buf

    def _writer(self):
        """A Writer for a short answer: the buffer after the headroom, up to
        the negotiated size (an answer that does not fit raises BufferFull)."""
        self._at = HEADROOM
        return axdr.Writer(memoryview(self._buffer())[HEADROOM : HEADROOM + self._limit])

    def _send_body(self, invoke, it, kind):
        """Send a response body as one normal / with-list response or start blocks."""
        src = BlockSource(it)
        buf = self._buffer()
        limit = self._limit
        try:
            end = src.fill(buf, HEADROOM, HEADROOM + limit - 3)
            done = src.exhausted()
        except Exception as e:
            log.error("response encoding failed: %r", e)
            w = self._writer()
            xdlms.get_response_normal_result(w, invoke, xdlms.OTHER_REASON)
            return w.getvalue()
        body = end - HEADROOM
        hlen = 4 if kind == xdlms.NORMAL else 3
        if done and body + hlen <= limit:
            start = HEADROOM - hlen
            buf[start] = xdlms.GET_RESPONSE
            buf[start + 1] = kind
            buf[start + 2] = invoke
            if kind == xdlms.NORMAL:
                buf[start + 3] = 0  # Get-Data-Result: data
            self._at = start
            return memoryview(buf)[start:end]
        if not self.conformance & acse.CONF_BLOCK_TRANSFER_WITH_GET:
            log.warning(
                "client %d: answer over %d octets without block transfer", self.client_sap, limit
            )
            if kind != xdlms.NORMAL:
                return _TOO_LONG
            w = self._writer()
            xdlms.get_response_normal_result(w, invoke, xdlms.OTHER_REASON)
            return w.getvalue()
        self._out = src
        self._out_tag = xdlms.GET_RESPONSE
        src.block = 0
        return self._datablock(invoke, prefilled=body)

    def _datablock(self, invoke, prefilled=-1):
        """The next block of the long answer in progress: GET-Response-With-Datablock
        or ACTION-Response-With-Pblock (the same raw data, no choice octet)."""
        src = self._out
        buf = self._buffer()
        # raw-data room: the limit less the header with a 3-octet length at most
        room = self._limit - _BLOCK_HEAD
        if prefilled < 0:
            end = src.fill(buf, HEADROOM, HEADROOM + room)
        else:
            # the first block: what _send_body already put there, cut to the room
            end = HEADROOM + min(prefilled, room)
            if prefilled > room:
                src.push_back(buf[end : HEADROOM + prefilled])
        last = src.exhausted()
        src.block += 1
        n = end - HEADROOM
        lenlen = 1 if n < 0x80 else (2 if n < 0x100 else 3)
        w = axdr.Writer(buf)
        if self._out_tag == xdlms.GET_RESPONSE:
            w.pos = start = HEADROOM - 9 - lenlen
            xdlms.get_response_datablock_head(w, invoke, last, src.block, n)
        else:
            w.pos = start = HEADROOM - 8 - lenlen
            xdlms.action_response_pblock_head(w, invoke, last, src.block, n)
        if last:
            self._out = None
        self._at = start
        return memoryview(buf)[start:end]

    def _get_next(self, req):
        src = self._out
        if src is None:
            w = self._writer()
            xdlms.get_response_datablock_result(
                w, req.invoke, req.block, xdlms.NO_LONG_GET_IN_PROGRESS
            )
            return w.getvalue()
        if req.block != src.block:
            self._out = None
            w = self._writer()
            xdlms.get_response_datablock_result(w, req.invoke, req.block, xdlms.LONG_GET_ABORTED)
            return w.getvalue()
        try:
            return self._datablock(req.invoke)
        except Exception as e:
            log.error("long GET aborted: %r", e)
            self._out = None
            w = self._writer()
            xdlms.get_response_datablock_result(w, req.invoke, req.block, xdlms.LONG_GET_ABORTED)
            return w.getvalue()

    # SET ------------------------------------------------------------------------

    def _set(self, req):
        w = self._writer()
        kind = req.kind
        if kind == xdlms.NORMAL:
            result, _ = self._call(self.write, req.items[0], req.values[0])
            xdlms.set_response_normal(w, req.invoke, result)
        elif kind == xdlms.SET_WITH_LIST:
            if _LIST_HEAD + len(req.items) > self._limit:
                return _TOO_LONG  # refused before anything is written
            results = [self._call(self.write, it, v)[0] for it, v in zip(req.items, req.values)]
            xdlms.set_response_with_list(w, req.invoke, results)
        elif kind in (xdlms.SET_FIRST_DATABLOCK, xdlms.SET_WITH_LIST_FIRST_DATABLOCK):
            self._in = bytearray()
            self._in_req = req
            self._in_block = 0
            return self._set_block(req, w)
        else:  # SET_DATABLOCK
            if self._in is None or self._in_req.tag != xdlms.SET_REQUEST:
                xdlms.set_response_last_datablock(
                    w, req.invoke, xdlms.NO_LONG_SET_IN_PROGRESS, req.block
                )
            else:
                return self._set_block(req, w)
        return w.getvalue()

    def _set_block(self, req, w):
        first = self._in_req
        if req.block != self._in_block + 1:
            self._in = None
            xdlms.set_response_last_datablock(
                w, req.invoke, xdlms.DATA_BLOCK_NUMBER_INVALID, req.block
            )
            return w.getvalue()
        if len(self._in) + len(req.raw) > self.server.max_block_octets:
            self._in = None
            xdlms.set_response_last_datablock(w, req.invoke, xdlms.LONG_SET_ABORTED, req.block)
            return w.getvalue()
        self._in += req.raw
        self._in_block = req.block
        if not req.last:
            xdlms.set_response_datablock(w, req.invoke, req.block)
            return w.getvalue()
        raw = self._in
        self._in = None
        if first.kind == xdlms.SET_FIRST_DATABLOCK:
            try:
                data, end = axdr.decode(raw)
                if end != len(raw):
                    raise DecodeError("trailing octets", end)
                result = self._call(self.write, first.items[0], data)[0]
            except DecodeError:
                result = xdlms.TYPE_UNMATCHED
            xdlms.set_response_last_datablock(w, req.invoke, result, req.block)
        else:
            # every value decoded before any is written: a list that does
            # not decode writes nothing
            values = []
            try:
                n, pos = axdr.decode_length(raw, 0)
                if n != len(first.items):
                    raise DecodeError("value count", 0)
                for _ in first.items:
                    data, pos = axdr.decode(raw, pos)
                    values.append(data)
                if pos != len(raw):
                    raise DecodeError("trailing octets", pos)
            except DecodeError:
                values = None
            if values is None:
                results = [xdlms.TYPE_UNMATCHED] * len(first.items)
            else:
                results = [self._call(self.write, it, v)[0] for it, v in zip(first.items, values)]
            xdlms.set_response_last_datablock_with_list(w, req.invoke, results, req.block)
        return w.getvalue()

    # ACTION ---------------------------------------------------------------------

    def _action(self, req):
        w = self._writer()
        kind = req.kind
        try:
            if kind == xdlms.NORMAL:
                result, ret = self._call(self.invoke, req.items[0], req.values[0])
                xdlms.action_response_normal(w, req.invoke, result, ret)
            elif kind == xdlms.WITH_LIST:
                if _LIST_HEAD + 2 * len(req.items) > self._limit:
                    return _TOO_LONG  # refused before any method runs
                results = [self._call(self.invoke, it, v) for it, v in zip(req.items, req.values)]
                xdlms.action_response_with_list(w, req.invoke, results)
            elif kind == xdlms.ACTION_FIRST_PBLOCK:
                self._in = bytearray()
                self._in_req = req
                self._in_block = 0
                return self._action_block(req, w)
            elif kind == xdlms.NEXT:  # next-pblock of a long answer
                src = self._out
                if src is None or req.block != src.block:
                    self._out = None
                    code = xdlms.LONG_GET_ABORTED if src else xdlms.NO_LONG_GET_IN_PROGRESS
                    xdlms.action_response_normal(w, req.invoke, code)
                else:
                    return self._datablock(req.invoke)
            elif kind == xdlms.ACTION_PBLOCK:
                if self._in is None or self._in_req.tag != xdlms.ACTION_REQUEST:
                    xdlms.action_response_normal(w, req.invoke, xdlms.NO_LONG_GET_IN_PROGRESS)
                else:
                    return self._action_block(req, w)
            else:
                xdlms.action_response_normal(w, req.invoke, xdlms.OTHER_REASON)
        except BufferFull:
            # return data over the PDU size: ACTION-Response-With-Pblock, the raw
            # data being the encoded return data (as a long GET's)
            if kind == xdlms.WITH_LIST:
                return _TOO_LONG  # return data over the PDU: no with-list answer fits
            if (
                kind != xdlms.NORMAL
                or result != xdlms.SUCCESS
                or not self.conformance & acse.CONF_BLOCK_TRANSFER_WITH_ACTION
            ):
                w = self._writer()
                xdlms.action_response_normal(w, req.invoke, xdlms.OTHER_REASON)
                return w.getvalue()
            self._out = BlockSource(pieces(ret))
            self._out_tag = xdlms.ACTION_RESPONSE
            return self._datablock(req.invoke)
        return w.getvalue()

    def _action_block(self, req, w):
        if req.block != self._in_block + 1:
            self._in = None
            xdlms.action_response_normal(w, req.invoke, xdlms.DATA_BLOCK_NUMBER_INVALID)
            return w.getvalue()
        if len(self._in) + len(req.raw) > self.server.max_block_octets:
            self._in = None
            xdlms.action_response_normal(w, req.invoke, xdlms.LONG_GET_ABORTED)
            return w.getvalue()
        self._in += req.raw
        self._in_block = req.block
        if not req.last:
            xdlms.write_header(w, xdlms.ACTION_RESPONSE, 4, req.invoke)  # next-pblock
            w.u32(req.block)
            return w.getvalue()
        raw = self._in
        self._in = None
        try:
            data, end = axdr.decode(raw)
            if end != len(raw):
                raise DecodeError("trailing octets", end)
            result, ret = self._call(self.invoke, self._in_req.items[0], data)
        except DecodeError:
            result, ret = xdlms.TYPE_UNMATCHED, None
        xdlms.action_response_normal(w, req.invoke, result, ret)
        return w.getvalue()
