# runtime: cpython-only -- runs the gateway under the unix port with a broker and a pty
"""The gateway end to end: app.gateway under the unix MicroPython port reads
real DSMR telegrams written into its P1 pty, publishes them to an MQTT
broker (amqtt) with Home Assistant discovery, and serves them from its COSEM
server, read here by the dlms-cosem client."""

import json
import os
import time

import pytest
import serial
from dlms_cosem import cosem, enumerations, utils
from dlms_cosem.client import DlmsClient
from dlms_cosem.io import BlockingTcpIO, TcpTransport
from dlms_cosem.security import NoSecurityAuthentication
from simulator import ROOT, Simulator, check_clean_stop
from test_mqtt_broker import Broker, Subscriber, wait_until

DATA = os.path.join(ROOT, "host_tests", "data", "dsmr")


def telegram(name):
    with open(os.path.join(DATA, name), "rb") as f:
        return f.read()


@pytest.fixture(scope="module")
def broker():
    b = Broker()
    yield b
    b.stop()


@pytest.fixture(scope="module")
def gateway(broker):
    cfg = {
        "gateway": {
            "input": "p1",
            "device": {"id": "p1gw", "name": "Home meter"},
            "status_s": 1,
            "mqtt": {"enabled": True, "port": broker.port, "min_interval_ms": 0},
        }
    }
    sim = Simulator(cfg, module="app.gateway", ptys=("p1",))
    yield sim
    rc = sim.stop()
    check_clean_stop(sim, rc)


@pytest.fixture(scope="module")
def fed(broker, gateway):
    sub = Subscriber(broker.port)
    path = gateway.read_endpoints()["p1"]["path"]
    with serial.Serial(path, 115200, timeout=1) as p:
        p.write(b"garbage before\r\n" + telegram("dsmr50_iskra.txt"))
        p.flush()
        wait_until(lambda: sub.last("mpdlms/p1gw/1_0_1_8_1/state"), 20, "the first states")
        bad = bytearray(telegram("dsmr50_iskra.txt"))
        bad[bad.index(b"000004.426")] = ord("9")  # the CRC no longer matches
        p.write(bytes(bad))
        p.flush()
        wait_until(lambda: json.loads(sub.last("mpdlms/p1gw/status") or "{}").get("crc"), 20)
    yield sub
    sub.stop()


def test_discovery_configs(fed):
    cfg = json.loads(fed.last("homeassistant/sensor/p1gw/1_0_1_8_1/config"))
    assert cfg["device_class"] == "energy"
    assert cfg["state_class"] == "total_increasing"
    assert cfg["unit_of_measurement"] == "kWh"
    assert cfg["state_topic"] == "mpdlms/p1gw/1_0_1_8_1/state"
    assert cfg["availability_topic"] == "mpdlms/p1gw/availability"
    assert cfg["device"]["name"] == "Home meter"
    volts = json.loads(fed.last("homeassistant/sensor/p1gw/1_0_32_7_0/config"))
    assert (volts["device_class"], volts["unit_of_measurement"]) == ("voltage", "V")
    gas = json.loads(fed.last("homeassistant/sensor/p1gw/0_1_24_2_1/config"))
    assert gas["device_class"] == "gas"
    assert fed.last("mpdlms/p1gw/availability") == "online"


def test_states_are_the_telegram_values(fed):
    want = {
        "1_0_1_8_1": "4.426",
        "1_0_1_8_2": "2.399",
        "1_0_2_8_1": "2.444",
        "1_0_1_7_0": "0.244",
        "1_0_32_7_0": "230.0",
        "1_0_71_7_0": "0.86",
        "0_1_24_2_1": "0.107",
    }
    for obj, value in want.items():
        assert float(fed.last("mpdlms/p1gw/%s/state" % obj)) == float(value), obj


def test_status_counts_the_crc_failure(fed):
    status = json.loads(fed.last("mpdlms/p1gw/status"))
    assert status["telegrams"] == 1
    assert status["crc"] == 1
    assert status["values"] > 20
    assert "crc" in status["last_error"]
    # the corrupted telegram's value never reached a state
    states = [m[2].decode() for m in fed.on("mpdlms/p1gw/1_0_1_8_1/state")]
    assert set(states) == {"4.426"}


def test_dlms_client_reads_the_gateway_like_a_meter(fed, gateway):
    t = TcpTransport(
        client_logical_address=16,
        server_logical_address=1,
        io=BlockingTcpIO(host="127.0.0.1", port=gateway.wrapper_port),
    )
    c = DlmsClient(transport=t, authentication=NoSecurityAuthentication())
    with c.session():
        raw = c.get(
            cosem.CosemAttribute(
                interface=enumerations.CosemInterface.REGISTER,
                instance=cosem.Obis(1, 0, 1, 8, 1),
                attribute=2,
            )
        )
        assert utils.parse_as_dlms_data(raw) == 4426
        raw = c.get(
            cosem.CosemAttribute(
                interface=enumerations.CosemInterface.REGISTER,
                instance=cosem.Obis(1, 0, 1, 8, 1),
                attribute=3,
            )
        )
        assert utils.parse_as_dlms_data(raw) == [0, 30]  # Wh, scaler 0: 4426 Wh
        raw = c.get(
            cosem.CosemAttribute(
                interface=enumerations.CosemInterface.REGISTER,
                instance=cosem.Obis(1, 0, 32, 7, 0),
                attribute=3,
            )
        )
        assert utils.parse_as_dlms_data(raw) == [-1, 35]  # 0.1 V


