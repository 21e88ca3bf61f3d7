"""Security end to end in-process: ciphered associations, HLS, replay, key transfer.

Our client (dlms/client.py with ClientSecurity) against the server engine,
through a loop transport that can also replay or tamper with APDUs.
"""

import unittest

from cosem.base import MANAGER, READER
from cosem.security_setup import SecuritySetup
from dlms import acse, axdr, obis, xdlms
from dlms.client import Client, ClientError, ClientSecurity
from dlms.security import cipher
from dlms.security.context import SecurityContext
from dlms.server import ClientPolicy
from model import build
from support import h

SERVER_TITLE = h("4D 4D 4D 00 00 BC 61 4E")
CLIENT_TITLE = h("47 52 58 31 32 33 34 35")  # "GRX12345"
EK = h("00 01 02 03 04 05 06 07 08 09 0A 0B 0C 0D 0E 0F")
AK = h("D0 D1 D2 D3 D4 D5 D6 D7 D8 D9 DA DB DC DD DE DF")
KEK = h("10 11 12 13 14 15 16 17 18 19 1A 1B 1C 1D 1E 1F")
LDN = obis.parse("0.0.42.0.0.255")


class Loop:
    """A transport straight into a server Association; keeps what went by."""

    def __init__(self, server, client_sap):
        self.a = server.association(client_sap, 1)
        self.sent = []
        self.received = []

    def exchange(self, apdu):
        self.sent.append(bytes(apdu))
        r = self.a.handle(apdu)
        r = bytes(r) if r is not None else b""
        self.received.append(r)
        return r

    def raw(self, apdu):
        r = self.a.handle(apdu)
        return bytes(r) if r is not None else b""


def secured_server(mechanism=acse.MECHANISM_HLS_GMAC, security=0x30, secret=None):
    server = build()
    ctx = SecurityContext(SERVER_TITLE, EK, AK, KEK)
    server.security = ctx
    server.clients[1] = ClientPolicy(1, MANAGER, mechanism, secret, "manager", security)
    server.clients[2] = ClientPolicy(2, READER, acse.MECHANISM_NONE, None, "r", 0x10)
    ld = server.devices[1]
    ld.associations[1].policy = server.clients[1]
    ld.associations[2] = ld.associations[17]
    ld.add(SecuritySetup("0.0.43.0.0.255", ctx))
    return server


def client(server, sap=1, mechanism=acse.MECHANISM_HLS_GMAC, password=None, **kw):
    sec = ClientSecurity(CLIENT_TITLE, kw.pop("ek", EK), kw.pop("ak", AK), **kw)
    return Client(Loop(server, sap), mechanism, password, security=sec)


