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

from dlms.security.cipher import SecurityError

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
    """An invocation counter in RAM (tests, and contexts nothing persists)."""

    def __init__(self, start=1):
        self.value = start - 1

    def next(self):
        if self.value >= 0xFFFFFFFF:
            raise SecurityError("invocation counter exhausted: keys must be changed", 6)
        self.value += 1
        return self.value

    def reset(self):
        self.value = 0


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
        """A key transfer. The new key is persisted first; then a new global
        unicast key starts new counter series (the other order would let a
        reset counter run under the old key after a power cut)."""
        self.set_key(key_id, key)
        if self.on_change:
            self.on_change(self)
        if key_id == KEY_GLOBAL_UNICAST:
            self.counter.reset()
            self._guards = {}  # guards are per key: the new key's start empty

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
        return self.counter.next()

    def guard(self, client_title):
        g = self._guards.get(client_title)
        if g is None:
            from dlms.crc import fcs16

            # named after the client and the key (its FCS-16 identifies it)
            name = "".join("%02x" % b for b in client_title)
            name += ".%04x" % fcs16(self.keys[KEY_GLOBAL_UNICAST])
            g = self._guards[client_title] = self.guard_factory(name)
        return g
