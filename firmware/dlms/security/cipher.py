"""Ciphered xDLMS APDUs (Green Book 9.2.7, security suites 0 and 1).

A protected APDU carries ``SC || IC || payload [|| tag]``:

- the security control byte SC: suite id in bits 0-3, authentication 0x10,
  encryption 0x20, broadcast key 0x40, compression 0x80;
- the sender's invocation counter IC (4 octets), IV = sender system title || IC;
- encryption and authentication with AES-GCM, a 12-octet tag; the additional
  authenticated data is SC || AK, and for authentication only SC || AK || plain.

It travels in a service-specific glo-/ded- APDU (``tag, length, content``) or
in general-glo-/general-ded-ciphering (``tag, system title, length, content``);
a response goes back in the form its request came in.
"""

from micropython import const

from dlms import axdr
from dlms.errors import DecodeError

SC_AUTHENTICATION = const(0x10)
SC_ENCRYPTION = const(0x20)
SC_BROADCAST = const(0x40)
SC_COMPRESSION = const(0x80)
TAG_LEN = const(12)

GENERAL_GLO_CIPHERING = const(0xDB)
GENERAL_DED_CIPHERING = const(0xDC)
GLO_INITIATE_REQUEST = const(0x21)
GLO_INITIATE_RESPONSE = const(0x28)

# plain tag -> (glo tag, ded tag), Green Book Table 70
_PROTECTED = {
    0x01: (0x21, None),  # InitiateRequest
    0x08: (0x28, None),  # InitiateResponse
    0x0E: (0x2E, None),  # ConfirmedServiceError
    0xC0: (0xC8, 0xD0),  # get-request
    0xC1: (0xC9, 0xD1),  # set-request
    0xC2: (0xCA, 0xD2),  # event-notification-request
    0xC3: (0xCB, 0xD3),  # action-request
    0xC4: (0xCC, 0xD4),  # get-response
    0xC5: (0xCD, 0xD5),  # set-response
    0xC7: (0xCF, 0xD7),  # action-response
}
_GLO = {}
_DED = {}
for _plain, (_g, _d) in _PROTECTED.items():
    _GLO[_g] = _plain
    if _d is not None:
        _DED[_d] = _plain

FORM_GLO = const(1)
FORM_DED = const(2)
FORM_GENERAL_GLO = const(3)
FORM_GENERAL_DED = const(4)


class SecurityError(Exception):
    """A protected APDU that must be refused: ``reason`` is the exception-response
    service-error to send (5 deciphering-error, 6 invocation-counter-error,
    with ``ic``)."""

    def __init__(self, msg, reason=5, ic=0):
        super().__init__(msg)
        self.reason = reason
        self.ic = ic  # invocation-counter-error: the lowest counter accepted


def is_protected(tag):
    return (
        tag in _GLO or tag in _DED or tag == GENERAL_GLO_CIPHERING or tag == GENERAL_DED_CIPHERING
    )


def unwrap(apdu):
    """(form, plain tag or None, system title or None, content) of a protected APDU.

    ``content`` is SC || IC || payload || tag as a memoryview into ``apdu``.
    """
    tag = apdu[0]
    title = None
    pos = 1
    if tag == GENERAL_GLO_CIPHERING or tag == GENERAL_DED_CIPHERING:
        n, pos = axdr.decode_length(apdu, pos)
        title = bytes(apdu[pos : pos + n])
        pos += n
        form = FORM_GENERAL_GLO if tag == GENERAL_GLO_CIPHERING else FORM_GENERAL_DED
        plain = None
    elif tag in _GLO:
        form, plain = FORM_GLO, _GLO[tag]
    elif tag in _DED:
        form, plain = FORM_DED, _DED[tag]
    else:
        raise DecodeError("not a ciphered APDU", 0)
    n, pos = axdr.decode_length(apdu, pos)
    if pos + n != len(apdu):
        raise DecodeError("ciphered APDU length", pos)
    if n < 5:
        raise DecodeError("ciphered APDU too short", pos)
    return form, plain, title, memoryview(apdu)[pos : pos + n]


def _head(form, plain_tag, system_title, n):
    """The octets in front of a protected APDU's ``n`` octets of content."""
    w = axdr.Writer(13)
    if form == FORM_GENERAL_GLO or form == FORM_GENERAL_DED:
        w.byte(GENERAL_GLO_CIPHERING if form == FORM_GENERAL_GLO else GENERAL_DED_CIPHERING)
        axdr.encode_length(w, len(system_title))
        w.write(system_title)
    else:
        g, d = _PROTECTED[plain_tag]
        w.byte(g if form == FORM_GLO else d)
    axdr.encode_length(w, n)
    return w.getvalue()


