"""Push setup, interface class 40 version 0 (Blue Book 4.4.8).

What to push, where and when; the application (app.push) does the pushing.

- push_object_list (2): capture object definitions {class_id, logical_name,
  attribute_index, data_index}, resolved in the logical device when a push is
  built; attribute_index 0 is the whole object (a structure of every
  attribute), data_index > 0 one element of an array or structure value. The
  first element is by convention the Push setup's own logical name, which
  tells the receiver which push this is.
- send_destination_and_method (3): {transport_service, destination, message};
  only TCP (0) carrying A-XDR encoded xDLMS APDUs (0) is offered, to a
  destination ``host:port`` (``[v6 address]:port``) in ASCII.
- communication_window (4): {start, end} date-times in local time, wildcards
  allowed; empty means pushing is allowed at any time (see ``in_window``).
- randomisation_start_interval (5), number_of_retries (6), repetition_delay
  (7): seconds, count, seconds.
- push (method 1, data integer(0)): request a push. ``pending`` turns True;
  the sender takes it, as it does a request from a schedule or an event.
"""

import log
from dlms import axdr, obis
from dlms.errors import DataAccessError, DecodeError
from dlms.stream import ArrayStream, pieces
from dlms.wrapper import parse_destination
from dlms.xdlms import OBJECT_UNDEFINED
from micropython import const

from cosem.base import (
    OBJECT_UNAVAILABLE,
    OTHER_REASON,
    TYPE_UNMATCHED,
    CosemObject,
    expect,
)
from cosem.clock import Clock

TRANSPORT_TCP = const(0)
TRANSPORT_UDP = const(1)
MESSAGE_AXDR = const(0)  # A-XDR encoded xDLMS APDU

MAX_OBJECTS = const(32)
MAX_WINDOWS = const(8)
MAX_DESTINATION = const(64)

_FF = const(0xFF)
_NULL = (axdr.NULL_DATA, None)


def _uint(data):
    # Clients differ in the integer type of definition fields: take any.
    v = expect(
        data,
        axdr.UNSIGNED,
        axdr.LONG_UNSIGNED,
        axdr.DOUBLE_LONG_UNSIGNED,
        axdr.INTEGER,
        axdr.LONG,
        axdr.DOUBLE_LONG,
    )
    if v < 0:
        raise DataAccessError(TYPE_UNMATCHED)
    return v


def _structure(data, n):
    v = expect(data, axdr.STRUCTURE)
    if len(v) != n:
        raise DataAccessError(TYPE_UNMATCHED)
    return v


def _date_time(data):
    """The 12 octets of an octet-string(12) or date-time; TYPE_UNMATCHED else."""
    v = expect(data, axdr.OCTET_STRING, axdr.DATE_TIME)
    if data[0] == axdr.DATE_TIME:
        return v.to_bytes()
    if len(v) != 12:
        raise DataAccessError(TYPE_UNMATCHED)
    return bytes(v)


def _fields(dt):
    # (year, month, day, hour, minute, second); None where not specified
    # (the special day/month values count as not specified).
    return (
        None if dt.year == axdr.YEAR_NOT_SPECIFIED else dt.year,
        dt.month if 1 <= dt.month <= 12 else None,
        dt.day if 1 <= dt.day <= 31 else None,
        dt.hour if dt.hour < 24 else None,
        dt.minute if dt.minute < 60 else None,
        dt.second if dt.second < 60 else None,
    )


def window_active(start, end, t):
    """Is local time ``t`` (DateTime) inside the window from ``start`` to
    ``end`` (DateTimes, wildcards allowed)?

    A field left unspecified takes the value of ``t``, so ``*-*-* 02:00:00``
    to ``*-*-* 04:00:00`` is every night from two to four. When wildcards
    make the end come before the start in that comparison, the window runs
    over the boundary (22:00 to 02:00 is every night across midnight); a
    fully specified window is one interval. The start is inside, the end is
    not. Weekday, hundredths, deviation and status are not looked at: the
    window is in the meter's local time.
    """
    now = _fields(t)
    s = _fields(start)
    e = _fields(end)
    wild = None in s or None in e
    s = tuple(now[i] if s[i] is None else s[i] for i in range(6))
    e = tuple(now[i] if e[i] is None else e[i] for i in range(6))
    if s <= e:
        return s <= now < e
    return wild and (now >= s or now < e)


