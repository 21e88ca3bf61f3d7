"""MQTT 3.1.1 (OASIS, 2014) in gateway.mqtt, on both runtimes: the packet
encoders and decoder (bytes in, bytes out, in hex), the session state
machine (CONNACK, QoS 1 in flight, keepalive, time-outs), the per-topic rate
limit, the reconnect backoff, and the asyncio client against stand-in
streams (a scripted broker); and the Home Assistant discovery messages of
gateway.homeassistant. The same client against a real broker, run under the
unix port: host_tests/test_mqtt_broker.py.
"""

import asyncio
import json
import unittest

import log
from gateway import homeassistant as ha
from gateway import mqtt
from gateway.mqtt import (
    CONNACK,
    PINGRESP,
    PUBACK,
    PUBLISH,
    SUBACK,
    Backoff,
    Connection,
    ConnectionRefused,
    MqttClient,
    MqttError,
    PacketReader,
    RateLimit,
)
from support import Rng, h, hx

CONNACK_OK = h("20 02 00 00")


def connected(**kw):
    c = Connection("c1", **kw)
    c.start(0)
    c.data_to_send()
    c.receive_data(CONNACK_OK, 0)
    return c


class TestRemainingLength(unittest.TestCase):
    # 2.2.3, Table 2.4: the limits of 1, 2, 3 and 4 bytes
    TABLE = (
        (0, "00"),
        (127, "7F"),
        (128, "80 01"),
        (16383, "FF 7F"),
        (16384, "80 80 01"),
        (2097151, "FF FF 7F"),
        (2097152, "80 80 80 01"),
        (268435455, "FF FF FF 7F"),
    )

    def test_table_2_4(self):
        for n, text in self.TABLE:
            self.assertEqual(hx(mqtt.encode_length(n)), text)
            b = h(text)
            self.assertEqual(mqtt.decode_length(b, 0, len(b)), (n, len(b)))

    def test_decode_at_an_offset_and_incomplete(self):
        b = h("30 80 01 FF")
        self.assertEqual(mqtt.decode_length(b, 1, 4), (128, 3))
        self.assertIsNone(mqtt.decode_length(b, 1, 2))  # continuation, then nothing
        self.assertIsNone(mqtt.decode_length(b, 4, 4))

    def test_five_bytes_refused(self):
        b = h("FF FF FF FF 01")
        with self.assertRaises(MqttError):
            mqtt.decode_length(b, 0, len(b))

    def test_out_of_range(self):
        for n in (-1, 268435456):
            with self.assertRaises(ValueError):
                mqtt.encode_length(n)


class TestEncoders(unittest.TestCase):
    def test_connect_minimal(self):
        # 3.1: protocol name "MQTT", level 4, flags clean session, keepalive 0
        p = mqtt.connect_packet("x", 0)
        self.assertEqual(hx(p), "10 0D 00 04 4D 51 54 54 04 02 00 00 00 01 78")

    def test_connect_with_will_user_and_password(self):
        p = mqtt.connect_packet(
            "c1", 60, username="u", password="p", will=("a/b", "offline", 1, True)
        )
        # flags EE: user name, password, will retain, will QoS 1, will, clean session
        self.assertEqual(
            hx(p),
            "10 22 00 04 4D 51 54 54 04 EE 00 3C 00 02 63 31 00 03 61 2F 62"
            " 00 07 6F 66 66 6C 69 6E 65 00 01 75 00 01 70",
        )

    def test_connect_persistent_session_no_will(self):
        p = mqtt.connect_packet("id", 300, clean_session=False, username="me")
        self.assertEqual(hx(p[8:12]), "04 80 01 2C")

    def test_connect_refusals(self):
        with self.assertRaises(ValueError):
            mqtt.connect_packet("c", 60, password="p")  # 3.1.2.9
        with self.assertRaises(ValueError):
            mqtt.connect_packet("c", 65536)
        with self.assertRaises(ValueError):
            mqtt.connect_packet("c", 60, will=("a/#", "x", 0, False))
        with self.assertRaises(ValueError):
            mqtt.connect_packet("c", 60, will=("a", "x", 3, False))

    def test_publish(self):
        self.assertEqual(hx(mqtt.publish_packet("t", "x")), "30 04 00 01 74 78")
        self.assertEqual(
            hx(mqtt.publish_packet("a/b", b"hi", 1, True, 10)), "33 09 00 03 61 2F 62 00 0A 68 69"
        )
        p = mqtt.publish_packet("a/b", b"hi", 1, False, 0x1234, dup=True)
        self.assertEqual(hx(p[:2]), "3A 09")
        self.assertEqual(hx(p[7:9]), "12 34")

    def test_publish_numbers_as_text(self):
        self.assertEqual(hx(mqtt.publish_packet("t", 5)), "30 04 00 01 74 35")
        self.assertEqual(hx(mqtt.publish_packet("t", 2.5)[5:]), "32 2E 35")

    def test_publish_long_payload_two_length_bytes(self):
        p = mqtt.publish_packet("t", bytes(200))
        self.assertEqual(hx(p[:3]), "30 CB 01")  # 2 + 1 + 200 = 203
        self.assertEqual(len(p), 3 + 203)

    def test_publish_refusals(self):
        for topic in ("", "a/+", "a/#", "a\x00b"):
            with self.assertRaises(ValueError):
                mqtt.publish_packet(topic, "x")
        with self.assertRaises(ValueError):
            mqtt.publish_packet("t", "x", 1)  # a QoS 1 message needs a packet id
        with self.assertRaises(ValueError):
            mqtt.publish_packet("t", "x", 3, packet_id=1)

    def test_subscribe_puback_ping_disconnect(self):
        self.assertEqual(
            hx(mqtt.subscribe_packet(1, "homeassistant/status", 0)),
            "82 19 00 01 00 14 " + hx(b"homeassistant/status") + " 00",
        )
        self.assertEqual(hx(mqtt.puback_packet(7)), "40 02 00 07")
        self.assertEqual(hx(mqtt.PINGREQ_PACKET), "C0 00")
        self.assertEqual(hx(mqtt.DISCONNECT_PACKET), "E0 00")


