# runtime: cpython-only -- runs python -m tools.decode as a subprocess
"""``python -m tools.decode``: real P1 telegrams and HAN frames from public
sources (host_tests/data/dsmr, host_tests/data/han), with and without their
keys, damaged, and noise: the kind, the values, why it fails and the exit code."""

import json
import os
import subprocess
import sys

from simulator import ROOT

DSMR = os.path.join(ROOT, "host_tests", "data", "dsmr")
HAN = os.path.join(ROOT, "host_tests", "data", "han", "samples.txt")
SMARTY_KEY = "D491470F47126332B07D1923B3504188"


def han_sample(name):
    """(hex text, fields) of one sample of samples.txt."""
    with open(HAN) as f:
        text = f.read()
    block = text.split("== %s\n" % name, 1)[1].split("\n== ", 1)[0]
    head, _, hexpart = block.partition("hex:\n")
    fields = dict(line.split(": ", 1) for line in head.splitlines() if ": " in line)
    return hexpart.strip(), fields


def run(data, *args, tmp_path):
    path = tmp_path / "capture"
    path.write_bytes(data if isinstance(data, bytes) else data.encode())
    p = subprocess.run(
        [sys.executable, "-m", "tools.decode", str(path), "--json", *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    return p.returncode, json.loads(p.stdout) if p.stdout.strip() else None, p.stderr


def read(name):
    with open(os.path.join(DSMR, name), "rb") as f:
        return f.read()


def test_p1_telegram(tmp_path):
    rc, r, _ = run(read("dsmr50_iskra.txt"), tmp_path=tmp_path)
    assert rc == 0 and r["kind"] == "p1" and r["errors"] == []
    assert r["values"]["1-0:1.8.1"] == {"value": 4.426, "unit": "kWh"}
    assert r["values"]["0-1:24.2.1"]["value"] == 0.107


def test_p1_crc_error(tmp_path):
    bad = read("dsmr50_iskra.txt").replace(b"000004.426", b"000009.426")
    rc, r, _ = run(bad, tmp_path=tmp_path)
    assert rc == 1 and r["errors"] == ["crc"]


def test_smarty_with_and_without_the_key(tmp_path):
    frame = read("smarty_encrypted.hex").decode()
    rc, r, _ = run(frame, "--key", SMARTY_KEY, tmp_path=tmp_path)
    assert rc == 0, r
    assert r["kind"] == "p1-encrypted"
    assert r["system_title"] == "534147677001bd54"
    assert "1-0:1.8.0" in r["values"]
    wrong = "00" * 16
    rc, r, _ = run(frame, "--key", wrong, tmp_path=tmp_path)
    assert rc == 1 and r["errors"] == ["wrong key or tag mismatch"]
    rc, r, _ = run(frame, tmp_path=tmp_path)
    assert rc == 1 and r["errors"] == ["missing key"]


def test_an_authenticated_frame_with_the_encryption_key_only(tmp_path):
    # Energienetze Steiermark publishes only the EK of its Sagemcom's SC 0x30
    # frames: without --unauthenticated the tag cannot be checked, and the
    # error must not blame the key, which does decipher the frame
    hexed, fields = han_sample("steiermark_sagemcom_glo_p1")
    rc, r, _ = run(hexed, "--key", fields["ek"], tmp_path=tmp_path)
    assert rc == 1 and r["errors"] == ["missing key"], r
    assert any("deciphers" in w for w in r["warnings"]), r
    assert r["values"] == {}
    rc, r, _ = run(hexed, "--key", fields["ek"], "--unauthenticated", tmp_path=tmp_path)
    assert rc == 0 and r["errors"] == [], r
    assert r["kind"] == "p1-encrypted"
    assert r["values"]["1-0:1.8.0"] == {"value": 14159934, "unit": "Wh"}
    assert r["warnings"] == ["its tag was not checked: no authentication key"]
    # a wrong encryption key deciphers to noise: then the key is the fault
    for extra in ((), ("--unauthenticated",)):
        rc, r, _ = run(hexed, "--key", "11" * 16, *extra, tmp_path=tmp_path)
        assert rc == 1 and r["errors"] == ["wrong key or tag mismatch"], r


def test_unchecked_tag_leaves_the_telegram_crc_to_judge(tmp_path):
    # AES-CTR: one bit flipped in the ciphertext flips one in the telegram;
    # with no tag checked, its CRC is what tells
    hexed, fields = han_sample("steiermark_sagemcom_glo_p1")
    octets = bytearray(bytes.fromhex(hexed))
    octets[200] ^= 0x01
    rc, r, _ = run(bytes(octets), "--key", fields["ek"], "--unauthenticated", tmp_path=tmp_path)
    assert rc == 1 and r["errors"] == ["crc"], r


def test_unauthenticated_does_not_override_an_authentication_key(tmp_path):
    # EnergyAgent's Sagemcom sample: the AK published with it does not
    # verify the tag; given, it is checked, --unauthenticated or not
    hexed, fields = han_sample("austria_sagemcom_glo_p1")
    keys = ("--key", fields["ek"], "--auth-key", fields["ak"])
    for extra in ((), ("--unauthenticated",)):
        rc, r, _ = run(hexed, *keys, *extra, tmp_path=tmp_path)
        assert rc == 1 and r["errors"] == ["wrong key or tag mismatch"], r
    rc, r, _ = run(hexed, "--key", fields["ek"], "--unauthenticated", tmp_path=tmp_path)
    assert rc == 0, r
    assert r["values"]["1-0:1.8.0"]["value"] == 7112944
    assert r["values"]["1-0:2.8.0"]["value"] == 33153972


def test_han_hdlc_frames(tmp_path):
    for name, code in (("kamstrup_se_hdlc", "1-1:1.7.0"), ("aidon_se_hdlc", "1-0:1.7.0")):
        hexed, _ = han_sample(name)
        rc, r, _ = run(hexed, tmp_path=tmp_path)
        assert rc == 0 and r["kind"] == "han", (name, r)
        assert r["values"][code]["unit"] == "W", (name, r["values"])


def test_han_encrypted_mbus_frames_sc_0x20(tmp_path):
    hexed, fields = han_sample("evn_mbus")
    rc, r, _ = run(hexed, "--key", fields["ek"], tmp_path=tmp_path)
    assert rc == 0, r
    assert r["values"] and r["invocation_counter"] is not None
    rc, r, _ = run(hexed, "--key", "11" * 16, tmp_path=tmp_path)
    assert rc == 1 and r["errors"] == ["wrong key or tag mismatch"]


def test_a_damaged_hdlc_frame(tmp_path):
    hexed, _ = han_sample("kamstrup_se_hdlc")
    octets = bytearray(bytes.fromhex(hexed))
    octets[40] ^= 0x01
    rc, r, _ = run(bytes(octets), tmp_path=tmp_path)
    assert rc == 1 and "fcs" in r["errors"], r


def test_noise(tmp_path):
    rc, r, _ = run(bytes(range(1, 200)), tmp_path=tmp_path)
    assert rc == 1 and r["kind"] is None and r["errors"]


def test_text_output_and_usage(tmp_path):
    path = tmp_path / "t.txt"
    path.write_bytes(read("dsmr50_iskra.txt"))
    p = subprocess.run(
        [sys.executable, "-m", "tools.decode", str(path)], cwd=ROOT, capture_output=True, text=True
    )
    assert p.returncode == 0 and "1-0:1.8.1 4.426 kWh" in p.stdout
    p = subprocess.run(
        [sys.executable, "-m", "tools.decode", str(path), "--key", "zz"],
        cwd=ROOT,
        capture_output=True,
        text=True,
    )
    assert p.returncode == 2
