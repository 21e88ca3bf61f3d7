"""OBIS codes (IEC 62056-6-1): the 6-byte form and its text forms.

Parsed forms: ``1.0.1.8.0.255``, ``1-0:1.8.0*255``, ``1-0:1.8.0.255``,
``1-0:1.8.0`` (F defaults to 255, as P1 telegrams and 62056-21 readouts
write it) and ``1-0:1.8.0&01`` (the billing-period separator of readouts).
The canonical value is a 6-byte ``bytes``.
"""

from dlms.errors import DecodeError


def parse(text):
    """bytes(6) from any of the text forms; DecodeError if it is not one."""
    if isinstance(text, (bytes, bytearray, memoryview)):
        if len(text) == 6:
            return bytes(text)
        text = bytes(text).decode()
    s = text.strip()
    groups = None
    if "-" in s and ":" in s:
        ab, rest = s.split(":", 1)
        a, b = ab.split("-", 1)
        f = "255"
        for sep in ("*", "&"):
            if sep in rest:
                rest, f = rest.split(sep, 1)
                break
        cde = rest.split(".")
        if len(cde) == 4:
            f = cde.pop()
        if len(cde) == 3:
            groups = [a, b] + cde + [f]
    else:
        parts = s.split(".")
        if len(parts) == 6:
            groups = parts
    if groups is None:
        raise DecodeError("not an OBIS code: %r" % (text,))
    out = bytearray(6)
    for i, g in enumerate(groups):
        if not g or not g.isdigit():
            raise DecodeError("not an OBIS code: %r" % (text,))
        v = int(g)
        if v > 255:
            raise DecodeError("OBIS group over 255: %r" % (text,))
        out[i] = v
    return bytes(out)


def dotted(code):
    """``1.0.1.8.0.255``: the form Gurux and this project's configs use."""
    return "%d.%d.%d.%d.%d.%d" % tuple(code)


def reduced(code):
    """``1-0:1.8.0*255``: the IEC 62056-61 form with every group."""
    return "%d-%d:%d.%d.%d*%d" % tuple(code)


def short(code):
    """``1-0:1.8.0``: the P1 / 62056-21 form, F omitted when it is 255."""
    c = tuple(code)
    if c[5] == 255:
        return "%d-%d:%d.%d.%d" % c[:5]
    return "%d-%d:%d.%d.%d*%d" % c
