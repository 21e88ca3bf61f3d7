"""ACSE APDUs (IEC 62056-5-3 clause 8, BER-encoded) and the xDLMS initiate.

AARQ/AARE open an association, RLRQ/RLRE release it. Their user-information
carries the xDLMS InitiateRequest / InitiateResponse (A-XDR), or their
ciphered form. Server side decodes AARQ/RLRQ and encodes AARE/RLRE; client
side (tools, gateway) does the opposite. Malformed input raises DecodeError.
"""

from micropython import const

from dlms.errors import DecodeError

AARQ = const(0x60)
AARE = const(0x61)
RLRQ = const(0x62)
RLRE = const(0x63)

# Application context names, 2.16.756.5.8.1.N (Green Book 9.4.2.2.2)
CONTEXT_LN = const(1)
CONTEXT_SN = const(2)
CONTEXT_LN_CIPHERED = const(3)
CONTEXT_SN_CIPHERED = const(4)
_CONTEXT_PREFIX = b"\x60\x85\x74\x05\x08\x01"

# Authentication mechanism names, 2.16.756.5.8.2.N
MECHANISM_NONE = const(0)
MECHANISM_LLS = const(1)
MECHANISM_HLS = const(2)
MECHANISM_HLS_MD5 = const(3)
MECHANISM_HLS_SHA1 = const(4)
MECHANISM_HLS_GMAC = const(5)
MECHANISM_HLS_SHA256 = const(6)
MECHANISM_HLS_ECDSA = const(7)
_MECHANISM_PREFIX = b"\x60\x85\x74\x05\x08\x02"

# AARE result (association-result) and diagnostics
RESULT_ACCEPTED = const(0)
RESULT_REJECTED_PERMANENT = const(1)
RESULT_REJECTED_TRANSIENT = const(2)
SOURCE_SERVICE_USER = const(1)
SOURCE_SERVICE_PROVIDER = const(2)
DIAG_NULL = const(0)
DIAG_NO_REASON = const(1)
DIAG_CONTEXT_NOT_SUPPORTED = const(2)
DIAG_CALLING_AP_TITLE_NOT_RECOGNIZED = const(3)
DIAG_MECHANISM_NOT_RECOGNISED = const(11)
DIAG_MECHANISM_REQUIRED = const(12)
DIAG_AUTHENTICATION_FAILURE = const(13)
DIAG_AUTHENTICATION_REQUIRED = const(14)

# xDLMS initiate (A-XDR, Green Book 9.5)
INITIATE_REQUEST = const(0x01)
INITIATE_RESPONSE = const(0x08)
CONFIRMED_SERVICE_ERROR = const(0x0E)
DLMS_VERSION = const(6)
VAA_NAME_LN = const(0x0007)
# ConfirmedServiceError ::= initiateError [1] ServiceError, ServiceError initiate [6]
INITIATE_ERROR_OTHER = const(0)
INITIATE_ERROR_DLMS_VERSION_TOO_LOW = const(1)
INITIATE_ERROR_INCOMPATIBLE_CONFORMANCE = const(2)
INITIATE_ERROR_PDU_SIZE_TOO_SHORT = const(3)
INITIATE_ERROR_REFUSED_BY_VDE_HANDLER = const(4)

# Conformance block bits as a 24-bit integer, bit 0 of the standard = 0x800000
# (Green Book 9.4.6.1).
CONF_GENERAL_PROTECTION = const(0x400000)
CONF_GENERAL_BLOCK_TRANSFER = const(0x200000)
CONF_DELTA_VALUE_ENCODING = const(0x020000)
CONF_ATTRIBUTE0_WITH_SET = const(0x008000)
CONF_PRIORITY_MGMT = const(0x004000)
CONF_ATTRIBUTE0_WITH_GET = const(0x002000)
CONF_BLOCK_TRANSFER_WITH_GET = const(0x001000)
CONF_BLOCK_TRANSFER_WITH_SET = const(0x000800)
CONF_BLOCK_TRANSFER_WITH_ACTION = const(0x000400)
CONF_MULTIPLE_REFERENCES = const(0x000200)
CONF_INFORMATION_REPORT = const(0x000100)
CONF_DATA_NOTIFICATION = const(0x000080)
CONF_ACCESS = const(0x000040)
CONF_PARAMETERIZED_ACCESS = const(0x000020)
CONF_GET = const(0x000010)
CONF_SET = const(0x000008)
CONF_SELECTIVE_ACCESS = const(0x000004)
CONF_EVENT_NOTIFICATION = const(0x000002)
CONF_ACTION = const(0x000001)
# What this project's server offers and its client proposes: GET, SET, ACTION,
# selective access, with-list and block transfer in each direction.
CONF_LN_SERVICES = const(0x001E1D)


