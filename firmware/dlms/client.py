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


class ClientSecurity:
    """The client's side of a ciphered association (Green Book 9.2.7).

    ``sc``: the protection of requests (0x10, 0x20 or 0x30); ``general``: send
    general-glo-ciphering (0xDB) instead of the service-specific glo- APDUs;
    ``dedicated_key``: ask for ded- ciphering with this key.
    """

    def __init__(
        self, system_title, ek, ak, sc=0x30, suite=0, general=False, ic=0, dedicated_key=None
    ):
        from dlms.security.gcm import Gcm

        self.system_title = bytes(system_title)
        self.ak = bytes(ak)
        self.gcm = Gcm(ek)
        self.sc = sc | suite
        self.suite = suite
        self.general = general
        self.ic = ic
        self.dedicated_key = dedicated_key
        self.ded_gcm = Gcm(dedicated_key) if dedicated_key else None
        self.server_title = None
        self.server_ic = -1

    def next_ic(self):
        self.ic += 1
        return self.ic


class Client:
    def __init__(
        self,
        transport,
        mechanism=acse.MECHANISM_NONE,
        password=None,
        max_pdu=0xFFFF,
        conformance=PROPOSED_CONFORMANCE,
        security=None,
    ):
        self.transport = transport
        self.security = security  # ClientSecurity, or None
        self.mechanism = mechanism
        self.password = password
        self.max_pdu = max_pdu
        self.proposed = conformance
        self.conformance = 0
        self.server_max_pdu = 0
        self.invoke = 0xC1  # invoke-id 1, priority high, confirmed

    def _exchange(self, apdu, protect=True):
        sec = self.security
        if sec is not None and protect:
            apdu = self._protect(apdu)
        resp = self.transport.exchange(bytes(apdu))
        if not resp:
            raise ClientError("no response")
        if sec is not None and protect and resp[0] != xdlms.EXCEPTION_RESPONSE:
            resp = self._unprotect(resp)
        return resp

    def _protect(self, apdu):
        from dlms.security import cipher

        sec = self.security
        ded = sec.ded_gcm is not None
        gcm = sec.ded_gcm if ded else sec.gcm
        content = cipher.protect(gcm, sec.sc, sec.system_title, sec.next_ic(), sec.ak, apdu)
        if sec.general:
            form = cipher.FORM_GENERAL_DED if ded else cipher.FORM_GENERAL_GLO
        else:
            form = cipher.FORM_DED if ded else cipher.FORM_GLO
        return cipher.wrap(form, apdu[0], content, sec.system_title)

    def _unprotect(self, resp):
        from dlms.security import cipher

        sec = self.security
        if not cipher.is_protected(resp[0]):
            raise ClientError("unprotected response 0x%02X in a ciphered association" % resp[0])
        form, plain_tag, title, content = cipher.unwrap(resp)
        if title is not None and title != sec.server_title:
            raise ClientError("response from another system title")
        ded = form in (cipher.FORM_DED, cipher.FORM_GENERAL_DED)
        gcm = sec.ded_gcm if ded else sec.gcm
        try:
            sc, ic, plain = cipher.unprotect(gcm, sec.server_title, sec.ak, content)
        except cipher.SecurityError as e:
            raise ClientError("response: %s" % e)
        if sec.sc & cipher.SC_AUTHENTICATION and not sc & cipher.SC_AUTHENTICATION:
            # a tag stripped on the way: counter-mode ciphertext is malleable
            raise ClientError("response not authenticated (security control 0x%02X)" % sc)
        if ic <= sec.server_ic:
            raise ClientError("response replayed (invocation counter %d)" % ic)
        sec.server_ic = ic
        return plain

    def associate(self):
        from dlms.security import cipher

        sec = self.security
        ded = sec.dedicated_key if sec else None
        ini = acse.encode_initiate_request(self.proposed, self.max_pdu, ded)
        ctx = acse.CONTEXT_LN
        title = None
        if sec is not None:
            ctx = acse.CONTEXT_LN_CIPHERED
            title = sec.system_title
            content = cipher.protect(sec.gcm, sec.sc, title, sec.next_ic(), sec.ak, ini)
            ini = cipher.wrap(cipher.FORM_GLO, acse.INITIATE_REQUEST, content)
        hls = self.mechanism >= acse.MECHANISM_HLS_MD5
        if hls:
            from dlms.security.hls import challenge

            self._ctos = challenge()
            auth = self._ctos
        else:
            auth = self.password if self.mechanism == acse.MECHANISM_LLS else None
        aarq = acse.encode_aarq(ctx, self.mechanism, auth, title, ini)
        resp = self._exchange(aarq, protect=False)
        aare = acse.decode_aare(resp)
        if aare.result != acse.RESULT_ACCEPTED:
            raise ClientError(
                "association rejected: result %d, diagnostic %s" % (aare.result, aare.diagnostic),
                aare.diagnostic,
            )
        ui = aare.user_information
        if sec is not None:
            sec.server_title = aare.responding_ap_title
            if ui and ui[0] == cipher.GLO_INITIATE_RESPONSE:
                ui = self._unprotect(ui)
        if not ui or ui[0] != acse.INITIATE_RESPONSE:
            raise ClientError("AARE without InitiateResponse")
        version, self.conformance, self.server_max_pdu, vaa = acse.decode_initiate_response(ui)
        if hls:
            self._hls(aare)
        return aare

    def _hls(self, aare):
        """Passes 3 and 4: prove f(StoC), check the meter's f(CtoS)."""
        from dlms.security import hls

        sec = self.security
        stoc = aare.responding_auth_value
        if not stoc:
            raise ClientError("AARE without the server's challenge")
        own = sec.system_title if sec else None
        peer = aare.responding_ap_title
        gcm = sec.gcm if sec else None
        ak = sec.ak if sec else b""
        answer = hls.response(
            self.mechanism,
            self.password,
            stoc,
            own,
            peer,
            self._ctos,
            gcm,
            ak,
            sec.next_ic() if sec else 0,
            sec.suite if sec else 0,
        )
        result, ret = self.action(15, b"\x00\x00\x28\x00\x00\xff", 1, (axdr.OCTET_STRING, answer))
        if result != 0 or ret is None or ret[0] != axdr.OCTET_STRING:
            raise ClientError("HLS authentication refused (action-result %d)" % result, result)
        ok = hls.verify(self.mechanism, self.password, self._ctos, ret[1], peer, own, stoc, gcm, ak)
        if ok is False:
            raise ClientError("the meter failed HLS authentication (pass 4)")

    def release(self):
        resp = self._exchange(acse.encode_rlrq(0), protect=False)
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
        if r.kind == 2:  # ACTION-Response-With-Pblock: the return data in blocks
            raw = bytearray()
            while True:
                raw += r.raw
                if r.last:
                    data, end = axdr.decode(raw)
                    return 0, data
                w = self._writer()
                xdlms.write_header(w, xdlms.ACTION_REQUEST, xdlms.NEXT, self.invoke)
                w.u32(r.block)
                r = xdlms.decode_response(self._exchange(w.getvalue()))
                if r.tag != xdlms.ACTION_RESPONSE or r.kind != 2:
                    raise ClientError("pblock transfer broken")
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
