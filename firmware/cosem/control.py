"""Disconnect control (70), Limiter (71) and Register monitor (21), version 0
(Blue Book 4.5.8, 4.5.9 and 4.5.6).

No I/O here: the disconnect control drives the relay through a callable given
to it (``relay(on)``, a machine.Pin does), the limiter and the register monitor
read their monitored value from the logical device when ``tick`` is called,
and their actions call ``execute(script_logical_name, script_selector)`` in
place of a Script table (class 9), the same contract a Script table's
``execute`` method has.

Refusals: a disconnect control method the control mode does not allow (Blue
Book 4.5.8, control modes table) answers read-write-denied, as an access the
configuration forbids; an allowed method that has no transition from the
current state (remote_disconnect when already disconnected) succeeds and
changes nothing. A value of the wrong type is type-unmatched, an out-of-range
value (control mode 7, a list over its bound) other-reason, a value
definition naming no object object-undefined, and an attribute the object
lacks object-unavailable (as push setup does).
"""

from dlms import axdr
from dlms.errors import DataAccessError
from micropython import const

from cosem.base import (
    OBJECT_UNAVAILABLE,
    OTHER_REASON,
    READ_WRITE_DENIED,
    TYPE_UNMATCHED,
    CosemObject,
    expect,
)

# control_state (Blue Book 4.5.8, attribute 3)
DISCONNECTED = const(0)
CONNECTED = const(1)
READY_FOR_RECONNECTION = const(2)

# What asks for a transition
REMOTE_DISCONNECT = const(0)  # method 1
REMOTE_RECONNECT = const(1)  # method 2
MANUAL_DISCONNECT = const(2)  # the customer's button
MANUAL_RECONNECT = const(3)  # the customer's button
LOCAL_DISCONNECT = const(4)  # limiter, supervision
LOCAL_RECONNECT = const(5)

_OBJECT_UNDEFINED = const(4)
MAX_THRESHOLDS = const(16)
MAX_GROUP_IDS = const(16)

# Blue Book 4.5.8 state diagram: transition -> (trigger, from state, to state)
_TRANSITIONS = {
    "a": (REMOTE_RECONNECT, DISCONNECTED, READY_FOR_RECONNECTION),
    "b": (REMOTE_DISCONNECT, READY_FOR_RECONNECTION, DISCONNECTED),
    "c": (REMOTE_DISCONNECT, CONNECTED, DISCONNECTED),
    "d": (REMOTE_RECONNECT, DISCONNECTED, CONNECTED),
    "e": (MANUAL_RECONNECT, READY_FOR_RECONNECTION, CONNECTED),
    "f": (MANUAL_DISCONNECT, CONNECTED, READY_FOR_RECONNECTION),
    "g": (LOCAL_DISCONNECT, CONNECTED, READY_FOR_RECONNECTION),
    "h": (LOCAL_RECONNECT, READY_FOR_RECONNECTION, CONNECTED),
}
# Blue Book 4.5.8 control modes table: the transitions each mode allows.
# 0: none, always connected; 1/2 differ in remote reconnection (a: via
# ready_for_reconnection, d: directly); 3/4 as 1/2 without manual
# disconnection; 5 as 1 and 6 as 3 with local reconnection (h).
MODES = ("", "abcefg", "bcdefg", "abceg", "bcdeg", "abcefgh", "abcegh")


