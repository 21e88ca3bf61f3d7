"""MQTT 3.1.1 client (OASIS MQTT Version 3.1.1, 2014): a sans-IO core and an
asyncio transport, for the gateway's output.

Sans-IO (bytes in, events and bytes out; time passed in as ticks_ms):

- ``encode_length`` / ``decode_length``: the remaining length (2.2.3).
- ``connect_packet``, ``publish_packet``, ``subscribe_packet``,
  ``puback_packet``, ``PINGREQ_PACKET``, ``DISCONNECT_PACKET``: encoders.
- ``PacketReader``: bytes from the broker into (type, flags, body) packets,
  with a bounded buffer; ``parse`` turns one into an event tuple.
- ``Connection``: the client's session across TCP connections: CONNECT and
  the CONNACK check, QoS 1 packet ids and in-flight messages (sent again
  after the next CONNACK, 4.4), keepalive PINGREQ (3.1.2.10) and the
  response time-outs. Every protocol violation raises ``MqttError``.
- ``RateLimit``: a minimum interval per topic, the latest value winning.
- ``Backoff``: reconnect delays, doubling up to a cap, with jitter.

asyncio (``MqttClient``): connects with ``asyncio.open_connection``, calls
``on_connect`` after each CONNACK, sends queued and rate-limited messages,
and on any error (refused, malformed packet, time-out, lost socket) closes
the connection (4.8: on a protocol violation the client closes the network
connection), logs it and reconnects after a backoff. Nothing escapes
``run()`` but cancellation and Ctrl-C.
"""

import asyncio
import os

import log
from compat import bounded, const, ticks_diff, ticks_ms

# Control packet types (2.2.1, Table 2.1)
CONNECT = const(1)
CONNACK = const(2)
PUBLISH = const(3)
PUBACK = const(4)
PUBREC = const(5)
PUBREL = const(6)
PUBCOMP = const(7)
SUBSCRIBE = const(8)
SUBACK = const(9)
UNSUBSCRIBE = const(10)
UNSUBACK = const(11)
PINGREQ = const(12)
PINGRESP = const(13)
DISCONNECT = const(14)

MAX_LENGTH = const(268435455)  # four length bytes (2.2.3)
PINGREQ_PACKET = b"\xc0\x00"
DISCONNECT_PACKET = b"\xe0\x00"

# CONNACK return codes (3.2.2.3, Table 3.1)
REFUSED = {
    1: "unacceptable protocol version",
    2: "identifier rejected",
    3: "server unavailable",
    4: "bad user name or password",
    5: "not authorized",
}

# Connection states
IDLE = const(0)  # no network connection
CONNECTING = const(1)  # CONNECT sent, waiting for CONNACK
CONNECTED = const(2)
CLOSED = const(3)  # DISCONNECT sent


class MqttError(Exception):
    """Malformed bytes, a protocol violation or a time-out: the connection
    is closed (4.8) and made again."""


class ConnectionRefused(MqttError):
    """A CONNACK with a non-zero return code (3.2.2.3); ``code`` is it."""

    def __init__(self, code):
        super().__init__("connection refused: %d (%s)" % (code, REFUSED.get(code, "reserved")))
        self.code = code


# -- encoding -----------------------------------------------------------------------------


def encode_length(n):
    """The remaining length (2.2.3): 7 bits a byte, low first, 1 to 4 bytes."""
    if n < 0 or n > MAX_LENGTH:
        raise ValueError("remaining length %d" % n)
    out = bytearray()
    while True:
        b = n & 0x7F
        n >>= 7
        if n:
            out.append(b | 0x80)
        else:
            out.append(b)
            return bytes(out)


def decode_length(buf, i, end):
    """(length, index after it) from ``buf[i:end]``, or None when the bytes
    end first; MqttError when a fourth byte still has its continuation bit."""
    n = 0
    shift = 0
    for k in range(4):
        if i + k >= end:
            return None
        b = buf[i + k]
        n |= (b & 0x7F) << shift
        if not b & 0x80:
            return n, i + k + 1
        shift += 7
    raise MqttError("remaining length over 4 bytes")


