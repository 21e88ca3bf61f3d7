"""The server's security material: system title, suite, keys and counters.

One ``SecurityContext`` per server (the Security setup object shows and
changes it): the global unicast encryption key EK, the broadcast key, the
authentication key AK, the master key KEK (key transfer), the server system
title, the server's invocation counter (never repeated, never rolled back:
dlms.security.counter) and one replay guard per client system title and
global unicast key: ``guard_factory(name)`` makes it, named after both, so a
new key starts every client's series afresh and an old key's record stays
with the old key.
"""

from micropython import const

from dlms.security.cipher import SC_BROADCAST, SecurityError, unprotect

_SUITE_BITS = const(0x0F)

# Security suites (Green Book 9.2.3): the symmetric part of each. Suite 1's
# ECDH/ECDSA are not offered; it ciphers like suite 0 with its own suite id.
SUITE_0 = 0  # AES-GCM-128, AES-128 key wrap
SUITE_1 = 1  # ECDH-ECDSA-AES-GCM-128-SHA-256
SUITE_2 = 2  # ECDH-ECDSA-AES-GCM-256-SHA-384: AES-GCM-256, AES-256 key wrap

KEY_GLOBAL_UNICAST = 0  # key_id of Security setup global_key_transfer
KEY_GLOBAL_BROADCAST = 1
KEY_AUTHENTICATION = 2
KEY_MASTER = 3


class MemoryCounter:
    """An invocation counter in RAM (tests, and contexts nothing persists),
    one series per key as dlms.security.counter.InvocationCounter."""

    def __init__(self, start=1):
        self.value = start - 1
        self._key = None  # the first key takes the series begun at ``start``
        self._series = {}

    def switch(self, key_name):
        if self._key is not None:
            self._series[self._key] = self.value
            self.value = self._series.get(key_name, 0)
        self._key = key_name

    def next(self):
        if self.value >= 0xFFFFFFFF:
            raise SecurityError("invocation counter exhausted: keys must be changed", 6, 0xFFFFFFFF)
        self.value += 1
        return self.value


class MemoryReplayGuard:
    def __init__(self):
        self.last = -1

    def check_and_accept(self, ic):
        if ic <= self.last:
            return False
        self.last = ic
        return True

    def reset(self):
        self.last = -1


class SecurityContext:
    def __init__(
        self,
        system_title,
        ek,
        ak,
        kek=None,
        bk=None,
        suite=SUITE_0,
        counter=None,
        guard_factory=None,
        on_change=None,
    ):
        if len(system_title) != 8:
            raise ValueError("system title must be 8 octets")
        self.system_title = bytes(system_title)
        self.suite = suite
        self.keys = {}
        self._gcm = {}
        self.set_key(KEY_GLOBAL_UNICAST, ek)
        self.set_key(KEY_AUTHENTICATION, ak)
        if kek is not None:
            self.set_key(KEY_MASTER, kek)
        if bk is not None:
            self.set_key(KEY_GLOBAL_BROADCAST, bk)
        self.counter = counter or MemoryCounter()
        self._series = False  # the counter is in the unicast key's series
        self.guard_factory = guard_factory or (lambda name: MemoryReplayGuard())
        self._guards = {}
        self.on_change = on_change  # called after a key change (to persist keys)

    def key_length(self):
        return 32 if self.suite == SUITE_2 else 16

    def set_key(self, key_id, key):
        key = bytes(key)
        if key_id != KEY_AUTHENTICATION and len(key) != self.key_length():
            raise ValueError("key of %d octets for suite %d" % (len(key), self.suite))
        self.keys[key_id] = key
        self._gcm.pop(key_id, None)

    def change_key(self, key_id, key):
        """A key transfer. The new key is persisted first; then the server's
        invocation counter goes on in the new global unicast key's series:
        begun afresh for a key never used, resumed for a key used before (a
        key transferred again, or an old key back), so no IV ever repeats
        under one key. (The other order could, after a power cut, let the
        old key's series run on from a new key's values.)"""
        self.set_key(key_id, key)
        if self.on_change:
            self.on_change(self)
        if key_id == KEY_GLOBAL_UNICAST:
            self._series = False  # the next value is the new key's
        if key_id in (KEY_GLOBAL_UNICAST, KEY_GLOBAL_BROADCAST):
            self._guards = {}  # guards are per key: made again, by the new key's name

    def _key_name(self, key_id):
        # a key's series and guards are named after it: its FCS-16. Two keys
        # that share a name share one series, which only skips values.
        from dlms.crc import fcs16

        return "%04x" % fcs16(self.keys[key_id])

    def gcm(self, key_id=KEY_GLOBAL_UNICAST):
        g = self._gcm.get(key_id)
        if g is None:
            # imported with the first ciphered client: a meter whose clients
            # all use LLS or none never holds the module's tables
            from dlms.security.gcm import Gcm

            g = self._gcm[key_id] = Gcm(self.keys[key_id])
        return g

    @property
    def ak(self):
        return self.keys[KEY_AUTHENTICATION]

    def next_ic(self):
        if not self._series:
            # chosen at first use, as the guards are: a meter whose clients
            # never cipher does not import dlms.crc for it at boot
            self.counter.switch(self._key_name(KEY_GLOBAL_UNICAST))
            self._series = True
        return self.counter.next()

    def guard(self, client_title, key_id=KEY_GLOBAL_UNICAST):
        """The replay guard of a client under one global key."""
        key = (client_title, key_id)
        g = self._guards.get(key)
        if g is None:
            name = "".join("%02x" % b for b in client_title) + "." + self._key_name(key_id)
            g = self._guards[key] = self.guard_factory(name)
        return g

    def open(self, content, client_title, dedicated=None):
        """``(sc, ic, plain apdu, guard)`` of a client's SC || IC || payload
        || tag: the suite must be this meter's, the key is the one the SC
        names (its broadcast bit: the global broadcast key, else the global
        unicast key, or ``dedicated``, the association's (Gcm, guard)).
        SecurityError if any of it fails. The replay check is the caller's."""
        sc = content[0]
        if sc & _SUITE_BITS != self.suite:
            raise SecurityError("security control 0x%02X: not suite %d" % (sc, self.suite))
        if sc & SC_BROADCAST:
            if dedicated is not None or KEY_GLOBAL_BROADCAST not in self.keys:
                raise SecurityError("security control 0x%02X: no broadcast key for it" % sc)
            gcm = self.gcm(KEY_GLOBAL_BROADCAST)
            guard = self.guard(client_title, KEY_GLOBAL_BROADCAST)
        elif dedicated is not None:
            gcm, guard = dedicated
        else:
            gcm, guard = self.gcm(), self.guard(client_title)
        sc, ic, plain = unprotect(gcm, client_title, self.ak, content)
        return sc, ic, plain, guard
