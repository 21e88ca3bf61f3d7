"""LLS brute force: the penalty window grows, then a lockout; it survives a reboot."""

import unittest

from dlms import acse
from dlms.lls_guard import LlsGuard
from hal.clock import ManualClock
from model import build
from test_server import AARE_OK, AARQ_LLS, AARQ_LLS_WRONG


class _Store:
    """A dict store (the real one is tested in test_store)."""

    def __init__(self):
        self.d = {}

    def get(self, name):
        return self.d.get(name)

    def put(self, name, data):
        self.d[name] = bytes(data)


class TestLlsGuard(unittest.TestCase):
    def setUp(self):
        self.clock = ManualClock(1800000000)
        self.store = _Store()
        self.server = build()
        self.server.clock = self.clock
        self.server.lls_guard = LlsGuard(self.store)

    def attempt(self, aarq):
        r = bytes(self.server.association(17, 1).handle(aarq))
        return r == AARE_OK, acse.decode_aare(r).diagnostic

    def test_growing_delay(self):
        self.assertEqual(self.attempt(AARQ_LLS_WRONG), (False, 13))
        self.assertEqual(self.attempt(AARQ_LLS_WRONG), (False, 13))
        self.assertEqual(self.attempt(AARQ_LLS_WRONG), (False, 13))  # 3rd: 2 s penalty
        self.assertFalse(self.attempt(AARQ_LLS)[0])  # right password, inside the window
        self.clock.advance(2)
        self.assertFalse(self.attempt(AARQ_LLS_WRONG)[0])  # 4th: 4 s
        self.clock.advance(3)
        self.assertFalse(self.attempt(AARQ_LLS)[0])
        self.clock.advance(1)
        self.assertTrue(self.attempt(AARQ_LLS)[0])
        # a success clears the record
        self.assertEqual(self.attempt(AARQ_LLS_WRONG), (False, 13))
        self.assertTrue(self.attempt(AARQ_LLS)[0])

    def test_lockout_survives_a_reboot(self):
        for _ in range(10):
            self.attempt(AARQ_LLS_WRONG)
            self.clock.advance(400)
        self.assertFalse(self.attempt(AARQ_LLS)[0])
        # reboot: a new server on the same store
        server = build()
        server.clock = self.clock
        server.lls_guard = LlsGuard(self.store)
        self.server = server
        self.clock.advance(3600)
        self.assertFalse(self.attempt(AARQ_LLS)[0])
        self.clock.advance(86400)
        self.assertTrue(self.attempt(AARQ_LLS)[0])

    def test_other_clients_unaffected(self):
        for _ in range(10):
            self.attempt(AARQ_LLS_WRONG)
        a = self.server.association(1, 1)
        self.assertEqual(bytes(a.handle(AARQ_LLS)), AARE_OK)
