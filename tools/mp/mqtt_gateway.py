"""A stand-in gateway on the unix MicroPython port, for host_tests/test_mqtt_broker.py:
publishes Home Assistant discovery for a simulated meter and its values over
gateway.mqtt, until killed or ``--run-ms`` has passed.

    MICROPYPATH=.frozen:firmware micropython tools/mp/mqtt_gateway.py --port N [options]

Options (all ``--name value``): ``--host`` (127.0.0.1), ``--port``, ``--id``
(device id, also the client id), ``--username``, ``--password``,
``--keepalive`` (s), ``--interval-ms`` (the per-sensor rate limit),
``--period-ms`` (how often new values are made), ``--updates`` (how many
times; then the values stay put), ``--seq`` (QoS 1 messages 0..N-1 on
``mpdlms/<id>/seq``), ``--backoff-ms`` (first), ``--backoff-cap-ms``,
``--run-ms`` (then "offline", DISCONNECT and exit 0; 0: until killed).
Every value made is printed as ``made <object id> <payload>``.
"""

import asyncio
import sys

import log
from compat import ticks_diff, ticks_ms
from gateway.homeassistant import Discovery
from gateway.mqtt import MqttClient

DEVICE = {
    "id": "mpgw1",
    "name": "Test meter",
    "manufacturer": "mpdlms",
    "model": "simulated three-phase meter",
    "sw_version": "0.1.0",
}
SENSORS = [
    {"obis": "1-0:1.8.1", "unit": "kWh", "scaler": -3},
    {"obis": "1-0:1.8.2", "unit": "kWh", "scaler": -3},
    {"obis": "1-0:1.7.0", "unit": "kW", "scaler": -3},
    {"obis": "1-0:32.7.0", "unit": "V", "scaler": -1},
    {"obis": "1-0:31.7.0", "unit": "A"},
    {"obis": "0-1:24.2.1", "unit": "m3", "scaler": -3},
    {"obis": "0-0:96.14.0"},
]


def options(argv):
    o = {
        "host": "127.0.0.1",
        "port": 1883,
        "id": DEVICE["id"],
        "username": None,
        "password": None,
        "keepalive": 60,
        "interval_ms": 1000,
        "period_ms": 100,
        "updates": 0,
        "seq": 0,
        "backoff_ms": 200,
        "backoff_cap_ms": 1600,
        "run_ms": 0,
    }
    for i in range(0, len(argv) - 1, 2):
        k = argv[i][2:].replace("-", "_")
        if k not in o:
            raise SystemExit("unknown option %s" % argv[i])
        v = argv[i + 1]
        o[k] = v if k in ("host", "id", "username", "password") else int(v)
    return o


def values(n):
    """The meter's values after ``n`` updates, as (obis, raw value)."""
    return [
        ("1-0:1.8.1", 1000000 + 7 * n),
        ("1-0:1.8.2", 2000000 + 3 * n),
        ("1-0:1.7.0", 400 + n % 50),
        ("1-0:32.7.0", 2300 + n % 7),
        ("1-0:31.7.0", n % 16),
        ("0-1:24.2.1", 500000 + n),
        ("0-0:96.14.0", "%04d" % (1 + n % 2)),
    ]


async def main(o):
    device = dict(DEVICE)
    device["id"] = o["id"]
    disc = Discovery(device, SENSORS)
    client = MqttClient(
        o["host"],
        o["port"],
        client_id=o["id"],
        keepalive=o["keepalive"],
        username=o["username"],
        password=o["password"],
        will=disc.will(),
        min_interval_ms=o["interval_ms"],
        backoff_ms=(o["backoff_ms"], o["backoff_cap_ms"]),
        tick_ms=20,
    )
    disc.attach(client)
    task = asyncio.create_task(client.run())
    start = ticks_ms()
    n = 0
    seq = 0
    while not o["run_ms"] or ticks_diff(ticks_ms(), start) < o["run_ms"]:
        if n < o["updates"] or not n:
            for code, v in values(n):
                disc.publish_state(code, v)
                topic, payload = disc.state(code, v)
                print("made %s %s" % (topic.split("/")[-2], payload))
            n += 1
        if seq < o["seq"] and client.connects:
            client.publish("mpdlms/%s/seq" % disc.node, str(seq), 1)
            seq += 1
        await asyncio.sleep(o["period_ms"] / 1000)
    client.publish(disc.availability_topic, "offline", 1, True)
    client.stop()
    await task
    print("stopped")


log.level = 20
asyncio.run(main(options(sys.argv[1:])))
