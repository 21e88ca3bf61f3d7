"""Script table (Blue Book 4.5.2), single action schedule (4.5.7), special
days table (4.5.4) and activity calendar (4.5.5): encodings in hex, wildcard
times across daylight saving changes, and tariff switching over days."""

import unittest

from cosem.base import LogicalDevice
from cosem.calendar import (
    ActivityCalendar,
    Calendar,
    SpecialDaysTable,
    default_tariff_calendar,
    tariff_time,
)
from cosem.clock import Clock
from cosem.data import Data
from cosem.schedule import ScriptContext, ScriptTable, SingleActionSchedule
from dlms import axdr, xdlms
from dlms.errors import DataAccessError
from hal.clock import ManualClock
from support import h, hx

TARIFF_LN = h("00 00 60 0E 00 FF")
TABLE_LN = h("00 00 0A 00 64 FF")


def utc(y, mo, d, hh=0, mm=0, ss=0):
    return axdr.DateTime.from_tuple(y, mo, d, hh, mm, ss, 0, 0).to_epoch()


def enc(data):
    return hx(axdr.to_bytes(data))


def dae(test, result, fn, *args):
    with test.assertRaises(DataAccessError) as cm:
        fn(*args)
    test.assertEqual(cm.exception.result, result)


def date5(y, mo, d, wd=0xFF):
    return axdr.DateTime(y, mo, d, wd).date_bytes()


def local(y, mo, d, hh=0, mm=0):
    return axdr.DateTime.from_tuple(y, mo, d, hh, mm)


def meter(start):
    """A device with the clock, the tariff Data object and the default pair."""
    hal = ManualClock(start)
    clock = Clock("0.0.1.0.0.255", hal)
    dev = LogicalDevice(1, b"TEST")
    dev.add(clock)
    tariff = dev.add(Data(TARIFF_LN, (axdr.UNSIGNED, 0)))
    cal, table = default_tariff_calendar(clock)
    dev.add(cal)
    dev.add(table)
    return hal, clock, dev, tariff, cal, table


