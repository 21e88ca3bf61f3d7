# runtime: cpython-only -- drives the dlms-cosem client (a CPython library) against the simulator subprocess
# ruff: noqa: E501 -- the runtime marker above must be exactly one line
"""The simulated meter (``make run``, unix port) read and set by dlms-cosem 25.1.0.

dlms-cosem's ``DlmsClient`` with its blocking TCP IO talks to the meter over
the TCP wrapper (IEC 62056-47), management logical device wPort 1. Not over
HDLC: dlms-cosem's HDLC reader (``HdlcTransport.recv_frame``) ends a frame at
the first 0x7E byte it meets, even one inside the frame, so any response whose
information field holds a 0x7E breaks the client, not the meter.

Values are checked against the simulation itself (firmware/app/sim.py: every
value is a closed-form function of UTC time), not only "no exception".

What dlms-cosem 25.1.0 does, kept as assertions so that an upgrade that
changes it shows up:

- It proposes general-block-transfer, priority management, access and
  event-notification besides get/set/action/selective-access; the meter
  grants only what it implements (conformance 00 12 1D).
- Every AARQ carries a calling-AP-title ("uti" + 5 random octets), even
  without ciphering; its RLRQ carries an InitiateRequest with the negotiated
  conformance and PDU size, which the meter answers with an InitiateResponse.
- Its AARE and RLRE parsers read a one-octet BER length and compare it with
  the APDU length (and the RLRE parser needs at least one field).
- ``EntryDescriptor.to_bytes`` raises NotImplementedError: selective access by
  entry is sent here with a small subclass that encodes Blue Book 4.3.6's
  entry_descriptor.
- ``DlmsClient.get`` raises ``DataResultError`` with the data-access-result only
  in its message, ``associate`` raises ``DlmsClientException`` for a rejected
  AARE: the tests parse the recorded response APDU to check the exact result.
- The Blue Book deviation (minutes local -> UTC, -60 for CET) is negated into
  a tz offset; the DST status bit is returned but not applied (the meter moves
  the deviation to -120 in summer, so the instant stays right). A naive
  datetime is sent with deviation 0x8000 (not specified): meter local time.
- ``InitiateRequest.to_bytes`` always writes DLMS version 6, whatever
  ``proposed_dlms_version_number`` says.
- ACTION goes out with invoke-id-and-priority C0, GET and SET with C1.
- It cannot decode a bit-string (xDLMS_context_info, Association LN
  attribute 5, is checked in hex); ``RangeDescriptor`` cannot encode
  selected_values; ``get_many`` does not follow a with-list answer in blocks.
- ``AssociationObjectListParser`` reads access modes as bit masks (read = 0,
  write = 1 in its lists), which fits Blue Book 4.4.3's enum 0..3.
"""

import contextlib
import logging
from datetime import datetime, timedelta, timezone

import pytest
import structlog
from app import sim as physics
from dlms_cosem import cosem, dlms_data, enumerations, exceptions, time, utils
from dlms_cosem.client import ActionError, DataResultError, DlmsClient
from dlms_cosem.connection import XDlmsApduFactory
from dlms_cosem.cosem import selective_access
from dlms_cosem.cosem.capture_object import CaptureObject
from dlms_cosem.io import BlockingTcpIO, TcpTransport
from dlms_cosem.parsers import AssociationObjectListParser, ProfileGenericBufferParser
from dlms_cosem.protocol import acse, xdlms
from dlms_cosem.protocol.xdlms.conformance import Conformance
from dlms_cosem.security import LowLevelSecurityAuthentication, NoSecurityAuthentication
from dlms_cosem.state import NO_ASSOCIATION, READY
from simulator import LLS_MANAGER, Simulator
from support import h, hx

PASSWORD = b"12345678"
PUBLIC, READER, MANAGER = 16, 17, 1
MANAGEMENT = 1  # server wPort of the management logical device
GAS = 2  # and of the gas logical device

IC = enumerations.CosemInterface
DAR = enumerations.DataAccessResult
DIAG = enumerations.AcseServiceUserDiagnostics

LDN = cosem.CosemAttribute(IC.DATA, cosem.Obis(0, 0, 42, 0, 0, 255), 2)
CLOCK_TIME = cosem.CosemAttribute(IC.CLOCK, cosem.Obis(0, 0, 1, 0, 0, 255), 2)
CLOCK_TIME_ZONE = cosem.CosemAttribute(IC.CLOCK, cosem.Obis(0, 0, 1, 0, 0, 255), 3)
LOAD_PROFILE = cosem.Obis(1, 0, 99, 1, 0, 255)
DEMAND_PERIOD = cosem.CosemAttribute(IC.DEMAND_REGISTER, cosem.Obis(1, 0, 1, 4, 0, 255), 8)
STATUS = cosem.CosemAttribute(IC.DATA, cosem.Obis(0, 0, 96, 10, 1, 255), 2)
IMPORT_TOTAL = cosem.Obis(1, 0, 1, 8, 0, 255)
EXPORT_TOTAL = cosem.Obis(1, 0, 2, 8, 0, 255)

UNIT_WH, UNIT_V = 30, 35
PERIOD = 900  # load profile capture period, s
ENTRIES = 2880

