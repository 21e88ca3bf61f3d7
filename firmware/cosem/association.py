"""Association LN, interface class 15 version 1 (Blue Book 4.4.3).

One instance per configured client (0.0.40.0.N.255); 0.0.40.0.0.255 always
resolves to the instance of the association in use. Its object_list reports
the access rights of *its* client, computed by the same rule the server
enforces (cosem.base), and is streamed element by element.
"""

from dlms import acse, axdr
from dlms.errors import DataAccessError
from dlms.stream import ArrayStream

from cosem.base import (
    CURRENT_ASSOCIATION,
    MANAGER,
    METHOD_ACCESS,
    NO_ACCESS,
    READ_WRITE_DENIED,
    TYPE_UNMATCHED,
    WRITE_ONLY,
    CosemObject,
    expect,
)

STATUS_NON_ASSOCIATED = 0
STATUS_PENDING = 1
STATUS_ASSOCIATED = 2


def _name_structure(arc, ident):
    # {joint-iso-ctt(2) country(16) country-name(756) identified-organization(5)
    #  DLMS-UA(8) arc ident}: 2.16.756.5.8.<arc>.<ident>
    return (
        axdr.STRUCTURE,
        [
            (axdr.UNSIGNED, 2),
            (axdr.UNSIGNED, 16),
            (axdr.LONG_UNSIGNED, 756),
            (axdr.UNSIGNED, 5),
            (axdr.UNSIGNED, 8),
            (axdr.UNSIGNED, arc),
            (axdr.UNSIGNED, ident),
        ],
    )


class AssociationLN(CosemObject):
    CLASS_ID = 15
    VERSION = 1
    ATTRIBUTES = (
        "logical_name",
        "object_list",
        "associated_partners_id",
        "application_context_name",
        "xDLMS_context_info",
        "authentication_mechanism_name",
        "secret",
        "association_status",
        "security_setup_reference",
    )
    WRITABLE = (7,)
    METHODS = ("reply_to_HLS_authentication", "change_HLS_secret", "add_object", "remove_object")

    def __init__(
        self,
        ln,
        device,
        policy,
        context=acse.CONTEXT_LN,
        security_setup=b"\x00\x00\x2b\x00\x00\xff",
    ):
        super().__init__(ln, public=True)
        self.device = device
        self.policy = policy  # dlms.server.ClientPolicy of its client
        self.context = context
        self.security_setup = security_setup

    # Rights: the secret can be written by its own manager and is never read;
    # HLS pass 3/4 (method 1) is open to the client of the association.
    def attribute_access(self, level, attr):
        if attr == 7:
            return WRITE_ONLY if level >= MANAGER else NO_ACCESS
        return super().attribute_access(level, attr)

    def method_access(self, level, method):
        if method == 1 and self.policy.mechanism >= acse.MECHANISM_HLS:
            return METHOD_ACCESS
        if method in (3, 4):
            return 0  # the object list is fixed by the configuration
        return super().method_access(level, method)

    def visible(self, level):
        # the instances of other clients are the manager's business; everyone
        # sees its own association as 0.0.40.0.0.255
        return level >= MANAGER

    def _is_current(self, ctx):
        return ctx is not None and ctx.association_object is self

    def get(self, attr, ctx, selector=None, params=None):
        if attr == 2:
            objs = self.device.visible(self.policy.level)
            level = self.policy.level

            def items():
                # the current association first, then the logical device's objects
                yield _element(self, CURRENT_ASSOCIATION, level)
                for o in objs:
                    yield _element(o, o.ln, level)

            return ArrayStream(len(objs) + 1, items)
        if attr == 3:
            return (
                axdr.STRUCTURE,
                [(axdr.INTEGER, self.policy.sap), (axdr.LONG_UNSIGNED, self.device.sap)],
            )
        if attr == 4:
            # the context of this association: ciphered when it is (the
            # current one), or when its client must cipher (another one)
            ciphered = ctx.ciphered if self._is_current(ctx) else self.policy.security
            return _name_structure(1, acse.CONTEXT_LN_CIPHERED if ciphered else self.context)
        if attr == 5:
            cur = self._is_current(ctx)
            conf = ctx.conformance if cur else ctx.server.conformance if ctx else 0
            return (
                axdr.STRUCTURE,
                [
                    (axdr.BIT_STRING, _bits24(conf)),
                    (axdr.LONG_UNSIGNED, ctx.server.max_pdu if ctx else 0),
                    (axdr.LONG_UNSIGNED, ctx.client_max_pdu if cur else 0),
                    (axdr.UNSIGNED, acse.DLMS_VERSION),
                    (axdr.INTEGER, 0),
                    (axdr.OCTET_STRING, b""),
                ],
            )
        if attr == 6:
            return _name_structure(2, self.policy.mechanism)
        if attr == 8:
            return (axdr.ENUM, ctx.state if self._is_current(ctx) else STATUS_NON_ASSOCIATED)
        if attr == 9:
            return (axdr.OCTET_STRING, self.security_setup)
        return super().get(attr, ctx)

    def set(self, attr, data, ctx):
        if attr == 7:
            secret = expect(data, axdr.OCTET_STRING)
            if not secret:
                raise DataAccessError(TYPE_UNMATCHED)
            self.policy.secret = bytes(secret)
            self.policy.changed()
            return
        super().set(attr, data, ctx)

    def action(self, method, data, ctx):
        if method == 2:  # change_HLS_secret(octet-string)
            secret = expect(data, axdr.OCTET_STRING)
            if not secret:
                raise DataAccessError(TYPE_UNMATCHED)
            self.policy.secret = bytes(secret)
            self.policy.changed()
            return None
        if method == 1:  # reply_to_HLS_authentication(f(StoC)) -> f(CtoS)
            if not self._is_current(ctx):
                raise DataAccessError(READ_WRITE_DENIED)
            return (axdr.OCTET_STRING, ctx.hls_reply(expect(data, axdr.OCTET_STRING)))
        return super().action(method, data, ctx)


def _element(obj, ln, level):
    # object_list_element: {class_id, version, logical_name, access_rights}
    return (
        axdr.STRUCTURE,
        [
            (axdr.LONG_UNSIGNED, obj.CLASS_ID),
            (axdr.UNSIGNED, obj.VERSION),
            (axdr.OCTET_STRING, ln),
            obj.access_rights(level),
        ],
    )


def _bits24(n):
    s = ""
    for i in range(23, -1, -1):
        s += "1" if (n >> i) & 1 else "0"
    return s
