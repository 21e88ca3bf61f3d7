"""The application layer (Green Book 9): associations and GET/SET/ACTION, bytes in, bytes out."""

import unittest

from dlms import acse, axdr, xdlms
from model import LDN, build
from support import Rng, h, hx

# Green Book / gurux AARQ: LN referencing, no security, conformance 00 7E 1F,
# max PDU 0x04B0.
AARQ_NONE = h(
    "60 1D A1 09 06 07 60 85 74 05 08 01 01 BE 10 04 0E 01 00 00 00 06 5F 1F 04 00 00 7E 1F 04 B0"
)
AARQ_LLS = h(
    "60 36 A1 09 06 07 60 85 74 05 08 01 01 8A 02 07 80 8B 07 60 85 74 05 08 02 01"
    " AC 0A 80 08 31 32 33 34 35 36 37 38 BE 10 04 0E 01 00 00 00 06 5F 1F 04 00 00 7E 1F 04 B0"
)
AARQ_LLS_WRONG = AARQ_LLS.replace(b"12345678", b"12345679")
# accepted; negotiated conformance 00 1E 1D (block transfer x3, multiple
# references, get, set, selective access, action); server max PDU 0x0100
AARE_OK = h(
    "61 29 A1 09 06 07 60 85 74 05 08 01 01 A2 03 02 01 00 A3 05 A1 03 02 01 00"
    " BE 10 04 0E 08 00 06 5F 1F 04 00 00 1E 1D 01 00 00 07"
)


def get(ln, attr, cls=1, invoke=0xC1, selector=None, params=None):
    w = axdr.Writer(128)
    xdlms.get_request_normal(w, invoke, cls, ln, attr, selector, params)
    return bytes(w.getvalue())


LN_LDN = h("00 00 2A 00 00 FF")
LN_SERIAL = h("00 00 60 01 00 FF")
LN_ENERGY = h("01 00 01 08 00 FF")
LN_BIG = h("00 00 80 00 00 FF")
LN_ASSOC = h("00 00 28 00 00 FF")


class Base(unittest.TestCase):
    client = 16
    aarq = AARQ_NONE

    def setUp(self):
        self.server = build()
        self.a = self.server.association(self.client, 1)
        self.assertEqual(bytes(self.a.handle(self.aarq)), AARE_OK)

    def ask(self, apdu):
        r = self.a.handle(apdu)
        return bytes(r) if r is not None else None


