# runtime: cpython-only -- gurux-dlms and dlms-cosem (CPython libraries), threads and real TCP sockets
# ruff: noqa: E501  (the line above is the runtime marker host_tests/mp_run.py reads)
"""Push interoperability: gurux-dlms 1.0.203 and dlms-cosem 25.1.0 against our
Push setup (Blue Book 4.4.8) and DATA-NOTIFICATIONs (Green Book 9.5).

- gurux's GXDLMSNotify builds the same APDU octets as dlms.notification,
  plain and in general-glo-ciphering (gurux maps DATA_NOTIFICATION to
  GENERAL_GLO_CIPHERING: there is no glo- tag for it), and frames it in a
  wrapper with source wPort 1 and destination wPort 16, as app.push does.
- An in-process meter (a logical device with a Push setup, our Server behind
  the TCP wrapper in a thread) is read and written by gurux's client: every
  attribute of the Push setup, and the push method.
- A TCP listener in the test receives the pushes that app.push.PushSender
  sends over real sockets, and gurux (GXDLMSSecureClient.getData with a
  notify reply, as Gurux's push listener example does it) and dlms-cosem
  (WrapperHeader, XDlmsApduFactory: DataNotification, GeneralGlobalCipher)
  decode them, ciphered ones with the meter's keys.
- The simulator end to end (app.main with a ``push`` configuration) waits
  for the integration in app/meter.py and app/main.py.

What the libraries do, kept as assertions so that an upgrade shows up:

- gurux's GXDLMSNotify defaults to priority high and confirmed service
  class (long-invoke-id-and-priority C0 00 00 01); the meter sends normal
  priority, unconfirmed (00 00 00 01), which gurux takes as well.
- gurux writes a notification date-time as 0C + 12 octets; dlms-cosem's
  DataNotification.to_bytes writes 01 + 12 octets (a flag, not the octet
  string's length) but its from_bytes reads any non-zero octet there, so it
  takes ours.
- gurux's listener client (clientAddress 16, serverAddress 1) takes frames
  with other wPorts too, as notifications; 1 -> 16 matches it exactly.
"""

import asyncio
import datetime
import socket
import threading
import time

import pytest
from app.push import PushSender, build_frame
from cosem.association import AssociationLN
from cosem.base import MANAGER, PUBLIC, LogicalDevice
from cosem.clock import Clock
from cosem.data import Data
from cosem.push import PushSetup
from cosem.register import UNIT_WH, Register
from cosem.sap import SapAssignment
from dlms import acse, axdr, notification
from dlms.security.context import MemoryCounter, SecurityContext
from dlms.server import ClientPolicy, Server
from dlms.wrapper_link import WrapperServerLink
from dlms_cosem import utils as dc_utils
from dlms_cosem.connection import XDlmsApduFactory
from dlms_cosem.protocol import xdlms as dc_xdlms
from dlms_cosem.protocol.wrappers import WrapperHeader
from gurux_dlms import GXByteBuffer, GXDateTime, GXReplyData
from gurux_dlms.enums import (
    Authentication,
    DataType,
    DateTimeSkips,
    InterfaceType,
    ObjectType,
    Priority,
    Security,
    ServiceClass,
)
from gurux_dlms.GXCiphering import GXCiphering
from gurux_dlms.GXDLMSClient import GXDLMSClient
from gurux_dlms.GXDLMSNotify import GXDLMSNotify
from gurux_dlms.internal._GXCommon import _GXCommon
from gurux_dlms.objects import GXDLMSClock, GXDLMSData, GXDLMSPushSetup, GXDLMSRegister
from gurux_dlms.objects.enums import MessageType, ServiceType
from gurux_dlms.objects.GXDLMSCaptureObject import GXDLMSCaptureObject
from gurux_dlms.secure import GXDLMSSecureClient
from hal.clock import ManualClock
from simulator import LLS_MANAGER, Simulator, free_port
from support import h, hx

LDN = b"MPY0000000000001"
SERIAL = b"00000001"
PASSWORD = "12345678"
PUSH = "0.0.25.9.0.255"
PUSH_LN = h("00 00 19 09 00 FF")
SERVER_TITLE = h("4D4D4D0000BC614E")
EK = h("000102030405060708090A0B0C0D0E0F")
AK = h("D0D1D2D3D4D5D6D7D8D9DADBDCDDDEDF")
NOW = datetime.datetime(2025, 3, 14, 11, 30, 15, tzinfo=datetime.timezone.utc)
IMPORT_WH, EXPORT_WH = 123456, 654


