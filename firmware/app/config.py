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

DEFAULT_PASSWORD = "12345678"

DEFAULTS = {
    "identity": {
        "manufacturer": "MPY",
        "serial": "00000001",
        "logical_device_name": "MPY0000000000001",
    },
    "network": {"host": "127.0.0.1", "wrapper_port": 4059, "hdlc_port": 4061},
    "hdlc": {"physical_address": 16, "max_info": 512, "window": 7},
    "max_pdu": 1024,
    "max_associations": 8,
    "clients": [
        {"sap": 16, "level": "public", "authentication": "none"},
        {"sap": 17, "level": "reader", "authentication": "lls", "password": DEFAULT_PASSWORD},
        {"sap": 1, "level": "manager", "authentication": "lls", "password": DEFAULT_PASSWORD},
    ],
    "clock": {"time_zone": -60, "dst": True},
    "load_profile": {"period": 900, "entries": 2880},
    "event_log": {"entries": 100},
    "gas": {"enabled": True, "sap": 2, "logical_device_name": "MPYGAS0000000001"},
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


def _text(v, path, lo, hi):
    if not isinstance(v, str) or not lo <= len(v) <= hi:
        raise ConfigError("%s: must be a string of %d to %d characters" % (path, lo, hi))
    return v


def validate(cfg):
    """Check every field; returns cfg. Raises ConfigError naming the field."""
    ident = cfg["identity"]
    _text(ident["manufacturer"], "identity.manufacturer", 3, 3)
    _text(ident["serial"], "identity.serial", 1, 32)
    _text(ident["logical_device_name"], "identity.logical_device_name", 1, 16)
    _text(cfg["network"]["host"], "network.host", 1, 64)
    _int(cfg, "network.wrapper_port", 0, 65535)
    _int(cfg, "network.hdlc_port", 0, 65535)
    _int(cfg, "hdlc.physical_address", 16, 0x3FFD)
    _int(cfg, "hdlc.max_info", 32, 2030)
    _int(cfg, "hdlc.window", 1, 7)
    _int(cfg, "max_pdu", 64, 65535)
    _int(cfg, "max_associations", 1, 64)
    _int(cfg, "clock.time_zone", -720, 720)
    if not isinstance(cfg["clock"]["dst"], bool):
        raise ConfigError("clock.dst: must be true or false")
    _int(cfg, "load_profile.period", 60, 86400)
    _int(cfg, "load_profile.entries", 1, 1000000)
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
            if k not in ("sap", "level", "authentication", "password"):
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
        if mech == "lls":
            _text(c.get("password"), p + ".password", 1, 32)
        elif mech != "none":
            raise ConfigError("%s.authentication: %s is not available yet" % (p, mech))
    if cfg["gas"]["enabled"] and cfg["gas"]["sap"] == 1:
        raise ConfigError("gas.sap: 1 is the management logical device")
    return cfg


def load(text=None):
    """The configuration from JSON text over the defaults (None: the defaults)."""
    over = {}
    if text:
        try:
            over = json.loads(text)
        except ValueError as e:
            raise ConfigError("config: not valid JSON (%s)" % e)
    return validate(_merge(DEFAULTS, over, ""))


def load_file(path):
    if path is None:
        return load(None)
    with open(path) as f:
        return load(f.read())


def simulator_defaults_in_use(cfg):
    """True if any client still has the simulator's default password."""
    return any(c.get("password") == DEFAULT_PASSWORD for c in cfg["clients"])
