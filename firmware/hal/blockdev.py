"""A NOR flash chip in a file, with power cuts on demand, and littlefs on top of it.

``FileBlockDevice`` speaks MicroPython's extended block-device protocol (docs,
"Block devices", extended interface), the one ``vfs.VfsLfs2`` drives:

- ``readblocks(n, buf, offset=0)``: read ``len(buf)`` bytes from block n + offset;
- ``writeblocks(n, buf, offset=None)``: program at block n + offset; with no
  offset, erase the whole blocks covered first (the simple protocol);
- ``ioctl(op, arg)``: 1 init, 2 deinit, 3 sync, 4 block count, 5 block size,
  6 erase block ``arg``.

The chip behaves like NOR flash: an erase sets a block to 0xFF and a program can
only clear bits (new = old & data), so a filesystem that programs over data it
did not erase shows up as corruption instead of passing by accident.

Power cuts: ``cut_at(k)`` makes the k-th program or erase from now raise
``PowerCut``, and with ``tear=True`` half of that operation reaches the file
first (a torn program: the first half of its bytes programmed, the rest
unchanged; a torn erase: the first half of the block erased). From then on the
device is off: every call raises ``PowerCut`` (an ``OSError``, EIO), until
``reboot()``, which returns a new device over the same file and leaves this one
off for good, so that stale filesystem objects still holding it can never
write after the cut. ``writes`` and ``erases`` count completed operations.

``mount(dev)`` puts littlefs on a device: ``vfs.VfsLfs2`` on MicroPython; on
CPython the littlefs-python package (the same littlefs C code, pinned in
pyproject) driving the same device through ``_Lfs``, so the store and the
power-cut tests run unchanged on both runtimes. littlefs sees a cut as an
error return (``_Guarded``), so a file operation cut short raises ``OSError``
and the device's ``powered`` tells that it was the cut. Only a blank device is
formatted: one that holds data but does not mount raises, because formatting
it would roll invocation counters back.
"""

from compat import littlefs
from micropython import const

_IOCTL_INIT = const(1)
_IOCTL_DEINIT = const(2)
_IOCTL_SYNC = const(3)
_IOCTL_BLOCK_COUNT = const(4)
_IOCTL_BLOCK_SIZE = const(5)
_IOCTL_ERASE = const(6)

# littlefs geometry, the same on both runtimes (MicroPython's VfsLfs2 defaults)
_READ_SIZE = const(32)
_PROG_SIZE = const(32)
_LOOKAHEAD = const(32)
_BLOCK_CYCLES = const(100)
_EIO = const(5)
_LFS_ERR_IO = const(-5)


class PowerCut(OSError):
    """The supply failed during (or before) this flash operation."""

    def __init__(self):
        super().__init__(_EIO, "power cut")


def _lfs_geometry(f, block_size):
    """(block size, block count) from the littlefs superblock of an image file,
    or None when it holds none. The superblock pair is blocks 0 and 1; either
    may have been erased by a compaction cut short, so both are looked at."""
    for at in (0, block_size, 512, 4096):
        f.seek(at)
        head = f.read(32)
        if len(head) == 32 and head[8:16] == b"littlefs":
            size = int.from_bytes(head[24:28], "little")
            count = int.from_bytes(head[28:32], "little")
            if size >= 128 and count >= 2:
                return size, count
    return None


_FF = b"\xff" * 64  # erased flash, written a piece at a time (no block-sized copy)


def _write_erased(f, size):
    while size > 0:
        n = min(size, 64)
        f.write(_FF if n == 64 else _FF[:n])
        size -= n


def _erased(f, size):
    f.seek(0)
    while size > 0:
        chunk = f.read(min(size, 512))
        if not chunk or chunk.count(b"\xff") != len(chunk):
            return False
        size -= len(chunk)
    return True