# The meter's answers to dlms-cosem's proposal (Green Book 9.4.2 Table 64):
# accepted, InitiateResponse with conformance 00 12 1D (block-transfer-with-get,
# multiple-references, get, set, selective-access, action), max PDU 1024, VAA 0007.
AARE_ACCEPTED = h(
    "61 29 A1 09 06 07 60 85 74 05 08 01 01 A2 03 02 01 00 A3 05 A1 03 02 01 00"
    "BE 10 04 0E 08 00 06 5F 1F 04 00 00 12 1D 04 00 00 07"
)
# AARE rejected-permanent, acse-service-user authentication-failure (13), no
# user-information.
AARE_AUTHENTICATION_FAILURE = h(
    "61 17 A1 09 06 07 60 85 74 05 08 01 01 A2 03 02 01 01 A3 05 A1 03 02 01 0D"
)
# RLRE reason normal with the InitiateResponse, answering an RLRQ that carries an
# InitiateRequest (Green Book 9.4.2, Table 66).
RLRE_NORMAL = h("63 15 80 01 00 BE 10 04 0E 08 00 06 5F 1F 04 00 00 12 1D 04 00 00 07")

MODEL = physics.Simulation(physics.Tariffs(utc_offset=3600))  # clock time_zone -60


# -- plumbing ---------------------------------------------------------------------


