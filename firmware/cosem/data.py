"""Data, interface class 1 version 0 (Blue Book 4.3.1)."""

from dlms.errors import DataAccessError

from cosem.base import TYPE_UNMATCHED, CosemObject, value_of


class Data(CosemObject):
    CLASS_ID = 1
    VERSION = 0
    ATTRIBUTES = ("logical_name", "value")
    WRITABLE = (2,)

    def __init__(self, ln, value, public=False, writable=None):
        """``value``: typed data, or a callable returning it (a provider)."""
        super().__init__(ln, public)
        self.value = value
        if writable is not None:
            self.WRITABLE = writable

    def get(self, attr, ctx, selector=None, params=None):
        if attr == 2:
            return value_of(self.value)
        return super().get(attr, ctx)

    def set(self, attr, data, ctx):
        if attr != 2 or callable(self.value):
            return super().set(attr, data, ctx)
        if data[0] != self.value[0]:
            raise DataAccessError(TYPE_UNMATCHED)
        self.value = data
