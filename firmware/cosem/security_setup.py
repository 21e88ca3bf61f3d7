"""Security setup, interface class 64 version 0 (Blue Book 4.4.7).

Shows and changes the server's security material (dlms.security.context):
security_policy of the current client, security_suite, the client and server
system titles; methods security_activate (the policy can only be
strengthened) and global_key_transfer (keys wrapped with the master key,
RFC 3394; every key of a transfer is checked before any is applied).
"""

from dlms import axdr
from dlms.errors import DataAccessError

from cosem.base import OTHER_REASON, TYPE_UNMATCHED, CosemObject, expect

# security_policy (version 0): 0 nothing, 1 all messages authenticated,
# 2 all messages encrypted, 3 all messages authenticated and encrypted
_POLICY_BITS = (0, 0x10, 0x20, 0x30)


class SecuritySetup(CosemObject):
    CLASS_ID = 64
    VERSION = 0
    ATTRIBUTES = (
        "logical_name",
        "security_policy",
        "security_suite",
        "client_system_title",
        "server_system_title",
    )
    METHODS = ("security_activate", "global_key_transfer")

    def __init__(self, ln, context):
        super().__init__(ln)
        self.context = context  # dlms.security.context.SecurityContext

    def get(self, attr, ctx, selector=None, params=None):
        if attr == 2:
            bits = ctx.policy.security if ctx is not None and ctx.policy else 0
            return (axdr.ENUM, _POLICY_BITS.index(bits & 0x30))
        if attr == 3:
            return (axdr.ENUM, self.context.suite)
        if attr == 4:
            title = ctx.client_title if ctx is not None else None
            return (axdr.OCTET_STRING, title or b"")
        if attr == 5:
            return (axdr.OCTET_STRING, self.context.system_title)
        return super().get(attr, ctx)

    def action(self, method, data, ctx):
        if method == 1:  # security_activate(security_policy)
            v = expect(data, axdr.ENUM)
            if not 0 <= v <= 3:
                raise DataAccessError(TYPE_UNMATCHED)
            bits = _POLICY_BITS[v]
            cur = ctx.policy.security
            if bits & cur != cur:
                raise DataAccessError(OTHER_REASON, "a policy can only be strengthened")
            ctx.policy.security = bits
            ctx.policy.changed()
            return None
        if method == 2:  # global_key_transfer(array of {key_id, key_wrapped})
            from dlms.security import keywrap

            items = expect(data, axdr.ARRAY)
            kek = self.context.keys.get(3)
            if kek is None or not items:
                raise DataAccessError(OTHER_REASON)
            new = []
            for it in items:
                fields = expect(it, axdr.STRUCTURE)
                if len(fields) != 2:
                    raise DataAccessError(TYPE_UNMATCHED)
                key_id = expect(fields[0], axdr.ENUM)
                wrapped = expect(fields[1], axdr.OCTET_STRING)
                if not 0 <= key_id <= 3:
                    raise DataAccessError(TYPE_UNMATCHED)
                try:
                    key = keywrap.unwrap(kek, wrapped)
                except Exception:
                    raise DataAccessError(OTHER_REASON, "key wrap integrity check failed")
                if key_id != 2 and len(key) != self.context.key_length():
                    raise DataAccessError(TYPE_UNMATCHED)
                new.append((key_id, key))
            for key_id, key in new:
                self.context.change_key(key_id, key)
            return None
        return super().action(method, data, ctx)