class RecordingTcpTransport(TcpTransport):
    """dlms-cosem's TcpTransport that keeps every (request, response) APDU pair,
    so that a failure can show the exchange in hex."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.exchanges = []

    def send_request(self, bytes_to_send):
        response = bytes(super().send_request(bytes_to_send))
        self.exchanges.append((bytes(bytes_to_send), response))
        return response


def trace(client, last=2):
    lines = []
    for req, resp in client.transport.exchanges[-last:]:
        lines.append(">> " + hx(req))
        lines.append("<< " + hx(resp))
    return "\n" + "\n".join(lines)


def last_request(client):
    return client.transport.exchanges[-1][0]


def last_response(client):
    return client.transport.exchanges[-1][1]


class EntryDescriptor(selective_access.EntryDescriptor):
    """Blue Book 4.3.6 entry_descriptor (selector 2), which dlms-cosem 25.1.0
    declares but does not encode: structure { from_entry double-long-unsigned,
    to_entry double-long-unsigned, from_selected_value long-unsigned,
    to_selected_value long-unsigned }, 1-based, 0 = the highest."""

    def to_bytes(self):
        return (
            bytes((self.ACCESS_DESCRIPTOR, 0x02, 0x04))
            + dlms_data.DoubleLongUnsignedData(self.from_entry).to_bytes()
            + dlms_data.DoubleLongUnsignedData(self.to_entry).to_bytes()
            + dlms_data.UnsignedLongData(self.from_selected_value).to_bytes()
            + dlms_data.UnsignedLongData(self.to_selected_value).to_bytes()
        )


@pytest.fixture(scope="module")
def meter():
    # dlms-cosem logs every APDU through structlog at info level: keep it quiet
    saved = structlog.get_config()
    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.WARNING))
    s = Simulator(LLS_MANAGER)
    try:
        yield s
    finally:
        rc = s.stop()
        structlog.configure(**saved)
        out = s.output()
        assert rc == 0, "simulator exit code %r:\n%s" % (rc, out)
        assert "Traceback" not in out, out
        assert not [ln for ln in out.splitlines() if ln.startswith("E ")], out


def make_client(meter, sap, secret=None, max_pdu_size=65535, server=MANAGEMENT):
    auth = (
        NoSecurityAuthentication()
        if secret is None
        else LowLevelSecurityAuthentication(secret=secret)
    )
    transport = RecordingTcpTransport(
        client_logical_address=sap,
        server_logical_address=server,
        io=BlockingTcpIO("127.0.0.1", meter.wrapper_port, timeout=5),
    )
    return DlmsClient(transport=transport, authentication=auth, max_pdu_size=max_pdu_size)


@contextlib.contextmanager
def connected(meter, sap, secret=None, **kw):
    """A dlms-cosem client with its TCP connection open, not associated."""
    c = make_client(meter, sap, secret, **kw)
    c.connect()
    try:
        yield c
    finally:
        c.disconnect()


@contextlib.contextmanager
def session(meter, sap, secret=None, **kw):
    """Associated; released (RLRQ/RLRE) at the end."""
    with connected(meter, sap, secret, **kw) as c:
        c.associate()
        yield c
        rlre = c.release_association()
        assert isinstance(rlre, acse.ReleaseResponse), trace(c)


def value(client, attribute, access=None):
    return utils.parse_as_dlms_data(client.get(attribute, access_descriptor=access))


def get_refused(client, attribute):
    return get_refused_with(client, attribute, None)


def get_refused_with(client, attribute, access):
    """The data-access-result of a GET that the meter refuses."""
    with pytest.raises(DataResultError):
        client.get(attribute, access)
    resp = XDlmsApduFactory.apdu_from_bytes(last_response(client))
    assert isinstance(resp, xdlms.GetResponseNormalWithError), trace(client)
    assert client.dlms_connection.state.current_state is READY
    return resp.error


def model_values(fn, t0, t1):
    """{fn(t)} for every whole second t in [t0, t1] (the meter reads its clock
    once per value, somewhere in that window)."""
    return {fn(t) for t in range(int(t0), int(t1) + 2)}


def utc_now():
    return datetime.now(timezone.utc).timestamp()


def register(obis, attr=2):
    return cosem.CosemAttribute(IC.REGISTER, obis, attr)


def profile(attr):
    return cosem.CosemAttribute(IC.PROFILE_GENERIC, LOAD_PROFILE, attr)


# The profile's columns (attribute 3), as dlms-cosem's buffer parser needs them
COLUMNS = [
    CLOCK_TIME,
    STATUS,
    register(IMPORT_TOTAL),
    register(EXPORT_TOTAL),
]


def parse_buffer(raw):
    """Rows of (datetime, status, import Wh, export Wh) through dlms-cosem's own
    ProfileGenericBufferParser (capture_period in minutes)."""
    rows = ProfileGenericBufferParser(capture_objects=COLUMNS, capture_period=PERIOD // 60)
    out = []
    for row in rows.parse_bytes(raw):
        assert [c.attribute for c in row] == COLUMNS
        out.append(tuple(c.value for c in row))
    return out


def check_rows(rows):
    """15-minute steps, on quarter hours, status 0, energies of the simulation."""
    for (t, status, imp, exp), nxt in zip(rows, rows[1:] + [None]):
        utc = t.timestamp()
        assert utc % PERIOD == 0, t
        assert status == 0
        assert imp == MODEL.import_wh(utc), t
        assert exp == MODEL.export_wh(utc), t
        if nxt is not None:
            assert nxt[0] - t == timedelta(seconds=PERIOD), (t, nxt[0])


# -- association -------------------------------------------------------------------


def test_public_association_is_accepted_with_the_negotiated_conformance(meter):
    with connected(meter, PUBLIC) as c:
        aare = c.associate()
        aarq = last_request(c)
        assert last_response(c) == AARE_ACCEPTED, trace(c)
        assert aare.result is enumerations.AssociationResult.ACCEPTED
        assert aare.result_source_diagnostics is DIAG.NULL
        ini = aare.user_information.content
        assert isinstance(ini, xdlms.InitiateResponse)
        assert ini.server_max_receive_pdu_size == 1024
        assert ini.negotiated_dlms_version_number == 6
        conf = ini.negotiated_conformance
        # granted: what the meter implements among what dlms-cosem proposed
        assert conf.get and conf.set and conf.action
        assert conf.selective_access and conf.block_transfer_with_get_or_read
        assert conf.multiple_references
        # proposed by dlms-cosem, not implemented by the meter
        assert not conf.general_block_transfer
        assert not conf.priority_management_supported
        assert not conf.access and not conf.event_notification
        # the quirks this module relies on: calling-AP-title without ciphering,
        # no mechanism for the public client
        assert b"\xa6\x0a\x04\x08uti" in aarq, hx(aarq)
        assert b"\x8b\x07" not in aarq, hx(aarq)
        assert c.dlms_connection.state.current_state is READY
        assert c.dlms_connection.max_pdu_size == 1024
        c.release_association()


def test_reader_lls_association_is_accepted(meter):
    with connected(meter, READER, PASSWORD) as c:
        aare = c.associate()
        aarq = last_request(c)
        # mechanism-name 2.16.756.5.8.2.1 (LLS) and the password as calling-
        # authentication-value [0] GraphicString
        assert h("8B 07 60 85 74 05 08 02 01 AC 0A 80 08") + PASSWORD in aarq, hx(aarq)
        assert last_response(c) == AARE_ACCEPTED, trace(c)
        assert aare.result is enumerations.AssociationResult.ACCEPTED
        # the reader sees what the public client does not: the energy registers
        assert isinstance(value(c, register(IMPORT_TOTAL)), int)
        c.release_association()


def test_wrong_password_is_rejected_with_an_aare(meter):
    with connected(meter, READER, b"87654321") as c:
        with pytest.raises(exceptions.DlmsClientException) as e:
            c.associate()
        # the rejection, not a parse error: dlms-cosem decoded the AARE
        assert "REJECTED_PERMANENT" in str(e.value) and "AUTHENTICATION_FAILED" in str(e.value)
        assert last_response(c) == AARE_AUTHENTICATION_FAILURE, trace(c)
        aare = acse.ApplicationAssociationResponse.from_bytes(last_response(c))
        assert aare.result is enumerations.AssociationResult.REJECTED_PERMANENT
        assert aare.result_source_diagnostics is DIAG.AUTHENTICATION_FAILED
        assert c.dlms_connection.state.current_state is NO_ASSOCIATION
        # the transport connection survives the rejection: associate again on it
        c.dlms_connection.authentication = LowLevelSecurityAuthentication(secret=PASSWORD)
        aare = c.associate()
        assert aare.result is enumerations.AssociationResult.ACCEPTED, trace(c)
        assert value(c, LDN) == b"MPY0000000000001"
        c.release_association()


def test_missing_password_is_rejected_as_authentication_required(meter):
    with connected(meter, READER) as c:  # no mechanism-name, no password
        with pytest.raises(exceptions.DlmsClientException):
            c.associate()
        aare = acse.ApplicationAssociationResponse.from_bytes(last_response(c))
        assert aare.result is enumerations.AssociationResult.REJECTED_PERMANENT, trace(c)
        assert aare.result_source_diagnostics is DIAG.AUTHENTICATION_REQUIRED, trace(c)


def test_unknown_client_is_rejected(meter):
    with connected(meter, 99) as c:
        with pytest.raises(exceptions.DlmsClientException):
            c.associate()
        aare = acse.ApplicationAssociationResponse.from_bytes(last_response(c))
        assert aare.result is enumerations.AssociationResult.REJECTED_PERMANENT, trace(c)


@pytest.mark.parametrize(
    "change, error, aare",
    [
        # nothing in common with the meter: initiate incompatible-conformance
        (
            {"proposed_conformance": Conformance(general_protection=True, data_notification=True)},
            enumerations.InitiateError.INCOMPATIBLE_CONFORMANCE,
            "61 1F A1 09 06 07 60 85 74 05 08 01 01 A2 03 02 01 01 A3 05 A1 03 02 01 01"
            "BE 06 04 04 0E 01 06 02",
        ),
        # client-max-receive-pdu-size 11, under the minimum of 12: pdu-size-too-short
        (
            {"client_max_receive_pdu_size": 11},
            enumerations.InitiateError.PDU_SIZE_TOO_SHORT,
            "61 1F A1 09 06 07 60 85 74 05 08 01 01 A2 03 02 01 01 A3 05 A1 03 02 01 01"
            "BE 06 04 04 0E 01 06 03",
        ),
    ],
)
def test_refused_initiate_request_is_a_confirmed_service_error(meter, change, error, aare):
    """Green Book 9.4.2: the xDLMS context refused, the AARE is rejected-permanent,
    no-reason-given, with a ConfirmedServiceError initiateError in user-information.
    (dlms-cosem's InitiateRequest.to_bytes always writes DLMS version 6, so
    dlms-version-too-low cannot be provoked through it.)"""
    with connected(meter, PUBLIC) as c:
        aarq = c.dlms_connection.get_aarq()
        for k, v in change.items():
            setattr(aarq.user_information.content, k, v)
        with pytest.raises(exceptions.DlmsClientException, match="extra info: %d" % error):
            c.associate(aarq)
        assert last_response(c) == h(aare), trace(c)
        parsed = acse.ApplicationAssociationResponse.from_bytes(last_response(c))
        assert parsed.result is enumerations.AssociationResult.REJECTED_PERMANENT
        assert parsed.result_source_diagnostics is DIAG.NO_REASON_GIVEN
        assert isinstance(parsed.user_information.content, xdlms.ConfirmedServiceError)
        assert parsed.user_information.content.error is error
        assert c.dlms_connection.state.current_state is NO_ASSOCIATION


def test_release_is_accepted_by_the_strict_parser_and_reassociation_works(meter):
    with connected(meter, PUBLIC) as c:
        c.associate()
        rlre = c.release_association()
        rlrq = last_request(c)
        # dlms-cosem's RLRQ: reason normal and an InitiateRequest with the
        # negotiated conformance (00 12 1D) and PDU size (1024)
        assert rlrq == h("62 15 80 01 00 BE 10 04 0E 01 00 00 00 06 5F 1F 04 00 00 12 1D 04 00")
        assert last_response(c) == RLRE_NORMAL, trace(c)
        assert isinstance(rlre, acse.ReleaseResponse)
        assert rlre.reason is enumerations.ReleaseResponseReason.NORMAL
        assert isinstance(rlre.user_information.content, xdlms.InitiateResponse)
        assert rlre.user_information.content.negotiated_conformance.get
        assert c.dlms_connection.state.current_state is NO_ASSOCIATION
        # released: a new association on the same TCP connection
        assert c.associate().result is enumerations.AssociationResult.ACCEPTED
        assert value(c, LDN) == b"MPY0000000000001"
        c.release_association()


# -- GET ---------------------------------------------------------------------------


def test_logical_device_name(meter):
    with session(meter, PUBLIC) as c:
        raw = c.get(LDN)
        assert raw == b"\x09\x10MPY0000000000001", trace(c)
        assert utils.parse_as_dlms_data(raw) == b"MPY0000000000001"


def test_clock_time_and_time_zone(meter):
    with session(meter, PUBLIC) as c:
        before = utc_now()
        raw = c.get(CLOCK_TIME)
        after = utc_now()
        assert raw[:2] == b"\x09\x0c", trace(c)  # octet-string(12), Blue Book 4.1.6.1
        dt, status = time.datetime_from_bytes(utils.parse_as_dlms_data(raw))
        assert dt.tzinfo is not None
        assert before - 2 <= dt.timestamp() <= after + 1, (dt, before, after)
        deviation = int.from_bytes(raw[11:13], "big", signed=True)
        # CET: -60 in winter, -120 with the DST status bit in summer
        assert deviation == (-120 if status.daylight_saving_active else -60), hx(raw)
        assert dt.utcoffset() == timedelta(minutes=-deviation)
        assert not status.invalid and not status.doubtful
        assert value(c, CLOCK_TIME_ZONE) == -60


def test_energy_register_value_and_scaler_unit(meter):
    with session(meter, READER, PASSWORD) as c:
        for obis, fn in ((IMPORT_TOTAL, MODEL.import_wh), (EXPORT_TOTAL, MODEL.export_wh)):
            before = utc_now()
            raw = c.get(register(obis))
            after = utc_now()
            assert raw[0] == 0x06 and len(raw) == 5, trace(c)  # double-long-unsigned
            assert utils.parse_as_dlms_data(raw) in model_values(fn, before, after)
            raw = c.get(register(obis, 3))
            # structure { scaler integer 0, unit enum 30 (Wh) }
            assert raw == h("02 02 0F 00 16 1E"), trace(c)
            assert utils.parse_as_dlms_data(raw) == [0, UNIT_WH]


def test_rate_registers_add_up_to_the_total_in_one_get_with_list(meter):
    with session(meter, READER, PASSWORD) as c:
        items = [
            cosem.CosemAttributeWithSelection(register(cosem.Obis(1, 0, 1, 8, t, 255)), None)
            for t in (0, 1, 2)
        ]
        # each register is whole Wh rounded down on its own, so the total may
        # exceed the sum of the rates by the one Wh their fractions make up
        for _ in range(3):  # the three reads may straddle a second
            resp = c.get_many(items)
            assert isinstance(resp, xdlms.GetResponseWithList), trace(c)
            total, t1, t2 = resp.result
            if total - (t1 + t2) in (0, 1):
                break
        assert total - (t1 + t2) in (0, 1) and t1 > 0 and t2 > 0, trace(c)


def test_voltages(meter):
    with session(meter, READER, PASSWORD) as c:
        for phase in (1, 2, 3):
            obis = cosem.Obis(1, 0, 12 + 20 * phase, 7, 0, 255)
            before = utc_now()
            raw = c.get(register(obis))
            after = utc_now()
            assert raw[0] == 0x12 and len(raw) == 3, trace(c)  # long-unsigned
            v = utils.parse_as_dlms_data(raw)
            expected = model_values(
                lambda t, p=phase: int(MODEL.voltage(t, p) * 10 + 0.5), before, after
            )
            assert v in expected, (phase, v, expected)
            assert 2200 <= v <= 2400
            # structure { scaler -1, unit 35 (V) }
            assert c.get(register(obis, 3)) == h("02 02 0F FF 16 23"), trace(c)
            assert value(c, register(obis, 3)) == [-1, UNIT_V]
        resp = c.get_many(
            [
                cosem.CosemAttributeWithSelection(
                    register(cosem.Obis(1, 0, 12 + 20 * p, 7, 0, 255)), None
                )
                for p in (1, 2, 3)
            ]
        )
        assert isinstance(resp, xdlms.GetResponseWithList), trace(c)
        assert all(2200 <= v <= 2400 for v in resp.result), resp.result


def test_public_client_sees_only_public_objects(meter):
    with session(meter, PUBLIC) as c:
        # registers and the load profile are not in the public association's
        # object list: object-undefined, as a data-access-result
        assert get_refused(c, register(IMPORT_TOTAL)) is DAR.OBJECT_UNDEFINED, trace(c)
        assert get_refused(c, profile(2)) is DAR.OBJECT_UNDEFINED, trace(c)
        # wrong class id for an existing object
        wrong = cosem.CosemAttribute(IC.REGISTER, cosem.Obis(0, 0, 42, 0, 0, 255), 2)
        assert get_refused(c, wrong) is DAR.OBJECT_CLASS_INCONSISTENT, trace(c)
        # the association goes on
        assert value(c, LDN) == b"MPY0000000000001"


def test_get_with_list_mixes_data_and_data_access_results(meter):
    with session(meter, PUBLIC) as c:
        resp = c.get_many(
            [
                cosem.CosemAttributeWithSelection(LDN, None),
                cosem.CosemAttributeWithSelection(register(IMPORT_TOTAL), None),
                cosem.CosemAttributeWithSelection(CLOCK_TIME_ZONE, None),
            ]
        )
        assert isinstance(resp, xdlms.GetResponseWithList), trace(c)
        assert resp.result == [b"MPY0000000000001", DAR.OBJECT_UNDEFINED, -60], trace(c)


# -- Association LN, SAP assignment, the gas logical device ------------------------------

ASSOCIATION = cosem.Obis(0, 0, 40, 0, 0, 255)


def association(attr):
    return cosem.CosemAttribute(IC.ASSOCIATION_LN, ASSOCIATION, attr)


# dlms-cosem's AssociationObjectListParser reads access modes as bit masks:
# bit 0 read (reported as 0), bit 1 write (reported as 1). Blue Book 4.4.3's
# enum (0 no-access, 1 read-only, 2 write-only, 3 read-and-write) maps onto it.
READ_ONLY, READ_WRITE, NO_ACCESS = [0], [0, 1], []


def object_list(client):
    raw = client.get(association(2))
    objs = AssociationObjectListParser.parse_entries(utils.parse_as_dlms_data(raw))
    return {(o.interface, o.logical_name.to_string()): o for o in objs}


def test_public_object_list_through_dlms_cosem(meter):
    with session(meter, PUBLIC) as c:
        objs = object_list(c)
    assert sorted(objs) == [
        (1, "0-0:42.0.0.255"),
        (1, "0-0:96.1.0.255"),
        (1, "1-0:0.2.0.255"),
        (8, "0-0:1.0.0.255"),
        (15, "0-0:40.0.0.255"),
        (17, "0-0:41.0.0.255"),
    ], sorted(objs)
    clock = objs[(8, "0-0:1.0.0.255")]
    assert clock.version == 0
    # the public client reads the clock and may not write it nor run its methods
    for a in range(1, 10):
        assert clock.attribute_access_rights[a].access_rights == READ_ONLY, a
    assert sorted(clock.method_access_rights) == [1, 2, 3, 4, 5, 6]
    assert all(m.access_rights == NO_ACCESS for m in clock.method_access_rights.values())
    # the secret (attribute 7) is nobody's but the manager's
    own = objs[(15, "0-0:40.0.0.255")]
    assert own.version == 1
    assert own.attribute_access_rights[7].access_rights == NO_ACCESS


def test_manager_object_list_through_dlms_cosem(meter):
    with session(meter, MANAGER, PASSWORD) as c:
        objs = object_list(c)
    assert len(objs) == 49, sorted(objs)
    clock = objs[(8, "0-0:1.0.0.255")]
    rights = {a: r.access_rights for a, r in clock.attribute_access_rights.items()}
    assert rights == {
        1: READ_ONLY,
        2: READ_WRITE,
        3: READ_WRITE,
        4: READ_ONLY,
        5: READ_WRITE,
        6: READ_WRITE,
        7: READ_WRITE,
        8: READ_WRITE,
        9: READ_ONLY,
    }
    lp = objs[(7, "1-0:99.1.0.255")]
    assert lp.version == 1
    # buffer: read-only, selective access by range (1) and by entry (2)
    assert lp.attribute_access_rights[2].access_rights == READ_ONLY
    assert lp.attribute_access_rights[2].access_selectors == [1, 2]
    demand = objs[(5, "1-0:1.4.0.255")]
    assert demand.attribute_access_rights[8].access_rights == READ_WRITE
    for ln in ("1-0:1.8.0.255", "1-0:32.7.0.255", "1-0:52.7.0.255", "1-0:72.7.0.255"):
        assert (3, ln) in objs, ln
    # the manager also sees the association objects of every client
    for n in (1, 2, 3):
        assert (15, "0-0:40.0.%d.255" % n) in objs
    assert objs[(15, "0-0:40.0.0.255")].attribute_access_rights[7].access_rights == [1]


def test_association_ln_attributes(meter):
    with session(meter, PUBLIC) as c:
        assert value(c, association(3)) == [PUBLIC, MANAGEMENT]  # associated_partners_id
        # application context LN without ciphering, 2.16.756.5.8.1.1
        assert value(c, association(4)) == [2, 16, 756, 5, 8, 1, 1]
        # xDLMS_context_info: dlms-cosem cannot decode a bit-string, so in hex:
        # conformance 00 12 1D, max receive 1024, max send 65535 (the client's
        # proposal), version 6, quality of service 0, no cyphering info
        assert c.get(association(5)) == h(
            "02 06 04 18 00 12 1D 12 04 00 12 FF FF 11 06 0F 00 09 00"
        ), trace(c)
        assert value(c, association(6)) == [2, 16, 756, 5, 8, 2, 0]  # no authentication
        assert value(c, association(8)) == 2  # associated
    with session(meter, READER, PASSWORD) as c:
        assert value(c, association(3)) == [READER, MANAGEMENT]
        assert value(c, association(6)) == [2, 16, 756, 5, 8, 2, 1]  # LLS


@pytest.mark.parametrize("sap, secret", [(PUBLIC, None), (READER, PASSWORD), (MANAGER, PASSWORD)])
def test_current_association_logical_name(meter, sap, secret):
    """Attribute 1 of the current association is the name object_list lists it
    under, 0.0.40.0.0.255 (Blue Book 4.4.3), and the client can address it.

    KNOWN METER BUG (fails today): the meter answers 0.0.40.0.N.255, the
    instance behind the current association, which object_list does not list
    for this client and which the public and reader clients cannot address
    (object-undefined). Also seen by gurux (test_interop_gurux.py)."""
    with session(meter, sap, secret) as c:
        objs = object_list(c)
        assert (15, "0-0:40.0.0.255") in objs
        raw = c.get(association(1))
        ln = utils.parse_as_dlms_data(raw)
        named = cosem.Obis.from_bytes(ln).to_string()
        assert (15, named) in objs, "object_list lacks %s%s" % (named, trace(c, 1))
        assert raw == h("09 06 00 00 28 00 00 FF"), trace(c, 1)


def test_sap_assignment(meter):
    with session(meter, PUBLIC) as c:
        sap = cosem.CosemAttribute(IC.SAP_ASSIGNMENT, cosem.Obis(0, 0, 41, 0, 0, 255), 2)
        assert value(c, sap) == [[1, b"MPY0000000000001"], [2, b"MPYGAS0000000001"]]


def test_gas_logical_device_on_wport_2(meter):
    with session(meter, PUBLIC, server=GAS) as c:
        assert value(c, LDN) == b"MPYGAS0000000001", trace(c)
    gas = register(cosem.Obis(7, 0, 3, 0, 0, 255))
    with session(meter, READER, PASSWORD, server=GAS) as c:
        before = utc_now()
        v = value(c, gas)
        after = utc_now()
        assert v in model_values(lambda t: int(MODEL.gas_m3(t) * 1000), before, after)
        assert value(c, register(gas.instance, 3)) == [-3, 14]  # 0.001 m3
        # the electricity objects are not in the gas logical device
        assert get_refused(c, register(IMPORT_TOTAL)) is DAR.OBJECT_UNDEFINED, trace(c)


# -- load profile --------------------------------------------------------------------


def test_load_profile_attributes(meter):
    with session(meter, READER, PASSWORD) as c:
        assert value(c, profile(4)) == PERIOD
        assert value(c, profile(7)) == ENTRIES
        assert value(c, profile(8)) == ENTRIES
        defs = value(c, profile(3))
        assert defs == [
            [8, bytes((0, 0, 1, 0, 0, 255)), 2, 0],
            [1, bytes((0, 0, 96, 10, 1, 255)), 2, 0],
            [3, bytes((1, 0, 1, 8, 0, 255)), 2, 0],
            [3, bytes((1, 0, 2, 8, 0, 255)), 2, 0],
        ], trace(c)


@pytest.mark.parametrize("offset_hours", [0, 1, -5])
def test_load_profile_one_day_by_range(meter, offset_hours):
    """RangeDescriptor on the clock column: one day, from a midnight to 23:59:59
    in a fixed UTC offset (dlms-cosem encodes the Blue Book deviation)."""
    tz = timezone(timedelta(hours=offset_hours))
    start = datetime.now(tz).replace(hour=0, minute=0, second=0, microsecond=0)
    start -= timedelta(days=2)
    end = start + timedelta(hours=23, minutes=59, seconds=59)
    rd = selective_access.RangeDescriptor(
        restricting_object=CaptureObject(CLOCK_TIME), from_value=start, to_value=end
    )
    with session(meter, READER, PASSWORD) as c:
        raw = c.get(profile(2), access_descriptor=rd)
        req = c.transport.exchanges[1][0]  # after the AARQ
        assert req == h("C0 01 C1 00 07 01 00 63 01 00 FF 02 01") + rd.to_bytes(), hx(req)
        # 96 rows of 28 octets: GET-Response-With-Datablock of at most 1024 octets
        blocks = [r for _, r in c.transport.exchanges[1:]]
        assert len(blocks) == 3, trace(c, 4)
        assert all(r[:3] == h("C4 02 C1") and len(r) <= 1024 for r in blocks), trace(c, 4)
        rows = parse_buffer(raw)
    assert len(rows) == 96, trace(c)
    assert rows[0][0] == start and rows[-1][0] == start + timedelta(hours=23, minutes=45)
    check_rows(rows)


def test_load_profile_day_by_range_in_local_time(meter):
    """Without a deviation (0x8000) the bounds are the meter's local time."""
    day = datetime.now(timezone.utc).date() - timedelta(days=3)
    # keep clear of the EU DST switch days (last Sundays of March and October)
    while (
        day.month in (3, 10) and day.weekday() == 6 and (day + timedelta(days=7)).month != day.month
    ):
        day -= timedelta(days=1)
    start = datetime(day.year, day.month, day.day)
    rd = selective_access.RangeDescriptor(
        restricting_object=CaptureObject(CLOCK_TIME),
        from_value=start,
        to_value=start + timedelta(hours=23, minutes=59, seconds=59),
    )
    assert time.datetime_to_bytes(start)[9:11] == b"\x80\x00"  # deviation not specified
    with session(meter, READER, PASSWORD) as c:
        rows = parse_buffer(c.get(profile(2), access_descriptor=rd))
    assert len(rows) == 96
    # the wall-clock time stamps the meter wrote, local midnight to 23:45
    assert rows[0][0].replace(tzinfo=None) == start
    assert rows[-1][0].replace(tzinfo=None) == start + timedelta(hours=23, minutes=45)
    check_rows(rows)


