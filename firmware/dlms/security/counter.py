"""Invocation counters that never repeat and never roll back.

GCM is broken if an IV repeats under one key, and the IV is the sender's
system title with its invocation counter IC (Green Book, the AES-GCM
initialization vector); the receiver rejects any IC not above the last one it
accepted. Both ends keep their counters in ``hal.store``.

``InvocationCounter`` is the server's outgoing counter for one security
context, one series per global unicast key (``switch``: a key used again
resumes its series, so no IV repeats under any key). It reserves ahead in
strides: before handing out a value above the last reservation it persists
``value + stride - 1`` and only then returns the value, so after a reboot or
a power cut it resumes above every value that could have been sent, at the
cost of at most ``stride - 1`` values skipped per reboot, with one store
write per ``stride`` values. It hands out 1 to 2**32 - 1 in each series;
after that ``next()`` raises ``CounterExhausted`` (keys must be changed),
also after a reboot. There is no reset: a new key is a new series, and an
old key its old one.

``ReplayGuard`` is the last IC accepted from one peer under one key; name it
after both (e.g. ``"rx." + system title hex + "." + key id``). An accepted IC is
persisted before ``check_and_accept`` returns True, one store write per
accepted frame. Batching these writes would be cheaper, but after a reboot the
frames accepted since the last write could be replayed; a frame whose IC cannot
be persisted is refused (the store's error propagates). Call it only after the
frame's GCM tag has verified (the IC is in the IV, so it is authenticated):
accepting a forged frame's IC would lock the real peer out. ``check`` alone
tests without recording.

A damaged record (``hal.store.StoreError``) is not taken for "no record": the
context cannot cipher until its keys are changed.
"""

from hal.store import StoreError
from micropython import const

from dlms.security.cipher import SecurityError

_IC_MAX = const(0xFFFFFFFF)
_REASON_IC = const(6)  # exception-response service-error invocation-counter-error


class CounterExhausted(SecurityError):
    def __init__(self):
        super().__init__("invocation counter exhausted: keys must be changed", _REASON_IC, _IC_MAX)


def _load(store, name):
    """The 4-octet value stored under ``name``, or None (no record, or a reset)."""
    rec = store.get(name)
    if not rec:
        return None
    if len(rec) != 4:
        raise StoreError(name)
    return int.from_bytes(rec, "big")


class InvocationCounter:
    def __init__(self, store, name, stride=16):
        if stride < 1:
            raise ValueError("stride")
        self._store = store
        self._base = self._name = name
        self.stride = stride
        # every value up to the stored reservation may have been sent before.
        # A record under ``name`` itself is one series for every key (older
        # firmware kept one): a key's own series never begins below it.
        self._floor = self.last = self._reserved = _load(store, name) or 0

    def switch(self, key_name):
        """Go on in the series of the key named ``key_name``: resumed where it
        was left if the key was used before, else begun afresh (at 1)."""
        self._name = self._base + "." + key_name
        v = _load(self._store, self._name)
        self.last = self._reserved = self._floor if v is None else v

    @property
    def exhausted(self):
        return self.last >= _IC_MAX

    def next(self):
        """The next invocation counter: never returned before, on any boot."""
        v = self.last + 1
        if v > _IC_MAX:
            raise CounterExhausted()
        if v > self._reserved:
            r = v + self.stride - 1
            if r > _IC_MAX:
                r = _IC_MAX
            self._store.put(self._name, r.to_bytes(4, "big"))
            self._reserved = r
        self.last = v
        return v


class ReplayGuard:
    def __init__(self, store, name):
        self._store = store
        self._name = name
        self.last = _load(store, name)  # None: nothing accepted under this key

    def check(self, ic):
        """True when ``ic`` is above every IC accepted so far."""
        return 0 <= ic <= _IC_MAX and (self.last is None or ic > self.last)

    def check_and_accept(self, ic):
        """False for a replayed (or out-of-range) IC; else persist it and return True."""
        if not self.check(ic):
            return False
        self._store.put(self._name, ic.to_bytes(4, "big"))
        self.last = ic
        return True

    def reset(self):
        """A new key: every IC is acceptable again."""
        self._store.put(self._name, b"")
        self.last = None