def _bytes(s):
    # str as UTF-8, numbers as their text (a payload of 5 is "5", not 5 zeros)
    if isinstance(s, (int, float)):
        s = str(s)
    if isinstance(s, str):
        return s.encode()
    return bytes(s)


def _string(s):
    # UTF-8 encoded string (1.5.3): two length bytes, then the bytes
    b = _bytes(s)
    if len(b) > 0xFFFF:
        raise ValueError("string of %d bytes" % len(b))
    return len(b).to_bytes(2, "big") + b


def _packet(first, *parts):
    n = 0
    for p in parts:
        n += len(p)
    out = bytearray()
    out.append(first)
    out += encode_length(n)
    for p in parts:
        out += p
    return out


def check_topic(topic):
    """A topic name to publish to (4.7.1, 4.7.3): not empty, no wildcard,
    no U+0000. Returns it as bytes."""
    t = _bytes(topic)
    if not t or b"+" in t or b"#" in t or b"\x00" in t:
        raise ValueError("bad topic name %r" % (topic,))
    return t


def connect_packet(
    client_id, keepalive=60, clean_session=True, username=None, password=None, will=None
):
    """CONNECT (3.1). ``will``: (topic, payload, qos, retain) or None."""
    flags = 0x02 if clean_session else 0
    parts = [_string(client_id)]
    if will is not None:
        topic, payload, qos, retain = will
        if qos not in (0, 1, 2):
            raise ValueError("will QoS %r" % qos)
        flags |= 0x04 | (qos << 3) | (0x20 if retain else 0)
        parts.append(_string(check_topic(topic)))
        parts.append(_string(payload))
    if username is not None:
        flags |= 0x80
        parts.append(_string(username))
    if password is not None:
        if username is None:
            raise ValueError("a password needs a user name (3.1.2.9)")
        flags |= 0x40
        parts.append(_string(password))
    if not 0 <= keepalive <= 0xFFFF:
        raise ValueError("keepalive %r" % keepalive)
    head = b"\x00\x04MQTT\x04" + bytes((flags, keepalive >> 8, keepalive & 0xFF))
    return _packet(CONNECT << 4, head, *parts)


def publish_packet(topic, payload, qos=0, retain=False, packet_id=0, dup=False):
    """PUBLISH (3.3): a packet id for QoS 1 and 2 only."""
    if qos not in (0, 1, 2):
        raise ValueError("QoS %r" % qos)
    first = (PUBLISH << 4) | (qos << 1) | (0x08 if dup else 0) | (0x01 if retain else 0)
    head = _string(check_topic(topic))
    if qos:
        if not 0 < packet_id <= 0xFFFF:
            raise ValueError("packet id %r" % packet_id)
        head += packet_id.to_bytes(2, "big")
    return _packet(first, head, _bytes(payload))


def subscribe_packet(packet_id, topic, qos=0):
    """SUBSCRIBE (3.8) with one topic filter; the fixed header flags are 0010."""
    t = _bytes(topic)
    if not t:
        raise ValueError("empty topic filter")
    return _packet((SUBSCRIBE << 4) | 0x02, packet_id.to_bytes(2, "big"), _string(t), bytes((qos,)))


def puback_packet(packet_id):
    return bytes((PUBACK << 4, 2, packet_id >> 8, packet_id & 0xFF))


# -- decoding -----------------------------------------------------------------------------


