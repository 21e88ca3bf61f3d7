"""Say what a captured frame is and why it does or does not decode: the
diagnostic behind ``python -m tools.decode`` on the host and the gateway's
``<base>/<node>/diagnose`` topic on a board.

``decode(data, key=None, auth_key=None, unauthenticated=False)`` takes the
octets as captured: a DSMR P1 telegram (text), Luxembourg's encrypted P1, a
HAN push (an HDLC frame, an M-Bus or wrapper frame, a bare APDU), or any of
them as hex text, and returns::

    {"kind": "p1" | "p1-encrypted" | "han" | None,
     "values": {"1-0:1.8.1": {"value": 4.426, "unit": "kWh"}, ...},
     "errors": ["crc", ...],      # why it is not a good reading (empty: it is)
     "warnings": ["line 12: ..."],  # lines skipped inside a good one
     ... "system_title", "invocation_counter", "timestamp" when known}

Errors use the decoders' words: framing, crc (fcs for HDLC), unknown
layout, missing key, wrong key or tag mismatch, stale counter.

A frame with a tag (SC 0x30, 0x10) and no ``auth_key``: Luxembourg's fixed
key is tried. Failing that, when ``key`` deciphers the frame the error is
"missing key" (only the authentication key is), when it does not "wrong
key or tag mismatch". With ``unauthenticated`` such a frame is deciphered
without its tag being checked, as some network operators hand out the
encryption key only, and a warning says the tag was not checked.
"""

import binascii

from gateway import dsmr, han

_HEX = b"0123456789abcdefABCDEF"


def _octets(data):
    """The octets, from hex text when that is what ``data`` is (spaces,
    colons and line ends allowed)."""
    data = bytes(data)
    text = bytes(c for c in data if c not in b" \t\r\n:")
    if text and len(text) % 2 == 0 and all(c in _HEX for c in text) and b"/" not in data:
        try:
            return binascii.unhexlify(text)
        except ValueError:
            pass
    return data


def _result(kind):
    return {"kind": kind, "values": {}, "errors": [], "warnings": []}


def _p1(text, res, authenticated=False):
    t = bytes(text)
    start = t.find(b"/")
    if start < 0 or t.find(b"!", start) < 0:
        res["errors"].append(dsmr.FRAMING)
        return res
    t = t[start:]
    bad = dsmr.check_telegram(t)
    if bad == dsmr.CRC and authenticated:
        # the GCM tag has proved every octet (and a Smarty CRC has been seen
        # not to match): the CRC is only noted
        res["warnings"].append("the telegram's own CRC does not match")
    elif bad:
        res["errors"].append(bad)
    p = dsmr.parse(t)
    for line, reason in p["errors"]:
        res["warnings"].append("line at %s: %s" % (line, reason))
    res["values"] = p["values"]
    if p.get("timestamp"):
        res["timestamp"] = dsmr.iso(p["timestamp"])
    res["identification"] = p.get("header")
    return res


def _han_apdu(apdu, key, auth_key, unauthenticated):
    keys = han.Keys(key, auth_key) if key else None
    r = han.decode(apdu, keys)
    if not key or auth_key is not None or han.MISSING_KEY not in r["errors"]:
        return r
    # a tag and no authentication key: Luxembourg's Smarty authenticates
    # with a published fixed one
    retry = han.decode(apdu, han.Keys(key, dsmr.SMARTY_AK))
    if not retry["errors"]:
        return retry
    trial = han.decode(apdu, han.Keys(key, unauthenticated=True))
    if unauthenticated:
        trial["warnings"] = ["its tag was not checked: no authentication key"]
        trial["tag_unchecked"] = True
        return trial
    if han.TAG_MISMATCH in trial["errors"]:
        # it deciphers to noise: the key is wrong, whatever the tag needs
        retry["warnings"] = ["no authentication key given: Luxembourg's was tried"]
        return retry
    # the key is right: only the authentication key is missing
    r["warnings"] = [
        "the key deciphers the frame, but its tag needs the authentication key "
        "(Luxembourg's did not verify it); without one it can be read unauthenticated"
    ]
    return r


def decode(data, key=None, auth_key=None, unauthenticated=False):
    raw = _octets(data)
    lead = raw.lstrip(b"\r\n \t\x00\xff")
    if lead[:1] == b"/":
        return _p1(lead, _result("p1"))
    # a bare DATA-NOTIFICATION only when that is what it starts with: found
    # inside a damaged frame it would hide the damage
    reader = han.ApduReader(han.RAW_PLAIN if lead[:1] == b"\x0f" else han.AUTO)
    apdus = reader.feed(raw) + reader.idle()
    if not apdus:
        res = _result(None)
        drops = [k for k, n in reader.errors.items() if n]
        res["errors"] = drops or [han.FRAMING]
        return res
    res = _result("han")
    for apdu in apdus:
        r = _han_apdu(apdu, key, auth_key, unauthenticated)
        for k in ("system_title", "invocation_counter", "timestamp"):
            if r.get(k) is not None:
                res[k] = r[k]
        res["errors"] += r["errors"]
        res["warnings"] += r.get("warnings", [])
        if r.get("telegram"):
            res["kind"] = "p1-encrypted"
            # a tag not checked proves nothing: then the telegram's CRC counts
            _p1(r["telegram"].encode(), res, authenticated=not r.get("tag_unchecked"))
        res["values"].update(r["values"])
    return res