def utc_seconds(dt):
    return int(dt.timestamp())


# -- the TCP listener of the head-end ------------------------------------------------


class Listener:
    """Accepts connections on a port (a free one by default) and keeps what
    each connection sent until it closed."""

    def __init__(self, port=None):
        self.sock = socket.socket()
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", port or 0))
        self.sock.listen(8)
        self.sock.settimeout(0.2)
        self.port = self.sock.getsockname()[1]
        self.received = []
        self.cond = threading.Condition()
        self.running = True
        self.thread = threading.Thread(target=self._accept, daemon=True)
        self.thread.start()

    def _accept(self):
        while self.running:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                continue
            threading.Thread(target=self._read, args=(conn,), daemon=True).start()

    def _read(self, conn):
        data = bytearray()
        conn.settimeout(5)
        try:
            while True:
                chunk = conn.recv(4096)
                if not chunk:
                    break
                data += chunk
        finally:
            conn.close()
        with self.cond:
            self.received.append(bytes(data))
            self.cond.notify_all()

    def wait(self, n, timeout=10):
        deadline = time.time() + timeout
        with self.cond:
            while len(self.received) < n:
                left = deadline - time.time()
                assert left > 0, "%d of %d pushes received" % (len(self.received), n)
                self.cond.wait(left)
        return self.received[:n]

    def close(self):
        self.running = False
        self.thread.join(2)
        self.sock.close()

    def __enter__(self):
        return self

    def __exit__(self, *a):
        self.close()


# -- an in-process meter with a Push setup, served over the TCP wrapper --------------


class InProcessMeter:
    """A logical device with clock, serial number, two energy registers and a
    Push setup, our Server behind the TCP wrapper (one thread per connection),
    and a PushSender the test steps by hand."""

    def __init__(self, destination, sc=0, ic=1):
        self.hal = ManualClock(utc_seconds(NOW))
        self.security = SecurityContext(SERVER_TITLE, EK, AK, counter=MemoryCounter(ic))
        ld = LogicalDevice(1, LDN)
        ld.add(Data("0.0.42.0.0.255", (axdr.OCTET_STRING, LDN), public=True, writable=()))
        self.clock = ld.add(Clock("0.0.1.0.0.255", self.hal, time_zone=-60, dst_enabled=True))
        ld.add(Data("0.0.96.1.0.255", (axdr.OCTET_STRING, SERIAL), writable=()))
        imp = ld.add(Register("1.0.1.8.0.255", axdr.DOUBLE_LONG_UNSIGNED, IMPORT_WH, 0, UNIT_WH))
        exp = ld.add(Register("1.0.2.8.0.255", axdr.DOUBLE_LONG_UNSIGNED, EXPORT_WH, 0, UNIT_WH))
        self.push = ld.add(
            PushSetup(
                PUSH,
                ld,
                destination=destination,
                clock=self.clock,
            )
        )
        self.push.objects += [
            (1, h("00 00 60 01 00 FF"), 2, 0),
            (8, h("00 00 01 00 00 FF"), 2, 0),
            (imp.CLASS_ID, imp.ln, 2, 0),
            (exp.CLASS_ID, exp.ln, 2, 0),
        ]
        policies = {
            16: ClientPolicy(16, PUBLIC),
            1: ClientPolicy(1, MANAGER, acse.MECHANISM_LLS, PASSWORD.encode()),
        }
        ld.associations = {}
        for i, sap in enumerate((16, 1)):
            a = ld.add(AssociationLN("0.0.40.0.%d.255" % (i + 1), ld, policies[sap]))
            ld.associations[sap] = a
        devices = {1: ld}
        ld.add(SapAssignment("0.0.41.0.0.255", devices))
        self.device = ld
        self.server = Server(devices, policies, clock=self.clock, security=self.security)
        self.sender = PushSender(
            [self.push], self.clock, self.security, sc, rand=lambda n: 0, timeout_ms=2000
        )
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(4)
        self.sock.settimeout(0.2)
        self.wrapper_port = self.sock.getsockname()[1]
        self.running = True
        self.thread = threading.Thread(target=self._accept, daemon=True)
        self.thread.start()

    def _accept(self):
        while self.running:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                continue
            threading.Thread(target=self._serve, args=(conn,), daemon=True).start()

    def _serve(self, conn):
        link = WrapperServerLink(self.server)
        conn.settimeout(10)
        try:
            while not link.closed:
                data = conn.recv(4096)
                if not data:
                    break
                link.receive_data(data)
                out = link.data_to_send()
                if out:
                    conn.sendall(out)
        except OSError:
            pass
        finally:
            link.close()
            conn.close()

    def step(self):
        """One poll of the push sender (what the app's task does each second)."""
        asyncio.run(self.sender.step())

    def close(self):
        self.running = False
        self.thread.join(2)
        self.sock.close()

    def __enter__(self):
        return self

    def __exit__(self, *a):
        self.close()


