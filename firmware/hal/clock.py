"""Time for the meter: UTC seconds since 1970-01-01, whatever the runtime's epoch.

``SystemClock`` reads the host's (or board RTC's) time, with an offset that a
clock setting moves; ``ManualClock`` only moves when told, so tests advance
days without sleeping. Both offer ``now()`` (int seconds, UTC) and ``set()``.
"""

import time

# MicroPython's bare-metal ports count from 2000-01-01; unix and CPython from 1970.
_EPOCH_OFFSET = 946684800 if time.gmtime(0)[0] == 2000 else 0


class SystemClock:
    def __init__(self):
        self.offset = 0

    def now(self):
        return int(time.time()) + _EPOCH_OFFSET + self.offset

    def set(self, seconds):
        self.offset += int(seconds) - self.now()


class ManualClock:
    def __init__(self, seconds=0):
        self.t = int(seconds)

    def now(self):
        return self.t

    def set(self, seconds):
        self.t = int(seconds)

    def advance(self, seconds):
        self.t += int(seconds)