class PacketReader:
    """Splits the broker's bytes into packets. The buffer holds at most one
    incomplete packet of at most ``max_packet`` bytes of remaining length
    (plus the bytes of one ``feed``): a longer one is refused as it starts."""

    def __init__(self, max_packet):
        self.max_packet = max_packet
        self.buf = bytearray()
        self.skip = 0  # octets of a packet over the limit still to pass over
        self.dropped = 0  # packets over the limit passed over

    def clear(self):
        self.buf = bytearray()
        self.skip = 0

    def feed(self, data):
        """Append ``data``; returns the complete packets as (type, flags, body).
        A packet over ``max_packet`` is passed over as it comes, never held
        (the connection goes on: a retained one would otherwise end every
        connection; the gateway subscribes at QoS 0, so nothing to PUBACK)."""
        if self.skip:
            k = min(self.skip, len(data))
            self.skip -= k
            data = memoryview(data)[k:]
        buf = self.buf
        buf += data
        packets = []
        i = 0
        end = len(buf)
        while i < end:
            r = decode_length(buf, i + 1, end)
            if r is None:
                break
            n, start = r
            if n > self.max_packet:
                self.dropped += 1
                log.warning(
                    "mqtt: packet of %d bytes over the limit of %d dropped", n, self.max_packet
                )
                if start + n > end:
                    self.skip = start + n - end
                    i = end
                    break
                i = start + n
                continue
            if start + n > end:
                break
            packets.append((buf[i] >> 4, buf[i] & 0x0F, bytes(buf[start : start + n])))
            i = start + n
        if i:
            self.buf = buf[i:]
        return packets


def _u16(body, i):
    return (body[i] << 8) | body[i + 1]


def parse(ptype, flags, body):
    """One packet from the broker as an event tuple (its type first):
    (CONNACK, session_present, return_code), (PUBACK, packet_id),
    (SUBACK, packet_id, granted_qos), (UNSUBACK, packet_id), (PINGRESP,),
    (PUBLISH, topic, payload, qos, retain, packet_id, dup).
    MqttError for anything a server must not send or that is malformed."""
    n = len(body)
    if ptype == PUBLISH:
        qos = (flags >> 1) & 3
        if qos == 3:
            raise MqttError("PUBLISH with QoS 3 (3.3.1.2)")
        if n < 2:
            raise MqttError("PUBLISH too short")
        tl = _u16(body, 0)
        i = 2 + tl
        if i + (2 if qos else 0) > n:
            raise MqttError("PUBLISH topic past the packet")
        try:
            topic = body[2:i].decode()
        except UnicodeError:
            raise MqttError("PUBLISH topic not UTF-8")
        pid = 0
        if qos:
            pid = _u16(body, i)
            i += 2
            if pid == 0:
                raise MqttError("PUBLISH packet id 0 (2.3.1)")
        return (PUBLISH, topic, body[i:], qos, bool(flags & 1), pid, bool(flags & 8))
    if flags != 0 and ptype != PUBREL:
        raise MqttError("packet type %d with flags %d (2.2.2)" % (ptype, flags))
    if ptype == CONNACK:
        if n != 2 or body[0] & 0xFE:
            raise MqttError("malformed CONNACK")
        if body[1] > 5:
            raise MqttError("CONNACK return code %d (reserved)" % body[1])
        return (CONNACK, bool(body[0] & 1), body[1])
    if ptype in (PUBACK, UNSUBACK):
        if n != 2:
            raise MqttError("malformed packet type %d" % ptype)
        return (ptype, _u16(body, 0))
    if ptype == SUBACK:
        if n != 3 or body[2] not in (0, 1, 2, 0x80):
            raise MqttError("malformed SUBACK")
        return (SUBACK, _u16(body, 0), body[2])
    if ptype == PINGRESP:
        if n:
            raise MqttError("malformed PINGRESP")
        return (PINGRESP,)
    raise MqttError("packet type %d not expected from a server" % ptype)


# -- the session ----------------------------------------------------------------------------


