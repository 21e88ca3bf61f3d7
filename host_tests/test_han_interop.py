# runtime: cpython-only -- gurux-dlms / dlms-cosem / cryptography are CPython packages
"""gateway.han against independent readers and an independent cipher.

- gurux-dlms 1.0.203 reads the same HDLC streams (``GXDLMSClient.getData``
  with a notify reply, as Gurux's push listener example does, block transfer
  and ciphering included) and the same APDUs (interface PDU, for the M-Bus
  samples once our reader has joined their segments). Its notification
  bodies must equal ours, datum by datum, and every OBIS-labelled value with
  a scaler_unit in gurux's data must come out of ours scaled and with that
  unit's name.
- dlms-cosem 25.1.0 parses the plain APDUs (XDlmsApduFactory,
  parse_as_dlms_data) to the same data, and opens its own
  general-glo-ciphering sample to the plaintext ``unprotect`` gives.
- Pushes ciphered with the cryptography package (AES-GCM with 12-octet tags
  for SC 0x30, AES-CTR from counter 2 for SC 0x20, GMAC for SC 0x10; AES-128
  and AES-256), framed in HDLC, M-Bus segments and block transfer, come out
  as the plain push does; tampered ones are refused. gurux's GXDLMSNotify
  ciphers one too.
"""

import pytest
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from dlms import axdr, hdlc
from dlms_cosem import utils as dc_utils
from dlms_cosem.connection import XDlmsApduFactory
from dlms_cosem.protocol import xdlms as dc_xdlms
from gateway import han
from gurux_dlms import GXByteBuffer, GXReplyData
from gurux_dlms.enums import Conformance, InterfaceType, Priority, Security, ServiceClass
from gurux_dlms.GXCiphering import GXCiphering
from gurux_dlms.GXDLMSNotify import GXDLMSNotify
from gurux_dlms.secure import GXDLMSSecureClient
from support import h
from test_han import (
    AK,
    EK,
    SAMPLES,
    TITLE,
    apdu_of,
    data,
    flip,
    gbt_blocks,
    hdlc_frames,
    keys_of,
    length,
    mbus_frames,
)

# -- both sides as plain Python data ------------------------------------------------


def plain(x):
    """gurux's or dlms-cosem's decoded data as lists, bytes, str and int."""
    if isinstance(x, (list, tuple)):
        return [plain(y) for y in x]
    if isinstance(x, (bytes, bytearray)):
        return bytes(x)
    if x is None or isinstance(x, (str, bool, float)):
        return x
    if isinstance(x, int):
        return int(x)
    if hasattr(x, "value"):  # GXEnum, GXUInt32, ...
        return plain(x.value)
    raise TypeError(type(x))


def ours(t):
    tag, v = t
    if tag == axdr.ARRAY or tag == axdr.STRUCTURE:
        return [ours(y) for y in v]
    if tag == axdr.OCTET_STRING:
        return bytes(v)
    return v


def body_of(apdu):
    """Our notification-body of a plain DATA-NOTIFICATION, as plain data."""
    k = apdu[5]
    p = 6 + (13 if k == 9 else k)
    body, end = axdr.decode(apdu, p)
    assert end == len(apdu)
    return ours(body)


def gurux_pushes(stream, interface=InterfaceType.HDLC, ek=None, ak=None):
    """The notification bodies gurux's getData finds in ``stream``."""
    c = GXDLMSSecureClient(True)
    c.interfaceType = interface
    if ek is not None:
        c.ciphering.security = (
            Security.AUTHENTICATION_ENCRYPTION if ak is not None else Security.ENCRYPTION
        )
        c.ciphering.blockCipherKey = ek
        if ak is not None:
            c.ciphering.authenticationKey = ak
    reply = GXReplyData()
    notify = GXReplyData()
    bb = GXByteBuffer(stream)
    out = []
    while bb.position < bb.size:
        before = bb.position
        c.getData(bb, reply, notify)
        if notify.complete and not notify.isMoreData():
            out.append(plain(notify.value))
            notify.clear()
        if bb.position == before:
            break
    return out


