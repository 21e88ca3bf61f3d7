"""Encoding large answers piece by piece, and cutting them into blocks.

An ``ArrayStream`` stands for an array too large to build (a profile buffer,
an object list): ``count`` elements produced one at a time. ``pieces(data)``
yields the A-XDR encoding of any answer as a sequence of small byte strings,
and ``BlockSource`` fills bounded buffers from such a sequence, which is how
the server sends block transfers without ever holding the whole answer.
"""

from dlms import axdr


class ArrayStream:
    def __init__(self, count, items, tag=axdr.ARRAY):
        self.count = count
        self.items = items  # callable returning an iterator of typed data
        self.tag = tag


def pieces(data):
    """Yield the encoding of typed data or of an ArrayStream, in pieces."""
    if isinstance(data, ArrayStream):
        w = axdr.Writer(6)
        w.byte(data.tag)
        axdr.encode_length(w, data.count)
        yield bytes(w.getvalue())
        n = 0
        for item in data.items():
            n += 1
            if n > data.count:
                raise ValueError("ArrayStream produced more than %d elements" % data.count)
            yield axdr.to_bytes(item)
        if n != data.count:
            raise ValueError("ArrayStream produced %d of %d elements" % (n, data.count))
    else:
        yield axdr.to_bytes(data)


class BlockSource:
    """Hands out the octets of an iterator of byte strings in bounded blocks."""

    def __init__(self, it):
        self._it = it
        self._pending = None
        self._off = 0
        self.block = 0  # number of the last block handed out

    def _refill(self):
        while self._pending is None or self._off >= len(self._pending):
            try:
                self._pending = next(self._it)
            except StopIteration:
                self._pending = None
                return False
            self._off = 0
        return True

    def fill(self, buf, pos, end):
        """Copy octets into ``buf[pos:end]``; returns the new position."""
        while pos < end and self._refill():
            p = self._pending
            n = min(end - pos, len(p) - self._off)
            buf[pos : pos + n] = p[self._off : self._off + n]
            self._off += n
            pos += n
        return pos

    def push_back(self, data):
        """Return octets taken by fill() so that they come out first next time."""
        rest = self._pending[self._off :] if self._pending is not None else b""
        self._pending = bytes(data) + bytes(rest)
        self._off = 0

    def exhausted(self):
        return not self._refill()
