"""The gateway's optical (or RS-485) input: a legacy meter read every
``period_s``, by its IEC 62056-21 data readout (mode C) or by a DLMS session
over HDLC (opened with 62056-21 mode E on an optical head, or directly on an
RS-485 bus) reading the configured objects with dlms.client.

The readout runs on asyncio (the sans-IO dlms.iec62056_21_client driven
here). The DLMS session is blocking (dlms.client is; see
``UartHdlcTransport``): the loop waits for the few seconds it takes, which
a gateway can afford between its MQTT keepalives.

Values go to ``gateway.update`` keyed as the readout writes them (``1.8.0``
becomes ``1-0:1.8.0``) or by the polled object's OBIS code, with the
register's scaler and unit (read once per object, attribute 3).
"""

import asyncio

import log
from compat import sleep_ms, ticks_diff, ticks_ms
from dlms import obis
from dlms.client import ClientError
from dlms.errors import DecodeError
from dlms.hdlc_client import HdlcLinkTransport
from dlms.iec62056_21 import BAUD, MODE_E
from dlms.iec62056_21_client import ERROR, MODE_E_SETTLE_MS, READOUT, Iec62056Client, pump

_EVEN = 0  # machine.UART parity: 0 even


def readout_values(readout):
    """``{key: {"value", "unit"[, "scaler"]}}`` of a 62056-21 Readout: a
    quantity as an integer and the scaler its decimals give (012345.678 ->
    12345678, -3), other values as text; keys in the A-B:C.D.E form. Values
    of past billing periods (``1.8.1*01``: the F group) are left out: many
    meters list them after the current ones, under the same C.D.E."""
    out = {}
    for address, (value, unit) in readout.values.items():
        key = address if ":" in address else "1-0:" + address
        if "*" in key:
            key, _, f = key.partition("*")
            if f != "255":
                continue
        entry = {"value": value, "unit": unit or None}
        if unit or "." in value:  # a quantity: its decimals are its scaler
            whole, _, frac = value.partition(".")
            try:
                entry["value"] = int(whole + frac)
                entry["scaler"] = -len(frac)
            except ValueError:
                pass
        out[key] = entry
    return out


async def read_readout(port, device_address="", max_baud=9600, timeout_ms=30000):
    """One data readout on ``port`` (a hal.uart Uart); the Readout, or
    OSError with the reason."""
    iec = Iec62056Client(device_address, READOUT, max_baud)
    iec.start(ticks_ms())
    t0 = ticks_ms()
    while ticks_diff(ticks_ms(), t0) < timeout_ms:
        now = ticks_ms()
        iec.poll(now)
        while True:
            out = iec.data_to_send()
            if out:
                await port.write(out)
            ev = iec.next_event()
            if ev is None:
                break
            kind, arg = ev
            if kind == BAUD:
                port.set_line(arg, 7, _EVEN, 1)
            elif kind == READOUT:
                return arg
            elif kind == ERROR:
                raise OSError("IEC 62056-21: %s" % arg)
        data = port.read_now()
        if data:
            iec.receive_data(data, ticks_ms())
        else:
            wait = iec.wait_ms(ticks_ms())
            await asyncio.sleep_ms(20 if wait is None else max(1, min(wait, 20)))
    raise OSError("IEC 62056-21: no readout in %d ms" % timeout_ms)


def _set_line(port, rate, seven_e1):
    if seven_e1:
        port.set_line(rate, 7, _EVEN, 1)
    else:
        port.set_line(rate, 8, None, 1)