class TestScriptTable(unittest.TestCase):
    def setUp(self):
        self.hal, self.clock, self.dev, self.tariff, _, self.table = meter(utc(2024, 1, 15))
        self.ctx = ScriptContext(self.dev, self.hal)

    def test_execute_writes_data(self):
        self.table.action(1, (axdr.LONG_UNSIGNED, 2), self.ctx)
        self.assertEqual(self.tariff.value, (axdr.UNSIGNED, 2))
        self.table.action(1, (axdr.LONG_UNSIGNED, 1), self.ctx)
        self.assertEqual(self.tariff.value, (axdr.UNSIGNED, 1))

    def test_null_script(self):
        # Blue Book 4.5.2: script 0 is the null script, it does nothing
        before = self.tariff.value
        self.assertIsNone(self.table.action(1, (axdr.LONG_UNSIGNED, 0), self.ctx))
        self.assertEqual(self.tariff.value, before)
        dae(self, xdlms.OTHER_REASON, self.table.action, 1, (axdr.LONG_UNSIGNED, 7), self.ctx)

    def test_script_executing_itself(self):
        # directly: refused with other-reason, no recursion error
        t = self.dev.add(
            ScriptTable(
                "0.0.10.0.1.255", [(3, [(2, 9, "0.0.10.0.1.255", 1, (axdr.LONG_UNSIGNED, 3))])]
            )
        )
        dae(self, xdlms.OTHER_REASON, t.action, 1, (axdr.LONG_UNSIGNED, 3), self.ctx)
        # through another table: A3 writes the tariff then runs B4, which runs A3
        u = self.dev.add(
            ScriptTable(
                "0.0.10.0.2.255", [(4, [(2, 9, "0.0.10.0.1.255", 1, (axdr.LONG_UNSIGNED, 3))])]
            )
        )
        t.scripts = [
            (
                3,
                [
                    (1, 1, self.tariff.ln, 2, (axdr.UNSIGNED, 2)),
                    (2, 9, u.ln, 1, (axdr.LONG_UNSIGNED, 4)),
                ],
            )
        ]
        dae(self, xdlms.OTHER_REASON, t.action, 1, (axdr.LONG_UNSIGNED, 3), self.ctx)
        self.assertEqual(self.tariff.value, (axdr.UNSIGNED, 2))  # done before the refusal
        # and the tables run again afterwards
        t.scripts = [(3, [(2, 9, TABLE_LN, 1, (axdr.LONG_UNSIGNED, 1))])]
        t.action(1, (axdr.LONG_UNSIGNED, 3), self.ctx)
        self.assertEqual(self.tariff.value, (axdr.UNSIGNED, 1))

    def test_encoding(self):
        t = ScriptTable(TABLE_LN, [(1, [(1, 1, TARIFF_LN, 2, (axdr.UNSIGNED, 1))])])
        self.assertEqual(enc(t.get(1, None)), "09 06 00 00 0A 00 64 FF")
        self.assertEqual(
            enc(t.get(2, None)),
            "01 01 02 02 12 00 01 01 01 02 05 16 01 12 00 01 09 06 00 00 60 0E 00 FF 0F 02 11 01",
        )
        # a write of the same bytes reads back the same
        t.set(2, axdr.decode(h("01 01 02 02 12 00 07 01 00"))[0], None)
        self.assertEqual(enc(t.get(2, None)), "01 01 02 02 12 00 07 01 00")
        self.assertEqual((t.CLASS_ID, t.VERSION, len(t.METHODS)), (9, 0, 1))

    def test_execute_method_action(self):
        # service 2: execute method 1 of another script table
        t = self.dev.add(
            ScriptTable("0.0.10.0.1.255", [(5, [(2, 9, TABLE_LN, 1, (axdr.LONG_UNSIGNED, 2))])])
        )
        t.action(1, (axdr.LONG_UNSIGNED, 5), self.ctx)
        self.assertEqual(self.tariff.value, (axdr.UNSIGNED, 2))

    def test_bad_parameters(self):
        t = self.table
        dae(self, xdlms.OTHER_REASON, t.action, 1, (axdr.LONG_UNSIGNED, 9), self.ctx)
        dae(self, xdlms.TYPE_UNMATCHED, t.action, 1, (axdr.UNSIGNED, 1), self.ctx)
        dae(self, xdlms.TYPE_UNMATCHED, t.set, 2, (axdr.STRUCTURE, []), None)
        # service_id 3 does not exist
        bad = (
            axdr.ARRAY,
            [
                (
                    axdr.STRUCTURE,
                    [
                        (axdr.LONG_UNSIGNED, 1),
                        (
                            axdr.ARRAY,
                            [
                                (
                                    axdr.STRUCTURE,
                                    [
                                        (axdr.ENUM, 3),
                                        (axdr.LONG_UNSIGNED, 1),
                                        (axdr.OCTET_STRING, TARIFF_LN),
                                        (axdr.INTEGER, 2),
                                        (axdr.NULL_DATA, None),
                                    ],
                                )
                            ],
                        ),
                    ],
                )
            ],
        )
        dae(self, xdlms.OTHER_REASON, t.set, 2, bad, None)
        # an action on an object the device lacks
        t2 = ScriptTable(TABLE_LN, [(1, [(1, 1, h("00 00 60 0E 01 FF"), 2, (axdr.UNSIGNED, 1))])])
        dae(self, xdlms.OBJECT_UNAVAILABLE, t2.action, 1, (axdr.LONG_UNSIGNED, 1), self.ctx)
        # a parameter of the wrong type for the Data object
        t3 = ScriptTable(TABLE_LN, [(1, [(1, 1, TARIFF_LN, 2, (axdr.LONG, 1))])])
        dae(self, xdlms.TYPE_UNMATCHED, t3.action, 1, (axdr.LONG_UNSIGNED, 1), self.ctx)