class DisconnectControl(CosemObject):
    CLASS_ID = 70
    VERSION = 0
    ATTRIBUTES = ("logical_name", "output_state", "control_state", "control_mode")
    WRITABLE = (4,)
    METHODS = ("remote_disconnect", "remote_reconnect")

    def __init__(self, ln, relay=None, control_mode=1, control_state=CONNECTED, public=False):
        """``relay(on)`` switches the supply (True = connected); it is called
        at once with the initial state and at every change of output_state
        (so not between disconnected and ready_for_reconnection)."""
        super().__init__(ln, public)
        if not 0 <= control_mode < len(MODES):
            raise ValueError("control mode %d" % control_mode)
        self.relay = relay
        self.control_mode = control_mode
        self.control_state = CONNECTED if control_mode == 0 else control_state
        # on_change(control_state, control_mode): the application keeps both
        # in flash, so the supply is what it was after a power cut
        self.on_change = None
        self._drive()

    def _changed(self):
        if self.on_change is not None:
            self.on_change(self.control_state, self.control_mode)

    @property
    def output_state(self):
        # attribute 2: the actual supply, TRUE only while connected
        return self.control_state == CONNECTED

    def _drive(self):
        if self.relay is not None:
            self.relay(self.output_state)

    def allowed(self, trigger):
        """Does the control mode allow ``trigger`` at all (from any state)?"""
        for t in MODES[self.control_mode]:
            if _TRANSITIONS[t][0] == trigger:
                return True
        return False

    def transition(self, trigger):
        """Apply ``trigger``: None if the mode forbids it, else True when the
        state changed and False when there is no transition from this state."""
        if not self.allowed(trigger):
            return None
        for t in MODES[self.control_mode]:
            trig, src, dst = _TRANSITIONS[t]
            if trig == trigger and src == self.control_state:
                was = self.output_state
                self.control_state = dst
                if self.output_state != was:
                    self._drive()  # disconnected <-> ready: the relay stays open
                self._changed()
                return True
        return False

    # the customer's button (manual) and the limiter or supervision (local)
    def manual_disconnect(self):
        return self.transition(MANUAL_DISCONNECT) is True

    def manual_reconnect(self):
        return self.transition(MANUAL_RECONNECT) is True

    def local_disconnect(self):
        return self.transition(LOCAL_DISCONNECT) is True

    def local_reconnect(self):
        return self.transition(LOCAL_RECONNECT) is True

    def get(self, attr, ctx, selector=None, params=None):
        if attr == 2:
            return (axdr.BOOLEAN, self.output_state)
        if attr == 3:
            return (axdr.ENUM, self.control_state)
        if attr == 4:
            return (axdr.ENUM, self.control_mode)
        return super().get(attr, ctx)

    def set(self, attr, data, ctx):
        if attr != 4:
            return super().set(attr, data, ctx)
        mode = expect(data, axdr.ENUM)
        if mode >= len(MODES):
            raise DataAccessError(OTHER_REASON, "control mode %d" % mode)
        self.control_mode = mode
        if mode == 0 and self.control_state != CONNECTED:
            self.control_state = CONNECTED  # mode 0: always connected
            self._drive()
        self._changed()

    def action(self, method, data, ctx):
        if method not in (1, 2):
            return super().action(method, data, ctx)
        # data ::= integer(0); absent or null-data taken as well
        if data is not None and data[0] not in (axdr.INTEGER, axdr.NULL_DATA):
            raise DataAccessError(TYPE_UNMATCHED)
        trigger = REMOTE_DISCONNECT if method == 1 else REMOTE_RECONNECT
        if self.transition(trigger) is None:
            raise DataAccessError(READ_WRITE_DENIED, "control mode %d" % self.control_mode)
        return None


# -- shared by the limiter and the register monitor ---------------------------

_NO_SCRIPT = (b"\x00" * 6, 0)


def _structure(data, n):
    v = expect(data, axdr.STRUCTURE)
    if len(v) != n:
        raise DataAccessError(TYPE_UNMATCHED)
    return v


def _ln(data):
    v = expect(data, axdr.OCTET_STRING)
    if len(v) != 6:
        raise DataAccessError(TYPE_UNMATCHED)
    return bytes(v)


def _action_item(data):
    # action_item ::= structure {script_logical_name, script_selector}
    v = _structure(data, 2)
    return (_ln(v[0]), expect(v[1], axdr.LONG_UNSIGNED))


def _action_item_data(item):
    return (axdr.STRUCTURE, [(axdr.OCTET_STRING, item[0]), (axdr.LONG_UNSIGNED, item[1])])


class _Monitor(CosemObject):
    """A value_definition {class_id, logical_name, attribute_index} read from
    the logical device, and script actions run through ``execute``."""

    def __init__(self, ln, device, monitored, execute, public):
        super().__init__(ln, public)
        self.device = device
        self.monitored = (monitored[0], bytes(monitored[1]), monitored[2])
        self.execute = execute

    def _definition_data(self):
        c, ln, a = self.monitored
        return (
            axdr.STRUCTURE,
            [(axdr.LONG_UNSIGNED, c), (axdr.OCTET_STRING, ln), (axdr.INTEGER, a)],
        )

    def _set_definition(self, data):
        v = _structure(data, 3)
        class_id = expect(v[0], axdr.LONG_UNSIGNED)
        ln = _ln(v[1])
        attr = expect(v[2], axdr.INTEGER)
        if self.device is not None:
            obj = self.device.find(ln)
            if obj is None or obj.CLASS_ID != class_id:
                raise DataAccessError(_OBJECT_UNDEFINED)
            if not 1 <= attr <= len(obj.ATTRIBUTES):
                raise DataAccessError(OBJECT_UNAVAILABLE)
        self.monitored = (class_id, ln, attr)

    def _data(self):
        # the monitored value as numeric typed data, or None
        if self.device is None:
            return None
        c, ln, a = self.monitored
        obj = self.device.find(ln)
        if obj is None or obj.CLASS_ID != c:
            return None
        try:
            data = obj.get(a, None)
        except DataAccessError:
            return None
        if not isinstance(data, tuple) or data[0] not in axdr.NUMERIC:
            return None
        return data

    def read(self):
        """The monitored value as a number, or None when it cannot be read."""
        data = self._data()
        return None if data is None else data[1]

    def _threshold(self, data):
        """``data`` as a threshold: of the monitored value's type (Blue Book
        4.5.6 / 4.5.9), else type-unmatched; of any numeric type while the
        monitored value cannot be read."""
        cur = self._data()
        if cur is None:
            expect(data, *axdr.NUMERIC)
        else:
            expect(data, cur[0])
        return data

    def _run(self, item):
        if self.execute is not None:
            self.execute(item[0], item[1])


