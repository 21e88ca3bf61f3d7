"""Gateway mode: a real meter's P1 port (DSMR telegrams, Luxembourg's encrypted
P1) or HAN port (DLMS push frames) read into values, republished over MQTT
with Home Assistant discovery, and served by our own COSEM server so a DLMS
client reads the gateway like a meter.

    python -m tools.pty_launcher --pty p1 -- micropython -m app.gateway --config FILE

The input is a UART (hal.uart; on the unix port the pty of ``--pty
p1=FD:PATH`` or a device, ``--serial optical=/dev/ttyUSB0``, named as the
input: "p1", "han" or "optical"); the decoders are sans-IO (gateway.dsmr,
gateway.han; app.optical reads a legacy meter by its 62056-21 readout or a
DLMS session). Each value becomes, on first sight:

- a COSEM object under its OBIS code (value group F 255): a Register (class
  3) with the value's scaler and unit in DLMS terms (kWh -> Wh with the
  scaler moved by 3), or a Data object (class 1) holding text as an octet
  string; the management logical device lists it in its object list;
- a Home Assistant sensor (gateway.homeassistant), its config published
  retained, then its state at most once per ``min_interval_ms``.

Counters (telegrams, CRC failures, decryption failures, stale counters,
framing errors, last error) go to ``<base>/<node>/status`` as JSON every
``status_s`` and are printed at the end. ``<base>/<node>/diagnose`` takes a
captured frame (hex or text) and answers on ``<base>/<node>/diagnosis``
with what gateway.decode makes of it, using the configured keys.
"""

import asyncio
import json

import log
from compat import ticks_diff, ticks_ms
from cosem.base import LogicalDevice
from cosem.clock import Clock
from cosem.data import Data
from cosem.register import Register
from cosem.sap import SapAssignment
from dlms import axdr, obis
from dlms.server import Server
from hal.clock import SystemClock

from app import config as configuration
from app import main as meter_main
from app.meter import _associations, _policies

# a unit as meters write it -> (DLMS unit, how far the scaler moves)
UNITS = {
    "wh": (30, 0),
    "kwh": (30, 3),
    "mwh": (30, 6),
    "w": (27, 0),
    "kw": (27, 3),
    "varh": (32, 0),
    "kvarh": (32, 3),
    "var": (29, 0),
    "kvar": (29, 3),
    "vah": (31, 0),
    "kvah": (31, 3),
    "va": (28, 0),
    "kva": (28, 3),
    "v": (35, 0),
    "a": (33, 0),
    "hz": (44, 0),
    "m3": (13, 0),
    "s": (7, 0),
    "gj": (57, 0),
}
_UNIT_NONE = 255
_COUNTERS = ("telegrams", "crc", "framing", "oversize", "decrypt", "stale", "unknown layout")
# the decoders' reasons as our counters name them
_DROPS = {"wrong key or tag mismatch": "decrypt", "stale counter": "stale", "fcs": "crc"}


def _numeric_tag(v):
    # 32 bits while the value has ample room (an energy register grows)
    if v < 0:
        return axdr.DOUBLE_LONG if v >= -(1 << 28) else axdr.LONG64
    return axdr.DOUBLE_LONG_UNSIGNED if v < (1 << 30) else axdr.LONG64_UNSIGNED


def _dlms_unit(unit, scaler):
    """(DLMS unit, DLMS scaler) of a value written ``unit`` with ``scaler``."""
    if not unit:
        return _UNIT_NONE, scaler
    u = UNITS.get(unit.lower())
    if u is None:
        return _UNIT_NONE, scaler
    return u[0], scaler + u[1]


