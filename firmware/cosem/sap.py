"""SAP assignment, interface class 17 version 0 (Blue Book 4.4.5).

Lists every logical device of the physical device with its SAP; lives in the
management logical device (0.0.41.0.0.255).
"""

from dlms import axdr

from cosem.base import CosemObject


class SapAssignment(CosemObject):
    CLASS_ID = 17
    VERSION = 0
    ATTRIBUTES = ("logical_name", "SAP_assignment_list")
    METHODS = ("connect_logical_device",)

    def __init__(self, ln, devices):
        super().__init__(ln, public=True)
        self.devices = devices  # {sap: LogicalDevice}

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