class TestSingleActionSchedule(unittest.TestCase):
    def setUp(self):
        self.hal, self.clock, self.dev, self.tariff, _, _ = meter(utc(2024, 1, 15))

    def sas(self, times, selector=2, type=4):
        return SingleActionSchedule("0.0.15.0.0.255", self.clock, TABLE_LN, selector, type, times)

    def test_every_day_midnight_across_spring_change(self):
        s = self.sas([(b"\x00\x00\x00\x00", b"\xff\xff\xff\xff\xff")])
        # local midnight: 23:00 UTC in winter time, 22:00 UTC in summer time
        done = s.tick(utc(2024, 3, 29, 23), utc(2024, 4, 1, 12), self.dev)
        self.assertEqual(done, [utc(2024, 3, 30, 23), utc(2024, 3, 31, 22)])
        self.assertEqual(self.tariff.value, (axdr.UNSIGNED, 2))
        # (prev, now]: an instant at prev is not run again, one at now is
        self.assertEqual(s.due(utc(2024, 3, 30, 23), utc(2024, 3, 31, 22)), [utc(2024, 3, 31, 22)])

    def test_specific_date_in_repeated_hour(self):
        # 2024-10-27 02:30 local happens twice; it runs once, in summer time
        s = self.sas([(b"\x02\x1e\x00\x00", date5(2024, 10, 27))], type=1)
        self.assertEqual(s.due(utc(2024, 10, 26), utc(2024, 10, 28)), [utc(2024, 10, 27, 0, 30)])
        self.assertEqual(s.due(utc(2024, 10, 27, 0, 30), utc(2025, 1, 1)), [])
        # same date another year does not match
        self.assertEqual(s.due(utc(2025, 10, 26), utc(2025, 10, 28)), [])

    def test_wildcard_hour_and_last_day(self):
        # every hour at :15 on the last day of any month, skipped hour of spring
        s = self.sas([(b"\xff\x0f\x00\x00", b"\xff\xff\x03\xfe\xff")])
        got = s.due(utc(2024, 3, 30, 23), utc(2024, 3, 31, 22))
        self.assertEqual(len(got), 23)  # 02:15 does not exist that day
        self.assertEqual(got[0], utc(2024, 3, 30, 23, 15))

    def test_encoding(self):
        s = self.sas([(b"\x00\x00\x00\x00", b"\xff\xff\xff\xff\xff")])
        self.assertEqual(enc(s.get(2, None)), "02 02 09 06 00 00 0A 00 64 FF 12 00 02")
        self.assertEqual(enc(s.get(3, None)), "16 04")
        self.assertEqual(enc(s.get(4, None)), "01 01 02 02 09 04 00 00 00 00 09 05 FF FF FF FF FF")
        self.assertEqual((s.CLASS_ID, s.VERSION), (22, 0))

    def test_bad_parameters(self):
        s = self.sas([], type=1)
        dae(self, xdlms.OTHER_REASON, s.set, 3, (axdr.ENUM, 6), None)
        dae(self, xdlms.TYPE_UNMATCHED, s.set, 3, (axdr.UNSIGNED, 2), None)
        two = axdr.decode(
            h(
                "01 02 02 02 09 04 00 00 00 00 09 05 FF FF FF FF FF"
                " 02 02 09 04 01 00 00 00 09 05 FF FF FF FF FF"
            )
        )[0]
        dae(self, xdlms.OTHER_REASON, s.set, 4, two, None)  # type 1: one time
        s.set(3, (axdr.ENUM, 4), None)
        s.set(4, two, None)
        self.assertEqual(len(s.times), 2)
        short = axdr.decode(h("01 01 02 02 09 03 00 00 00 09 05 FF FF FF FF FF"))[0]
        dae(self, xdlms.TYPE_UNMATCHED, s.set, 4, short, None)
        dae(
            self,
            xdlms.TYPE_UNMATCHED,
            s.set,
            2,
            (axdr.STRUCTURE, [(axdr.OCTET_STRING, b"\x00")]),
            None,
        )