class TestAssociation(unittest.TestCase):
    def setUp(self):
        self.server = build()

    def assoc(self, client, aarq):
        return bytes(self.server.association(client, 1).handle(aarq))

    def test_public_no_authentication(self):
        self.assertEqual(self.assoc(16, AARQ_NONE), AARE_OK)

    def test_lls(self):
        self.assertEqual(self.assoc(17, AARQ_LLS), AARE_OK)

    def test_lls_wrong_password(self):
        aare = acse.decode_aare(self.assoc(17, AARQ_LLS_WRONG))
        self.assertEqual(aare.result, acse.RESULT_REJECTED_PERMANENT)
        self.assertEqual(aare.source, acse.SOURCE_SERVICE_USER)
        self.assertEqual(aare.diagnostic, acse.DIAG_AUTHENTICATION_FAILURE)

    def test_lls_rejected_bytes(self):
        # rejected-permanent, acse-service-user: authentication-failure (13)
        self.assertEqual(
            self.assoc(17, AARQ_LLS_WRONG),
            h("61 17 A1 09 06 07 60 85 74 05 08 01 01 A2 03 02 01 01 A3 05 A1 03 02 01 0D"),
        )

    def test_authentication_required(self):
        aare = acse.decode_aare(self.assoc(17, AARQ_NONE))
        self.assertEqual(aare.diagnostic, acse.DIAG_AUTHENTICATION_REQUIRED)

    def test_unknown_mechanism(self):
        aarq = AARQ_LLS.replace(h("60 85 74 05 08 02 01"), h("60 85 74 05 08 02 09"))
        aare = acse.decode_aare(self.assoc(17, aarq))
        self.assertEqual(aare.diagnostic, acse.DIAG_MECHANISM_NOT_RECOGNISED)

    def test_ciphered_context_not_supported(self):
        aarq = AARQ_NONE.replace(h("60 85 74 05 08 01 01"), h("60 85 74 05 08 01 03"))
        aare = acse.decode_aare(self.assoc(16, aarq))
        self.assertEqual(aare.result, acse.RESULT_REJECTED_PERMANENT)
        self.assertEqual(aare.diagnostic, acse.DIAG_CONTEXT_NOT_SUPPORTED)

    def test_unknown_client(self):
        aare = acse.decode_aare(self.assoc(99, AARQ_NONE))
        self.assertEqual(aare.result, acse.RESULT_REJECTED_PERMANENT)

    def test_dlms_version_too_low(self):
        aarq = AARQ_NONE.replace(h("00 00 00 06 5F"), h("00 00 00 05 5F"))
        aare = acse.decode_aare(self.assoc(16, aarq))
        self.assertEqual(aare.result, acse.RESULT_REJECTED_PERMANENT)
        # ConfirmedServiceError: initiateError / initiate / dlms-version-too-low
        self.assertEqual(aare.user_information, h("0E 01 06 01"))

    def test_incompatible_conformance(self):
        aarq = AARQ_NONE.replace(h("04 00 00 7E 1F"), h("04 00 40 00 00"))
        aare = acse.decode_aare(self.assoc(16, aarq))
        self.assertEqual(aare.user_information, h("0E 01 06 02"))

    def test_pdu_size_too_short(self):
        # under 64 octets (as gurux's servers): no room for a block with its
        # header, least of all ciphered
        for pdu in ("00 0B", "00 3F"):
            aarq = AARQ_NONE.replace(h("7E 1F 04 B0"), h("7E 1F " + pdu))
            aare = acse.decode_aare(self.assoc(16, aarq))
            self.assertEqual(aare.user_information, h("0E 01 06 03"), pdu)

    def test_the_smallest_pdu_carries_every_block(self):
        # at 64 octets each block is full to the limit (52 raw octets after
        # the 12-octet header at most) and the transfer ends
        a = self.server.association(16, 1)
        a.handle(AARQ_NONE.replace(h("7E 1F 04 B0"), h("7E 1F 00 40")))
        raw = bytearray()
        r = xdlms.decode_response(bytes(a.handle(get(LN_BIG, 2))))
        sizes = []
        while True:
            sizes.append(len(r.raw))
            raw += r.raw
            if r.last:
                break
            w = axdr.Writer(16)
            xdlms.get_request_next(w, 0xC1, r.block)
            resp = bytes(a.handle(w.getvalue()))
            self.assertLessEqual(len(resp), 64)
            r = xdlms.decode_response(resp)
        self.assertEqual(len(axdr.decode(raw)[0][1]), 500)
        self.assertEqual(set(sizes[:-1]), {52})

    def test_malformed_aarq(self):
        for cut in range(1, len(AARQ_NONE)):
            aare = acse.decode_aare(self.assoc(16, AARQ_NONE[:cut]))
            self.assertEqual(aare.result, acse.RESULT_REJECTED_PERMANENT)

    def test_get_before_association(self):
        a = self.server.association(16, 1)
        # exception-response: service-not-allowed / operation-not-possible
        self.assertEqual(bytes(a.handle(get(LN_LDN, 2))), h("D8 01 01"))

    def test_release(self):
        a = self.server.association(16, 1)
        a.handle(AARQ_NONE)
        self.assertEqual(bytes(a.handle(h("62 03 80 01 00"))), h("63 03 80 01 00"))
        self.assertEqual(bytes(a.handle(get(LN_LDN, 2))), h("D8 01 01"))

    def test_release_with_initiate_request(self):
        # dlms-cosem's RLRQ carries an InitiateRequest: the RLRE answers with an
        # InitiateResponse.
        a = self.server.association(16, 1)
        a.handle(AARQ_NONE)
        rlrq = h("62 15 80 01 00 BE 10 04 0E 01 00 00 00 06 5F 1F 04 00 00 7E 1F 04 B0")
        self.assertEqual(
            bytes(a.handle(rlrq)),
            h("63 15 80 01 00 BE 10 04 0E 08 00 06 5F 1F 04 00 00 1E 1D 01 00 00 07"),
        )

    def test_unknown_apdu(self):
        a = self.server.association(16, 1)
        a.handle(AARQ_NONE)
        self.assertEqual(bytes(a.handle(h("77 01 C1"))), h("D8 02 02"))
        # a ciphered request where no security is configured
        self.assertEqual(bytes(a.handle(h("C9 05 30 00 00 00 01"))), h("D8 01 01"))

    def test_unknown_logical_device(self):
        self.assertIsNone(self.server.association(16, 5))


