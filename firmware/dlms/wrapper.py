"""The wrapper of IEC 62056-47 / 62056-3-2 (DLMS over TCP and UDP).

Every APDU is preceded by an 8-octet header: version (0x0001), source wPort,
destination wPort, length of the APDU, all big-endian. ``Reassembler`` turns
arbitrarily chunked TCP bytes into whole APDUs with a bounded buffer.
"""

from micropython import const

from dlms.errors import DecodeError

VERSION = const(1)
HEADER_SIZE = const(8)
# Well-known wPorts (62056-47 clause 5.2): client 16 = public client,
# 1 = management logical device.
WPORT_MANAGEMENT = const(1)
WPORT_PUBLIC_CLIENT = const(16)


def parse_destination(dest):
    """(host, port) of ``host:port`` or ``[v6 address]:port`` (bytes or str),
    the TCP destination of a push (Push setup send_destination); ValueError
    if it is not one."""
    if isinstance(dest, (bytes, bytearray, memoryview)):
        try:
            dest = str(bytes(dest), "ascii")
        except UnicodeError:
            raise ValueError("destination is not ASCII")
    if dest.startswith("["):
        host, sep, rest = dest[1:].partition("]")
        if not sep or not rest.startswith(":"):
            raise ValueError("destination [address]:port expected")
        port = rest[1:]
    else:
        host, sep, port = dest.rpartition(":")
        if not sep:
            raise ValueError("destination host:port expected")
    if not host or " " in host or not port.isdigit() or not 0 < int(port) < 65536:
        raise ValueError("bad destination %r" % dest)
    return host, int(port)


def encode_header(out, pos, source, dest, length):
    """Write the 8-octet header into ``out`` at ``pos``; returns the position after it."""
    out[pos] = 0
    out[pos + 1] = VERSION
    out[pos + 2] = source >> 8
    out[pos + 3] = source & 0xFF
    out[pos + 4] = dest >> 8
    out[pos + 5] = dest & 0xFF
    out[pos + 6] = length >> 8
    out[pos + 7] = length & 0xFF
    return pos + HEADER_SIZE


def encode(source, dest, apdu):
    """bytes of one wrapper frame carrying ``apdu``."""
    n = len(apdu)
    if n > 0xFFFF:
        raise ValueError("APDU over 65535 octets")
    out = bytearray(HEADER_SIZE + n)
    encode_header(out, 0, source, dest, n)
    out[HEADER_SIZE:] = apdu
    return bytes(out)


def decode_header(buf, pos=0):
    """(source, dest, length) of the header at ``pos``; DecodeError if malformed."""
    if len(buf) - pos < HEADER_SIZE:
        raise DecodeError("wrapper header truncated", pos)
    if buf[pos] != 0 or buf[pos + 1] != VERSION:
        raise DecodeError("wrapper version is not 1", pos)
    return (
        (buf[pos + 2] << 8) | buf[pos + 3],
        (buf[pos + 4] << 8) | buf[pos + 5],
        (buf[pos + 6] << 8) | buf[pos + 7],
    )


class Reassembler:
    """Whole wrapper frames out of a TCP byte stream.

    ``receive_data(chunk)`` then ``next_frame()`` until it returns None. A frame
    is ``(source, dest, apdu)`` with ``apdu`` a memoryview into an internal
    buffer, valid until the next call. A frame whose length is over
    ``max_apdu`` comes out as ``(source, dest, None)`` as soon as its header
    is in, and its octets are then discarded as they arrive, so the server can
    answer "PDU too long" and the stream stays in step. A bad version raises
    DecodeError: the stream can no longer be trusted and the connection must
    be closed (there is no resynchronisation in the wrapper).
    """

    def __init__(self, max_apdu=2048):
        self.max_apdu = max_apdu
        self._buf = bytearray(HEADER_SIZE + max_apdu)
        self._mv = memoryview(self._buf)
        self._n = 0  # bytes held
        self._take = 0  # bytes of the previous frame to drop on the next call
        self._discard = 0  # octets of an over-size frame still to drop

    def receive_data(self, data):
        if self._discard:
            n = min(self._discard, len(data))
            self._discard -= n
            data = memoryview(data)[n:]
        self._compact()
        space = len(self._buf) - self._n
        if len(data) > space:
            # Keep what fits; the rest waits in the caller (see pending()).
            raise DecodeError("wrapper buffer overflow", self._n + space)
        self._mv[self._n : self._n + len(data)] = data
        self._n += len(data)

    def space(self):
        """How many more octets receive_data() accepts now."""
        self._compact()
        return len(self._buf) - self._n

    def _compact(self):
        t = self._take
        if t:
            n = self._n - t
            self._mv[:n] = self._mv[t : self._n]
            self._n = n
            self._take = 0

    def next_frame(self):
        self._compact()
        if self._n < HEADER_SIZE:
            return None
        source, dest, length = decode_header(self._buf)
        if length > self.max_apdu:
            held = self._n - HEADER_SIZE
            if held >= length:
                self._take = HEADER_SIZE + length
            else:
                self._take = self._n
                self._discard = length - held
            return source, dest, None
        end = HEADER_SIZE + length
        if self._n < end:
            return None
        self._take = end
        return source, dest, self._mv[HEADER_SIZE:end]

    def pending(self):
        """Octets held that do not yet form a whole frame."""
        return self._n - self._take