class GuruxSession:
    """gurux's client on the TCP wrapper: the manager (client 1, LLS)."""

    def __init__(self, port, client_sap=1, password=PASSWORD):
        auth = Authentication.LOW if password else Authentication.NONE
        self.client = GXDLMSClient(True, client_sap, 1, auth, password, InterfaceType.WRAPPER)
        self.sock = socket.create_connection(("127.0.0.1", port), 5)
        self.sock.settimeout(5)

    def packet(self, data, reply):
        self.sock.sendall(bytes(data))
        rd = GXByteBuffer()
        notify = GXReplyData()
        while not self.client.getData(rd, reply, notify):
            chunk = self.sock.recv(4096)
            assert chunk, "the meter closed the connection"
            rd.set(chunk)

    def transfer(self, data):
        reply = GXReplyData()
        for frame in data if isinstance(data, list) else [data]:
            reply.clear()
            self.packet(frame, reply)
            while reply.isMoreData():
                self.packet(self.client.receiverReady(reply), reply)
        return reply

    def connect(self):
        self.client.parseAareResponse(self.transfer(self.client.aarqRequest()).data)
        return self

    def objects(self):
        return self.client.parseObjects(self.transfer(self.client.getObjectsRequest()).data, True)

    def read(self, obj, index):
        reply = self.transfer(self.client.read(obj, index)[0])
        assert reply.error == 0, "read %s %d: error %d" % (obj.logicalName, index, reply.error)
        return self.client.updateValue(obj, index, reply.value)

    def write(self, obj, index):
        reply = self.transfer(self.client.write(obj, index))
        assert reply.error == 0, "write %s %d: error %d" % (obj.logicalName, index, reply.error)

    def call(self, data):
        reply = self.transfer(data)
        assert reply.error == 0, "method: error %d" % reply.error
        return reply

    def close(self):
        try:
            self.transfer(self.client.releaseRequest())
        finally:
            self.sock.close()

    def __enter__(self):
        return self.connect()

    def __exit__(self, *a):
        self.close()


@pytest.fixture
def listener():
    with Listener() as lst:
        yield lst


@pytest.fixture
def meter(listener):
    with InProcessMeter("127.0.0.1:%d" % listener.port) as m:
        yield m


# -- decoding with the independent libraries -----------------------------------------


def gurux_notification(frame, ciphered=False):
    """gurux's push listener way: a client (16 -> 1 by default) whose
    getData puts a DATA-NOTIFICATION in the notify reply."""
    client = GXDLMSSecureClient(True)
    client.interfaceType = InterfaceType.WRAPPER
    if ciphered:
        client.ciphering.security = Security.AUTHENTICATION_ENCRYPTION
        client.ciphering.blockCipherKey = EK
        client.ciphering.authenticationKey = AK
    data = GXReplyData()
    notify = GXReplyData()
    client.getData(GXByteBuffer(frame), data, notify)
    assert notify.complete and not notify.isMoreData(), hx(frame)
    return client, notify


