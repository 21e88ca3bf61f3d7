"""High-level security authentication, passes 3 and 4 (Green Book 9.2.7.4).

The client sends a challenge CtoS in the AARQ, the server answers StoC in the
AARE and the association stays pending until the client proves it knows the
secret with ``f(StoC)`` (Association LN method reply_to_HLS_authentication),
and the server answers ``f(CtoS)``. f depends on the mechanism:

- 3 HLS-MD5: MD5(challenge || secret)
- 4 HLS-SHA-1: SHA-1(challenge || secret)
- 5 HLS-GMAC: SC || IC || GMAC_AK(SC || AK || challenge), IV = own system title || IC
- 6 HLS-SHA-256: SHA-256(secret || own system title || peer system title ||
  challenge || the other challenge)
"""

import hashlib
import os

from dlms import acse
from dlms.security.cipher import SC_AUTHENTICATION, TAG_LEN, _equal, _iv

MECHANISMS = (
    acse.MECHANISM_HLS_MD5,
    acse.MECHANISM_HLS_SHA1,
    acse.MECHANISM_HLS_GMAC,
    acse.MECHANISM_HLS_SHA256,
)


def challenge(n=16):
    """A fresh random challenge (8 to 64 octets per the Green Book)."""
    return os.urandom(n)


def _hash(name, data):
    h = getattr(hashlib, name)()
    h.update(data)
    return h.digest()


def response(
    mechanism,
    secret,
    chal,
    own_title=None,
    peer_title=None,
    other=b"",
    gcm=None,
    ak=b"",
    ic=0,
    suite=0,
):
    """f(chal) as the party with system title ``own_title`` computes it.

    ``other`` is the opposite challenge (SHA-256 only); ``gcm``, ``ak`` and
    ``ic`` the authentication material of GMAC (IC is the sender's next
    invocation counter).
    """
    if mechanism == acse.MECHANISM_HLS_MD5:
        return _hash("md5", bytes(chal) + bytes(secret))
    if mechanism == acse.MECHANISM_HLS_SHA1:
        return _hash("sha1", bytes(chal) + bytes(secret))
    if mechanism == acse.MECHANISM_HLS_SHA256:
        return _hash(
            "sha256",
            bytes(secret) + bytes(own_title) + bytes(peer_title) + bytes(chal) + bytes(other),
        )
    if mechanism == acse.MECHANISM_HLS_GMAC:
        sc = SC_AUTHENTICATION | suite
        iv = _iv(own_title, ic)
        tag = gcm.gmac(iv, bytes((sc,)) + bytes(ak) + bytes(chal), TAG_LEN)
        return bytes((sc,)) + iv[8:] + tag
    raise ValueError("HLS mechanism %d" % mechanism)


def verify(
    mechanism, secret, chal, answer, peer_title=None, own_title=None, other=b"", gcm=None, ak=b""
):
    """Is ``answer`` the peer's right f(chal)? For GMAC returns the peer's IC
    (an int, so the caller can check it for replay) or False."""
    if mechanism == acse.MECHANISM_HLS_GMAC:
        if len(answer) != 5 + TAG_LEN or not answer[0] & SC_AUTHENTICATION:
            return False
        ic = (answer[1] << 24) | (answer[2] << 16) | (answer[3] << 8) | answer[4]
        expect = response(
            mechanism, secret, chal, peer_title, gcm=gcm, ak=ak, ic=ic, suite=answer[0] & 0x0F
        )
        return ic if _equal(expect, answer) else False
    expect = response(mechanism, secret, chal, peer_title, own_title, other)
    return _equal(expect, answer)
