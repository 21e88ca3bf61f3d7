"""cosem.flash_ring: a profile buffer in a ring of records on littlefs (a file
image, hal.blockdev) and on a host directory (a Store on a mounted root).

A record is ``sequence (4) | capture time (4) | A-XDR row | padding 00 |
FCS-16 (2, low byte first)``, entry ``seq`` in slot ``seq % per_file`` of
file ``name/<(seq // per_file) % files>``.
"""

import gc
import unittest

import cosem.profile as profile_module
from compat import IS_MICROPYTHON, mem_alloc
from cosem.base import LogicalDevice
from cosem.clock import Clock
from cosem.flash_ring import FlashRingSource
from cosem.profile import ProfileGeneric, RingSource
from dlms import axdr, xdlms
from dlms.crc import fcs16
from dlms.errors import DataAccessError
from dlms.stream import ArrayStream, BlockSource, pieces
from hal.clock import ManualClock
from hal.store import Store, open_store
from support import by_entry, by_range, definition, h, hx
from test_cosem_clock_profile import Ctx, Value, octets, utc
from test_store import TempFiles, read_raw

U32 = axdr.DOUBLE_LONG_UNSIGNED
_T0 = 1700000000


def row(i):
    return [(U32, 1000 + i), (axdr.UNSIGNED, i & 0xFF)]


def values(rows):
    return [r[0][1] - 1000 if r else None for r in rows]


def patch(store, path, offset, data):
    """Overwrite octets of a file in place, as a flash fault would."""
    f = store.fs.open(path, "r+b")
    try:
        f.seek(offset)
        f.write(data)
    finally:
        f.close()


class RingFixture(unittest.TestCase):
    CAPACITY = 10
    RECORD = 32
    PER_FILE = 4
    BLOCKS = 64

    def setUp(self):
        self.tmp = TempFiles("ring")
        self.store = open_store(self.tmp.path("flash.img"), blocks=self.BLOCKS, block_size=512)
        self.src = self.ring()

    def tearDown(self):
        self.store.dev.close()
        self.tmp.clean()

    def ring(self, capacity=None, record=None, per_file=None, store=None):
        return FlashRingSource(
            store or self.store,
            "lp",
            capacity or self.CAPACITY,
            record or self.RECORD,
            per_file or self.PER_FILE,
        )

    def reboot(self, **kw):
        self.store = open_store(None, dev=self.store.dev.reboot())
        self.src = self.ring(**kw)
        return self.src

    def fill(self, n, start=0):
        for i in range(start, start + n):
            self.src.append(row(i), _T0 + 900 * i)

    def all(self, src=None):
        src = src or self.src
        out = list(src.rows(0, src.count() - 1))
        self.assertEqual(len(out), src.count())
        return values(out)


