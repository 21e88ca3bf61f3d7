# runtime: cpython-only -- drives the gurux-dlms client against the simulator subprocess
# ruff: noqa: E501
"""Interoperability of the tariff and control objects with gurux-dlms 1.0.203:
activity calendar (class 20), script table (9), special days table (11),
disconnect control (70) and limiter (71), read and driven with gurux's own
object classes over the TCP wrapper (client 1: manager, client 17: reader).
"""

import datetime

import pytest
from gurux_dlms import GXDate, GXDateTime, GXDLMSException, GXTime
from gurux_dlms.enums import AccessMode, ErrorCode
from gurux_dlms.objects import (
    GXDLMSActivityCalendar,
    GXDLMSDayProfile,
    GXDLMSDayProfileAction,
    GXDLMSDisconnectControl,
    GXDLMSLimiter,
    GXDLMSSpecialDay,
    GXDLMSSpecialDaysTable,
)
from simulator import LLS_MANAGER, Simulator, check_clean_stop
from test_interop_gurux import attributes_to_read, session

LINK = "wrapper"
CALENDAR = "0.0.13.0.0.255"
SCRIPTS = "0.0.10.0.100.255"
SPECIAL_DAYS = "0.0.11.0.0.255"
DISCONNECT = "0.0.96.3.10.255"
LIMITER = "0.0.17.0.0.255"
TARIFF = "0.0.96.14.0.255"
CONTROL = [CALENDAR, SCRIPTS, SPECIAL_DAYS, DISCONNECT, LIMITER, TARIFF]


@pytest.fixture(scope="module")
def sim():
    s = Simulator(LLS_MANAGER)
    try:
        yield s
    finally:
        rc = s.stop()
    check_clean_stop(s, rc)


def hms(t):
    """(hour, minute, second) of a gurux GXTime / GXDateTime."""
    v = t.value
    return (v.hour, v.minute, v.second)


def schedules(day_profiles):
    """{day_id: [((h, m, s), script_ln, selector)]} of a gurux day profile table."""
    return {
        d.dayId: [(hms(a.startTime), a.scriptLogicalName, a.scriptSelector) for a in d.daySchedules]
        for d in day_profiles
    }


DEFAULT_DAYS = {
    1: [((7, 0, 0), SCRIPTS, 1), ((23, 0, 0), SCRIPTS, 2)],
    2: [((0, 0, 0), SCRIPTS, 2)],
}


def disconnect_state(s, dc):
    s.read(dc, 2)
    s.read(dc, 3)
    s.read(dc, 4)
    return (dc.outputState, int(dc.controlState), int(dc.controlMode))


# -- readout -------------------------------------------------------------------------


@pytest.mark.parametrize("client_sap", [17, 1])
def test_readout_of_the_control_objects(sim, client_sap):
    """Every attribute the object list marks readable, into gurux's own
    classes (parseObjects makes GXDLMSActivityCalendar and the rest)."""
    with session(sim, LINK, client_sap) as s:
        listed = {o.logicalName: o for o in s.objects()}
        assert set(CONTROL) <= set(listed), s.trace(1)
        types = {
            CALENDAR: GXDLMSActivityCalendar,
            SPECIAL_DAYS: GXDLMSSpecialDaysTable,
            DISCONNECT: GXDLMSDisconnectControl,
            LIMITER: GXDLMSLimiter,
        }
        for ln, cls in types.items():
            assert isinstance(listed[ln], cls), (ln, type(listed[ln]))
        errors = []
        for ln in CONTROL:
            obj = listed[ln]
            for index in attributes_to_read(obj):
                try:
                    s.read(obj, index)
                except Exception as e:
                    errors.append("%s/%d: %r\n%s" % (ln, index, e, s.trace(1)))
        assert not errors, "\n".join(errors)

        cal = listed[CALENDAR]
        assert cal.calendarNameActive == "TARIFF"
        assert schedules(cal.dayProfileTableActive) == DEFAULT_DAYS
        assert schedules(cal.dayProfileTablePassive) == DEFAULT_DAYS
        [season] = cal.seasonProfileActive
        assert (season.weekName, season.start.value.month, season.start.value.day) in (
            ("WEEK", 1, 1),
            (b"WEEK", 1, 1),
        )
        [week] = cal.weekProfileTableActive
        days = (
            week.monday,
            week.tuesday,
            week.wednesday,
            week.thursday,
            week.friday,
            week.saturday,
            week.sunday,
        )
        assert days == (1,) * 7

        scripts = listed[SCRIPTS]
        assert sorted(sc.id for sc in scripts.scripts) == [1, 2]
        for sc in scripts.scripts:
            [act] = sc.actions
            assert (act.target.logicalName if act.target else act.logicalName) == TARIFF
            assert (act.index, act.parameter) == (2, sc.id)

        tariff = listed[TARIFF]
        assert tariff.value in (1, 2)
        local = s.read(listed["0.0.1.0.0.255"], 2).value
        near_a_switch = local.hour in (6, 7, 22, 23) and local.minute in (0, 59)
        if not near_a_switch and not listed[SPECIAL_DAYS].entries:
            assert tariff.value == (1 if 7 <= local.hour < 23 else 2), local

        assert isinstance(listed[SPECIAL_DAYS].entries, list)

        dc = listed[DISCONNECT]
        assert (dc.outputState, int(dc.controlState), int(dc.controlMode)) == (True, 1, 1)

        lim = listed[LIMITER]
        assert lim.monitoredValue is not None and lim.monitoredValue.logicalName == "1.0.1.7.0.255"
        assert lim.monitoredAttributeIndex == 2
        assert (lim.thresholdNormal, lim.thresholdEmergency, lim.thresholdActive) == (
            15000,
            5000,
            15000,
        )
        assert (lim.minOverThresholdDuration, lim.minUnderThresholdDuration) == (60, 60)
        assert lim.actionOverThreshold.logicalName == "0.0.10.0.106.255"
        assert (
            lim.actionOverThreshold.scriptSelector,
            lim.actionUnderThreshold.scriptSelector,
        ) == (1, 2)
        assert lim.emergencyProfileActive is False