class TestCipheredAssociation(unittest.TestCase):
    def test_hls_gmac_authenticated_encryption(self):
        server = secured_server()
        c = client(server)
        aare = c.associate()
        self.assertEqual(aare.responding_ap_title, SERVER_TITLE)
        self.assertEqual(aare.mechanism, acse.MECHANISM_HLS_GMAC)
        self.assertEqual(c.get(1, LDN, 2), (axdr.OCTET_STRING, b"MPY0000000000001"))
        t = c.transport
        # on the wire: glo-get-request (0xC8) with SC 0x30, answered 0xCC
        self.assertEqual(t.sent[-1][0], 0xC8)
        self.assertEqual(t.sent[-1][2], 0x30)
        self.assertEqual(t.received[-1][0], 0xCC)
        self.assertNotIn(b"MPY0000000000001", t.received[-1])  # encrypted
        c.release()

    def test_general_glo_ciphering_answered_in_kind(self):
        c = client(secured_server(), general=True)
        c.associate()
        c.get(1, LDN, 2)
        self.assertEqual(c.transport.sent[-1][0], cipher.GENERAL_GLO_CIPHERING)
        self.assertEqual(c.transport.received[-1][0], cipher.GENERAL_GLO_CIPHERING)
        self.assertEqual(c.transport.received[-1][2:10], SERVER_TITLE)

    def test_dedicated_key(self):
        c = client(secured_server(), dedicated_key=bytes(range(16, 32)))
        c.associate()
        self.assertEqual(c.get(1, LDN, 2)[1], b"MPY0000000000001")
        self.assertEqual(c.transport.sent[-1][0], 0xD0)  # ded-get-request
        self.assertEqual(c.transport.received[-1][0], 0xD4)

    def test_block_transfer_under_ciphering(self):
        c = client(secured_server(), general=True)
        c.max_pdu = 256
        c.associate()
        data = c.get(1, obis.parse("0.0.128.0.0.255"), 2)
        self.assertEqual(len(data[1]), 500)
        for r in c.transport.received:
            self.assertLessEqual(len(r), 256)

    def test_server_counter_increases_across_associations(self):
        server = secured_server()
        seen = []
        ic = 0
        for _ in range(3):
            c = client(server, ic=ic)  # a client keeps its own counter going too
            c.associate()
            c.get(1, LDN, 2)
            seen.append(c.security.server_ic)
            ic = c.security.ic
            c.release()
        self.assertTrue(seen[0] >= 1 and seen[0] < seen[1] < seen[2])

    def test_answers_are_ciphered_in_the_association_buffer(self):
        # no copy of the answer is made to cipher it: what handle() returns
        # is a view of the buffer the server lent the association
        for general in (False, True):
            server = secured_server()
            c = client(server, general=general)
            c.associate()
            a = c.transport.a
            resp = a.handle(c._protect(bytes(_get_ldn())))
            before = resp[-1]
            a._buf[:] = bytes(len(a._buf))
            self.assertEqual(resp[-1], 0)
            self.assertNotEqual(before, 0)  # (0 would not have shown the change)

    def test_an_answer_built_elsewhere_is_still_ciphered(self):
        server = secured_server()
        c = client(server)
        c.associate()
        a = c.transport.a
        plain = h("C4 01 C1 00 0A 03 61 62 63")  # GET-Response, visible-string "abc"
        a._service = lambda apdu: plain
        self.assertEqual(c.get(1, LDN, 2), (axdr.VISIBLE_STRING, "abc"))
        self.assertEqual(c.transport.received[-1][0], 0xCC)

    def test_application_context_name_says_ciphered(self):
        c = client(secured_server())
        c.associate()
        name = c.get(15, obis.parse("0.0.40.0.0.255"), 4)
        self.assertEqual(name[1][-2:], [(axdr.UNSIGNED, 1), (axdr.UNSIGNED, 3)])

    def test_encryption_only_and_authentication_only(self):
        for sc in (0x10, 0x20):
            server = secured_server(security=sc)
            c = client(server, sc=sc)
            c.associate()
            self.assertEqual(c.get(1, LDN, 2)[1], b"MPY0000000000001")
            self.assertEqual(c.transport.received[-1][2] & 0x30, sc)


