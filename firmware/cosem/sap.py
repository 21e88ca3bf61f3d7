"""SAP assignment, interface class 17 version 0 (Blue Book 4.4.5).

Lists every logical device of the physical device with its SAP; lives in the
management logical device (0.0.41.0.0.255). The logical devices are fixed
by the configuration: connect_logical_device (method 1) is not implemented,
and object_list says so (method access 0).
"""

from dlms import axdr

from cosem.base import METHOD_NO_ACCESS, CosemObject


class SapAssignment(CosemObject):
    CLASS_ID = 17
    VERSION = 0
    ATTRIBUTES = ("logical_name", "SAP_assignment_list")
    METHODS = ("connect_logical_device",)

    def __init__(self, ln, devices):
        super().__init__(ln, public=True)
        self.devices = devices  # {sap: LogicalDevice}

    def method_access(self, level, method):
        return METHOD_NO_ACCESS

    def get(self, attr, ctx, selector=None, params=None):
        if attr == 2:
            return (
                axdr.ARRAY,
                [
                    (axdr.STRUCTURE, [(axdr.LONG_UNSIGNED, sap), (axdr.OCTET_STRING, d.name)])
                    for sap, d in sorted(self.devices.items())
                ],
            )
        return super().get(attr, ctx)