# -- the manager writes -------------------------------------------------------------------


def test_special_days_insert_and_delete(sim):
    with session(sim, LINK, 1) as s:
        table = GXDLMSSpecialDaysTable(SPECIAL_DAYS)
        s.read(table, 2)
        before = [(e.index, e.dayId) for e in table.entries]
        entry = GXDLMSSpecialDay()
        entry.index = 42
        entry.date = GXDate(datetime.datetime(2031, 12, 25))
        entry.dayId = 2
        assert s.call(table.insert(s.client, entry)) is None, s.trace(1)
        s.read(table, 2)
        got = {e.index: e for e in table.entries}
        assert 42 in got, s.trace(1)
        d = got[42].date.value
        assert (d.year, d.month, d.day, got[42].dayId) == (2031, 12, 25, 2), s.trace(1)
        assert s.call(table.delete(s.client, entry)) is None, s.trace(1)
        s.read(table, 2)
        assert [(e.index, e.dayId) for e in table.entries] == before, s.trace(1)


def day_profile(day_id, actions):
    p = GXDLMSDayProfile()
    p.dayId = day_id
    p.daySchedules = [
        GXDLMSDayProfileAction(GXTime(datetime.datetime(2000, 1, 1, h, m)), SCRIPTS, sel)
        for (h, m), sel in actions
    ]
    return p


def test_passive_calendar_write_and_activate(sim):
    with session(sim, LINK, 1) as s:
        cal = GXDLMSActivityCalendar(CALENDAR)
        s.read(cal, 9)
        assert schedules(cal.dayProfileTablePassive) == DEFAULT_DAYS
        new = {
            1: [((6, 30, 0), SCRIPTS, 1), ((22, 0, 0), SCRIPTS, 2)],
            2: [((0, 0, 0), SCRIPTS, 2)],
        }
        cal.dayProfileTablePassive = [
            day_profile(1, [((6, 30), 1), ((22, 0), 2)]),
            day_profile(2, [((0, 0), 2)]),
        ]
        s.write(cal, 9)
        s.read(cal, 9)
        assert schedules(cal.dayProfileTablePassive) == new, s.trace(2)
        s.read(cal, 5)
        assert schedules(cal.dayProfileTableActive) == DEFAULT_DAYS, s.trace(1)

        # activate_passive_calendar_time: written and read back (far in the future)
        cal.time = GXDateTime(datetime.datetime(2040, 1, 1, 0, 0, tzinfo=datetime.timezone.utc))
        s.write(cal, 10)
        s.read(cal, 10)
        t = cal.time.value
        assert (t.year, t.month, t.day) == (2040, 1, 1), s.trace(2)

        # activate now (method 1): the passive tables become active
        assert s.call(cal.activatePassiveCalendar(s.client)) is None, s.trace(1)
        s.read(cal, 5)
        assert schedules(cal.dayProfileTableActive) == new, s.trace(1)

        # back to the shipped calendar
        cal.dayProfileTablePassive = [
            day_profile(1, [((7, 0), 1), ((23, 0), 2)]),
            day_profile(2, [((0, 0), 2)]),
        ]
        s.write(cal, 9)
        s.call(cal.activatePassiveCalendar(s.client))
        s.read(cal, 5)
        assert schedules(cal.dayProfileTableActive) == DEFAULT_DAYS, s.trace(1)