def labelled(value, out):
    """(OBIS, raw value, [scaler, unit] or None) wherever gurux's data has an
    OBIS octet string followed by a value; push object lists paired up."""
    if not isinstance(value, list):
        return
    first = value[0] if value else None
    if (
        isinstance(first, list)
        and first
        and all(isinstance(d, list) and len(d) == 4 for d in first)
        and len(first) in (len(value), len(value) - 1)
    ):
        off = len(value) - len(first)
        for i, (cls, code, attr, _) in enumerate(first):
            if i + off >= 1 and cls != 40 and attr == 2:
                out.append((code, value[i + off], None))
        return
    i = 0
    while i < len(value):
        x = value[i]
        if isinstance(x, bytes) and len(x) == 6 and x[0] <= 15 and i + 1 < len(value):
            su = value[i + 2] if i + 2 < len(value) else None
            if isinstance(su, list) and len(su) == 2 and all(isinstance(y, int) for y in su):
                out.append((x, value[i + 1], su))
                i += 3
            else:
                out.append((x, value[i + 1], None))
                i += 2
            continue
        labelled(x, out)
        i += 1


def key(code):
    c = tuple(code)
    s = "%d-%d:%d.%d.%d" % c[:5]
    return s if c[5] == 255 else s + "*%d" % c[5]


def check_values(result, body):
    """Our result's values against the labelled data in a library's body."""
    found = []
    labelled(body, found)
    assert found
    for code, raw, su in found:
        if raw is None or isinstance(raw, list):
            continue
        got = result["values"][key(code)]
        if su is not None:
            assert got["value"] == pytest.approx(raw * 10 ** su[0]), key(code)
            assert got["unit"] == han.unit_name(su[1]), key(code)
        elif isinstance(raw, int) and not isinstance(raw, bool):
            # a scaler from the maker's list, or none: a power of ten apart
            assert raw == 0 or any(
                got["value"] == pytest.approx(raw * 10**s) for s in (-3, -2, -1, 0, 1)
            ), key(code)
        elif isinstance(raw, str):
            assert got["value"] == raw


def check_bare(result, body):
    """Our electricity values of a list of bare values (no OBIS codes: the
    layout gives them, test_han.py checks that) against the numbers in a
    library's body, in order."""
    raw = [x for x in body if isinstance(x, int) and not isinstance(x, bool)]
    mine = [v["value"] for k, v in result["values"].items() if k.startswith("1-")]
    assert mine
    for v in mine:
        while raw and not any(v == pytest.approx(raw[0] * 10**s) for s in (-2, -1, 0)):
            raw.pop(0)
        assert raw, v
        raw.pop(0)


# lists of bare values, known by their shape
BARE = ("wiener_netze_", "karnten_", "wels_", "slovenia_")

# Kaifa's Norwegian lists tag their notification date-time (09 0C ...), which
# neither library reads; the repeated block is refused by both (test below).
HDLC_SAMPLES = [
    n
    for n, s in SAMPLES.items()
    if s["framing"] == "hdlc" and not n.startswith("kaifa_no") and n != "lg_e450_gbt_repeated_block"
]
PLAIN_APDUS = [
    n
    for n, s in SAMPLES.items()
    if (n in HDLC_SAMPLES or s["framing"] == "llc")
    and "ek" not in s
    and not n.startswith("kaifa_no")
]


# -- gurux ------------------------------------------------------------------------------


@pytest.mark.parametrize("name", HDLC_SAMPLES)
def test_gurux_reads_the_same_hdlc_stream(name):
    s = SAMPLES[name]
    ek = h(s["ek"]) if "ek" in s else None
    theirs = gurux_pushes(s["data"], ek=ek)
    keys = keys_of(name, unauthenticated=True) if ek else None
    r = han.HanReceiver(keys)
    results = r.feed(s["data"])
    apdus = han.ApduReader().feed(s["data"])
    assert len(theirs) == len(results) == len(apdus)
    for body, res, apdu in zip(theirs, results, apdus):
        if ek:
            apdu = bytes(han.unprotect(apdu, keys)[3])
        assert body_of(apdu) == body
        assert res["errors"] == []
        (check_bare if name.startswith(BARE) else check_values)(res, body)


