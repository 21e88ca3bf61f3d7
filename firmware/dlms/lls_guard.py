"""Brute force against LLS passwords: a growing delay, then a lockout.

The server cannot sleep (sans-IO), so the delay is a penalty window: after a
failed LLS association, attempts from the same client SAP are refused, right
password or not, until the window has passed. The window doubles with each
failure after the first ``free`` ones, up to ``max_delay`` seconds; after
``lockout`` failures in a row the client is locked out for ``lockout_s``.
A success clears the record. Failures and windows persist in the flash store
(when there is one), so a reboot does not reset them. Time is passed in, as
UTC seconds, from the meter's clock.
"""

from micropython import const

_FREE = const(2)
_MAX_DELAY = const(300)
_LOCKOUT = const(10)
_LOCKOUT_S = const(86400)


class LlsGuard:
    def __init__(
        self, store=None, free=_FREE, max_delay=_MAX_DELAY, lockout=_LOCKOUT, lockout_s=_LOCKOUT_S
    ):
        self.store = store
        self.free = free
        self.max_delay = max_delay
        self.lockout = lockout
        self.lockout_s = lockout_s
        self._mem = {}
        self.on_lockout = None  # on_lockout(sap): the app raises its fraud alarm

    def _get(self, sap):
        rec = self._mem.get(sap)
        if rec is None and self.store is not None:
            raw = self.store.get("lls.%d" % sap)
            if raw and len(raw) == 5:
                rec = (raw[0], int.from_bytes(raw[1:5], "big"))
        return rec or (0, 0)

    def _put(self, sap, failures, until):
        self._mem[sap] = (failures, until)
        if self.store is not None:
            self.store.put("lls.%d" % sap, bytes((min(failures, 255),)) + until.to_bytes(4, "big"))

    def allowed(self, sap, now):
        """May client ``sap`` try a password now?"""
        return now >= self._get(sap)[1]

    def wait(self, sap, now):
        """Seconds until the next attempt is taken (0: now)."""
        return max(0, self._get(sap)[1] - now)

    def failed(self, sap, now):
        failures = self._get(sap)[0] + 1
        if failures >= self.lockout:
            until = now + self.lockout_s
            if failures == self.lockout and self.on_lockout is not None:
                self.on_lockout(sap)
        elif failures > self.free:
            until = now + min(1 << (failures - self.free), self.max_delay)
        else:
            until = 0
        self._put(sap, failures, until)
        return failures

    def succeeded(self, sap):
        if self._get(sap) != (0, 0):
            self._put(sap, 0, 0)
