"""Power cuts at every flash write point, on a littlefs image (hal.blockdev, hal.store).

Each sweep counts the program and erase operations of a whole run, then for
every k: a fresh image, the same run with the power cut at operation k (whole,
or torn in half), a reboot, and the invariants: no invocation counter reused or
rolled back, no record half-written (the old one or the new one).
"""

import unittest

from dlms.security.counter import InvocationCounter, ReplayGuard
from hal.blockdev import FileBlockDevice, PowerCut
from hal.store import open_store
from support import Rng
from test_store import TempFiles

_BLOCK = 512
_BLOCKS = 16
_INCREMENTS = 1000
_STRIDE = 16


class Bench:
    """A formatted image kept in memory, laid back into the file before each run."""

    def __init__(self, tag, blocks=_BLOCKS):
        self.tmp = TempFiles(tag)
        self.path = self.tmp.path("flash.img")
        self.blocks = blocks
        s = open_store(self.path, blocks, _BLOCK)
        s.dev.close()
        with open(self.path, "rb") as f:
            self.template = f.read()

    def fresh(self):
        with open(self.path, "wb") as f:
            f.write(self.template)
        return open_store(None, dev=FileBlockDevice(self.path, _BLOCK, self.blocks))

    def close(self):
        self.tmp.clean()


def reboot(store):
    return open_store(None, dev=store.dev.reboot())


class TestFileBlockDevice(unittest.TestCase):
    def setUp(self):
        self.tmp = TempFiles("bdev")
        self.dev = FileBlockDevice(self.tmp.path("f.img"), 64, 4)

    def tearDown(self):
        self.dev.close()
        self.tmp.clean()

    def block(self, n, dev=None):
        buf = bytearray(64)
        (dev or self.dev).readblocks(n, buf)
        return bytes(buf)

    def test_geometry_and_erased_start(self):
        self.assertEqual((self.dev.ioctl(4, 0), self.dev.ioctl(5, 0)), (4, 64))
        self.assertEqual(self.dev.ioctl(1, 0), 0)
        self.assertTrue(self.dev.blank())
        self.assertEqual(self.block(3), b"\xff" * 64)

    def test_program_clears_bits_only_and_erase_sets_them(self):
        self.dev.writeblocks(1, b"\x0f\xf0", 4)
        self.dev.writeblocks(1, b"\xf3\x3f", 4)
        self.assertEqual(self.block(1)[3:7], b"\xff\x03\x30\xff")
        buf = bytearray(2)
        self.dev.readblocks(1, buf, 4)
        self.assertEqual(buf, b"\x03\x30")
        self.dev.ioctl(6, 1)
        self.assertEqual(self.block(1), b"\xff" * 64)
        self.assertEqual((self.dev.writes, self.dev.erases), (2, 1))

    def test_simple_protocol_erases_then_writes(self):
        self.dev.writeblocks(2, b"\x00" * 64, 0)
        self.dev.writeblocks(2, bytes(range(64)) * 2)
        self.assertEqual(self.block(2) + self.block(3), bytes(range(64)) * 2)
        self.assertEqual((self.dev.writes, self.dev.erases), (2, 2))

    def test_cut_stops_the_kth_operation_and_everything_after(self):
        self.dev.cut_at(2)
        self.dev.writeblocks(0, b"\x00" * 8, 0)
        self.assertRaises(PowerCut, self.dev.writeblocks, 0, b"\x00" * 8, 8)
        self.assertFalse(self.dev.powered)
        self.assertRaises(PowerCut, self.dev.ioctl, 6, 1)
        self.assertRaises(PowerCut, self.dev.readblocks, 0, bytearray(4))
        dev = self.dev.reboot()
        self.assertEqual(self.block(0, dev)[:16], b"\x00" * 8 + b"\xff" * 8)
        self.assertRaises(PowerCut, self.dev.writeblocks, 0, b"\x00", 20)  # off for good
        dev.writeblocks(0, b"\x00" * 8, 8)
        self.assertEqual(self.block(0, dev)[:24], b"\x00" * 16 + b"\xff" * 8)
        self.dev = dev

    def test_torn_program_and_torn_erase(self):
        self.dev.cut_at(1, tear=True)
        self.assertRaises(PowerCut, self.dev.writeblocks, 1, b"\x00" * 10, 2)
        dev = self.dev.reboot()
        self.assertEqual(self.block(1, dev)[:14], b"\xff\xff" + b"\x00" * 5 + b"\xff" * 7)
        dev.writeblocks(1, b"\x00" * 64, 0)
        dev.cut_at(1, tear=True)
        self.assertRaises(PowerCut, dev.ioctl, 6, 1)
        self.dev = dev.reboot()
        self.assertEqual(self.block(1), b"\xff" * 32 + b"\x00" * 32)


