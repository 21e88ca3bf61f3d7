"""Profile generic, interface class 7 version 1 (Blue Book 4.3.6), and the
sources its buffer comes from.

The buffer is never built in memory: ``get`` answers attribute 2 with an
ArrayStream whose rows a *source* produces one at a time. A source is any
object with these methods (entries are numbered 0 = oldest, FIFO order):

- ``count()``: entries_in_use.
- ``limit()``: profile_entries, the most entries kept.
- ``time(i)``: the capture time of entry ``i``, UTC seconds. Non-decreasing
  in ``i``; range selection bisects on it, so the rows need not be decoded.
- ``rows(first, last, reverse=False)``: an iterator over entries
  ``first..last`` (both included, ``0 <= first``, ``last < count()``;
  nothing if first > last), oldest first, or newest first with ``reverse``
  (sort_method lifo), each a list of typed data, one per capture object.
  The state it reads is
  taken when rows() is called, so later captures do not change how many
  rows a transfer in progress yields.
- ``append(row, t)``: store a captured row taken at UTC ``t``; the oldest
  entry goes when ``limit()`` are kept.
- ``reset()``: drop every entry.
- ``set_limit(n)``: change profile_entries, keeping the newest entries.
- ``captures``: False for a computed buffer, which is neither captured nor
  reset: the profile then advertises (object_list) and accepts no
  capture_objects change, no reset, no capture.
- ``check(row)``, optional: raise ValueError if ``row`` could never be
  stored (a flash record too small for it).

The mutators raise ValueError when a source cannot do it (profile_entries
out of range, a row too long); the profile answers that with other-reason.

``RingSource(capacity)`` keeps rows in RAM (event logs, small profiles).
``SimulatedSource(period, entries, row_at, clock)`` computes them on the fly.
"""

import log
from dlms import axdr
from dlms.errors import DataAccessError
from dlms.xdlms import OBJECT_UNDEFINED
from micropython import const

from cosem.base import (
    HARDWARE_FAULT,
    METHOD_NO_ACCESS,
    OBJECT_UNAVAILABLE,
    OTHER_REASON,
    READ_ONLY,
    TEMPORARY_FAILURE,
    TYPE_UNMATCHED,
    ArrayStream,
    CosemObject,
    expect,
)
from cosem.clock import Clock, month_days

SORT_FIFO = const(1)  # sort_method fifo: the oldest entry first
SORT_LIFO = const(2)  # sort_method lifo: the newest entry first

_UINTS = (
    axdr.UNSIGNED,
    axdr.LONG_UNSIGNED,
    axdr.DOUBLE_LONG_UNSIGNED,
    axdr.LONG64_UNSIGNED,
    axdr.INTEGER,
    axdr.LONG,
    axdr.DOUBLE_LONG,
    axdr.LONG64,
)


class RingSource:
    """Rows in RAM, in a ring of ``capacity`` slots (FIFO: the oldest goes)."""

    captures = True

    def __init__(self, capacity):
        if capacity < 1:
            raise ValueError("capacity")
        self.capacity = capacity
        self._rows = [None] * capacity
        self._times = [0] * capacity
        self._limit = capacity
        self._start = 0  # slot of entry 0
        self._n = 0

    def count(self):
        return self._n

    def limit(self):
        return self._limit

    def time(self, i):
        return self._times[(self._start + i) % self._limit]

    def rows(self, first, last, reverse=False):
        return self._gen(self._start, self._limit, first, last, reverse)

    def _gen(self, start, lim, first, last, reverse):
        slots = self._rows
        for i in range(last, first - 1, -1) if reverse else range(first, last + 1):
            yield slots[(start + i) % lim]

    def append(self, row, t):
        if self._n < self._limit:
            slot = (self._start + self._n) % self._limit
            self._n += 1
        else:
            slot = self._start
            self._start = (slot + 1) % self._limit
        self._rows[slot] = row
        self._times[slot] = t

    def reset(self):
        for i in range(self.capacity):
            self._rows[i] = None
        self._start = 0
        self._n = 0

    def set_limit(self, n):
        if not 1 <= n <= self.capacity:
            raise ValueError("profile_entries %d of 1..%d" % (n, self.capacity))
        keep = min(n, self._n)
        first = self._n - keep
        rows = [self._rows[(self._start + i) % self._limit] for i in range(first, self._n)]
        times = [self.time(i) for i in range(first, self._n)]
        self.reset()
        self._limit = n
        for i in range(keep):
            self._rows[i] = rows[i]
            self._times[i] = times[i]
        self._n = keep


