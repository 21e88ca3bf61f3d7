"""Home Assistant MQTT discovery for the gateway's meter values.

``Discovery(device, sensors)`` describes one meter: ``device`` is a dict
(id, name, manufacturer, model, sw_version, optionally serial_number),
``sensors`` the values it publishes, keyed by OBIS: a dict ``{obis: unit}``
or a list of ``(obis, unit)`` pairs or of dicts ``{"obis", "unit", and
optionally "name", "scaler", "medium" ("gas", "water", "heat")}``. Units are
written as meters write them ("kWh", "m3", "kvarh") or as DLMS unit enums
(Blue Book Table 4: 30 = Wh, 27 = W, ...).

It gives the retained config messages on
``<prefix>/sensor/<node>/<object>/config`` (HA's MQTT discovery), the state
topics and payloads, and the availability topic (the client's last will is
"offline" there, retained). ``attach(client)`` wires it to a
gateway.mqtt.MqttClient: configs and "online" after each CONNACK, configs
again when Home Assistant announces itself on ``<prefix>/status``.

Names and classes come from a table of common OBIS codes (DSMR P1 and DLMS);
any other code gets its classes from its unit and its OBIS code as name.
"""

import json

from dlms import obis

_STATE_CLASSES = {"t": "total_increasing", "m": "measurement"}

# A unit as written (lower case); HA's spelling; device class; state class
# (t: total_increasing, m: measurement). One a line, looked up by find():
# frozen, the text stays in flash, where a dict of tuples is built in RAM.
_UNITS = """
wh;Wh;energy;t
kwh;kWh;energy;t
mwh;MWh;energy;t
gj;GJ;energy;t
mj;MJ;energy;t
w;W;power;m
kw;kW;power;m
mw;MW;power;m
varh;varh;reactive_energy;t
kvarh;kvarh;reactive_energy;t
var;var;reactive_power;m
kvar;kvar;reactive_power;m
vah;VAh;;t
kvah;kVAh;;t
va;VA;apparent_power;m
kva;kVA;apparent_power;m
v;V;voltage;m
kv;kV;voltage;m
a;A;current;m
ma;mA;current;m
hz;Hz;frequency;m
m3;m³;volume;t
m³;m³;volume;t
l;L;volume;t
m3/h;m³/h;volume_flow_rate;m
°c;°C;temperature;m
s;s;duration;m
%;%;;m
"""

# DLMS unit enumeration (Blue Book 4.3.2, Table 4) -> the spelling above
_DLMS_UNITS = {
    7: "s",
    9: "°C",
    13: "m3",
    14: "m3",
    15: "m3/h",
    19: "l",
    27: "W",
    28: "VA",
    29: "var",
    30: "Wh",
    31: "VAh",
    32: "varh",
    33: "A",
    35: "V",
    44: "Hz",
    56: "%",
}

# OBIS (short form); name; device class; state class; entity category
# (d: diagnostic), one a line as above.
# A device class here is for values without a unit (power factor); a state
# class here overrides the unit's (counters without a unit); empty keeps the
# unit's. DSMR 5.0.2 P1 (chapter 6.12) and the Blue Book's electricity codes
# (IEC 62056-6-1 7.5: C = quantity, D = 8 energy / 7 instantaneous).
_OBIS = """
1-0:1.8.0;Energy import;;;
1-0:1.8.1;Energy import tariff 1;;;
1-0:1.8.2;Energy import tariff 2;;;
1-0:1.8.3;Energy import tariff 3;;;
1-0:1.8.4;Energy import tariff 4;;;
1-0:2.8.0;Energy export;;;
1-0:2.8.1;Energy export tariff 1;;;
1-0:2.8.2;Energy export tariff 2;;;
1-0:2.8.3;Energy export tariff 3;;;
1-0:2.8.4;Energy export tariff 4;;;
1-0:3.8.0;Reactive energy import;;;
1-0:4.8.0;Reactive energy export;;;
1-0:9.8.0;Apparent energy import;;;
1-0:10.8.0;Apparent energy export;;;
1-0:1.7.0;Power import;;;
1-0:2.7.0;Power export;;;
1-0:3.7.0;Reactive power import;;;
1-0:4.7.0;Reactive power export;;;
1-0:9.7.0;Apparent power import;;;
1-0:10.7.0;Apparent power export;;;
1-0:1.4.0;Average power import;;;
1-0:1.6.0;Peak power import;;;
1-0:13.7.0;Power factor;power_factor;m;
1-0:14.7.0;Frequency;;;
1-0:21.7.0;Power import L1;;;
1-0:41.7.0;Power import L2;;;
1-0:61.7.0;Power import L3;;;
1-0:22.7.0;Power export L1;;;
1-0:42.7.0;Power export L2;;;
1-0:62.7.0;Power export L3;;;
1-0:31.7.0;Current L1;;;
1-0:51.7.0;Current L2;;;
1-0:71.7.0;Current L3;;;
1-0:91.7.0;Current neutral;;;
1-0:32.7.0;Voltage L1;;;
1-0:52.7.0;Voltage L2;;;
1-0:72.7.0;Voltage L3;;;
1-0:33.7.0;Power factor L1;power_factor;m;
1-0:53.7.0;Power factor L2;power_factor;m;
1-0:73.7.0;Power factor L3;power_factor;m;
1-0:32.32.0;Voltage sags L1;;t;d
1-0:52.32.0;Voltage sags L2;;t;d
1-0:72.32.0;Voltage sags L3;;t;d
1-0:32.36.0;Voltage swells L1;;t;d
1-0:52.36.0;Voltage swells L2;;t;d
1-0:72.36.0;Voltage swells L3;;t;d
0-0:96.14.0;Tariff;;;d
0-0:96.1.1;Equipment identifier;;;d
0-0:96.1.4;Version information;;;d
0-0:1.0.0;Meter time;;;d
0-0:96.7.21;Power failures;;t;d
0-0:96.7.9;Long power failures;;t;d
0-0:96.3.10;Breaker state;;;d
0-0:17.0.0;Power limit;;;d
0-0:96.13.0;Text message;;;d
7-0:3.0.0;Gas volume;;;
"""