class TestPacketReader(unittest.TestCase):
    def test_byte_by_byte(self):
        r = PacketReader(64)
        data = h("20 02 00 00 D0 00 40 02 00 07")
        got = []
        for i in range(len(data)):
            got += r.feed(data[i : i + 1])
        self.assertEqual(got, [(2, 0, h("00 00")), (13, 0, b""), (4, 0, h("00 07"))])
        self.assertEqual(len(r.buf), 0)

    def test_several_in_one_and_a_rest(self):
        r = PacketReader(64)
        got = r.feed(h("D0 00 D0 00 30 05 00 01"))
        self.assertEqual(got, [(13, 0, b""), (13, 0, b"")])
        self.assertEqual(hx(r.buf), "30 05 00 01")
        self.assertEqual(r.feed(h("74 78 79")), [(3, 0, h("00 01 74 78 79"))])

    def test_oversized_passed_over_as_it_comes(self):
        # a retained message over the limit must not end every connection:
        # it is skipped, in whatever pieces it comes, and what follows is read
        r = PacketReader(100)
        r.feed(h("30 64"))  # exactly 100: waits for the body
        r.clear()
        big = h("30 F4 03") + bytes(500)  # 500 octets
        got = r.feed(big[:40])
        got += r.feed(big[40:300])
        got += r.feed(big[300:] + h("D0 00"))
        self.assertEqual(got, [(13, 0, b"")])
        self.assertEqual((r.dropped, r.skip, len(r.buf)), (1, 0, 0))
        self.assertEqual(r.feed(h("30 65") + bytes(101) + h("D0 00")), [(13, 0, b"")])
        self.assertEqual(r.dropped, 2)

    def test_bounded_buffer(self):
        # a peer dribbling one huge packet is stopped at its header, so the
        # buffer never holds more than max_packet + header + one read
        r = PacketReader(16)
        r.feed(h("30 10"))
        r.feed(bytes(15))
        self.assertEqual(len(r.buf), 17)
        self.assertEqual(len(r.feed(bytes(1))), 1)
        self.assertEqual(len(r.buf), 0)


class TestParse(unittest.TestCase):
    def test_connack(self):
        self.assertEqual(mqtt.parse(2, 0, h("00 00")), (CONNACK, False, 0))
        self.assertEqual(mqtt.parse(2, 0, h("01 00")), (CONNACK, True, 0))
        self.assertEqual(mqtt.parse(2, 0, h("00 05")), (CONNACK, False, 5))

    def test_malformed_connack(self):
        for body in ("00", "00 00 00", "02 00", "00 06"):
            with self.assertRaises(MqttError):
                mqtt.parse(2, 0, h(body))

    def test_acks_and_pingresp(self):
        self.assertEqual(mqtt.parse(4, 0, h("01 02")), (PUBACK, 0x0102))
        self.assertEqual(mqtt.parse(9, 0, h("00 03 01")), (SUBACK, 3, 1))
        self.assertEqual(mqtt.parse(9, 0, h("00 03 80")), (SUBACK, 3, 0x80))
        self.assertEqual(mqtt.parse(13, 0, b""), (PINGRESP,))

    def test_publish(self):
        body = h("00 03 61 2F 62 00 0A 68 69")
        self.assertEqual(mqtt.parse(3, 0x3, body), (PUBLISH, "a/b", b"hi", 1, True, 10, False))
        self.assertEqual(
            mqtt.parse(3, 0x8, h("00 01 74 78")), (PUBLISH, "t", b"x", 0, False, 0, True)
        )

    def test_malformed(self):
        bad = (
            (4, 0, "00"),  # PUBACK of one byte
            (4, 2, "00 01"),  # reserved flags set (2.2.2)
            (13, 0, "00"),  # PINGRESP with a body
            (9, 0, "00 01 03"),  # SUBACK return code 3
            (3, 6, "00 01 74 00 01"),  # QoS 3
            (3, 2, "00 01 74 00 00"),  # packet id 0
            (3, 2, "00 05 74"),  # topic past the end
            (3, 2, "00 01 74 00"),  # no room for the packet id
            (3, 0, "00"),
        )
        for t, f, body in bad:
            with self.assertRaises(MqttError):
                mqtt.parse(t, f, h(body))

    def test_client_only_and_reserved_types(self):
        for t in (0, 1, 8, 10, 12, 14, 15, 5, 7):
            with self.assertRaises(MqttError):
                mqtt.parse(t, 0, b"")