# -- BER --------------------------------------------------------------------


def ber_read(buf, pos, end):
    """(tag, content_start, content_end) of the TLV at ``pos``."""
    if pos + 2 > end:
        raise DecodeError("BER truncated", pos)
    tag = buf[pos]
    n = buf[pos + 1]
    pos += 2
    if n & 0x80:
        k = n & 0x7F
        if k == 0 or k > 2 or pos + k > end:
            raise DecodeError("BER length", pos - 1)
        n = 0
        for _ in range(k):
            n = (n << 8) | buf[pos]
            pos += 1
    if pos + n > end:
        raise DecodeError("BER length beyond the APDU", pos)
    return tag, pos, pos + n


def ber(tag, content):
    """One TLV as bytes (short or long length form)."""
    n = len(content)
    if n < 0x80:
        head = bytes((tag, n))
    elif n < 0x100:
        head = bytes((tag, 0x81, n))
    else:
        head = bytes((tag, 0x82, n >> 8, n & 0xFF))
    return head + bytes(content)


def _oid_suffix(buf, start, end, prefix):
    """N of an OID ``prefix.N`` (7 octets), or None for any other OID."""
    if end - start == 7 and bytes(buf[start : start + 6]) == prefix:
        return buf[start + 6]
    return None


def _explicit_octets(buf, start, end, inner):
    """The content of [n] { inner-tag content } (calling-AP-title and friends)."""
    tag, s, e = ber_read(buf, start, end)
    if tag != inner:
        raise DecodeError("unexpected inner tag 0x%02X" % tag, start)
    return bytes(buf[s:e])


class Aarq:
    """The fields of an AARQ the server acts on (Green Book 9.4.2, Table 63)."""

    def __init__(self):
        self.context = None  # CONTEXT_*; None for an OID that is not DLMS
        self.mechanism = MECHANISM_NONE
        self.mechanism_named = False
        self.authentication_required = False  # sender-acse-requirements bit 0
        self.calling_ap_title = None
        self.calling_ae_qualifier = None
        self.calling_auth_value = None
        self.user_information = None  # the xDLMS-initiate octets (maybe ciphered)

    def __repr__(self):
        return "Aarq(context=%r, mechanism=%r, title=%r, auth=%r)" % (
            self.context,
            self.mechanism,
            self.calling_ap_title,
            self.calling_auth_value is not None,
        )


def decode_aarq(buf):
    if not len(buf) or buf[0] != AARQ:
        raise DecodeError("not an AARQ", 0)
    tag, pos, end = ber_read(buf, 0, len(buf))
    a = Aarq()
    seen_context = False
    while pos < end:
        tag, s, e = ber_read(buf, pos, end)
        if tag == 0xA1:  # application-context-name
            t, os_, oe = ber_read(buf, s, e)
            if t != 0x06:
                raise DecodeError("application-context-name is not an OID", s)
            a.context = _oid_suffix(buf, os_, oe, _CONTEXT_PREFIX)
            seen_context = True
        elif tag == 0xA6:  # calling-AP-title
            a.calling_ap_title = _explicit_octets(buf, s, e, 0x04)
        elif tag == 0xA7:  # calling-AE-qualifier
            a.calling_ae_qualifier = _explicit_octets(buf, s, e, 0x04)
        elif tag == 0x8A:  # sender-acse-requirements, BIT STRING {authentication(0)}
            a.authentication_required = e - s >= 2 and bool(buf[s + 1] & 0x80)
        elif tag == 0x8B:  # mechanism-name
            m = _oid_suffix(buf, s, e, _MECHANISM_PREFIX)
            a.mechanism = -1 if m is None else m
            a.mechanism_named = True
        elif tag == 0xAC:  # calling-authentication-value, [0] charstring / [1] bitstring
            t, vs, ve = ber_read(buf, s, e)
            a.calling_auth_value = bytes(buf[vs:ve])
        elif tag == 0xBE:  # user-information: OCTET STRING of xDLMS-initiate
            t, us, ue = ber_read(buf, s, e)
            if t != 0x04:
                raise DecodeError("user-information is not an octet string", s)
            a.user_information = bytes(buf[us:ue])
        # protocol-version, called-*, calling-*-invocation-id, implementation
        # information: accepted and ignored (Green Book Table 63, optional).
        pos = e
    if not seen_context:
        raise DecodeError("AARQ without application-context-name", 0)
    return a


def _context_name(context):
    return ber(0xA1, ber(0x06, _CONTEXT_PREFIX + bytes((context,))))


