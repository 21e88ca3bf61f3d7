"""Script table, interface class 9 version 0 (Blue Book 4.5.2), and Single
action schedule, interface class 22 version 0 (Blue Book 4.5.7).

Scripts act on the logical device the way a management client would, but
without its access checks: a write calls ``obj.set``, an execute
``obj.action``, with a ``ScriptContext`` when no association is running them.

Dates and times in schedules may hold wildcards (Blue Book 4.1.6.1): year
0xFFFF, month / day / weekday / hour / minute / second 0xFF match any value;
day 0xFE is the last day of the month, 0xFD the second last. A month of
0xFD / 0xFE (daylight saving end / begin) is not supported and never matches.
"""

import log
from dlms import axdr, obis
from dlms.errors import DataAccessError, DecodeError
from micropython import const

from cosem.base import (
    MANAGER,
    OBJECT_UNAVAILABLE,
    OTHER_REASON,
    TYPE_UNMATCHED,
    CosemObject,
    expect,
)
from cosem.clock import month_days

SCRIPT_TABLE_CLASS_ID = const(9)
WRITE_ATTRIBUTE = const(1)  # service_id of an action_specification
EXECUTE_METHOD = const(2)

_FF = const(0xFF)
_MAX_SCRIPTS = const(16)
_MAX_ACTIONS = const(8)  # per script
_MAX_TIMES = const(16)  # execution_time entries
_MAX_DAYS = const(400)  # local days a single tick looks back over
_MAX_DEPTH = const(4)  # scripts executing scripts, nested

# (table, script_identifier) of the scripts executing now, outermost first
_running = []


class ScriptContext:
    """What an object sees of the association when the meter itself runs a
    script (a schedule or calendar): the device, manager level, a clock."""

    def __init__(self, device, clock=None):
        self.device = device
        self.level = MANAGER
        self.association_object = None
        self.server = self  # objects read ctx.server.clock
        self.clock = clock


# -- wildcard dates and times ----------------------------------------------------


def date_of(data):
    """A DateTime from an octet-string(5) date; TYPE_UNMATCHED else."""
    try:
        return axdr.DateTime.from_date_bytes(expect(data, axdr.OCTET_STRING))
    except DecodeError:
        raise DataAccessError(TYPE_UNMATCHED)


def time_of(data):
    """A DateTime from an octet-string(4) time; TYPE_UNMATCHED else."""
    try:
        return axdr.DateTime.from_time_bytes(expect(data, axdr.OCTET_STRING))
    except DecodeError:
        raise DataAccessError(TYPE_UNMATCHED)


def date_matches(date, dt):
    """Does the (wildcard) date ``date`` cover the date of local ``dt``?"""
    if date.year != axdr.YEAR_NOT_SPECIFIED and date.year != dt.year:
        return False
    if date.month != _FF and date.month != dt.month:
        return False
    d = date.day
    if d == axdr.LAST_DAY or d == axdr.SECOND_LAST_DAY:
        last = month_days(dt.year, dt.month)
        if dt.day != (last if d == axdr.LAST_DAY else last - 1):
            return False
    elif d != _FF and d != dt.day:
        return False
    return date.weekday == _FF or date.weekday == dt.weekday


def local_day(clock, utc):
    """Days since 1970-01-01 of the local date at ``utc``."""
    return (utc - clock.deviation(utc) * 60) // 86400


def local_instant(clock, day, hour, minute, second):
    """UTC of a local time on local day ``day``: the summer time one in the
    repeated autumn hour, standard time in the hour spring skips."""
    d = axdr.DateTime.from_epoch(day * 86400, 0)
    dt = axdr.DateTime(
        d.year,
        d.month,
        d.day,
        d.weekday,
        hour,
        minute,
        second,
        0,
        axdr.DEVIATION_NOT_SPECIFIED,
        _FF,
    )
    return clock.utc_of(dt)


# -- Script table ------------------------------------------------------------------


