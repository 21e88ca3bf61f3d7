"""Special days table, interface class 11 version 0 (Blue Book 4.5.4), and
Activity calendar, interface class 20 version 0 (Blue Book 4.5.5).

The calendar finds the action in force at a local time: the season whose
start (a date-time, year 0xFFFF for every year) last passed names a week
profile, the week profile gives the day_id of the weekday, a special day
overrides it, and the last action of that day profile whose start_time has
passed is in force (before the first one, the last action of the day before).
"""

import log
from dlms import axdr, obis
from dlms.errors import DataAccessError, DecodeError
from micropython import const

from cosem.base import OTHER_REASON, TYPE_UNMATCHED, CosemObject, expect
from cosem.schedule import (
    WRITE_ATTRIBUTE,
    ScriptContext,
    ScriptTable,
    date_matches,
    date_of,
    run_script,
    time_of,
)

_FF = const(0xFF)
_MAX_ENTRIES = const(32)  # special days, seasons, weeks, days, actions per day
_LOOK_BACK = const(7)  # days searched back for the action of the previous day

TARIFF_SCRIPT_TABLE = "0.0.10.0.100.255"
CURRENT_TARIFF = "0.0.96.14.0.255"
ACTIVITY_CALENDAR = "0.0.13.0.0.255"


def _local_secs(y, m, d, hh=0, mm=0, ss=0):
    return axdr.DateTime.from_tuple(y, m, d, hh, mm, ss).to_epoch()


def _struct(data, n):
    v = expect(data, axdr.STRUCTURE)
    if len(v) != n:
        raise DataAccessError(TYPE_UNMATCHED)
    return v


def _array(data):
    v = expect(data, axdr.ARRAY)
    if len(v) > _MAX_ENTRIES:
        raise DataAccessError(OTHER_REASON)
    return v


def _octets(data):
    return bytes(expect(data, axdr.OCTET_STRING))


def _secs_of_day(t):
    if t.hour > 23:
        raise DataAccessError(OTHER_REASON)
    return (
        t.hour * 3600 + (t.minute if t.minute < 60 else 0) * 60 + (t.second if t.second < 60 else 0)
    )


# -- Special days table ------------------------------------------------------------


class SpecialDaysTable(CosemObject):
    CLASS_ID = 11
    VERSION = 0
    ATTRIBUTES = ("logical_name", "entries")
    WRITABLE = (2,)
    KEEP = (2,)
    METHODS = ("insert", "delete")

    def __init__(self, ln, entries=(), public=False):
        """``entries``: (index, date bytes(5) with wildcards, day_id)."""
        super().__init__(ln, public)
        self.entries = []
        for i, d, day_id in entries:
            self._insert(i, axdr.DateTime.from_date_bytes(d), day_id)

    def _insert(self, index, date, day_id):
        # Blue Book 4.5.4 method 1: an entry with the same index, or with the
        # same date (wildcards included), is replaced
        key = date.date_bytes()
        self.entries = [e for e in self.entries if e[0] != index and e[1].date_bytes() != key]
        if len(self.entries) >= _MAX_ENTRIES:
            raise DataAccessError(OTHER_REASON)
        self.entries.append((index, date, day_id))
        self.entries.sort(key=lambda e: e[0])

    @staticmethod
    def _entry(data):
        v = _struct(data, 3)
        return (expect(v[0], axdr.LONG_UNSIGNED), date_of(v[1]), expect(v[2], axdr.UNSIGNED))

    def day_id(self, dt):
        """The day_id of the first entry covering local ``dt``'s date, or None."""
        for _, date, day_id in self.entries:
            if date_matches(date, dt):
                return day_id
        return None

    def get(self, attr, ctx, selector=None, params=None):
        if attr == 2:
            return (
                axdr.ARRAY,
                [
                    (
                        axdr.STRUCTURE,
                        [
                            (axdr.LONG_UNSIGNED, i),
                            (axdr.OCTET_STRING, d.date_bytes()),
                            (axdr.UNSIGNED, day_id),
                        ],
                    )
                    for i, d, day_id in self.entries
                ],
            )
        return super().get(attr, ctx, selector, params)

    def set(self, attr, data, ctx):
        if attr != 2:
            return super().set(attr, data, ctx)
        entries = [self._entry(e) for e in _array(data)]
        self.entries = []
        for e in entries:
            self._insert(*e)

    def action(self, method, data, ctx):
        if method == 1:
            self._insert(*self._entry(data))
        elif method == 2:
            # deleting an index that is not there leaves the table as it is
            index = expect(data, axdr.LONG_UNSIGNED)
            self.entries = [e for e in self.entries if e[0] != index]
        else:
            return super().action(method, data, ctx)
        return None


# -- Activity calendar ------------------------------------------------------------------


