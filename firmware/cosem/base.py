"""The base of every interface class, access rights, and the logical device.

An interface class (Blue Book 4.x) is a small subclass of ``CosemObject`` with
its class id, version, attribute and method names in Blue Book order, the
attributes a management client may write, and ``get`` / ``set`` / ``action``
that answer in typed A-XDR data (``(tag, value)`` tuples, see dlms.axdr).
A refused access raises ``DataAccessError`` with the data-access-result.

Access rights follow the client's level (public, reader, manager) through one
rule, ``attribute_access`` / ``method_access``; the Association LN reports
exactly these rights in object_list and the server enforces the same calls.
"""

from dlms import axdr, obis
from dlms.errors import DataAccessError
from dlms.stream import ArrayStream  # noqa: F401  (re-exported for the classes)
from micropython import const

# Client levels: what an association may do (set per client in the config)
PUBLIC = const(0)  # read a subset of objects, no writes, no methods
READER = const(1)  # read everything
MANAGER = const(2)  # read everything, write writable attributes, run methods

# attribute_access_mode and method_access_mode (Blue Book 4.4.3, Association LN)
NO_ACCESS = const(0)
READ_ONLY = const(1)
WRITE_ONLY = const(2)
READ_WRITE = const(3)
METHOD_NO_ACCESS = const(0)
METHOD_ACCESS = const(1)

# data-access-result codes used by the classes (same numbers as dlms.xdlms)
READ_WRITE_DENIED = const(3)
OBJECT_UNAVAILABLE = const(11)
TYPE_UNMATCHED = const(12)
SCOPE_OF_ACCESS_VIOLATED = const(13)
OTHER_REASON = const(250)
HARDWARE_FAULT = const(1)
TEMPORARY_FAILURE = const(2)

CURRENT_ASSOCIATION = b"\x00\x00\x28\x00\x00\xff"


class CosemObject:
    CLASS_ID = 0
    VERSION = 0
    ATTRIBUTES = ("logical_name",)
    # attribute ids a management client may write
    WRITABLE = ()
    METHODS = ()
    # attribute id -> selective access selectors supported
    SELECTORS = {}
    # attribute ids whose values outlive a reboot (configuration a client
    # sets: time zone, calendars, thresholds...): the server's ``keeper``
    # saves them after a client's SET of one of them or any method, and
    # ``restore`` puts each back at boot (app.meter.keep_settings)
    KEEP = ()

    # visible to the public client (Blue Book leaves the subset to the meter);
    # set on the instance only when True: one attribute fewer on most objects
    public = False

    def __init__(self, ln, public=False):
        self.ln = obis.parse(ln)
        if public:
            self.public = True

    def restore(self, attr, data):
        """A kept value back at boot, as a SET with no side effect would;
        classes whose SET does more (or cannot) override it."""
        self.set(attr, data, None)

    def __repr__(self):
        return "<%s %s>" % (type(self).__name__, obis.dotted(self.ln))

    # -- access rights ------------------------------------------------------

    def attribute_access(self, level, attr):
        if attr < 1 or attr > len(self.ATTRIBUTES):
            return NO_ACCESS
        if level >= MANAGER and attr in self.WRITABLE:
            return READ_WRITE
        return READ_ONLY

    def method_access(self, level, method):
        if method < 1 or method > len(self.METHODS):
            return METHOD_NO_ACCESS
        return METHOD_ACCESS if level >= MANAGER else METHOD_NO_ACCESS

    def visible(self, level):
        return level > PUBLIC or self.public

    def access_rights(self, level):
        """The access_rights structure of object_list (Association LN v1+)."""
        attrs = []
        for a in range(1, len(self.ATTRIBUTES) + 1):
            sel = self.SELECTORS.get(a)
            attrs.append(
                (
                    axdr.STRUCTURE,
                    [
                        (axdr.INTEGER, a),
                        (axdr.ENUM, self.attribute_access(level, a)),
                        (axdr.ARRAY, [(axdr.INTEGER, s) for s in sel])
                        if sel
                        else (axdr.NULL_DATA, None),
                    ],
                )
            )
        methods = []
        for m in range(1, len(self.METHODS) + 1):
            methods.append(
                (
                    axdr.STRUCTURE,
                    [(axdr.INTEGER, m), (axdr.ENUM, self.method_access(level, m))],
                )
            )
        return (axdr.STRUCTURE, [(axdr.ARRAY, attrs), (axdr.ARRAY, methods)])

    # -- services -------------------------------------------------------------

    def get(self, attr, ctx, selector=None, params=None):
        """Typed data (or an ArrayStream) of attribute ``attr``."""
        if attr == 1:
            return (axdr.OCTET_STRING, self.ln)
        raise DataAccessError(OBJECT_UNAVAILABLE)

    def set(self, attr, data, ctx):
        raise DataAccessError(READ_WRITE_DENIED)

    def action(self, method, data, ctx):
        """Typed return data or None."""
        raise DataAccessError(READ_WRITE_DENIED)


def expect(data, *tags):
    """The value of typed ``data`` if its tag is one of ``tags``, else type-unmatched."""
    if data is None or data[0] not in tags:
        raise DataAccessError(TYPE_UNMATCHED)
    return data[1]


def value_of(provider):
    """A provider is a value or a callable returning it."""
    return provider() if callable(provider) else provider


class LogicalDevice:
    """The objects of one logical device (Green Book 4.1.3), keyed by OBIS.

    ``sap`` is its server SAP (1 = management logical device), the upper HDLC
    address and the wrapper wPort it answers on. The logical device name
    object 0.0.42.0.0.255 must be among its objects.
    """

    def __init__(self, sap, name):
        self.sap = sap
        self.name = name  # logical device name, bytes (up to 16)
        self.objects = {}
        self.order = []

    def add(self, obj):
        if obj.ln in self.objects:
            raise ValueError("duplicate object %s" % obis.dotted(obj.ln))
        self.objects[obj.ln] = obj
        self.order.append(obj)
        return obj

    def find(self, ln, ctx=None):
        """The object at ``ln``; 0.0.40.0.0.255 is the current association."""
        ln = bytes(ln)
        if ctx is None:
            return self.objects.get(ln)
        if ln == CURRENT_ASSOCIATION:
            return ctx.association_object
        obj = self.objects.get(ln)
        if obj is None or not obj.visible(ctx.level):
            return None
        return obj

    def visible(self, level):
        return [o for o in self.order if o.visible(level)]