# M-Bus channels (A = 0, B = 1..4, C = 24): DSMR's gas, water, heat meters
_MEDIUM_NAMES = {"gas": "Gas", "water": "Water", "heat": "Heat"}
# OBIS value group A -> the medium of a volume (IEC 62056-6-1 Table 3)
_MEDIUM_BY_A = {7: "gas", 8: "water", 9: "water", 6: "heat"}


def ha_unit(unit):
    """(HA's spelling, device class, state class) of a unit, or
    (unit, None, None) for a unit HA has no class for, (None, None, None)
    without one."""
    if unit is None or unit == 255 or unit == "":
        return None, None, None
    if isinstance(unit, int):
        u = _DLMS_UNITS.get(unit)
        if u is None:
            return None, None, None
        unit = u
    r = _row(_UNITS, unit.lower())
    if r is None:
        return unit, None, None
    return r[1], r[2] or None, _STATE_CLASSES[r[3]]


def _row(table, key):
    # the fields of the line of ``table`` that starts with ``key``, or None
    if ";" in key or "\n" in key:
        return None
    i = table.find("\n" + key + ";")
    if i < 0:
        return None
    return table[i + 1 : table.index("\n", i + 1)].split(";")


_MAX_STATE = 255  # Home Assistant's longest state


def format_scaled(value, scaler):
    """An integer register value times 10**scaler, as exact decimal text
    (no float: boards have single-precision floats)."""
    if scaler >= 0:
        return str(value * 10**scaler)
    n = -scaler
    digits = str(-value if value < 0 else value)
    if len(digits) <= n:
        digits = "0" * (n - len(digits) + 1) + digits
    return "%s%s.%s" % ("-" if value < 0 else "", digits[:-n], digits[-n:])


def _safe(text):
    # topic levels and ids of discovery: [a-zA-Z0-9_-] (HA's MQTT discovery)
    out = []
    for c in text:
        out.append(c if (c.isalpha() and ord(c) < 128) or c.isdigit() or c in "_-" else "_")
    return "".join(out)


class Sensor:
    """One value: its OBIS code (6 bytes), unit, scaler, names and classes."""

    def __init__(self, code, unit=None, name=None, scaler=None, medium=None):
        self.code = obis.parse(code)
        c = self.code
        self.key = obis.short(c)
        self.object_id = "_".join(str(g) for g in (c if c[5] != 255 else c[:5]))
        self.scaler = scaler
        self.unit, self.device_class, self.state_class = ha_unit(unit)
        entry = _row(_OBIS, self.key)
        self.category = None
        if entry is not None:
            _, default, dc, sc, cat = entry
            if dc and self.device_class is None:
                self.device_class = dc
            if sc:
                self.state_class = _STATE_CLASSES[sc]
            if cat:
                self.category = "diagnostic"
        elif c[0] == 0 and c[2] == 24 and 1 <= c[1] <= 4:
            default, medium = self._mbus(c, medium)
        else:
            default = self.key
        if medium is None:
            medium = _MEDIUM_BY_A.get(c[0])
        if self.device_class == "volume" and medium in ("gas", "water"):
            self.device_class = medium
        self.name = name or default

    def _mbus(self, c, medium):
        # 0-n:24.2.1 (DSMR: the last reading of M-Bus device n), 24.1.0
        # its device type, 96.1.0 its equipment id
        if c[3] == 1:
            self.category = "diagnostic"
            return "M-Bus %d device type" % c[1], medium
        if medium is None:
            medium = "heat" if self.device_class == "energy" else "gas"
        name = _MEDIUM_NAMES.get(medium, "M-Bus")
        return (name if c[1] == 1 else "%s %d" % (name, c[1])), medium