class TestConnection(unittest.TestCase):
    def test_connect_and_connack(self):
        c = Connection("c1", keepalive=60)
        self.assertFalse(c.can_publish())
        c.start(0)
        self.assertEqual(bytes(c.data_to_send()), bytes(mqtt.connect_packet("c1", 60)))
        self.assertEqual(c.receive_data(h("20 02"), 1), [])
        self.assertEqual(c.receive_data(h("00 00"), 2), [(CONNACK, False, 0)])
        self.assertTrue(c.connected)
        self.assertTrue(c.can_publish(1))

    def test_refused_with_the_return_code(self):
        for code in (1, 2, 3, 4, 5):
            c = Connection("c1")
            c.start(0)
            with self.assertRaises(ConnectionRefused) as cm:
                c.receive_data(bytes((0x20, 2, 0, code)), 1)
            self.assertEqual(cm.exception.code, code)
            self.assertIn(mqtt.REFUSED[code], str(cm.exception))
            self.assertIsInstance(cm.exception, MqttError)

    def test_packets_out_of_order(self):
        c = Connection("c1")
        c.start(0)
        with self.assertRaises(MqttError):
            c.receive_data(h("D0 00"), 1)  # PINGRESP before CONNACK
        c = connected()
        with self.assertRaises(MqttError):
            c.receive_data(CONNACK_OK, 1)  # a second CONNACK

    def test_nothing_read_while_idle(self):
        c = Connection("c1")
        self.assertEqual(c.receive_data(CONNACK_OK, 0), [])

    def test_qos0_and_qos1(self):
        c = connected()
        self.assertEqual(c.publish("t", "x", 0, False, 5), 0)
        self.assertEqual(c.publish("a/b", b"hi", 1, True, 5), 1)
        self.assertEqual(c.publish("a/b", b"hi", 1, True, 5), 2)
        self.assertEqual(
            hx(c.data_to_send()),
            "30 04 00 01 74 78 "
            + "33 09 00 03 61 2F 62 00 01 68 69 33 09 00 03 61 2F 62 00 02 68 69",
        )
        self.assertEqual(sorted(c.inflight), [1, 2])
        self.assertEqual(c.receive_data(h("40 02 00 01"), 6), [(PUBACK, 1)])
        self.assertEqual(list(c.inflight), [2])
        c.receive_data(h("40 02 00 09"), 6)  # unknown id: ignored
        self.assertEqual(list(c.inflight), [2])

    def test_inflight_window(self):
        c = connected(max_inflight=2)
        c.publish("t", "1", 1)
        c.publish("t", "2", 1)
        self.assertFalse(c.can_publish(1))
        self.assertTrue(c.can_publish(0))
        with self.assertRaises(MqttError):
            c.publish("t", "3", 1)
        c.receive_data(h("40 02 00 01"), 1)
        self.assertTrue(c.can_publish(1))
        self.assertEqual(c.publish("t", "3", 1), 3)

    def test_packet_ids_wrap_and_skip_those_in_flight(self):
        c = connected()
        c._pid = 0xFFFE
        self.assertEqual(c.publish("t", "a", 1), 0xFFFF)
        self.assertEqual(c.publish("t", "b", 1), 1)
        c._pid = 0xFFFE
        self.assertEqual(c.publish("t", "c", 1), 2)  # 0xFFFF and 1 in flight

    def test_unacked_sent_again_with_dup_after_reconnect(self):
        c = connected()
        c.publish("a/b", b"hi", 1, True, 0)
        c.publish("t", "x", 0)
        c.data_to_send()
        c.lost()
        self.assertFalse(c.connected)
        self.assertEqual(hx(c.data_to_send()), "")
        c.start(100)
        self.assertEqual(bytes(c.data_to_send())[:1], b"\x10")
        c.receive_data(h("20 02 01 00"), 101)
        self.assertTrue(c.session_present)
        # 3.3.1.1: DUP set on a re-delivery; the QoS 0 one is gone
        self.assertEqual(hx(c.data_to_send()), "3B 09 00 03 61 2F 62 00 01 68 69")
        c.receive_data(h("40 02 00 01"), 102)
        self.assertEqual(c.inflight, {})

    def test_message_over_max_packet(self):
        c = connected(max_packet=64)
        c.publish("t", bytes(61))
        with self.assertRaises(ValueError):
            c.publish("t", bytes(62))
        with self.assertRaises(ValueError):
            c.publish("t", "x", 2)

    def test_keepalive_pingreq_and_pingresp(self):
        c = connected(keepalive=10, response_ms=2000)
        c.poll(9999)
        self.assertEqual(hx(c.data_to_send()), "")
        c.poll(10000)
        self.assertEqual(hx(c.data_to_send()), "C0 00")
        c.poll(11000)
        self.assertEqual(hx(c.data_to_send()), "")  # one at a time
        c.receive_data(h("D0 00"), 11500)
        c.poll(12000)
        self.assertEqual(hx(c.data_to_send()), "")

    def test_ping_while_only_sending(self):
        # QoS 0 traffic out, nothing in: a dead broker is found by a ping
        c = connected(keepalive=10)
        for t in range(0, 10001, 1000):
            c.publish("t", "x", 0, False, t)
            c.poll(t)
        self.assertTrue(bytes(c.data_to_send()).endswith(mqtt.PINGREQ_PACKET))

    def test_pingresp_late(self):
        c = connected(keepalive=10, response_ms=2000)
        c.poll(10000)
        c.poll(12000)
        with self.assertRaises(MqttError):
            c.poll(12001)

    def test_keepalive_zero_never_pings(self):
        c = connected(keepalive=0)
        c.poll(10**8)
        self.assertEqual(hx(c.data_to_send()), "")

    def test_connack_late(self):
        c = Connection("c1", response_ms=500)
        c.start(1000)
        c.poll(1500)
        with self.assertRaises(MqttError):
            c.poll(1501)

    def test_incoming_qos1_publish_acked(self):
        c = connected()
        ev = c.receive_data(h("32 0D 00 03 61 2F 62 00 05 6F 6E 6C 69 6E 65"), 1)
        self.assertEqual(ev, [(PUBLISH, "a/b", b"online", 1, False, 5, False)])
        self.assertEqual(hx(c.data_to_send()), "40 02 00 05")
        with self.assertRaises(MqttError):
            c.receive_data(h("34 06 00 01 74 00 01 78"), 2)  # QoS 2

    def test_subscribe_and_disconnect(self):
        c = Connection("c1")
        with self.assertRaises(MqttError):
            c.subscribe("x")
        c = connected()
        self.assertEqual(c.subscribe("s/#", 1), 1)
        self.assertEqual(hx(c.data_to_send()), "82 08 00 01 00 03 73 2F 23 01")
        self.assertEqual(c.receive_data(h("90 03 00 01 01"), 1), [(SUBACK, 1, 1)])
        c.disconnect()
        self.assertEqual(hx(c.data_to_send()), "E0 00")
        self.assertEqual(c.state, mqtt.CLOSED)
        self.assertEqual(c.receive_data(h("D0 00"), 2), [])

    def test_random_bytes_only_ever_raise_mqtt_error(self):
        rng = Rng(7)
        for _ in range(300):
            c = connected(max_packet=64)
            data = bytes([(0x30, 0x40, 0xD0, 0x20, 0x90)[rng.below(5)]])
            data += rng.bytes(rng.below(40))
            try:
                for i in range(0, len(data), 3):
                    c.receive_data(data[i : i + 3], i)
            except MqttError:
                pass