class TestResponseBuffers(unittest.TestCase):
    """An association answers from a buffer the server lends it; an ended
    association's buffer serves the next one (made once, not found again in
    a fragmented heap), and one never serves two associations at once."""

    def answer(self, a, apdu):
        return bytes(a.handle(apdu))

    def test_an_ended_association_hands_its_buffer_on(self):
        server = build()
        a = server.association(16, 1)
        self.assertEqual(self.answer(a, AARQ_NONE), AARE_OK)
        self.assertEqual(self.answer(a, get(LN_LDN, 2))[:4], h("C4 01 C1 00"))
        first = a._buf
        self.assertIsNotNone(first)
        self.assertEqual(server._spare, [])
        b = server.association(17, 1)  # meanwhile: another buffer
        self.assertEqual(self.answer(b, AARQ_LLS), AARE_OK)
        self.answer(b, get(LN_LDN, 2))
        self.assertIsNotNone(b._buf)
        self.assertIsNot(b._buf, first)
        a.abort()
        self.assertIsNone(a._buf)
        c = server.association(16, 1)
        self.assertEqual(self.answer(c, AARQ_NONE), AARE_OK)
        self.assertEqual(self.answer(c, get(LN_LDN, 2))[:4], h("C4 01 C1 00"))
        self.assertIs(c._buf, first)

    def test_made_at_boot_and_kept_within_bounds(self):
        server = build()
        server.reserve()
        made = server._spare[0]
        assocs = [server.association(16, 1) for _ in range(4)]
        for a in assocs:
            self.answer(a, AARQ_NONE)
            self.answer(a, get(LN_LDN, 2))
        self.assertIs(assocs[0]._buf, made)  # the first client takes the one made at boot
        for a in assocs:
            a.abort()
        self.assertEqual(len(server._spare), server.keep)  # the others back to the heap

    def test_out_of_memory_is_answered_and_the_association_stays(self):
        server = build()
        a = server.association(16, 1)
        self.answer(a, AARQ_NONE)

        def no_memory():
            raise MemoryError("memory allocation failed")

        server.take_buffer = no_memory
        # exception-response: service-not-allowed, operation-not-possible
        self.assertEqual(self.answer(a, get(LN_LDN, 2)), h("D8 01 01"))
        del server.take_buffer
        self.assertEqual(self.answer(a, get(LN_LDN, 2))[:4], h("C4 01 C1 00"))

    def test_an_aborted_association_used_again_takes_another(self):
        server = build()
        a = server.association(16, 1)
        self.answer(a, AARQ_NONE)
        a.abort()
        b = server.association(16, 1)
        self.answer(b, AARQ_NONE)
        self.answer(b, get(LN_LDN, 2))
        # a (a client that did not go) associates again: its answers do not
        # land in b's buffer
        self.assertEqual(self.answer(a, AARQ_NONE), AARE_OK)
        ldn = self.answer(a, get(LN_LDN, 2))
        self.assertIsNot(a._buf, b._buf)
        self.assertEqual(self.answer(b, get(LN_LDN, 2)), ldn)