def _sensors(values):
    if isinstance(values, dict):
        values = list(values.items())
    out = []
    for v in values:
        if isinstance(v, dict):
            out.append(
                Sensor(v["obis"], v.get("unit"), v.get("name"), v.get("scaler"), v.get("medium"))
            )
        else:
            out.append(Sensor(v[0], v[1] if len(v) > 1 else None))
    return out


class Discovery:
    """The discovery configs, states and availability of one meter.
    ``prefix``: HA's discovery prefix; ``base``: where states and
    availability go (``<base>/<node>/...``)."""

    def __init__(self, device, sensors, prefix="homeassistant", base="mpdlms", state_qos=0):
        self.device = device
        self.node = _safe(device["id"])
        self.prefix = prefix
        self.base = base
        self.state_qos = state_qos
        self.sensors = _sensors(sensors)
        self.by_key = {}
        for s in self.sensors:
            self.by_key[s.key] = s
        self.availability_topic = "%s/%s/availability" % (base, self.node)
        self.status_topic = prefix + "/status"
        self.client = None

    def add(self, code, unit=None, scaler=None, name=None, medium=None):
        """One sensor more (a gateway meeting a new value); its config goes
        out at once when the client is connected, else with the others at
        the next CONNACK. Returns the Sensor (the existing one if known)."""
        s = Sensor(code, unit, name, scaler, medium)
        if s.key in self.by_key:
            return self.by_key[s.key]
        self.sensors.append(s)
        self.by_key[s.key] = s
        client = self.client
        if client is not None and client.connected:
            client.publish(self.config_topic(s), json.dumps(self.config(s)), 1, True)
        return s

    def sensor(self, code):
        """The Sensor of an OBIS code in any text form (KeyError if none)."""
        return self.by_key[obis.short(obis.parse(code))]

    def config_topic(self, s):
        return "%s/sensor/%s/%s/config" % (self.prefix, self.node, s.object_id)

    def state_topic(self, s):
        return "%s/%s/%s/state" % (self.base, self.node, s.object_id)

    def device_block(self):
        d = self.device
        block = {"identifiers": [self.node], "name": d.get("name") or d["id"]}
        for k in ("manufacturer", "model", "sw_version", "hw_version", "serial_number"):
            if d.get(k):
                block[k] = d[k]
        return block

    def config(self, s):
        """The discovery config of one sensor, as a dict."""
        c = {
            "name": s.name,
            "unique_id": "%s_%s" % (self.node, s.object_id),
            "state_topic": self.state_topic(s),
            "availability_topic": self.availability_topic,
            "payload_available": "online",
            "payload_not_available": "offline",
            "device": self.device_block(),
            "origin": {"name": "mpdlms"},
        }
        if s.device_class:
            c["device_class"] = s.device_class
        if s.state_class:
            c["state_class"] = s.state_class
        if s.unit:
            c["unit_of_measurement"] = s.unit
        if s.category:
            c["entity_category"] = s.category
        if s.scaler is not None and s.scaler < 0:
            c["suggested_display_precision"] = -s.scaler
        return c

    def config_messages(self):
        """(topic, JSON payload) of every config, one at a time (retained)."""
        for s in self.sensors:
            yield self.config_topic(s), json.dumps(self.config(s))

    def removal_messages(self):
        """(topic, "") of every config: an empty retained config removes it."""
        for s in self.sensors:
            yield self.config_topic(s), ""

    def will(self):
        """The client's last will: "offline", QoS 1, retained."""
        return (self.availability_topic, "offline", 1, True)

    def state(self, code, value, scaler=None):
        """(topic, payload) of a value: an integer with its scaler (``scaler``,
        else the sensor's) is written as exact decimal text. A meter that
        writes each reading with its own decimals (HAN pushes: 0.0 A, then
        7.5 A) gives each its own scaler: the sensor's is the first's."""
        s = self.sensor(code)
        if scaler is None:
            scaler = s.scaler
        if scaler is not None and isinstance(value, int):
            payload = format_scaled(value, scaler)
        else:
            # HA keeps states of at most 255 characters (a longer one makes
            # the entity unknown): a long text (a billing profile) is cut
            payload = str(value)[:_MAX_STATE]
        return self.state_topic(s), payload

    # -- with a gateway.mqtt.MqttClient --------------------------------------------------

    def attach(self, client):
        """Send configs and "online" after each CONNACK, and again when HA
        comes online (its birth message on ``<prefix>/status``)."""
        self.client = client
        client.on_connect = self.announce
        client.on_message = self.message
        client.subscribe(self.status_topic, 0)

    def announce(self, client=None):
        client = client or self.client
        for topic, payload in self.config_messages():
            client.publish(topic, payload, 1, True)
        client.publish(self.availability_topic, "online", 1, True)

    def message(self, topic, payload):
        if topic == self.status_topic and bytes(payload) == b"online" and self.client:
            self.announce()

    def publish_state(self, code, value, scaler=None):
        """A value to the attached client, through its per-topic rate limit."""
        topic, payload = self.state(code, value, scaler)
        return self.client.publish_state(topic, payload, self.state_qos)