def test_disconnect_control_remote_methods(sim):
    """Blue Book 4.5.8 state machine as gurux drives it. Mode 1 (transitions
    a b c e f g): remote_disconnect connected -> disconnected (c);
    remote_reconnect disconnected -> ready_for_reconnection (a), the supply
    stays off until the customer's button. Mode 2 reconnects directly (d)."""
    with session(sim, LINK, 1) as s:
        dc = GXDLMSDisconnectControl(DISCONNECT)
        assert disconnect_state(s, dc) == (True, 1, 1), s.trace(3)
        try:
            assert s.call(dc.remoteDisconnect(s.client)) is None, s.trace(1)
            assert disconnect_state(s, dc) == (False, 0, 1), s.trace(4)
            assert s.call(dc.remoteReconnect(s.client)) is None, s.trace(1)
            assert disconnect_state(s, dc) == (False, 2, 1), s.trace(4)

            # mode 2: ready -> disconnected (b), then directly connected (d)
            dc.controlMode = 2
            s.write(dc, 4)
            s.call(dc.remoteDisconnect(s.client))
            assert disconnect_state(s, dc) == (False, 0, 2), s.trace(4)
            s.call(dc.remoteReconnect(s.client))
            assert disconnect_state(s, dc) == (True, 1, 2), s.trace(4)

            # mode 0: always connected; remote_disconnect refused with an
            # action-result, the association goes on
            dc.controlMode = 0
            s.write(dc, 4)
            with pytest.raises(GXDLMSException) as e:
                s.call(dc.remoteDisconnect(s.client))
            assert e.value.errorCode == ErrorCode.READ_WRITE_DENIED, s.trace(1)
            assert s.log[-1][1].split()[8:9] == ["C7"], s.trace(1)  # action-response
            assert disconnect_state(s, dc) == (True, 1, 0), s.trace(4)
        finally:
            dc.controlMode = 1
            s.write(dc, 4)
        assert disconnect_state(s, dc) == (True, 1, 1), s.trace(4)


def test_limiter_threshold_normal_write(sim):
    with session(sim, LINK, 1) as s:
        lim = GXDLMSLimiter(LIMITER)
        assert s.read(lim, 4) == 15000, s.trace(1)
        try:
            lim.thresholdNormal = 12000
            s.write(lim, 4)
            assert s.read(lim, 4) == 12000, s.trace(2)
            assert s.read(lim, 3) == 12000, s.trace(1)  # threshold_active follows
        finally:
            lim.thresholdNormal = 15000
            s.write(lim, 4)
        assert s.read(lim, 4) == 15000, s.trace(1)


# -- the reader may read, not write -------------------------------------------------------


def test_reader_is_refused_writes_and_methods(sim):
    with session(sim, LINK, 17) as s:
        listed = {o.logicalName: o for o in s.objects()}
        lim = listed[LIMITER]
        dc = listed[DISCONNECT]
        cal = listed[CALENDAR]
        assert not lim.getAccess(4) & AccessMode.WRITE
        assert not dc.getAccess(4) & AccessMode.WRITE
        s.read(lim, 4)
        s.read(dc, 4)
        s.read(cal, 10)
        for obj, index in ((lim, 4), (dc, 4), (cal, 10)):
            with pytest.raises(GXDLMSException) as e:
                s.write(obj, index)
            assert e.value.errorCode == ErrorCode.READ_WRITE_DENIED, s.trace(1)
        with pytest.raises(GXDLMSException) as e:
            s.call(dc.remoteDisconnect(s.client))
        assert e.value.errorCode == ErrorCode.READ_WRITE_DENIED, s.trace(1)
        entry = GXDLMSSpecialDay()
        entry.index, entry.date, entry.dayId = 7, GXDate(datetime.datetime(2031, 1, 1)), 2
        with pytest.raises(GXDLMSException) as e:
            s.call(GXDLMSSpecialDaysTable(SPECIAL_DAYS).insert(s.client, entry))
        assert e.value.errorCode == ErrorCode.READ_WRITE_DENIED, s.trace(1)
    # nothing changed
    with session(sim, LINK, 1) as s:
        dc = GXDLMSDisconnectControl(DISCONNECT)
        assert disconnect_state(s, dc) == (True, 1, 1)
        assert s.read(GXDLMSLimiter(LIMITER), 4) == 15000
