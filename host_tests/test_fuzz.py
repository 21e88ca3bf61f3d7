"""Fuzzing, bounded (issue 9): every parser that sees outside bytes, on both runtimes.

Each target of fuzz_targets.py gets its seeds (real frames from the tests and
recorded sessions) and then a fixed number of mutated inputs from a fixed
seed: the same inputs on CPython and on the unix port. A target may raise
only its parser's documented errors; anything else, an error logged by a
link that caught an exception, an answer that does not parse, or a failed
known-good check (checked every 200 inputs and at the end) is counted as
unexpected, and must be 0. ``make fuzz`` runs the same targets for longer
(tools/fuzz.py); findings are kept as regression inputs at the bottom.
"""

import unittest

import fuzz_targets as ft
from support import by_entry, h

# inputs per target (the unix port runs the suite twice: keep the whole under ~8 s there)
N = {
    "hdlc": 4000,
    "hdlc_link": 3000,
    "wrapper": 3000,
    "axdr": 4000,
    "xdlms": 4000,
    "aarq": 4000,
    "server": 2500,
    "server_ciphered": 1500,
    "client": 4000,
    "iec62056_21": 3000,
    "dsmr": 1500,
    "han": 3000,
    "config": 3000,
}


def _report(r):
    print("fuzz %-16s %6d inputs %3d unexpected" % (r.name, r.inputs, r.unexpected))
    for data, what in r.examples:
        print("  %s\n    input %s" % (what, data[:400]))


class TestFuzz(unittest.TestCase):
    def fuzz(self, name):
        r = ft.fuzz(ft.make(name), N[name], seed=9)
        _report(r)
        self.assertGreaterEqual(r.inputs, N[name])
        self.assertEqual(r.unexpected, 0, r.examples)

    def test_hdlc(self):
        self.fuzz("hdlc")

    def test_hdlc_link(self):
        self.fuzz("hdlc_link")

    def test_wrapper(self):
        self.fuzz("wrapper")

    def test_axdr(self):
        self.fuzz("axdr")

    def test_xdlms(self):
        self.fuzz("xdlms")

    def test_aarq(self):
        self.fuzz("aarq")

    def test_server(self):
        self.fuzz("server")

    def test_server_ciphered(self):
        self.fuzz("server_ciphered")

    def test_client(self):
        self.fuzz("client")

    def test_iec62056_21(self):
        self.fuzz("iec62056_21")

    def test_dsmr(self):
        self.fuzz("dsmr")

    def test_han(self):
        self.fuzz("han")

    def test_config(self):
        self.fuzz("config")


class TestFindings(unittest.TestCase):
    """What the fuzzers found, fixed in the firmware, kept as regression inputs."""

    def run_target(self, name, data):
        t = ft.make(name)
        r = ft.Result(name)
        trap = ft._ErrorTrap()
        saved = ft.log.error
        ft.log.error = trap
        try:
            ft.run_one(t, data, r, trap)
            ft.run_check(t, r, trap)
        finally:
            ft.log.error = saved
        self.assertEqual(r.unexpected, 0, r.examples)
        return t

    def test_clock_set_beyond_2106_is_refused(self):
        # server: the manager set the clock to the year 39994 (9C 3A); every GET
        # of the energy registers and the load profile then failed to encode
        # (a double-long-unsigned over 2^32 Wh: hardware-fault, an error
        # logged), and a stop with a store crashed saving the energy record
        # (u32 time). cosem.clock now refuses times outside 1970..2106.
        data = bytes((1,)) + ft.pack(
            ft.AARQ_NONE,
            h("C1 01 C1 00 08 00 00 01 00 00 FF 02 00 09 0C 9C 3A 0B 1A 04 0C 00 00 00 FF C4 00"),
            ft.get(ft.LN_ENERGY, 2, cls=3),
            ft.get(ft.LN_PROFILE, 2, cls=7, selector=2, params=by_entry(1, 4)),
        )
        t = self.run_target("server", data)
        a = t.server.association(1, 1)
        a.handle(ft.AARQ_NONE)

        def set_year(year):
            dt = bytes((year >> 8, year & 0xFF)) + h("02 07 FF 00 00 00 00 00 00 00")
            w = ft.axdr.Writer(64)
            ft.xdlms.set_request_normal(w, 0xC1, 8, ft.LN_CLOCK, 2, (ft.axdr.OCTET_STRING, dt))
            return bytes(a.handle(w.getvalue()))

        self.assertEqual(set_year(39994), h("C5 01 C1 FA"))  # other-reason
        self.assertEqual(set_year(2106), h("C5 01 C1 00"))  # 2106-02-07 00:00 UTC: fits
        self.assertEqual(set_year(2107), h("C5 01 C1 FA"))
        self.assertEqual(set_year(1969), h("C5 01 C1 FA"))
        r = ft.xdlms.decode_response(bytes(a.handle(ft.get(ft.LN_ENERGY, 2, cls=3))))
        self.assertEqual(r.results[0][0], "data")

    def test_config_nested_too_deeply(self):
        # config: CPython's json raised RecursionError, the unix port's MemoryError
        import gc

        self.run_target("config", b'{"max_pdu": ' + b"[" * 5000 + b"]" * 5000 + b"}")
        self.run_target("config", b"[" * 100000)
        gc.collect()

    def test_config_not_utf8(self):
        # app.main --config with a Latin-1 file: UnicodeDecodeError, a traceback
        from app import config

        with self.assertRaises(config.ConfigError):
            config.load_bytes(b'{"identity": {"serial": "\xe9"}}')

    def test_config_with_a_field_name_that_is_no_string(self):
        # the unix port's json reads {"security": "enabled": true, ...} as
        # {"security": "enabled", True: ...}: a TypeError joining the field path
        self.run_target("config", b'{"push": {"security": "enabled": true, "destination": "x"}}')

    def test_readout_with_eight_bit_octets(self):
        # client: dlms.iec62056_21_client.parse_data_message raised
        # UnicodeDecodeError for octets with the parity bit left in
        from dlms.iec62056_21 import bcc
        from dlms.iec62056_21_client import parse_data_message

        block = b"1.8.\xb0(012345.678*kWh)\r\n!\r\n\x03"
        m = b"\x02" + block + bytes((bcc(block),))
        self.assertEqual(parse_data_message(m).values, {"1.8.0": ("012345.678", "kWh")})