def test_load_profile_by_entry(meter):
    # dlms-cosem 25.1.0 does not encode the entry descriptor itself
    with pytest.raises(NotImplementedError):
        selective_access.EntryDescriptor(from_entry=1).to_bytes()
    with session(meter, READER, PASSWORD) as c:
        before = utc_now()
        # the newest four entries (to_entry 0 = the highest), all columns
        rows = parse_buffer(c.get(profile(2), EntryDescriptor(from_entry=ENTRIES - 3, to_entry=0)))
        after = utc_now()
        assert len(rows) == 4, trace(c)
        check_rows(rows)
        newest = rows[-1][0].timestamp()
        assert before - PERIOD - 1 <= newest <= after, (rows[-1][0], before)
        # the first two entries, columns 3..4 (import, export) only
        raw = c.get(
            profile(2),
            EntryDescriptor(from_entry=1, to_entry=2, from_selected_value=3, to_selected_value=4),
        )
        pairs = utils.parse_as_dlms_data(raw)

        def first_two(newest):
            oldest = newest - (ENTRIES - 1) * PERIOD
            return [[MODEL.import_wh(t), MODEL.export_wh(t)] for t in (oldest, oldest + PERIOD)]

        # (a quarter hour may have begun between the two reads)
        assert pairs in (first_two(newest), first_two(newest + PERIOD)), trace(c)