class Gateway:
    """The gateway's values, COSEM server and MQTT side. ``feed(octets)`` from
    the port; the asyncio parts are in ``run``. It offers what app.main's
    connection code expects of a meter (server, admit, links, tick)."""

    def __init__(self, cfg, hal_clock=None, store=None):
        """``store``: hal.store for the senders' invocation counters (HAN),
        so a push replayed after a reboot is still refused."""
        self.store = store
        self.cfg = cfg
        g = cfg["gateway"]
        self.g = g
        ident = cfg["identity"]
        self.clock = Clock(
            "0.0.1.0.0.255",
            hal_clock or SystemClock(),
            time_zone=cfg["clock"]["time_zone"],
            dst_enabled=cfg["clock"]["dst"],
        )
        dev = LogicalDevice(1, ident["logical_device_name"].encode())
        self.device = dev
        dev.add(Data("0.0.42.0.0.255", (axdr.OCTET_STRING, dev.name), public=True, writable=()))
        dev.add(self.clock)
        devices = {1: dev}
        dev.add(SapAssignment("0.0.41.0.0.255", devices))
        policies = _policies(cfg)
        _associations(dev, policies)
        self.server = Server(devices, policies, max_pdu=cfg["max_pdu"], clock=self.clock)
        self.values = {}  # OBIS key as in the source -> (value, scaler, unit)
        self.counters = {}
        for k in _COUNTERS:
            self.counters[k] = 0
        self.last_error = None
        self._drops = {}  # the decoder's counts last seen, per reason
        # the meter's keys (GUEK, GAK), bytes or None
        self.key = configuration.unhex(g["key"]) if g["key"] else None
        self.auth_key = configuration.unhex(g["auth_key"]) if g["auth_key"] else None
        self.reader = self._reader()
        self.discovery = None
        self.mqtt = None
        self._status_at = None
        # what app.main's serve() and tick() use
        self.links = []
        self.neighbours = []
        self.stats = None
        self.stopping = False
        self.connections = 0
        self.max_connections = cfg["max_associations"]
        self.model = self

    def _reader(self):
        g = self.g
        if g["input"] == "optical":
            return None  # app.optical reads the meter on its own schedule
        key, ak = self.key, self.auth_key
        if g["input"] == "han":
            from gateway.han import HanReceiver, InvocationCounters, Keys

            return HanReceiver(Keys(key, ak) if key else None, InvocationCounters(self.store))
        from gateway import dsmr

        if key is not None:
            return dsmr.SmartyReader(key, dsmr.FrameCounters(), ak or dsmr.SMARTY_AK)
        return dsmr.TelegramFramer()

    # -- connections (app.main.serve): as the meter admits and stops them ----------

    admit = meter_main.Meter.admit
    stop = meter_main.Meter.stop

    # -- values ----------------------------------------------------------------------------

    def feed(self, data):
        """Octets from the meter's port; returns the number of readings decoded."""
        n = 0
        if self.reader is None:
            return 0
        if self.g["input"] == "han":
            for result in self.reader.feed(data):
                n += 1
                self._han(result)
        else:
            for telegram in self.reader.feed(data):
                n += 1
                self._p1(telegram)
        self._count_drops()
        return n

    def _p1(self, telegram):
        from gateway import dsmr

        try:
            p = dsmr.parse(telegram, exact=True)
        except Exception as e:  # parse() reports bad lines; anything else is a bug
            self._error("parse: %r" % (e,))
            return
        self.counters["telegrams"] += 1
        for _, reason in p["errors"]:
            self._error("P1 line: %s" % reason)
        self.update(p["values"])

    def _han(self, result):
        if result.get("telegram"):  # a ciphered DSMR telegram (Luxembourg)
            self._p1(result["telegram"].encode())
            return
        if result.get("values") and not result.get("errors"):
            self.counters["telegrams"] += 1
            self.update(result["values"])

    def _count_drops(self):
        """The decoder's drop counters (per reason) into ours."""
        r = self.reader
        if r is None:
            return
        tables = [r.errors]
        if hasattr(r, "reader"):  # HAN: the link's drops, then the pushes refused
            tables.append(r.reader.errors)
        for name in _COUNTERS[1:]:
            self.counters[name] = 0
        for reason, count in [kv for t in tables for kv in t.items()]:
            name = _DROPS.get(reason, reason)
            if name not in self.counters:
                name = "framing"
            self.counters[name] += count
            if count > self._drops.get(reason, 0):
                self._drops[reason] = count
                self._error(reason)

    def _error(self, text):
        self.last_error = text
        log.warning("gateway: %s", text)

    def update(self, values):
        """``{key: {"value", "unit"[, "scaler"]}}`` from a decoder."""
        for key, v in values.items():
            value = v.get("value")
            if isinstance(value, float):
                value, scaler = _exact(value)
            else:
                scaler = v.get("scaler", 0) or 0
            unit = v.get("unit")
            if not isinstance(value, (int, str, bytes)) or isinstance(value, bool):
                continue  # lists (power failures, demand history), timestamps
            try:
                code = obis.parse(key)
            except Exception:
                continue
            if key not in self.values:
                self._new(key, code, value, scaler, unit, _medium(code, values))
            self.values[key] = (value, scaler, unit)
            if self.discovery is not None and isinstance(value, int):
                self.discovery.publish_state(key, value, scaler)
            elif self.discovery is not None:
                self.discovery.publish_state(key, value if isinstance(value, str) else "")

    def _new(self, key, code, value, scaler, unit, medium=None):
        code = code[:5] + b"\xff"
        if self.device.find(code) is None:
            if isinstance(value, int):
                dunit, dscaler = _dlms_unit(unit, scaler)
                # the object's scaler is the first value's; a later value
                # written with other decimals is brought to it
                obj = Register(
                    code,
                    _numeric_tag(value),
                    lambda key=key, at=scaler: _rescaled(self.values[key], at),
                    dscaler,
                    dunit,
                    public=True,
                    writable=(),
                )
            else:
                obj = Data(code, lambda key=key: _text(self.values[key][0]), True, ())
            self.device.add(obj)
        if self.discovery is not None:
            if isinstance(value, int):
                self.discovery.add(key, unit, scaler, medium=medium)
            else:
                self.discovery.add(key, None, None)

    # -- the periodic part (app.main.tick) ----------------------------------------------

    def tick(self):
        now = ticks_ms()
        if self._status_at is None or ticks_diff(now, self._status_at) >= self.g["status_s"] * 1000:
            self._status_at = now
            if self.mqtt is not None and self.discovery is not None:
                self.mqtt.publish(self.status_topic(), json.dumps(self.status()), 0, True)

    def status(self):
        s = {}
        for k, v in self.counters.items():
            s[k.replace(" ", "_")] = v
        s["values"] = len(self.values)
        s["last_error"] = self.last_error
        return s

    def status_topic(self):
        return "%s/%s/status" % (self.discovery.base, self.discovery.node)

    def diagnose(self, payload, limit=0):
        """What gateway.decode makes of a captured frame, with our keys (JSON).
        An answer over ``limit`` octets (the MQTT client's largest message)
        leaves the values out and says how many there were: what went wrong
        is the point of a diagnosis, and a long telegram's values alone can
        be over 2 KB."""
        from gateway.decode import decode

        try:
            res = decode(bytes(payload), self.key, self.auth_key)
        except Exception as e:
            res = {"kind": None, "values": {}, "errors": ["%r" % (e,)]}
        out = json.dumps(res)
        if limit and len(out) > limit:
            res["values_left_out"] = len(res.get("values") or ())
            res["values"] = {}
            out = json.dumps(res)
        return out


