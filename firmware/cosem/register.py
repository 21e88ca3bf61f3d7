"""Register (3), Extended register (4) and Demand register (5), Blue Book 4.3.2-4.3.4.

The value is a plain number of a declared A-XDR type (``tag``) and comes from a
provider: a number, a callable returning one, or an object with ``value()``
and ``reset()`` (an accumulating energy register, say). Physical value =
value x 10^scaler in ``unit`` (Blue Book Table 4, e.g. 30 = Wh, 27 = W,
35 = V, 33 = A).

reset (method 1, Blue Book 4.3.2/4.3.3) sets the value to its default: a
stored value to 0 (an empty string for a string register), a provider with
``reset()`` through it. A value a callable computes cannot be reset: such a
register offers no method 1 (access 0 in object_list) and refuses it.
"""

from dlms import axdr
from dlms.errors import DataAccessError
from micropython import const

from cosem.base import (
    METHOD_NO_ACCESS,
    READ_WRITE_DENIED,
    TYPE_UNMATCHED,
    CosemObject,
    expect,
)

UNIT_W = const(27)
UNIT_VA = const(28)
UNIT_VAR = const(29)
UNIT_WH = const(30)
UNIT_VAH = const(31)
UNIT_VARH = const(32)
UNIT_A = const(33)
UNIT_V = const(35)
UNIT_HZ = const(44)
UNIT_M3 = const(14)
UNIT_NONE = const(255)


def read_value(provider):
    if callable(provider):
        return provider()
    if hasattr(provider, "value"):
        return provider.value()
    return provider


def scaler_unit(scaler, unit):
    return (axdr.STRUCTURE, [(axdr.INTEGER, scaler), (axdr.ENUM, unit)])


class Register(CosemObject):
    CLASS_ID = 3
    VERSION = 0
    ATTRIBUTES = ("logical_name", "value", "scaler_unit")
    WRITABLE = (2,)
    METHODS = ("reset",)

    def __init__(self, ln, tag, value, scaler=0, unit=UNIT_NONE, public=False, writable=None):
        super().__init__(ln, public)
        if tag not in axdr.NUMERIC and tag not in (axdr.OCTET_STRING, axdr.VISIBLE_STRING):
            raise ValueError("register type %d" % tag)
        self.tag = tag
        self.value = value
        self.scaler = scaler
        self.unit = unit
        if writable is not None:
            self.WRITABLE = writable

    def get(self, attr, ctx, selector=None, params=None):
        if attr == 2:
            return (self.tag, read_value(self.value))
        if attr == 3:
            return scaler_unit(self.scaler, self.unit)
        return super().get(attr, ctx)

    def set(self, attr, data, ctx):
        if attr == 2:
            v = expect(data, self.tag)
            p = self.value
            if hasattr(p, "set"):
                p.set(v)
            elif callable(p):
                raise DataAccessError(TYPE_UNMATCHED)
            else:
                self.value = v
            return
        return super().set(attr, data, ctx)

    def resettable(self):
        """Whether reset can set the value to its default (not a computed one)."""
        p = self.value
        return hasattr(p, "reset") or not callable(p)

    def method_access(self, level, method):
        if method == 1 and not self.resettable():
            return METHOD_NO_ACCESS
        return super().method_access(level, method)

    def action(self, method, data, ctx):
        if method == 1:  # reset(data: integer 0)
            if not self.resettable():
                raise DataAccessError(READ_WRITE_DENIED)
            self.reset()
            return None
        return super().action(method, data, ctx)

    def reset(self):
        p = self.value
        if hasattr(p, "reset"):
            p.reset()
        elif not callable(p):
            self.value = b"" if self.tag in (axdr.OCTET_STRING, axdr.VISIBLE_STRING) else 0


class ExtendedRegister(Register):
    """Class 4: a register with a status and the time of its last capture.

    capture_time follows the value: a stored value was captured when it was
    last written or reset (Blue Book 4.3.3: reset sets capture_time to the
    time of the reset); a provider's value is captured as it is read, so
    capture_time is then the time of reading."""

    CLASS_ID = 4
    VERSION = 0
    ATTRIBUTES = ("logical_name", "value", "scaler_unit", "status", "capture_time")

    def __init__(
        self,
        ln,
        tag,
        value,
        scaler=0,
        unit=UNIT_NONE,
        clock=None,
        status=None,
        public=False,
        writable=None,
    ):
        """``clock``: the cosem Clock, whose local time stamps captures;
        ``status``: typed data or a provider of it (default unsigned 0)."""
        super().__init__(ln, tag, value, scaler, unit, public, writable)
        self.clock = clock
        self.status = status if status is not None else (axdr.UNSIGNED, 0)
        self.captured = None  # UTC seconds of the last capture

    def _stamp(self, ctx):
        if self.clock is None:
            return (axdr.OCTET_STRING, axdr.DateTime().to_bytes())
        p = self.value
        stored = not callable(p) and not hasattr(p, "value")
        t = self.captured if stored and self.captured is not None else self.clock.now()
        return (axdr.OCTET_STRING, self.clock.local_datetime(t).to_bytes())

    def get(self, attr, ctx, selector=None, params=None):
        if attr == 4:
            s = self.status
            return s() if callable(s) else s
        if attr == 5:
            return self._stamp(ctx)
        return super().get(attr, ctx)

    def set(self, attr, data, ctx):
        super().set(attr, data, ctx)
        if attr == 2 and self.clock is not None:
            self.captured = self.clock.now()

    def reset(self):
        super().reset()
        if self.clock is not None:
            self.captured = self.clock.now()