class Limiter(_Monitor):
    """Class 71 (Blue Book 4.5.9). Over threshold: the monitored value above
    threshold_active; action_over_threshold runs once the value has stayed
    over for min_over_threshold_duration, action_under_threshold once it has
    then stayed at or under it for min_under_threshold_duration. The
    emergency threshold is active while the emergency profile's id is in the
    group id list and the clock is within activation_time + duration."""

    CLASS_ID = 71
    VERSION = 0
    ATTRIBUTES = (
        "logical_name",
        "monitored_value",
        "threshold_active",
        "threshold_normal",
        "threshold_emergency",
        "min_over_threshold_duration",
        "min_under_threshold_duration",
        "emergency_profile",
        "emergency_profile_group_id_list",
        "emergency_profile_active",
        "actions",
    )
    WRITABLE = (2, 4, 5, 6, 7, 8, 9, 11)
    KEEP = WRITABLE

    def __init__(
        self,
        ln,
        device,
        clock,
        monitored,
        threshold_normal,
        threshold_emergency=None,
        min_over=0,
        min_under=0,
        action_over=_NO_SCRIPT,
        action_under=_NO_SCRIPT,
        execute=None,
        public=False,
    ):
        """``clock``: the cosem Clock (now(), utc_of()); ``monitored``:
        (class_id, logical_name, attribute_index); thresholds: typed data."""
        super().__init__(ln, device, monitored, execute, public)
        self.clock = clock
        self.threshold_normal = threshold_normal
        self.threshold_emergency = threshold_emergency or threshold_normal
        self.min_over = min_over
        self.min_under = min_under
        # emergency_profile: id, activation time (12 octets), duration s
        self.emergency_id = 0
        self.emergency_activation = axdr.DateTime().to_bytes()
        self.emergency_duration = 0
        self.group_ids = []
        self.action_over = action_over
        self.action_under = action_under
        self.over = False  # action_over_threshold ran, no under action since
        self._since = None  # when the value last went over / under

    def emergency_active(self, now=None):
        if self.emergency_id not in self.group_ids or not self.emergency_duration:
            return False
        try:
            start = self.clock.utc_of(axdr.DateTime.from_bytes(self.emergency_activation))
        except ValueError:
            return False  # wildcards: not a point in time
        t = self.clock.now() if now is None else now
        return start <= t < start + self.emergency_duration

    def threshold_active(self, now=None):
        if self.emergency_active(now):
            return self.threshold_emergency
        return self.threshold_normal

    def tick(self, now=None):
        """Read the monitored value and evaluate it at UTC ``now``."""
        v = self.read()
        if v is not None:
            self.check(v, self.clock.now() if now is None else now)

    def check(self, value, now):
        over = value > self.threshold_active(now)[1]
        if self._since is None or self._since[0] != over:
            self._since = (over, now)
        held = now - self._since[1]
        if over and not self.over and held >= self.min_over:
            self.over = True
            self._run(self.action_over)
        elif not over and self.over and held >= self.min_under:
            self.over = False
            self._run(self.action_under)

    def get(self, attr, ctx, selector=None, params=None):
        if attr == 2:
            return self._definition_data()
        if attr == 3:
            return self.threshold_active()
        if attr == 4:
            return self.threshold_normal
        if attr == 5:
            return self.threshold_emergency
        if attr == 6:
            return (axdr.DOUBLE_LONG_UNSIGNED, self.min_over)
        if attr == 7:
            return (axdr.DOUBLE_LONG_UNSIGNED, self.min_under)
        if attr == 8:
            return (
                axdr.STRUCTURE,
                [
                    (axdr.LONG_UNSIGNED, self.emergency_id),
                    (axdr.OCTET_STRING, self.emergency_activation),
                    (axdr.DOUBLE_LONG_UNSIGNED, self.emergency_duration),
                ],
            )
        if attr == 9:
            return (axdr.ARRAY, [(axdr.LONG_UNSIGNED, i) for i in self.group_ids])
        if attr == 10:
            return (axdr.BOOLEAN, self.emergency_active())
        if attr == 11:
            return (
                axdr.STRUCTURE,
                [_action_item_data(self.action_over), _action_item_data(self.action_under)],
            )
        return super().get(attr, ctx)

    def set(self, attr, data, ctx):
        if attr == 2:
            self._set_definition(data)
            self._since = None
        elif attr == 4:
            self.threshold_normal = self._threshold(data)
        elif attr == 5:
            self.threshold_emergency = self._threshold(data)
        elif attr in (6, 7):
            v = expect(data, axdr.DOUBLE_LONG_UNSIGNED)
            if attr == 6:
                self.min_over = v
            else:
                self.min_under = v
        elif attr == 8:
            v = _structure(data, 3)
            pid = expect(v[0], axdr.LONG_UNSIGNED)
            at = expect(v[1], axdr.OCTET_STRING, axdr.DATE_TIME)
            at = at.to_bytes() if v[1][0] == axdr.DATE_TIME else bytes(at)
            if len(at) != 12:
                raise DataAccessError(TYPE_UNMATCHED)
            duration = expect(v[2], axdr.DOUBLE_LONG_UNSIGNED)
            self.emergency_id, self.emergency_activation = pid, at
            self.emergency_duration = duration
        elif attr == 9:
            items = expect(data, axdr.ARRAY)
            if len(items) > MAX_GROUP_IDS:
                raise DataAccessError(OTHER_REASON, "over %d group ids" % MAX_GROUP_IDS)
            self.group_ids = [expect(i, axdr.LONG_UNSIGNED) for i in items]
        elif attr == 11:
            v = _structure(data, 2)
            over, under = _action_item(v[0]), _action_item(v[1])
            self.action_over, self.action_under = over, under
        else:
            super().set(attr, data, ctx)


