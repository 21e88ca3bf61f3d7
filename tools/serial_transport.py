"""HDLC over a serial port (pyserial) for the DLMS client: IEC 62056-46 on a
line, direct HDLC (no IEC 62056-21 opening).

``SerialHdlcTransport(path, ...)`` has the ``exchange(apdu) -> apdu`` and
``close()`` of tools/transports.py; ``path`` is a device (/dev/ttyUSB0, an
optical head) or the simulator's pty (build/sim/endpoints.json, "optical"
or "rs485"). ``physical`` picks the meter on a multi-drop bus.
"""

import serial
from dlms.hdlc_client import HdlcClientLink


class SerialHdlcTransport:
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
        self.link = HdlcClientLink(client, server, physical, address_size, max_info, window)
        self._send(self.link.snrm())
        self._wait()

    def _send(self, data):
        self.port.write(data)
        self.port.flush()

    def _read(self):
        return self.port.read(self.port.in_waiting or 1)

    def _wait(self):
        while True:
            data = self._read()
            if not data:
                raise TimeoutError("no answer from the meter on %s" % self.port.port)
            r = self.link.receive_data(data)
            out = self.link.data_to_send()
            if out:
                self._send(out)
            if r is not None:
                return r

    def exchange(self, apdu):
        self._send(self.link.request(apdu))
        return self._wait()

    def close(self):
        try:
            self._send(self.link.disc())
            self._wait()
        except (OSError, TimeoutError):
            pass
        self.port.close()
