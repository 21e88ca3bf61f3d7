# runtime: cpython-only -- starts a broker subprocess
"""gateway.mqtt and gateway.homeassistant against a real broker: amqtt 0.12.1
(pinned in pyproject.toml) as a subprocess on a free port, our client under
the unix MicroPython port (tools/mp/mqtt_gateway.py, a stand-in gateway
with a simulated meter), and amqtt's own client as the subscriber that
checks what arrived:

- the retained discovery configs, with the fields Home Assistant needs;
- the states: the latest value of each sensor arrives, at most one per
  sensor per rate-limit interval;
- the last will: "offline" on the availability topic when the gateway's
  process is killed (SIGKILL: no DISCONNECT);
- reconnecting with a growing, capped backoff while the broker is down,
  and publishing discovery again once it is back;
- QoS 1: every message of a sequence, in order, through the in-flight window;
- user name and password (amqtt's password file), and a refused CONNACK;
- Home Assistant's birth message bringing the configs again;
- a broker that answers with malformed packets: logged, reconnected, no
  exception out of the client.
"""

import asyncio
import json
import os
import re
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time

import pytest
from amqtt.client import MQTTClient
from simulator import ROOT, free_port, micropython

SENSORS = {
    "1_0_1_8_1": ("Energy import tariff 1", "energy", "total_increasing", "kWh"),
    "1_0_1_8_2": ("Energy import tariff 2", "energy", "total_increasing", "kWh"),
    "1_0_1_7_0": ("Power import", "power", "measurement", "kW"),
    "1_0_32_7_0": ("Voltage L1", "voltage", "measurement", "V"),
    "1_0_31_7_0": ("Current L1", "current", "measurement", "A"),
    "0_1_24_2_1": ("Gas", "gas", "total_increasing", "m³"),
    "0_0_96_14_0": ("Tariff", None, None, None),
}
AVAIL = "mpdlms/mpgw1/availability"


def wait_until(pred, timeout=10.0, what="condition"):
    deadline = time.time() + timeout
    while time.time() < deadline:
        r = pred()
        if r:
            return r
        time.sleep(0.05)
    raise AssertionError("timed out waiting for %s" % what)


class Broker:
    """amqtt's broker (the ``amqtt`` command) on 127.0.0.1:``port``; with
    ``users`` ({name: password}) it takes those only (its password file,
    argon2 hashes), else anyone."""

    def __init__(self, port=None, users=None):
        self.port = port or free_port()
        self.tmp = tempfile.mkdtemp(prefix="amqtt-")
        plugins = {"amqtt.plugins.authentication.AnonymousAuthPlugin": {"allow_anonymous": True}}
        if users:
            from pwdlib.hashers.argon2 import Argon2Hasher

            path = os.path.join(self.tmp, "passwords")
            with open(path, "w") as f:
                for name, pw in users.items():
                    f.write("%s:%s\n" % (name, Argon2Hasher().hash(pw)))
            plugins = {"amqtt.plugins.authentication.FileAuthPlugin": {"password_file": path}}
        config = {
            "listeners": {"default": {"type": "tcp", "bind": "127.0.0.1:%d" % self.port}},
            "plugins": plugins,
        }
        self.config = os.path.join(self.tmp, "broker.yaml")
        with open(self.config, "w") as f:
            json.dump(config, f)  # JSON is YAML
        self.log = open(os.path.join(self.tmp, "broker.log"), "w+")
        self.proc = None
        self.start()

    def start(self):
        exe = os.path.join(os.path.dirname(sys.executable), "amqtt")
        self.proc = subprocess.Popen(
            [exe, "-c", self.config], stdout=self.log, stderr=subprocess.STDOUT, cwd=self.tmp
        )
        deadline = time.time() + 20
        while True:
            try:
                socket.create_connection(("127.0.0.1", self.port), 0.2).close()
                return
            except OSError:
                if time.time() > deadline or self.proc.poll() is not None:
                    self.stop()
                    raise RuntimeError("the broker did not start:\n" + self.output())
                time.sleep(0.05)

    def stop(self):
        """Ctrl-C (amqtt shuts down cleanly on it); returns the exit code."""
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        return self.proc.returncode if self.proc else None

    def output(self):
        self.log.flush()
        self.log.seek(0)
        return self.log.read()


