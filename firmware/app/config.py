"""The meter's configuration: defaults, a JSON file over them, validation.

A bad configuration is refused with ``ConfigError`` naming the field
(``clients[1].password: ...``), never half-applied. The defaults are the
simulator's (README, "Simulator defaults"); ``simulator_defaults_in_use``
lets a board refuse to run with them.
"""

import json

LEVELS = {"public": 0, "reader": 1, "manager": 2}
MECHANISMS = {
    "none": 0,
    "lls": 1,
    "hls": 2,
    "hls-md5": 3,
    "hls-sha1": 4,
    "hls-gmac": 5,
    "hls-sha256": 6,
}

SECURITY = {"none": 0, "authenticated": 0x10, "encrypted": 0x20, "authenticated-encrypted": 0x30}

DEFAULT_PASSWORD = "12345678"
# Green Book example keys: simulator defaults only (simulator_defaults_in_use)
EXAMPLE_SYSTEM_TITLE = "4D4D4D0000BC614E"
EXAMPLE_BLOCK_CIPHER_KEY = "000102030405060708090A0B0C0D0E0F"
EXAMPLE_AUTHENTICATION_KEY = "D0D1D2D3D4D5D6D7D8D9DADBDCDDDEDF"
EXAMPLE_MASTER_KEY = "000102030405060708090A0B0C0D0E0F"

DEFAULTS = {
    "identity": {
        "manufacturer": "MPY",
        "serial": "00000001",
        "logical_device_name": "MPY0000000000001",
    },
    # inactivity_s: a TCP connection silent this long is closed (its
    # association slot freed), as the wrapper's inactivity time-out; 0: never
    "network": {
        "host": "127.0.0.1",
        "wrapper_port": 4059,
        "hdlc_port": 4061,
        "inactivity_s": 120,
    },
    "hdlc": {"physical_address": 16, "max_info": 512, "window": 7},
    # HDLC on serial ports (app.main --pty): the optical port serves this meter
    # at hdlc.physical_address; the RS-485 bus one meter per address, this one
    # first, the others simulated neighbours (serial number +1, +2...).
    # IEC HDLC setup (class 23) attributes 6 and 7: inter-octet time-out
    # (25 ms) and inactivity time-out (120 s, then back to NDM).
    "serial": {
        "baudrate": 9600,
        "inter_octet_ms": 25,
        "inactivity_s": 120,
        # The optical port opens with IEC 62056-21 ("iec62056-21": sign-on at
        # 300 Bd 7E1, mode C readout of `readout`, programming mode with
        # `password` (null: off), mode E hands over to HDLC at `baudrate`
        # 8N1 and back at the end), or serves HDLC directly ("hdlc") at
        # `baudrate`. `response_ms`: the 62056-21 reaction time t_r.
        "optical": {
            "enabled": True,
            "protocol": "iec62056-21",
            "password": None,
            "response_ms": 200,
            "readout": [
                "0.0.96.1.0.255",
                "0.0.1.0.0.255",
                "1.0.1.8.0.255",
                "1.0.1.8.1.255",
                "1.0.1.8.2.255",
                "1.0.2.8.0.255",
                "1.0.1.7.0.255",
                "1.0.2.7.0.255",
                "1.0.32.7.0.255",
                "1.0.52.7.0.255",
                "1.0.72.7.0.255",
                "1.0.31.7.0.255",
                "1.0.51.7.0.255",
                "1.0.71.7.0.255",
                "1.0.14.7.0.255",
            ],
        },
        "rs485": {"enabled": True, "addresses": [16, 17]},
    },
    "max_pdu": 1024,
    "max_associations": 8,
    "clients": [
        {"sap": 16, "level": "public", "authentication": "none"},
        {"sap": 17, "level": "reader", "authentication": "lls", "password": DEFAULT_PASSWORD},
        {
            "sap": 1,
            "level": "manager",
            "authentication": "hls-gmac",
            "security": "authenticated-encrypted",
        },
    ],
    "security": {
        "system_title": EXAMPLE_SYSTEM_TITLE,
        "suite": 0,
        "block_cipher_key": EXAMPLE_BLOCK_CIPHER_KEY,
        "authentication_key": EXAMPLE_AUTHENTICATION_KEY,
        "master_key": EXAMPLE_MASTER_KEY,
        "counter_stride": 64,
    },
    "store": {"path": "build/sim/store.img", "blocks": 256},
    "daily_profile": {"entries": 400},
    "clock": {"time_zone": -60, "dst": True},
    # Load profile 1.0.99.1.0.255: "simulated" computes its history from the
    # physics (entries back from now, nothing written); "flash" captures an
    # entry every period into a ring in the store, as a meter in the field
    # does (empty at first; needs store.path).
    "load_profile": {"period": 900, "entries": 2880, "source": "simulated"},
    "event_log": {"entries": 100},
    "gas": {"enabled": True, "sap": 2, "logical_device_name": "MPYGAS0000000001"},
    # Push setup 0.0.25.9.0.255 (app.push): DATA-NOTIFICATIONs over the TCP
    # wrapper to destination (host:port), wPort 1 -> client_wport, every
    # `period` s (0: only when asked: push method, events if on_events),
    # protected as `security` says (the words of clients[].security).
    "push": {
        "enabled": False,
        "destination": "127.0.0.1:4063",
        "client_wport": 16,
        "period": 0,
        "on_events": False,
        "randomisation_start_interval": 0,
        "number_of_retries": 3,
        "repetition_delay": 10,
        "security": "none",
    },
    # What a board boots into (app.boot): "meter" (app.main) or "gateway"
    # (app.gateway, reading the meter on the board's gateway.input port)
    "role": "meter",
    # Gateway mode (python -m tools.pty_launcher --pty p1 -- micropython -m
    # app.gateway, or a board's main): a real meter's port read into values,
    # published over MQTT with Home Assistant discovery and served by our own
    # COSEM server (wrapper and HDLC ports, the clients above). input: "p1"
    # (DSMR; key set: Luxembourg's encrypted P1) or "han" (DLMS push frames;
    # key/auth_key: the customer's GUEK/GAK, empty when not ciphered).
    "gateway": {
        "input": "p1",
        "baudrate": 115200,
        "key": "",
        "auth_key": "",
        "device": {"id": "mpgw", "name": "Electricity meter", "manufacturer": "", "model": ""},
        "status_s": 60,
        # input "optical": a legacy meter on an optical head (or an RS-485
        # bus, iec false) read every period_s, by its 62056-21 readout (mode
        # "readout") or a DLMS session reading `objects` ([class, OBIS,
        # attribute], mode "dlms") as `client` with `password` (LLS; empty:
        # none) at HDLC physical address `physical`
        "optical": {
            "mode": "readout",
            "period_s": 60,
            "device_address": "",
            "max_baud": 9600,
            "iec": True,
            "client": 16,
            "server": 1,
            "physical": 16,
            "address_size": 4,
            "password": "",
            "objects": [[3, "1.0.1.8.0.255", 2], [3, "1.0.2.8.0.255", 2], [3, "1.0.1.7.0.255", 2]],
        },
        "mqtt": {
            "enabled": False,
            "host": "127.0.0.1",
            "port": 1883,
            "username": "",
            "password": "",
            "prefix": "homeassistant",
            "base": "mpdlms",
            "min_interval_ms": 10000,
            "keepalive": 60,
        },
    },
}