def dlms_cosem_notification(frame, ciphered=False):
    header = WrapperHeader.from_bytes(frame[:8])
    assert (header.version, header.source_wport, header.destination_wport) == (1, 1, 16)
    assert header.length == len(frame) - 8
    apdu = XDlmsApduFactory.apdu_from_bytes(frame[8:])
    if ciphered:
        assert isinstance(apdu, dc_xdlms.GeneralGlobalCipher)
        assert apdu.system_title == SERVER_TITLE
        assert apdu.security_control.authenticated and apdu.security_control.encrypted
        apdu = XDlmsApduFactory.apdu_from_bytes(apdu.to_plain_apdu(EK, AK))
    assert isinstance(apdu, dc_xdlms.DataNotification)
    return apdu


# -- the APDU octets, against gurux's generator ---------------------------------------


def gurux_notify(interface=InterfaceType.PDU, invoke=7):
    n = GXDLMSNotify(True, 16, 1, interface)
    n.settings.priority = Priority.NORMAL
    n.settings.serviceClass = ServiceClass.UN_CONFIRMED
    n.settings.setLongInvokeID(invoke)
    return n


def gurux_body(n):
    bb = GXByteBuffer()
    bb.setUInt8(DataType.STRUCTURE)
    bb.setUInt8(2)
    _GXCommon.setData(n.settings, bb, DataType.OCTET_STRING, PUSH_LN)
    _GXCommon.setData(n.settings, bb, DataType.UINT32, IMPORT_WH)
    return bb


BODY = (axdr.STRUCTURE, [(axdr.OCTET_STRING, PUSH_LN), (axdr.DOUBLE_LONG_UNSIGNED, IMPORT_WH)])


def test_plain_apdu_as_gurux_builds_it():
    n = gurux_notify()
    (theirs,) = n.generateDataNotificationMessages(None, gurux_body(n))
    ours = notification.encode(7, BODY)
    assert (
        hx(ours) == hx(theirs) == "0F 00 00 00 07 00 02 02 09 06 00 00 19 09 00 FF 06 00 01 E2 40"
    )
    # gurux's defaults: priority high, confirmed
    d = GXDLMSNotify(True, 16, 1, InterfaceType.PDU)
    (theirs,) = d.generateDataNotificationMessages(None, gurux_body(d))
    assert hx(theirs[:5]) == "0F C0 00 00 01"
    assert notification.decode(theirs).long_invoke_id == notification.long_invoke_id(1, True, True)


def test_date_time_as_gurux_writes_it():
    n = gurux_notify()
    (theirs,) = n.generateDataNotificationMessages(GXDateTime(NOW), gurux_body(n))
    dt = axdr.DateTime(2025, 3, 14, 0xFF, 11, 30, 15, 0, 0, 0)  # gurux: weekday skipped
    assert hx(notification.encode(7, BODY, dt)) == hx(theirs)
    assert theirs[5] == 0x0C  # the octet string's length, not an "optional" flag
    assert notification.decode(theirs).date_time == dt


def test_ciphered_apdu_and_wrapper_frame_as_gurux_build_them():
    n = gurux_notify(InterfaceType.WRAPPER)
    c = GXCiphering(SERVER_TITLE)
    c.security = Security.AUTHENTICATION_ENCRYPTION
    c.blockCipherKey = EK
    c.authenticationKey = AK
    c.invocationCounter = 5
    n.setCipher(c)
    (theirs,) = n.generateDataNotificationMessages(None, gurux_body(n))
    sec = SecurityContext(SERVER_TITLE, EK, AK, counter=MemoryCounter(5))
    plain = notification.encode(7, BODY)
    from dlms import wrapper

    ours = wrapper.encode(1, 16, notification.protect(sec, 0x30, plain))
    assert hx(ours) == hx(theirs)
    assert theirs[8] == 0xDB  # general-glo-ciphering
    assert hx(theirs[:8]) == "00 01 00 01 00 10 00 31"  # wPort 1 -> 16


# -- gurux's client reads and writes the Push setup ----------------------------------


def find_push(objects):
    (push,) = [o for o in objects if o.objectType == ObjectType.PUSH_SETUP]
    assert push.logicalName == PUSH
    assert push.version == 0
    return push