@pytest.mark.parametrize(
    "name",
    ["evn_mbus", "tinetz_mbus", "dlms_cosem_glo", "evn_sagemcom_mbus", "evn_sagemcom_l0101_mbus"],
)
def test_gurux_deciphers_the_same_apdu(name):
    s = SAMPLES[name]
    apdu = apdu_of(name)
    ak = h(s["ak"]) if "ak" in s else None
    (theirs,) = gurux_pushes(apdu, InterfaceType.PDU, h(s["ek"]), ak)
    plain_apdu = bytes(han.unprotect(apdu, keys_of(name))[3])
    if name == "dlms_cosem_glo":  # its body is one octet string
        assert body_of(plain_apdu) == theirs
        return
    assert body_of(plain_apdu) == theirs
    res = han.decode(apdu, keys_of(name))
    assert res["errors"] == []
    check_values(res, theirs)


@pytest.mark.parametrize("name", [n for n in PLAIN_APDUS if SAMPLES[n]["framing"] == "llc"])
def test_gurux_reads_the_same_llc_pdu(name):
    apdu = apdu_of(name)
    (theirs,) = gurux_pushes(apdu, InterfaceType.PDU)
    assert body_of(apdu) == theirs
    check_values(han.decode(apdu), theirs)


def test_repeated_block_refused_by_both():
    stream = data("lg_e450_gbt_repeated_block")
    with pytest.raises(ValueError):
        gurux_pushes(stream)
    r = han.HanReceiver()
    assert r.feed(stream) == []
    assert r.reader.errors["framing"] >= 2


def test_gurux_notify_ciphered_push():
    n = GXDLMSNotify(True, 16, 1, InterfaceType.HDLC)
    n.settings.priority = Priority.NORMAL
    n.settings.serviceClass = ServiceClass.UN_CONFIRMED
    c = GXCiphering(TITLE)
    c.security = Security.AUTHENTICATION_ENCRYPTION
    c.blockCipherKey = EK
    c.authenticationKey = AK
    c.invocationCounter = 77
    n.setCipher(c)
    apdu = apdu_of("kamstrup_se_hdlc")
    body = GXByteBuffer(axdr.to_bytes(axdr.decode(apdu, 18)[0]))
    # more than one frame only with block transfer "negotiated"; gurux then
    # segments the HDLC frames (S bit), as the APDU fits its PDU size
    n.settings.negotiatedConformance |= Conformance.GENERAL_BLOCK_TRANSFER
    frames = n.generateDataNotificationMessages(None, body)
    assert len(frames) == 2 and bytes(frames[0])[1] & 0x08
    stream = b"".join(bytes(f) for f in frames)
    r = han.HanReceiver(han.Keys(EK, AK))
    (res,) = r.feed(stream)
    assert res["errors"] == []
    assert res["system_title"] == TITLE.hex()
    assert res["invocation_counter"] == 77
    assert res["values"] == han.decode(apdu)["values"]


# -- dlms-cosem ---------------------------------------------------------------------


@pytest.mark.parametrize("name", PLAIN_APDUS)
def test_dlms_cosem_parses_the_same_body(name):
    apdu = apdu_of(name)
    dn = XDlmsApduFactory.apdu_from_bytes(apdu)
    assert isinstance(dn, dc_xdlms.DataNotification)
    theirs = plain(dc_utils.parse_as_dlms_data(dn.body))
    mine = body_of(apdu)
    assert [mine] == theirs or mine == theirs
    (check_bare if name.startswith(BARE) else check_values)(han.decode(apdu), mine)


def test_dlms_cosem_opens_the_same_glo_ciphering():
    apdu = apdu_of("dlms_cosem_glo")
    g = XDlmsApduFactory.apdu_from_bytes(apdu)
    assert isinstance(g, dc_xdlms.GeneralGlobalCipher)
    theirs = g.to_plain_apdu(b"MYDUMMYGLOBALKEY", b"MYDUMMYGLOBALKEY")
    title, sc, ic, mine = han.unprotect(apdu, keys_of("dlms_cosem_glo"))
    assert bytes(mine) == theirs == apdu_of("dlms_cosem_glo_plain")
    assert (title, sc, ic) == (g.system_title, 0x30, g.invocation_counter)