class TestTimeFindings(unittest.TestCase):
    """Found once the fuzzers' clocks ran past the tick counter's wrap."""

    def test_hdlc_frames_held_back_are_answered_at_the_time_out(self):
        # hdlc_link: a frame cut short (its header and HCS good) and at once a
        # whole SNRM: the framer waits for the first one's length. When the
        # inter-octet time-out drops it, the SNRM is answered in poll(), not
        # ahead of whatever the client sends next (a DM before the next UA).
        from dlms.hdlc_link import HdlcServerLink

        link = HdlcServerLink(ft._small_server(), 16, 128, 7)
        dest, src = ft.hdlc.encode_address(1, 16), ft.hdlc.encode_address(16)
        cut = ft.hdlc.encode(dest, src, ft.hdlc.control(0), bytes(60))[:20]
        snrm = ft.hdlc.encode(dest, src, ft.hdlc.control(ft.hdlc.SNRM))
        t = ft.ticks(ft.PERIOD - 100)  # and across the wrap
        link.receive_data(cut + snrm, t)
        self.assertEqual(link.data_to_send(), b"")
        link.poll(ft.ticks(t + 300))
        f = ft.hdlc.decode_frame(link.data_to_send())
        self.assertEqual(f.kind, ft.hdlc.UA)

    def test_iec_answers_after_a_week_of_silence(self):
        # iec62056_21: the time the last octets leave the line (_tx_free) was a
        # tick count from the start (0) or from the last session; once over
        # half the tick period old (6 days on a board) it wrapped into the
        # future, and the identification waited for the counter to come round.
        from dlms.iec62056_21 import Iec62056Server

        for start in (0, ft.PERIOD // 2 + 5000, ft.PERIOD - 1000):
            s = Iec62056Server("MPY0000000000001", [("1.8.0", "1", "kWh")])
            # a sign-on, then a week later (on a board: over half the period)
            for t in (start, start + max(7 * 86400000, ft.PERIOD // 2 + 10000)):
                s.receive_data(b"/?!\r\n", ft.ticks(t))
                s.poll(ft.ticks(t + 250))
                self.assertEqual(s.data_to_send(), b"/MPY5\\2MPY0000000000001\r\n", start)
                for ms in range(300, 8000, 100):  # the readout (no option select), sign-off
                    s.poll(ft.ticks(t + ms))
                    s.data_to_send()
                    while s.next_event():
                        s.data_to_send()
                self.assertFalse(s.busy())


class TestMutations(unittest.TestCase):
    def test_same_inputs_on_both_runtimes(self):
        # the xorshift generator and the mutations are pure integer code
        rng = ft.Rng(9)
        out = ft.mutate(rng, h("7E A0 07 03 21 93 0F 01 7E"), [h("00 01 02")], [b"\x7e"])
        for _ in range(50):
            out = ft.mutate(rng, out, [h("00 01 02")], [b"\x7e"])
        self.assertEqual(len(out), len(bytes(out)))
        rng2 = ft.Rng(9)
        out2 = ft.mutate(rng2, h("7E A0 07 03 21 93 0F 01 7E"), [h("00 01 02")], [b"\x7e"])
        for _ in range(50):
            out2 = ft.mutate(rng2, out2, [h("00 01 02")], [b"\x7e"])
        self.assertEqual(out, out2)

    def test_every_mutation_kind(self):
        d = h("00 01 02 03 04 05 06 07")
        for op in range(ft.OPS):
            out = ft.apply(d, op, 3, 5, b"\xaa", [h("10 11")], [b"\x7e"])
            self.assertIsInstance(out, bytes)
        self.assertEqual(ft.apply(d, 5, 3, 0, b""), h("00 01 02"))  # truncation
        self.assertEqual(ft.apply(d, 4, 3, 0, b""), h("00 01 02 03 04 05 06 07"))  # lie: rest-1

    def test_a_target_that_raises_is_counted(self):
        class Broken(ft.Target):
            name = "broken"
            errors = (ValueError,)

            def seeds(self):
                return [b"ok"]

            def run(self, data):
                if len(data) > 3:
                    raise KeyError("boom")
                if len(data) == 3:
                    import log

                    log.error("caught %r", "x")

        r = ft.fuzz(Broken(), 200, seed=1)
        self.assertGreater(r.unexpected, 0)
        self.assertTrue(any("KeyError" in w for _, w in r.examples))


if __name__ == "__main__":
    unittest.main()