def weekend_calendar():
    # Monday..Saturday day 1 (07:00 tariff 1, 23:00 tariff 2), Sunday day 2
    return Calendar(
        b"WE",
        [(b"S", axdr.DateTime(0xFFFF, 1, 1, 0xFF, 0, 0, 0, 0xFF, -0x8000, 0xFF).to_bytes(), b"W")],
        [(b"W", (1, 1, 1, 1, 1, 1, 2))],
        [
            (1, [(tariff_time(7), TABLE_LN, 1), (tariff_time(23), TABLE_LN, 2)]),
            (2, [(tariff_time(0), TABLE_LN, 2)]),
        ],
    )


class TestSpecialDays(unittest.TestCase):
    def setUp(self):
        self.days = SpecialDaysTable("0.0.11.0.0.255", [(1, date5(2024, 4, 7, 7), 1)])
        self.cal = ActivityCalendar("0.0.13.0.0.255", None, weekend_calendar())

    def test_special_day_overrides_sunday(self):
        a = self.cal.active_action
        self.assertEqual(a(local(2024, 4, 14, 12), self.days), (TABLE_LN, 2))  # a Sunday
        self.assertEqual(a(local(2024, 4, 7, 12), self.days), (TABLE_LN, 1))  # special
        self.assertEqual(a(local(2024, 4, 7, 12)), (TABLE_LN, 2))  # without the table
        self.assertEqual(a(local(2024, 4, 7, 6, 59), self.days), (TABLE_LN, 2))  # before 07:00
        self.assertEqual(a(local(2024, 4, 8, 3), self.days), (TABLE_LN, 2))  # from 23:00 before

    def test_insert_delete_and_wildcards(self):
        d = self.days
        # every 25 December is day 2 (Wednesday in 2024)
        d.action(1, axdr.decode(h("02 03 12 00 02 09 05 FF FF 0C 19 FF 11 02"))[0], None)
        self.assertEqual(self.cal.active_action(local(2024, 12, 25, 12), d), (TABLE_LN, 2))
        self.assertEqual(self.cal.active_action(local(2024, 12, 24, 12), d), (TABLE_LN, 1))
        self.assertEqual(
            enc(d.get(2, None)),
            "01 02 02 03 12 00 01 09 05 07 E8 04 07 07 11 01"
            " 02 03 12 00 02 09 05 FF FF 0C 19 FF 11 02",
        )
        # insert with an index already there replaces it
        d.action(1, axdr.decode(h("02 03 12 00 02 09 05 FF FF 0C 1A FF 11 02"))[0], None)
        self.assertEqual(len(d.entries), 2)
        d.action(2, (axdr.LONG_UNSIGNED, 1), None)
        d.action(2, (axdr.LONG_UNSIGNED, 77), None)  # not there: nothing happens
        self.assertEqual(enc(d.get(2, None)), "01 01 02 03 12 00 02 09 05 FF FF 0C 1A FF 11 02")
        self.assertEqual((d.CLASS_ID, d.VERSION, len(d.METHODS)), (11, 0, 2))

    def test_insert_with_a_date_already_there(self):
        # Blue Book 4.5.4: an entry with the same date is overwritten too
        d = self.days
        d.action(1, axdr.decode(h("02 03 12 00 02 09 05 FF FF 0C 19 FF 11 02"))[0], None)
        d.action(1, axdr.decode(h("02 03 12 00 05 09 05 FF FF 0C 19 FF 11 01"))[0], None)
        self.assertEqual(
            enc(d.get(2, None)),
            "01 02 02 03 12 00 01 09 05 07 E8 04 07 07 11 01"
            " 02 03 12 00 05 09 05 FF FF 0C 19 FF 11 01",
        )
        self.assertEqual(d.day_id(local(2026, 12, 25, 12)), 1)

    def test_bad_parameters(self):
        d = self.days
        dae(self, xdlms.TYPE_UNMATCHED, d.action, 2, (axdr.UNSIGNED, 1), None)
        dae(
            self,
            xdlms.TYPE_UNMATCHED,
            d.action,
            1,
            axdr.decode(h("02 03 12 00 02 09 04 FF FF 0C 19 11 02"))[0],
            None,
        )
        dae(
            self, xdlms.TYPE_UNMATCHED, d.action, 1, axdr.decode(h("02 02 12 00 02 11 02"))[0], None
        )
        dae(self, xdlms.READ_WRITE_DENIED, d.action, 3, None, None)


