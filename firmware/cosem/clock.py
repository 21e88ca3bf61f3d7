"""Clock, interface class 8 version 0 (Blue Book 4.5.1).

The meter keeps UTC (a hal clock: ``now()`` / ``set()`` in UTC seconds); this
object shows it as local time. Deviation follows the Blue Book convention
(4.1.6.1): minutes from local time to UTC, UTC = local + deviation, so Central
European winter time is -60 and summer time -120. ``time_zone`` is the
deviation of standard time; while daylight saving is active the deviation is
``time_zone - daylight_savings_deviation`` and status bit 7 is set.

The daylight saving switch instants are date-times with wildcards (begin in
standard local time, end in summer local time): day_of_month 0xFE with a
day_of_week is the last such weekday of the month, 0xFD the second last, and a
day 1..31 with a day_of_week the first such weekday on or after it.
"""

from dlms import axdr
from dlms.errors import DataAccessError, DecodeError
from micropython import const

from cosem.base import OTHER_REASON, TYPE_UNMATCHED, CosemObject, expect

CLOCK_BASE_INTERNAL_CRYSTAL = const(1)

_FF = const(0xFF)
_MAX_DEVIATION = const(720)  # Blue Book 4.1.6.1: deviation -720..720
_MAX_SHIFT = const(900)  # Blue Book 4.5.1, method 6 shift_time

# Europe (Directive 2000/84/EC): last Sunday of March 02:00 standard time,
# last Sunday of October 03:00 summer time, i.e. 01:00 UTC both.
EU_DST_BEGIN = axdr.DateTime(0xFFFF, 3, axdr.LAST_DAY, 7, 2, 0, 0, 0)
EU_DST_END = axdr.DateTime(0xFFFF, 10, axdr.LAST_DAY, 7, 3, 0, 0, 0)


def _days(y, m, d):
    # days since 1970-01-01 of a proleptic Gregorian date
    return axdr.DateTime.from_tuple(y, m, d, deviation=0).to_epoch() // 86400


def month_days(y, m):
    """The number of days of month ``m`` of year ``y``."""
    return _days(y + 1, 1, 1) - _days(y, 12, 1) if m == 12 else _days(y, m + 1, 1) - _days(y, m, 1)


def switch_instant(rule, year):
    """Local seconds since 1970 (no deviation applied) at which a daylight
    saving rule falls in ``year``, or None when it does not (another year,
    month not specified, a day the month lacks)."""
    if rule.year != axdr.YEAR_NOT_SPECIFIED and rule.year != year:
        return None
    m = rule.month
    if not 1 <= m <= 12:
        return None
    last = month_days(year, m)
    d = rule.day
    wd = rule.weekday if 1 <= rule.weekday <= 7 else 0
    if d == axdr.LAST_DAY or d == axdr.SECOND_LAST_DAY:
        day = last if d == axdr.LAST_DAY else last - 1
        if wd:
            # the last (second last) such weekday: go back to it from the end
            day = last - (((_days(year, m, last) + 3) % 7 + 1 - wd) % 7)
            if d == axdr.SECOND_LAST_DAY:
                day -= 7
    elif 1 <= d <= last or (d == _FF and wd):
        day = d if d != _FF else 1
        if wd:
            # the first such weekday on or after day
            day += (wd - ((_days(year, m, day) + 3) % 7 + 1)) % 7
            if day > last:
                return None
    else:
        return None
    secs = 0
    if rule.hour < 24:
        secs += rule.hour * 3600
    if rule.minute < 60:
        secs += rule.minute * 60
    if rule.second < 60:
        secs += rule.second
    return _days(year, m, day) * 86400 + secs


def _datetime(data):
    """A DateTime from an octet-string(12) or a date-time; TYPE_UNMATCHED else."""
    v = expect(data, axdr.OCTET_STRING, axdr.DATE_TIME)
    if data[0] == axdr.DATE_TIME:
        return v
    try:
        return axdr.DateTime.from_bytes(v)
    except DecodeError:
        raise DataAccessError(TYPE_UNMATCHED)


