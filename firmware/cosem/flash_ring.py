"""A profile buffer in flash: a ring of fixed-size records on littlefs, the
*source* of a ProfileGeneric (cosem.profile; DESIGN.md, "Persistence").

``FlashRingSource(fs_or_store, name, capacity, record_size, per_file=0)``
keeps up to ``capacity`` entries in the directory ``name`` of a filesystem:
``fs_or_store`` is a filesystem with ``open`` and ``mkdir`` (``vfs.VfsLfs2``,
or the CPython littlefs of ``hal.blockdev``), or a ``hal.store.Store``: one
from ``open_store`` (its ``fs``), or one on a mounted root (the runtime's
``open`` under its root, as on a board).

A record takes ``record_size`` octets and holds one entry::

    sequence (4) | capture time, UTC seconds (4) | row | padding 00 | FCS-16 (2)

big-endian; the row is the A-XDR encoding of the captured structure of
typed data (its own lengths delimit it), of at most ``record_size - 10``
octets, else ``append`` raises ValueError; the FCS-16 of IEC 62056-46
(``dlms.crc``) covers everything before it and goes low byte first. The
sequence number counts the captures since the ring was created: entry
``seq`` is slot ``seq % per_file`` of segment file ``name/<(seq //
per_file) % files>``, where ``files = ceil(capacity / per_file) + 1``, so
the files always hold the newest ``capacity`` entries or more. A capture
writes one record: at the start of a segment it truncates that file
(dropping the oldest ``per_file`` entries at once, all of them already past
profile_entries), else it writes the slot in place (``r+b``), at the end of
the file. ``per_file`` defaults to segments of about 4 KiB.

``name/m.a`` and ``name/m.b`` are a ``hal.store`` record of the geometry,
``limit`` (profile_entries) and ``floor`` (the first sequence number still
in the buffer, moved by ``reset`` and ``set_limit``). The entries are the
sequence numbers from ``max(floor, head - limit)`` up to ``head`` (the next
to write), less the *holes*: records that do not check. Another geometry
on flash (record_size, per_file or capacity changed) empties the buffer.

At construction every record is read once: a record is whole when its FCS
checks and its sequence number is the one its position calls for; ``head``
follows the newest whole record. A capture cut by a power failure is thus
either whole or absent (littlefs commits a file at close, and the FCS
catches a torn record on a filesystem that does not), entries keep their
capture order, and a reboot never shows one twice. A record damaged
anywhere else is absent: ``count()`` leaves it out and the rows skip it.
A record that stops checking while a transfer is under way (overwritten
by captures since, or damaged since the scan) comes out as a row of
null-data, so that the array keeps the count it announced, and counts as
a hole from then on.

Reads go through one preallocated record buffer (shared by the rings of
the same record size): ``time(i)`` reads one
record without decoding its row, ``rows`` decodes one row at a time (the
row objects are garbage once encoded), so the heap does not grow with the
buffer. Capture times must not decrease (range selection bisects on them).
``rows(first, last, reverse=True)`` gives the same entries newest first,
for sort_method lifo (Blue Book 4.3.6, attribute 5). No file stays open
between calls; a transfer in progress holds one read handle, closed when
its generator ends or is collected.

Flash cost per capture: littlefs writes a file's new data into a freshly
erased block, copying the part of its last block already written, then
commits the file's metadata; so about 1 erase and 4 programs per entry on
512-octet blocks, 1 erase and 17 programs (of 128 octets) on 4 KiB blocks
(tools/mp/bench_profile.py). Segments small enough for littlefs to keep
inline in its metadata cost fewer erases but several times the flash.
"""

import struct

import log
from dlms import axdr
from dlms.crc import fcs16
from dlms.errors import BufferFull, DecodeError
from hal.store import Store, StoreError
from micropython import const

_HEAD = const(8)  # sequence (4), capture time (4)
_OVERHEAD = const(10)  # head and FCS
_MIN_RECORD = const(16)
_FILE_BYTES = const(4096)  # default segment file size
_VERSION = const(1)
_META = ">BHHIII"  # version, record_size, per_file, capacity, limit, floor
_META_SIZE = const(17)
_U32 = const(0xFFFFFFFF)
_ENOENT = const(2)
_EEXIST = const(17)
_NULL = (axdr.NULL_DATA, None)