def test_gurux_reads_every_attribute(meter):
    with GuruxSession(meter.wrapper_port) as s:
        push = find_push(s.objects())
        for index in range(1, 8):
            s.read(push, index)
    assert [
        (o.objectType, o.logicalName, c.attributeIndex, c.dataIndex) for o, c in push.pushObjectList
    ] == [
        (ObjectType.PUSH_SETUP, PUSH, 1, 0),
        (ObjectType.DATA, "0.0.96.1.0.255", 2, 0),
        (ObjectType.CLOCK, "0.0.1.0.0.255", 2, 0),
        (ObjectType.REGISTER, "1.0.1.8.0.255", 2, 0),
        (ObjectType.REGISTER, "1.0.2.8.0.255", 2, 0),
    ]
    assert push.service == ServiceType.TCP
    assert push.destination == meter.push.destination.decode()
    assert push.message == MessageType.COSEM_APDU
    assert push.communicationWindow == []
    assert (push.randomisationStartInterval, push.numberOfRetries, push.repetitionDelay) == (
        0,
        0,
        0,
    )


def daily(hour, minute=0, second=0):
    t = GXDateTime(datetime.datetime(2025, 1, 1, hour, minute, second))
    t.skip = (
        DateTimeSkips.YEAR
        | DateTimeSkips.MONTH
        | DateTimeSkips.DAY
        | DateTimeSkips.DAY_OF_WEEK
        | DateTimeSkips.DEVITATION
        | DateTimeSkips.STATUS
    )
    return t


def test_gurux_writes_every_attribute(meter):
    with GuruxSession(meter.wrapper_port) as s:
        push = find_push(s.objects())
        push.pushObjectList = [
            (push, GXDLMSCaptureObject(1, 0)),
            (GXDLMSRegister("1.0.1.8.0.255"), GXDLMSCaptureObject(2, 0)),
            (GXDLMSRegister("1.0.1.8.0.255"), GXDLMSCaptureObject(3, 2)),
            (GXDLMSClock("0.0.1.0.0.255"), GXDLMSCaptureObject(2, 0)),
        ]
        push.service = ServiceType.TCP
        push.destination = "127.0.0.1:4063"
        push.message = MessageType.COSEM_APDU
        push.communicationWindow = [(daily(2), daily(4)), (daily(22), daily(23, 59, 59))]
        push.randomisationStartInterval = 300
        push.numberOfRetries = 3
        push.repetitionDelay = 60
        for index in range(2, 8):
            s.write(push, index)
        # what the meter keeps
        p = meter.push
        assert p.objects == [
            (40, PUSH_LN, 1, 0),
            (3, h("01 00 01 08 00 FF"), 2, 0),
            (3, h("01 00 01 08 00 FF"), 3, 2),
            (8, h("00 00 01 00 00 FF"), 2, 0),
        ]
        assert p.destination == b"127.0.0.1:4063"
        assert hx(p.windows[0][0]) == "FF FF FF FF FF 02 00 00 00 80 00 FF"
        assert (p.randomisation_start_interval, p.number_of_retries, p.repetition_delay) == (
            300,
            3,
            60,
        )
        # and what a fresh read gives back
        again = GXDLMSPushSetup(PUSH)
        again.version = 0
        for index in range(2, 8):
            s.read(again, index)
        assert [
            (o.logicalName, c.attributeIndex, c.dataIndex) for o, c in again.pushObjectList
        ] == [
            (PUSH, 1, 0),
            ("1.0.1.8.0.255", 2, 0),
            ("1.0.1.8.0.255", 3, 2),
            ("0.0.1.0.0.255", 2, 0),
        ]
        assert again.destination == "127.0.0.1:4063"
        assert [(a.value.hour, b.value.hour) for a, b in again.communicationWindow] == [
            (2, 4),
            (22, 23),
        ]
        assert (again.randomisationStartInterval, again.numberOfRetries, again.repetitionDelay) == (
            300,
            3,
            60,
        )


def test_gurux_write_refused_for_udp(meter):
    with GuruxSession(meter.wrapper_port) as s:
        push = find_push(s.objects())
        s.read(push, 3)
        push.service = ServiceType.UDP
        reply = s.transfer(s.client.write(push, 3))
        assert reply.error == 250  # other-reason: only TCP is offered
    assert meter.push.transport == 0


# -- pushes to a listener, decoded by gurux and dlms-cosem ---------------------------


def expected_local_time():
    return datetime.datetime(
        2025, 3, 14, 12, 30, 15, tzinfo=datetime.timezone(datetime.timedelta(hours=1))
    )