class TestActivityCalendar(unittest.TestCase):
    def run_days(self, start, end, cal, dev, hal, step=300):
        """Tick every ``step`` seconds; the (utc, tariff) of each change."""
        tariff = dev.find(TARIFF_LN)
        changes = []
        prev = hal.now() - 1
        last = None
        while hal.now() <= end:
            cal.tick(prev, hal.now(), dev)
            if tariff.value[1] != last:
                last = tariff.value[1]
                changes.append((hal.now(), last))
            prev = hal.now()
            hal.advance(step)
        return changes

    def test_tariff_switching_across_spring_change(self):
        start = utc(2024, 3, 29)
        hal, clock, dev, tariff, cal, _ = meter(start)
        got = self.run_days(start, utc(2024, 4, 2), cal, dev, hal)
        self.assertEqual(
            got,
            [
                (start, 2),  # 01:00 local: still the 23:00 action of the day before
                (utc(2024, 3, 29, 6), 1),  # 07:00 CET
                (utc(2024, 3, 29, 22), 2),  # 23:00 CET
                (utc(2024, 3, 30, 6), 1),
                (utc(2024, 3, 30, 22), 2),
                (utc(2024, 3, 31, 5), 1),  # 07:00 CEST
                (utc(2024, 3, 31, 21), 2),  # 23:00 CEST
                (utc(2024, 4, 1, 5), 1),
                (utc(2024, 4, 1, 21), 2),
            ],
        )

    def test_tariff_switching_across_autumn_change(self):
        start = utc(2024, 10, 26, 12)
        hal, clock, dev, tariff, cal, _ = meter(start)
        got = self.run_days(start, utc(2024, 10, 28, 12), cal, dev, hal, step=900)
        self.assertEqual(
            got,
            [
                (start, 1),
                (utc(2024, 10, 26, 21), 2),  # 23:00 CEST
                (utc(2024, 10, 27, 6), 1),  # 07:00 CET
                (utc(2024, 10, 27, 22), 2),
                (utc(2024, 10, 28, 6), 1),
            ],
        )

    def test_passive_activation_at_its_time(self):
        start = utc(2024, 1, 14, 12)  # a Sunday
        hal, clock, dev, tariff, cal, _ = meter(start)
        cal.set(6, (axdr.OCTET_STRING, b"WE"), None)
        w = weekend_calendar()
        for attr in (7, 8, 9):
            cal.set(attr, w.encode(attr - 6), None)
        # Monday 2024-01-15 00:00 local, deviation not specified
        at = axdr.DateTime.from_tuple(2024, 1, 15, status=0xFF)
        cal.set(10, (axdr.OCTET_STRING, at.to_bytes()), None)
        self.assertEqual(cal.activation_utc(), utc(2024, 1, 14, 23))
        self.assertEqual(cal.tick(start - 1, start, dev), (TABLE_LN, 1))
        self.assertEqual(enc(cal.get(2, None)), "09 06 54 41 52 49 46 46")
        self.assertEqual(cal.tick(start, utc(2024, 1, 14, 22, 59), dev), (TABLE_LN, 2))
        # activation applies the new calendar's action in force at once
        self.assertEqual(
            cal.tick(utc(2024, 1, 14, 22, 59), utc(2024, 1, 14, 23), dev), (TABLE_LN, 2)
        )
        self.assertEqual(enc(cal.get(2, None)), "09 02 57 45")
        self.assertEqual(
            enc(cal.get(4, None)), "01 01 02 08 09 01 57 11 01 11 01 11 01 11 01 11 01 11 01 11 02"
        )
        # on the next Sunday the new calendar keeps tariff 2 all day
        self.assertEqual(cal.tick(utc(2024, 1, 20, 12), utc(2024, 1, 21, 12), dev), None)
        self.assertEqual(tariff.value, (axdr.UNSIGNED, 2))
        self.assertEqual(cal.active_action(local(2024, 1, 21, 12)), (TABLE_LN, 2))

    def test_passive_activation_by_method(self):
        hal, clock, dev, tariff, cal, _ = meter(utc(2024, 1, 14, 12))
        cal.set(6, (axdr.OCTET_STRING, b"WE"), None)
        w = weekend_calendar()
        for attr in (7, 8, 9):
            cal.set(attr, w.encode(attr - 6), None)
        self.assertEqual(cal.active_action(local(2024, 1, 14, 12)), (TABLE_LN, 1))
        cal.action(1, (axdr.INTEGER, 0), None)
        self.assertEqual(cal.active_action(local(2024, 1, 14, 12)), (TABLE_LN, 2))
        self.assertEqual(enc(cal.get(2, None)), enc(cal.get(6, None)))

    def test_encoding(self):
        _, _, _, _, cal, _ = meter(utc(2024, 1, 15))
        self.assertEqual(
            enc(cal.get(3, None)),
            "01 01 02 03 09 04 59 45 41 52"
            " 09 0C FF FF 01 01 FF 00 00 00 FF 80 00 FF 09 04 57 45 45 4B",
        )
        self.assertEqual(
            enc(cal.get(5, None)),
            "01 02 02 02 11 01 01 02 02 03 09 04 07 00 00 00 09 06 00 00 0A 00 64 FF 12 00 01"
            " 02 03 09 04 17 00 00 00 09 06 00 00 0A 00 64 FF 12 00 02"
            " 02 02 11 02 01 01 02 03 09 04 00 00 00 00 09 06 00 00 0A 00 64 FF 12 00 02",
        )
        self.assertEqual(enc(cal.get(10, None)), "09 0C FF FF FF FF FF FF FF FF FF 80 00 FF")
        # the passive day table written back byte for byte
        cal.set(9, cal.get(5, None), None)
        self.assertEqual(enc(cal.get(9, None)), enc(cal.get(5, None)))
        self.assertEqual((cal.CLASS_ID, cal.VERSION, len(cal.ATTRIBUTES)), (20, 0, 10))

    def test_bad_parameters(self):
        _, _, _, _, cal, _ = meter(utc(2024, 1, 15))
        dae(self, xdlms.READ_WRITE_DENIED, cal.set, 2, (axdr.OCTET_STRING, b"X"), None)
        dae(self, xdlms.TYPE_UNMATCHED, cal.set, 10, (axdr.OCTET_STRING, b"\xff" * 5), None)
        dae(
            self,
            xdlms.TYPE_UNMATCHED,
            cal.set,
            8,
            axdr.decode(h("01 01 02 02 09 01 57 11 01"))[0],
            None,
        )
        # start_time hour 24
        dae(
            self,
            xdlms.OTHER_REASON,
            cal.set,
            9,
            axdr.decode(
                h(
                    "01 01 02 02 11 01 01 01 02 03 09 04 18 00 00 00"
                    " 09 06 00 00 0A 00 64 FF 12 00 01"
                )
            )[0],
            None,
        )
        dae(self, xdlms.TYPE_UNMATCHED, cal.action, 1, (axdr.UNSIGNED, 0), None)


if __name__ == "__main__":
    unittest.main()