class TestGet(Base):
    def test_get_normal(self):
        self.assertEqual(self.ask(get(LN_LDN, 2)), h("C4 01 C1 00 09 10") + LDN)

    def test_logical_name(self):
        self.assertEqual(self.ask(get(LN_LDN, 1)), h("C4 01 C1 00 09 06 00 00 2A 00 00 FF"))

    def test_invoke_id_echoed(self):
        self.assertEqual(self.ask(get(LN_LDN, 1, invoke=0x45))[:3], h("C4 01 45"))

    def test_object_undefined(self):
        self.assertEqual(self.ask(get(h("01 02 03 04 05 06"), 2)), h("C4 01 C1 01 04"))

    def test_class_inconsistent(self):
        self.assertEqual(self.ask(get(LN_LDN, 2, cls=3)), h("C4 01 C1 01 09"))

    def test_undefined_attribute(self):
        self.assertEqual(self.ask(get(LN_LDN, 3)), h("C4 01 C1 01 03"))
        self.assertEqual(self.ask(get(LN_LDN, 0)), h("C4 01 C1 01 03"))
        self.assertEqual(self.ask(get(LN_LDN, -1)), h("C4 01 C1 01 03"))

    def test_public_sees_a_subset(self):
        # the serial number is not public: for client 16 it does not exist
        self.assertEqual(self.ask(get(LN_SERIAL, 2)), h("C4 01 C1 01 04"))

    def test_unsupported_selector(self):
        self.assertEqual(
            self.ask(get(LN_LDN, 2, selector=1, params=(axdr.NULL_DATA, None))),
            h("C4 01 C1 01 FA"),
        )

    def test_with_list(self):
        w = axdr.Writer(128)
        xdlms.get_request_with_list(w, 0xC1, [(1, LN_LDN, 1), (1, LN_SERIAL, 2), (1, LN_LDN, 9)])
        self.assertEqual(
            self.ask(w.getvalue()),
            h("C4 03 C1 03 00 09 06 00 00 2A 00 00 FF 01 04 01 03"),
        )

    def test_association_status_and_partners(self):
        self.assertEqual(self.ask(get(LN_ASSOC, 8, cls=15)), h("C4 01 C1 00 16 02"))
        self.assertEqual(self.ask(get(LN_ASSOC, 3, cls=15)), h("C4 01 C1 00 02 02 0F 10 12 00 01"))

    def test_secret_is_never_read(self):
        self.assertEqual(self.ask(get(LN_ASSOC, 7, cls=15)), h("C4 01 C1 01 03"))

    def read_blocks(self, first):
        """Follow GET-next to the last block; the raw-data joined."""
        raw = bytearray()
        r = xdlms.decode_response(first)
        blocks = 0
        while True:
            self.assertEqual((r.tag, r.kind), (xdlms.GET_RESPONSE, xdlms.WITH_DATABLOCK))
            self.assertIsNone(r.error)
            blocks += 1
            self.assertEqual(r.block, blocks)
            raw += r.raw
            if r.last:
                return raw, blocks
            w = axdr.Writer(16)
            xdlms.get_request_next(w, 0xC1, r.block)
            resp = self.ask(w.getvalue())
            self.assertLessEqual(len(resp), 256)
            r = xdlms.decode_response(resp)

    def test_block_transfer(self):
        first = self.ask(get(LN_BIG, 2))
        self.assertEqual(first[:8], h("C4 02 C1 00 00 00 00 01"))
        self.assertLessEqual(len(first), 256)
        raw, blocks = self.read_blocks(first)
        data, end = axdr.decode(raw)
        self.assertEqual(end, len(raw))
        self.assertEqual(len(data[1]), 500)
        self.assertEqual(data[1][499], (axdr.LONG_UNSIGNED, 499))
        self.assertGreater(blocks, 5)

    def test_object_list_public(self):
        r = xdlms.decode_response(self.ask(get(LN_ASSOC, 2, cls=15)))
        lns = [el[1][2][1] for el in r.results[0][1][1]]
        self.assertEqual(lns, [LN_ASSOC, LN_LDN, LN_BIG, h("00 00 29 00 00 FF")])

    def test_object_list_by_blocks(self):
        a = self.server.association(1, 1)
        a.handle(AARQ_LLS)
        self.a = a
        raw, blocks = self.read_blocks(self.ask(get(LN_ASSOC, 2, cls=15)))
        data, end = axdr.decode(raw)
        lns = [el[1][2][1] for el in data[1]]
        self.assertEqual(lns[0], LN_ASSOC)
        self.assertIn(LN_SERIAL, lns)
        self.assertIn(h("00 00 28 00 03 FF"), lns)  # the manager sees every association
        # the access rights the manager is given: LDN value read-only, serial read-write
        rights = {el[1][2][1]: el[1][3] for el in data[1]}
        self.assertEqual(rights[LN_SERIAL][1][0][1][1][1][1], (axdr.ENUM, 3))
        self.assertEqual(rights[LN_LDN][1][0][1][1][1][1], (axdr.ENUM, 1))

    def test_next_without_transfer(self):
        self.assertEqual(self.ask(h("C0 02 C1 00 00 00 01")), h("C4 02 C1 01 00 00 00 01 01 10"))

    def test_next_with_wrong_block(self):
        self.ask(get(LN_BIG, 2))
        self.assertEqual(self.ask(h("C0 02 C1 00 00 00 05")), h("C4 02 C1 01 00 00 00 05 01 0F"))
        # the transfer is over
        self.assertEqual(self.ask(h("C0 02 C1 00 00 00 01")), h("C4 02 C1 01 00 00 00 01 01 10"))

    def test_client_vanishes_mid_block(self):
        self.ask(get(LN_BIG, 2))
        self.a.abort()
        a = self.server.association(16, 1)
        self.assertEqual(bytes(a.handle(AARQ_NONE)), AARE_OK)
        self.assertEqual(bytes(a.handle(get(LN_LDN, 2))), h("C4 01 C1 00 09 10") + LDN)

    def test_malformed_get(self):
        self.assertEqual(self.ask(get(LN_LDN, 2)[:-3]), h("D8 01 03"))

    def test_random_apdus_never_raise(self):
        rng = Rng(5)
        seeds = [get(LN_LDN, 2), get(LN_BIG, 2), h("C1 01 C1 00 01 00 00 2A 00 00 FF 02 00 09 00")]
        for i in range(3000):
            if i % 3 == 0:
                apdu = bytes((0xC0 + rng.below(8),)) + rng.bytes(rng.below(40))
            else:
                b = bytearray(seeds[rng.below(len(seeds))])
                for _ in range(1 + rng.below(3)):
                    b[rng.below(len(b))] = rng.below(256)
                apdu = bytes(b[: 1 + rng.below(len(b))])
            r = self.a.handle(apdu)  # must not raise
            if r is not None:
                self.assertGreater(len(r), 0)
        # and it still answers
        self.assertEqual(self.ask(get(LN_LDN, 1)), h("C4 01 C1 00 09 06 00 00 2A 00 00 FF"))