class Calendar:
    """One set of calendar attributes (active or passive), as on the wire:
    names and date-times are bytes, so re-encoding is byte-identical."""

    def __init__(self, name=b"", seasons=(), weeks=(), days=()):
        self.name = name
        self.seasons = list(seasons)  # (season_profile_name, season_start(12), week_name)
        self.weeks = list(weeks)  # (week_profile_name, (monday .. sunday day_id))
        self.days = list(days)  # (day_id, [(start_time(4), script_ln, selector)])

    def copy(self):
        return Calendar(self.name, self.seasons, self.weeks, [(d, list(a)) for d, a in self.days])

    def _season(self, dt):
        local = _local_secs(dt.year, dt.month, dt.day, dt.hour, dt.minute, dt.second)
        best = None
        for _, start, week in self.seasons:
            s = axdr.DateTime.from_bytes(start)
            t = s.hour * 3600 if s.hour < 24 else 0
            t += s.minute * 60 if s.minute < 60 else 0
            years = (dt.year, dt.year - 1) if s.year == axdr.YEAR_NOT_SPECIFIED else (s.year,)
            for y in years:
                try:
                    at = _local_secs(y, s.month, s.day) + t
                except ValueError:
                    break
                if at <= local:
                    if best is None or at > best[0]:
                        best = (at, week)
                    break
        return best[1] if best else None

    def day_id(self, dt, special_days=None):
        if special_days is not None:
            d = special_days.day_id(dt)
            if d is not None:
                return d
        week = self._season(dt)
        for name, ids in self.weeks:
            if name == week:
                return ids[dt.weekday - 1]
        return None

    def day_actions(self, day_id):
        for d, actions in self.days:
            if d == day_id:
                return actions
        return ()

    def action_at(self, dt, special_days=None):
        """(script_logical_name, script_selector) in force at local ``dt``."""
        secs = dt.hour * 3600 + dt.minute * 60 + dt.second
        day = _local_secs(dt.year, dt.month, dt.day) // 86400
        for back in range(_LOOK_BACK + 1):
            d = axdr.DateTime.from_epoch((day - back) * 86400, 0)
            if back:
                d.hour, d.minute, d.second = 23, 59, 59
            found = None
            for start, ln, sel in self.day_actions(self.day_id(d, special_days)):
                at = _secs_of_day(axdr.DateTime.from_time_bytes(start))
                if at <= (secs if not back else 86400) and (found is None or at >= found[0]):
                    found = (at, ln, sel)
            if found:
                return (found[1], found[2])
        return None

    # -- attribute encodings and decoding

    def encode(self, which):
        if which == 0:
            return (axdr.OCTET_STRING, self.name)
        if which == 1:
            return (
                axdr.ARRAY,
                [
                    (
                        axdr.STRUCTURE,
                        [(axdr.OCTET_STRING, n), (axdr.OCTET_STRING, s), (axdr.OCTET_STRING, w)],
                    )
                    for n, s, w in self.seasons
                ],
            )
        if which == 2:
            return (
                axdr.ARRAY,
                [
                    (axdr.STRUCTURE, [(axdr.OCTET_STRING, n)] + [(axdr.UNSIGNED, i) for i in ids])
                    for n, ids in self.weeks
                ],
            )
        return (
            axdr.ARRAY,
            [
                (
                    axdr.STRUCTURE,
                    [
                        (axdr.UNSIGNED, d),
                        (
                            axdr.ARRAY,
                            [
                                (
                                    axdr.STRUCTURE,
                                    [
                                        (axdr.OCTET_STRING, t),
                                        (axdr.OCTET_STRING, ln),
                                        (axdr.LONG_UNSIGNED, sel),
                                    ],
                                )
                                for t, ln, sel in actions
                            ],
                        ),
                    ],
                )
                for d, actions in self.days
            ],
        )

    def decode(self, which, data):
        if which == 0:
            self.name = _octets(data)
        elif which == 1:
            seasons = []
            for e in _array(data):
                v = _struct(e, 3)
                start = _octets(v[1])
                try:
                    s = axdr.DateTime.from_bytes(start)
                except DecodeError:
                    raise DataAccessError(TYPE_UNMATCHED)
                if not (1 <= s.month <= 12 and 1 <= s.day <= 31):
                    raise DataAccessError(OTHER_REASON)
                seasons.append((_octets(v[0]), start, _octets(v[2])))
            self.seasons = seasons
        elif which == 2:
            weeks = []
            for e in _array(data):
                v = _struct(e, 8)
                weeks.append((_octets(v[0]), tuple(expect(x, axdr.UNSIGNED) for x in v[1:])))
            self.weeks = weeks
        else:
            days = []
            for e in _array(data):
                v = _struct(e, 2)
                actions = []
                for a in _array(v[1]):
                    s = _struct(a, 3)
                    start = _octets(s[0])
                    _secs_of_day(time_of(s[0]))
                    ln = _octets(s[1])
                    if len(ln) != 6:
                        raise DataAccessError(TYPE_UNMATCHED)
                    actions.append((start, ln, expect(s[2], axdr.LONG_UNSIGNED)))
                days.append((expect(v[0], axdr.UNSIGNED), actions))
            self.days = days


_NEVER = b"\xff\xff\xff\xff\xff\xff\xff\xff\xff\x80\x00\xff"