# M-Bus device types (EN 13757-3) as DSMR's 0-n:24.1.0 gives them -> medium
_MBUS_MEDIA = {3: "gas", 4: "heat", 6: "water", 7: "water", 12: "heat"}


def _medium(code, values):
    """The medium of DSMR M-Bus channel n's reading (0-n:24.2.x), from its
    device type 0-n:24.1.0 in the same telegram; None otherwise."""
    if code[0] != 0 or code[2] != 24 or code[3] != 2:
        return None
    t = values.get("0-%d:24.1.0" % code[1])
    v = t.get("value") if isinstance(t, dict) else None
    if isinstance(v, str):
        try:
            v = int(v)
        except ValueError:
            return None
    return _MBUS_MEDIA.get(v) if isinstance(v, int) else None


def _rescaled(entry, scaler):
    v, s = entry[0], entry[1]
    if not isinstance(v, int) or s == scaler:
        return v
    if s > scaler:
        return v * 10 ** (s - scaler)
    return v // 10 ** (scaler - s)


def _exact(f):
    """(mantissa, scaler) of a float as a meter wrote it (up to 6 decimals)."""
    for s in range(0, 7):
        m = f * 10**s
        r = int(m + (0.5 if m >= 0 else -0.5))
        if abs(m - r) < 1e-9 * max(1, abs(m)):  # what a double keeps of the text
            return r, -s
    return int(f * 1000000), -6


def _text(v):
    if isinstance(v, str):
        v = v.encode()
    return (axdr.OCTET_STRING, bytes(v))


# -- asyncio ----------------------------------------------------------------------------


def _line(g):
    # DSMR 2.2/3 meters send 9600 7E1; DSMR 4/5 115200 8N1, HAN meters 2400 8N1 or more
    if g["input"] == "p1" and g["baudrate"] == 9600:
        return (9600, 7, 0, 1)
    return (g["baudrate"], 8, None, 1)


async def read_port(gw, port):
    try:
        while not gw.stopping:
            data = await port.read(512)
            if data:
                try:
                    gw.feed(data)
                except MemoryError as e:
                    # a full heap: the telegram or frame under way is lost,
                    # the next one is read
                    gw._error("out of memory: %r" % (e,))
    except KeyboardInterrupt:
        gw.stopping = True