class TestSet(Base):
    client = 1
    aarq = AARQ_LLS

    def set(self, ln, attr, data, cls=1):
        w = axdr.Writer(128)
        xdlms.set_request_normal(w, 0xC1, cls, ln, attr, data)
        return self.ask(w.getvalue())

    def test_set_and_read_back(self):
        self.assertEqual(
            self.set(LN_SERIAL, 2, (axdr.VISIBLE_STRING, "87654321")), h("C5 01 C1 00")
        )
        self.assertEqual(self.ask(get(LN_SERIAL, 2)), h("C4 01 C1 00 0A 08") + b"87654321")

    def test_type_unmatched(self):
        self.assertEqual(self.set(LN_SERIAL, 2, (axdr.UNSIGNED, 1)), h("C5 01 C1 0C"))

    def test_read_only_attribute(self):
        self.assertEqual(self.set(LN_LDN, 2, (axdr.OCTET_STRING, b"x")), h("C5 01 C1 03"))
        self.assertEqual(self.set(LN_LDN, 1, (axdr.OCTET_STRING, b"x")), h("C5 01 C1 03"))

    def test_register_value(self):
        self.assertEqual(
            self.set(LN_ENERGY, 2, (axdr.DOUBLE_LONG_UNSIGNED, 7), cls=3), h("C5 01 C1 00")
        )
        self.assertEqual(self.ask(get(LN_ENERGY, 2, cls=3)), h("C4 01 C1 00 06 00 00 00 07"))

    def test_with_list(self):
        w = axdr.Writer(128)
        xdlms.set_request_with_list(
            w,
            0xC1,
            [(1, LN_SERIAL, 2), (1, LN_LDN, 2)],
            [(axdr.VISIBLE_STRING, "1"), (axdr.OCTET_STRING, b"x")],
        )
        self.assertEqual(self.ask(w.getvalue()), h("C5 05 C1 02 00 03"))

    def test_set_by_blocks(self):
        value = axdr.to_bytes((axdr.VISIBLE_STRING, "S" * 300))
        w = axdr.Writer(256)
        xdlms.set_request_first_datablock(w, 0xC1, 1, LN_SERIAL, 2, False, value[:200])
        self.assertEqual(self.ask(w.getvalue()), h("C5 02 C1 00 00 00 01"))
        w = axdr.Writer(256)
        xdlms.set_request_datablock(w, 0xC1, True, 2, value[200:])
        self.assertEqual(self.ask(w.getvalue()), h("C5 03 C1 00 00 00 00 02"))
        r = xdlms.decode_response(self.ask(get(LN_SERIAL, 2)))
        self.assertTrue(r.raw is not None or r.results)

    def test_set_block_out_of_order(self):
        w = axdr.Writer(256)
        xdlms.set_request_first_datablock(w, 0xC1, 1, LN_SERIAL, 2, False, b"\x0a\x05ab")
        self.ask(w.getvalue())
        w = axdr.Writer(256)
        xdlms.set_request_datablock(w, 0xC1, True, 3, b"cde")
        self.assertEqual(self.ask(w.getvalue()), h("C5 03 C1 13 00 00 00 03"))

    def test_public_client_is_refused(self):
        a = build().association(16, 1)
        a.handle(AARQ_NONE)
        w = axdr.Writer(128)
        xdlms.set_request_normal(w, 0xC1, 1, LN_LDN, 2, (axdr.OCTET_STRING, b"x"))
        self.assertEqual(bytes(a.handle(w.getvalue())), h("C5 01 C1 03"))