class TestRecords(RingFixture):
    def test_geometry(self):
        s = self.src
        self.assertEqual((s.capacity, s.record_size, s.per_file, s.files), (10, 32, 4, 4))
        self.assertEqual((s.count(), s.limit()), (0, 10))
        self.assertEqual(list(s.rows(0, -1)), [])
        # the default: segment files of about 4 KiB, never more slots than entries
        self.assertEqual(FlashRingSource(self.store, "a", 10000, 40).per_file, 102)
        self.assertEqual(FlashRingSource(self.store, "b", 10000, 40).files, 100)
        self.assertEqual(FlashRingSource(self.store, "c", 5, 40).per_file, 5)
        self.assertEqual(FlashRingSource(self.store, "c", 5, 40).files, 2)

    def test_record_layout(self):
        self.src.append([(U32, 0x01020304), (axdr.OCTET_STRING, b"AB")], 0x65432100)
        self.src.append([(axdr.NULL_DATA, None)], 0x65432101)
        raw = read_raw(self.store, "/lp/0")
        self.assertEqual(len(raw), 64)
        first = h("00 00 00 00 65 43 21 00 | 02 02 06 01 02 03 04 09 02 41 42") + bytes(11)
        crc = fcs16(first)
        self.assertEqual(raw[:32], first + bytes([crc & 0xFF, crc >> 8]))
        self.assertEqual(hx(raw[32:44]), "00 00 00 01 65 43 21 01 02 01 00 00")

    def test_append_and_read_back(self):
        self.fill(7)
        self.assertEqual(self.src.count(), 7)
        self.assertEqual(self.all(), list(range(7)))
        self.assertEqual([self.src.time(i) for i in range(7)], [_T0 + 900 * i for i in range(7)])
        self.assertEqual(list(self.src.rows(2, 3)), [row(2), row(3)])
        self.assertEqual(values(self.src.rows(5, 5)), [5])

    def test_newest_first(self):
        self.fill(7)
        self.assertEqual(values(self.src.rows(0, 6, True)), [6, 5, 4, 3, 2, 1, 0])
        self.assertEqual(values(self.src.rows(1, 3, True)), [3, 2, 1])
        self.assertEqual(list(self.src.rows(3, 2, True)), [])

    def test_wrap_around_drops_the_oldest(self):
        for n in range(1, 31):
            self.src.append(row(n - 1), _T0 + n)
            self.assertEqual(self.src.count(), min(n, 10))
            self.assertEqual(self.all(), list(range(max(0, n - 10), n)))
        self.assertEqual(self.src.time(0), _T0 + 21)
        # at most files * per_file records are on flash: 4 files of 4
        for j in range(4):
            self.assertLessEqual(len(read_raw(self.store, "/lp/%d" % j)), 4 * 32)

    def test_time_is_binary_searchable(self):
        self.fill(30)
        s = self.src
        n = s.count()

        def first_at_or_after(t):
            lo, hi = 0, n
            while lo < hi:
                mid = (lo + hi) // 2
                if s.time(mid) < t:
                    lo = mid + 1
                else:
                    hi = mid
            return lo

        self.assertEqual(first_at_or_after(_T0 + 900 * 25), 5)
        self.assertEqual(first_at_or_after(_T0 + 900 * 25 - 1), 5)
        self.assertEqual(first_at_or_after(_T0 + 900 * 25 + 1), 6)
        self.assertEqual(first_at_or_after(0), 0)
        self.assertEqual(first_at_or_after(_T0 * 2), 10)

    def test_reboot_keeps_everything(self):
        self.fill(23)
        before = (self.all(), [self.src.time(i) for i in range(10)], self.src.limit())
        src = self.reboot()
        self.assertEqual(src.count(), 10)
        self.assertEqual((self.all(), [src.time(i) for i in range(10)], src.limit()), before)
        # and capturing goes on from there
        self.fill(3, 23)
        self.assertEqual(self.all(), list(range(16, 26)))
        self.assertEqual(self.all(self.reboot()), list(range(16, 26)))

    def test_reset(self):
        self.fill(13)
        self.src.reset()
        self.assertEqual(self.src.count(), 0)
        self.assertEqual(self.reboot().count(), 0)
        self.fill(2, 13)
        self.assertEqual(self.all(), [13, 14])
        self.assertEqual(self.all(self.reboot()), [13, 14])

    def test_set_limit(self):
        self.fill(8)
        self.src.set_limit(3)
        self.assertEqual((self.src.limit(), self.all()), (3, [5, 6, 7]))
        self.fill(2, 8)
        self.assertEqual(self.all(), [7, 8, 9])
        # entries gone stay gone when the limit grows again
        self.src.set_limit(10)
        self.assertEqual((self.src.limit(), self.all()), (10, [7, 8, 9]))
        self.src.set_limit(5)
        src = self.reboot()
        self.assertEqual((src.limit(), self.all()), (5, [7, 8, 9]))
        self.fill(4, 10)
        self.assertEqual(self.all(), [9, 10, 11, 12, 13])
        for bad in (0, 11):
            with self.assertRaises(ValueError):
                src.set_limit(bad)

    def test_refused_rows_and_times(self):
        self.fill(2)
        ops = self.store.dev.ops
        with self.assertRaises(ValueError):  # 22 octets of row fit a 32-octet record
            self.src.append([(axdr.OCTET_STRING, bytes(19))], _T0)
        with self.assertRaises(ValueError):
            self.src.append([(axdr.UNSIGNED, 256)], _T0)
        for t in (-1, 1 << 32):
            with self.assertRaises(ValueError):
                self.src.append(row(0), t)
        self.assertEqual((self.src.count(), self.store.dev.ops), (2, ops))  # nothing written
        self.src.append([(axdr.OCTET_STRING, bytes(18))], _T0)
        self.assertEqual(list(self.src.rows(2, 2)), [[(axdr.OCTET_STRING, bytes(18))]])
        for bad in ((0, 32), (10, 15), (10, 65536)):
            with self.assertRaises(ValueError):
                FlashRingSource(self.store, "x", *bad)

    def test_new_geometry_empties_the_buffer(self):
        self.fill(5)
        src = self.reboot(record=40)
        self.assertEqual(src.count(), 0)
        self.fill(2, 5)
        self.assertEqual(self.all(self.reboot(record=40)), [5, 6])
        self.assertEqual(self.reboot().count(), 0)

    def test_on_the_filesystem_or_through_the_store(self):
        self.fill(3)
        self.assertEqual(self.all(FlashRingSource(self.store.fs, "lp", 10, 32, 4)), [0, 1, 2])

    def test_rings_of_one_record_size_share_buffers_not_records(self):
        # two rings of 32-octet records, one record buffer: a transfer from
        # one while the other captures and is read still gets its own rows
        other = FlashRingSource(self.store, "ev", 10, 32, 4)
        self.assertIs(other._buf, self.src._buf)
        self.fill(6)
        for i in range(6):
            other.append(row(100 + i), _T0 + i)
        it = self.src.rows(0, 5)
        got = [next(it)]
        other.append(row(106), _T0 + 6)
        self.assertEqual(other.time(0), _T0)
        got.append(next(it))
        self.assertEqual(values(other.rows(0, 6)), list(range(100, 107)))
        got += list(it)
        self.assertEqual(values(got), [0, 1, 2, 3, 4, 5])
        self.assertEqual(self.all(self.reboot()), [0, 1, 2, 3, 4, 5])