class Clock(CosemObject):
    CLASS_ID = 8
    VERSION = 0
    ATTRIBUTES = (
        "logical_name",
        "time",
        "time_zone",
        "status",
        "daylight_savings_begin",
        "daylight_savings_end",
        "daylight_savings_deviation",
        "daylight_savings_enabled",
        "clock_base",
    )
    WRITABLE = (2, 3, 5, 6, 7, 8)
    KEEP = (3, 5, 6, 7, 8)  # the time zone and daylight saving, not the time
    METHODS = (
        "adjust_to_quarter",
        "adjust_to_measuring_period",
        "adjust_to_minute",
        "adjust_to_preset_time",
        "preset_adjusting_time",
        "shift_time",
    )

    def __init__(
        self,
        ln,
        clock,
        time_zone=-60,
        dst_enabled=True,
        dst_begin=EU_DST_BEGIN,
        dst_end=EU_DST_END,
        dst_deviation=60,
        clock_base=CLOCK_BASE_INTERNAL_CRYSTAL,
        measuring_period=900,
        public=True,
    ):
        super().__init__(ln, public)
        self.clock = clock  # hal clock: now() / set() in UTC seconds
        self.time_zone = time_zone
        self.dst_enabled = dst_enabled
        self.dst_begin = dst_begin
        self.dst_end = dst_end
        self.dst_deviation = dst_deviation
        self.clock_base = clock_base
        self.measuring_period = measuring_period  # seconds, for method 2
        # status bits other than daylight saving (axdr.STATUS_INVALID, ...):
        # the application sets them, e.g. after the RTC lost power; a time
        # setting clears them.
        self.flags = 0
        self._preset = None  # (preset, validity start, validity end) in UTC
        # on_adjust(old_utc, new_utc): the application's hook for a time
        # setting by a client (attribute 2 or a method), e.g. event log entries
        self.on_adjust = None

    # -- time and daylight saving --------------------------------------------

    def dst_active(self, utc):
        """Is daylight saving active at UTC ``utc``?"""
        if not self.dst_enabled:
            return False
        tz = self.time_zone * 60
        year = axdr.DateTime.from_epoch(utc, self.time_zone).year
        begin = switch_instant(self.dst_begin, year)
        end = switch_instant(self.dst_end, year)
        if begin is None or end is None:
            return False
        begin += tz
        end += tz - self.dst_deviation * 60
        if begin < end:
            return begin <= utc < end
        return utc >= begin or utc < end  # southern hemisphere

    def deviation(self, utc):
        """The deviation in force at ``utc`` (minutes, UTC = local + deviation)."""
        if self.dst_active(utc):
            return self.time_zone - self.dst_deviation
        return self.time_zone

    def status(self, utc):
        return self.flags | (axdr.STATUS_DST if self.dst_active(utc) else 0)

    def local_datetime(self, utc):
        """The axdr.DateTime of UTC ``utc`` in local time, with deviation and
        status, as attribute 2 and profile capture time stamps show it."""
        dst = self.dst_active(utc)
        dev = self.time_zone - self.dst_deviation if dst else self.time_zone
        return axdr.DateTime.from_epoch(utc, dev, self.flags | (axdr.STATUS_DST if dst else 0))

    def utc_of(self, dt):
        """UTC seconds of a fully specified date-time. Without a deviation it
        is local time here, in summer time where daylight saving covers it;
        in the repeated autumn hour the status bit decides (summer time when
        the status is not specified), and a time the spring switch skips
        reads as standard time. ValueError if date or time is not specified."""
        if dt.deviation != axdr.DEVIATION_NOT_SPECIFIED:
            return dt.to_epoch()
        standard = dt.to_epoch() + self.time_zone * 60
        summer = standard - self.dst_deviation * 60
        if not self.dst_active(summer):
            return standard
        if self.dst_active(standard) or dt.status == _FF:
            return summer
        return summer if dt.status & axdr.STATUS_DST else standard

    def now(self):
        return self.clock.now()

    def _set_utc(self, utc):
        # The meter keeps time in unsigned 32-bit seconds (app.energy's record,
        # board RTCs): 1970-01-01 to 2106-02-07 UTC. A time outside is refused,
        # as registers computed from it would overflow their types.
        if not 0 <= utc <= 0xFFFFFFFF:
            raise DataAccessError(OTHER_REASON)
        old = self.clock.now()
        self.clock.set(utc)
        self.flags &= ~(axdr.STATUS_INVALID | axdr.STATUS_DOUBTFUL)
        if self.on_adjust is not None:
            self.on_adjust(old, utc)

    def _utc_of(self, data):
        dt = _datetime(data)
        try:
            return self.utc_of(dt)
        except ValueError:
            raise DataAccessError(OTHER_REASON)

    def _adjust(self, period):
        # to the nearest multiple of period in local time (Blue Book 4.5.1,
        # methods 1-3: "nearest (+/-)")
        if period <= 0:
            raise DataAccessError(OTHER_REASON)
        utc = self.clock.now()
        shift = -self.deviation(utc) * 60
        local = utc + shift
        r = local % period
        local += period - r if 2 * r >= period else -r
        self._set_utc(local - shift)

    # -- services -----------------------------------------------------------------

    def get(self, attr, ctx, selector=None, params=None):
        if attr == 2:
            return (axdr.OCTET_STRING, self.local_datetime(self.clock.now()).to_bytes())
        if attr == 3:
            return (axdr.LONG, self.time_zone)
        if attr == 4:
            return (axdr.UNSIGNED, self.status(self.clock.now()))
        if attr == 5:
            return (axdr.OCTET_STRING, self.dst_begin.to_bytes())
        if attr == 6:
            return (axdr.OCTET_STRING, self.dst_end.to_bytes())
        if attr == 7:
            return (axdr.INTEGER, self.dst_deviation)
        if attr == 8:
            return (axdr.BOOLEAN, self.dst_enabled)
        if attr == 9:
            return (axdr.ENUM, self.clock_base)
        return super().get(attr, ctx, selector, params)

    def set(self, attr, data, ctx):
        if attr == 2:
            self._set_utc(self._utc_of(data))
        elif attr == 3:
            v = expect(data, axdr.LONG)
            if not -_MAX_DEVIATION <= v <= _MAX_DEVIATION:
                raise DataAccessError(OTHER_REASON)
            self.time_zone = v
        elif attr == 5:
            self.dst_begin = _datetime(data)
        elif attr == 6:
            self.dst_end = _datetime(data)
        elif attr == 7:
            v = expect(data, axdr.INTEGER)
            if not -120 <= v <= 120:
                raise DataAccessError(OTHER_REASON)
            self.dst_deviation = v
        elif attr == 8:
            self.dst_enabled = bool(expect(data, axdr.BOOLEAN))
        else:
            super().set(attr, data, ctx)

    def action(self, method, data, ctx):
        # Methods 1-4 take integer(0); the parameter is not checked.
        if method == 1:
            self._adjust(900)
        elif method == 2:
            self._adjust(self.measuring_period)
        elif method == 3:
            self._adjust(60)
        elif method == 4:
            # Blue Book 4.5.1 method 4: only inside the validity interval of
            # the preset; outside it (or with none) the action fails.
            p = self._preset
            now = self.clock.now()
            if p is None or not p[1] <= now <= p[2]:
                raise DataAccessError(OTHER_REASON)
            self._preset = None
            self._set_utc(p[0])
        elif method == 5:
            v = expect(data, axdr.STRUCTURE)
            if len(v) != 3:
                raise DataAccessError(TYPE_UNMATCHED)
            self._preset = (self._utc_of(v[0]), self._utc_of(v[1]), self._utc_of(v[2]))
        elif method == 6:
            v = expect(data, axdr.LONG)
            if not -_MAX_SHIFT <= v <= _MAX_SHIFT:
                raise DataAccessError(OTHER_REASON)
            self._set_utc(self.clock.now() + v)
        else:
            return super().action(method, data, ctx)
        return None