def octets(v):
    """gurux gives octet-strings as bytes, bytearray or (for text) str."""
    return v.encode() if isinstance(v, str) else bytes(v)


def check_gurux_values(client, notify, push_setup=None):
    values = notify.value
    assert bytes(values[0]) == PUSH_LN
    assert bytes(values[1]) == SERIAL
    assert values[3:] == [IMPORT_WH, EXPORT_WH]
    assert notify.time.value == expected_local_time()
    if push_setup is not None:
        # gurux maps the values onto the objects of the push_object_list it read
        push_setup.getPushValues(client, values)
        objs = [o for o, _ in push_setup.pushObjectList]
        assert isinstance(objs[1], GXDLMSData) and octets(objs[1].value) == SERIAL
        assert isinstance(objs[2], GXDLMSClock) and objs[2].time.value == expected_local_time()
        assert isinstance(objs[3], GXDLMSRegister) and objs[3].value == IMPORT_WH


def check_dlms_cosem_values(dn, invoke_id):
    assert dn.long_invoke_id_and_priority.long_invoke_id == invoke_id
    assert not dn.long_invoke_id_and_priority.prioritized
    assert not dn.long_invoke_id_and_priority.confirmed
    assert dn.date_time == expected_local_time()
    values = dc_utils.parse_as_dlms_data(dn.body)
    assert [bytes(values[0]), bytes(values[1])] == [PUSH_LN, SERIAL]
    assert values[3:] == [IMPORT_WH, EXPORT_WH]


def test_push_method_then_listener_decodes_with_gurux_and_dlms_cosem(meter, listener):
    with GuruxSession(meter.wrapper_port) as s:
        push = find_push(s.objects())
        s.read(push, 2)
        s.call(push.activate(s.client))
        assert meter.push.pending
        meter.step()
        (frame,) = listener.wait(1)
        client, notify = gurux_notification(frame)
        check_gurux_values(client, notify, push)
    dn = dlms_cosem_notification(frame)
    check_dlms_cosem_values(dn, 1)
    assert meter.sender.jobs[0].pushed == 1


def test_ciphered_push_decodes_with_the_meter_keys(listener):
    with InProcessMeter("127.0.0.1:%d" % listener.port, sc=0x30, ic=41) as m:
        m.push.request()
        m.step()
        m.push.request()
        m.step()
        first, second = listener.wait(2)
    for frame in (first, second):
        assert frame[8] == 0xDB and frame[10:18] == SERVER_TITLE
        assert SERIAL not in frame
        _, notify = gurux_notification(frame, ciphered=True)
        check_gurux_values(None, notify)
    # the invocation counter of the server's context: 41, then 42
    a = dlms_cosem_notification(first, ciphered=True)
    b = dlms_cosem_notification(second, ciphered=True)
    check_dlms_cosem_values(a, 1)
    check_dlms_cosem_values(b, 2)
    c1 = XDlmsApduFactory.apdu_from_bytes(first[8:])
    c2 = XDlmsApduFactory.apdu_from_bytes(second[8:])
    assert (c1.invocation_counter, c2.invocation_counter) == (41, 42)
    # a wrong key does not open it
    with pytest.raises(Exception):  # noqa: B017  (cryptography's InvalidTag)
        c1.to_plain_apdu(bytes(16), AK)


def test_retry_reaches_a_listener_that_comes_late():
    port = free_port()
    with InProcessMeter("127.0.0.1:%d" % port) as m:
        m.push.number_of_retries = 2
        m.push.repetition_delay = 30
        m.push.request()
        m.step()  # refused: nobody listens yet
        job = m.sender.jobs[0]
        assert (job.active, job.attempt, job.due) == (True, 1, m.hal.now() + 30)
        with Listener(port) as late:
            m.hal.advance(29)
            m.step()
            assert late.received == []
            m.hal.advance(1)
            m.step()
            (frame,) = late.wait(1)
        assert (job.pushed, job.failed, job.active) == (1, 0, False)
        _, notify = gurux_notification(frame)
        # the frame is the one built at the first attempt
        assert notify.time.value == expected_local_time()