class DemandRegister(CosemObject):
    """Class 5: demand over periods of ``period`` seconds (Blue Book 4.3.4).

    ``energy(start, end)`` returns what accumulates over a UTC interval, in
    value units x seconds (W s for a demand in W). current_average_value is
    the energy since start_time_current divided by number_of_periods x
    period: it grows through the period up to the period's average.
    last_average_value is the average of the window that closed last: the
    number_of_periods periods before the last boundary, divided the same way
    (sliding demand when number_of_periods > 1). Periods are aligned on
    ``period`` seconds; capture_time (when last_average_value was computed)
    and start_time_current are that boundary.

    next_period (method 2) closes the period now: last_average_value takes
    the current average of the period it closes, a new period starts.
    reset (method 1) sets both averages to their default 0 and starts a
    period. Energy before either method is not part of a later window.
    """

    CLASS_ID = 5
    VERSION = 0
    ATTRIBUTES = (
        "logical_name",
        "current_average_value",
        "last_average_value",
        "scaler_unit",
        "status",
        "capture_time",
        "start_time_current",
        "period",
        "number_of_periods",
    )
    WRITABLE = (8, 9)
    METHODS = ("reset", "next_period")

    def __init__(
        self,
        ln,
        tag,
        energy,
        clock,
        scaler=0,
        unit=UNIT_NONE,
        period=900,
        number_of_periods=1,
        public=False,
    ):
        super().__init__(ln, public)
        self.tag = tag
        self.energy = energy
        self.clock = clock
        self.scaler = scaler
        self.unit = unit
        self.period = period
        self.number_of_periods = number_of_periods
        self.reset_at = None  # UTC seconds of the last reset or next_period
        self.last = 0  # last_average_value a method set, until the next boundary

    def _start(self):
        now = self.clock.now()
        start = now - now % self.period
        if self.reset_at is not None and self.reset_at > start:
            start = self.reset_at
        return start, now

    def _average(self, lo, hi):
        # energy over (lo, hi] per number_of_periods x period
        if hi <= lo:
            return 0
        return int(self.energy(lo, hi) // (self.number_of_periods * self.period))

    def _last(self, start):
        r = self.reset_at
        if r is not None and r >= start:
            return self.last  # no boundary since the method
        lo = start - self.period * self.number_of_periods
        if r is not None and r > lo:
            lo = r
        return self._average(lo, start)

    def get(self, attr, ctx, selector=None, params=None):
        if attr in (2, 3):
            start, now = self._start()
            if attr == 2:
                return (self.tag, self._average(start, now))
            return (self.tag, self._last(start))
        if attr == 4:
            return scaler_unit(self.scaler, self.unit)
        if attr == 5:
            return (axdr.UNSIGNED, 0)
        if attr in (6, 7):
            start, now = self._start()
            return (axdr.OCTET_STRING, self.clock.local_datetime(start).to_bytes())
        if attr == 8:
            return (axdr.DOUBLE_LONG_UNSIGNED, self.period)
        if attr == 9:
            return (axdr.LONG_UNSIGNED, self.number_of_periods)
        return super().get(attr, ctx)

    def set(self, attr, data, ctx):
        if attr == 8:
            v = expect(data, axdr.DOUBLE_LONG_UNSIGNED)
            if v < 1:
                raise DataAccessError(TYPE_UNMATCHED)
            self.period = v
        elif attr == 9:
            v = expect(data, axdr.LONG_UNSIGNED)
            if v < 1:
                raise DataAccessError(TYPE_UNMATCHED)
            self.number_of_periods = v
        else:
            super().set(attr, data, ctx)

    def action(self, method, data, ctx):
        if method in (1, 2):  # reset, next_period: a new period starts now
            start, now = self._start()
            self.last = 0 if method == 1 else self._average(start, now)
            self.reset_at = now
            return None
        return super().action(method, data, ctx)