def test_whole_load_profile_in_small_blocks(meter):
    """No selective access: all 2880 entries, with a client PDU of 512 octets
    that the meter must respect in every GET-Response-With-Datablock."""
    with session(meter, READER, PASSWORD, max_pdu_size=512) as c:
        raw = c.get(profile(2))
        blocks = [r for _, r in c.transport.exchanges[1:]]
        assert len(blocks) > 100
        assert max(len(r) for r in blocks) <= 512
        rows = parse_buffer(raw)
    assert len(rows) == ENTRIES
    check_rows(rows)


def test_empty_selections_are_empty_arrays(meter):
    future = datetime.now(timezone.utc) + timedelta(days=3)
    after_the_newest = selective_access.RangeDescriptor(
        restricting_object=CaptureObject(CLOCK_TIME),
        from_value=future,
        to_value=future + timedelta(days=1),
    )
    with session(meter, READER, PASSWORD) as c:
        assert c.get(profile(2), after_the_newest) == b"\x01\x00", trace(c)
        # from_entry past entries_in_use
        assert c.get(profile(2), EntryDescriptor(from_entry=ENTRIES + 1)) == b"\x01\x00"
        assert parse_buffer(b"\x01\x00") == []
        # only the clock column restricts a range: other-reason
        by_import = selective_access.RangeDescriptor(
            restricting_object=CaptureObject(register(IMPORT_TOTAL)),
            from_value=future - timedelta(days=2),
            to_value=future,
        )
        assert get_refused_with(c, profile(2), by_import) is DAR.OTHER_REASON, trace(c)