class TestServiceEdges(Base):
    client = 1
    aarq = AARQ_LLS

    def test_an_unconfirmed_set_or_action_is_done_not_answered(self):
        # service-class 0 (bit 6 of invoke-id-and-priority): 0x81
        w = axdr.Writer(64)
        xdlms.set_request_normal(w, 0x81, 1, LN_SERIAL, 2, (axdr.VISIBLE_STRING, "UNCONFIRMED"))
        self.assertIsNone(self.ask(w.getvalue()))
        r = xdlms.decode_response(self.ask(get(LN_SERIAL, 2)))
        self.assertEqual(r.results[0][1], (axdr.VISIBLE_STRING, "UNCONFIRMED"))
        w = axdr.Writer(64)
        xdlms.set_request_normal(w, 0xC1, 1, LN_SERIAL, 2, (axdr.VISIBLE_STRING, "CONFIRMED"))
        self.assertEqual(self.ask(w.getvalue()), h("C5 01 C1 00"))

    def test_a_set_list_whose_answer_cannot_fit_writes_nothing(self):
        a = self.server.association(1, 1)
        a.handle(AARQ_LLS.replace(h("7E 1F 04 B0"), h("7E 1F 00 40")))  # PDU 64
        w = axdr.Writer(2048)
        n = 70  # 70 results cannot fit 64 octets
        xdlms.set_request_with_list(
            w, 0xC1, [(1, LN_SERIAL, 2)] * n, [(axdr.VISIBLE_STRING, "LONG")] * n
        )
        self.assertEqual(bytes(a.handle(w.getvalue())), h("D8 01 04"))  # pdu-too-long
        r = xdlms.decode_response(bytes(a.handle(get(LN_SERIAL, 2))))
        self.assertNotEqual(r.results[0][1], (axdr.VISIBLE_STRING, "LONG"))

    def test_a_set_list_in_blocks_that_does_not_decode_writes_nothing(self):
        # two attributes, three values: every result type-unmatched, and
        # neither written (not the first ones written, then reported failed)
        w = axdr.Writer(64)
        axdr.encode_length(w, 3)
        for v in ("ONE", "TWO", "THREE"):
            axdr.encode(w, (axdr.VISIBLE_STRING, v))
        raw = bytes(w.getvalue())
        serial = h("00 01") + LN_SERIAL + h("02 00")  # class, LN, attribute, no selection
        # SET-Request-With-List-And-First-Datablock: 2 items, last block 1
        req = h("C1 05 C1 02") + serial * 2 + h("01 00 00 00 01") + bytes((len(raw),)) + raw
        r = xdlms.decode_response(self.ask(req))
        self.assertEqual(r.results, [xdlms.TYPE_UNMATCHED] * 2)
        r = xdlms.decode_response(self.ask(get(LN_SERIAL, 2)))
        self.assertNotIn(r.results[0][1][1], ("ONE", "TWO", "THREE"))