class Gateway:
    """tools/mp/mqtt_gateway.py under the unix MicroPython port."""

    def __init__(self, port, *args):
        self.tmp = tempfile.mkdtemp(prefix="mqttgw-")
        self.log = open(os.path.join(self.tmp, "gateway.log"), "w+")
        env = dict(os.environ)
        env["MICROPYPATH"] = ".frozen:" + os.path.join(ROOT, "firmware")
        cmd = [micropython(), "tools/mp/mqtt_gateway.py", "--port", str(port)]
        cmd += [str(a) for a in args]
        self.proc = subprocess.Popen(
            cmd, cwd=ROOT, env=env, stdout=self.log, stderr=subprocess.STDOUT
        )

    def output(self):
        self.log.flush()
        self.log.seek(0)
        return self.log.read()

    def lines(self, prefix):
        return [x for x in self.output().splitlines() if x.startswith(prefix)]

    def wait_output(self, text, count=1, timeout=15):
        def seen():
            if self.proc.poll() is not None and self.output().count(text) < count:
                raise AssertionError("the gateway exited:\n" + self.output()[-3000:])
            return self.output().count(text) >= count

        wait_until(seen, timeout, repr(text))

    def made(self):
        """The last value made of each object id."""
        last = {}
        for line in self.lines("made "):
            _, obj, payload = line.split(" ", 2)
            last[obj] = payload
        return last

    def kill(self):
        if self.proc.poll() is None:
            self.proc.kill()  # SIGKILL: no DISCONNECT, the broker sends the will
        self.proc.wait(10)

    def check_no_traceback(self):
        out = self.output()
        assert "Traceback" not in out, out[-3000:]


class Subscriber:
    """amqtt's MQTT client in a thread of its own, subscribed at QoS 1;
    ``messages``: (time, topic, payload bytes, retain, qos) as they came."""

    def __init__(self, port, topics=("homeassistant/#", "mpdlms/#"), user=None):
        self.url = "mqtt://%s127.0.0.1:%d/" % ("%s:%s@" % user if user else "", port)
        self.topics = topics
        self.messages = []
        self.lock = threading.Lock()
        self.stopping = False
        self.error = None
        self.ready = threading.Event()
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_until_complete, args=(self.main(),))
        self.thread.daemon = True
        self.thread.start()
        if not self.ready.wait(15) or self.error:
            raise RuntimeError("subscriber: %r" % (self.error,))

    async def main(self):
        try:
            self.client = MQTTClient(config={"auto_reconnect": False})
            await self.client.connect(self.url)
            await self.client.subscribe([(t, 1) for t in self.topics])
        except Exception as e:
            self.error = e
            self.ready.set()
            return
        self.ready.set()
        while not self.stopping:
            try:
                m = await self.client.deliver_message(timeout_duration=0.1)
            except asyncio.TimeoutError:
                continue
            except Exception as e:
                self.error = e
                break
            if m is None:
                continue
            with self.lock:
                self.messages.append((time.time(), m.topic, bytes(m.data), m.retain, m.qos))
        try:
            await self.client.disconnect()
        except Exception:
            pass

    def publish(self, topic, payload, retain=False):
        f = asyncio.run_coroutine_threadsafe(
            self.client.publish(topic, payload, 1, retain), self.loop
        )
        f.result(10)

    def on(self, topic):
        with self.lock:
            return [m for m in self.messages if m[1] == topic]

    def last(self, topic):
        got = self.on(topic)
        return got[-1][2].decode() if got else None

    def stop(self):
        self.stopping = True
        self.thread.join(10)


@pytest.fixture
def broker():
    b = Broker()
    yield b
    b.stop()


@pytest.fixture
def cleanup():
    things = []
    yield things
    for t in reversed(things):
        if isinstance(t, Gateway):
            t.kill()
        else:
            t.stop()


def start(cleanup, thing):
    cleanup.append(thing)
    return thing


def configs(sub):
    out = {}
    for _, topic, payload, retain, _ in sub.messages:
        m = re.match(r"homeassistant/sensor/mpgw1/([0-9_]+)/config$", topic)
        if m:
            out[m.group(1)] = (json.loads(payload), retain)
    return out