def _action_spec(data):
    v = expect(data, axdr.STRUCTURE)
    if len(v) != 5:
        raise DataAccessError(TYPE_UNMATCHED)
    service = expect(v[0], axdr.ENUM)
    if service not in (WRITE_ATTRIBUTE, EXECUTE_METHOD):
        raise DataAccessError(OTHER_REASON)
    class_id = expect(v[1], axdr.LONG_UNSIGNED)
    ln = bytes(expect(v[2], axdr.OCTET_STRING))
    if len(ln) != 6:
        raise DataAccessError(TYPE_UNMATCHED)
    index = expect(v[3], axdr.INTEGER)
    return (service, class_id, ln, index, v[4])


def _script(data):
    v = expect(data, axdr.STRUCTURE)
    if len(v) != 2:
        raise DataAccessError(TYPE_UNMATCHED)
    actions = expect(v[1], axdr.ARRAY)
    if len(actions) > _MAX_ACTIONS:
        raise DataAccessError(OTHER_REASON)
    return (expect(v[0], axdr.LONG_UNSIGNED), [_action_spec(a) for a in actions])


class ScriptTable(CosemObject):
    CLASS_ID = SCRIPT_TABLE_CLASS_ID
    VERSION = 0
    ATTRIBUTES = ("logical_name", "scripts")
    WRITABLE = (2,)
    KEEP = (2,)
    METHODS = ("execute",)

    def __init__(self, ln, scripts=(), public=False):
        """``scripts``: (script_identifier, [(service_id, class_id, ln, index,
        parameter typed data)]) pairs; ln as bytes or dotted text."""
        super().__init__(ln, public)
        self.scripts = [
            (sid, [(s, c, obis.parse(o), i, p) for s, c, o, i, p in acts]) for sid, acts in scripts
        ]

    def execute(self, script_id, ctx):
        """Run script ``script_id`` (Blue Book 4.5.2, method 1) on ctx.device.

        Script 0 is the null script: nothing is done. A script that is
        already executing (it executes itself, directly or through another
        script) or scripts nested deeper than _MAX_DEPTH are refused with
        other-reason, which ends every script of the chain with it; what
        they did before stays done."""
        if script_id == 0:
            return
        found = [acts for sid, acts in self.scripts if sid == script_id]
        if not found:
            raise DataAccessError(OTHER_REASON)
        key = (self, script_id)
        if key in _running or len(_running) >= _MAX_DEPTH:
            log.warning("%r: script %d executes itself, refused", self, script_id)
            raise DataAccessError(OTHER_REASON)
        _running.append(key)
        try:
            for service, class_id, ln, index, param in found[0]:
                obj = ctx.device.find(ln)
                if obj is None or obj.CLASS_ID != class_id:
                    raise DataAccessError(OBJECT_UNAVAILABLE)
                if service == WRITE_ATTRIBUTE:
                    obj.set(index, param, ctx)
                else:
                    obj.action(index, param, ctx)
        finally:
            _running.pop()

    def get(self, attr, ctx, selector=None, params=None):
        if attr == 2:
            return (
                axdr.ARRAY,
                [
                    (
                        axdr.STRUCTURE,
                        [
                            (axdr.LONG_UNSIGNED, sid),
                            (
                                axdr.ARRAY,
                                [
                                    (
                                        axdr.STRUCTURE,
                                        [
                                            (axdr.ENUM, s),
                                            (axdr.LONG_UNSIGNED, c),
                                            (axdr.OCTET_STRING, o),
                                            (axdr.INTEGER, i),
                                            p,
                                        ],
                                    )
                                    for s, c, o, i, p in acts
                                ],
                            ),
                        ],
                    )
                    for sid, acts in self.scripts
                ],
            )
        return super().get(attr, ctx, selector, params)

    def set(self, attr, data, ctx):
        if attr != 2:
            return super().set(attr, data, ctx)
        v = expect(data, axdr.ARRAY)
        if len(v) > _MAX_SCRIPTS:
            raise DataAccessError(OTHER_REASON)
        self.scripts = [_script(s) for s in v]

    def action(self, method, data, ctx):
        if method != 1:
            return super().action(method, data, ctx)
        self.execute(expect(data, axdr.LONG_UNSIGNED), ctx)
        return None


def run_script(device, ln, selector, ctx):
    """Execute script ``selector`` of the script table at ``ln``."""
    table = device.find(ln)
    if table is None or table.CLASS_ID != SCRIPT_TABLE_CLASS_ID:
        raise DataAccessError(OBJECT_UNAVAILABLE)
    table.execute(selector, ctx)