def open_mode_e(port, device_address="", max_baud=9600, timeout_ms=15000):
    """The 62056-21 opening into mode E, blocking: the rate of the HDLC that follows."""
    iec = Iec62056Client(device_address, MODE_E, max_baud)
    iec.start(ticks_ms())
    t0 = ticks_ms()
    while ticks_diff(ticks_ms(), t0) < timeout_ms:
        iec.poll(ticks_ms())
        ev = pump(iec, port.write_now, lambda rate, e7: _set_line(port, rate, e7))
        if ev is not None:
            # the meter switches after reading our option select at the old
            # rate: the first HDLC frame waits for it (gurux waits 1 s; the
            # SNRM is also sent again, HdlcLinkTransport._open)
            sleep_ms(MODE_E_SETTLE_MS)
            return ev[1]
        data = port.read_wait(20)
        if data:
            iec.receive_data(data, ticks_ms())
    raise OSError("IEC 62056-21: no mode E in %d ms" % timeout_ms)


class UartHdlcTransport(HdlcLinkTransport):
    """dlms.client's transport over a hal.uart port, blocking."""

    def __init__(
        self, port, client=16, server=1, physical=16, address_size=4, timeout_ms=3000, max_info=128
    ):
        self.port = port
        self.timeout_ms = timeout_ms
        self._open(client, server, physical, address_size, max_info, 1)

    def _send(self, data):
        self.port.write_now(data)

    def _read(self):
        return self.port.read_wait(self.timeout_ms)

    def _close(self):
        pass


def _number(typed):
    tag, v = typed
    if isinstance(v, bool) or not isinstance(v, (int, float)):
        if isinstance(v, (bytes, bytearray)):
            try:
                return bytes(v).decode()
            except UnicodeError:
                return None
        return None
    return v


class Poller:
    """The DLMS session of one poll: ``objects`` is ``[(class_id, "1.0.1.8.0.255",
    attribute)]``; scaler and unit of registers are read once and kept."""

    def __init__(self, o):
        self.o = o
        self.objects = [(c, obis.parse(ln), a) for c, ln, a in o["objects"]]
        self.scalers = {}

    def poll(self, port):
        from dlms import acse
        from dlms.client import Client
        from gateway.han import unit_name

        o = self.o
        if o["iec"]:
            open_mode_e(port, o["device_address"], o["max_baud"])
        else:
            port.set_line(o["max_baud"], 8, None, 1)
        t = UartHdlcTransport(port, o["client"], o["server"], o["physical"], o["address_size"])
        try:
            pw = o["password"]
            c = Client(t, acse.MECHANISM_LLS if pw else acse.MECHANISM_NONE, pw.encode() or None)
            c.associate()
            values = {}
            for cid, ln, attr in self.objects:
                if cid in (3, 4, 5) and ln not in self.scalers:
                    su = c.get(cid, ln, 3)[1]  # structure {scaler, unit}
                    self.scalers[ln] = (su[0][1], su[1][1])
                v = _number(c.get(cid, ln, attr))
                if v is None:
                    continue
                scaler, unit = self.scalers.get(ln, (0, None))
                values[obis.short(ln)] = {
                    "value": v,
                    "scaler": scaler,
                    "unit": unit_name(unit) if unit is not None else None,
                }
            c.release()
            return values
        finally:
            t.close()
            if o["iec"]:
                port.set_line(300, 7, _EVEN, 1)


async def run(gw, port, o):
    """Every ``period_s``: a readout or a DLMS poll into the gateway."""
    poller = Poller(o) if o["mode"] == "dlms" else None
    while not gw.stopping:
        try:
            if poller is None:
                r = await read_readout(port, o["device_address"], o["max_baud"])
                gw.counters["telegrams"] += 1
                gw.update(readout_values(r))
            else:
                values = poller.poll(port)
                gw.counters["telegrams"] += 1
                gw.update(values)
        except (OSError, ValueError, DecodeError, ClientError) as e:
            gw.counters["framing"] += 1
            gw.last_error = "optical: %s" % (e,)
            log.warning("gateway: optical read failed: %s", e)
        except Exception as e:  # a meter answering nonsense must not end the task
            gw.counters["framing"] += 1
            gw.last_error = "optical: %r" % (e,)
            log.error("gateway: optical read failed: %r", e)
        await asyncio.sleep(o["period_s"])