class ActivityCalendar(CosemObject):
    CLASS_ID = 20
    VERSION = 0
    ATTRIBUTES = (
        "logical_name",
        "calendar_name_active",
        "season_profile_active",
        "week_profile_table_active",
        "day_profile_table_active",
        "calendar_name_passive",
        "season_profile_passive",
        "week_profile_table_passive",
        "day_profile_table_passive",
        "activate_passive_calendar_time",
    )
    # Blue Book 4.5.5: the active calendar changes only by activation
    WRITABLE = (6, 7, 8, 9, 10)
    KEEP = (2, 3, 4, 5, 6, 7, 8, 9, 10)  # the active calendar too, once activated
    METHODS = ("activate_passive_calendar",)
    activated = False  # set by tick() when the activation time came

    def __init__(
        self,
        ln,
        clock,
        active=None,
        passive=None,
        activate_time=_NEVER,
        special_days=None,
        public=False,
    ):
        """``clock``: the cosem Clock; ``active`` / ``passive``: Calendar;
        ``activate_time``: date-time bytes(12), all wildcards for never."""
        super().__init__(ln, public)
        self.clock = clock
        self.active = active or Calendar()
        self.passive = passive or Calendar()
        self.activate_time = activate_time
        self.special_days = special_days
        self.current = None  # the action last executed by tick

    def active_action(self, local_datetime, special_days=None):
        """(script_logical_name, script_selector) in force at a local time."""
        return self.active.action_at(local_datetime, special_days)

    def activate_passive(self):
        # Blue Book 4.5.5 method 1: the passive calendar is copied to the active
        self.active = self.passive.copy()
        self.current = None

    def activation_utc(self):
        """UTC of activate_passive_calendar_time, None if not specified."""
        try:
            return self.clock.utc_of(axdr.DateTime.from_bytes(self.activate_time))
        except (ValueError, DecodeError):
            return None

    def tick(self, prev_utc, now_utc, device):
        """Activate the passive calendar if its time fell in (prev_utc,
        now_utc], then execute the action in force at now_utc if it is not
        the one last executed (at the first tick, always). Returns the
        (script_logical_name, selector) executed, or None."""
        at = self.activation_utc()
        if at is not None and prev_utc < at <= now_utc:
            self.activate_passive()
            self.activated = True  # for the model to keep (app.meter)
        action = self.active_action(self.clock.local_datetime(now_utc), self.special_days)
        if action is None or action == self.current:
            return None
        self.current = action
        try:
            run_script(device, action[0], action[1], ScriptContext(device, self.clock))
        except DataAccessError as e:
            log.error("%r: script failed: %r", self, e)
        return action

    def get(self, attr, ctx, selector=None, params=None):
        if 2 <= attr <= 5:
            return self.active.encode(attr - 2)
        if 6 <= attr <= 9:
            return self.passive.encode(attr - 6)
        if attr == 10:
            return (axdr.OCTET_STRING, self.activate_time)
        return super().get(attr, ctx, selector, params)

    def set(self, attr, data, ctx):
        if 6 <= attr <= 9:
            self.passive.decode(attr - 6, data)
        elif attr == 10:
            v = _octets(data)
            if len(v) != 12:
                raise DataAccessError(TYPE_UNMATCHED)
            self.activate_time = v
        else:
            super().set(attr, data, ctx)

    def action(self, method, data, ctx):
        if method != 1:
            return super().action(method, data, ctx)
        expect(data, axdr.INTEGER)
        self.activate_passive()
        return None

    def restore(self, attr, data):
        if 2 <= attr <= 5:  # the active calendar: never written by a SET
            self.active.decode(attr - 2, data)
        else:
            self.set(attr, data, None)


def tariff_time(hour, minute=0):
    return bytes((hour, minute, 0, 0))


def default_tariff_calendar(clock, special_days=None):
    """(ActivityCalendar 0.0.13.0.0.255, ScriptTable 0.0.10.0.100.255) for
    two-rate tariff switching: day profile 1 switches to tariff 1 at 07:00
    and tariff 2 at 23:00 every day of the year; day profile 2 (for special
    days) stays on tariff 2. Script n writes unsigned n to the current
    tariff Data object 0.0.96.14.0.255, which the meter must hold."""
    table_ln = obis.parse(TARIFF_SCRIPT_TABLE)
    tariff_ln = obis.parse(CURRENT_TARIFF)
    scripts = ScriptTable(
        table_ln,
        [(n, [(WRITE_ATTRIBUTE, 1, tariff_ln, 2, (axdr.UNSIGNED, n))]) for n in (1, 2)],
    )
    every_year = axdr.DateTime(0xFFFF, 1, 1, _FF, 0, 0, 0, _FF, axdr.DEVIATION_NOT_SPECIFIED, _FF)
    cal = Calendar(
        b"TARIFF",
        [(b"YEAR", every_year.to_bytes(), b"WEEK")],
        [(b"WEEK", (1, 1, 1, 1, 1, 1, 1))],
        [
            (1, [(tariff_time(7), table_ln, 1), (tariff_time(23), table_ln, 2)]),
            (2, [(tariff_time(0), table_ln, 2)]),
        ],
    )
    activity = ActivityCalendar(
        ACTIVITY_CALENDAR, clock, cal, cal.copy(), special_days=special_days
    )
    return activity, scripts