class TestDamage(RingFixture):
    def test_crc_damage_makes_that_entry_absent(self):
        self.fill(10)
        # entry 5 is slot 1 of file 1; flip a bit of its row
        patch(self.store, "/lp/1", 32 + 12, b"\x55")
        src = self.reboot()
        self.assertEqual(src.count(), 9)
        self.assertEqual(self.all(), [0, 1, 2, 3, 4, 6, 7, 8, 9])
        self.assertEqual(values(src.rows(0, 8, True)), [9, 8, 7, 6, 4, 3, 2, 1, 0])
        self.assertEqual(values(src.rows(4, 6)), [4, 6, 7])
        self.assertEqual(values(src.rows(5, 5, True)), [6])
        self.assertEqual([src.time(i) - _T0 for i in (4, 5)], [3600, 5400])
        # the hole leaves with the oldest entries
        self.fill(6, 10)
        self.assertEqual(self.all(), list(range(6, 16)))

    def test_damaged_run_and_missing_file(self):
        self.fill(10)
        for slot in (0, 2, 3):  # entries 0, 2, 3: a capture time octet
            patch(self.store, "/lp/0", 32 * slot + 4, b"\x00")
        self.assertEqual(self.all(self.reboot()), [1, 4, 5, 6, 7, 8, 9])
        self.store.fs.open("/lp/1", "wb").close()  # entries 4..7
        self.assertEqual(self.all(self.reboot()), [1, 8, 9])
        self.fill(1, 10)
        self.assertEqual(self.all(self.reboot()), [1, 8, 9, 10])

    def test_damage_found_while_reading(self):
        self.fill(10)
        patch(self.store, "/lp/1", 32 + 12, b"\x55")
        # the scan at construction did not see it: the row comes as null-data
        out = list(self.src.rows(0, 9))
        self.assertEqual(len(out), 10)
        self.assertEqual(out[5], [(axdr.NULL_DATA, None)] * 2)
        # and from then on the entry is absent
        self.assertEqual(self.src.count(), 9)
        self.assertEqual(self.all(), [0, 1, 2, 3, 4, 6, 7, 8, 9])

    def test_damage_found_by_time(self):
        self.fill(10)
        patch(self.store, "/lp/1", 32 + 4, b"\x00")
        self.assertEqual(self.src.time(5), _T0 + 900 * 6)
        self.assertEqual(self.src.count(), 9)
        self.assertEqual(self.src.time(9), 0xFFFFFFFF)  # past the end

    def test_torn_last_record_is_absent_and_overwritten(self):
        # what a filesystem without atomic commits (FAT) could leave
        self.fill(6)
        patch(self.store, "/lp/1", 64, read_raw(self.store, "/lp/1")[:20] + b"\xff" * 12)
        src = self.reboot()
        self.assertEqual(self.all(), [0, 1, 2, 3, 4, 5])
        self.fill(2, 6)
        self.assertEqual(self.all(self.reboot()), list(range(8)))
        self.assertEqual(len(read_raw(self.store, "/lp/1")), 128)
        self.assertEqual(src.count(), 8)

    def test_a_head_file_holding_another_segment_starts_afresh(self):
        self.fill(4)
        old = read_raw(self.store, "/lp/0")  # entries 0..3
        self.fill(14, 4)  # entries 16, 17 replace them in file 0
        self.src.reset()  # the buffer starts at entry 18, slot 2 of file 0
        f = self.store.fs.open("/lp/0", "wb")
        f.write(old)  # as if file 0 had gone back to entries 0..3
        f.close()
        self.reboot()
        self.fill(1, 18)
        self.assertEqual(self.all(self.reboot()), [18])
        self.assertEqual(read_raw(self.store, "/lp/0")[:64], bytes(64))

    def test_a_transfer_in_progress_keeps_its_count(self):
        self.fill(10)
        it = self.src.rows(0, 9)
        self.assertEqual(values([next(it)]), [0])
        self.fill(8, 10)  # entries 0..7 are dropped meanwhile
        rest = list(it)
        self.assertEqual(len(rest), 9)
        # those overwritten meanwhile come as null-data, the others as they were
        self.assertEqual(rest[:3], [[(axdr.NULL_DATA, None)] * 2] * 3)
        self.assertEqual(values(rest[3:]), [4, 5, 6, 7, 8, 9])
        self.assertEqual(self.src.count(), 10)