class Connection:
    """One client's MQTT session, over as many network connections as it
    takes. ``start(now)`` begins a connection (CONNECT queued),
    ``receive_data(data, now)`` returns events, ``poll(now)`` runs the
    timers, ``data_to_send()`` hands out the bytes to write, ``lost()``
    says the network connection is gone. QoS 1 messages stay in flight until
    their PUBACK, and are sent again (DUP set) after the next CONNACK.

    ``will``: (topic, payload, qos, retain). ``response_ms``: how long a
    CONNACK or PINGRESP may take. ``max_packet``: the largest packet either
    way (remaining length). ``max_inflight``: QoS 1 messages not yet acked."""

    def __init__(
        self,
        client_id,
        keepalive=60,
        clean_session=True,
        username=None,
        password=None,
        will=None,
        max_packet=2048,
        max_inflight=4,
        response_ms=10000,
    ):
        self.connect = connect_packet(client_id, keepalive, clean_session, username, password, will)
        self.keepalive_ms = keepalive * 1000
        self.max_packet = max_packet
        self.max_inflight = max_inflight
        self.response_ms = response_ms
        self.reader = PacketReader(max_packet)
        self.state = IDLE
        self.inflight = {}  # packet id -> the PUBLISH packet (bytearray)
        self.session_present = False
        self._pid = 0
        self._out = bytearray()
        self._started = 0
        self._last_in = 0
        self._last_out = 0
        self._ping = None  # ticks of an unanswered PINGREQ

    @property
    def connected(self):
        return self.state == CONNECTED

    def start(self, now):
        """A new network connection: CONNECT goes first."""
        self.reader.clear()
        self._out = bytearray(self.connect)
        self.state = CONNECTING
        self._started = self._last_in = self._last_out = now
        self._ping = None

    def lost(self):
        """The network connection is gone; in-flight messages are kept."""
        if self.state != CLOSED:
            self.state = IDLE
        self._out = bytearray()
        self.reader.clear()

    def disconnect(self):
        """DISCONNECT (3.14): the broker drops the will."""
        if self.state == CONNECTED:
            self._out += DISCONNECT_PACKET
        self.state = CLOSED

    def data_to_send(self):
        out = self._out
        if out:
            self._out = bytearray()
        return out

    def pending_out(self):
        return len(self._out)

    def can_publish(self, qos=0):
        return self.state == CONNECTED and (qos == 0 or len(self.inflight) < self.max_inflight)

    def _next_pid(self):
        for _ in range(0x10000):
            self._pid = self._pid % 0xFFFF + 1
            if self._pid not in self.inflight:
                return self._pid
        raise MqttError("no free packet id")

    def _send(self, packet, now):
        self._out += packet
        self._last_out = now

    def publish(self, topic, payload, qos=0, retain=False, now=0):
        """Queue a PUBLISH; returns its packet id (0 for QoS 0). QoS 2 is
        not offered. ValueError for a bad topic or an oversized message,
        MqttError when not connected or the in-flight window is full."""
        if qos not in (0, 1):
            raise ValueError("QoS %r (0 or 1)" % (qos,))
        if not self.can_publish(qos):
            raise MqttError("cannot publish now")
        pid = self._next_pid() if qos else 0
        p = publish_packet(topic, payload, qos, retain, pid)
        n = decode_length(p, 1, len(p))[0]
        if n > self.max_packet:
            raise ValueError("message of %d bytes over the limit of %d" % (n, self.max_packet))
        if qos:
            self.inflight[pid] = p
        self._send(p, now)
        return pid

    def subscribe(self, topic, qos=0, now=0):
        """Queue a SUBSCRIBE with one filter; returns its packet id."""
        if self.state != CONNECTED:
            raise MqttError("cannot subscribe now")
        pid = self._next_pid()
        self._send(subscribe_packet(pid, topic, qos), now)
        return pid

    def receive_data(self, data, now):
        """The broker's bytes: returns the events (see ``parse``). A refused
        CONNACK raises ConnectionRefused, anything malformed MqttError."""
        if self.state in (IDLE, CLOSED):
            return []
        events = []
        for ptype, flags, body in self.reader.feed(data):
            ev = parse(ptype, flags, body)
            self._last_in = now
            if ptype == CONNACK:
                if self.state != CONNECTING:
                    raise MqttError("a second CONNACK (3.2)")
                if ev[2]:
                    raise ConnectionRefused(ev[2])
                self.state = CONNECTED
                self.session_present = ev[1]
                for p in self.inflight.values():
                    p[0] |= 0x08  # DUP: a message sent before (3.3.1.1, 4.4)
                    self._send(p, now)
            elif self.state != CONNECTED:
                raise MqttError("packet type %d before CONNACK (3.2)" % ptype)
            elif ptype == PUBACK:
                if self.inflight.pop(ev[1], None) is None:
                    log.debug("mqtt: PUBACK for unknown packet id %d", ev[1])
            elif ptype == PINGRESP:
                self._ping = None
            elif ptype == PUBLISH:
                if ev[3] == 2:
                    raise MqttError("PUBLISH with QoS 2: never subscribed to")
                if ev[3] == 1:
                    self._send(puback_packet(ev[5]), now)
            events.append(ev)
        return events

    def poll(self, now):
        """Keepalive and time-outs: a PINGREQ when nothing went out or came in
        for the keepalive period (3.1.2.10); MqttError when a CONNACK or a
        PINGRESP is later than ``response_ms``."""
        if self.state == CONNECTING:
            if ticks_diff(now, self._started) > self.response_ms:
                raise MqttError("no CONNACK within %d ms" % self.response_ms)
        elif self.state == CONNECTED:
            if self._ping is not None:
                if ticks_diff(now, self._ping) > self.response_ms:
                    raise MqttError("no PINGRESP within %d ms" % self.response_ms)
            elif self.keepalive_ms and (
                ticks_diff(now, self._last_out) >= self.keepalive_ms
                or ticks_diff(now, self._last_in) >= self.keepalive_ms
            ):
                self._send(PINGREQ_PACKET, now)
                self._ping = now