class TestRefusals(unittest.TestCase):
    def associated(self, **kw):
        server = secured_server()
        c = client(server, **kw)
        c.associate()
        return server, c

    def test_wrong_block_cipher_key(self):
        with self.assertRaises(ClientError) as cm:
            client(secured_server(), ek=bytes(16)).associate()
        self.assertEqual(cm.exception.result, acse.DIAG_NO_REASON)

    def test_wrong_authentication_key(self):
        with self.assertRaises(ClientError):
            client(secured_server(), ak=bytes(16)).associate()

    def test_replayed_aarq(self):
        server = secured_server()
        c = client(server)
        c.associate()
        aarq = c.transport.sent[0]
        aare = acse.decode_aare(server.association(1, 1).handle(aarq))
        self.assertEqual(aare.result, acse.RESULT_REJECTED_PERMANENT)

    def test_replayed_request(self):
        server, c = self.associated()
        c.get(1, LDN, 2)
        replay = c.transport.sent[-1]
        # exception-response: service-not-allowed, invocation-counter-error,
        # with the lowest counter accepted: one above the replayed request's
        self.assertEqual(
            c.transport.raw(replay), h("D8 01 06") + (c.security.ic + 1).to_bytes(4, "big")
        )
        # and a decreasing counter too
        c.security.ic -= 5
        with self.assertRaises(ClientError):
            c.get(1, LDN, 2)

    def test_tampered_tag_ciphertext_and_title(self):
        server, c = self.associated(general=True)
        c.get(1, LDN, 2)
        good = bytearray(c.transport.sent[-1])
        for pos in (len(good) - 1, len(good) - 20, 3):  # tag, ciphertext, system title
            bad = bytearray(good)
            bad[pos] ^= 0x01
            self.assertEqual(c.transport.raw(bytes(bad)), h("D8 01 05"), pos)
        # the association still works
        self.assertEqual(c.get(1, LDN, 2)[1], b"MPY0000000000001")

    def test_truncated(self):
        server, c = self.associated()
        c.get(1, LDN, 2)
        good = c.transport.sent[-1]
        for cut in range(3, len(good)):
            r = c.transport.raw(good[:cut])
            self.assertEqual(r[0], xdlms.EXCEPTION_RESPONSE)

    def test_unprotected_request_refused(self):
        server, c = self.associated()
        w = axdr.Writer(64)
        xdlms.get_request_normal(w, 0xC1, 1, LDN, 2)
        self.assertEqual(c.transport.raw(w.getvalue()), h("D8 01 01"))

    def test_weaker_protection_refused(self):
        server, c = self.associated()
        c.security.sc = 0x10  # authentication only, the policy wants both
        with self.assertRaises(ClientError):
            c.get(1, LDN, 2)

    def test_policy_needs_the_ciphered_context(self):
        server = secured_server()
        c = Client(Loop(server, 1), acse.MECHANISM_HLS_GMAC)
        with self.assertRaises(ClientError) as cm:
            c.associate()
        self.assertEqual(cm.exception.result, acse.DIAG_CONTEXT_NOT_SUPPORTED)

    def test_hls_wrong_answer(self):
        server = secured_server()
        c = client(server)
        c._hls = lambda aare: None  # pass 3 by hand
        c.associate()
        answer = h("10 00 00 00 05") + bytes(12)
        result, _ = c.action(15, obis.parse("0.0.40.0.0.255"), 1, (axdr.OCTET_STRING, answer))
        self.assertEqual(result, xdlms.OTHER_REASON)
        with self.assertRaises(ClientError):
            c.get(1, LDN, 2)  # not associated

    def test_pending_association_reads_nothing(self):
        server = secured_server()
        c = client(server)
        c._hls = lambda aare: None  # skip pass 3
        c.associate()
        with self.assertRaises(ClientError) as cm:
            c.get(1, LDN, 2)
        self.assertEqual(cm.exception.result, xdlms.READ_WRITE_DENIED)

    def test_counter_exhausted(self):
        server, c = self.associated()
        server.security.counter.value = 0xFFFFFFFF
        r = c.transport.raw(c._protect(bytes(_get_ldn())))
        self.assertEqual(r, h("D8 01 06 FF FF FF FF"))

    def test_a_forged_counter_without_a_tag_locks_nobody_out(self):
        # SC 0x20 has no tag: anyone can write the client's system title and
        # the highest counter into an AARQ or a request. Refused, and the
        # counter not recorded: the real client still gets in, and on.
        server = secured_server()
        a = server.association(1, 1)
        for body in (bytes(16), h("01 00 00 00 06 5F 1F 04 00 00 7E 1F 04 B0")):
            ui = bytes((0x21, 5 + len(body), 0x20)) + h("FF FF FF FF") + body
            aarq = acse.encode_aarq(
                acse.CONTEXT_LN_CIPHERED, acse.MECHANISM_HLS_GMAC, bytes(16), CLIENT_TITLE, ui
            )
            self.assertNotEqual(acse.decode_aare(a.handle(aarq)).result, acse.RESULT_ACCEPTED)
        c = client(server, ic=10)
        c.associate()
        forged = bytes((0xC8, 5 + 20, 0x20)) + h("FF FF FF FF") + bytes(20)
        self.assertEqual(c.transport.raw(forged)[:3], h("D8 01 05"))  # below the policy
        self.assertEqual(c.get(1, LDN, 2)[1], b"MPY0000000000001")

    def test_initiate_request_below_the_policy(self):
        with self.assertRaises(ClientError):
            client(secured_server(), sc=0x10).associate()  # the policy wants 0x30
        # a dedicated key only encrypted, never authenticated-only or in clear
        server = secured_server(security=0x10)
        with self.assertRaises(ClientError):
            client(server, sc=0x10, dedicated_key=bytes(range(16, 32))).associate()
        c = client(server, sc=0x30, dedicated_key=bytes(range(16, 32)), ic=10)
        c.associate()
        self.assertEqual(c.get(1, LDN, 2)[1], b"MPY0000000000001")

    def test_security_control_of_another_suite_or_key_set(self):
        server, c = self.associated()
        for sc in (0x31, 0x32, 0x3F, 0x70):  # another suite; the broadcast key, none set
            c.security.sc = sc
            with self.assertRaises(ClientError):
                c.get(1, LDN, 2)
        # with a broadcast key, a request under it is served, and answered
        # under the unicast key
        bk = bytes(range(0x60, 0x70))
        server.security.set_key(1, bk)
        from dlms.security.gcm import Gcm

        c.security.sc = 0x70
        c.security.gcm = Gcm(bk)
        c.security.ic += 1
        request = c._protect(bytes(_get_ldn()))
        c.security.gcm = Gcm(EK)
        c.security.sc = 0x30
        answer = c.transport.raw(request)
        self.assertEqual(answer[0], 0xCC)
        self.assertEqual(c._unprotect(answer)[-16:], b"MPY0000000000001")

    def test_protected_release_after_a_refused_aarq(self):
        # a broken AARQ ends the ciphered association; a protected RLRQ then
        # gets a plain RLRE (it used to raise out of the association)
        server, c = self.associated()
        a = c.transport.a
        self.assertEqual(acse.decode_aare(bytes(a.handle(h("60 00")))).result, 1)
        ini = acse.encode_initiate_request(0x1D, 512)
        content = cipher.protect(c.security.gcm, 0x30, CLIENT_TITLE, 50, AK, ini)
        rlre = bytes(a.handle(acse.encode_rlrq(0, cipher.wrap(cipher.FORM_GLO, 1, content))))
        self.assertEqual(rlre[0], 0x63)

    def test_counter_exhausted_at_the_aarq(self):
        server = secured_server()
        server.security.counter.value = 0xFFFFFFFF
        with self.assertRaises(ClientError) as cm:
            client(server).associate()
        self.assertEqual(cm.exception.result, acse.DIAG_NO_REASON)

    def test_client_refuses_an_answer_stripped_of_its_tag(self):
        server, c = self.associated()
        real = c.transport.exchange

        def strip(apdu):
            # a man in the middle: SC 0x30 -> 0x20, the tag cut off
            r = bytearray(real(apdu))
            n = r[1] - 12
            return bytes((r[0], n, 0x20)) + bytes(r[3 : 2 + n])

        c.transport.exchange = strip
        with self.assertRaises(ClientError) as cm:
            c.get(1, LDN, 2)
        self.assertIn("not authenticated", str(cm.exception))