# -- Single action schedule -----------------------------------------------------------


class SingleActionSchedule(CosemObject):
    CLASS_ID = 22
    VERSION = 0
    ATTRIBUTES = ("logical_name", "executed_script", "type", "execution_time")
    WRITABLE = (2, 3, 4)
    KEEP = WRITABLE

    def __init__(self, ln, clock, script_ln, selector, type=1, times=(), public=False):
        """``clock``: the cosem Clock (local time); ``times``: (time bytes(4),
        date bytes(5)) pairs, wildcards allowed."""
        super().__init__(ln, public)
        self.clock = clock
        self.script_ln = obis.parse(script_ln)
        self.selector = selector
        self.type = type
        self.times = [
            (axdr.DateTime.from_time_bytes(t), axdr.DateTime.from_date_bytes(d)) for t, d in times
        ]

    def due(self, prev_utc, now_utc):
        """The UTC instants in (prev_utc, now_utc] of the execution times, in order."""
        clock = self.clock
        first = local_day(clock, prev_utc)
        last = local_day(clock, now_utc)
        first = max(first, last - _MAX_DAYS)
        out = []
        for day in range(first, last + 1):
            dt = axdr.DateTime.from_epoch(day * 86400, 0)
            for t, d in self.times:
                if not date_matches(d, dt):
                    continue
                sec = t.second if t.second < 60 else 0
                for hour in range(24) if t.hour == _FF else (t.hour,):
                    for minute in range(60) if t.minute == _FF else (t.minute,):
                        u = local_instant(clock, day, hour, minute, sec)
                        if prev_utc < u <= now_utc and u not in out:
                            out.append(u)
        out.sort()
        return out

    def tick(self, prev_utc, now_utc, device):
        """Run the script once per execution time in (prev_utc, now_utc];
        returns the instants it ran at. A failing script is logged."""
        done = self.due(prev_utc, now_utc)
        ctx = ScriptContext(device, self.clock)
        for _ in done:
            try:
                run_script(device, self.script_ln, self.selector, ctx)
            except DataAccessError as e:
                log.error("%r: script failed: %r", self, e)
        return done

    def get(self, attr, ctx, selector=None, params=None):
        if attr == 2:
            return (
                axdr.STRUCTURE,
                [(axdr.OCTET_STRING, self.script_ln), (axdr.LONG_UNSIGNED, self.selector)],
            )
        if attr == 3:
            return (axdr.ENUM, self.type)
        if attr == 4:
            return (
                axdr.ARRAY,
                [
                    (
                        axdr.STRUCTURE,
                        [(axdr.OCTET_STRING, t.time_bytes()), (axdr.OCTET_STRING, d.date_bytes())],
                    )
                    for t, d in self.times
                ],
            )
        return super().get(attr, ctx, selector, params)

    def set(self, attr, data, ctx):
        if attr == 2:
            v = expect(data, axdr.STRUCTURE)
            if len(v) != 2:
                raise DataAccessError(TYPE_UNMATCHED)
            ln = bytes(expect(v[0], axdr.OCTET_STRING))
            if len(ln) != 6:
                raise DataAccessError(TYPE_UNMATCHED)
            self.selector = expect(v[1], axdr.LONG_UNSIGNED)
            self.script_ln = ln
        elif attr == 3:
            # Blue Book 4.5.7: type 1 has one execution time; 2..5 several
            v = expect(data, axdr.ENUM)
            if not 1 <= v <= 5 or (v == 1 and len(self.times) > 1):
                raise DataAccessError(OTHER_REASON)
            self.type = v
        elif attr == 4:
            v = expect(data, axdr.ARRAY)
            if len(v) > _MAX_TIMES or (self.type == 1 and len(v) > 1):
                raise DataAccessError(OTHER_REASON)
            times = []
            for e in v:
                s = expect(e, axdr.STRUCTURE)
                if len(s) != 2:
                    raise DataAccessError(TYPE_UNMATCHED)
                times.append((time_of(s[0]), date_of(s[1])))
            self.times = times
        else:
            super().set(attr, data, ctx)