class RateLimit:
    """At most one message per topic per ``interval_ms``: the first value of
    a topic goes at once, later ones wait for the interval to elapse and the
    latest one waiting wins. ``max_topics`` bounds the tables."""

    def __init__(self, interval_ms, max_topics=64):
        self.interval = interval_ms
        self.max_topics = max_topics
        self.last = {}  # topic -> ticks of its last send, while the interval runs
        self.pending = {}  # topic -> (payload, qos, retain)

    def offer(self, topic, payload, qos=0, retain=False):
        """Keep ``payload`` as the topic's next value; False (dropped) when
        the tables are full of other topics."""
        if topic not in self.pending and topic not in self.last:
            if len(self.pending) >= self.max_topics or len(self.last) >= self.max_topics:
                return False
        self.pending[topic] = (payload, qos, retain)
        return True

    def due(self, now):
        """A topic whose value may go now, or None."""
        for topic in self.pending:
            t = self.last.get(topic)
            if t is None or ticks_diff(now, t) >= self.interval:
                return topic
        return None

    def take(self, topic, now):
        """(payload, qos, retain) of a due topic, recorded as sent at ``now``."""
        v = self.pending.pop(topic)
        self.last[topic] = now
        return v

    def forget(self, now):
        """Drop the send times whose interval has elapsed (keeps the table small)."""
        for topic in [t for t, v in self.last.items() if ticks_diff(now, v) >= self.interval]:
            if topic not in self.pending:
                del self.last[topic]

    def wait_ms(self, now):
        """Milliseconds until the next waiting value is due (None: none waits)."""
        best = None
        for topic in self.pending:
            t = self.last.get(topic)
            w = 0 if t is None else max(0, self.interval - ticks_diff(now, t))
            if best is None or w < best:
                best = w
        return best


def random_below(n):
    """A random integer 0..n-1 (0 when n < 1), from os.urandom."""
    if n < 1:
        return 0
    return int.from_bytes(os.urandom(4), "big") % n


class Backoff:
    """Reconnect delays: ``first_ms``, doubling up to ``cap_ms``, each plus a
    random jitter of up to ``jitter`` of it (brokers restart, and every
    gateway should not come back in the same millisecond)."""

    def __init__(self, first_ms=1000, cap_ms=60000, jitter=0.25, rand=random_below):
        self.first = first_ms
        self.cap = cap_ms
        self.jitter = jitter
        self.rand = rand
        self.delay = first_ms

    def reset(self):
        self.delay = self.first

    def next(self):
        d = self.delay
        self.delay = min(d * 2, self.cap)
        return d + self.rand(int(d * self.jitter) + 1) if self.jitter else d