def test_gurux_reads_the_same_values(fed, gateway):
    reg = gurux_read(gateway, "1.0.1.8.2.255")
    assert (reg.value, reg.scaler, reg.unit) == (2399, 1, 30)  # 2.399 kWh as Wh
    volts = gurux_read(gateway, "1.0.72.7.0.255")
    assert (volts.value, round(volts.scaler, 6), volts.unit) == (229.0, 0.1, 35)


def test_diagnose_topic(fed):
    # a corrupted telegram on the diagnose topic: the answer says why
    bad = bytearray(telegram("dsmr50_iskra.txt"))
    bad[bad.index(b"000004.426")] = ord("9")
    fed.publish("mpdlms/p1gw/diagnose", bytes(bad))
    answer = json.loads(wait_until(lambda: fed.last("mpdlms/p1gw/diagnosis"), 20, "a diagnosis"))
    assert answer["kind"] == "p1"
    assert any("crc" in e for e in answer["errors"])


def test_han_gateway_serves_a_kamstrup_push():
    from test_decode_cli import han_sample

    hexed, _ = han_sample("kamstrup_se_hdlc")
    cfg = {"gateway": {"input": "han", "baudrate": 2400, "device": {"id": "hangw"}}}
    sim = Simulator(cfg, module="app.gateway", ptys=("han",))
    try:
        path = sim.read_endpoints()["han"]["path"]
        with serial.Serial(path, 2400, timeout=1) as p:
            p.write(b"\x00\x7e\x12noise" + bytes.fromhex(hexed))
            p.flush()
        t = TcpTransport(
            client_logical_address=16,
            server_logical_address=1,
            io=BlockingTcpIO(host="127.0.0.1", port=sim.wrapper_port),
        )
        c = DlmsClient(transport=t, authentication=NoSecurityAuthentication())
        power = cosem.CosemAttribute(
            interface=enumerations.CosemInterface.REGISTER,
            instance=cosem.Obis(1, 1, 1, 7, 0),
            attribute=2,
        )
        deadline = time.time() + 10
        while True:
            try:
                with c.session():
                    assert utils.parse_as_dlms_data(c.get(power)) == 826
                    unit = cosem.CosemAttribute(
                        interface=enumerations.CosemInterface.REGISTER,
                        instance=cosem.Obis(1, 1, 1, 7, 0),
                        attribute=3,
                    )
                    assert utils.parse_as_dlms_data(c.get(unit)) == [0, 27]  # W
                break
            except Exception:
                if time.time() > deadline:
                    raise
                time.sleep(0.2)
    finally:
        rc = sim.stop()
    check_clean_stop(sim, rc)
    assert '"telegrams": 1' in sim.output()


@pytest.fixture(scope="module")
def meter():
    """Our simulated meter with its optical port, the legacy meter the
    optical gateway reads."""
    s = Simulator(serial=True)
    yield s
    rc = s.stop()
    check_clean_stop(s, rc)


def gurux_read(sim, ln):
    """The gateway's register (value, scaler, unit) by gurux-dlms, public client."""
    from gurux_dlms.objects import GXDLMSRegister
    from test_interop_gurux import Session

    with Session(sim, "wrapper", 16).connect() as s:
        reg = GXDLMSRegister(ln)
        s.read(reg, 3)
        s.read(reg, 2)
    return reg


def wait_for(fn, timeout=30):
    deadline = time.time() + timeout
    while True:
        try:
            return fn()
        except Exception:
            if time.time() > deadline:
                raise
            time.sleep(0.5)


def test_optical_gateway_reads_the_meters_readout(meter):
    path = meter.read_endpoints()["optical"]["path"]
    cfg = {"gateway": {"input": "optical", "optical": {"mode": "readout", "period_s": 2}}}
    gw = Simulator(cfg, module="app.gateway", extra_args=["--serial", "optical=" + path])
    try:
        reg = wait_for(lambda: gurux_read(gw, "1.0.1.8.0.255"))
        # the readout's 1.8.0 (kWh, 3 decimals) as Wh, scaler 0
        assert reg.scaler == 1 and reg.unit == 30  # gurux shows the scaler as 10^0
        assert reg.value > 1000
        volts = gurux_read(gw, "1.0.32.7.0.255")
        assert volts.unit == 35 and 200 < volts.value < 260
    finally:
        rc = gw.stop()
    check_clean_stop(gw, rc)


def test_optical_gateway_polls_the_meter_over_mode_e(meter):
    path = meter.read_endpoints()["optical"]["path"]
    cfg = {
        "gateway": {
            "input": "optical",
            "optical": {
                "mode": "dlms",
                "period_s": 2,
                "client": 17,
                "password": "12345678",
                "address_size": 2,
                "objects": [[3, "1.0.1.8.0.255", 2], [3, "1.0.32.7.0.255", 2]],
            },
        }
    }
    gw = Simulator(cfg, module="app.gateway", extra_args=["--serial", "optical=" + path])
    try:
        reg = wait_for(lambda: gurux_read(gw, "1.0.1.8.0.255"))
        assert reg.unit == 30 and reg.value > 1000
        volts = gurux_read(gw, "1.0.32.7.0.255")
        assert volts.unit == 35 and 200 < volts.value < 260
    finally:
        rc = gw.stop()
    check_clean_stop(gw, rc)