class TestRateLimit(unittest.TestCase):
    def test_first_at_once_then_one_per_interval_latest_wins(self):
        r = RateLimit(1000)
        r.offer("a", "1")
        self.assertEqual(r.due(0), "a")
        self.assertEqual(r.take("a", 0), ("1", 0, False))
        self.assertIsNone(r.due(0))
        r.offer("a", "2")
        r.offer("a", "3")
        self.assertIsNone(r.due(999))
        self.assertEqual(r.wait_ms(400), 600)
        self.assertEqual(r.due(1000), "a")
        self.assertEqual(r.take("a", 1000), ("3", 0, False))
        self.assertIsNone(r.wait_ms(1000))

    def test_topics_are_independent(self):
        r = RateLimit(1000)
        r.offer("a", "1")
        r.take("a", 0)
        r.offer("a", "2")
        r.offer("b", "1", 1, True)
        self.assertEqual(r.due(10), "b")
        self.assertEqual(r.take("b", 10), ("1", 1, True))
        self.assertIsNone(r.due(10))
        self.assertEqual(r.due(1000), "a")

    def test_forget_and_bounds(self):
        r = RateLimit(1000, max_topics=2)
        self.assertTrue(r.offer("a", "1"))
        self.assertTrue(r.offer("b", "1"))
        self.assertFalse(r.offer("c", "1"))
        self.assertTrue(r.offer("a", "2"))  # a known topic still takes values
        r.take("a", 0)
        r.take("b", 0)
        self.assertFalse(r.offer("c", "1"))
        r.forget(999)
        self.assertEqual(len(r.last), 2)
        r.forget(1000)
        self.assertEqual(r.last, {})
        self.assertTrue(r.offer("c", "1"))
        self.assertEqual(r.due(1000), "c")

    def test_zero_interval(self):
        r = RateLimit(0)
        r.offer("a", "1")
        r.take("a", 5)
        r.offer("a", "2")
        self.assertEqual(r.due(5), "a")