def _mqtt(gw):
    from gateway.homeassistant import Discovery
    from gateway.mqtt import MqttClient

    m = gw.g["mqtt"]
    d = gw.g["device"]
    device = {"id": d["id"], "name": d["name"], "sw_version": "mpdlms gateway"}
    for k in ("manufacturer", "model"):
        if d.get(k):
            device[k] = d[k]
    disc = Discovery(device, [], prefix=m["prefix"], base=m["base"])
    client = MqttClient(
        m["host"],
        m["port"],
        client_id=d["id"],
        keepalive=m["keepalive"],
        username=m["username"] or None,
        password=m["password"] or None,
        will=disc.will(),
        min_interval_ms=m["min_interval_ms"],
    )
    disc.attach(client)
    diagnose = "%s/%s/diagnose" % (disc.base, disc.node)
    answer = "%s/%s/diagnosis" % (disc.base, disc.node)
    ha = disc.message

    def message(topic, payload):
        if topic == diagnose:
            # room for the topic and the packet's header under the limit
            room = client.conn.max_packet - len(answer) - 8
            client.publish(answer, gw.diagnose(payload, room), 0, False)
        else:
            ha(topic, payload)

    client.on_message = message
    client.subscribe(diagnose, 0)
    gw.discovery = disc
    gw.mqtt = client
    return client


async def run(gw, host, wrapper_port, hdlc_port, endpoints_path, ptys=(), devices=()):
    from hal.uart_unix import PtyUart

    from app.main import Endpoints, serve_tcp, tick

    ends = Endpoints()
    servers = await serve_tcp(gw, host, wrapper_port, hdlc_port, ends)
    tasks = []
    ports = []
    for spec in ptys:  # --pty NAME=FD:PATH, from tools/pty_launcher.py
        name, _, rest = spec.partition("=")
        fd, _, path = rest.partition(":")
        ports.append((name, fd if fd == "board" else int(fd), path))
    for spec in devices:  # --serial NAME=DEVICE: an adapter, another program's pty
        name, _, path = spec.partition("=")
        ports.append((name, path, path))
    for name, fd, path in ports:
        if name != gw.g["input"]:
            log.warning("port %s not used by the gateway (input %s)", name, gw.g["input"])
            continue
        line = (300, 7, 0, 1) if name == "optical" else _line(gw.g)
        if fd == "board":  # a board's UART: boards/<name>/board.py p1() / optical()
            import board

            make = getattr(board, "p1" if name == "han" else name, None)
            if make is None:
                log.error("this board has no %s port", name)
                continue
            port = make(line)
            path = "board." + name
        else:
            from hal.uart_unix import PtyUart

            port = PtyUart(name, fd, path, None, line)
        if name == "optical":
            from app import optical

            tasks.append(asyncio.create_task(optical.run(gw, port, gw.g["optical"])))
        else:
            tasks.append(asyncio.create_task(read_port(gw, port)))
        ends.d[name] = {"path": path}
    client = None
    if gw.g["mqtt"]["enabled"]:
        client = _mqtt(gw)
        tasks.append(asyncio.create_task(client.run()))
    ends.write(endpoints_path)
    print(
        "Gateway %s: %s input on %s; COSEM server on %s:%d (wrapper), %d (HDLC); MQTT %s"
        % (
            gw.g["device"]["id"],
            gw.g["input"],
            ", ".join(str(p[2]) for p in ports) or "no port",
            host,
            wrapper_port,
            hdlc_port,
            "%s:%d" % (gw.g["mqtt"]["host"], gw.g["mqtt"]["port"]) if client else "off",
        )
    )
    print("Ctrl-C stops.")
    t = asyncio.create_task(tick(gw))
    try:
        while not gw.stopping:
            await asyncio.sleep_ms(200)
    finally:
        t.cancel()
        if client is not None:
            client.publish(gw.discovery.availability_topic, "offline", 1, True)
            client.stop()
            for _ in range(50):
                if client.idle():
                    break
                await asyncio.sleep_ms(20)
        for task in tasks:
            task.cancel()
        for s in servers:
            await s.close()


def main(argv=None):
    from app.meter import open_flash

    opts, cfg, host, wport, hport = meter_main.start(argv)
    try:
        store = open_flash(cfg["store"])
    except OSError as e:
        meter_main.store_refused(cfg, e)
    gw = Gateway(cfg, store=store)
    meter_main.collect_early()
    try:
        asyncio.run(
            run(gw, host, wport, hport, opts["endpoints"], ptys=opts["pty"], devices=opts["serial"])
        )
    except KeyboardInterrupt:
        pass
    print("gateway stopped " + json.dumps(gw.status()))


if __name__ == "__main__":
    main()