def wrap(form, plain_tag, content, system_title=None):
    """The protected APDU of ``content`` (SC || IC || payload || tag)."""
    return bytes(_head(form, plain_tag, system_title, len(content))) + content


def seal(gcm, sc, system_title, ic, ak, buf, at, n, form):
    """Protect the APDU in the bytearray ``buf[at:at + n]`` where it lies:
    its form's head, SC and IC go into the octets before it, the tag (with
    authentication) into the 12 after it, and it is encrypted in place
    (with encryption). Returns (start, end): the protected APDU is
    ``buf[start:end]``; raises ValueError when ``buf`` has no room for them
    (at most 18 octets in front: general-glo-ciphering with a 3-octet length)."""
    tag_len = TAG_LEN if sc & SC_AUTHENTICATION else 0
    if not sc & (SC_AUTHENTICATION | SC_ENCRYPTION):
        raise ValueError("security control 0x%02X protects nothing" % sc)
    head = _head(form, buf[at], system_title, 5 + n + tag_len)
    start = at - 5 - len(head)
    end = at + n + tag_len
    if start < 0 or end > len(buf):
        raise ValueError("no room to protect %d octets at %d" % (n, at))
    iv = _iv(system_title, ic)
    buf[start : start + len(head)] = head
    buf[at - 5] = sc
    buf[at - 4 : at] = iv[8:]
    mv = memoryview(buf)
    if sc & SC_ENCRYPTION:
        if tag_len:
            gcm.encrypt_into(iv, bytes((sc,)) + ak, buf, at, at + n, TAG_LEN, mv[at + n : end])
        else:
            gcm.encrypt_into(iv, b"", buf, at, at + n)  # CTR alone; the tag is dropped
    else:
        # GMAC over SC || AK || the APDU, which stays in clear
        aad = bytes((sc,)) + ak + bytes(mv[at : at + n])
        gcm.gmac(iv, aad, TAG_LEN, mv[at + n : end])
    return start, end


def _iv(system_title, ic):
    return bytes(system_title) + bytes(
        ((ic >> 24) & 0xFF, (ic >> 16) & 0xFF, (ic >> 8) & 0xFF, ic & 0xFF)
    )


def protect(gcm, sc, system_title, ic, ak, apdu):
    """SC || IC || payload || tag for ``apdu`` under ``sc`` (0x10, 0x20 or 0x30 + suite)."""
    iv = _iv(system_title, ic)
    head = bytes((sc,)) + iv[8:]
    if sc & SC_ENCRYPTION:
        aad = bytes((sc,)) + ak if sc & SC_AUTHENTICATION else b""
        ct, tag = gcm.encrypt(iv, aad, apdu, TAG_LEN)
        return head + ct + (tag if sc & SC_AUTHENTICATION else b"")
    if sc & SC_AUTHENTICATION:
        return head + bytes(apdu) + gcm.gmac(iv, bytes((sc,)) + ak + bytes(apdu), TAG_LEN)
    raise ValueError("security control 0x%02X protects nothing" % sc)


def unprotect(gcm, system_title, ak, content):
    """(sc, ic, plain apdu) of SC || IC || payload || tag; SecurityError if it fails."""
    sc = content[0]
    if sc & SC_COMPRESSION:
        raise SecurityError("compressed APDUs are not supported")
    if not sc & (SC_AUTHENTICATION | SC_ENCRYPTION):
        raise SecurityError("security control 0x%02X protects nothing" % sc)
    ic = (content[1] << 24) | (content[2] << 16) | (content[3] << 8) | content[4]
    iv = _iv(system_title, ic)
    body = content[5:]
    auth = sc & SC_AUTHENTICATION
    if auth:
        if len(body) < TAG_LEN:
            raise SecurityError("ciphered APDU shorter than its tag")
        tag = bytes(body[len(body) - TAG_LEN :])
        body = body[: len(body) - TAG_LEN]
    from dlms.security.gcm import AuthenticationError

    try:
        if sc & SC_ENCRYPTION:
            if auth:
                plain = gcm.decrypt(iv, bytes((sc,)) + ak, bytes(body), tag)
            else:
                plain, _ = gcm.encrypt(iv, b"", bytes(body), TAG_LEN)  # CTR both ways
        else:
            expect = gcm.gmac(iv, bytes((sc,)) + ak + bytes(body), TAG_LEN)
            if not _equal(expect, tag):
                raise AuthenticationError("tag")
            plain = bytes(body)
    except AuthenticationError:
        raise SecurityError("authentication failed (wrong key, tag or system title)")
    return sc, ic, plain


def _equal(a, b):
    if len(a) != len(b):
        return False
    d = 0
    for i in range(len(a)):
        d |= a[i] ^ b[i]
    return d == 0