class ConfigError(ValueError):
    pass


def _merge(base, over, path):
    if not isinstance(over, dict):
        raise ConfigError("%s: must be an object" % (path or "config"))
    out = {}
    for k, v in base.items():
        out[k] = v
    for k, v in over.items():
        if not isinstance(k, str):
            # MicroPython's json reads {"a": "b": true, ...} as {"a": "b", True: ...}
            raise ConfigError("%s: not valid JSON (a field name is no string)" % (path or "config"))
        p = path + "." + k if path else k
        if k not in base:
            raise ConfigError("%s: unknown field" % p)
        if isinstance(base[k], dict):
            out[k] = _merge(base[k], v, p)
        else:
            out[k] = v
    return out


def _int(cfg, path, lo, hi):
    v = cfg
    for part in path.split("."):
        v = v[part]
    if isinstance(v, bool) or not isinstance(v, int) or not lo <= v <= hi:
        raise ConfigError("%s: must be an integer from %d to %d" % (path, lo, hi))
    return v


def _fast_maker(manufacturer):
    """True when the manufacturer's third letter is lower case (t_r >= 20 ms)."""
    return len(manufacturer) == 3 and manufacturer[2].islower()


def _text(v, path, lo, hi, controls=False):
    """A string of lo..hi characters; no control characters (a NUL in a
    path, a newline in a name) unless ``controls`` (passwords)."""
    if not isinstance(v, str) or not lo <= len(v) <= hi:
        raise ConfigError("%s: must be a string of %d to %d characters" % (path, lo, hi))
    if not controls:
        for c in v:
            if ord(c) < 32 or c == "\x7f":
                raise ConfigError("%s: must not hold control characters" % path)
    return v


