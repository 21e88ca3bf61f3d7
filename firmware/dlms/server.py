"""The application layer of a COSEM server, sans-IO (Green Book 9).

``Server`` holds what all connections share: the logical devices (by server
SAP), the client policies (by client SAP), the negotiable conformance and PDU
size. Each transport connection, per client/server SAP pair, gets an
``Association``: ``handle(apdu)`` takes one request APDU and returns the
response APDU (a memoryview into the association's own buffer, valid until the
next call) or None when nothing is to be sent.

The association is the ``ctx`` the COSEM objects see: its ``level``,
``device``, ``association_object``, ``conformance``, ``state`` and ``server``.
Objects come from any model with ``LogicalDevice.find(ln, ctx)`` and the
``get/set/action/attribute_access/method_access`` of cosem.base.
"""

import log
from micropython import const

from dlms import acse, axdr, xdlms
from dlms.errors import BufferFull, DataAccessError, DecodeError
from dlms.security import cipher
from dlms.stream import BlockSource, pieces

STATE_IDLE = const(0)  # association_status non-associated
STATE_PENDING = const(1)  # association-pending (HLS pass 3/4 outstanding)
STATE_ASSOCIATED = const(2)

# What this server implements (Green Book 9.4.6.1).
SUPPORTED_CONFORMANCE = acse.CONF_LN_SERVICES

# Room kept in front of a response body for the largest service header
# (GET-Response-With-Datablock: 3 + 1 + 4 + 1 + a 3-octet length).
_HEADROOM = const(12)
_MIN_PDU = const(12)
# what ciphering adds at most: general-glo tag, title (1 + 8), length (3),
# SC, IC (4), tag (12)
_CIPHER_OVERHEAD = const(30)


class ClientPolicy:
    """How one client SAP may associate (the Association LN it lands in).

    ``security``: the protection its requests must carry, as security control
    bits (0, cipher.SC_AUTHENTICATION, cipher.SC_ENCRYPTION or both); a
    non-zero value needs the ciphered application context and the server's
    SecurityContext. Responses get the same protection.
    """

    def __init__(self, sap, level, mechanism=acse.MECHANISM_NONE, secret=None, name="", security=0):
        self.sap = sap
        self.level = level
        self.mechanism = mechanism
        self.secret = secret
        self.name = name
        self.security = security


class Server:
    def __init__(
        self,
        devices,
        clients,
        max_pdu=1024,
        conformance=SUPPORTED_CONFORMANCE,
        max_block_octets=4096,
        clock=None,
        security=None,
        lls_guard=None,
    ):
        self.devices = devices  # {server SAP: LogicalDevice}
        self.clients = clients  # {client SAP: ClientPolicy}
        self.max_pdu = max_pdu  # server-max-receive-pdu-size, and our send limit
        self.conformance = conformance
        self.max_block_octets = max_block_octets  # bound on SET/ACTION blocks
        self.clock = clock
        self.security = security  # dlms.security.context.SecurityContext, or None
        self.lls_guard = lls_guard  # dlms.lls_guard.LlsGuard, or None

    def now(self):
        return self.clock.now() if self.clock is not None else 0

    def association(self, client_sap, server_sap):
        """A new Association, or None when no logical device has that SAP."""
        device = self.devices.get(server_sap)
        if device is None:
            return None
        return Association(self, client_sap, device)