class TestBackoff(unittest.TestCase):
    def test_doubles_up_to_the_cap_and_resets(self):
        b = Backoff(500, 4000, jitter=0)
        self.assertEqual([b.next() for _ in range(6)], [500, 1000, 2000, 4000, 4000, 4000])
        b.reset()
        self.assertEqual(b.next(), 500)

    def test_jitter(self):
        b = Backoff(1000, 8000, jitter=0.25, rand=lambda n: n - 1)
        self.assertEqual([b.next() for _ in range(5)], [1250, 2500, 5000, 10000, 10000])
        b = Backoff(1000, 8000)
        for _ in range(20):
            d = b.next()
            self.assertTrue(1000 <= d <= 10000, d)
        self.assertEqual(mqtt.random_below(0), 0)


# -- the asyncio client, against a scripted broker on stand-in streams ---------------------


class FakeStream:
    """Both ends of one connection: the client reads what the broker
    script puts in ``incoming`` and writes into the broker."""

    def __init__(self, broker):
        self.broker = broker
        self.incoming = []
        self.closed = False
        self.reader = PacketReader(4096)
        self.packets = []  # (type, flags, body) the client sent

    async def read(self, n):
        while not self.incoming:
            if self.closed:
                return b""
            await asyncio.sleep(0.002)
        return self.incoming.pop(0)

    def write(self, data):
        for p in self.reader.feed(bytes(data)):
            self.packets.append(p)
            self.broker.answer(self, p)

    async def drain(self):
        pass

    def close(self):
        self.closed = True

    async def wait_closed(self):
        pass


class FakeBroker:
    """asyncio.open_connection stand-in. ``connacks``: what to answer each
    CONNECT with, in turn (hex; the last one repeats); ``refuse``: how many
    connects fail first. Acks QoS 1, answers pings."""

    def __init__(self, connacks=("20 02 00 00",), refuse=0, puback=True):
        self.connacks = list(connacks)
        self.refuse = refuse
        self.puback = puback
        self.streams = []

    async def __call__(self, host, port):
        if self.refuse:
            self.refuse -= 1
            raise OSError(111)
        s = FakeStream(self)
        self.streams.append(s)
        return s, s

    def answer(self, s, p):
        t, flags, body = p
        if t == 1:
            reply = self.connacks[0] if len(self.connacks) == 1 else self.connacks.pop(0)
            s.incoming.append(h(reply))
        elif t == 3 and flags & 6 and self.puback:
            s.incoming.append(mqtt.puback_packet((body[2 + body[1]] << 8) | body[3 + body[1]]))
        elif t == 12:
            s.incoming.append(h("D0 00"))

    def published(self, i=None):
        """(topic, payload, flags) of the PUBLISH packets, of stream i or all."""
        out = []
        for s in self.streams if i is None else [self.streams[i]]:
            for t, flags, body in s.packets:
                if t == 3:
                    ev = mqtt.parse(t, flags, body)
                    out.append((ev[1], bytes(ev[2]), flags))
        return out


def client(broker, **kw):
    kw.setdefault("tick_ms", 2)
    kw.setdefault("backoff_ms", (5, 20))
    kw.setdefault("response_ms", 500)
    return MqttClient("broker", 1883, client_id="gw", connect=broker, **kw)


def steps(*pairs):
    """A condition for run_until that goes through (predicate, action)
    pairs: each action runs once its predicate holds; met after the last."""
    todo = list(pairs)

    def cond():
        while todo and todo[0][0]():
            todo.pop(0)[1]()
        return not todo

    return cond


BIRTH = h("30 1C 00 14") + b"homeassistant/status" + b"online"


