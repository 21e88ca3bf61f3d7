"""Named records in flash that survive a power cut at any byte (DESIGN.md, "Persistence").

``Store(root, fs=None)`` keeps each record ``name`` in two slot files,
``name.a`` and ``name.b``, under ``root``. ``put`` writes the slot that does not
hold the newest record, so a cut anywhere in a ``put`` leaves the previous
record intact in the other slot; ``get`` returns the valid record with the
higher sequence number: the old data or the new, never neither. A slot is::

    magic 0x53 'S' | version 1 | sequence (4) | length n (2) | data (n) | FCS-16 (2)

big-endian, the FCS-16 of IEC 62056-46 (``dlms.crc``) over everything before it,
low byte first. littlefs already commits a file's new contents atomically at
close, so the slots and the CRC are what make the same guarantee hold on
filesystems without that property (FAT on an SD card, raw flash).

An empty slot file is the remnant of a first ``put`` cut between create and
close and counts as absent. A slot with bytes that do not check is damaged:
when no slot is valid and one is damaged, ``get`` raises ``StoreError`` rather
than answer "no record", because for an invocation counter "no record" means
"start again at 1" and that must never follow from a flash fault.

``fs`` is anything with ``open(path, mode)`` (a ``vfs.VfsLfs2``, or the
CPython littlefs of ``hal.blockdev``); without it the runtime's ``open`` works
on a filesystem already mounted at ``root``, as on a board. ``open_store``
puts a store on a littlefs image in a file: ``vfs.VfsLfs2`` on the unix port,
and on CPython the littlefs-python package, the same littlefs C code over the
same ``FileBlockDevice``, so that the power-cut sweeps check the same
filesystem on both runtimes rather than a host directory that no cut can tear.
"""

from dlms.crc import fcs16_update
from micropython import const

_MAGIC = const(0x53)
_VERSION = const(1)
_HEAD = const(8)  # magic, version, sequence (4), length (2)
_OVERHEAD = const(10)  # head and FCS
_MAX_DATA = const(0xFFFF)
_ENOENT = const(2)
_DAMAGED = const(-1)
_NONE = const(-1)
_UNKNOWN = const(-2)


class StoreError(Exception):
    """A record exists but neither of its slots is valid."""


class Store:
    def __init__(self, root="", fs=None):
        self._root = root.rstrip("/")
        self._open = open if fs is None else fs.open
        # name -> [path .a, path .b, newest valid slot (-1 none, -2 not read yet), its sequence]
        self._names = {}
        self._head = bytearray(_HEAD)
        self._fcs = bytearray(2)

    def get(self, name):
        """The newest record's data (bytes), or None when there is none."""
        st = self._state(name)
        data, damaged = self._scan(st)
        if data is None:
            if damaged:
                raise StoreError(name)
            # no record: its state is made again by a put, if one comes (a
            # name only looked up, as most are at boot, keeps no memory)
            del self._names[name]
        return data

    def put(self, name, data):
        """Write ``data`` (up to 65535 bytes) as the newest record of ``name``."""
        n = len(data)
        if n > _MAX_DATA:
            raise ValueError("record too long")
        st = self._state(name)
        if st[2] == _UNKNOWN:
            self._scan(st)
        slot = 0 if st[2] < 0 else 1 - st[2]
        seq = (st[3] + 1) & 0xFFFFFFFF
        h = self._head
        h[0] = _MAGIC
        h[1] = _VERSION
        h[2] = (seq >> 24) & 0xFF
        h[3] = (seq >> 16) & 0xFF
        h[4] = (seq >> 8) & 0xFF
        h[5] = seq & 0xFF
        h[6] = n >> 8
        h[7] = n & 0xFF
        crc = fcs16_update(fcs16_update(0xFFFF, h), data) ^ 0xFFFF
        t = self._fcs
        t[0] = crc & 0xFF
        t[1] = crc >> 8
        f = self._open(st[slot], "wb")
        try:
            f.write(h)
            if n:
                f.write(data)
            f.write(t)
        finally:
            f.close()
        # only now is the new record the newest; after a failure the same slot is written again
        st[2] = slot
        st[3] = seq

    def _state(self, name):
        st = self._names.get(name)
        if st is None:
            p = self._root + "/" + name
            st = self._names[name] = [p + ".a", p + ".b", _UNKNOWN, 0]
        return st

    def _scan(self, st):
        """Read both slots: (data of the newest valid record or None, any slot damaged)."""
        best = _NONE
        best_seq = 0
        best_data = None
        damaged = False
        for slot in (0, 1):
            r = self._read(st[slot])
            if r is None:
                continue
            if r == _DAMAGED:
                damaged = True
                continue
            seq, data = r
            # serial-number order: the newer of two slots is one ahead, even across 2**32
            if best < 0 or ((seq - best_seq) & 0xFFFFFFFF) < 0x80000000:
                best, best_seq, best_data = slot, seq, data
        st[2] = best
        st[3] = best_seq
        return best_data, damaged

    def _read(self, path):
        try:
            f = self._open(path, "rb")
        except OSError as e:
            if e.args and e.args[0] == _ENOENT:
                return None
            raise
        try:
            rec = f.read()
        finally:
            f.close()
        n = len(rec)
        if n == 0:
            return None
        if n < _OVERHEAD or rec[0] != _MAGIC or rec[1] != _VERSION:
            return _DAMAGED
        if (rec[6] << 8 | rec[7]) != n - _OVERHEAD:
            return _DAMAGED
        if fcs16_update(0xFFFF, rec, 0, n - 2) ^ 0xFFFF != rec[n - 2] | rec[n - 1] << 8:
            return _DAMAGED
        seq = rec[2] << 24 | rec[3] << 16 | rec[4] << 8 | rec[5]
        return seq, rec[_HEAD : n - 2]


def open_store(path, blocks=16, block_size=512, dev=None):
    """A Store on the littlefs image in file ``path`` (created erased and formatted
    on first use), or on ``dev`` (a ``hal.blockdev.FileBlockDevice``, e.g. the one
    ``reboot()`` returned). The device is ``store.dev``, the filesystem ``store.fs``."""
    from hal.blockdev import FileBlockDevice, mount

    if dev is None:
        dev = FileBlockDevice(path, block_size, blocks)
    fs = mount(dev)
    store = Store("", fs)
    store.dev = dev
    store.fs = fs
    return store