class TestOnAHostDirectory(unittest.TestCase):
    """A Store without a filesystem object: the runtime's open under its root,
    as on a board with the flash mounted."""

    def test_append_reopen_reset(self):
        tmp = TempFiles("ring-dir")
        try:
            src = FlashRingSource(Store(tmp.dir), "ev", 5, 24, 2)
            for i in range(7):
                src.append(row(i), 100 + i)
            src = FlashRingSource(Store(tmp.dir), "ev", 5, 24, 2)
            self.assertEqual(values(src.rows(0, src.count() - 1)), [2, 3, 4, 5, 6])
            src.reset()
            src = FlashRingSource(Store(tmp.dir), "ev", 5, 24, 2)
            self.assertEqual(src.count(), 0)
        finally:
            import os

            d = tmp.path("ev")
            for name in os.listdir(d):
                os.remove(d + "/" + name)
            os.rmdir(d)
            tmp.clean()


class TestProfileOnFlash(RingFixture):
    """The ProfileGeneric of test_cosem_clock_profile on a FlashRingSource
    answers octet for octet as on a RingSource."""

    CAPACITY = 6
    RECORD = 40
    PER_FILE = 2
    T0 = utc(2024, 1, 15)  # 01:00 local

    def setUp(self):
        super().setUp()
        self.hal = ManualClock(self.T0)
        self.clock = Clock("0.0.1.0.0.255", self.hal)
        self.energy = Value("1.0.1.8.0.255", 1000)
        columns = ((self.clock, 2), (self.energy, 2))
        self.flash = ProfileGeneric("1.0.99.1.0.255", self.src, columns, 900)
        self.ram = ProfileGeneric("1.0.99.1.0.255", RingSource(6), columns, 900)
        self.device = LogicalDevice(1, b"TEST")
        for o in (self.clock, self.energy, self.flash):
            self.device.add(o)
        self.ctx = Ctx(self.device, self.hal)

    def capture(self, n):
        for i in range(n):
            self.energy.v += 1
            t = self.T0 + 900 * i
            self.flash.capture(t)
            self.ram.capture(t)

    def wire(self, p, selector=None, params=None):
        return hx(b"".join(pieces(p.get(2, self.ctx, selector, params))))

    def same(self, selector=None, params=None):
        a = self.wire(self.flash, selector, params)
        self.assertEqual(a, self.wire(self.ram, selector, params))
        return a

    def test_buffer_and_selective_access(self):
        self.capture(9)  # wrapped: entries 3..8 at 01:45 .. 03:00 local
        self.assertTrue(self.same().startswith("01 06 02 02 09 0C 07 E8 01 0F 01 01 2D 00 00"))
        self.assertEqual(
            self.same(2, by_entry(2, 3, 2, 2)), "01 02 02 01 06 00 00 03 ED 02 01 06 00 00 03 EE"
        )
        self.same(2, by_entry(1, 0))
        self.assertEqual(self.same(2, by_entry(7, 0)), "01 00")
        lo, hi = octets(2024, 1, 15, 2, 0, 0), octets(2024, 1, 15, 2, 30, 0)
        self.assertEqual(
            self.same(1, by_range(lo, hi, [definition(3, self.energy.ln, 2)])),
            "01 03 02 01 06 00 00 03 ED 02 01 06 00 00 03 EE 02 01 06 00 00 03 EF",
        )
        self.assertEqual(self.same(1, by_range(hi, lo)), "01 00")
        self.same(1, by_range(octets(2024, 1, 14, 0, 0, 0), octets(2024, 1, 16, 0, 0, 0)))
        # entries_in_use, profile_entries
        self.assertEqual(hx(axdr.to_bytes(self.flash.get(7, self.ctx))), "06 00 00 00 06")
        self.assertEqual(hx(axdr.to_bytes(self.flash.get(8, self.ctx))), "06 00 00 00 06")

    def test_after_a_reboot(self):
        self.capture(9)
        before = self.same()
        self.flash.source = self.reboot()
        self.assertEqual(self.wire(self.flash), before)

    def test_methods_and_profile_entries(self):
        self.capture(4)
        self.flash.set(8, (U32, 2), self.ctx)
        self.assertEqual(self.flash.source.count(), 2)
        self.flash.action(1, (axdr.INTEGER, 0), self.ctx)  # reset
        self.assertEqual(self.wire(self.flash), "01 00")
        self.flash.action(2, (axdr.INTEGER, 0), self.ctx)  # capture
        self.assertEqual(self.flash.source.count(), 1)
        self.assertEqual(self.reboot().count(), 1)

    def test_capture_objects_too_long_for_a_record(self):
        # a row of 40 octets in records of 30: refused with other-reason
        # before the buffer is emptied, and the old columns stay
        self.capture(3)
        clock = definition(8, self.clock.ln, 2)
        energy = definition(3, self.energy.ln, 2)
        cols = (axdr.ARRAY, [clock, energy, clock, energy])
        with self.assertRaises(DataAccessError) as e:
            self.flash.set(3, cols, self.ctx)
        self.assertEqual(e.exception.result, xdlms.OTHER_REASON)
        self.assertEqual(self.flash.source.count(), 3)
        self.assertEqual(len(self.flash.columns), 2)
        # a row that fits is taken (and empties the buffer)
        self.flash.set(3, (axdr.ARRAY, [energy, clock]), self.ctx)
        self.assertEqual(self.flash.source.count(), 0)
        self.flash.capture(self.T0 + 9000)
        self.assertEqual(self.flash.source.count(), 1)

    def test_block_transfer_in_1k_blocks(self):
        self.capture(6)
        src = BlockSource(pieces(self.flash.get(2, self.ctx)))
        buf = bytearray(1024)
        got = b""
        while not src.exhausted():
            n = src.fill(buf, 0, len(buf))
            got += bytes(buf[:n])
        self.assertEqual(hx(got), self.wire(self.ram))

    def test_lifo(self):
        if not hasattr(profile_module, "SORT_LIFO"):
            self.skipTest("ProfileGeneric without sort_method lifo")
        lifo = profile_module.SORT_LIFO
        columns = ((self.clock, 2), (self.energy, 2))
        self.flash = ProfileGeneric("1.0.99.1.0.255", self.src, columns, 900, sort_method=lifo)
        self.ram = ProfileGeneric("1.0.99.1.0.255", RingSource(6), columns, 900, sort_method=lifo)
        self.capture(9)
        self.assertEqual(hx(axdr.to_bytes(self.flash.get(5, self.ctx))), "16 02")
        whole = self.same()
        # the newest entry (01:00 + 8 x 15 min = 03:00 local) comes first
        self.assertTrue(whole.startswith("01 06 02 02 09 0C 07 E8 01 0F 01 03 00 00 00"))
        # entry 1 is the newest
        self.assertEqual(
            self.same(2, by_entry(1, 2, 2, 2)), "01 02 02 01 06 00 00 03 F1 02 01 06 00 00 03 F0"
        )
        lo, hi = octets(2024, 1, 15, 2, 0, 0), octets(2024, 1, 15, 2, 30, 0)
        self.assertEqual(
            self.same(1, by_range(lo, hi, [definition(3, self.energy.ln, 2)])),
            "01 03 02 01 06 00 00 03 EF 02 01 06 00 00 03 EE 02 01 06 00 00 03 ED",
        )


class TestHeap(RingFixture):
    CAPACITY = 1000
    RECORD = 24
    PER_FILE = 0
    BLOCKS = 160

    def test_streaming_does_not_grow_the_heap(self):
        # MicroPython; CPython reports 0
        self.fill(1000)
        stream = ArrayStream(1000, lambda: ((axdr.STRUCTURE, r) for r in self.src.rows(0, 999)))
        marks = []
        for i, _ in enumerate(pieces(stream)):
            if i in (100, 900):
                gc.collect()
                marks.append(mem_alloc())
        self.assertEqual(i, 1000)
        self.assertLess(abs(marks[1] - marks[0]), 512)
        if IS_MICROPYTHON:
            self.assertGreater(marks[0], 0)
