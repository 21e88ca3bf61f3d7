"""Power cuts at every flash write point of a profile in flash (cosem.flash_ring
on hal.blockdev's littlefs image), whole and torn.

Each sweep counts the program and erase operations of a run (the ring
created, then captures with a set_limit and a reset among them), then for
every k: a fresh image, the same run with the power cut at operation k, a
reboot, and the invariants: every entry whole (its row and capture time as
captured), none twice, none out of order, count() the rows there are, and
the buffer exactly as before the operation that was cut or as after it;
then captures go on from there and survive another reboot.
"""

import unittest

from cosem.flash_ring import FlashRingSource
from dlms import axdr
from support import Rng
from test_powercut import Bench, reboot

_T0 = 1700000000


def row(i):
    return [(axdr.DOUBLE_LONG_UNSIGNED, 100000 + i), (axdr.OCTET_STRING, bytes([i & 0xFF]) * 3)]


class Model:
    """What the buffer holds: entry values oldest first, and profile_entries."""

    def __init__(self, capacity):
        self.entries = []
        self.limit = capacity

    def state(self):
        return (list(self.entries), self.limit)

    def apply(self, step):
        op, arg = step
        if op == "capture":
            self.entries.append(arg)
        elif op == "set_limit":
            self.limit = arg
        else:
            self.entries = []
        del self.entries[: max(0, len(self.entries) - self.limit)]


def apply(src, step):
    op, arg = step
    if op == "capture":
        src.append(row(arg), _T0 + 10 * arg)
    elif op == "set_limit":
        src.set_limit(arg)
    else:
        src.reset()


def plan():
    steps = [("capture", i) for i in range(25)]
    steps.append(("set_limit", 3))
    steps += [("capture", i) for i in range(25, 33)]
    steps.append(("reset", None))
    steps += [("capture", i) for i in range(33, 40)]
    steps.append(("set_limit", 6))
    steps += [("capture", i) for i in range(40, 55)]
    return steps


class Sweep:
    def __init__(self, test, capacity, record, per_file):
        self.test = test
        self.geometry = (capacity, record, per_file)
        self.capacity = capacity

    def open(self, store):
        return FlashRingSource(store, "lp", *self.geometry)

    def read(self, src, where):
        """The entry values, each checked whole; and the limit."""
        t = self.test
        n = src.count()
        got = []
        for k, r in enumerate(src.rows(0, n - 1)):
            i = r[0][1] - 100000 if r and r[0][0] == axdr.DOUBLE_LONG_UNSIGNED else -1
            t.assertEqual(r, row(i), where)
            t.assertEqual(src.time(k), _T0 + 10 * i, where)
            got.append(i)
        t.assertEqual(len(got), n, where)
        for a, b in zip(got, got[1:]):
            t.assertLess(a, b, where)  # never twice, never out of order
        return got, src.limit()

    def count_ops(self, bench, steps):
        store = bench.fresh()
        ops = store.dev.ops
        src = self.open(store)
        for step in steps:
            apply(src, step)
        total = store.dev.ops - ops
        store.dev.close()
        return total

    def run(self, bench, tear):
        steps = plan()
        total = self.count_ops(bench, steps)
        states = []  # the model after 0, 1, ... steps
        m = Model(self.capacity)
        states.append(m.state())
        for step in steps:
            m.apply(step)
            states.append(m.state())
        for k in range(1, total + 1):
            where = "k=%d of %d tear=%s" % (k, total, tear)
            store = bench.fresh()
            store.dev.cut_at(k, tear)
            done = 0
            try:
                src = self.open(store)
                for step in steps:
                    apply(src, step)
                    done += 1
                self.test.fail("no cut: " + where)
            except OSError:
                self.test.assertFalse(store.dev.powered, where)
            store = reboot(store)
            state = self.read(self.open(store), where)
            self.test.assertIn(state, states[done : done + 2], where)
            # captures go on from the recovered image
            src = self.open(store)
            m = Model(self.capacity)
            m.entries, m.limit = state
            for i in range(100, 103):
                apply(src, ("capture", i))
                m.apply(("capture", i))
            store = reboot(store)
            self.test.assertEqual(self.read(self.open(store), where), m.state())
            store.dev.close()
        return total


class TestFlashRingSweep(unittest.TestCase):
    def setUp(self):
        self.bench = Bench("cut-ring", blocks=32)

    def tearDown(self):
        self.bench.close()

    def test_every_write_point_small_segments(self):
        # segments of 2 records of 32 octets: littlefs keeps them inline
        s = Sweep(self, 6, 32, 2)
        self.assertGreater(s.run(self.bench, False), 80)
        s.run(self.bench, True)

    def test_every_write_point_block_segments(self):
        # segments of 5 records of 48 octets: files in data blocks of their own
        s = Sweep(self, 6, 48, 5)
        self.assertGreater(s.run(self.bench, False), 80)
        s.run(self.bench, True)

    def test_random_cuts_across_many_reboots(self):
        # cuts also land in the first captures after a reboot
        rng = Rng(77)
        sweep = Sweep(self, 8, 32, 3)
        store = self.bench.fresh()
        m = Model(8)
        i = 0
        for n in range(120):
            where = "round %d" % n
            store.dev.cut_at(1 + rng.below(8), tear=rng.below(2) == 1)
            try:
                src = sweep.open(store)
                while True:
                    apply(src, ("capture", i))
                    m.apply(("capture", i))
                    i += 1
            except OSError:
                self.assertFalse(store.dev.powered, where)
            store = reboot(store)
            state = sweep.read(sweep.open(store), where)
            if state != m.state():
                # the capture that was cut made it
                m.apply(("capture", i))
                i += 1
            self.assertEqual(state, m.state(), where)
        self.assertEqual(len(m.entries), 8)
        store.dev.close()