class TestCounterSweep(unittest.TestCase):
    def setUp(self):
        self.bench = Bench("cut-ic")

    def tearDown(self):
        self.bench.close()

    def count_ops(self, increments, stride):
        store = self.bench.fresh()
        c = InvocationCounter(store, "ic", stride)
        ops = store.dev.ops
        for _ in range(increments):
            c.next()
        total = store.dev.ops - ops
        store.dev.close()
        return total

    def sweep(self, tear, increments=_INCREMENTS, stride=_STRIDE):
        total = self.count_ops(increments, stride)
        self.assertGreater(total, increments // stride)
        for k in range(1, total + 1):
            store = self.bench.fresh()
            c = InvocationCounter(store, "ic", stride)
            store.dev.cut_at(k, tear)
            sent = 0  # the highest value handed out before the cut
            try:
                for _ in range(increments):
                    sent = c.next()
                self.fail("no cut at %d of %d" % (k, total))
            except OSError:
                self.assertFalse(store.dev.powered)
            store = reboot(store)
            c = InvocationCounter(store, "ic", stride)
            v = c.next()
            self.assertGreater(v, sent, "k=%d tear=%s" % (k, tear))
            for _ in range(2 * stride):  # new reservations on the recovered image
                v = c.next()
            self.assertGreater(InvocationCounter(reboot(store), "ic", stride).next(), v)
        return total

    def test_every_write_point_of_1000_increments(self):
        self.sweep(tear=False)

    def test_every_write_point_of_1000_increments_torn(self):
        self.sweep(tear=True)

    def test_every_write_point_stride_1(self):
        # a write per value: littlefs compacts its metadata often, cuts land there too
        self.sweep(tear=False, increments=150, stride=1)
        self.sweep(tear=True, increments=150, stride=1)

    def test_random_cuts_across_many_reboots(self):
        # cuts also land in the first writes after a reboot (littlefs's recovery)
        rng = Rng(2024)
        store = self.bench.fresh()
        sent = 0
        for _ in range(150):
            c = InvocationCounter(store, "ic", 1 + rng.below(_STRIDE))
            store.dev.cut_at(1 + rng.below(4), tear=rng.below(2) == 1)
            try:
                while True:
                    v = c.next()
                    self.assertGreater(v, sent)
                    sent = v
            except OSError:
                self.assertFalse(store.dev.powered)
            store = reboot(store)
        self.assertGreater(InvocationCounter(store, "ic").next(), sent)
        store.dev.close()


class TestReplayGuardSweep(unittest.TestCase):
    def test_every_write_point_of_100_accepts(self):
        bench = Bench("cut-rx")
        try:
            for tear in (False, True):
                store = bench.fresh()
                g = ReplayGuard(store, "rx")
                ops = store.dev.ops
                for ic in range(1, 101):
                    g.check_and_accept(ic)
                total = store.dev.ops - ops
                store.dev.close()
                for k in range(1, total + 1):
                    store = bench.fresh()
                    g = ReplayGuard(store, "rx")
                    store.dev.cut_at(k, tear)
                    accepted = 0
                    try:
                        for ic in range(1, 101):
                            self.assertTrue(g.check_and_accept(ic))
                            accepted = ic
                        self.fail("no cut")
                    except OSError:
                        self.assertFalse(store.dev.powered)
                    g = ReplayGuard(reboot(store), "rx")
                    # every accepted frame stays refused; only the one cut may count as seen
                    self.assertIn(g.last, (accepted, accepted + 1) if accepted else (None, 1))
        finally:
            bench.close()


class TestStoreSweep(unittest.TestCase):
    """Config-sized (multi-block) and profile-entry-sized records under cuts."""

    def plan(self):
        rng = Rng(7)
        puts = []
        for i in range(24):
            if i % 3 == 0:
                puts.append(("cfg", rng.bytes(200 + rng.below(1300))))
            else:
                puts.append(("entry", rng.bytes(rng.below(64))))
        return puts

    def sweep(self, tear):
        bench = Bench("cut-store", blocks=32)
        puts = self.plan()
        try:
            store = bench.fresh()
            ops = store.dev.ops
            for name, data in puts:
                store.put(name, data)
            total = store.dev.ops - ops
            store.dev.close()
            for k in range(1, total + 1):
                store = bench.fresh()
                store.dev.cut_at(k, tear)
                done = {}
                pending = None
                try:
                    for name, data in puts:
                        pending = (name, data)
                        store.put(name, data)
                        done[name] = data
                    self.fail("no cut")
                except OSError:
                    self.assertFalse(store.dev.powered)
                store = reboot(store)
                for name in ("cfg", "entry"):
                    got = store.get(name)
                    if name == pending[0]:
                        self.assertIn(got, (done.get(name), pending[1]), "k=%d" % k)
                    else:
                        self.assertEqual(got, done.get(name), "k=%d" % k)
                store.put("cfg", b"after")
                self.assertEqual(reboot(store).get("cfg"), b"after")
        finally:
            bench.close()
        return total

    def test_every_write_point_of_record_puts(self):
        self.sweep(tear=False)

    def test_every_write_point_of_record_puts_torn(self):
        self.sweep(tear=True)