def _hex(v, path, sizes):
    ok = isinstance(v, str) and len(v) % 2 == 0
    if ok:
        try:
            ok = len(unhex(v)) in sizes
        except ValueError:
            ok = False
    if not ok:
        raise ConfigError(
            "%s: must be %s octets in hex" % (path, " or ".join(str(n) for n in sizes))
        )
    return v


def unhex(v):
    import binascii

    try:
        return binascii.unhexlify(v)
    except Exception:
        raise ValueError("not hex")


BAUDRATES = (300, 600, 1200, 2400, 4800, 9600, 19200, 38400, 57600, 115200)
PROTOCOLS = ("iec62056-21", "hdlc")
IEC_BAUDRATES = (300, 600, 1200, 2400, 4800, 9600, 19200)  # 62056-21 Z '0'..'6'


def _serial(cfg):
    s = cfg["serial"]
    if s["baudrate"] not in BAUDRATES:
        raise ConfigError(
            "serial.baudrate: must be one of %s" % ", ".join(str(b) for b in BAUDRATES)
        )
    _int(cfg, "serial.inter_octet_ms", 20, 6000)
    _int(cfg, "serial.inactivity_s", 1, 65535)
    for port in ("optical", "rs485"):
        if not isinstance(s[port]["enabled"], bool):
            raise ConfigError("serial.%s.enabled: must be true or false" % port)
    addresses = s["rs485"]["addresses"]
    if not isinstance(addresses, list) or not 1 <= len(addresses) <= 8:
        raise ConfigError("serial.rs485.addresses: must be a list of 1 to 8 addresses")
    for i, a in enumerate(addresses):
        if isinstance(a, bool) or not isinstance(a, int) or not 16 <= a <= 0x3FFD:
            raise ConfigError("serial.rs485.addresses[%d]: must be an integer from 16 to 16381" % i)
        if a in addresses[:i]:
            raise ConfigError("serial.rs485.addresses[%d]: %d is there twice" % (i, a))
    _optical(cfg)


def _optical(cfg):
    from dlms import obis

    o = cfg["serial"]["optical"]
    if o["protocol"] not in PROTOCOLS:
        raise ConfigError("serial.optical.protocol: must be one of %s" % ", ".join(PROTOCOLS))
    pw = o["password"]
    if pw is not None:
        _text(pw, "serial.optical.password", 1, 32, True)
        for ch in pw:
            if not 0x20 < ord(ch) < 0x7F or ch in "()*/!":
                raise ConfigError(
                    "serial.optical.password: printable ASCII without spaces or ( ) * / !"
                )
    # t_r under 200 ms only for a manufacturer whose third letter is lower
    # case (62056-21 6.3.14, 6.3.2)
    fast = _fast_maker(cfg["identity"]["manufacturer"])
    _int(cfg, "serial.optical.response_ms", 20 if fast else 200, 1500)
    codes = o["readout"]
    if not isinstance(codes, list) or len(codes) > 64:
        raise ConfigError("serial.optical.readout: must be a list of at most 64 OBIS codes")
    for i, c in enumerate(codes):
        try:
            if not isinstance(c, str):
                raise ValueError
            obis.parse(c)
        except ValueError:
            raise ConfigError(
                "serial.optical.readout[%d]: must be an OBIS code (1.0.1.8.0.255)" % i
            )
    if o["protocol"] == "iec62056-21" and cfg["serial"]["baudrate"] not in IEC_BAUDRATES:
        raise ConfigError(
            "serial.baudrate: mode E on the optical port goes up to 19200 (or protocol hdlc)"
        )


def _push(cfg):
    from dlms.wrapper import parse_destination

    p = cfg["push"]
    for k in ("enabled", "on_events"):
        if not isinstance(p[k], bool):
            raise ConfigError("push.%s: must be true or false" % k)
    _text(p["destination"], "push.destination", 3, 64)
    try:
        parse_destination(p["destination"])
    except ValueError:
        raise ConfigError("push.destination: must be host:port or [v6 address]:port")
    _int(cfg, "push.client_wport", 1, 0xFFFF)
    _int(cfg, "push.period", 0, 31 * 86400)
    _int(cfg, "push.randomisation_start_interval", 0, 0xFFFF)
    _int(cfg, "push.number_of_retries", 0, 255)
    _int(cfg, "push.repetition_delay", 0, 0xFFFF)
    if p["security"] not in SECURITY:
        raise ConfigError("push.security: must be one of %s" % ", ".join(sorted(SECURITY)))