class RegisterMonitor(_Monitor):
    """Class 21 (Blue Book 4.5.6). For each threshold n, action_up of
    actions[n] runs when the monitored value crosses it upwards (from at or
    under it to above it) and action_down when it crosses it downwards. The
    first value read sets the starting side and runs nothing; hysteresis, if
    wanted, is two thresholds with an up action on one and a down on the
    other."""

    CLASS_ID = 21
    VERSION = 0
    ATTRIBUTES = ("logical_name", "thresholds", "monitored_value", "actions")
    WRITABLE = (2, 3, 4)
    KEEP = WRITABLE

    def __init__(self, ln, device, monitored, thresholds, actions=(), execute=None, public=False):
        """``thresholds``: typed numeric data; ``actions``: (action_up,
        action_down) pairs of (script_logical_name, script_selector)."""
        super().__init__(ln, device, monitored, execute, public)
        self.thresholds = list(thresholds)
        self.actions = list(actions)
        self.above = None  # per threshold: is the last value above it

    def tick(self):
        v = self.read()
        if v is not None:
            self.check(v)

    def check(self, value):
        above = [value > t[1] for t in self.thresholds]
        last = self.above
        self.above = above
        if last is None:
            return
        for n in range(min(len(above), len(self.actions))):
            if above[n] and not last[n]:
                self._run(self.actions[n][0])
            elif last[n] and not above[n]:
                self._run(self.actions[n][1])

    def get(self, attr, ctx, selector=None, params=None):
        if attr == 2:
            return (axdr.ARRAY, list(self.thresholds))
        if attr == 3:
            return self._definition_data()
        if attr == 4:
            return (
                axdr.ARRAY,
                [
                    (axdr.STRUCTURE, [_action_item_data(up), _action_item_data(down)])
                    for up, down in self.actions
                ],
            )
        return super().get(attr, ctx)

    def set(self, attr, data, ctx):
        if attr == 2:
            items = expect(data, axdr.ARRAY)
            if len(items) > MAX_THRESHOLDS:
                raise DataAccessError(OTHER_REASON, "over %d thresholds" % MAX_THRESHOLDS)
            self.thresholds = [self._threshold(t) for t in items]
            self.above = None
        elif attr == 3:
            self._set_definition(data)
            self.above = None
        elif attr == 4:
            items = expect(data, axdr.ARRAY)
            if len(items) > MAX_THRESHOLDS:
                raise DataAccessError(OTHER_REASON, "over %d action sets" % MAX_THRESHOLDS)
            out = []
            for it in items:
                v = _structure(it, 2)
                out.append((_action_item(v[0]), _action_item(v[1])))
            self.actions = out
        else:
            super().set(attr, data, ctx)