class FileBlockDevice:
    def __init__(self, path, block_size=4096, count=None):
        self.path = path
        self.block_size = block_size
        self.writes = 0  # program operations that completed
        self.erases = 0  # erase operations that completed
        self.powered = True
        self._cut = 0  # operations until the cut, 0: none armed
        self._tear = False
        try:
            f = open(path, "r+b")
        except OSError:
            f = open(path, "w+b")
        size = f.seek(0, 2)
        geometry = _lfs_geometry(f, block_size) if size else None
        if geometry:
            # a formatted image keeps its own geometry: littlefs will not mount
            # it under another one, and reformatting would lose its counters
            block_size, count = geometry
            self.block_size = block_size
        if count is None:
            count = size // block_size
        if count < 2:
            f.close()
            raise ValueError("block count")
        if size and not geometry and not _erased(f, size):
            count = max(size // block_size, 2)  # foreign data: left as it is
        f.seek(size)
        if size < count * block_size:  # new or short image: erased flash
            _write_erased(f, count * block_size - size)
        self.count = count
        self._f = f

    @property
    def ops(self):
        return self.writes + self.erases

    def cut_at(self, k, tear=False):
        """Cut the power at the k-th program or erase from now (k >= 1)."""
        if k < 1:
            raise ValueError("k")
        self._cut = k
        self._tear = tear

    def reboot(self):
        """The device after power returns: a new object over the same file."""
        self.close()
        return FileBlockDevice(self.path, self.block_size, self.count)

    def close(self):
        self.powered = False
        if self._f is not None:
            self._f.close()
            self._f = None

    def blank(self):
        """True when blocks 0 and 1 (where littlefs keeps its superblock) are erased."""
        buf = bytearray(self.block_size)
        for n in (0, 1):
            self.readblocks(n, buf)
            if buf.count(b"\xff") != len(buf):
                return False
        return True

    # -- the block-device protocol

    def readblocks(self, n, buf, offset=0):
        if not self.powered:
            raise PowerCut()
        self._f.seek(n * self.block_size + offset)
        self._f.readinto(buf)

    def writeblocks(self, n, buf, offset=None):
        if offset is None:
            for i in range(len(buf) // self.block_size):
                self._erase(n + i)
            offset = 0
        self._program(n * self.block_size + offset, buf)

    def ioctl(self, op, arg):
        if op == _IOCTL_BLOCK_COUNT:
            return self.count
        if op == _IOCTL_BLOCK_SIZE:
            return self.block_size
        if op == _IOCTL_ERASE:
            self._erase(arg)
            return 0
        if op == _IOCTL_SYNC or op == _IOCTL_DEINIT:
            if self.powered:
                self._f.flush()
            return 0
        if op == _IOCTL_INIT:
            return 0
        return None

    # -- NOR flash with a power supply that can fail

    def _step(self):
        """Count one program/erase; True when it is the one to cut."""
        if not self.powered:
            raise PowerCut()
        if self._cut:
            self._cut -= 1
            if not self._cut:
                self.powered = False
                return True
        return False

    def _erase(self, n):
        cut = self._step()
        size = self.block_size
        if cut:
            size = size >> 1 if self._tear else 0
        self._f.seek(n * self.block_size)
        _write_erased(self._f, size)
        if cut:
            self._f.flush()
            raise PowerCut()
        self.erases += 1

    def _program(self, addr, buf):
        cut = self._step()
        n = len(buf)
        if cut:
            n = n >> 1 if self._tear else 0
        if n:
            f = self._f
            f.seek(addr)
            cur = bytearray(f.read(n))
            for i in range(n):
                cur[i] &= buf[i]
            f.seek(addr)
            f.write(cur)
        if cut:
            self._f.flush()
            raise PowerCut()
        self.writes += 1


class _Guarded:
    """The device as littlefs must see it: a power cut is an error return (-EIO).

    An exception raised inside littlefs's C code unwinds it with longjmp on
    MicroPython, leaving its files open half-way; their finalisers later run
    littlefs on that stale state. An error return makes littlefs fail the
    operation cleanly and close its files, as on a real flash error.
    """

    def __init__(self, dev):
        self.dev = dev

    def readblocks(self, n, buf, offset=0):
        try:
            self.dev.readblocks(n, buf, offset)
        except PowerCut:
            return _LFS_ERR_IO
        return 0

    def writeblocks(self, n, buf, offset=None):
        try:
            self.dev.writeblocks(n, buf, offset)
        except PowerCut:
            return _LFS_ERR_IO
        return 0

    def ioctl(self, op, arg):
        try:
            return self.dev.ioctl(op, arg)
        except PowerCut:
            return _LFS_ERR_IO


def mount(dev):
    """littlefs (v2) on ``dev``, formatted first if blank; offers ``open(path, mode)``.

    ``vfs.VfsLfs2`` over the guarded device on MicroPython, ``_Lfs`` on CPython:
    compat.littlefs chooses."""
    return littlefs(dev, _Guarded, _Lfs, _READ_SIZE, _PROG_SIZE, _LOOKAHEAD)


class _Lfs:
    """CPython: littlefs-python over a FileBlockDevice, with VfsLfs2's file calls.

    The package's own file objects close twice after a failed close (a C
    assertion aborts the process), so files here call its low-level functions
    and close exactly once. Errors come out as OSError(errno), as from VfsLfs2.
    """

    def __init__(self, dev):
        from littlefs import lfs

        self._lfs = lfs
        # the filesystem keeps a C pointer into cfg: hold it as long as self
        self._cfg = cfg = lfs.LFSConfig(
            context=_Context(dev),
            block_size=dev.block_size,
            block_count=dev.count,
            read_size=_READ_SIZE,
            prog_size=_PROG_SIZE,
            cache_size=min(dev.block_size, 4 * max(_READ_SIZE, _PROG_SIZE)),
            lookahead_size=_LOOKAHEAD,
            block_cycles=_BLOCK_CYCLES,
        )
        self._fs = lfs.LFSFilesystem()
        if dev.blank():
            self.call(lfs.format, cfg)
        self.call(lfs.mount, cfg)

    def call(self, fn, *args):
        from littlefs import LittleFSError

        try:
            return fn(self._fs, *args)
        except LittleFSError as e:
            raise OSError(-e.code, "littlefs error %d" % e.code)

    def open(self, path, mode="r"):
        return _LfsFile(self, self.call(self._lfs.file_open, path, mode))

    def mkdir(self, path):
        self.call(self._lfs.mkdir, path)


class _LfsFile:
    def __init__(self, fs, fh):
        self._fs = fs
        self._fh = fh

    def read(self, n=-1):
        lfs = self._fs._lfs
        if n < 0:
            n = self._fs.call(lfs.file_size, self._fh)
        return self._fs.call(lfs.file_read, self._fh, n)

    def readinto(self, buf):
        data = self._fs.call(self._fs._lfs.file_read, self._fh, len(buf))
        buf[: len(data)] = data
        return len(data)

    def write(self, data):
        return self._fs.call(self._fs._lfs.file_write, self._fh, bytes(data))

    def seek(self, offset, whence=0):
        return self._fs.call(self._fs._lfs.file_seek, self._fh, offset, whence)

    def tell(self):
        return self._fs.call(self._fs._lfs.file_tell, self._fh)

    def close(self):
        fh, self._fh = self._fh, None
        if fh is not None:
            self._fs.call(self._fs._lfs.file_close, fh)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


class _Context:
    """littlefs-python's callbacks onto the guarded device (a read has no error
    return there: after a cut it gives zeros, which fail littlefs's CRCs)."""

    def __init__(self, dev):
        self.dev = _Guarded(dev)

    def read(self, cfg, block, off, size):
        buf = bytearray(size)
        self.dev.readblocks(block, buf, off)
        return buf

    def prog(self, cfg, block, off, data):
        return self.dev.writeblocks(block, data, off)

    def erase(self, cfg, block):
        return self.dev.ioctl(_IOCTL_ERASE, block)

    def sync(self, cfg):
        return self.dev.ioctl(_IOCTL_SYNC, 0)
