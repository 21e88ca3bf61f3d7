"""The application layer of a COSEM server, sans-IO (Green Book 9).

``Server`` holds what all connections share: the logical devices (by server
SAP), the client policies (by client SAP), the negotiable conformance and PDU
size. Each transport connection, per client/server SAP pair, gets an
``Association``: ``handle(apdu)`` takes one request APDU and returns the
response APDU (a memoryview into the association's own buffer, valid until the
next call) or None when nothing is to be sent.

Association control (ACSE, HLS, ciphering) lives in dlms.association_control
and the GET/SET/ACTION services in dlms.services, as parts of ``Association``.

The association is the ``ctx`` the COSEM objects see: its ``level``,
``device``, ``association_object``, ``conformance``, ``state`` and ``server``.
Objects come from any model with ``LogicalDevice.find(ln, ctx)`` and the
``get/set/action/attribute_access/method_access`` of cosem.base.
"""

import log
from micropython import const

from dlms import acse, axdr, xdlms
from dlms.association_control import (  # noqa: F401  (states re-exported)
    STATE_ASSOCIATED,
    STATE_IDLE,
    STATE_PENDING,
    AssociationControl,
)
from dlms.errors import DataAccessError, DecodeError
from dlms.security import cipher
from dlms.services import HEADROOM, Services

_CONFIRMED = const(0x40)  # invoke-id-and-priority: service-class confirmed

# What this server implements (Green Book 9.4.6.1).
SUPPORTED_CONFORMANCE = acse.CONF_LN_SERVICES


class ClientPolicy:
    """How one client SAP may associate (the Association LN it lands in).

    ``security``: the protection its requests must carry, as security control
    bits (0, cipher.SC_AUTHENTICATION, cipher.SC_ENCRYPTION or both); a
    non-zero value needs the ciphered application context and the server's
    SecurityContext. Responses get the same protection. Whatever changes
    ``secret`` or ``security`` calls ``changed()``: ``on_change(policy)``
    persists them.
    """

    on_change = None

    def __init__(self, sap, level, mechanism=acse.MECHANISM_NONE, secret=None, name="", security=0):
        self.sap = sap
        self.level = level
        self.mechanism = mechanism
        self.secret = secret
        self.name = name
        self.security = security

    def changed(self):
        if self.on_change is not None:
            self.on_change(self)


class Server:
    keeper = None  # keeper(obj): saves obj's KEEP attributes (app.meter.keep_settings)

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
        # response buffers (max_pdu + HEADROOM) that associations and links
        # gave back, for the next ones: made once, they need not be found
        # again in a heap that long uptime has fragmented
        self._spare = []
        self.keep = 2  # kept at most (an association and a link's answer)

    def reserve(self, n=1):
        """Make ``n`` response buffers now (at boot, while the heap is whole)."""
        while len(self._spare) < n:
            self._spare.append(bytearray(self.max_pdu + HEADROOM))

    def take_buffer(self):
        return self._spare.pop() if self._spare else bytearray(self.max_pdu + HEADROOM)

    def give_buffer(self, buf):
        if len(self._spare) < self.keep:
            self._spare.append(buf)

    def now(self):
        return self.clock.now() if self.clock is not None else 0

    def association(self, client_sap, server_sap):
        """A new Association, or None when no logical device has that SAP."""
        device = self.devices.get(server_sap)
        if device is None:
            return None
        return Association(self, client_sap, device)


class Association(AssociationControl, Services):
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
        self._buf = None  # the response buffer, from the server while in use
        self._at = -1  # where in it the last answer starts
        self._limit = server.max_pdu
        self._out = None  # BlockSource of a long GET or ACTION answer in progress
        self._out_tag = 0  # GET_RESPONSE or ACTION_RESPONSE: which one
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
        except MemoryError:
            # the heap could not hold this answer: say so at once (three
            # octets), drop any transfer in progress, and stay associated
            self._reset_transfers()
            log.error("client %d: out of memory answering 0x%02X", self.client_sap, tag)
            return xdlms.exception_response(
                xdlms.STATE_SERVICE_NOT_ALLOWED, xdlms.SERVICE_OPERATION_NOT_POSSIBLE
            )
        log.warning("client %d: unsupported APDU 0x%02X", self.client_sap, tag)
        return xdlms.exception_response(xdlms.STATE_SERVICE_UNKNOWN, xdlms.SERVICE_NOT_SUPPORTED)

    def room_before(self, resp, n):
        """(buffer, start) when the answer ``resp`` that handle() just
        returned lies in the association's buffer with ``n`` octets free in
        front of it, from ``start``: the ciphering (n 0: the room the
        services keep) or a link may write its header there and send both as
        they lie, until the next handle() or abort(). None for an answer made
        elsewhere."""
        buf = self._buf
        at = self._at
        k = len(resp)
        if buf is None or at < n or at + k > len(buf) or memoryview(buf)[at : at + k] != resp:
            return None
        return buf, at - n

    def abort(self):
        """The transport went away: forget every transfer and the association."""
        self._reset_transfers()
        self.state = STATE_IDLE
        if self._buf is not None:
            self.server.give_buffer(self._buf)
            self._buf = None

    def _reset_transfers(self):
        self._out = None
        self._in = None
        self._in_req = None
        self._in_block = 0

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
        # a new request ends a long GET or ACTION answer; its next-block does not
        nxt = req.kind == xdlms.NEXT and tag != xdlms.SET_REQUEST
        if not nxt or self._out_tag != tag + 4:  # request tag + 4: its response
            self._out = None
        if tag == xdlms.GET_REQUEST:
            return self._get(req)
        resp = self._set(req) if tag == xdlms.SET_REQUEST else self._action(req)
        single = xdlms.SET_WITH_LIST if tag == xdlms.SET_REQUEST else xdlms.WITH_LIST
        if not req.invoke & _CONFIRMED and (req.kind == xdlms.NORMAL or req.kind == single):
            # an unconfirmed SET or ACTION (service-class 0 in its
            # invoke-id-and-priority, Green Book 9.3.x) is done, not answered
            return None
        return resp

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
        if attr in obj.KEEP and self.server.keeper is not None:
            self.server.keeper(obj)

    def invoke(self, item, data):
        obj = self._resolve(item)
        if self.state != STATE_ASSOCIATED and not (obj is self.association_object and item[2] == 1):
            raise DataAccessError(xdlms.READ_WRITE_DENIED)  # only HLS pass 3 while pending
        if not obj.method_access(self.level, item[2]):
            raise DataAccessError(xdlms.READ_WRITE_DENIED)
        ret = obj.action(item[2], data, self)
        if obj.KEEP and self.server.keeper is not None:
            self.server.keeper(obj)  # special days insert, calendar activation...
        return ret

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