def test_long_get_survives_requests_on_another_connection(meter):
    """Blocks of one association interleaved with GETs of another association
    on a second TCP connection: transfer state is per association."""
    start = datetime.now(timezone.utc).replace(hour=0, minute=0, second=0, microsecond=0)
    start -= timedelta(days=5)
    rd = selective_access.RangeDescriptor(
        restricting_object=CaptureObject(CLOCK_TIME),
        from_value=start,
        to_value=start + timedelta(hours=23, minutes=59),
    )
    with session(meter, READER, PASSWORD) as c, session(meter, PUBLIC) as other:
        c.send(xdlms.GetRequestNormal(cosem_attribute=profile(2), access_selection=rd))
        resp = c.next_event()
        data = bytearray()
        while isinstance(resp, xdlms.GetResponseWithBlock):
            data += resp.data
            assert value(other, LDN) == b"MPY0000000000001", trace(other)
            c.send(
                xdlms.GetRequestNext(
                    invoke_id_and_priority=resp.invoke_id_and_priority,
                    block_number=resp.block_number,
                )
            )
            resp = c.next_event()
        assert isinstance(resp, xdlms.GetResponseLastBlock), trace(c)
        assert resp.block_number == 3
        data += resp.data
        rows = parse_buffer(bytes(data))
    assert len(rows) == 96 and rows[0][0] == start
    check_rows(rows)