def encode_aarq(
    context=CONTEXT_LN,
    mechanism=MECHANISM_NONE,
    auth_value=None,
    calling_ap_title=None,
    user_information=b"",
):
    """AARQ bytes (client side)."""
    parts = [_context_name(context)]
    if calling_ap_title is not None:
        parts.append(ber(0xA6, ber(0x04, calling_ap_title)))
    if mechanism != MECHANISM_NONE:
        parts.append(b"\x8a\x02\x07\x80")
        parts.append(ber(0x8B, _MECHANISM_PREFIX + bytes((mechanism,))))
        if auth_value is not None:
            parts.append(ber(0xAC, ber(0x80, auth_value)))
    parts.append(ber(0xBE, ber(0x04, user_information)))
    return ber(AARQ, b"".join(parts))


def encode_aare(
    context,
    result,
    diagnostic=DIAG_NULL,
    source=SOURCE_SERVICE_USER,
    responding_ap_title=None,
    mechanism=MECHANISM_NONE,
    auth_value=None,
    user_information=None,
):
    """AARE bytes (Green Book 9.4.2, Table 64)."""
    parts = [
        _context_name(context),
        ber(0xA2, ber(0x02, bytes((result,)))),
        ber(0xA3, ber(0xA0 | source, ber(0x02, bytes((diagnostic,))))),
    ]
    if responding_ap_title is not None:
        parts.append(ber(0xA4, ber(0x04, responding_ap_title)))
    if mechanism >= MECHANISM_HLS:
        # responder-acse-requirements, mechanism-name, responding-authentication-value
        parts.append(b"\x88\x02\x07\x80")
        parts.append(ber(0x89, _MECHANISM_PREFIX + bytes((mechanism,))))
        if auth_value is not None:
            parts.append(ber(0xAA, ber(0x80, auth_value)))
    if user_information is not None:
        parts.append(ber(0xBE, ber(0x04, user_information)))
    return ber(AARE, b"".join(parts))


class Aare:
    def __init__(self):
        self.context = None
        self.result = None
        self.source = None
        self.diagnostic = None
        self.responding_ap_title = None
        self.mechanism = MECHANISM_NONE
        self.responding_auth_value = None
        self.user_information = None


def decode_aare(buf):
    if not len(buf) or buf[0] != AARE:
        raise DecodeError("not an AARE", 0)
    tag, pos, end = ber_read(buf, 0, len(buf))
    a = Aare()
    while pos < end:
        tag, s, e = ber_read(buf, pos, end)
        if tag == 0xA1:
            t, os_, oe = ber_read(buf, s, e)
            a.context = _oid_suffix(buf, os_, oe, _CONTEXT_PREFIX)
        elif tag == 0xA2:
            t, vs, ve = ber_read(buf, s, e)
            if ve - vs != 1:
                raise DecodeError("association-result", vs)
            a.result = buf[vs]
        elif tag == 0xA3:
            t, vs, ve = ber_read(buf, s, e)
            a.source = t & 0x0F
            t2, ds, de = ber_read(buf, vs, ve)
            if de - ds != 1:
                raise DecodeError("result-source-diagnostic", ds)
            a.diagnostic = buf[ds]
        elif tag == 0xA4:
            a.responding_ap_title = _explicit_octets(buf, s, e, 0x04)
        elif tag == 0x89:
            m = _oid_suffix(buf, s, e, _MECHANISM_PREFIX)
            a.mechanism = -1 if m is None else m
        elif tag == 0xAA:
            t, vs, ve = ber_read(buf, s, e)
            a.responding_auth_value = bytes(buf[vs:ve])
        elif tag == 0xBE:
            t, us, ue = ber_read(buf, s, e)
            a.user_information = bytes(buf[us:ue])
        pos = e
    if a.result is None:
        raise DecodeError("AARE without result", 0)
    return a


def decode_rlrq(buf):
    """(reason or None, user_information or None) of an RLRQ."""
    if not len(buf) or buf[0] != RLRQ:
        raise DecodeError("not an RLRQ", 0)
    return _decode_release(buf)


def decode_rlre(buf):
    if not len(buf) or buf[0] != RLRE:
        raise DecodeError("not an RLRE", 0)
    return _decode_release(buf)


def _decode_release(buf):
    tag, pos, end = ber_read(buf, 0, len(buf))
    reason = None
    info = None
    while pos < end:
        tag, s, e = ber_read(buf, pos, end)
        if tag == 0x80:
            if e - s != 1:
                raise DecodeError("release reason", s)
            reason = buf[s]
        elif tag == 0xBE:
            t, us, ue = ber_read(buf, s, e)
            info = bytes(buf[us:ue])
        pos = e
    return reason, info


