"""Association control (Green Book 9.4): AARQ/AARE, HLS passes 3 and 4,
RLRQ/RLRE, and the protection of ciphered APDUs (9.2.7).

A part of ``dlms.server.Association`` (a mixin): it works on the association's
state, policy and the server's SecurityContext.
"""

import log
from micropython import const

from dlms import acse, xdlms
from dlms.errors import DataAccessError, DecodeError
from dlms.security import cipher

STATE_IDLE = const(0)  # association_status non-associated
STATE_PENDING = const(1)  # association-pending (HLS pass 3/4 outstanding)
STATE_ASSOCIATED = const(2)

MIN_PDU = const(64)
# what ciphering adds at most: general-glo tag, title (1 + 8), length (3),
# SC, IC (4), tag (12)
CIPHER_OVERHEAD = const(30)


class AssociationControl:
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
        self.ciphered = False
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
                init_sc, ui = self._verify(policy, content)
            elif policy.security:
                raise cipher.SecurityError("the InitiateRequest must be ciphered")
            ini = acse.decode_initiate_request(ui)
            # a dedicated key travels only encrypted (Green Book 9.2.7.2.4.2)
            if ini.dedicated_key is not None and not init_sc & cipher.SC_ENCRYPTION:
                raise cipher.SecurityError("a dedicated key in an InitiateRequest not encrypted")
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
        if err is None and client_pdu < MIN_PDU:
            err = acse.INITIATE_ERROR_PDU_SIZE_TOO_SHORT
        if err is None and ini.dedicated_key is not None:
            if not ciphered or len(ini.dedicated_key) != sec.key_length():
                err = acse.INITIATE_ERROR_OTHER
        if err is not None:
            return self._aare_reject(ctx, acse.DIAG_NO_REASON, acse.encode_initiate_error(err))
        answer_ic = 0
        if ciphered and init_sc:
            try:
                answer_ic = sec.next_ic()  # the InitiateResponse's
            except cipher.SecurityError as e:
                log.error("client %d: AARQ refused: %s", self.client_sap, e)
                return self._aare_reject(ctx, acse.DIAG_NO_REASON)
        self.policy = policy
        self.level = policy.level
        self.conformance = conformance
        self.client_max_pdu = client_pdu
        self.ciphered = ciphered
        self._limit = min(client_pdu, self.server.max_pdu)
        if ciphered:
            self._limit -= CIPHER_OVERHEAD
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
            content = cipher.protect(sec.gcm(), sc, sec.system_title, answer_ic, sec.ak, ui)
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
                    sc, _ = self._verify(self.policy, content)
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

    def _verify(self, policy, content, key=None):
        """``(sc, plain apdu)`` of a client's SC || IC || payload || tag:
        deciphered (SecurityContext.open; ``key``: the dedicated one), as
        protected as ``policy`` wants, and its counter above every one
        accepted, which is recorded only then: a counter recorded from a
        frame the policy refuses (one without a tag, which anyone can
        write) would lock the real client out. SecurityError otherwise."""
        sc, ic, plain, guard = self.server.security.open(content, self.client_title, key)
        need = policy.security
        if sc & need != need:
            raise cipher.SecurityError("security control 0x%02X below the policy" % sc)
        if not guard.check_and_accept(ic):
            at = (guard.last or 0) + 1  # the lowest counter still accepted
            raise cipher.SecurityError("replayed invocation counter %d" % ic, 6, at)
        return sc, plain

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
            key = None
            if dedicated:
                if self.dedicated is None:
                    raise cipher.SecurityError("no dedicated key in this association")
                key = (self.dedicated, self._ded_guard)
            sc, plain = self._verify(self.policy, content, key)
            gcm = self.dedicated if dedicated else sec.gcm()  # the answer's key
        except cipher.SecurityError as e:
            log.warning("client %d: ciphered APDU refused: %s", self.client_sap, e)
            return xdlms.exception_response(xdlms.STATE_SERVICE_NOT_ALLOWED, e.reason, e.ic)
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
            return xdlms.exception_response(xdlms.STATE_SERVICE_NOT_ALLOWED, e.reason, e.ic)
        ak = sec.ak
        self._at = -1
        resp = self._service(plain)
        if resp is None:
            return None
        if resp[0] == xdlms.EXCEPTION_RESPONSE:
            return resp  # exception-response is never ciphered
        out_sc = ((self.policy.security or sc) & 0x30) | sec.suite
        # ciphered where the answer lies, in the association's buffer, with
        # the room the services keep around it: nothing is copied
        room = self.room_before(resp, 0)
        if room is not None:
            buf, at = room
            at, end = cipher.seal(gcm, out_sc, sec.system_title, ic, ak, buf, at, len(resp), form)
            self._at = at
            return memoryview(buf)[at:end]
        log.warning("client %d: answer 0x%02X not in its buffer", self.client_sap, resp[0])
        content = cipher.protect(gcm, out_sc, sec.system_title, ic, ak, resp)
        return cipher.wrap(form, resp[0], content, sec.system_title)