def test_retained_discovery_and_rate_limited_states(broker, cleanup):
    gw = start(
        cleanup, Gateway(broker.port, "--interval-ms", 1000, "--period-ms", 100, "--updates", 30)
    )
    gw.wait_output("I mqtt: connected")
    wait_until(lambda: len(gw.lines("made ")) >= 7 * 5, what="values")
    # subscribing after the gateway published: the configs come as retained
    sub = start(cleanup, Subscriber(broker.port))
    wait_until(lambda: len(configs(sub)) == len(SENSORS), what="configs")
    got = configs(sub)
    for obj, (name, dc, sc, unit) in SENSORS.items():
        c, retain = got[obj]
        assert retain, obj
        assert c["name"] == name
        assert c["unique_id"] == "mpgw1_" + obj
        assert c["state_topic"] == "mpdlms/mpgw1/%s/state" % obj
        assert c.get("device_class") == dc
        assert c.get("state_class") == sc
        assert c.get("unit_of_measurement") == unit
        assert c["availability_topic"] == AVAIL
        assert (c["payload_available"], c["payload_not_available"]) == ("online", "offline")
        assert c["device"] == {
            "identifiers": ["mpgw1"],
            "name": "Test meter",
            "manufacturer": "mpdlms",
            "model": "simulated three-phase meter",
            "sw_version": "0.1.0",
        }
    assert got["0_0_96_14_0"][0]["entity_category"] == "diagnostic"
    assert got["1_0_1_8_1"][0]["suggested_display_precision"] == 3
    # the retained "online" may come just after the configs
    wait_until(lambda: sub.on(AVAIL), what="availability")
    assert sub.on(AVAIL)[-1][2:4] == (b"online", True)

    # the values stop after 30 updates (3 s); the latest of each arrives
    gw.wait_output("made 0_0_96_14_0", 30)
    made = gw.made()
    assert made["1_0_1_8_1"] == "1000.203"  # 1000000 + 7 * 29, scaler -3
    for obj in SENSORS:
        topic = "mpdlms/mpgw1/%s/state" % obj
        wait_until(lambda t=topic, v=made[obj]: sub.last(t) == v, 5, "the last %s" % obj)
        states = sub.on(topic)
        # at most one a second per sensor (1 s interval, 3 s of values made
        # ten times a second), never retained
        assert 2 <= len(states) <= 5, (obj, states)
        for a, b in zip(states, states[1:]):
            assert b[0] - a[0] > 0.7, (obj, states)
        assert not any(m[3] for m in states)
    energy = [float(m[2]) for m in sub.on("mpdlms/mpgw1/1_0_1_8_1/state")]
    assert energy == sorted(energy)
    gw.check_no_traceback()


def test_last_will_when_the_gateway_is_killed(broker, cleanup):
    sub = start(cleanup, Subscriber(broker.port))
    gw = start(cleanup, Gateway(broker.port))
    wait_until(lambda: sub.last(AVAIL) == "online", what="online")
    gw.kill()
    wait_until(lambda: sub.last(AVAIL) == "offline", what="the will")
    # retained: a subscriber coming later sees the gateway offline
    late = start(cleanup, Subscriber(broker.port, (AVAIL,)))
    wait_until(lambda: late.on(AVAIL), what="retained availability")
    assert late.on(AVAIL)[-1][2:4] == (b"offline", True)


def test_clean_stop_publishes_offline_and_disconnects(broker, cleanup):
    sub = start(cleanup, Subscriber(broker.port))
    gw = start(cleanup, Gateway(broker.port, "--run-ms", 1500))
    assert gw.proc.wait(20) == 0, gw.output()
    assert "stopped" in gw.output()
    wait_until(lambda: sub.last(AVAIL) == "offline")
    assert [m[2] for m in sub.on(AVAIL)] == [b"online", b"offline"]
    gw.check_no_traceback()


def test_reconnect_with_backoff_after_the_broker_restarts(broker, cleanup):
    gw = start(cleanup, Gateway(broker.port, "--backoff-ms", 200, "--backoff-cap-ms", 1600))
    gw.wait_output("I mqtt: connected")
    broker.stop()
    gw.wait_output("I mqtt: reconnecting in", 6, timeout=20)
    broker.start()  # same port; its retained messages are gone
    gw.wait_output("I mqtt: connected", 2, timeout=20)
    sub = start(cleanup, Subscriber(broker.port))
    wait_until(lambda: len(configs(sub)) == len(SENSORS), what="configs again")
    wait_until(lambda: sub.last(AVAIL) == "online", what="online again")
    delays = [int(x.split()[-2]) for x in gw.lines("I mqtt: reconnecting in")]
    # doubling from 200 ms up to the 1600 ms cap, each plus up to 25 % jitter
    bases = [200, 400, 800, 1600, 1600, 1600]
    for d, base in zip(delays, bases):
        assert base <= d <= base * 1.25 + 1, delays
    assert gw.proc.poll() is None
    gw.check_no_traceback()