def test_profile_sized_push_in_one_frame(meter, listener):
    """A push near the frame limit still goes in one wrapper frame."""
    meter.push.objects = [(40, PUSH_LN, 1, 0)] + [(1, h("00 00 60 01 00 FF"), 2, 0)] * 30
    meter.push.request()
    meter.step()
    (frame,) = listener.wait(1)
    frame_len = len(build_frame(meter.push, meter.hal.now()))
    assert len(frame) == frame_len
    _, notify = gurux_notification(frame)
    assert len(notify.value) == 31


# -- the simulator (app.main on the unix port) ----------------------------------------


def push_config(port, **kw):
    """The ``push`` section proposed for app/config.py."""
    p = {
        "enabled": True,
        "destination": "127.0.0.1:%d" % port,
        "client_wport": 16,
        "period": 0,
        "on_events": False,
        "randomisation_start_interval": 0,
        "number_of_retries": 3,
        "repetition_delay": 1,
        "security": "none",
    }
    p.update(kw)
    cfg = dict(LLS_MANAGER)
    cfg["push"] = p
    return cfg


class TestSimulator:
    def test_gurux_reads_writes_and_pushes(self, listener):
        with Simulator(push_config(listener.port)) as sim:
            with GuruxSession(sim.wrapper_port) as s:
                push = find_push(s.objects())
                for index in range(1, 8):
                    s.read(push, index)
                assert [o.logicalName for o, _ in push.pushObjectList][:3] == [
                    PUSH,
                    "0.0.96.1.0.255",
                    "0.0.1.0.0.255",
                ]
                assert push.destination == "127.0.0.1:%d" % listener.port
                assert (push.numberOfRetries, push.repetitionDelay) == (3, 1)
                push.pushObjectList = push.pushObjectList[:4]
                push.communicationWindow = []
                push.randomisationStartInterval = 0
                push.numberOfRetries = 2
                push.repetitionDelay = 2
                for index in range(2, 8):
                    s.write(push, index)
                s.call(push.activate(s.client))
                (frame,) = listener.wait(1)
                client, notify = gurux_notification(frame)
                assert bytes(notify.value[0]) == PUSH_LN
                assert bytes(notify.value[1]) == SERIAL
                push.getPushValues(client, notify.value)
            dn = dlms_cosem_notification(frame)
            values = dc_utils.parse_as_dlms_data(dn.body)
            assert len(values) == 4 and isinstance(values[3], int)
        assert "Traceback" not in sim.output(), sim.output()

    def test_periodic_and_event_pushes(self, listener):
        with Simulator(push_config(listener.port, period=2, on_events=True)) as sim:
            frames = listener.wait(3, timeout=15)  # the power-up event, then every 2 s
        invokes = [
            dlms_cosem_notification(f).long_invoke_id_and_priority.long_invoke_id for f in frames
        ]
        assert invokes == [1, 2, 3]
        assert "Traceback" not in sim.output(), sim.output()

    def test_ciphered_pushes(self, listener):
        cfg = push_config(listener.port, security="authenticated-encrypted")
        with Simulator(cfg) as sim:
            with GuruxSession(sim.wrapper_port) as s:
                push = find_push(s.objects())
                s.call(push.activate(s.client))
            (frame,) = listener.wait(1)
        assert frame[8] == 0xDB and frame[10:18] == SERVER_TITLE
        _, notify = gurux_notification(frame, ciphered=True)
        assert bytes(notify.value[0]) == PUSH_LN
        dlms_cosem_notification(frame, ciphered=True)
        assert "Traceback" not in sim.output(), sim.output()

    def test_retries_to_a_late_listener(self):
        port = free_port()
        with Simulator(push_config(port, number_of_retries=5, repetition_delay=1)) as sim:
            with GuruxSession(sim.wrapper_port) as s:
                s.call(find_push(s.objects()).activate(s.client))
            time.sleep(1.5)  # one refused attempt at least
            with Listener(port) as late:
                (frame,) = late.wait(1, timeout=10)
            # refused (the unix port's connect is non-blocking: the refusal
            # shows when the frame is written), then sent
            warnings = [
                x for x in sim.output().splitlines() if x.startswith("W push 0.0.25.9.0.255")
            ]
            assert warnings, sim.output()
        assert dlms_cosem_notification(frame).long_invoke_id_and_priority.long_invoke_id == 1
