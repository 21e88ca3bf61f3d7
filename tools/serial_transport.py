"""HDLC over a serial port (pyserial) for the DLMS client: IEC 62056-46 on a
line, direct HDLC (no IEC 62056-21 opening).

``SerialHdlcTransport(path, ...)`` has the ``exchange(apdu) -> apdu`` and
``close()`` of tools/transports.py; ``path`` is a device (/dev/ttyUSB0, an
optical head) or the simulator's pty (build/sim/endpoints.json, "optical"
or "rs485"). ``physical`` picks the meter on a multi-drop bus.
"""

import serial

from tools.transports import HdlcLinkTransport


class SerialHdlcTransport(HdlcLinkTransport):
    def __init__(
        self,
        path,
        baudrate=9600,
        client=16,
        server=1,
        physical=16,
        address_size=0,
        max_info=128,
        window=1,
        timeout=10,
    ):
        self.port = serial.Serial(path, baudrate, timeout=timeout)
        self.port.reset_input_buffer()
        self._open(client, server, physical, address_size, max_info, window)

    def _send(self, data):
        self.port.write(data)
        self.port.flush()

    def _read(self):
        return self.port.read(self.port.in_waiting or 1)

    def _close(self):
        self.port.close()