# Record buffers, one set per record size, shared by the rings of that size
# (a meter has half a dozen rings and two or three sizes): a ring uses them
# only within one call, and a read decodes its row (whose octet strings are
# copies) before the generator yields it, so no ring sees another's record.
_RECORDS = {}


def _records(n):
    """(buffer, its memoryview, a Writer over the row's place, n zero octets)."""
    r = _RECORDS.get(n)
    if r is None:
        buf = bytearray(n)
        mv = memoryview(buf)
        r = _RECORDS[n] = (buf, mv, axdr.Writer(mv[_HEAD : n - 2]), memoryview(bytes(n)))
    return r


def _seq_at(lo, holes, i):
    """The sequence number of entry ``i`` counted from ``lo``, past the holes
    (a sorted flat list ``a0, b0, a1, b1, ...`` of ranges ``a <= seq < b``)."""
    s = lo + i
    for k in range(0, len(holes), 2):
        b = holes[k + 1]
        if b <= lo:
            continue
        a = max(holes[k], lo)
        if a > s:
            break
        s += b - a
    return s


def _add_hole(holes, a, b):
    """Insert ``a <= seq < b`` into the sorted flat list, merging neighbours."""
    k = 0
    n = len(holes)
    while k < n and holes[k + 1] < a:
        k += 2
    j = k
    while j < n and holes[j] <= b:
        a = min(a, holes[j])
        b = max(b, holes[j + 1])
        j += 2
    holes[k:j] = [a, b]