def validate(cfg):
    """Check every field; returns cfg. Raises ConfigError naming the field."""
    ident = cfg["identity"]
    _text(ident["manufacturer"], "identity.manufacturer", 3, 3)
    m = ident["manufacturer"]
    if not (m[:2].isalpha() and m[:2].isupper() and m[2].isalpha()):
        # 62056-21 6.3.2: three letters (FLAG), upper case but for a third in
        # lower case, which says the meter answers within 20 ms
        raise ConfigError("identity.manufacturer: three letters, the first two upper case")
    _text(ident["serial"], "identity.serial", 1, 32)
    _text(ident["logical_device_name"], "identity.logical_device_name", 1, 16)
    _text(cfg["network"]["host"], "network.host", 1, 64)
    _int(cfg, "network.wrapper_port", 0, 65535)
    _int(cfg, "network.hdlc_port", 0, 65535)
    _int(cfg, "network.inactivity_s", 0, 86400)
    _int(cfg, "hdlc.physical_address", 16, 0x3FFD)
    _int(cfg, "hdlc.max_info", 32, 2030)
    _int(cfg, "hdlc.window", 1, 7)
    _serial(cfg)
    _int(cfg, "max_pdu", 64, 65535)
    _int(cfg, "max_associations", 1, 64)
    _int(cfg, "clock.time_zone", -720, 720)
    if not isinstance(cfg["clock"]["dst"], bool):
        raise ConfigError("clock.dst: must be true or false")
    _int(cfg, "load_profile.period", 60, 86400)
    _int(cfg, "load_profile.entries", 1, 1000000)
    if cfg["load_profile"]["source"] not in ("simulated", "flash"):
        raise ConfigError("load_profile.source: must be one of simulated, flash")
    if cfg["load_profile"]["source"] == "flash" and not cfg["store"]["path"]:
        raise ConfigError("load_profile.source: flash needs store.path")
    _int(cfg, "event_log.entries", 1, 10000)
    gas = cfg["gas"]
    if not isinstance(gas["enabled"], bool):
        raise ConfigError("gas.enabled: must be true or false")
    _int(cfg, "gas.sap", 2, 0x3FFF)
    _text(gas["logical_device_name"], "gas.logical_device_name", 1, 16)
    clients = cfg["clients"]
    if not isinstance(clients, list) or not clients:
        raise ConfigError("clients: must be a non-empty list")
    seen = set()
    for i, c in enumerate(clients):
        p = "clients[%d]" % i
        if not isinstance(c, dict):
            raise ConfigError("%s: must be an object" % p)
        for k in c:
            if k not in ("sap", "level", "authentication", "password", "security"):
                raise ConfigError("%s.%s: unknown field" % (p, k))
        sap = c.get("sap")
        if isinstance(sap, bool) or not isinstance(sap, int) or not 1 <= sap <= 127:
            raise ConfigError("%s.sap: must be an integer from 1 to 127" % p)
        if sap in seen:
            raise ConfigError("%s.sap: client %d is configured twice" % (p, sap))
        seen.add(sap)
        if c.get("level") not in LEVELS:
            raise ConfigError("%s.level: must be one of %s" % (p, ", ".join(sorted(LEVELS))))
        mech = c.get("authentication", "none")
        if mech not in MECHANISMS:
            raise ConfigError(
                "%s.authentication: must be one of %s" % (p, ", ".join(sorted(MECHANISMS)))
            )
        if mech in ("lls", "hls-md5", "hls-sha1", "hls-sha256"):
            _text(c.get("password"), p + ".password", 1, 64, True)
        elif mech == "hls":
            raise ConfigError("%s.authentication: manufacturer-specific HLS is not offered" % p)
        sec = c.get("security", "none")
        if sec not in SECURITY:
            raise ConfigError("%s.security: must be one of %s" % (p, ", ".join(sorted(SECURITY))))
    s = cfg["security"]
    _hex(s["system_title"], "security.system_title", (8,))
    _int(cfg, "security.suite", 0, 2)
    klen = 32 if s["suite"] == 2 else 16  # suite 2: AES-GCM-256
    _hex(s["block_cipher_key"], "security.block_cipher_key", (klen,))
    _hex(s["authentication_key"], "security.authentication_key", (16, 32))
    _hex(s["master_key"], "security.master_key", (klen,))
    _int(cfg, "security.counter_stride", 1, 100000)
    _text(cfg["store"]["path"], "store.path", 0, 200)
    _int(cfg, "store.blocks", 16, 100000)
    _int(cfg, "daily_profile.entries", 1, 100000)
    if cfg["gas"]["enabled"] and cfg["gas"]["sap"] == 1:
        raise ConfigError("gas.sap: 1 is the management logical device")
    _push(cfg)
    _gateway(cfg)
    return cfg