def _get_ldn():
    w = axdr.Writer(64)
    xdlms.get_request_normal(w, 0xC1, 1, LDN, 2)
    return w.getvalue()


class TestHlsHashes(unittest.TestCase):
    def test_md5_sha1_sha256(self):
        for mech in (acse.MECHANISM_HLS_MD5, acse.MECHANISM_HLS_SHA1, acse.MECHANISM_HLS_SHA256):
            server = secured_server(mechanism=mech, security=0x30, secret=b"hls-secret")
            c = client(server, mechanism=mech, password=b"hls-secret")
            c.associate()
            self.assertEqual(c.get(1, LDN, 2)[1], b"MPY0000000000001")
            bad = client(server, mechanism=mech, password=b"other", ic=c.security.ic)
            with self.assertRaises(ClientError):
                bad.associate()

    def test_change_hls_secret(self):
        server = secured_server(mechanism=acse.MECHANISM_HLS_SHA1, secret=b"old")
        c = client(server, mechanism=acse.MECHANISM_HLS_SHA1, password=b"old")
        c.associate()
        result, _ = c.action(15, obis.parse("0.0.40.0.0.255"), 2, (axdr.OCTET_STRING, b"new"))
        self.assertEqual(result, 0)
        c2 = client(server, mechanism=acse.MECHANISM_HLS_SHA1, password=b"new", ic=c.security.ic)
        c2.associate()
        with self.assertRaises(ClientError):
            client(server, mechanism=acse.MECHANISM_HLS_SHA1, password=b"old", ic=100).associate()


