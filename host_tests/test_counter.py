"""dlms.security.counter: the server's invocation counter and the replay guard, on hal.store."""

import unittest

from dlms.security.cipher import SecurityError
from dlms.security.counter import CounterExhausted, InvocationCounter, ReplayGuard
from hal.store import StoreError, open_store
from test_store import TempFiles


class CountingStore:
    """A store that counts puts, and fails them on request."""

    def __init__(self, store):
        self.store = store
        self.puts = 0
        self.fail = False

    def get(self, name):
        return self.store.get(name)

    def put(self, name, data):
        if self.fail:
            raise OSError(5)
        self.puts += 1
        self.store.put(name, data)


class StoreCase(unittest.TestCase):
    def setUp(self):
        self.tmp = TempFiles("counter")
        self.store = CountingStore(open_store(self.tmp.path("flash.img"), 16, 512))

    def tearDown(self):
        self.store.store.dev.close()
        self.tmp.clean()

    def reboot(self):
        self.store = CountingStore(open_store(None, dev=self.store.store.dev.reboot()))
        return self.store


class TestInvocationCounter(StoreCase):
    def test_starts_at_one_and_rises_by_one(self):
        c = InvocationCounter(self.store, "ic", stride=16)
        self.assertEqual([c.next() for _ in range(40)], list(range(1, 41)))

    def test_one_store_write_per_stride(self):
        c = InvocationCounter(self.store, "ic", stride=16)
        for _ in range(1000):
            c.next()
        self.assertEqual(self.store.puts, 63)  # ceil(1000 / 16)

    def test_reserves_before_handing_out(self):
        c = InvocationCounter(self.store, "ic", stride=16)
        self.assertEqual(c.next(), 1)
        self.assertEqual(self.store.get("ic"), (16).to_bytes(4, "big"))
        for _ in range(15):
            c.next()
        self.assertEqual(self.store.puts, 1)
        self.assertEqual(c.next(), 17)
        self.assertEqual(self.store.get("ic"), (32).to_bytes(4, "big"))

    def test_reboot_resumes_past_the_reservation(self):
        c = InvocationCounter(self.store, "ic", stride=16)
        for _ in range(20):
            c.next()
        c = InvocationCounter(self.reboot(), "ic", stride=16)
        self.assertEqual(c.next(), 33)

    def test_stride_one_skips_nothing(self):
        c = InvocationCounter(self.store, "ic", stride=1)
        for _ in range(5):
            c.next()
        self.assertEqual(self.store.puts, 5)
        self.assertEqual(InvocationCounter(self.reboot(), "ic", stride=1).next(), 6)

    def test_failed_reservation_hands_out_nothing(self):
        c = InvocationCounter(self.store, "ic", stride=4)
        for _ in range(4):
            c.next()
        self.store.fail = True
        self.assertRaises(OSError, c.next)
        self.store.fail = False
        self.assertEqual(c.next(), 5)

    def test_exhausted_at_two_to_the_32_minus_one(self):
        self.store.put("ic", (0xFFFFFFFD).to_bytes(4, "big"))
        c = InvocationCounter(self.store, "ic", stride=16)
        self.assertEqual((c.next(), c.next()), (0xFFFFFFFE, 0xFFFFFFFF))
        self.assertTrue(c.exhausted)
        self.assertRaises(CounterExhausted, c.next)
        try:
            c.next()
        except SecurityError as e:
            self.assertEqual(e.reason, 6)  # invocation-counter-error
            self.assertIn("keys must be changed", str(e))
        c = InvocationCounter(self.reboot(), "ic", stride=16)
        self.assertRaises(CounterExhausted, c.next)

    def test_a_new_key_begins_its_series_and_an_old_key_resumes_its_own(self):
        c = InvocationCounter(self.store, "ic", stride=16)
        c.switch("aaaa")
        for _ in range(100):
            last_a = c.next()
        c.switch("bbbb")  # a key never used: 1 again
        self.assertEqual(c.next(), 1)
        c.switch("aaaa")  # transferred again, or back: never one of its values
        self.assertGreater(c.next(), last_a)
        c = InvocationCounter(self.reboot(), "ic", stride=16)
        c.switch("bbbb")
        self.assertGreater(c.next(), 1)
        c.switch("aaaa")
        self.assertGreater(c.next(), last_a)
        c.switch("cccc")
        self.assertFalse(c.exhausted)
        self.assertEqual(c.next(), 1)

    def test_one_record_of_older_firmware_is_the_floor_of_every_series(self):
        c = InvocationCounter(self.store, "ic", stride=16)
        for _ in range(40):
            sent = c.next()  # one series for every key, under "ic" itself
        c = InvocationCounter(self.reboot(), "ic", stride=16)
        c.switch("aaaa")
        self.assertGreater(c.next(), sent)

    def test_damaged_record_refuses_to_start(self):
        self.store.put("ic", b"\x00\x01")
        self.assertRaises(StoreError, InvocationCounter, self.store, "ic")

    def test_bad_stride(self):
        self.assertRaises(ValueError, InvocationCounter, self.store, "ic", 0)