class TestAction(Base):
    client = 1
    aarq = AARQ_LLS

    def act(self, ln, method, data=None, cls=3):
        w = axdr.Writer(128)
        xdlms.action_request_normal(w, 0xC1, cls, ln, method, data)
        return self.ask(w.getvalue())

    def test_register_reset(self):
        self.assertEqual(self.act(LN_ENERGY, 1, (axdr.INTEGER, 0)), h("C7 01 C1 00 00"))
        self.assertEqual(self.ask(get(LN_ENERGY, 2, cls=3)), h("C4 01 C1 00 06 00 00 00 00"))

    def test_undefined_method(self):
        self.assertEqual(self.act(LN_ENERGY, 2), h("C7 01 C1 03 00"))

    def test_reader_may_not_invoke(self):
        a = build().association(17, 1)
        a.handle(AARQ_LLS)
        w = axdr.Writer(128)
        xdlms.action_request_normal(w, 0xC1, 3, LN_ENERGY, 1, (axdr.INTEGER, 0))
        self.assertEqual(bytes(a.handle(w.getvalue())), h("C7 01 C1 03 00"))

    def test_with_list(self):
        w = axdr.Writer(128)
        xdlms.write_header(w, xdlms.ACTION_REQUEST, xdlms.WITH_LIST, 0xC1)
        w.byte(2)
        for ln in (LN_ENERGY, LN_LDN):
            w.u16(3)
            w.write(ln)
            w.byte(1)
        w.byte(2)
        w.write(h("01 0F 00 00"))
        self.assertEqual(self.ask(w.getvalue()), h("C7 03 C1 02 00 00 09 00"))

    def test_change_hls_secret(self):
        self.assertEqual(
            self.act(LN_ASSOC, 2, (axdr.OCTET_STRING, b"newsecret"), cls=15), h("C7 01 C1 00 00")
        )
        self.assertEqual(self.server.clients[1].secret, b"newsecret")


class TestHex(unittest.TestCase):
    def test_hx(self):
        self.assertEqual(hx(b"\x01\xab"), "01 AB")


class TestLongActionAnswer(Base):
    def act(self, n, invoke=0xC1):
        w = axdr.Writer(64)
        xdlms.action_request_normal(w, invoke, 1, LN_BIG, 1, (axdr.LONG_UNSIGNED, n))
        return self.ask(w.getvalue())

    def test_short_answer_is_normal(self):
        self.assertEqual(self.act(2), h("C7 01 C1 00 01 00 01 02 12 00 00 12 00 01"))

    def test_long_answer_comes_in_pblocks(self):
        r = xdlms.decode_response(self.act(200))
        raw = bytearray()
        blocks = 0
        while True:
            self.assertEqual((r.tag, r.kind), (xdlms.ACTION_RESPONSE, 2))
            blocks += 1
            self.assertEqual(r.block, blocks)
            raw += r.raw
            if r.last:
                break
            w = axdr.Writer(16)
            xdlms.write_header(w, xdlms.ACTION_REQUEST, xdlms.NEXT, 0xC1)
            w.u32(r.block)
            resp = self.ask(w.getvalue())
            self.assertLessEqual(len(resp), 256)
            r = xdlms.decode_response(resp)
        data, end = axdr.decode(raw)
        self.assertEqual(len(data[1]), 200)
        self.assertGreater(blocks, 1)

    def test_next_pblock_without_transfer(self):
        self.assertEqual(self.ask(h("C3 02 C1 00 00 00 01")), h("C7 01 C1 10 00"))

    def test_our_client_follows_pblocks(self):
        from dlms.client import Client

        class Loop:
            def __init__(self, a):
                self.a = a

            def exchange(self, apdu):
                return bytes(self.a.handle(apdu))

        c = Client(Loop(self.server.association(16, 1)))
        c.associate()
        result, data = c.action(1, LN_BIG, 1, (axdr.LONG_UNSIGNED, 300))
        self.assertEqual((result, len(data[1]), data[1][-1]), (0, 300, (axdr.LONG_UNSIGNED, 299)))