# -- ciphered with the cryptography package ----------------------------------------------


def gcm(key, iv, aad, data):
    e = Cipher(algorithms.AES(key), modes.GCM(iv)).encryptor()
    e.authenticate_additional_data(aad)
    ct = e.update(data) + e.finalize()
    return ct, e.tag[:12]


def ctr(key, iv, data):
    e = Cipher(algorithms.AES(key), modes.CTR(iv + b"\x00\x00\x00\x02")).encryptor()
    return e.update(data) + e.finalize()


def protect(apdu, sc, ic, ek, ak, title=TITLE):
    iv = title + ic.to_bytes(4, "big")
    if sc & 0x30 == 0x30:
        ct, tag = gcm(ek, iv, bytes((sc,)) + ak, apdu)
        payload = ct + tag
    elif sc & 0x20:
        payload = ctr(ek, iv, apdu)
    else:
        payload = apdu + gcm(ek, iv, bytes((sc,)) + ak + apdu, b"")[1]
    content = bytes((sc,)) + ic.to_bytes(4, "big") + payload
    return b"\xdb\x08" + title + length(len(content)) + content


def framings(apdu):
    yield "hdlc", hdlc_frames(apdu)
    yield "hdlc segments", hdlc_frames(apdu, 64)
    yield "mbus segments", mbus_frames(apdu, 100)
    yield "block transfer", b"".join(hdlc_frames(b, llc=b"") for b in gbt_blocks(apdu, 90))
    yield "unframed", apdu


@pytest.mark.parametrize("sc", [0x30, 0x20, 0x10, 0x31, 0x21])
@pytest.mark.parametrize("sample", ["aidon_se_hdlc", "tinetz_plain", "kamstrup_se_hdlc"])
def test_cryptography_ciphered_pushes(sample, sc):
    plain_apdu = apdu_of(sample)
    want = han.decode(plain_apdu)
    assert want["errors"] == []
    ek = bytes(range(32)) if sc & 1 else EK
    keys = han.Keys(ek, AK)
    ic = 1000
    for how, stream in framings(protect(plain_apdu, sc, ic, ek, AK)):
        r = han.HanReceiver(keys)
        (res,) = r.feed(stream)
        assert res["errors"] == [], how
        assert res["values"] == want["values"], how
        assert res["timestamp"] == want["timestamp"]
        assert (res["system_title"], res["invocation_counter"]) == (TITLE.hex(), ic)
    apdu = protect(plain_apdu, sc, ic, ek, AK)
    assert bytes(han.unprotect(apdu, keys)[3]) == plain_apdu
    if sc & 0x10:
        for i in (len(apdu) - 1, len(apdu) - 13, 14):
            assert han.decode(flip(apdu, i), keys)["errors"] == ["wrong key or tag mismatch"]


def test_cryptography_wrong_key_and_replay():
    plain_apdu = apdu_of("kamstrup_se_hdlc")
    r = han.HanReceiver(han.Keys(EK, AK))
    frames = [hdlc_frames(protect(plain_apdu, 0x30, ic, EK, AK)) for ic in (3, 4)]
    bad = hdlc_frames(protect(plain_apdu, 0x30, 5, AK, AK))
    got = [r.feed(f)[0]["errors"] for f in (frames[0], frames[1], frames[0], bad, frames[1])]
    assert got == [[], [], ["stale counter"], ["wrong key or tag mismatch"], ["stale counter"]]
    assert r.counters.rejected == 2
    assert r.reader.errors == {"framing": 0, "fcs": 0, "oversize": 0}


def test_hdlc_frames_we_build_are_what_gurux_reads():
    # the test helpers frame like a meter: gurux takes them as pushes too
    apdu = apdu_of("aidon_se_hdlc")
    for stream in (hdlc_frames(apdu), hdlc_frames(apdu, 100)):
        (theirs,) = gurux_pushes(stream)
        assert theirs == body_of(apdu)
    assert hdlc.decode_frame(data("kamstrup_se_hdlc")).control == 0x13