class TestReplayGuard(StoreCase):
    def test_rejects_equal_and_lower(self):
        g = ReplayGuard(self.store, "rx.4D4D4D0000BC614E.0")
        self.assertTrue(g.check_and_accept(5))
        self.assertFalse(g.check_and_accept(5))
        self.assertFalse(g.check_and_accept(4))
        self.assertTrue(g.check_and_accept(6))
        self.assertTrue(g.check_and_accept(1000))
        self.assertFalse(g.check_and_accept(999))

    def test_first_frame_may_carry_zero(self):
        g = ReplayGuard(self.store, "rx")
        self.assertTrue(g.check(0))
        self.assertTrue(g.check_and_accept(0))
        self.assertFalse(g.check_and_accept(0))

    def test_out_of_range_is_refused(self):
        g = ReplayGuard(self.store, "rx")
        self.assertFalse(g.check_and_accept(-1))
        self.assertFalse(g.check_and_accept(0x100000000))
        self.assertTrue(g.check_and_accept(0xFFFFFFFF))
        self.assertFalse(g.check_and_accept(0xFFFFFFFF))

    def test_every_accept_is_persisted_before_it_returns(self):
        g = ReplayGuard(self.store, "rx")
        for ic in (3, 4, 4, 9, 2, 10):
            g.check_and_accept(ic)
        self.assertEqual(self.store.puts, 4)
        g = ReplayGuard(self.reboot(), "rx")
        self.assertFalse(g.check_and_accept(10))
        self.assertTrue(g.check_and_accept(11))

    def test_check_alone_records_nothing(self):
        g = ReplayGuard(self.store, "rx")
        g.check_and_accept(7)
        self.assertTrue(g.check(100))
        self.assertEqual(self.store.puts, 1)
        self.assertTrue(ReplayGuard(self.reboot(), "rx").check_and_accept(8))

    def test_unpersisted_frame_is_not_accepted(self):
        g = ReplayGuard(self.store, "rx")
        g.check_and_accept(7)
        self.store.fail = True
        self.assertRaises(OSError, g.check_and_accept, 8)
        self.store.fail = False
        self.assertEqual(g.last, 7)
        self.assertTrue(g.check_and_accept(8))

    def test_one_guard_per_peer_and_key(self):
        a = ReplayGuard(self.store, "rx.A.0")
        b = ReplayGuard(self.store, "rx.B.0")
        self.assertTrue(a.check_and_accept(50))
        self.assertTrue(b.check_and_accept(3))
        store = self.reboot()
        self.assertFalse(ReplayGuard(store, "rx.A.0").check_and_accept(49))
        self.assertTrue(ReplayGuard(store, "rx.B.0").check_and_accept(4))

    def test_reset_on_key_change(self):
        g = ReplayGuard(self.store, "rx")
        g.check_and_accept(500)
        g.reset()
        self.assertTrue(g.check_and_accept(1))
        g.reset()
        self.assertTrue(ReplayGuard(self.reboot(), "rx").check_and_accept(0))
