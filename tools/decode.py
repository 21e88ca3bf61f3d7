"""Decode a captured P1 telegram, HAN frame or DLMS APDU, and say why when it
does not decode.

    python -m tools.decode FILE [--key HEX] [--auth-key HEX] [--unauthenticated] [--json]

FILE ('-' for standard input) holds a DSMR P1 telegram (text), Luxembourg's
encrypted P1, a HAN push (HDLC, M-Bus or wrapper frame, or a bare APDU),
binary or as hex text; which one it is is found from the content. ``--key``
is the meter's encryption key (GUEK), ``--auth-key`` its authentication key
(GAK; Luxembourg's fixed one is tried when it is not given).
``--unauthenticated`` deciphers a frame with a tag (SC 0x30) that no key
given verifies, without checking the tag: some network operators (Austria)
hand out the encryption key only; a warning says so. Prints the values
(``--json``: ``{"kind", "values", "errors", ...}``) and exits 1 when the input
cannot be decoded (framing, CRC, unknown layout, missing or wrong key, tag
mismatch, stale counter), 2 on a usage error. The firmware's own decoders
(firmware/gateway) do the work, as on the gateway's diagnose topic.
"""

import argparse
import binascii
import json
import sys

from gateway.decode import decode


def _jsonable(v):
    if isinstance(v, dict):
        return {k: _jsonable(x) for k, x in v.items()}
    if isinstance(v, (list, tuple)):
        return [_jsonable(x) for x in v]
    if isinstance(v, (bytes, bytearray)):
        return binascii.hexlify(v).decode()
    return v


def main(argv=None):
    p = argparse.ArgumentParser(
        prog="python -m tools.decode",
        description=__doc__.splitlines()[0],
    )
    p.add_argument("file")
    p.add_argument("--key", default=None, help="encryption key (GUEK), hex")
    p.add_argument("--auth-key", default=None, help="authentication key (GAK), hex")
    p.add_argument(
        "--unauthenticated",
        action="store_true",
        help="decipher a frame whose tag no key given verifies, without checking the tag",
    )
    p.add_argument("--json", action="store_true")
    a = p.parse_args(argv)
    try:
        key = binascii.unhexlify(a.key) if a.key else None
        ak = binascii.unhexlify(a.auth_key) if a.auth_key else None
    except (binascii.Error, ValueError):
        print("--key and --auth-key are hex", file=sys.stderr)
        return 2
    try:
        if a.file == "-":
            data = sys.stdin.buffer.read()
        else:
            with open(a.file, "rb") as f:
                data = f.read()
    except OSError as e:
        print("cannot read %s: %s" % (a.file, e), file=sys.stderr)
        return 2
    res = _jsonable(decode(data, key, ak, a.unauthenticated))
    if a.json:
        print(json.dumps(res))
    else:
        print("kind: %s" % res["kind"])
        for k in ("identification", "system_title", "invocation_counter", "timestamp"):
            if res.get(k) is not None:
                print("%s: %s" % (k, res[k]))
        for code, v in res["values"].items():
            unit = v.get("unit")
            print("%s %s%s" % (code, v.get("value"), " " + unit if unit else ""))
        for w in res.get("warnings", ()):
            print("warning: %s" % w)
        for e in res["errors"]:
            print("error: %s" % e)
    return 1 if res["errors"] else 0


if __name__ == "__main__":
    sys.exit(main())