class TestSecuritySetup(unittest.TestCase):
    SETUP = obis.parse("0.0.43.0.0.255")

    def test_attributes(self):
        c = client(secured_server())
        c.associate()
        self.assertEqual(c.get(64, self.SETUP, 2), (axdr.ENUM, 3))
        self.assertEqual(c.get(64, self.SETUP, 3), (axdr.ENUM, 0))
        self.assertEqual(c.get(64, self.SETUP, 4), (axdr.OCTET_STRING, CLIENT_TITLE))
        self.assertEqual(c.get(64, self.SETUP, 5), (axdr.OCTET_STRING, SERVER_TITLE))

    def test_key_transfer(self):
        server = secured_server()
        c = client(server)
        c.associate()
        new_ek = bytes(range(0x40, 0x50))
        from dlms.security import keywrap

        wrapped = keywrap.wrap(KEK, new_ek)
        arg = (axdr.ARRAY, [(axdr.STRUCTURE, [(axdr.ENUM, 0), (axdr.OCTET_STRING, wrapped)])])
        self.assertEqual(c.action(64, self.SETUP, 2, arg)[0], 0)
        self.assertEqual(server.security.keys[0], new_ek)
        c2 = client(server, ek=new_ek)  # a new key: the counters start again
        c2.associate()
        self.assertEqual(c2.get(1, LDN, 2)[1], b"MPY0000000000001")
        with self.assertRaises(ClientError):
            client(server).associate()  # the old key no longer works

    def test_no_answer_counter_repeats_under_a_key_transferred_again(self):
        # the key in use transferred again, then another, then the first
        # back: every answer under the first key has its own IV
        from dlms.security import keywrap

        server = secured_server()
        other = bytes(range(0x40, 0x50))
        seen = {EK: [], other: []}
        ic = 100
        keys = (EK, EK, other, EK)
        for key, after in zip(keys, keys[1:] + (EK,)):
            c = client(server, ek=key, ic=ic)
            c.associate()
            for _ in range(3):
                c.get(1, LDN, 2)
                form, _, _, content = cipher.unwrap(c.transport.received[-1])
                seen[key].append(int.from_bytes(bytes(content[1:5]), "big"))
            wrapped = keywrap.wrap(KEK, after)
            arg = (axdr.ARRAY, [(axdr.STRUCTURE, [(axdr.ENUM, 0), (axdr.OCTET_STRING, wrapped)])])
            self.assertEqual(c.action(64, self.SETUP, 2, arg)[0], 0)
            ic = c.security.ic + 1
        for key, ics in seen.items():
            self.assertEqual(len(set(ics)), len(ics), (key, ics))
            self.assertEqual(ics, sorted(ics))

    def test_bad_key_wrap_changes_nothing(self):
        server = secured_server()
        c = client(server)
        c.associate()
        from dlms.security import keywrap

        wrapped = bytearray(keywrap.wrap(KEK, bytes(range(16))))
        wrapped[5] ^= 1
        arg = (
            axdr.ARRAY,
            [(axdr.STRUCTURE, [(axdr.ENUM, 0), (axdr.OCTET_STRING, bytes(wrapped))])],
        )
        self.assertEqual(c.action(64, self.SETUP, 2, arg)[0], xdlms.OTHER_REASON)
        self.assertEqual(server.security.keys[0], EK)

    def test_security_activate_only_strengthens(self):
        server = secured_server()
        c = client(server)
        c.associate()
        self.assertEqual(c.action(64, self.SETUP, 1, (axdr.ENUM, 1))[0], xdlms.OTHER_REASON)
        self.assertEqual(c.action(64, self.SETUP, 1, (axdr.ENUM, 3))[0], 0)
