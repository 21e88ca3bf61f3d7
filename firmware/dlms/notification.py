"""DATA-NOTIFICATION, the push APDU (Green Book 9.5, xDLMS APDU tag 15).

    Data-Notification ::= SEQUENCE {
        long-invoke-id-and-priority  Long-Invoke-Id-And-Priority,  -- Unsigned32
        date-time                    OCTET STRING,
        notification-body            Notification-Body             -- Data
    }

In A-XDR: ``0F``, four octets of long-invoke-id-and-priority, the date-time
as a plain octet string (``00`` when absent, ``0C`` and the 12 octets of a
COSEM date-time when present), then one Data. Real meters send both forms
(Kamstrup HAN ``0F 00 00 00 00 0C 07 E2 ...``, Aidon ``0F 40 00 00 00 00 ...``);
gurux-dlms writes the same (GXDLMS.getLNPdu: the octet string without its
tag) and reads any length there (handleDataNotification); dlms-cosem reads
one octet as a flag and then 12 octets, which the 0x0C form satisfies.

Long-Invoke-Id-And-Priority: bits 0-23 the long invoke id, bit 28
self-descriptive, bit 29 processing option (break on error), bit 30 service
class (1 confirmed), bit 31 priority (1 high).

Protection: the Green Book gives data-notification no glo- or ded- APDU of
its own, so a protected one travels in general-glo-ciphering (0xDB) with the
sender's system title, which is what gurux does (GXDLMS.getGloMessage maps
DATA_NOTIFICATION to GENERAL_GLO_CIPHERING), what dlms-cosem parses
(GeneralGlobalCipher, tag 219) and what HAN meters send. ``protect`` builds
it from a SecurityContext, ``decipher`` opens it for a gateway.
"""

from micropython import const

from dlms import axdr
from dlms.errors import DecodeError
from dlms.security import cipher

DATA_NOTIFICATION = const(0x0F)

PRIORITY_HIGH = const(0x80000000)
SERVICE_CONFIRMED = const(0x40000000)
BREAK_ON_ERROR = const(0x20000000)
SELF_DESCRIPTIVE = const(0x10000000)
INVOKE_ID_MASK = const(0xFFFFFF)

_DATE_TIME_SIZE = const(12)


def long_invoke_id(invoke_id, high_priority=False, confirmed=False):
    """The Long-Invoke-Id-And-Priority of ``invoke_id`` (taken modulo 2^24)."""
    v = invoke_id & INVOKE_ID_MASK
    if high_priority:
        v |= PRIORITY_HIGH
    if confirmed:
        v |= SERVICE_CONFIRMED
    return v


def _date_time_octets(date_time):
    if date_time is None:
        return b""
    if isinstance(date_time, axdr.DateTime):
        return date_time.to_bytes()
    if len(date_time) != _DATE_TIME_SIZE:
        raise ValueError("date-time of %d octets, 12 expected" % len(date_time))
    return bytes(date_time)


def write_head(w, long_invoke_id, date_time=None):
    """Tag, long-invoke-id-and-priority and date-time into Writer ``w``; the
    notification-body (one encoded Data) follows. ``date_time``: None, an
    axdr.DateTime or its 12 octets."""
    dt = _date_time_octets(date_time)
    start = w.pos
    try:
        w.byte(DATA_NOTIFICATION)
        w.u32(long_invoke_id)
        w.byte(len(dt))
        w.write(dt)
    except BaseException:
        w.pos = start
        raise


def encode(long_invoke_id, body, date_time=None):
    """bytes of a DATA-NOTIFICATION carrying typed data ``body``."""
    enc = axdr.to_bytes(body)
    w = axdr.Writer(18 + len(enc))
    write_head(w, long_invoke_id, date_time)
    w.write(enc)
    return bytes(w.getvalue())


class DataNotification:
    """A decoded DATA-NOTIFICATION: ``long_invoke_id`` (the 32 bits as sent),
    ``date_time`` (axdr.DateTime, or None when empty) and ``body`` (typed
    data)."""

    def __init__(self, long_invoke_id, date_time, body):
        self.long_invoke_id = long_invoke_id
        self.date_time = date_time
        self.body = body

    @property
    def invoke_id(self):
        return self.long_invoke_id & INVOKE_ID_MASK

    @property
    def high_priority(self):
        return bool(self.long_invoke_id & PRIORITY_HIGH)

    @property
    def confirmed(self):
        return bool(self.long_invoke_id & SERVICE_CONFIRMED)

    def __repr__(self):
        return "DataNotification(%08X, %r, %r)" % (self.long_invoke_id, self.date_time, self.body)


def decode(apdu):
    """The DataNotification of a plain APDU; DecodeError if malformed."""
    n = len(apdu)
    if n < 6 or apdu[0] != DATA_NOTIFICATION:
        if n and apdu[0] != DATA_NOTIFICATION:
            raise DecodeError("not a data-notification: 0x%02X" % apdu[0], 0)
        raise DecodeError("data-notification truncated", n)
    lid = (apdu[1] << 24) | (apdu[2] << 16) | (apdu[3] << 8) | apdu[4]
    k, pos = axdr.decode_length(apdu, 5)
    raw = bytes(apdu[pos : pos + k])
    pos += k
    if k == 0:
        dt = None
    elif k == _DATE_TIME_SIZE:
        dt = axdr.DateTime.from_bytes(raw)
    elif k == 5:  # a date only, as gurux also accepts
        dt = axdr.DateTime.from_date_bytes(raw)
    elif k == 4:  # a time only
        dt = axdr.DateTime.from_time_bytes(raw)
    else:
        raise DecodeError("date-time of %d octets" % k, 5)
    body, end = axdr.decode(apdu, pos)
    if end != n:
        raise DecodeError("trailing octets after the notification-body", end)
    return DataNotification(lid, dt, body)


def protect(security, sc, apdu):
    """general-glo-ciphering of ``apdu`` under security control ``sc``
    (0x10, 0x20 or 0x30: the suite bits come from ``security``), with the
    next invocation counter of the SecurityContext and its system title.
    Raises cipher.SecurityError when the counter is exhausted."""
    sc = (sc & 0x30) | security.suite
    ic = security.next_ic()
    content = cipher.protect(
        security.gcm(), sc, security.system_title, ic, security.ak, bytes(apdu)
    )
    return cipher.wrap(cipher.FORM_GENERAL_GLO, apdu[0], content, security.system_title)


def decipher(apdu, gcm, ak):
    """(system title, sc, ic, plain APDU) of a general-glo-ciphering APDU.
    ``gcm``: a dlms.security.gcm.Gcm of the sender's global unicast key.
    DecodeError if malformed, cipher.SecurityError if it does not verify."""
    if not len(apdu) or apdu[0] != cipher.GENERAL_GLO_CIPHERING:
        raise DecodeError("not general-glo-ciphering", 0)
    _, _, title, content = cipher.unwrap(apdu)
    if len(title) != 8:
        raise DecodeError("system title of %d octets" % len(title), 1)
    sc, ic, plain = cipher.unprotect(gcm, title, ak, content)
    return title, sc, ic, plain
