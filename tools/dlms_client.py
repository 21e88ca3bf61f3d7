"""Read and configure a DLMS/COSEM meter from the command line.

    python -m tools.dlms_client [connection options] COMMAND ...

Commands:
    objects                              the object list of the association
    get CLASS OBIS ATTR                  one attribute
    set CLASS OBIS ATTR VALUE            write; VALUE is TYPE:TEXT (see below)
    action CLASS OBIS METHOD [VALUE]     invoke a method
    profile OBIS [--from T] [--to T]     a profile's buffer by range (T: ISO time,
                 [--entries A:B]         e.g. 2026-11-26T10:00, local to the meter)
    readout                              IEC 62056-21 data readout (with --serial)

Serial: ``--serial PATH`` speaks HDLC on a line (an RS-485 adapter, or a pty
of ``make run``); add ``--iec`` to open it as an optical head does (62056-21
sign-on at 300 Bd, mode E, then HDLC at the rate offered, up to ``--baud``).

VALUE types: u8 u16 u32 u64 i8 i16 i32 i64 enum bool float32 float64 null,
octets (hex), str (visible-string), utf8, axdr (hex of a whole A-XDR encoding),
datetime (ISO, sent as octet-string(12) with deviation not specified).

Security: ``--auth hls-gmac --security authenticated-encrypted --system-title
HEX --ek HEX --ak HEX`` (``--general`` for general-glo-ciphering). The client's
invocation counter continues across runs from build/dlms_client_ic.json (per
client system title), since a meter refuses a counter it has seen.

Built on the firmware's own client (dlms/client.py); works with any meter.
"""

import argparse
import binascii
import json
import os
import sys

from dlms import acse, axdr, obis
from dlms.client import Client, ClientError, ClientSecurity

from tools.transports import HdlcTransport, WrapperTransport

_INT_TAGS = {
    "u8": axdr.UNSIGNED,
    "u16": axdr.LONG_UNSIGNED,
    "u32": axdr.DOUBLE_LONG_UNSIGNED,
    "u64": axdr.LONG64_UNSIGNED,
    "i8": axdr.INTEGER,
    "i16": axdr.LONG,
    "i32": axdr.DOUBLE_LONG,
    "i64": axdr.LONG64,
    "enum": axdr.ENUM,
}


def parse_datetime(text):
    d, _, t = text.partition("T")
    y, m, dd = (int(x) for x in d.split("-"))
    hh = mm = ss = 0
    if t:
        parts = [int(x) for x in t.split(":")]
        hh, mm = parts[0], parts[1] if len(parts) > 1 else 0
        ss = parts[2] if len(parts) > 2 else 0
    return axdr.DateTime.from_tuple(y, m, dd, hh, mm, ss)


def parse_value(text):
    """Typed A-XDR data from TYPE:TEXT."""
    kind, _, v = text.partition(":")
    if kind in _INT_TAGS:
        return (_INT_TAGS[kind], int(v, 0))
    if kind == "bool":
        return (axdr.BOOLEAN, v.lower() in ("1", "true", "yes", "on"))
    if kind in ("float32", "float64"):
        return (axdr.FLOAT32 if kind == "float32" else axdr.FLOAT64, float(v))
    if kind == "null":
        return (axdr.NULL_DATA, None)
    if kind == "octets":
        return (axdr.OCTET_STRING, binascii.unhexlify(v.replace(" ", "")))
    if kind == "str":
        return (axdr.VISIBLE_STRING, v)
    if kind == "utf8":
        return (axdr.UTF8_STRING, v)
    if kind == "datetime":
        return (axdr.OCTET_STRING, parse_datetime(v).to_bytes())
    if kind == "axdr":
        return axdr.decode(binascii.unhexlify(v.replace(" ", "")))[0]
    raise SystemExit("unknown value type %r (see --help)" % kind)


def plain(data):
    """Typed data as JSON-friendly values (octet-strings as hex, or a date-time)."""
    tag, v = data
    if tag in (axdr.ARRAY, axdr.STRUCTURE):
        return [plain(x) for x in v]
    if tag == axdr.OCTET_STRING:
        if len(v) == 12 and v[2] <= 12 and v[3] <= 31 and v[0] not in (0,):
            try:
                return repr(axdr.DateTime.from_bytes(v))
            except Exception:
                pass
        try:
            s = bytes(v).decode()
            if s.isprintable():
                return s
        except UnicodeError:
            pass
        return binascii.hexlify(bytes(v)).decode()
    if tag in (axdr.DATE_TIME, axdr.DATE, axdr.TIME):
        return repr(v)
    if tag == axdr.COMPACT_ARRAY:
        return [plain(x) for x in v[1]]
    return v