class Association:
    def __init__(self, server, client_sap, device):
        self.server = server
        self.client_sap = client_sap
        self.server_sap = device.sap
        self.device = device
        self.policy = None
        self.level = 0
        self.state = STATE_IDLE
        self.conformance = 0
        self.client_max_pdu = 0
        self.association_object = None
        self._buf = bytearray(server.max_pdu + _HEADROOM)
        self._limit = server.max_pdu
        self._out = None  # BlockSource of a long GET in progress
        self._out_invoke = 0
        self._in = None  # bytearray of a long SET / ACTION in progress
        self._in_req = None
        self._in_block = 0
        # security (Green Book 9.2.7)
        self.ciphered = False  # the ciphered application context is in use
        self.client_title = None
        self.dedicated = None  # Gcm of the dedicated key, if the AARQ sent one
        self._ded_guard = None
        self.stoc = None  # HLS challenges
        self.ctos = None

    # -- entry point ----------------------------------------------------------

    def handle(self, apdu):
        if not len(apdu):
            return None
        tag = apdu[0]
        try:
            if tag == acse.AARQ:
                return self._aarq(apdu)
            if tag == acse.RLRQ:
                return self._rlrq(apdu)
            if tag in (xdlms.GET_REQUEST, xdlms.SET_REQUEST, xdlms.ACTION_REQUEST):
                if self.policy is not None and self.policy.security:
                    log.warning("client %d: unprotected request refused", self.client_sap)
                    return xdlms.exception_response(
                        xdlms.STATE_SERVICE_NOT_ALLOWED, xdlms.SERVICE_OPERATION_NOT_POSSIBLE
                    )
                return self._service(apdu)
            if cipher.is_protected(tag):
                return self._protected(apdu)
        except DecodeError as e:
            log.warning("client %d: malformed APDU 0x%02X: %s", self.client_sap, tag, e)
            return xdlms.exception_response(
                xdlms.STATE_SERVICE_NOT_ALLOWED, xdlms.SERVICE_OTHER_REASON
            )
        log.warning("client %d: unsupported APDU 0x%02X", self.client_sap, tag)
        return xdlms.exception_response(xdlms.STATE_SERVICE_UNKNOWN, xdlms.SERVICE_NOT_SUPPORTED)

    def abort(self):
        """The transport went away: forget every transfer and the association."""
        self._reset_transfers()
        self.state = STATE_IDLE

    def _reset_transfers(self):
        self._out = None
        self._in = None
        self._in_req = None
        self._in_block = 0

    # -- ACSE -------------------------------------------------------------------

    def _aare_reject(self, context, diagnostic, user_information=None):
        return acse.encode_aare(
            context if context in (acse.CONTEXT_LN, acse.CONTEXT_LN_CIPHERED) else acse.CONTEXT_LN,
            acse.RESULT_REJECTED_PERMANENT,
            diagnostic,
            user_information=user_information,
        )

    def _aarq(self, apdu):
        self.state = STATE_IDLE
        self.policy = None
        self._reset_transfers()
        try:
            aarq = acse.decode_aarq(apdu)
        except DecodeError as e:
            log.warning("client %d: malformed AARQ: %s", self.client_sap, e)
            return self._aare_reject(acse.CONTEXT_LN, acse.DIAG_NO_REASON)
        ctx = aarq.context
        sec = self.server.security
        if ctx != acse.CONTEXT_LN and not (ctx == acse.CONTEXT_LN_CIPHERED and sec is not None):
            return self._aare_reject(ctx, acse.DIAG_CONTEXT_NOT_SUPPORTED)
        ciphered = ctx == acse.CONTEXT_LN_CIPHERED
        policy = self.server.clients.get(self.client_sap)
        if policy is None:
            log.warning("AARQ from unknown client %d", self.client_sap)
            return self._aare_reject(ctx, acse.DIAG_NO_REASON)
        if policy.security and not ciphered:
            return self._aare_reject(ctx, acse.DIAG_CONTEXT_NOT_SUPPORTED)
        if aarq.mechanism != policy.mechanism:
            if policy.mechanism != acse.MECHANISM_NONE and aarq.mechanism == acse.MECHANISM_NONE:
                diag = acse.DIAG_AUTHENTICATION_REQUIRED
            else:
                diag = acse.DIAG_MECHANISM_NOT_RECOGNISED
            return self._aare_reject(ctx, diag)
        hls = policy.mechanism >= acse.MECHANISM_HLS_MD5
        if policy.mechanism == acse.MECHANISM_LLS:
            guard = self.server.lls_guard
            now = self.server.now()
            if guard is not None and not guard.allowed(self.client_sap, now):
                log.warning(
                    "client %d: LLS attempt refused, %d s of penalty left",
                    self.client_sap,
                    guard.wait(self.client_sap, now),
                )
                return self._aare_reject(ctx, acse.DIAG_AUTHENTICATION_FAILURE)
            if aarq.calling_auth_value is None or aarq.calling_auth_value != policy.secret:
                n = guard.failed(self.client_sap, now) if guard is not None else 0
                log.warning("client %d: LLS authentication failure (%d)", self.client_sap, n)
                return self._aare_reject(ctx, acse.DIAG_AUTHENTICATION_FAILURE)
            if guard is not None:
                guard.succeeded(self.client_sap)
        elif hls:
            if policy.mechanism in (acse.MECHANISM_HLS_GMAC, acse.MECHANISM_HLS_SHA256):
                if sec is None:
                    return self._aare_reject(ctx, acse.DIAG_MECHANISM_NOT_RECOGNISED)
                if aarq.calling_ap_title is None or len(aarq.calling_ap_title) != 8:
                    return self._aare_reject(ctx, acse.DIAG_CALLING_AP_TITLE_NOT_RECOGNIZED)
            if not aarq.calling_auth_value or not 8 <= len(aarq.calling_auth_value) <= 64:
                return self._aare_reject(ctx, acse.DIAG_AUTHENTICATION_FAILURE)
        elif policy.mechanism != acse.MECHANISM_NONE:
            return self._aare_reject(ctx, acse.DIAG_MECHANISM_NOT_RECOGNISED)
        if ciphered and (aarq.calling_ap_title is None or len(aarq.calling_ap_title) != 8):
            return self._aare_reject(ctx, acse.DIAG_CALLING_AP_TITLE_NOT_RECOGNIZED)
        self.client_title = aarq.calling_ap_title
        ui = aarq.user_information
        if not ui:
            return self._aare_reject(ctx, acse.DIAG_NO_REASON)
        init_sc = 0
        try:
            if ciphered and ui[0] == cipher.GLO_INITIATE_REQUEST:
                _, _, _, content = cipher.unwrap(ui)
                init_sc, ic, ui = cipher.unprotect(sec.gcm(), self.client_title, sec.ak, content)
                if not sec.guard(self.client_title).check_and_accept(ic):
                    raise cipher.SecurityError("replayed AARQ (invocation counter %d)" % ic, 6)
            elif policy.security:
                raise cipher.SecurityError("the InitiateRequest must be ciphered")
            ini = acse.decode_initiate_request(ui)
        except (DecodeError, cipher.SecurityError) as e:
            log.warning("client %d: AARQ refused: %s", self.client_sap, e)
            return self._aare_reject(ctx, acse.DIAG_NO_REASON)
        err = None
        if ini.dlms_version < acse.DLMS_VERSION:
            err = acse.INITIATE_ERROR_DLMS_VERSION_TOO_LOW
        conformance = ini.conformance & self.server.conformance
        if ciphered:
            conformance |= ini.conformance & acse.CONF_GENERAL_PROTECTION
        if err is None and not conformance:
            err = acse.INITIATE_ERROR_INCOMPATIBLE_CONFORMANCE
        client_pdu = ini.max_pdu or 0xFFFF  # 0: the client sets no limit
        if err is None and client_pdu < _MIN_PDU:
            err = acse.INITIATE_ERROR_PDU_SIZE_TOO_SHORT
        if err is None and ini.dedicated_key is not None:
            if not ciphered or len(ini.dedicated_key) != sec.key_length():
                err = acse.INITIATE_ERROR_OTHER
        if err is not None:
            return self._aare_reject(ctx, acse.DIAG_NO_REASON, acse.encode_initiate_error(err))
        self.policy = policy
        self.level = policy.level
        self.conformance = conformance
        self.client_max_pdu = client_pdu
        self.ciphered = ciphered
        self._limit = min(client_pdu, self.server.max_pdu)
        if ciphered:
            self._limit -= _CIPHER_OVERHEAD
        if ini.dedicated_key is not None:
            from dlms.security.context import MemoryReplayGuard
            from dlms.security.gcm import Gcm

            self.dedicated = Gcm(ini.dedicated_key)
            self._ded_guard = MemoryReplayGuard()
        else:
            self.dedicated = None
        self.association_object = self.device.associations.get(self.client_sap)
        auth_value = None
        if hls:
            from dlms.security.hls import challenge

            self.ctos = aarq.calling_auth_value
            self.stoc = auth_value = challenge()
            self.state = STATE_PENDING
        else:
            self.state = STATE_ASSOCIATED
        log.info(
            "client %d %s logical device %d (pdu %d, conformance %06X%s)",
            self.client_sap,
            "pending HLS with" if hls else "associated with",
            self.server_sap,
            self._limit,
            conformance,
            ", ciphered" if ciphered else "",
        )
        ui = acse.encode_initiate_response(conformance, self.server.max_pdu)
        if ciphered and init_sc:
            sc = (init_sc & 0x30) | sec.suite
            content = cipher.protect(sec.gcm(), sc, sec.system_title, sec.next_ic(), sec.ak, ui)
            ui = cipher.wrap(cipher.FORM_GLO, acse.INITIATE_RESPONSE, content)
        return acse.encode_aare(
            ctx,
            acse.RESULT_ACCEPTED,
            # HLS: accepted, pending passes 3 and 4 (Green Book 9.2.7.4)
            acse.DIAG_AUTHENTICATION_REQUIRED if hls else acse.DIAG_NULL,
            responding_ap_title=sec.system_title if ciphered or hls and sec else None,
            mechanism=policy.mechanism,
            auth_value=auth_value,
            user_information=ui,
        )

    def hls_reply(self, answer):
        """Association LN reply_to_HLS_authentication: check f(StoC), answer f(CtoS)."""
        from dlms.security import hls

        if self.state != STATE_PENDING or self.stoc is None:
            raise DataAccessError(xdlms.READ_WRITE_DENIED)
        mech = self.policy.mechanism
        sec = self.server.security
        own = sec.system_title if sec else None
        gcm = sec.gcm() if sec else None
        ak = sec.ak if sec else b""
        ok = hls.verify(
            mech, self.policy.secret, self.stoc, answer, self.client_title, own, self.ctos, gcm, ak
        )
        # (the IC inside a GMAC f(StoC) needs no replay check: StoC is fresh)
        if ok is False:
            log.warning("client %d: HLS authentication failure", self.client_sap)
            self.state = STATE_IDLE
            raise DataAccessError(xdlms.OTHER_REASON)
        self.state = STATE_ASSOCIATED
        log.info("client %d: HLS authentication passed", self.client_sap)
        return hls.response(
            mech,
            self.policy.secret,
            self.ctos,
            own,
            self.client_title,
            self.stoc,
            gcm,
            ak,
            sec.next_ic() if sec else 0,
            sec.suite if sec else 0,
        )

    def _rlrq(self, apdu):
        reason, info = acse.decode_rlrq(apdu)
        was = self.state
        self.state = STATE_IDLE
        self._reset_transfers()
        if was == STATE_ASSOCIATED:
            log.info("client %d released", self.client_sap)
        resp_info = None
        if info is not None:
            resp_info = acse.encode_initiate_response(self.conformance, self.server.max_pdu)
            sec = self.server.security
            if self.ciphered and info[:1] == bytes((cipher.GLO_INITIATE_REQUEST,)):
                # a protected release (Green Book 9.4.4): the answer in kind
                try:
                    _, _, _, content = cipher.unwrap(info)
                    sc, ic, _ = cipher.unprotect(sec.gcm(), self.client_title, sec.ak, content)
                    if not sec.guard(self.client_title).check_and_accept(ic):
                        raise cipher.SecurityError("replayed RLRQ")
                    content = cipher.protect(
                        sec.gcm(),
                        (sc & 0x30) | sec.suite,
                        sec.system_title,
                        sec.next_ic(),
                        sec.ak,
                        resp_info,
                    )
                    resp_info = cipher.wrap(cipher.FORM_GLO, acse.INITIATE_RESPONSE, content)
                except (DecodeError, cipher.SecurityError) as e:
                    log.warning("client %d: protected RLRQ not verified: %s", self.client_sap, e)
                    resp_info = None
        self.ciphered = False
        return acse.encode_rlre(0, resp_info)

    # -- services ---------------------------------------------------------------

    def _protected(self, apdu):
        """A glo-/ded-/general-ciphered request: decipher, serve, cipher the answer."""
        sec = self.server.security
        if sec is None or not self.ciphered or self.state == STATE_IDLE:
            return xdlms.exception_response(
                xdlms.STATE_SERVICE_NOT_ALLOWED, xdlms.SERVICE_OPERATION_NOT_POSSIBLE
            )
        form, plain_tag, title, content = cipher.unwrap(apdu)
        dedicated = form == cipher.FORM_DED or form == cipher.FORM_GENERAL_DED
        try:
            if title is not None and title != self.client_title:
                raise cipher.SecurityError("system title %s is not the client's" % title)
            if dedicated:
                if self.dedicated is None:
                    raise cipher.SecurityError("no dedicated key in this association")
                gcm, guard = self.dedicated, self._ded_guard
            else:
                gcm, guard = sec.gcm(), sec.guard(self.client_title)
            sc, ic, plain = cipher.unprotect(gcm, self.client_title, sec.ak, content)
            need = self.policy.security
            if sc & need != need:
                raise cipher.SecurityError("security control 0x%02X below the policy" % sc)
            if not guard.check_and_accept(ic):
                raise cipher.SecurityError("replayed invocation counter %d" % ic, 6)
        except cipher.SecurityError as e:
            log.warning("client %d: ciphered APDU refused: %s", self.client_sap, e)
            return xdlms.exception_response(xdlms.STATE_SERVICE_NOT_ALLOWED, e.reason)
        if not plain or (plain_tag is not None and plain[0] != plain_tag):
            raise DecodeError("ciphered APDU holds another service", 0)
        if plain[0] not in (xdlms.GET_REQUEST, xdlms.SET_REQUEST, xdlms.ACTION_REQUEST):
            raise DecodeError("not a GET/SET/ACTION request", 0)
        # The answer's counter is taken before serving: the request may change
        # the key (key transfer), and the answer still goes under the old key,
        # in the old key's counter series.
        try:
            ic = sec.next_ic()
        except cipher.SecurityError as e:
            log.error("%s", e)
            return xdlms.exception_response(xdlms.STATE_SERVICE_NOT_ALLOWED, e.reason)
        ak = sec.ak
        resp = self._service(plain)
        if resp is None:
            return None
        if resp[0] == xdlms.EXCEPTION_RESPONSE:
            return resp  # exception-response is never ciphered
        out_sc = ((self.policy.security or sc) & 0x30) | sec.suite
        content = cipher.protect(gcm, out_sc, sec.system_title, ic, ak, resp)
        return cipher.wrap(form, resp[0], content, sec.system_title)

    def _service(self, apdu):
        if self.state == STATE_IDLE:
            return xdlms.exception_response(
                xdlms.STATE_SERVICE_NOT_ALLOWED, xdlms.SERVICE_OPERATION_NOT_POSSIBLE
            )
        req = xdlms.decode_request(apdu)
        tag = req.tag
        need = (
            acse.CONF_GET
            if tag == xdlms.GET_REQUEST
            else acse.CONF_SET
            if tag == xdlms.SET_REQUEST
            else acse.CONF_ACTION
        )
        if not self.conformance & need:
            return xdlms.exception_response(
                xdlms.STATE_SERVICE_NOT_ALLOWED, xdlms.SERVICE_NOT_SUPPORTED
            )
        if tag == xdlms.GET_REQUEST:
            if req.kind != xdlms.NEXT:
                self._out = None  # a new request ends a long GET
            return self._get(req)
        self._out = None
        if tag == xdlms.SET_REQUEST:
            return self._set(req)
        return self._action(req)

    def _resolve(self, item, need_class=True):
        class_id, ln = item[0], item[1]
        obj = self.device.find(ln, self)
        if obj is None:
            raise DataAccessError(xdlms.OBJECT_UNDEFINED)
        if need_class and obj.CLASS_ID != class_id:
            raise DataAccessError(xdlms.OBJECT_CLASS_INCONSISTENT)
        return obj

    def read(self, item):
        """Typed data or ArrayStream for a GET item; raises DataAccessError."""
        if self.state != STATE_ASSOCIATED:
            raise DataAccessError(xdlms.READ_WRITE_DENIED)  # HLS still pending
        obj = self._resolve(item)
        attr, selector, params = item[2], item[3], item[4]
        if not obj.attribute_access(self.level, attr) & 1:
            raise DataAccessError(xdlms.READ_WRITE_DENIED)
        if attr == 1:
            # logical_name: the name the client used (0.0.40.0.0.255 for the
            # current association, whichever instance serves it)
            return (axdr.OCTET_STRING, bytes(item[1]))
        if selector is not None:
            sel = obj.SELECTORS.get(attr)
            if not sel or selector not in sel:
                raise DataAccessError(xdlms.OTHER_REASON)
        return obj.get(attr, self, selector, params)

    def write(self, item, data):
        if self.state != STATE_ASSOCIATED:
            raise DataAccessError(xdlms.READ_WRITE_DENIED)
        obj = self._resolve(item)
        attr = item[2]
        if not obj.attribute_access(self.level, attr) & 2:
            raise DataAccessError(xdlms.READ_WRITE_DENIED)
        obj.set(attr, data, self)

    def invoke(self, item, data):
        obj = self._resolve(item)
        if self.state != STATE_ASSOCIATED and not (obj is self.association_object and item[2] == 1):
            raise DataAccessError(xdlms.READ_WRITE_DENIED)  # only HLS pass 3 while pending
        if not obj.method_access(self.level, item[2]):
            raise DataAccessError(xdlms.READ_WRITE_DENIED)
        return obj.action(item[2], data, self)

    def _call(self, fn, *args):
        """(result, value) of a read/write/invoke, mapping failures to results."""
        try:
            return xdlms.SUCCESS, fn(*args)
        except DataAccessError as e:
            return e.result, None
        except DecodeError:
            return xdlms.TYPE_UNMATCHED, None
        except Exception as e:  # a provider failed: the meter must keep answering
            log.error("%s%r failed: %r", fn.__name__, args[:1], e)
            return xdlms.HARDWARE_FAULT, None

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

    def _writer(self):
        w = axdr.Writer(self._buf)
        w.pos = 0
        return w

    def _send_body(self, invoke, it, kind):
        """Send a response body as one normal / with-list response or start blocks."""
        src = BlockSource(it)
        buf = self._buf
        limit = self._limit
        try:
            end = src.fill(buf, _HEADROOM, _HEADROOM + limit - 3)
            done = src.exhausted()
        except Exception as e:
            log.error("response encoding failed: %r", e)
            w = self._writer()
            xdlms.get_response_normal_result(w, invoke, xdlms.OTHER_REASON)
            return w.getvalue()
        body = end - _HEADROOM
        hlen = 4 if kind == xdlms.NORMAL else 3
        if done and body + hlen <= limit:
            start = _HEADROOM - hlen
            buf[start] = xdlms.GET_RESPONSE
            buf[start + 1] = kind
            buf[start + 2] = invoke
            if kind == xdlms.NORMAL:
                buf[start + 3] = 0  # Get-Data-Result: data
            return memoryview(buf)[start:end]
        if not self.conformance & acse.CONF_BLOCK_TRANSFER_WITH_GET:
            log.warning(
                "client %d: answer over %d octets without block transfer", self.client_sap, limit
            )
            w = self._writer()
            xdlms.get_response_normal_result(w, invoke, xdlms.OTHER_REASON)
            return w.getvalue()
        self._out = src
        self._out_invoke = invoke
        src.block = 0
        return self._datablock(invoke, prefilled=body)

    def _datablock(self, invoke, prefilled=-1):
        """The next GET-Response-With-Datablock of the long GET in progress."""
        src = self._out
        buf = self._buf
        # raw-data room: the limit less the header with a 3-octet length at most
        room = self._limit - _HEADROOM
        if prefilled < 0:
            end = src.fill(buf, _HEADROOM, _HEADROOM + room)
        else:
            # the first block: what _send_body already put there, cut to the room
            end = _HEADROOM + min(prefilled, room)
            if prefilled > room:
                src.push_back(buf[end : _HEADROOM + prefilled])
        last = src.exhausted()
        src.block += 1
        n = end - _HEADROOM
        lenlen = 1 if n < 0x80 else (2 if n < 0x100 else 3)
        start = _HEADROOM - 9 - lenlen
        w = axdr.Writer(buf)
        w.pos = start
        xdlms.get_response_datablock_head(w, invoke, last, src.block, n)
        if last:
            self._out = None
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
            results = []
            try:
                n, pos = axdr.decode_length(raw, 0)
                for it in first.items:
                    data, pos = axdr.decode(raw, pos)
                    results.append(self._call(self.write, it, data)[0])
                if n != len(first.items):
                    raise DecodeError("value count", 0)
            except DecodeError:
                results = [xdlms.TYPE_UNMATCHED] * len(first.items)
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
                results = [self._call(self.invoke, it, v) for it, v in zip(req.items, req.values)]
                xdlms.action_response_with_list(w, req.invoke, results)
            elif kind == xdlms.ACTION_FIRST_PBLOCK:
                self._in = bytearray()
                self._in_req = req
                self._in_block = 0
                return self._action_block(req, w)
            elif kind == xdlms.ACTION_PBLOCK:
                if self._in is None or self._in_req.tag != xdlms.ACTION_REQUEST:
                    xdlms.action_response_normal(w, req.invoke, xdlms.NO_LONG_GET_IN_PROGRESS)
                else:
                    return self._action_block(req, w)
            else:
                xdlms.action_response_normal(w, req.invoke, xdlms.OTHER_REASON)
        except BufferFull:
            # return data over the PDU size: long action responses are not offered
            w = self._writer()
            xdlms.action_response_normal(w, req.invoke, xdlms.OTHER_REASON)
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
