"""A small COSEM model for the application-layer tests (both runtimes)."""

from cosem.association import AssociationLN
from cosem.base import MANAGER, PUBLIC, READER, LogicalDevice
from cosem.data import Data
from cosem.register import UNIT_WH, Register
from cosem.sap import SapAssignment
from dlms import acse, axdr
from dlms.server import ClientPolicy, Server
from dlms.stream import ArrayStream

LDN = b"MPY0000000000001"


class BigArray(Data):
    """A Data object whose value is a streamed array of ``n`` long-unsigned."""

    def __init__(self, ln, n):
        super().__init__(ln, None, public=True, writable=())
        self.n = n

    def get(self, attr, ctx, selector=None, params=None):
        if attr == 2:
            n = self.n

            def items():
                for i in range(n):
                    yield (axdr.LONG_UNSIGNED, i)

            return ArrayStream(n, items)
        return super().get(attr, ctx)

    METHODS = ("echo_array",)

    def method_access(self, level, method):
        return 1 if method == 1 else 0

    def action(self, method, data, ctx):
        # method 1: return an array of ``data`` long-unsigned (for long answers)
        if method == 1:
            return (axdr.ARRAY, [(axdr.LONG_UNSIGNED, i) for i in range(data[1])])
        return super().action(method, data, ctx)


def build(max_pdu=256):
    policies = {
        16: ClientPolicy(16, PUBLIC),
        17: ClientPolicy(17, READER, acse.MECHANISM_LLS, b"12345678"),
        1: ClientPolicy(1, MANAGER, acse.MECHANISM_LLS, b"12345678"),
    }
    ld = LogicalDevice(1, LDN)
    ld.add(Data("0.0.42.0.0.255", (axdr.OCTET_STRING, LDN), public=True, writable=()))
    ld.add(Data("0.0.96.1.0.255", (axdr.VISIBLE_STRING, "12345678")))
    ld.add(Register("1.0.1.8.0.255", axdr.DOUBLE_LONG_UNSIGNED, 123456, 0, UNIT_WH))
    ld.add(BigArray("0.0.128.0.0.255", 500))
    ld.associations = {}
    for i, sap in enumerate((16, 17, 1)):
        a = AssociationLN("0.0.40.0.%d.255" % (i + 1), ld, policies[sap])
        ld.add(a)
        ld.associations[sap] = a
    devices = {1: ld}
    ld.add(SapAssignment("0.0.41.0.0.255", devices))
    return Server(devices, policies, max_pdu=max_pdu)