def _gateway(cfg):
    if cfg["role"] not in ("meter", "gateway"):
        raise ConfigError("role: must be one of meter, gateway")
    g = cfg["gateway"]
    if g["input"] not in ("p1", "han", "optical"):
        raise ConfigError("gateway.input: must be one of p1, han, optical")
    o = g["optical"]
    if o["mode"] not in ("readout", "dlms"):
        raise ConfigError("gateway.optical.mode: must be one of readout, dlms")
    _int(cfg, "gateway.optical.period_s", 1, 86400)
    if o["max_baud"] not in IEC_BAUDRATES:
        raise ConfigError("gateway.optical.max_baud: must be one of %s" % (IEC_BAUDRATES,))
    _int(cfg, "gateway.optical.client", 1, 127)
    _int(cfg, "gateway.optical.server", 1, 0x3FFF)
    _int(cfg, "gateway.optical.physical", 16, 0x3FFD)
    if o["address_size"] not in (1, 2, 4):
        raise ConfigError("gateway.optical.address_size: must be 1, 2 or 4")
    _text(o["password"], "gateway.optical.password", 0, 32, True)
    if not isinstance(o["objects"], list) or len(o["objects"]) > 64:
        raise ConfigError("gateway.optical.objects: must be a list of at most 64 objects")
    for i, item in enumerate(o["objects"]):
        ok = isinstance(item, list) and len(item) == 3
        if ok:
            try:
                from dlms import obis

                obis.parse(item[1])
                ok = all(isinstance(x, int) and x > 0 for x in (item[0], item[2]))
            except Exception:
                ok = False
        if not ok:
            raise ConfigError(
                'gateway.optical.objects[%d]: must be [class, "A.B.C.D.E.F", attribute]' % i
            )
    if g["baudrate"] not in BAUDRATES:
        raise ConfigError(
            "gateway.baudrate: must be one of %s" % ", ".join(str(b) for b in BAUDRATES)
        )
    for k in ("key", "auth_key"):
        if g[k]:
            _hex(g[k], "gateway." + k, (16, 32) if k == "key" else (16,))
    _text(g["device"].get("id"), "gateway.device.id", 1, 32)
    _int(cfg, "gateway.status_s", 1, 86400)
    m = g["mqtt"]
    if not isinstance(m["enabled"], bool):
        raise ConfigError("gateway.mqtt.enabled: must be true or false")
    _text(m["host"], "gateway.mqtt.host", 1, 128)
    _int(cfg, "gateway.mqtt.port", 1, 65535)
    _int(cfg, "gateway.mqtt.min_interval_ms", 0, 3600000)
    _int(cfg, "gateway.mqtt.keepalive", 5, 3600)
    for k in ("username", "password", "prefix", "base"):
        lo = 0 if k in ("username", "password") else 1
        _text(m[k], "gateway.mqtt." + k, lo, 64, k == "password")
    for k in ("prefix", "base"):
        t = m[k]
        if "+" in t or "#" in t or t[0] == "/" or t[-1] == "/" or "//" in t:
            # topic names: no wildcards (MQTT 3.1.1 4.7.1), no empty levels
            raise ConfigError("gateway.mqtt.%s: a topic without + # or empty levels" % k)


def load(text=None):
    """The configuration from JSON text over the defaults (None: the defaults)."""
    over = {}
    if text:
        try:
            over = json.loads(text)
        except ValueError as e:
            raise ConfigError("config: not valid JSON (%s)" % e)
        except (RuntimeError, MemoryError):
            # CPython's json recurses (RecursionError, a RuntimeError) and
            # MicroPython's runs out of heap on thousands of nested [ or {
            raise ConfigError("config: nested too deeply")
    return validate(_merge(DEFAULTS, over, ""))


def load_bytes(data):
    """The configuration from a file's octets (UTF-8 JSON)."""
    try:
        text = bytes(data).decode()
    except UnicodeError:
        raise ConfigError("config: not UTF-8 text")
    return load(text)


def load_file(path):
    if path is None:
        return load(None)
    with open(path, "rb") as f:
        return load_bytes(f.read())


def simulator_defaults_in_use(cfg):
    """True if any client still has the simulator's default password, or a key
    is still the Green Book example."""
    s = cfg["security"]
    return any(c.get("password") == DEFAULT_PASSWORD for c in cfg["clients"]) or any(
        s[k].upper() in (EXAMPLE_BLOCK_CIPHER_KEY, EXAMPLE_AUTHENTICATION_KEY)
        for k in ("block_cipher_key", "authentication_key", "master_key")
    )
