"""The part of the unittest API our suite uses, for the unix MicroPython port.

CPython's tests import the standard library's unittest; under MicroPython this
directory is on MICROPYPATH instead, and host_tests/mp_run.py runs the cases.
"""


class SkipTest(Exception):
    pass


class _AssertRaises:
    def __init__(self, exc, regex=None):
        self.expected = exc
        self.regex = regex
        self.exception = None

    def __enter__(self):
        return self

    def __exit__(self, exc_type, exc, tb):
        if exc_type is None:
            raise AssertionError("%s not raised" % self.expected.__name__)
        if not issubclass(exc_type, self.expected):
            return False
        self.exception = exc
        if self.regex is not None and self.regex not in str(exc):
            raise AssertionError("%r does not contain %r" % (str(exc), self.regex))
        return True


class _SubTest:
    def __enter__(self):
        return self

    def __exit__(self, *a):
        return False


class TestCase:
    maxDiff = None

    def setUp(self):
        pass

    def tearDown(self):
        pass

    @classmethod
    def setUpClass(cls):
        pass

    @classmethod
    def tearDownClass(cls):
        pass

    def subTest(self, msg=None, **kw):
        return _SubTest()

    def skipTest(self, reason):
        raise SkipTest(reason)

    def fail(self, msg=None):
        raise AssertionError(msg or "fail")

    def assertEqual(self, a, b, msg=None):
        if not a == b:
            raise AssertionError(msg or "%r != %r" % (a, b))

    def assertNotEqual(self, a, b, msg=None):
        if a == b:
            raise AssertionError(msg or "%r == %r" % (a, b))

    def assertTrue(self, x, msg=None):
        if not x:
            raise AssertionError(msg or "%r is not true" % (x,))

    def assertFalse(self, x, msg=None):
        if x:
            raise AssertionError(msg or "%r is not false" % (x,))

    def assertIs(self, a, b, msg=None):
        if a is not b:
            raise AssertionError(msg or "%r is not %r" % (a, b))

    def assertIsNot(self, a, b, msg=None):
        if a is b:
            raise AssertionError(msg or "%r is %r" % (a, b))

    def assertIsNone(self, x, msg=None):
        if x is not None:
            raise AssertionError(msg or "%r is not None" % (x,))

    def assertIsNotNone(self, x, msg=None):
        if x is None:
            raise AssertionError(msg or "unexpected None")

    def assertIn(self, a, b, msg=None):
        if a not in b:
            raise AssertionError(msg or "%r not in %r" % (a, b))

    def assertNotIn(self, a, b, msg=None):
        if a in b:
            raise AssertionError(msg or "%r in %r" % (a, b))

    def assertIsInstance(self, x, cls, msg=None):
        if not isinstance(x, cls):
            raise AssertionError(msg or "%r is not a %r" % (x, cls))

    def assertGreater(self, a, b, msg=None):
        if not a > b:
            raise AssertionError(msg or "%r <= %r" % (a, b))

    def assertGreaterEqual(self, a, b, msg=None):
        if not a >= b:
            raise AssertionError(msg or "%r < %r" % (a, b))

    def assertLess(self, a, b, msg=None):
        if not a < b:
            raise AssertionError(msg or "%r >= %r" % (a, b))

    def assertLessEqual(self, a, b, msg=None):
        if not a <= b:
            raise AssertionError(msg or "%r > %r" % (a, b))

    def assertAlmostEqual(self, a, b, places=7, msg=None):
        if round(abs(a - b), places) != 0:
            raise AssertionError(msg or "%r != %r within %d places" % (a, b, places))

    def assertRaises(self, exc, func=None, *args, **kw):
        ctx = _AssertRaises(exc)
        if func is None:
            return ctx
        with ctx:
            func(*args, **kw)
        return ctx

    def assertRaisesRegex(self, exc, regex, func=None, *args, **kw):
        ctx = _AssertRaises(exc, regex)
        if func is None:
            return ctx
        with ctx:
            func(*args, **kw)
        return ctx


def skip(reason):
    def deco(f):
        def skipped(*a, **kw):
            raise SkipTest(reason)

        return skipped

    return deco


def skipIf(cond, reason):
    if cond:
        return skip(reason)
    return lambda f: f


def skipUnless(cond, reason):
    return skipIf(not cond, reason)


def main():
    raise SystemExit("run the suite with host_tests/mp_run.py")
