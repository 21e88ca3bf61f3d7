"""A DLMS/COSEM client on the LN referencing, over any transport.

``Client(transport, ...)``: the transport has ``exchange(apdu) -> apdu`` (see
tools/transports.py for TCP wrapper and HDLC); the client builds the APDUs,
follows block transfers and returns typed A-XDR data. Used by the command
line tool, the gateway and the tests.
"""

from dlms import acse, axdr, xdlms
from dlms.errors import DecodeError

PROPOSED_CONFORMANCE = acse.CONF_LN_SERVICES


class ClientError(Exception):
    def __init__(self, msg, result=None):
        super().__init__(msg)
        self.result = result


class Client:
    def __init__(
        self,
        transport,
        mechanism=acse.MECHANISM_NONE,
        password=None,
        max_pdu=0xFFFF,
        conformance=PROPOSED_CONFORMANCE,
    ):
        self.transport = transport
        self.mechanism = mechanism
        self.password = password
        self.max_pdu = max_pdu
        self.proposed = conformance
        self.conformance = 0
        self.server_max_pdu = 0
        self.invoke = 0xC1  # invoke-id 1, priority high, confirmed

    def _exchange(self, apdu):
        resp = self.transport.exchange(bytes(apdu))
        if not resp:
            raise ClientError("no response")
        return resp

    def associate(self):
        ini = acse.encode_initiate_request(self.proposed, self.max_pdu)
        aarq = acse.encode_aarq(
            acse.CONTEXT_LN,
            self.mechanism,
            self.password if self.mechanism == acse.MECHANISM_LLS else None,
            None,
            ini,
        )
        resp = self._exchange(aarq)
        aare = acse.decode_aare(resp)
        if aare.result != acse.RESULT_ACCEPTED:
            raise ClientError(
                "association rejected: result %d, diagnostic %s" % (aare.result, aare.diagnostic),
                aare.diagnostic,
            )
        ui = aare.user_information
        if not ui or ui[0] != acse.INITIATE_RESPONSE:
            raise ClientError("AARE without InitiateResponse")
        version, self.conformance, self.server_max_pdu, vaa = acse.decode_initiate_response(ui)
        return aare

    def release(self):
        resp = self._exchange(acse.encode_rlrq(0))
        return acse.decode_rlre(resp)

    def _writer(self):
        return axdr.Writer(max(64, min(self.server_max_pdu or 0xFFFF, 0xFFFF)))

    def get(self, class_id, ln, attr, selector=None, params=None):
        """Typed data of one attribute; ClientError with the data-access-result."""
        w = self._writer()
        xdlms.get_request_normal(w, self.invoke, class_id, ln, attr, selector, params)
        r = xdlms.decode_response(self._exchange(w.getvalue()))
        raw = self._follow_blocks(r)
        if raw is not None:
            data, end = axdr.decode(raw)
            if end != len(raw):
                raise DecodeError("trailing octets in the block transfer", end)
            return data
        return self._single(r)

    def _single(self, r):
        if r.tag == xdlms.EXCEPTION_RESPONSE:
            raise ClientError("exception-response %r" % (r.results[0],))
        kind, value = r.results[0]
        if kind == "error":
            raise ClientError("data-access-result %d" % value, value)
        return value

    def _follow_blocks(self, r):
        """The concatenated raw-data of a GET block transfer, or None."""
        if r.tag != xdlms.GET_RESPONSE or r.kind != xdlms.WITH_DATABLOCK:
            return None
        raw = bytearray()
        while True:
            if r.error is not None:
                raise ClientError("block transfer failed: %d" % r.error, r.error)
            raw += r.raw
            if r.last:
                return raw
            w = self._writer()
            xdlms.get_request_next(w, self.invoke, r.block)
            r = xdlms.decode_response(self._exchange(w.getvalue()))
            if r.tag != xdlms.GET_RESPONSE or r.kind != xdlms.WITH_DATABLOCK:
                raise ClientError("block transfer broken")

    def get_with_list(self, items):
        """[('data', typed) | ('error', result)] for (class_id, ln, attr) items."""
        w = self._writer()
        xdlms.get_request_with_list(w, self.invoke, items)
        r = xdlms.decode_response(self._exchange(w.getvalue()))
        raw = self._follow_blocks(r)
        if raw is None:
            if r.tag != xdlms.GET_RESPONSE:
                raise ClientError("unexpected response 0x%02X" % r.tag)
            return r.results
        n, pos = axdr.decode_length(raw, 0)
        out = []
        for _ in range(n):
            if raw[pos] == 0:
                d, pos = axdr.decode(raw, pos + 1)
                out.append(("data", d))
            else:
                out.append(("error", raw[pos + 1]))
                pos += 2
        return out

    def set(self, class_id, ln, attr, data):
        """The data-access-result of a SET (0 = success); block transfer when large."""
        w = self._writer()
        try:
            xdlms.set_request_normal(w, self.invoke, class_id, ln, attr, data)
            r = xdlms.decode_response(self._exchange(w.getvalue()))
        except Exception as e:
            if type(e).__name__ != "BufferFull":
                raise
            return self._set_blocks(class_id, ln, attr, data)
        if r.tag != xdlms.SET_RESPONSE:
            raise ClientError("unexpected response 0x%02X" % r.tag)
        return r.results[0]

    def _set_blocks(self, class_id, ln, attr, data):
        raw = axdr.to_bytes(data)
        room = max(16, (self.server_max_pdu or 256) - 32)
        block = 1
        pos = 0
        while True:
            chunk = raw[pos : pos + room]
            pos += len(chunk)
            last = pos >= len(raw)
            w = self._writer()
            if block == 1:
                xdlms.set_request_first_datablock(w, self.invoke, class_id, ln, attr, last, chunk)
            else:
                xdlms.set_request_datablock(w, self.invoke, last, block, chunk)
            r = xdlms.decode_response(self._exchange(w.getvalue()))
            if r.tag != xdlms.SET_RESPONSE:
                raise ClientError("unexpected response 0x%02X" % r.tag)
            if last or r.kind == 3:
                return r.results[0] if r.results else xdlms.OTHER_REASON
            block += 1

    def action(self, class_id, ln, method, data=None):
        """(action-result, return data or None)."""
        w = self._writer()
        xdlms.action_request_normal(w, self.invoke, class_id, ln, method, data)
        r = xdlms.decode_response(self._exchange(w.getvalue()))
        if r.tag != xdlms.ACTION_RESPONSE:
            raise ClientError("unexpected response 0x%02X" % r.tag)
        result, ret = r.results[0]
        if ret is not None:
            ret = ret[1] if ret[0] == "data" else None
        return result, ret

    def objects(self):
        """[(class_id, version, ln)] from the current association's object_list."""
        data = self.get(15, b"\x00\x00\x28\x00\x00\xff", 2)
        out = []
        for el in data[1]:
            f = el[1]
            out.append((f[0][1], f[1][1], f[2][1]))
        return out