# -- SET ------------------------------------------------------------------------------


def test_public_set_is_refused_with_read_write_denied(meter):
    with session(meter, PUBLIC) as c:
        new = dlms_data.OctetStringData(
            time.datetime_to_bytes(datetime(2030, 1, 1, tzinfo=timezone.utc))
        )
        resp = c.set(CLOCK_TIME, new.to_bytes())
        assert isinstance(resp, xdlms.SetResponseNormal), trace(c)
        assert resp.result is DAR.READ_WRITE_DENIED, trace(c)
        assert last_response(c) == h("C5 01 C1 03")
        # a data-access-result, not a dropped association: the time did not move
        dt, _ = time.datetime_from_bytes(value(c, CLOCK_TIME))
        assert abs(dt.timestamp() - utc_now()) < 3


def test_reader_set_is_refused_with_read_write_denied(meter):
    with session(meter, READER, PASSWORD) as c:
        resp = c.set(DEMAND_PERIOD, dlms_data.DoubleLongUnsignedData(1800).to_bytes())
        assert resp.result is DAR.READ_WRITE_DENIED, trace(c)
        assert value(c, DEMAND_PERIOD) == PERIOD


def test_manager_sets_the_demand_period(meter):
    with session(meter, MANAGER, PASSWORD) as c:
        assert value(c, DEMAND_PERIOD) == PERIOD
        try:
            resp = c.set(DEMAND_PERIOD, dlms_data.DoubleLongUnsignedData(1800).to_bytes())
            assert resp.result is DAR.SUCCESS, trace(c)
            assert value(c, DEMAND_PERIOD) == 1800
            # attribute 8 is double-long-unsigned: another type is type-unmatched
            resp = c.set(DEMAND_PERIOD, dlms_data.UnsignedLongData(600).to_bytes())
            assert resp.result is DAR.TYPE_UNMATCHED, trace(c)
            assert value(c, DEMAND_PERIOD) == 1800
        finally:
            resp = c.set(DEMAND_PERIOD, dlms_data.DoubleLongUnsignedData(PERIOD).to_bytes())
        assert resp.result is DAR.SUCCESS, trace(c)
        assert value(c, DEMAND_PERIOD) == PERIOD