class FlashRingSource:
    captures = True

    def __init__(self, fs_or_store, name, capacity, record_size, per_file=0):
        if capacity < 1 or capacity > _U32:
            raise ValueError("capacity")
        if not _MIN_RECORD <= record_size <= 0xFFFF:
            raise ValueError("record_size %d of %d..65535" % (record_size, _MIN_RECORD))
        if per_file < 1:
            per_file = max(1, _FILE_BYTES // record_size)
        self.capacity = capacity
        self.record_size = record_size
        self.per_file = min(per_file, capacity, 0xFFFF)
        self.files = -(-capacity // self.per_file) + 1
        fs = fs_or_store
        root = ""
        if isinstance(fs_or_store, Store):
            fs = getattr(fs_or_store, "fs", None)
            root = fs_or_store._root  # a Store on a mounted root (board)
        self._dir = root + "/" + name
        if fs is None:
            import os

            self._open = open
            mkdir = os.mkdir
        else:
            self._open = fs.open
            mkdir = fs.mkdir
        try:
            mkdir(self._dir)
        except OSError as e:
            if not e.args or e.args[0] != _EEXIST:
                raise
        if isinstance(fs_or_store, Store):
            # the geometry record in the given store: the same slot files
            self._meta = fs_or_store
            self._meta_name = name + "/m"
        else:
            self._meta = Store(self._dir, fs)
            self._meta_name = "m"
        self._buf, self._mv, self._w, self._zeros = _records(record_size)
        self._ncols = 0  # columns of the last row seen, for placeholders
        self._writes = 0  # records written since construction
        self._holes = []
        self._limit = capacity
        self._floor = 0
        self._head = 0
        self._fill = False  # the head segment's file must be started afresh
        self._load_meta()
        self._scan()

    # -- the source interface (cosem.profile)

    def count(self):
        lo = self._lo()
        head = self._head
        n = head - lo
        h = self._holes
        for k in range(0, len(h), 2):
            a = max(h[k], lo)
            b = min(h[k + 1], head)
            if b > a:
                n -= b - a
        return n

    def limit(self):
        return self._limit

    def time(self, i):
        """Capture time of entry ``i``, UTC seconds (0xFFFFFFFF past the end,
        when records stopped checking since count() was taken)."""
        while True:
            s = _seq_at(self._lo(), self._holes, i)
            if s >= self._head:
                return _U32
            f = self._reader((s // self.per_file) % self.files)
            try:
                if self._read(f, s):
                    b = self._buf
                    return b[4] << 24 | b[5] << 16 | b[6] << 8 | b[7]
            finally:
                if f is not None:
                    f.close()
            self._lost(s)

    def rows(self, first, last, reverse=False):
        """Entries ``first..last`` oldest first, or newest first (``reverse``)."""
        return self._gen(first, last, reverse, self._lo(), self._head, tuple(self._holes))

    def check(self, row):
        """ValueError if ``row`` does not fit a record (the profile refuses
        such capture_objects before it empties the buffer)."""
        self._record(row, 0, 0)

    def append(self, row, t):
        if not 0 <= t <= _U32:
            raise ValueError("capture time %r" % (t,))
        seq = self._head
        if seq > _U32:
            raise ValueError("sequence numbers exhausted")
        self._record(row, seq, t)
        k = self.per_file
        m = seq % k
        path = self._path((seq // k) % self.files)
        f = None
        if m and not self._fill:
            try:
                f = self._open(path, "r+b")
            except OSError as e:
                if not e.args or e.args[0] != _ENOENT:
                    raise
        if f is None:
            # a new segment replaces the oldest: its file starts afresh
            f = self._open(path, "wb")
            try:
                for _ in range(m):  # slots before the head: never whole
                    f.write(self._zeros)
                f.write(self._buf)
            finally:
                f.close()
        else:
            try:
                f.seek(m * self.record_size)
                f.write(self._buf)
            finally:
                f.close()
        self._writes += 1
        self._fill = False
        self._head = seq + 1
        self._ncols = len(row)
        self._prune()

    def reset(self):
        self._save(self._limit, self._head)
        self._floor = self._head
        self._holes = []

    def set_limit(self, n):
        if not 1 <= n <= self.capacity:
            raise ValueError("profile_entries %d of 1..%d" % (n, self.capacity))
        # keep the newest entries; those gone stay gone when the limit grows
        floor = max(self._lo(), self._head - n)
        self._save(n, floor)
        self._limit = n
        self._floor = floor
        self._prune()

    # -- records

    def _lo(self):
        return max(self._floor, self._head - self._limit)

    def _path(self, j):
        return "%s/%d" % (self._dir, j)

    def _reader(self, j):
        try:
            return self._open(self._path(j), "rb")
        except OSError as e:
            if e.args and e.args[0] == _ENOENT:
                return None
            raise

    def _record(self, row, seq, t):
        """Encode entry ``seq`` into the record buffer."""
        w = self._w
        w.pos = 0
        try:
            axdr.encode(w, (axdr.STRUCTURE, row))
        except BufferFull:
            raise ValueError("row of more than %d octets" % (self.record_size - _OVERHEAD))
        b = self._buf
        end = self.record_size - 2
        self._mv[_HEAD + w.pos : end] = self._zeros[_HEAD + w.pos : end]
        struct.pack_into(">II", b, 0, seq, t)
        crc = fcs16(b, 0, end)
        b[end] = crc & 0xFF
        b[end + 1] = crc >> 8

    def _read(self, f, s):
        """True when the record buffer now holds entry ``s``, whole."""
        if f is None:
            return False
        n = self.record_size
        f.seek((s % self.per_file) * n)
        b = self._buf
        if f.readinto(b) != n:
            return False
        crc = fcs16(b, 0, n - 2)
        if b[n - 2] != crc & 0xFF or b[n - 1] != crc >> 8:
            return False
        return (b[0] << 24 | b[1] << 16 | b[2] << 8 | b[3]) == s

    def _lost(self, s):
        """Entry ``s`` does not check: a hole from now on, if it should be there."""
        if self._lo() <= s < self._head:
            log.warning("%s: entry %d damaged, dropped", self._dir, s)
            _add_hole(self._holes, s, s + 1)

    def _row(self):
        """The row in the record buffer, or None when it does not decode."""
        try:
            data, end = axdr.decode(self._buf, _HEAD)
        except DecodeError:
            return None
        if data[0] != axdr.STRUCTURE or end > self.record_size - 2:
            return None
        self._ncols = len(data[1])
        return data[1]

    def _gen(self, first, last, reverse, lo, head, holes):
        n = last - first + 1
        if n <= 0:
            return
        nh = len(holes)
        if reverse:
            s = _seq_at(lo, holes, last)
            k = nh - 2
        else:
            s = _seq_at(lo, holes, first)
            k = 0
        f = None
        j = -1
        gen = -1
        try:
            for _ in range(n):
                if reverse:
                    while k >= 0 and holes[k + 1] > s:
                        if s >= holes[k]:
                            s = holes[k] - 1
                        k -= 2
                else:
                    while k < nh and holes[k] <= s:
                        if s < holes[k + 1]:
                            s = holes[k + 1]
                        k += 2
                row = None
                if lo <= s < head:
                    sj = (s // self.per_file) % self.files
                    for _attempt in (0, 1):
                        # a handle opened before a capture may see the file as it was
                        if f is None or sj != j or gen != self._writes:
                            if f is not None:
                                f.close()
                            f = self._reader(sj)
                            j = sj
                            gen = self._writes
                        if self._read(f, s):
                            row = self._row()
                            break
                        j = -1  # read it again through a fresh handle
                    if row is None:
                        self._lost(s)
                if row is None:
                    row = [_NULL] * self._ncols
                yield row
                s += -1 if reverse else 1
        finally:
            if f is not None:
                f.close()

    # -- mount

    def _load_meta(self):
        try:
            rec = self._meta.get(self._meta_name)
        except StoreError:
            # keep the entries (floor 0) rather than lose the profile
            log.error("%s: geometry record damaged, rewritten", self._dir)
            rec = None
        if rec is not None and len(rec) == _META_SIZE:
            v, size, per_file, capacity, limit, floor = struct.unpack(_META, rec)
            if (v, size, per_file, capacity) == (
                _VERSION,
                self.record_size,
                self.per_file,
                self.capacity,
            ):
                self._limit = limit if 1 <= limit <= capacity else capacity
                self._floor = floor
                return
            # another layout: its records cannot be read in this one
            log.warning("%s: new geometry, buffer emptied", self._dir)
            old = -(-capacity // per_file) + 1 if per_file else 0
            self._truncate(max(old, self.files))
        elif rec is not None:
            self._truncate(self.files)
        self._save(self.capacity, 0)

    def _save(self, limit, floor):
        rec = struct.pack(
            _META, _VERSION, self.record_size, self.per_file, self.capacity, limit, floor
        )
        self._meta.put(self._meta_name, rec)

    def _truncate(self, files):
        for j in range(files):
            f = self._reader(j)
            if f is not None:
                f.close()
                self._open(self._path(j), "wb").close()

    def _scan(self):
        """Find head and the holes from the records themselves."""
        k = self.per_file
        S = self.files
        n = self.record_size
        segs = []  # [base, whole slots up to the last whole one]
        holes = []
        for j in range(S):
            f = self._reader(j)
            if f is None:
                continue
            try:
                slots = min(f.seek(0, 2) // n, k)
                f.seek(0)
                base = -1
                last = -1
                run = -1  # first slot of a run that does not check
                for m in range(slots):
                    b = self._buf
                    ok = f.readinto(b) == n
                    if ok:
                        crc = fcs16(b, 0, n - 2)
                        ok = b[n - 2] == crc & 0xFF and b[n - 1] == crc >> 8
                    if ok:
                        s = b[0] << 24 | b[1] << 16 | b[2] << 8 | b[3]
                        if base < 0:
                            # the first whole record says which segment this is
                            base = s - m
                            if base < 0 or base % k or (base // k) % S != j:
                                base = -1
                                ok = False
                        else:
                            ok = s == base + m
                    if ok:
                        if run >= 0:
                            _add_hole(holes, base + run, base + m)
                        run = -1
                        last = m
                    elif run < 0:
                        run = m
                if base >= 0:
                    segs.append((base, last + 1))
            finally:
                f.close()
        head = 0
        newest = -1
        if segs:
            newest, whole = max(segs)
            head = newest + whole
            present = {}
            for base, whole in segs:
                present[base] = 1
                if base != newest and whole < k:
                    _add_hole(holes, base + whole, base + k)
            g = newest // k
            for h in range(max(0, g - S + 1), g):
                if h * k not in present:
                    _add_hole(holes, h * k, h * k + k)
        if head < self._floor:
            head = self._floor
        self._head = head
        self._holes = holes
        # a head inside a segment whose file holds another: start that file afresh
        self._fill = head % k != 0 and newest != head - head % k
        self._prune()

    def _prune(self):
        lo = self._lo()
        h = self._holes
        while h and h[1] <= lo:
            del h[0:2]