class SimulatedSource:
    """Rows computed on the fly: ``entries`` entries ``period`` seconds apart,
    the newest at the last period boundary (UTC) at or before ``clock.now()``;
    the row of entry at UTC ``t`` is ``row_at(t)``. Reads take O(1) memory
    whatever ``entries`` is. ``clock`` is a hal clock or a cosem Clock."""

    captures = False

    def __init__(self, period, entries, row_at, clock):
        if period < 1:
            raise ValueError("period")
        self.period = period
        self.entries = entries
        self.row_at = row_at
        self.clock = clock

    def _newest(self):
        now = self.clock.now()
        return now - now % self.period

    def count(self):
        newest = self._newest()
        if newest < 0:
            return 0
        # no entries before 1970
        return min(self.entries, newest // self.period + 1)

    def limit(self):
        return self.entries

    def time(self, i):
        return self._newest() - (self.count() - 1 - i) * self.period

    def rows(self, first, last, reverse=False):
        return self._gen(self.time(0), first, last, reverse)

    def _gen(self, t0, first, last, reverse):
        p = self.period
        row_at = self.row_at
        for i in range(last, first - 1, -1) if reverse else range(first, last + 1):
            yield row_at(t0 + i * p)

    def append(self, row, t):
        raise ValueError("a simulated buffer is not captured")

    def reset(self):
        raise ValueError("a simulated buffer is not reset")

    def set_limit(self, n):
        self.entries = n


def _first_at_or_after(src, n, t):
    lo, hi = 0, n
    while lo < hi:
        mid = (lo + hi) // 2
        if src.time(mid) < t:
            lo = mid + 1
        else:
            hi = mid
    return lo


def _last_at_or_before(src, n, t):
    lo, hi = 0, n
    while lo < hi:
        mid = (lo + hi) // 2
        if src.time(mid) <= t:
            lo = mid + 1
        else:
            hi = mid
    return lo - 1


def _uint(data):
    # Clients differ in the integer type of descriptor fields: take any.
    v = expect(data, *_UINTS)
    if v < 0:
        raise DataAccessError(TYPE_UNMATCHED)
    return v


def _structure(data, *sizes):
    v = expect(data, axdr.STRUCTURE)
    if len(v) not in sizes:
        raise DataAccessError(TYPE_UNMATCHED)
    return v


def _definition(data):
    """(class_id, ln, attribute_index, data_index) of a capture_object_definition."""
    v = _structure(data, 4)
    ln = expect(v[1], axdr.OCTET_STRING)
    if len(ln) != 6:
        raise DataAccessError(TYPE_UNMATCHED)
    return _uint(v[0]), bytes(ln), _uint(v[2]), _uint(v[3])


def _bound(data, clock, upper):
    """UTC seconds of a range_descriptor from/to value, or None for an open
    end (year not specified). Other fields not specified widen the bound:
    from the start of the period they leave open, to its end."""
    v = expect(data, axdr.OCTET_STRING, axdr.DATE_TIME)
    dt = v if data[0] == axdr.DATE_TIME else axdr.DateTime.from_bytes(v)
    y = dt.year
    if y == axdr.YEAR_NOT_SPECIFIED:
        return None
    m = dt.month if 1 <= dt.month <= 12 else (12 if upper else 1)
    last = month_days(y, m)
    d = dt.day if 1 <= dt.day <= last else (last if upper else 1)
    h = dt.hour if dt.hour < 24 else (23 if upper else 0)
    mi = dt.minute if dt.minute < 60 else (59 if upper else 0)
    s = dt.second if dt.second < 60 else (59 if upper else 0)
    dt = axdr.DateTime.from_tuple(y, m, d, h, mi, s, 0, dt.deviation, dt.status)
    if isinstance(clock, Clock):
        return clock.utc_of(dt)
    return dt.to_epoch()


class ProfileGeneric(CosemObject):
    """``capture_objects``: (object, attribute_index[, data_index]) tuples.
    ``clock``: a hal clock for captures without a time given; else the
    server's clock, else the clock of a Clock column. ``sort_method``:
    SORT_FIFO (oldest first) or SORT_LIFO (newest first); either way the
    oldest entry goes when the buffer is full.

    Rights (object_list and the services agree): capture_objects and the
    methods reset and capture only when the source captures (not a computed
    buffer); capture_period only on a *timed* profile, one built with a
    non-zero capture_period over a source that captures, which the
    application captures on that period (app.meter Model.periodic): a client
    may change the period (0 stops the captures, Blue Book 4.3.6). A profile
    built with 0 is captured on events, and its capture_period stays 0."""

    CLASS_ID = 7
    VERSION = 1
    ATTRIBUTES = (
        "logical_name",
        "buffer",
        "capture_objects",
        "capture_period",
        "sort_method",
        "sort_object",
        "entries_in_use",
        "profile_entries",
    )
    WRITABLE = (3, 4, 8)
    # capture_period; capture_objects and profile_entries shape the buffer
    # itself (a flash ring's records), they are not kept
    KEEP = (4,)
    METHODS = ("reset", "capture")
    SELECTORS = {2: (1, 2)}  # range_descriptor, entry_descriptor

    def __init__(
        self,
        ln,
        source,
        capture_objects=(),
        capture_period=0,
        clock=None,
        public=False,
        sort_method=SORT_FIFO,
    ):
        super().__init__(ln, public)
        if sort_method not in (SORT_FIFO, SORT_LIFO):
            raise ValueError("sort_method %r" % (sort_method,))
        self.sort_method = sort_method
        self.source = source
        self.columns = [(c[0], c[1], c[2] if len(c) > 2 else 0) for c in capture_objects]
        self.capture_period = capture_period  # seconds, 0: captured on events
        self.timed = bool(capture_period) and source.captures
        self.clock = clock

    def attribute_access(self, level, attr):
        acc = super().attribute_access(level, attr)
        if (attr == 3 and not self.source.captures) or (attr == 4 and not self.timed):
            return acc & READ_ONLY
        return acc

    def method_access(self, level, method):
        if not self.source.captures:
            return METHOD_NO_ACCESS
        return super().method_access(level, method)

    # -- capture ----------------------------------------------------------------

    def _now(self, ctx):
        if self.clock is not None:
            return self.clock.now()
        if ctx is not None and ctx.server.clock is not None:
            return ctx.server.clock.now()
        for c in self.columns:
            if isinstance(c[0], Clock):
                return c[0].now()
        raise DataAccessError(TEMPORARY_FAILURE, "no clock to time the capture")

    def _value(self, obj, attr, index, now, ctx):
        if isinstance(obj, Clock) and attr == 2:
            # the time stamp of the entry is the capture time itself
            return (axdr.OCTET_STRING, obj.local_datetime(now).to_bytes())
        try:
            v = obj.get(attr, ctx)
        except DataAccessError:
            return (axdr.NULL_DATA, None)
        except Exception as e:  # a provider failed: capture the others
            log.error("capture of %r attribute %d failed: %r", obj, attr, e)
            return (axdr.NULL_DATA, None)
        if isinstance(v, ArrayStream):
            return (axdr.NULL_DATA, None)
        if index:
            # data_index selects an element of an array or structure
            if v[0] in (axdr.ARRAY, axdr.STRUCTURE) and index <= len(v[1]):
                return v[1][index - 1]
            return (axdr.NULL_DATA, None)
        return v

    def capture(self, now=None, ctx=None):
        """Capture one entry (method 2, or the application's timer) at UTC
        ``now``. ValueError if the source cannot store rows."""
        if now is None:
            now = self._now(ctx)
        row = [self._value(o, a, i, now, ctx) for o, a, i in self.columns]
        self.source.append(row, now)

    # -- the buffer -----------------------------------------------------------

    def _stream(self, first, last, cols):
        # first..last index the source (oldest first); lifo sends them reversed
        n = last - first + 1 if last >= first else 0
        src = self.source
        lifo = self.sort_method == SORT_LIFO

        def items():
            if not n:
                return
            for row in src.rows(first, last, True) if lifo else src.rows(first, last):
                yield (axdr.STRUCTURE, row if cols is None else [row[c] for c in cols])

        return ArrayStream(n, items)

    def _column(self, data):
        """Index of the capture object a capture_object_definition names."""
        class_id, ln, attr, index = _definition(data)
        found = -1
        for i, (obj, a, di) in enumerate(self.columns):
            if obj.CLASS_ID == class_id and obj.ln == ln and a == attr:
                if di == index:
                    return i
                if found < 0:
                    found = i
        if found < 0:
            raise DataAccessError(OBJECT_UNAVAILABLE)
        return found

    def _by_range(self, params, n):
        # Blue Book 4.3.6 attribute 2, range_descriptor
        v = _structure(params, 3, 4)
        obj, attr, _ = self.columns[self._column(v[0])]
        if obj.CLASS_ID != 8 or attr != 2:
            raise DataAccessError(OTHER_REASON)  # only the clock column restricts
        lo = _bound(v[1], obj, False)
        hi = _bound(v[2], obj, True)
        first = 0 if lo is None else _first_at_or_after(self.source, n, lo)
        last = n - 1 if hi is None else _last_at_or_before(self.source, n, hi)
        cols = None
        if len(v) == 4:
            sel = expect(v[3], axdr.ARRAY)
            if sel:
                cols = [self._column(d) for d in sel]
        return first, last, cols

    def _by_entry(self, params, n):
        # Blue Book 4.3.6 attribute 2, entry_descriptor: 1-based, 0 = highest
        v = _structure(params, 4)
        from_e, to_e, from_c, to_c = _uint(v[0]), _uint(v[1]), _uint(v[2]), _uint(v[3])
        first = max(from_e, 1) - 1
        last = n - 1 if to_e == 0 else min(to_e, n) - 1
        ncol = len(self.columns)
        c0 = max(from_c, 1) - 1
        c1 = ncol if to_c == 0 else min(to_c, ncol)
        if c0 >= c1:
            if ncol:
                raise DataAccessError(OBJECT_UNAVAILABLE)
            return first, last, None
        cols = None if c0 == 0 and c1 == ncol else list(range(c0, c1))
        return first, last, cols

    def buffer(self, selector=None, params=None):
        """Attribute 2 as an ArrayStream, all of it or as selected."""
        n = self.source.count()
        if selector is None:
            return self._stream(0, n - 1, None)
        try:
            if selector == 1:
                first, last, cols = self._by_range(params, n)
            elif selector == 2:
                first, last, cols = self._by_entry(params, n)
                if self.sort_method == SORT_LIFO:
                    # entries count in buffer order: entry 1 is the newest
                    first, last = n - 1 - last, n - 1 - first
            else:
                raise DataAccessError(OTHER_REASON)
        except (TypeError, ValueError, IndexError, AttributeError):
            # a descriptor of the wrong shape (DecodeError is a ValueError)
            raise DataAccessError(TYPE_UNMATCHED)
        return self._stream(first, last, cols)

    # -- services -----------------------------------------------------------------

    def _definitions(self):
        return (
            axdr.ARRAY,
            [
                (
                    axdr.STRUCTURE,
                    [
                        (axdr.LONG_UNSIGNED, obj.CLASS_ID),
                        (axdr.OCTET_STRING, obj.ln),
                        (axdr.INTEGER, attr),
                        (axdr.LONG_UNSIGNED, index),
                    ],
                )
                for obj, attr, index in self.columns
            ],
        )

    def get(self, attr, ctx, selector=None, params=None):
        if attr == 2:
            return self.buffer(selector, params)
        if attr == 3:
            return self._definitions()
        if attr == 4:
            return (axdr.DOUBLE_LONG_UNSIGNED, self.capture_period)
        if attr == 5:
            return (axdr.ENUM, self.sort_method)
        if attr == 6:
            # sorted by capture (fifo, lifo): no sort object, an all-zero definition
            return (
                axdr.STRUCTURE,
                [
                    (axdr.LONG_UNSIGNED, 0),
                    (axdr.OCTET_STRING, bytes(6)),
                    (axdr.INTEGER, 0),
                    (axdr.LONG_UNSIGNED, 0),
                ],
            )
        if attr == 7:
            return (axdr.DOUBLE_LONG_UNSIGNED, self.source.count())
        if attr == 8:
            return (axdr.DOUBLE_LONG_UNSIGNED, self.source.limit())
        return super().get(attr, ctx, selector, params)

    def _set_capture_objects(self, data, ctx):
        columns = []
        for d in expect(data, axdr.ARRAY):
            class_id, ln, attr, index = _definition(d)
            obj = ctx.device.find(ln, ctx) if ctx is not None else None
            if obj is None or obj.CLASS_ID != class_id:
                raise DataAccessError(OBJECT_UNDEFINED)
            if not 1 <= attr <= len(obj.ATTRIBUTES):
                raise DataAccessError(OBJECT_UNAVAILABLE)
            columns.append((obj, attr, index))
        check = getattr(self.source, "check", None)
        if check is not None:
            # a row the source could never store is refused before the
            # buffer is emptied (ValueError: other-reason)
            now = self._now(ctx)
            check([self._value(o, a, i, now, ctx) for o, a, i in columns])
        # Blue Book 4.3.6: a change of capture_objects empties the buffer
        self.source.reset()
        self.columns = columns

    def set(self, attr, data, ctx):
        try:
            if attr == 3:
                self._set_capture_objects(data, ctx)
            elif attr == 4:
                self.capture_period = expect(data, axdr.DOUBLE_LONG_UNSIGNED)
            elif attr == 8:
                self.source.set_limit(expect(data, axdr.DOUBLE_LONG_UNSIGNED))
            else:
                super().set(attr, data, ctx)
        except (TypeError, IndexError, AttributeError):
            raise DataAccessError(TYPE_UNMATCHED)
        except ValueError:
            # profile_entries out of range, a row the source cannot store
            raise DataAccessError(OTHER_REASON)
        except OSError as e:  # the flash failed: nothing half-done (flash_ring)
            log.error("%r: flash error %r", self, e)
            raise DataAccessError(HARDWARE_FAULT)

    def action(self, method, data, ctx):
        try:
            if method == 1:
                self.source.reset()
            elif method == 2:
                self.capture(ctx=ctx)
            else:
                return super().action(method, data, ctx)
        except ValueError:  # a row the source cannot store
            raise DataAccessError(OTHER_REASON)
        except OSError as e:
            log.error("%r: flash error %r", self, e)
            raise DataAccessError(HARDWARE_FAULT)
        return None