def test_manager_sets_the_clock(meter):
    target = datetime(2031, 7, 15, 10, 30, 0, tzinfo=timezone(timedelta(hours=2)))
    with session(meter, MANAGER, PASSWORD) as c:
        try:
            data = dlms_data.OctetStringData(time.datetime_to_bytes(target)).to_bytes()
            resp = c.set(CLOCK_TIME, data)
            assert resp.result is DAR.SUCCESS, trace(c)
            raw = c.get(CLOCK_TIME)
            dt, status = time.datetime_from_bytes(utils.parse_as_dlms_data(raw))
            assert 0 <= dt.timestamp() - target.timestamp() <= 2, (dt, target)
            # July in CET: summer time, deviation -120, status bit 7
            assert status.daylight_saving_active, hx(raw)
            assert dt.utcoffset() == timedelta(hours=2)
        finally:
            now = dlms_data.OctetStringData(time.datetime_to_bytes(datetime.now(timezone.utc)))
            resp = c.set(CLOCK_TIME, now.to_bytes())
        assert resp.result is DAR.SUCCESS, trace(c)
        dt, _ = time.datetime_from_bytes(value(c, CLOCK_TIME))
        assert abs(dt.timestamp() - utc_now()) < 3


def test_manager_shifts_the_clock_and_the_public_client_may_not(meter):
    shift_time = cosem.CosemMethod(IC.CLOCK, cosem.Obis(0, 0, 1, 0, 0, 255), 6)
    # dlms-cosem sends ACTION with invoke-id-and-priority C0 (GET and SET: C1);
    # the meter echoes it. Action-Response-Normal: result, no return parameters.
    with session(meter, PUBLIC) as c:
        with pytest.raises(ActionError, match="READ_WRITE_DENIED"):
            c.action(shift_time, dlms_data.LongData(60).to_bytes())
        assert last_response(c) == h("C7 01 C0 03 00"), trace(c)
    with session(meter, MANAGER, PASSWORD) as c:
        try:
            # Blue Book 4.5.1 method 6 shift_time(long -900..900 s)
            assert c.action(shift_time, dlms_data.LongData(600).to_bytes()) is None
            assert last_response(c) == h("C7 01 C0 00 00"), trace(c)
            dt, _ = time.datetime_from_bytes(value(c, CLOCK_TIME))
            assert 598 <= dt.timestamp() - utc_now() <= 601, dt
            with pytest.raises(ActionError, match="OTHER_REASON"):
                c.action(shift_time, dlms_data.LongData(901).to_bytes())
        finally:
            c.action(shift_time, dlms_data.LongData(-600).to_bytes())
        dt, _ = time.datetime_from_bytes(value(c, CLOCK_TIME))
        assert abs(dt.timestamp() - utc_now()) < 3
