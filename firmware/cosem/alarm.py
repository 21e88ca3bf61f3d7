"""The alarm register and alarm filter (IDIS / DSMR 5 "Alarm register 1",
0.0.97.98.0.255, and "Alarm filter 1", 0.0.97.98.10.255): Data objects
(class 1) holding a double-long-unsigned bit string, bit 0 the least
significant.

An alarm sets its bit in the register when the filter has that bit set; the
register keeps it until a client clears it. A client clears by writing the
register: the written value is ANDed in, so writing 0 clears everything (as
head-ends do, e.g. OSGP's "clear alarm register") and writing back what it
read with some bits cleared clears exactly those. The filter is written
whole. ``raise_alarm(bit)`` returns True when the bit is newly set, so the
application sends an alarm push once per alarm, not once per occurrence.

Bits (DSMR 5.0 P3 alarm register 1): 0 clock invalid, 1 replace battery,
2 power up, 8 program memory error, 9 RAM error, 10 NV memory error,
11 watchdog error, 12 fraud attempt.
"""

from dlms import axdr
from dlms.errors import DataAccessError
from micropython import const

from cosem.base import TYPE_UNMATCHED
from cosem.data import Data

ALARM_CLOCK_INVALID = const(0)
ALARM_REPLACE_BATTERY = const(1)
ALARM_POWER_UP = const(2)
ALARM_PROGRAM_MEMORY = const(8)
ALARM_RAM = const(9)
ALARM_NV_MEMORY = const(10)
ALARM_WATCHDOG = const(11)
ALARM_FRAUD_ATTEMPT = const(12)

_U32 = axdr.DOUBLE_LONG_UNSIGNED
_ALL = const(0xFFFFFFFF)


class AlarmRegister(Data):
    on_change = None  # on_change(): a client cleared bits (the app persists them)

    def __init__(self, ln="0.0.97.98.0.255", value=0):
        super().__init__(ln, (_U32, value))

    @property
    def bits(self):
        return self.value[1]

    def set(self, attr, data, ctx):
        if attr != 2:
            return super().set(attr, data, ctx)
        if data[0] != _U32:
            raise DataAccessError(TYPE_UNMATCHED)
        self.value = (_U32, self.value[1] & data[1])
        if self.on_change is not None:
            self.on_change()


class AlarmFilter(Data):
    on_change = None

    def __init__(self, ln="0.0.97.98.10.255", value=_ALL):
        super().__init__(ln, (_U32, value))

    def set(self, attr, data, ctx):
        super().set(attr, data, ctx)
        if attr == 2 and self.on_change is not None:
            self.on_change()


class Alarms:
    """A register with its filter; ``on_alarm(bit)`` (optional) runs for each
    newly set bit (the app's alarm push)."""

    def __init__(self, register, filter_, on_alarm=None):
        self.register = register
        self.filter = filter_
        self.on_alarm = on_alarm

    def raise_alarm(self, bit):
        mask = 1 << bit
        if not self.filter.value[1] & mask:
            return False
        old = self.register.value[1]
        if old & mask:
            return False
        self.register.value = (_U32, old | mask)
        if self.register.on_change is not None:
            self.register.on_change()
        if self.on_alarm is not None:
            self.on_alarm(bit)
        return True