class PushSetup(CosemObject):
    """``device``: the LogicalDevice whose objects the push reads (this
    object is normally in it). ``objects``: the push_object_list as
    (object, attribute_index[, data_index]) or (class_id, logical_name,
    attribute_index[, data_index]) tuples; default: this object's logical
    name only. ``clock``: the cosem Clock of the local time of the windows
    and of the notification's date-time (None: UTC, no date-time)."""

    CLASS_ID = 40
    VERSION = 0
    ATTRIBUTES = (
        "logical_name",
        "push_object_list",
        "send_destination_and_method",
        "communication_window",
        "randomisation_start_interval",
        "number_of_retries",
        "repetition_delay",
    )
    WRITABLE = (2, 3, 4, 5, 6, 7)
    KEEP = WRITABLE
    METHODS = ("push",)

    def __init__(
        self,
        ln,
        device,
        objects=None,
        destination="127.0.0.1:4059",
        windows=(),
        randomisation_start_interval=0,
        number_of_retries=0,
        repetition_delay=0,
        clock=None,
        public=False,
    ):
        super().__init__(ln, public)
        self.device = device
        if objects is None:
            objects = ((self.CLASS_ID, self.ln, 1),)
        self.objects = [self._definition_of(o) for o in objects]
        if isinstance(destination, str):
            destination = destination.encode()
        parse_destination(destination)
        self.transport = TRANSPORT_TCP
        self.destination = bytes(destination)
        self.message = MESSAGE_AXDR
        # (start, end) as the 12 octets of local date-times
        self.windows = [(_octets(s), _octets(e)) for s, e in windows]
        self.randomisation_start_interval = randomisation_start_interval
        self.number_of_retries = number_of_retries
        self.repetition_delay = repetition_delay
        self.clock = clock
        self.pending = False  # a push was requested (method 1, schedule, event)
        self._invoke = 0

    @staticmethod
    def _definition_of(o):
        if isinstance(o[0], CosemObject):
            return (o[0].CLASS_ID, o[0].ln, o[1], o[2] if len(o) > 2 else 0)
        return (o[0], obis.parse(o[1]), o[2], o[3] if len(o) > 3 else 0)

    # -- what the sender asks ----------------------------------------------------

    def request(self):
        """Ask for a push (the push method, a schedule, an event)."""
        self.pending = True

    def address(self):
        """(host, port) of the destination."""
        return parse_destination(self.destination)

    def next_invoke_id(self):
        """The long invoke id of the next push: 1, 2, ... modulo 2^24."""
        self._invoke = (self._invoke + 1) & 0xFFFFFF
        return self._invoke

    def local_time(self, utc):
        if isinstance(self.clock, Clock):
            return self.clock.local_datetime(utc)
        return axdr.DateTime.from_epoch(utc, 0, 0)

    def date_time(self, utc):
        """The notification's date-time: local time with a Clock, else None."""
        if isinstance(self.clock, Clock):
            return self.clock.local_datetime(utc)
        return None

    def in_window(self, utc):
        """May a push go at UTC ``utc``? Always when no window is set."""
        if not self.windows:
            return True
        t = self.local_time(utc)
        for s, e in self.windows:
            if window_active(axdr.DateTime.from_bytes(s), axdr.DateTime.from_bytes(e), t):
                return True
        return False

    def _value(self, class_id, ln, attr, index, utc):
        obj = self.device.find(ln)
        if obj is None or obj.CLASS_ID != class_id:
            return _NULL
        if attr == 0:
            return (
                axdr.STRUCTURE,
                [self._value(class_id, ln, a, 0, utc) for a in range(1, len(obj.ATTRIBUTES) + 1)],
            )
        if isinstance(obj, Clock) and attr == 2:
            # the clock as it is when the push is built
            return (axdr.OCTET_STRING, obj.local_datetime(utc).to_bytes())
        try:
            v = obj.get(attr, None)
        except DataAccessError:
            return _NULL
        except Exception as e:  # a provider failed: push the others
            log.warning("push: %r attribute %d failed: %r", obj, attr, e)
            return _NULL
        if index:
            if isinstance(v, ArrayStream):
                return _NULL
            if v[0] in (axdr.ARRAY, axdr.STRUCTURE) and index <= len(v[1]):
                return v[1][index - 1]
            return _NULL
        return v

    def capture(self, utc):
        """The values of push_object_list at UTC ``utc``: typed data or an
        ArrayStream (a profile buffer) each."""
        return [self._value(c, ln, a, i, utc) for c, ln, a, i in self.objects]

    def body_pieces(self, utc):
        """The notification-body, a structure of the captured values, as
        encoded pieces (a profile buffer is streamed, not built)."""
        values = self.capture(utc)
        w = axdr.Writer(6)
        w.byte(axdr.STRUCTURE)
        axdr.encode_length(w, len(values))
        yield bytes(w.getvalue())
        for v in values:
            yield from pieces(v)

    # -- services -----------------------------------------------------------------

    def get(self, attr, ctx, selector=None, params=None):
        if attr == 2:
            return (
                axdr.ARRAY,
                [
                    (
                        axdr.STRUCTURE,
                        [
                            (axdr.LONG_UNSIGNED, c),
                            (axdr.OCTET_STRING, ln),
                            (axdr.INTEGER, a),
                            (axdr.LONG_UNSIGNED, i),
                        ],
                    )
                    for c, ln, a, i in self.objects
                ],
            )
        if attr == 3:
            return (
                axdr.STRUCTURE,
                [
                    (axdr.ENUM, self.transport),
                    (axdr.OCTET_STRING, self.destination),
                    (axdr.ENUM, self.message),
                ],
            )
        if attr == 4:
            return (
                axdr.ARRAY,
                [
                    (axdr.STRUCTURE, [(axdr.OCTET_STRING, s), (axdr.OCTET_STRING, e)])
                    for s, e in self.windows
                ],
            )
        if attr == 5:
            return (axdr.LONG_UNSIGNED, self.randomisation_start_interval)
        if attr == 6:
            return (axdr.UNSIGNED, self.number_of_retries)
        if attr == 7:
            return (axdr.LONG_UNSIGNED, self.repetition_delay)
        return super().get(attr, ctx, selector, params)

    def _set_objects(self, data):
        items = expect(data, axdr.ARRAY)
        if len(items) > MAX_OBJECTS:
            raise DataAccessError(OTHER_REASON, "over %d push objects" % MAX_OBJECTS)
        out = []
        for it in items:
            v = _structure(it, 4)
            class_id = _uint(v[0])
            ln = expect(v[1], axdr.OCTET_STRING)
            attr = expect(v[2], axdr.INTEGER)
            index = _uint(v[3])
            if len(ln) != 6:
                raise DataAccessError(TYPE_UNMATCHED)
            ln = bytes(ln)
            obj = self.device.find(ln)
            if obj is None or obj.CLASS_ID != class_id:
                raise DataAccessError(OBJECT_UNDEFINED)
            if not 0 <= attr <= len(obj.ATTRIBUTES):
                raise DataAccessError(OBJECT_UNAVAILABLE)
            out.append((class_id, ln, attr, index))
        self.objects = out

    def _set_destination(self, data):
        v = _structure(data, 3)
        transport = expect(v[0], axdr.ENUM)
        dest = expect(v[1], axdr.OCTET_STRING)
        message = expect(v[2], axdr.ENUM)
        if transport != TRANSPORT_TCP or message != MESSAGE_AXDR:
            raise DataAccessError(OTHER_REASON, "only TCP with A-XDR APDUs is offered")
        if len(dest) > MAX_DESTINATION:
            raise DataAccessError(OTHER_REASON, "destination over %d octets" % MAX_DESTINATION)
        try:
            parse_destination(dest)
        except ValueError:
            raise DataAccessError(OTHER_REASON, "destination is not host:port")
        self.transport = transport
        self.destination = bytes(dest)
        self.message = message

    def _set_windows(self, data):
        items = expect(data, axdr.ARRAY)
        if len(items) > MAX_WINDOWS:
            raise DataAccessError(OTHER_REASON, "over %d windows" % MAX_WINDOWS)
        out = []
        for it in items:
            v = _structure(it, 2)
            out.append((_date_time(v[0]), _date_time(v[1])))
        self.windows = out

    def set(self, attr, data, ctx):
        if attr == 2:
            self._set_objects(data)
        elif attr == 3:
            self._set_destination(data)
        elif attr == 4:
            self._set_windows(data)
        elif attr == 5:
            self.randomisation_start_interval = expect(data, axdr.LONG_UNSIGNED)
        elif attr == 6:
            self.number_of_retries = expect(data, axdr.UNSIGNED)
        elif attr == 7:
            self.repetition_delay = expect(data, axdr.LONG_UNSIGNED)
        else:
            super().set(attr, data, ctx)

    def action(self, method, data, ctx):
        if method == 1:  # push(data: integer(0)); the parameter is not checked
            self.request()
            return None
        return super().action(method, data, ctx)


def _octets(dt):
    if isinstance(dt, axdr.DateTime):
        return dt.to_bytes()
    if len(dt) != 12:
        raise DecodeError("date-time of %d octets" % len(dt))
    return bytes(dt)