# -- asyncio transport ------------------------------------------------------------------------

_READ = const(512)


async def _close(writer):
    try:
        writer.close()
        await writer.wait_closed()
    except Exception:
        pass


class MqttClient:
    """The asyncio side: ``run()`` connects, keeps the connection and makes
    it again until ``stop()``.

    ``publish()`` queues a message (at most ``max_queue``; the oldest is
    dropped beyond), ``publish_state()`` goes through the per-topic rate
    limit of ``min_interval_ms`` (a sensor's latest value, at most one per
    interval). ``on_connect(client)``: called after each CONNACK, before the
    queue is sent (e.g. discovery configs and the availability "online").
    ``on_message(topic, payload)``: messages on subscribed topics.
    ``connect``: asyncio.open_connection or a stand-in (tests)."""

    def __init__(
        self,
        host,
        port=1883,
        client_id="mpdlms",
        keepalive=60,
        username=None,
        password=None,
        will=None,
        clean_session=True,
        min_interval_ms=0,
        backoff_ms=(1000, 60000),
        max_queue=64,
        max_packet=2048,
        max_inflight=4,
        response_ms=10000,
        tick_ms=50,
        on_connect=None,
        on_message=None,
        connect=None,
    ):
        self.host = host
        self.port = port
        self.conn = Connection(
            client_id,
            keepalive,
            clean_session,
            username,
            password,
            will,
            max_packet,
            max_inflight,
            response_ms,
        )
        self.limit = RateLimit(min_interval_ms)
        self.backoff = Backoff(backoff_ms[0], backoff_ms[1])
        self.max_queue = max_queue
        self.queue = []  # (topic, payload, qos, retain)
        self.subscriptions = []  # (topic, qos), made again after each CONNACK
        self.tick = tick_ms / 1000
        self.response_ms = response_ms
        self.on_connect = on_connect
        self.on_message = on_message
        self.open = connect or asyncio.open_connection
        self.stopping = False
        self.error = None
        self.connects = 0  # CONNACKs so far
        self.dropped = 0  # messages dropped from a full queue

    @property
    def connected(self):
        return self.conn.connected

    def publish(self, topic, payload, qos=0, retain=False):
        """Queue a message; ValueError for a bad topic or QoS."""
        check_topic(topic)
        if qos not in (0, 1):
            raise ValueError("QoS %r (0 or 1)" % (qos,))
        if len(self.queue) >= self.max_queue:
            self.queue.pop(0)
            self.dropped += 1
            log.warning("mqtt: queue full, oldest message dropped")
        self.queue.append((topic, payload, qos, retain))

    def publish_state(self, topic, payload, qos=0, retain=False):
        """A sensor's value, rate-limited per topic; False if dropped."""
        check_topic(topic)
        if not self.limit.offer(topic, payload, qos, retain):
            log.warning("mqtt: too many rate-limited topics, %s dropped", topic)
            return False
        return True

    def subscribe(self, topic, qos=0):
        """Subscribe now and after every reconnect."""
        self.subscriptions.append((topic, qos))
        if self.conn.connected:
            self.conn.subscribe(topic, qos, ticks_ms())

    def idle(self):
        """Nothing queued, waiting for its interval, or in flight."""
        return not self.queue and not self.limit.pending and not self.conn.inflight

    def stop(self):
        """Ask ``run()`` to send what is queued, then DISCONNECT, and return."""
        self.stopping = True

    async def run(self):
        """Connect, serve, reconnect with backoff, until ``stop()`` (if
        that came first, returns at once)."""
        while not self.stopping:
            if await self._session():
                self.backoff.reset()
            if self.stopping:
                break
            delay = self.backoff.next()
            log.info("mqtt: reconnecting in %d ms", delay)
            start = ticks_ms()
            while not self.stopping and ticks_diff(ticks_ms(), start) < delay:
                await asyncio.sleep(self.tick)
        self.conn.state = IDLE
        self.stopping = False

    async def _drain(self, writer):
        # What write() could not hand to the socket, bounded: a broker that
        # stopped reading (a dead link, a hung broker) fills the socket's
        # send buffer, and an unbounded drain would wait for ever while no
        # keepalive check runs (3.1.2.10), until TCP gives up.
        buf = getattr(writer, "out_buf", None)  # MicroPython's StreamWriter
        if buf is not None and not buf:
            return
        limit = max(self.conn.keepalive_ms, self.response_ms)
        msg = "the broker has read nothing for %d ms"
        await bounded(writer.drain(), limit, MqttError, msg, self.tick / 5)

    async def _open(self):
        # a connect bounded by response_ms
        coro = self.open(self.host, self.port)
        msg = "connect timed out after %d ms"
        return await bounded(coro, self.response_ms, OSError, msg, self.tick / 5)

    async def _session(self):
        """One network connection; True if the broker accepted it."""
        conn = self.conn
        try:
            reader, writer = await self._open()
        except Exception as e:
            log.warning("mqtt: no connection to %s:%d: %r", self.host, self.port, e)
            return False
        self.error = None
        accepted = False
        conn.start(ticks_ms())
        task = asyncio.create_task(self._read(reader))
        try:
            while self.error is None:
                now = ticks_ms()
                conn.poll(now)
                if conn.connected:
                    accepted = True
                    if self.stopping:
                        self._feed(now)
                        conn.disconnect()
                    else:
                        self._feed(now)
                out = conn.data_to_send()
                if out:
                    writer.write(out)
                    await self._drain(writer)
                if conn.state == CLOSED or (self.stopping and not conn.connected):
                    break
                await asyncio.sleep(self.tick)
        except Exception as e:
            self.error = e
        finally:
            task.cancel()
            conn.lost()
            await _close(writer)
        if self.error is not None:
            e = self.error
            if isinstance(e, ConnectionRefused):
                log.error("mqtt: %s:%d: %s", self.host, self.port, e)
            else:
                log.warning("mqtt: connection to %s:%d lost: %r", self.host, self.port, e)
        else:
            log.info("mqtt: disconnected from %s:%d", self.host, self.port)
        return accepted

    async def _read(self, reader):
        conn = self.conn
        try:
            while True:
                data = await reader.read(_READ)
                if not data:
                    self.error = OSError("closed by the broker")
                    return
                for ev in conn.receive_data(data, ticks_ms()):
                    self._event(ev)
        except Exception as e:
            self.error = e

    def _event(self, ev):
        if ev[0] == CONNACK:
            self.connects += 1
            log.info("mqtt: connected to %s:%d", self.host, self.port)
            now = ticks_ms()
            for topic, qos in self.subscriptions:
                self.conn.subscribe(topic, qos, now)
            self._callback(self.on_connect, self)
        elif ev[0] == PUBLISH:
            self._callback(self.on_message, ev[1], ev[2])
        elif ev[0] == SUBACK and ev[2] == 0x80:
            log.warning("mqtt: subscription %d refused", ev[1])

    def _callback(self, f, *args):
        if f is None:
            return
        try:
            f(*args)
        except Exception as e:
            log.error("mqtt: callback %r failed: %r", f, e)

    def _feed(self, now):
        # Queued messages first, then the rate-limited values that are due,
        # as long as the connection takes them and the output stays small.
        conn = self.conn
        room = conn.max_packet * 2
        q = self.queue
        while q and conn.can_publish(q[0][2]) and conn.pending_out() < room:
            topic, payload, qos, retain = q.pop(0)
            self._publish(topic, payload, qos, retain, now)
        if q:
            return
        limit = self.limit
        while conn.pending_out() < room:
            topic = limit.due(now)
            if topic is None or not conn.can_publish(limit.pending[topic][1]):
                break
            payload, qos, retain = limit.take(topic, now)
            self._publish(topic, payload, qos, retain, now)
        if len(limit.last) >= limit.max_topics // 2:
            limit.forget(now)

    def _publish(self, topic, payload, qos, retain, now):
        try:
            self.conn.publish(topic, payload, qos, retain, now)
        except ValueError as e:
            log.warning("mqtt: %s not sent: %r", topic, e)