def encode_rlrq(reason=0, user_information=None):
    body = ber(0x80, bytes((reason,)))
    if user_information is not None:
        body += ber(0xBE, ber(0x04, user_information))
    return ber(RLRQ, body)


def encode_rlre(reason=0, user_information=None):
    """RLRE; reason 0 = normal (Green Book Table 66)."""
    body = ber(0x80, bytes((reason,))) if reason is not None else b""
    if user_information is not None:
        body += ber(0xBE, ber(0x04, user_information))
    return ber(RLRE, body)


# -- xDLMS initiate (A-XDR) ---------------------------------------------------


class InitiateRequest:
    def __init__(self):
        self.dedicated_key = None
        self.response_allowed = True
        self.quality_of_service = None
        self.dlms_version = DLMS_VERSION
        self.conformance = 0
        self.max_pdu = 0


def _conformance(buf, pos, end):
    # [APPLICATION 31] IMPLICIT BIT STRING (SIZE(24)): 5F 1F 04 00 b1 b2 b3
    if pos + 7 > end or buf[pos] != 0x5F or buf[pos + 1] != 0x1F or buf[pos + 2] != 0x04:
        raise DecodeError("conformance block", pos)
    return (buf[pos + 4] << 16) | (buf[pos + 5] << 8) | buf[pos + 6], pos + 7


def decode_initiate_request(buf):
    end = len(buf)
    if end < 1 or buf[0] != INITIATE_REQUEST:
        raise DecodeError("not an InitiateRequest", 0)
    r = InitiateRequest()
    pos = 1
    try:
        if buf[pos]:  # dedicated-key OCTET STRING OPTIONAL
            n = buf[pos + 1]
            if pos + 2 + n > end:
                raise DecodeError("dedicated-key", pos)
            r.dedicated_key = bytes(buf[pos + 2 : pos + 2 + n])
            pos += 2 + n
        else:
            pos += 1
        if buf[pos]:  # response-allowed BOOLEAN DEFAULT TRUE
            r.response_allowed = bool(buf[pos + 1])
            pos += 2
        else:
            pos += 1
        if buf[pos]:  # proposed-quality-of-service [0] IMPLICIT Integer8 OPTIONAL
            r.quality_of_service = buf[pos + 1]
            pos += 2
        else:
            pos += 1
        r.dlms_version = buf[pos]
        pos += 1
    except IndexError:
        raise DecodeError("InitiateRequest truncated", pos)
    r.conformance, pos = _conformance(buf, pos, end)
    if pos + 2 > end:
        raise DecodeError("InitiateRequest truncated", pos)
    r.max_pdu = (buf[pos] << 8) | buf[pos + 1]
    return r


def encode_initiate_request(conformance, max_pdu, dedicated_key=None, version=DLMS_VERSION):
    out = bytearray(b"\x01")
    if dedicated_key:
        out += bytes((1, len(dedicated_key))) + dedicated_key
    else:
        out.append(0)
    out += bytes((0, 0, version, 0x5F, 0x1F, 0x04, 0x00))
    out += bytes((conformance >> 16, (conformance >> 8) & 0xFF, conformance & 0xFF))
    out += bytes((max_pdu >> 8, max_pdu & 0xFF))
    return bytes(out)


def encode_initiate_response(conformance, max_pdu, version=DLMS_VERSION, vaa=VAA_NAME_LN):
    return bytes(
        (
            INITIATE_RESPONSE,
            0,  # negotiated-quality-of-service absent
            version,
            0x5F,
            0x1F,
            0x04,
            0x00,
            conformance >> 16,
            (conformance >> 8) & 0xFF,
            conformance & 0xFF,
            max_pdu >> 8,
            max_pdu & 0xFF,
            vaa >> 8,
            vaa & 0xFF,
        )
    )


def decode_initiate_response(buf):
    """(dlms_version, conformance, max_pdu, vaa) of an InitiateResponse."""
    end = len(buf)
    if end < 1 or buf[0] != INITIATE_RESPONSE:
        raise DecodeError("not an InitiateResponse", 0)
    pos = 1
    if pos < end and buf[pos]:
        pos += 2
    else:
        pos += 1
    if pos >= end:
        raise DecodeError("InitiateResponse truncated", pos)
    version = buf[pos]
    conformance, pos = _conformance(buf, pos + 1, end)
    if pos + 4 > end:
        raise DecodeError("InitiateResponse truncated", pos)
    return (
        version,
        conformance,
        (buf[pos] << 8) | buf[pos + 1],
        (buf[pos + 2] << 8) | buf[pos + 3],
    )


def encode_initiate_error(error):
    """ConfirmedServiceError initiateError [1] / initiate [6] / error."""
    return bytes((CONFIRMED_SERVICE_ERROR, 1, 6, error))
