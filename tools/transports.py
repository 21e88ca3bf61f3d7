"""Blocking transports for the DLMS client: TCP wrapper and HDLC over TCP or serial.

Each has ``exchange(apdu) -> apdu`` and ``close()``; they run on CPython.
"""

import socket

from dlms import wrapper
from dlms.hdlc_client import HdlcLinkTransport


def _connect(host, port, timeout):
    s = socket.socket()
    s.settimeout(timeout)
    s.connect(socket.getaddrinfo(host, port)[0][-1])
    return s


class WrapperTransport:
    def __init__(self, host="127.0.0.1", port=4059, client=16, server=1, timeout=10):
        self.sock = _connect(host, port, timeout)
        self.client = client
        self.server = server
        self.reasm = wrapper.Reassembler(0xFFFF)

    def exchange(self, apdu):
        self.sock.sendall(wrapper.encode(self.client, self.server, apdu))
        while True:
            f = self.reasm.next_frame()
            if f is not None:
                return bytes(f[2])
            data = self.sock.recv(4096)
            if not data:
                raise OSError("connection closed by the meter")
            self.reasm.receive_data(data)

    def close(self):
        self.sock.close()


class HdlcTransport(HdlcLinkTransport):
    """HDLC over TCP (the simulator's port 4061, or a serial-to-TCP bridge)."""

    def __init__(
        self,
        host="127.0.0.1",
        port=4061,
        client=16,
        server=1,
        physical=16,
        address_size=0,
        max_info=128,
        window=1,
        timeout=10,
    ):
        self.sock = _connect(host, port, timeout)
        self._open(client, server, physical, address_size, max_info, window)

    def _send(self, data):
        self.sock.sendall(data)

    def _read(self):
        return self.sock.recv(4096)

    def _close(self):
        self.sock.close()