def test_qos1_sequence_all_delivered_in_order(broker, cleanup):
    sub = start(cleanup, Subscriber(broker.port, ("mpdlms/mpgw1/seq",)))
    gw = start(cleanup, Gateway(broker.port, "--seq", 60, "--period-ms", 10))
    wait_until(lambda: len(sub.on("mpdlms/mpgw1/seq")) >= 60, 20, "60 messages")
    got = sub.on("mpdlms/mpgw1/seq")
    assert [m[2] for m in got] == [str(i).encode() for i in range(60)]
    assert all(m[4] == 1 for m in got)  # QoS 1 end to end
    gw.check_no_traceback()


def test_user_name_and_password(cleanup):
    b = start(cleanup, Broker(users={"gw": "s3cret", "ha": "ha-pw"}))
    sub = start(cleanup, Subscriber(b.port, user=("ha", "ha-pw")))
    good = start(cleanup, Gateway(b.port, "--username", "gw", "--password", "s3cret"))
    wait_until(lambda: sub.last(AVAIL) == "online", what="online")
    good.kill()
    bad = start(
        cleanup,
        Gateway(
            b.port, "--id", "mpgw2", "--username", "gw", "--password", "wrong", "--backoff-ms", 100
        ),
    )
    bad.wait_output("E mqtt: ", 3)
    refused = bad.lines("E mqtt: ")
    assert all("connection refused: " in x for x in refused), refused
    assert not sub.on("mpdlms/mpgw2/availability")
    assert bad.proc.poll() is None
    bad.check_no_traceback()


def test_home_assistant_birth_brings_the_configs_again(broker, cleanup):
    sub = start(cleanup, Subscriber(broker.port))
    start(cleanup, Gateway(broker.port))
    topic = "homeassistant/sensor/mpgw1/1_0_1_8_1/config"
    wait_until(lambda: sub.on(topic) and sub.last(AVAIL) == "online", what="configs")
    time.sleep(0.3)  # the gateway's SUBSCRIBE is through
    sub.publish("homeassistant/status", b"online")
    wait_until(lambda: len(sub.on(topic)) == 2, what="configs again")
    assert len(configs(sub)) == len(SENSORS)


class BadBroker:
    """A TCP listener that answers every CONNECT with the next of
    ``replies`` (the last one again and again), then closes."""

    def __init__(self, replies):
        self.replies = list(replies)
        self.sock = socket.socket()
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(4)
        self.port = self.sock.getsockname()[1]
        self.connections = 0
        self.stopping = False
        self.thread = threading.Thread(target=self.serve, daemon=True)
        self.thread.start()

    def serve(self):
        self.sock.settimeout(0.2)
        while not self.stopping:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                continue
            self.connections += 1
            with conn:
                conn.settimeout(2)
                try:
                    conn.recv(1024)  # the CONNECT
                    reply = self.replies.pop(0) if len(self.replies) > 1 else self.replies[0]
                    conn.sendall(reply)
                    time.sleep(0.3)  # the client closes first
                except OSError:
                    pass

    def stop(self):
        self.stopping = True
        self.thread.join(5)
        self.sock.close()


def test_malformed_packets_from_the_broker(cleanup):
    bad = start(
        cleanup,
        BadBroker(
            [
                bytes.fromhex("20 02 00 09"),  # reserved return code
                bytes.fromhex("20 03 00 00 00"),  # CONNACK of 3 bytes
                bytes.fromhex("20 02 00 00 30 FF FF FF FF 01"),  # a five-byte length
                bytes.fromhex("F0 00"),  # reserved packet type
            ]
        ),
    )
    gw = start(cleanup, Gateway(bad.port, "--backoff-ms", 50, "--backoff-cap-ms", 100))
    wait_until(lambda: bad.connections >= 6, 20, "reconnections")
    assert gw.proc.poll() is None
    gw.check_no_traceback()
    lost = gw.lines("W mqtt: connection to 127.0.0.1:%d lost" % bad.port)
    assert len(lost) >= 5, gw.output()
    text = "\n".join(lost)
    for why in ("reserved", "malformed CONNACK", "remaining length over 4 bytes", "type 15"):
        assert why in text, text