_MECHANISMS = {
    "none": acse.MECHANISM_NONE,
    "lls": acse.MECHANISM_LLS,
    "hls-md5": acse.MECHANISM_HLS_MD5,
    "hls-sha1": acse.MECHANISM_HLS_SHA1,
    "hls-gmac": acse.MECHANISM_HLS_GMAC,
    "hls-sha256": acse.MECHANISM_HLS_SHA256,
}
_SECURITY = {"none": 0, "authenticated": 0x10, "encrypted": 0x20, "authenticated-encrypted": 0x30}
_IC_FILE = os.path.join(os.path.dirname(__file__), "..", "build", "dlms_client_ic.json")


def _ic_key(a):
    # one series per client system title, whatever the meter: always safe
    return a.system_title.lower()


def _load_ic(a):
    if a.ic is not None:
        return a.ic
    try:
        with open(_IC_FILE) as f:
            return json.load(f).get(_ic_key(a), 0)
    except (OSError, ValueError):
        return 0


def _save_ic(a, ic):
    try:
        with open(_IC_FILE) as f:
            d = json.load(f)
    except (OSError, ValueError):
        d = {}
    d[_ic_key(a)] = ic
    os.makedirs(os.path.dirname(_IC_FILE), exist_ok=True)
    with open(_IC_FILE, "w") as f:
        json.dump(d, f)


def connect(a):
    mech = _MECHANISMS[a.auth]
    security = None
    if a.security != "none" or mech in (acse.MECHANISM_HLS_GMAC, acse.MECHANISM_HLS_SHA256):
        sc = _SECURITY[a.security] or 0x30
        security = ClientSecurity(
            binascii.unhexlify(a.system_title),
            binascii.unhexlify(a.ek),
            binascii.unhexlify(a.ak),
            sc=sc,
            general=a.general,
            ic=_load_ic(a),
        )
    if a.serial:
        from tools.serial_transport import SerialHdlcTransport

        t = SerialHdlcTransport(
            a.serial,
            a.baud,
            a.client,
            a.server,
            a.physical,
            a.address_size,
            timeout=a.timeout,
            iec=a.iec,
            device_address=a.device_address,
        )
    elif a.hdlc:
        t = HdlcTransport(
            a.host,
            a.port or 4061,
            a.client,
            a.server,
            a.physical,
            a.address_size,
            timeout=a.timeout,
        )
    else:
        t = WrapperTransport(a.host, a.port or 4059, a.client, a.server, timeout=a.timeout)
    c = Client(t, mech, a.password.encode() if a.password else None, security=security)
    try:
        c.associate()
    finally:
        if security is not None:
            _save_ic(a, security.ic)  # used values are gone, whatever happened
    return c


def main(argv=None):
    p = argparse.ArgumentParser(
        prog="python -m tools.dlms_client",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=0, help="4059 (wrapper) or 4061 (--hdlc)")
    p.add_argument("--hdlc", action="store_true", help="HDLC over TCP instead of the wrapper")
    p.add_argument("--serial", default=None, help="HDLC on a serial port (e.g. a pty of make run)")
    p.add_argument("--baud", type=int, default=9600, help="with --iec: the highest to accept")
    p.add_argument(
        "--iec",
        action="store_true",
        help="with --serial: open with IEC 62056-21 (300 Bd sign-on, mode E) as an optical head",
    )
    p.add_argument("--device-address", default="", help="IEC 62056-21 device address")
    p.add_argument("--client", type=int, default=16, help="client SAP (16 public)")
    p.add_argument("--server", type=int, default=1, help="server SAP / logical device")
    p.add_argument("--physical", type=int, default=16, help="HDLC physical address")
    p.add_argument("--address-size", type=int, default=0, choices=(0, 1, 2, 4))
    p.add_argument("--auth", choices=sorted(_MECHANISMS), default=None)
    p.add_argument("--security", choices=sorted(_SECURITY), default="none")
    p.add_argument("--system-title", default="4D50593132333435", help="the client's, hex")
    p.add_argument("--ek", default="000102030405060708090A0B0C0D0E0F")
    p.add_argument("--ak", default="D0D1D2D3D4D5D6D7D8D9DADBDCDDDEDF")
    p.add_argument("--general", action="store_true", help="general-glo-ciphering")
    p.add_argument("--ic", type=int, default=None, help="the client's invocation counter")
    p.add_argument("--password", default=None)
    p.add_argument("--timeout", type=float, default=10)
    p.add_argument("--json", action="store_true")
    p.add_argument("command", choices=("objects", "get", "set", "action", "profile", "readout"))
    p.add_argument("args", nargs="*")
    p.add_argument("--from", dest="from_", default=None)
    p.add_argument("--to", default=None)
    p.add_argument("--entries", default=None)
    a = p.parse_args(argv)
    if a.auth is None:
        a.auth = "lls" if a.password else "none"
    if a.command == "readout":
        return readout(a)
    try:
        c = connect(a)
    except (OSError, ClientError) as e:
        print("cannot associate: %s" % e, file=sys.stderr)
        return 2
    try:
        out = run(c, a)
    except ClientError as e:
        print("refused: %s" % e, file=sys.stderr)
        return 1
    finally:
        try:
            c.release()
        except Exception:
            pass
        if c.security is not None:
            _save_ic(a, c.security.ic)
        c.transport.close()
    if a.json:
        print(json.dumps(out))
    elif a.command in ("objects", "profile"):
        for row in out:
            print(row)
    elif isinstance(out, list):
        print(json.dumps(out))
    else:
        print(out)
    return 0


