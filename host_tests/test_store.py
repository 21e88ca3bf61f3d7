"""hal.store: records in two alternating slots, on littlefs (a file image) and on a directory.

A slot is ``53 01 | sequence (4) | length (2) | data | FCS-16 (low byte first)``.
"""

import binascii
import os
import unittest

from dlms.crc import fcs16
from hal.store import Store, StoreError, open_store
from support import h


class TempFiles:
    """Unique paths under /tmp (no tempfile module on the unix port), removed by clean()."""

    def __init__(self, tag):
        self.dir = "/tmp/mpdlms-%s-%s" % (tag, binascii.hexlify(os.urandom(4)).decode())
        os.mkdir(self.dir)

    def path(self, name):
        return self.dir + "/" + name

    def clean(self):
        for name in os.listdir(self.dir):
            os.remove(self.dir + "/" + name)
        os.rmdir(self.dir)


def record(seq, data):
    head = bytes([0x53, 0x01]) + seq.to_bytes(4, "big") + len(data).to_bytes(2, "big") + data
    crc = fcs16(head)
    return head + bytes([crc & 0xFF, crc >> 8])


def write_raw(store, path, data):
    f = store.fs.open(path, "wb")
    f.write(data)
    f.close()


def read_raw(store, path):
    f = store.fs.open(path, "rb")
    try:
        return f.read()
    finally:
        f.close()


class TestStoreOnLittlefs(unittest.TestCase):
    def setUp(self):
        self.tmp = TempFiles("store")
        self.image = self.tmp.path("flash.img")
        self.store = open_store(self.image, blocks=16, block_size=512)

    def tearDown(self):
        self.store.dev.close()
        self.tmp.clean()

    def reboot(self):
        self.store = open_store(None, dev=self.store.dev.reboot())
        return self.store

    def test_absent_record_is_none(self):
        self.assertIsNone(self.store.get("ic"))

    def test_put_then_get(self):
        for data in (b"abc", b"", bytes(range(256)) * 4, b"\x00\x00\x00\x10"):
            self.store.put("rec", data)
            self.assertEqual(self.store.get("rec"), data)

    def test_record_layout(self):
        self.store.put("k", b"abc")
        # magic 'S', version 1, sequence 1, length 3, "abc", FCS-16 low byte first
        self.assertEqual(read_raw(self.store, "/k.a"), record(1, b"abc"))
        self.assertEqual(record(1, b"abc")[:11], h("53 01 00 00 00 01 00 03 61 62 63"))

    def test_slots_alternate_with_rising_sequence(self):
        for i in range(1, 6):
            self.store.put("k", bytes([i]))
        self.assertEqual(read_raw(self.store, "/k.a"), record(5, b"\x05"))
        self.assertEqual(read_raw(self.store, "/k.b"), record(4, b"\x04"))

    def test_survives_reboot_and_continues_the_sequence(self):
        self.store.put("k", b"one")
        self.store.put("k", b"two")
        store = self.reboot()
        self.assertEqual(store.get("k"), b"two")
        store.put("k", b"three")  # over the older slot, .a
        self.assertEqual(read_raw(store, "/k.a"), record(3, b"three"))
        self.assertEqual(self.reboot().get("k"), b"three")

    def test_image_keeps_its_own_geometry(self):
        # an image formatted with 16 blocks, opened by a configuration asking
        # for 64 (the store grew in a later release): mounts as it was made,
        # records intact, instead of failing or being formatted over
        self.store.put("ic", b"\x00\x00\x01\x00")
        self.store.dev.close()
        store = open_store(self.image, blocks=64, block_size=512)
        self.store = store
        self.assertEqual((store.dev.count, store.dev.block_size), (16, 512))
        self.assertEqual(store.get("ic"), b"\x00\x00\x01\x00")
        store.dev.close()
        self.store = open_store(self.image, blocks=16, block_size=4096)
        self.assertEqual(self.store.dev.block_size, 512)
        self.assertEqual(self.store.get("ic"), b"\x00\x00\x01\x00")

    def test_names_are_independent(self):
        self.store.put("a", b"1")
        self.store.put("b", b"2")
        self.store.put("a", b"3")
        store = self.reboot()
        self.assertEqual((store.get("a"), store.get("b")), (b"3", b"2"))

    def test_damaged_newest_slot_falls_back_to_the_other(self):
        self.store.put("k", b"old")
        self.store.put("k", b"new")
        good = read_raw(self.store, "/k.b")
        for bad in (good[:-3], good[:-1] + bytes([good[-1] ^ 1]), b"\x53", b"\xff" * 12):
            write_raw(self.store, "/k.b", bad)
            self.assertEqual(self.reboot().get("k"), b"old")
        self.store.put("k", b"newer")  # rewrites the damaged slot, one past the old one
        self.assertEqual(read_raw(self.store, "/k.b"), record(2, b"newer"))
        self.assertEqual(self.reboot().get("k"), b"newer")

    def test_no_valid_slot_but_a_damaged_one_raises(self):
        write_raw(self.store, "/k.a", record(1, b"x")[:-1])
        self.assertRaises(StoreError, self.store.get, "k")
        self.store.put("k", b"y")
        self.assertEqual(self.reboot().get("k"), b"y")

    def test_empty_slot_file_is_absent(self):
        # what a first put cut between create and close leaves behind
        write_raw(self.store, "/k.a", b"")
        self.assertIsNone(self.store.get("k"))

    def test_sequence_order_across_wrap(self):
        write_raw(self.store, "/k.a", record(0xFFFFFFFF, b"older"))
        write_raw(self.store, "/k.b", record(0, b"newer"))
        self.assertEqual(self.store.get("k"), b"newer")
        self.store.put("k", b"next")
        self.assertEqual(read_raw(self.store, "/k.a"), record(1, b"next"))

    def test_record_too_long(self):
        self.assertRaises(ValueError, self.store.put, "k", bytes(0x10000))

    def test_mounted_in_the_vfs_as_on_a_board(self):
        try:
            import vfs
        except ImportError:
            self.skipTest("vfs.mount is MicroPython's")
        point = "/store-" + self.tmp.dir[-8:]
        self.store.put("cfg", b"before")
        vfs.mount(self.store.fs, point)
        try:
            s = Store(point)
            self.assertEqual(s.get("cfg"), b"before")
            s.put("cfg", b"after")
        finally:
            vfs.umount(point)
        self.assertEqual(self.reboot().get("cfg"), b"after")

    def test_flash_operations_per_put(self):
        dev = self.store.dev
        ops = dev.ops
        for i in range(100):
            self.store.put("ic", i.to_bytes(4, "big"))
        # a small record is one metadata commit; littlefs compacts now and then
        self.assertLess(dev.ops - ops, 200)


class TestStoreOnDirectory(unittest.TestCase):
    """A filesystem already mounted (a board's, here the host's): the runtime's open()."""

    def setUp(self):
        self.tmp = TempFiles("dir")

    def tearDown(self):
        self.tmp.clean()

    def test_put_get_across_instances(self):
        s = Store(self.tmp.dir + "/")
        self.assertIsNone(s.get("cfg"))
        s.put("cfg", b'{"a": 1}')
        s.put("cfg", b'{"a": 2}')
        self.assertEqual(Store(self.tmp.dir).get("cfg"), b'{"a": 2}')
        with open(self.tmp.path("cfg.a"), "rb") as f:
            self.assertEqual(f.read(), record(1, b'{"a": 1}'))