def run_until(c, cond, limit_ms=3000):
    """Run the client until ``cond()`` holds (or the time limit), then stop
    it; True if the condition was met. run() must end by itself."""

    async def main():
        task = asyncio.create_task(c.run())
        met = False
        for _ in range(limit_ms // 5):
            if cond():
                met = True
                break
            await asyncio.sleep(0.005)
        c.stop()
        for _ in range(400):
            if task.done():
                break
            await asyncio.sleep(0.005)
        return met, task.done()

    met, done = asyncio.run(main())
    if not done:
        raise AssertionError("run() did not end after stop()")
    return met


class TestMqttClient(unittest.TestCase):
    def setUp(self):
        del log.last_errors[:]

    def test_connect_publish_and_clean_stop(self):
        b = FakeBroker()
        seen = []
        c = client(b, will=("gw/avail", "offline", 1, True), on_connect=lambda cl: seen.append(1))
        c.publish("gw/avail", "online", 1, True)
        c.publish("gw/x", "1")
        self.assertTrue(run_until(c, lambda: c.connected and c.idle()))
        self.assertEqual(seen, [1])
        s = b.streams[0]
        self.assertEqual(s.packets[0][0], 1)
        self.assertEqual(b.published(), [("gw/avail", b"online", 3), ("gw/x", b"1", 0)])
        self.assertEqual(s.packets[-1], (14, 0, b""))  # DISCONNECT last
        self.assertTrue(s.closed)
        self.assertEqual(len(b.streams), 1)

    def test_refused_connections_back_off(self):
        b = FakeBroker(refuse=4)
        c = client(b)
        c.backoff.jitter = 0
        self.assertTrue(run_until(c, lambda: c.connected))
        self.assertEqual(len(b.streams), 1)
        self.assertEqual(c.backoff.delay, 5)  # reset by the CONNACK
        self.assertTrue(any("no connection" in e for e in log.last_errors))

    def test_connack_refused_logged_and_retried(self):
        b = FakeBroker(connacks=("20 02 00 04", "20 02 00 05", "20 02 00 00"))
        c = client(b)
        c.backoff.jitter = 0
        self.assertTrue(run_until(c, lambda: c.connected))
        self.assertEqual(len(b.streams), 3)
        self.assertTrue(any("bad user name or password" in e for e in log.last_errors))
        self.assertTrue(any("not authorized" in e for e in log.last_errors))
        self.assertEqual(c.connects, 1)

    def test_malformed_packet_closes_and_reconnects(self):
        # a CONNACK with a reserved return code, then garbage, then a good one
        b = FakeBroker(connacks=("20 02 00 09", "20 03 00 00 00", "F0 00", "20 02 00 00"))
        c = client(b)
        c.publish("t", "after")
        self.assertTrue(run_until(c, lambda: c.connected and c.idle()))
        self.assertEqual(len(b.streams), 4)
        for s in b.streams:
            self.assertTrue(s.closed)
        self.assertEqual(b.published(3), [("t", b"after", 0)])
        self.assertEqual(len([e for e in log.last_errors if "lost" in e]), 3)

    def test_a_broker_that_stops_reading_is_left(self):
        # the socket's send buffer full: drain waits, and must not wait for
        # ever (no keepalive check would run meanwhile)
        b = FakeBroker()

        async def stuck():
            await asyncio.sleep(3600)

        def stop_reading():
            b.streams[0].drain = stuck
            c.publish("t", "x")

        c = client(b, keepalive=1, response_ms=300)
        cond = steps(
            (lambda: c.connected, stop_reading),
            (lambda: len(b.streams) == 2, lambda: None),
        )
        self.assertTrue(run_until(c, cond, 8000))
        self.assertTrue(any("has read nothing" in e for e in log.last_errors))

    def test_broker_closing_reconnects_and_resends_qos1(self):
        b = FakeBroker(puback=False)
        c = client(b)
        c.publish("q", "1", 1)

        def broker_goes_away():
            b.puback = True
            b.streams[0].closed = True

        cond = steps(
            (lambda: b.published() and c.conn.inflight, broker_goes_away),
            (lambda: len(b.streams) == 2 and c.idle(), lambda: None),
        )
        self.assertTrue(run_until(c, cond))
        self.assertEqual(b.published(0), [("q", b"1", 2)])
        self.assertEqual(b.published(1), [("q", b"1", 2 | 8)])  # DUP
        self.assertTrue(any("closed by the broker" in e for e in log.last_errors))

    def test_state_rate_limit_latest_wins(self):
        b = FakeBroker()
        c = client(b, min_interval_ms=60000)
        for v in ("1", "2", "3"):
            c.publish_state("s/a", v)
        c.publish_state("s/b", "x")
        self.assertTrue(run_until(c, lambda: len(b.published()) == 2))
        self.assertEqual(sorted(b.published()), [("s/a", b"3", 0), ("s/b", b"x", 0)])
        c.publish_state("s/a", "4")
        c.publish_state("s/a", "5")
        run_until(c, lambda: False, 100)
        self.assertEqual(len(b.published()), 2)  # within the minute: held
        self.assertEqual(c.limit.pending["s/a"], ("5", 0, False))

    def test_stop_before_run(self):
        b = FakeBroker()
        c = client(b)
        c.stop()
        asyncio.run(c.run())
        self.assertEqual(b.streams, [])
        self.assertFalse(c.stopping)  # the next run() connects

    def test_bounded_queue_drops_oldest(self):
        c = client(FakeBroker(refuse=100), max_queue=3)
        for i in range(5):
            c.publish("t", str(i))
        self.assertEqual([m[1] for m in c.queue], ["2", "3", "4"])
        self.assertEqual(c.dropped, 2)
        with self.assertRaises(ValueError):
            c.publish("t/#", "x")

    def test_callback_errors_do_not_escape(self):
        def boom(cl):
            raise RuntimeError("boom")

        b = FakeBroker()
        c = client(b, on_connect=boom)
        c.publish("t", "1")
        self.assertTrue(run_until(c, lambda: c.connected and c.idle()))
        self.assertTrue(any("boom" in e for e in log.last_errors))

    def test_subscriptions_made_again_after_reconnect(self):
        b = FakeBroker()
        got = []
        c = client(b, on_message=lambda t, p: got.append((t, bytes(p))))
        c.subscribe("homeassistant/status")

        def message_then_close():
            b.streams[0].incoming.append(BIRTH)
            b.streams[0].incoming.append(b"")  # EOF

        cond = steps(
            (lambda: c.connected, message_then_close),
            (lambda: len(b.streams) == 2 and c.connected, lambda: None),
        )
        self.assertTrue(run_until(c, cond))
        for s in b.streams:
            self.assertEqual([p[0] for p in s.packets][:2], [1, 8])
        self.assertEqual(got, [("homeassistant/status", b"online")])


# -- Home Assistant discovery ----------------------------------------------------------------

DEVICE = {
    "id": "gw-01",
    "name": "Kitchen meter",
    "manufacturer": "Acme",
    "model": "E350",
    "sw_version": "1.2",
}


class TestHomeAssistant(unittest.TestCase):
    def disc(self, sensors):
        return ha.Discovery(DEVICE, sensors)

    def test_energy_config(self):
        d = self.disc({"1-0:1.8.1": "kWh"})
        ((topic, payload),) = list(d.config_messages())
        self.assertEqual(topic, "homeassistant/sensor/gw-01/1_0_1_8_1/config")
        c = json.loads(payload)
        self.assertEqual(
            c,
            {
                "name": "Energy import tariff 1",
                "unique_id": "gw-01_1_0_1_8_1",
                "state_topic": "mpdlms/gw-01/1_0_1_8_1/state",
                "availability_topic": "mpdlms/gw-01/availability",
                "payload_available": "online",
                "payload_not_available": "offline",
                "device_class": "energy",
                "state_class": "total_increasing",
                "unit_of_measurement": "kWh",
                "device": {
                    "identifiers": ["gw-01"],
                    "name": "Kitchen meter",
                    "manufacturer": "Acme",
                    "model": "E350",
                    "sw_version": "1.2",
                },
                "origin": {"name": "mpdlms"},
            },
        )

    def classes(self, code, unit, **kw):
        kw["obis"] = code
        kw["unit"] = unit
        c = self.disc([kw]).config(self.disc([kw]).sensors[0])
        return (
            c["name"],
            c.get("device_class"),
            c.get("state_class"),
            c.get("unit_of_measurement"),
        )

    def test_table(self):
        E, P = "energy", "power"
        T, M = "total_increasing", "measurement"
        cases = (
            ("1-0:1.8.0", "kWh", ("Energy import", E, T, "kWh")),
            ("1-0:1.8.2", "Wh", ("Energy import tariff 2", E, T, "Wh")),
            ("1-0:2.8.1", "kWh", ("Energy export tariff 1", E, T, "kWh")),
            ("1-0:1.7.0", "kW", ("Power import", P, M, "kW")),
            ("1-0:2.7.0", "W", ("Power export", P, M, "W")),
            ("1-0:21.7.0", "kW", ("Power import L1", P, M, "kW")),
            ("1-0:62.7.0", "kW", ("Power export L3", P, M, "kW")),
            ("1-0:32.7.0", "V", ("Voltage L1", "voltage", M, "V")),
            ("1-0:52.7.0", "V", ("Voltage L2", "voltage", M, "V")),
            ("1-0:72.7.0", "V", ("Voltage L3", "voltage", M, "V")),
            ("1-0:31.7.0", "A", ("Current L1", "current", M, "A")),
            ("1-0:51.7.0", "A", ("Current L2", "current", M, "A")),
            ("1-0:71.7.0", "A", ("Current L3", "current", M, "A")),
            ("1-0:14.7.0", "Hz", ("Frequency", "frequency", M, "Hz")),
            ("1-0:13.7.0", None, ("Power factor", "power_factor", M, None)),
            ("1-0:3.8.0", "kvarh", ("Reactive energy import", "reactive_energy", T, "kvarh")),
            ("1-0:3.7.0", "kvar", ("Reactive power import", "reactive_power", M, "kvar")),
            ("1-0:9.7.0", "kVA", ("Apparent power import", "apparent_power", M, "kVA")),
            ("1-0:32.32.0", None, ("Voltage sags L1", None, T, None)),
            ("0-0:96.7.21", None, ("Power failures", None, T, None)),
            ("0-0:96.14.0", None, ("Tariff", None, None, None)),
            ("0-1:24.2.1", "m3", ("Gas", "gas", T, "m³")),
            ("0-2:24.2.1", "m3", ("Gas 2", "gas", T, "m³")),
            ("7-0:3.0.0", 14, ("Gas volume", "gas", T, "m³")),
            ("8-0:1.0.0", "m3", ("8-0:1.0.0", "water", T, "m³")),
            ("1-0:99.7.0", "kWh", ("1-0:99.7.0", E, T, "kWh")),  # not in the table
            ("1-0:99.7.1", "GJ", ("1-0:99.7.1", E, T, "GJ")),
            ("0-0:99.1.0", "furlong", ("0-0:99.1.0", None, None, "furlong")),
        )
        for code, unit, want in cases:
            self.assertEqual(self.classes(code, unit), want, code)

    def test_mbus_medium_and_device_type(self):
        self.assertEqual(
            self.classes("0-3:24.2.1", "m3", medium="water"),
            ("Water 3", "water", "total_increasing", "m³"),
        )
        self.assertEqual(self.classes("0-1:24.2.1", "GJ")[:2], ("Heat", "energy"))
        d = self.disc([("0-1:24.1.0", None)])
        self.assertEqual(d.config(d.sensors[0])["entity_category"], "diagnostic")

    def test_dlms_unit_enums_and_scaler(self):
        d = self.disc([{"obis": "1.0.1.8.0.255", "unit": 30, "scaler": -3}, ("1-0:1.7.0", 27)])
        c = d.config(d.sensors[0])
        self.assertEqual((c["unit_of_measurement"], c["suggested_display_precision"]), ("Wh", 3))
        self.assertEqual(d.config(d.sensors[1])["device_class"], "power")
        self.assertEqual(
            d.state("1-0:1.8.0", 1234567), ("mpdlms/gw-01/1_0_1_8_0/state", "1234.567")
        )
        self.assertEqual(d.state("1.0.1.7.0.255", 1.5)[1], "1.5")

    def test_format_scaled(self):
        cases = ((1234567, -3, "1234.567"), (5, -3, "0.005"), (-5, -1, "-0.5"), (0, -2, "0.00"))
        for v, s, want in cases + ((-1234, 0, "-1234"), (12, 2, "1200")):
            self.assertEqual(ha.format_scaled(v, s), want)

    def test_names_ids_and_topics(self):
        d = ha.Discovery(
            {"id": "meter 7/a+b", "name": ""},
            [{"obis": "1-0:1.8.0*96", "unit": "kWh", "name": "Yesterday"}],
            prefix="ha",
            base="p1",
        )
        s = d.sensors[0]
        self.assertEqual(d.node, "meter_7_a_b")
        self.assertEqual(d.config_topic(s), "ha/sensor/meter_7_a_b/1_0_1_8_0_96/config")
        self.assertEqual(d.state_topic(s), "p1/meter_7_a_b/1_0_1_8_0_96/state")
        c = d.config(s)
        self.assertEqual((c["name"], c["device"]["name"]), ("Yesterday", "meter 7/a+b"))
        self.assertEqual(d.will(), ("p1/meter_7_a_b/availability", "offline", 1, True))
        self.assertEqual(list(d.removal_messages()), [(d.config_topic(s), "")])
        with self.assertRaises(KeyError):
            d.sensor("1-0:1.8.0")

    def test_attached_to_a_client(self):
        b = FakeBroker()
        d = self.disc([("1-0:1.8.0", "kWh"), ("1-0:1.7.0", "kW")])
        c = client(b, will=d.will(), min_interval_ms=60000)
        d.attach(c)
        d.publish_state("1-0:1.8.0", 10)
        d.publish_state("1-0:1.8.0", 11)
        cond = steps(
            (lambda: c.connected and c.idle(), lambda: b.streams[0].incoming.append(BIRTH)),
            (lambda: len(b.published()) == 7, lambda: None),
        )
        self.assertTrue(run_until(c, cond))
        self.assertEqual(len(b.streams), 1)
        got = b.published()
        self.assertEqual(
            [(t, f) for t, _, f in got[:3]],
            [
                ("homeassistant/sensor/gw-01/1_0_1_8_0/config", 3),
                ("homeassistant/sensor/gw-01/1_0_1_7_0/config", 3),
                ("mpdlms/gw-01/availability", 3),
            ],
        )
        self.assertEqual(got[3], ("mpdlms/gw-01/1_0_1_8_0/state", b"11", 0))
        # Home Assistant's birth message brought the configs and "online" again
        self.assertEqual(got[4:], got[:3])