def readout(a):
    """IEC 62056-21 data readout (mode C) on --serial: one line per value."""
    if not a.serial:
        print("readout needs --serial PATH", file=sys.stderr)
        return 2
    from tools.serial_transport import read_readout

    try:
        r = read_readout(a.serial, a.device_address, a.baud, timeout=a.timeout + 10)
    except OSError as e:
        print("no readout: %s" % e, file=sys.stderr)
        return 2
    if a.json:
        print(
            json.dumps(
                {
                    "identification": "%s%s%s"
                    % (
                        r.identification.manufacturer,
                        r.identification.baud_char,
                        r.identification.ident,
                    ),
                    "values": {
                        k: {"value": v, "unit": u or None} for k, (v, u) in r.values.items()
                    },
                }
            )
        )
    else:
        for k, (v, u) in r.values.items():
            print("%s %s%s" % (k, v, " " + u if u else ""))
    return 0


def run(c, a):
    args = a.args
    if a.command == "objects":
        return [
            {"class_id": cid, "version": v, "obis": obis.dotted(ln)}
            if a.json
            else "%3d v%d %s" % (cid, v, obis.dotted(ln))
            for cid, v, ln in c.objects()
        ]
    if a.command == "get":
        cid, ln, attr = int(args[0]), obis.parse(args[1]), int(args[2])
        return plain(c.get(cid, ln, attr))
    if a.command == "set":
        cid, ln, attr = int(args[0]), obis.parse(args[1]), int(args[2])
        result = c.set(cid, ln, attr, parse_value(args[3]))
        if result:
            raise ClientError("data-access-result %d" % result, result)
        return "ok"
    if a.command == "action":
        cid, ln, m = int(args[0]), obis.parse(args[1]), int(args[2])
        data = parse_value(args[3]) if len(args) > 3 else None
        result, ret = c.action(cid, ln, m, data)
        if result:
            raise ClientError("action-result %d" % result, result)
        return plain(ret) if ret is not None else "ok"
    if a.command == "profile":
        ln = obis.parse(args[0])
        if a.entries:
            lo, _, hi = a.entries.partition(":")
            params = (
                axdr.STRUCTURE,
                [
                    (axdr.DOUBLE_LONG_UNSIGNED, int(lo or 1)),
                    (axdr.DOUBLE_LONG_UNSIGNED, int(hi or 0)),
                    (axdr.LONG_UNSIGNED, 1),
                    (axdr.LONG_UNSIGNED, 0),
                ],
            )
            data = c.get(7, ln, 2, 2, params)
        elif a.from_ or a.to:
            lo = parse_datetime(a.from_ or "2000-01-01")
            hi = parse_datetime(a.to or "2099-12-31T23:59:59")
            params = (
                axdr.STRUCTURE,
                [
                    (
                        axdr.STRUCTURE,
                        [
                            (axdr.LONG_UNSIGNED, 8),
                            (axdr.OCTET_STRING, obis.parse("0.0.1.0.0.255")),
                            (axdr.INTEGER, 2),
                            (axdr.LONG_UNSIGNED, 0),
                        ],
                    ),
                    (axdr.OCTET_STRING, lo.to_bytes()),
                    (axdr.OCTET_STRING, hi.to_bytes()),
                    (axdr.ARRAY, []),
                ],
            )
            data = c.get(7, ln, 2, 1, params)
        else:
            data = c.get(7, ln, 2)
        return [plain(row) for row in data[1]]
    raise SystemExit("unknown command")


if __name__ == "__main__":
    sys.exit(main())
