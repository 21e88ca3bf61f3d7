"""IEC 62056-21 (direct local data exchange), sans-IO: the meter's side, the
reading side, each against the other, and against a real meter's session.

Messages are written as the standard prints them (6.3): ``/?!`` CR LF,
``/MPY5\\2mpdlms0001`` CR LF, ``ACK 0 5 0`` CR LF, ``STX ... ! CR LF ETX BCC``.
Time is simulated: every test runs in milliseconds on both runtimes.
"""

import unittest

from cosem.base import LogicalDevice
from cosem.data import Data
from cosem.register import UNIT_A, UNIT_V, UNIT_WH, Register
from dlms import acse, axdr, obis
from dlms.client import Client
from dlms.hdlc_client import HdlcClientLink
from dlms.hdlc_link import HdlcServerLink
from dlms.iec62056_21 import (
    BAUD,
    MODE_E,
    Iec62056Server,
    ObjectAccess,
    address_of,
    answer_message,
    bcc,
    command_message,
    data_block,
    data_message,
    format_value,
    obis_of,
    parse_value,
    readout_from_objects,
)
from dlms.iec62056_21_client import (
    ERROR,
    READOUT,
    Identification,
    Iec62056Client,
    parse_data_block,
    parse_data_message,
)
from model import build
from support import Rng

IDENT = b"/MPY5\\2mpdlms0001\r\n"
ITEMS = [
    ("0-0:96.1.0", "12345678", ""),
    ("1.8.0", "012345.678", "kWh"),
    ("2.8.0", "000123.456", "kWh"),
    ("32.7.0", "230.1", "V"),
]
READOUT_MSG = (
    b"\x020-0:96.1.0(12345678)\r\n1.8.0(012345.678*kWh)\r\n2.8.0(000123.456*kWh)\r\n"
    b"32.7.0(230.1*V)\r\n!\r\n\x03l"
)
P0 = b"\x01P0\x02()\x03`"  # the same octets as the real ISKRA ME-162 (data/)
B0 = b"\x01B0\x03q"
ACK = b"\x06"
NAK = b"\x15"


def octets(got):
    return b"".join(g for g in got if isinstance(g, bytes))


def events(got):
    return [g for g in got if isinstance(g, tuple)]


class Hhu:
    """Drives a server as a port driver would, on a simulated clock: the octets
    it sends and the events between them, in order; the rate the port is at."""

    def __init__(self, server, t=0):
        self.s = server
        self.t = t
        self.rate = server.baud
        self.quiet_at = t  # when the last octet the server sent has left the line

    def drain(self):
        got = []
        while True:
            out = self.s.data_to_send()
            if out:
                got.append(out)
                self.quiet_at = max(self.quiet_at, self.t) + len(out) * 10000 // self.rate + 1
            ev = self.s.next_event()
            if ev is None:
                return got
            got.append(ev)
            self.rate = ev[1]

    def wait(self, ms):
        got = []
        end = self.t + ms
        while self.t < end:
            self.t = min(self.t + 10, end)
            self.s.poll(self.t)
            got += self.drain()
        return got

    def send(self, data, gap=250):
        """``data`` from the HHU ``gap`` ms after the line went quiet."""
        self.t = max(self.t, self.quiet_at) + gap
        self.s.receive_data(data, self.t)
        return self.drain()

    def talk(self, data, gap=250, wait=600):
        return self.send(data, gap) + self.wait(wait)


def server(**kw):
    args = {"password": "12345678"}
    args.update(kw)
    return Iec62056Server("mpdlms0001", ITEMS, **args)


class TestCodec(unittest.TestCase):
    def test_bcc_of_a_real_meters_messages(self):
        # BCCs from the ISKRA ME-162 session in data/ (see its provenance)
        self.assertEqual(bcc(b"P0\x02()\x03"), ord("`"))
        self.assertEqual(bcc(b"R1\x021.8.0()\x03"), ord("Z"))
        self.assertEqual(bcc(b"(0032907.842*kWh)\x03"), ord("S"))
        self.assertEqual(command_message("B0"), B0)
        self.assertEqual(command_message("R1", "1.8.0()"), b"\x01R1\x021.8.0()\x03Z")
        self.assertEqual(answer_message("(0032907.852*kWh)"), b"\x02(0032907.852*kWh)\x03R")

    def test_bcc_ignores_a_parity_bit(self):
        self.assertEqual(bcc(b"\x80\x01"), 0x01)

    def test_data_message(self):
        self.assertEqual(data_message(data_block(ITEMS)), READOUT_MSG)

    def test_forbidden_characters_never_reach_the_line(self):
        block = data_block([("1.8.0", "1(2", "kWh"), ("2.8.0", "5", "k!Wh"), ("3.8.0", "7", "")])
        self.assertEqual(block, "3.8.0(7)\r\n")

    def test_format_value(self):
        self.assertEqual(format_value(12345678, 0, UNIT_WH), ("012345.678", "kWh"))
        self.assertEqual(format_value(1, 3, UNIT_WH), ("000001", "kWh"))
        self.assertEqual(format_value(2301, -1, UNIT_V), ("230.1", "V"))
        self.assertEqual(format_value(523, -2, UNIT_A), ("005.23", "A"))
        self.assertEqual(format_value(857, 0, 27), ("00.857", "kW"))
        self.assertEqual(format_value(-1500, 0, 27), ("-01.500", "kW"))
        self.assertEqual(format_value(42, 0, 255), ("42", ""))
        self.assertEqual(format_value(1.25, 0, UNIT_WH), ("000000.001", "kWh"))

    def test_parse_value(self):
        self.assertEqual(parse_value("012345.678", 0, UNIT_WH), 12345678)
        self.assertEqual(parse_value("1.5", 0, UNIT_WH), 1500)
        self.assertEqual(parse_value("230.1", -1, UNIT_V), 2301)
        self.assertEqual(parse_value("-2", 0, 255), -2)
        for bad in ("1.2345", "x", "", "1.2.3"):
            with self.assertRaises(ValueError):
                parse_value(bad, 0, UNIT_WH)

    def test_addresses(self):
        self.assertEqual(address_of(obis.parse("1.0.1.8.0.255")), "1.8.0")
        self.assertEqual(address_of(obis.parse("0.0.96.1.0.255")), "0-0:96.1.0")
        self.assertEqual(address_of(obis.parse("1.0.1.8.0.1")), "1.8.0*1")
        self.assertEqual(obis_of("1.8.0"), obis.parse("1.0.1.8.0.255"))
        self.assertEqual(obis_of("1-0:1.8.0*01"), obis.parse("1.0.1.8.0.1"))
        self.assertEqual(obis_of("1.8.0&02"), obis.parse("1.0.1.8.0.2"))
        self.assertEqual(obis_of("C.1.0", 0, 0), obis.parse("0.0.96.1.0.255"))
        self.assertEqual(obis_of("F.F"), obis.parse("1.0.97.97.255.255"))
        for bad in ("", "x.8.0", "1.8.0.0", "1-0:1.8.0*x", "300.1.0", "1:1.8.0"):
            self.assertEqual(obis_of(bad), None, bad)

    def test_parse_data_block(self):
        r = parse_data_block(
            "1.8.0(012345.678*kWh)\r\n0.9.1(12:00:00)(extra)\r\n(continued*V)\r\n"
            "garbage\r\n96.1.0(ABC)\r\n!\r\n"
        )
        self.assertEqual(r.values["1.8.0"], ("012345.678", "kWh"))
        self.assertEqual(
            r.lines[1], ("0.9.1", [("12:00:00", ""), ("extra", ""), ("continued", "V")])
        )
        self.assertEqual(r.skipped, 1)
        self.assertEqual(r.obis()[obis.parse("1.0.1.8.0.255")], ("012345.678", "kWh"))

    def test_parse_data_message_bcc(self):
        self.assertEqual(parse_data_message(READOUT_MSG).values["32.7.0"], ("230.1", "V"))
        with self.assertRaises(ValueError):  # DecodeError is a ValueError
            parse_data_message(READOUT_MSG[:-1] + b"m")

    def test_identification(self):
        i = Identification.parse(IDENT)
        self.assertEqual((i.manufacturer, i.baud_char, i.mode, i.rate), ("MPY", "5", "C", 9600))
        self.assertTrue(i.mode_e)
        self.assertEqual(i.ident, "mpdlms0001")
        i = Identification.parse(b"/ISk5ME162-0033\r\n")
        self.assertTrue(i.fast)
        self.assertFalse(i.mode_e)
        self.assertEqual((i.mode, i.rate), ("C", 9600))
        self.assertEqual(Identification.parse(b"/ABCB12\r\n").rate, 1200)  # mode B
        i = Identification.parse(b"/EMH5\\@D4EM4TWII001--\r\n")
        self.assertEqual((i.enhanced, i.ident, i.rate), ("@", "D4EM4TWII001--", 9600))
        self.assertEqual(Identification.parse(b"/ABCK12\r\n").mode, "A")


class TestModeC(unittest.TestCase):
    def setUp(self):
        self.s = server()
        self.h = Hhu(self.s)

    def test_sign_on_answered_after_the_reaction_time(self):
        self.assertEqual(self.h.send(b"/?!\r\n"), [])
        self.assertEqual(self.h.wait(190), [])  # t_r >= 200 ms
        self.assertEqual(self.h.wait(20), [IDENT])

    def test_wait_ms_tells_the_driver_when_to_poll(self):
        self.assertIsNone(self.s.wait_ms(0))
        self.s.receive_data(b"/?", 1000)
        self.assertEqual(self.s.wait_ms(1000), 1501)  # t_a for the partial message
        self.s.receive_data(b"!\r\n", 1100)
        self.assertEqual(self.s.wait_ms(1100), 50)  # an exchange in progress
        self.assertFalse(self.s.pending() and self.s.data_to_send())

    def test_data_readout_at_9600(self):
        self.assertEqual(octets(self.h.talk(b"/?!\r\n")), IDENT)
        got = self.h.talk(b"\x06050\r\n", wait=300)
        # the switch first, then the readout at the new rate
        self.assertEqual(got, [(BAUD, 9600), READOUT_MSG])
        # no repeat request within t_r max: back to the sign-on at 300 Bd
        self.assertEqual(self.h.wait(1600), [(BAUD, 300)])
        self.assertEqual(octets(self.h.talk(b"/?!\r\n")), IDENT)

    def test_repeat_request_after_the_readout(self):
        self.h.talk(b"/?!\r\n")
        self.h.talk(b"\x06050\r\n", wait=300)
        self.assertEqual(self.h.talk(NAK, wait=300), [READOUT_MSG])
        self.assertEqual(self.h.talk(B0, wait=50), [(BAUD, 300)])  # break: no answer

    def test_ack_after_the_readout_ends_it(self):
        self.h.talk(b"/?!\r\n")
        self.h.talk(b"\x06050\r\n", wait=300)
        self.assertEqual(self.h.talk(ACK, wait=50), [(BAUD, 300)])

    def test_other_baud_rate_proceeds_at_300(self):
        self.h.talk(b"/?!\r\n")
        self.assertEqual(self.h.talk(b"\x06040\r\n", wait=1000), [READOUT_MSG])
        self.assertEqual(self.h.rate, 300)

    def test_no_option_select_readout_at_300(self):
        self.h.talk(b"/?!\r\n")
        self.assertEqual(self.h.wait(1800), [])  # t_t > 1500 ms after the identification
        self.assertEqual(self.h.wait(600), [READOUT_MSG])
        self.assertEqual(self.h.rate, 300)

    def test_unsupported_option_select_proceeds_at_300(self):
        for ack in (b"\x06059\r\n", b"\x06950\r\n", b"\x0605\r\n"):
            s = server()
            h = Hhu(s)
            h.talk(b"/?!\r\n")
            self.assertEqual(h.talk(ack, wait=1000), [READOUT_MSG], ack)

    def test_device_address(self):
        s = server(device_address="0012345")
        h = Hhu(s)
        self.assertEqual(h.talk(b"/?99!\r\n"), [])  # another meter on the bus
        self.assertEqual(octets(h.talk(b"/?12345!\r\n")), IDENT)  # leading zeros ignored
        self.assertEqual(h.wait(9000), [READOUT_MSG])  # no option select: at 300 Bd
        self.assertEqual(octets(h.talk(b"/?!\r\n")), IDENT)  # no address: anyone answers

    def test_line_noise_before_the_sign_on(self):
        noise = b"\x7f\x7f\x00/\xff?xx!\r\n/?!!\r\n\x06050\r\n"
        self.assertEqual(self.h.talk(noise), [])
        self.assertEqual(octets(self.h.talk(b"\x7f\x7f/?!\r\n")), IDENT)

    def test_parity_bits_are_ignored(self):
        def even(c):
            n = c
            p = 0
            while n:
                p ^= n & 1
                n >>= 1
            return c | (p << 7)

        self.assertEqual(octets(self.h.talk(bytes(even(c) for c in b"/?!\r\n"))), IDENT)

    def test_sign_on_that_stops_mid_frame(self):
        self.assertEqual(self.h.send(b"/?12"), [])
        self.h.wait(1600)  # t_a: the partial request is dropped
        self.assertEqual(self.h.talk(b"!\r\n"), [])
        self.assertEqual(octets(self.h.talk(b"/?!\r\n")), IDENT)

    def test_programming_mode(self):
        s = Iec62056Server("mpdlms0001", ITEMS, password="12345678")
        h = Hhu(s)
        h.talk(b"/?!\r\n")
        self.assertEqual(h.talk(b"\x06051\r\n"), [(BAUD, 9600), P0])
        self.assertEqual(h.talk(b"\x01P1\x02(12345678)\x03i"), [ACK])
        self.assertEqual(h.talk(b"\x01R1\x021.8.0()\x03Z"), [b"\x021.8.0(012345.678*kWh)\x03S"])
        # the full form of the address and a read's optional data set value
        self.assertEqual(
            octets(h.talk(command_message("R1", "1-0:1.8.0(1)"))),
            answer_message("1-0:1.8.0(012345.678*kWh)"),
        )
        self.assertEqual(
            h.talk(command_message("R1", "9.9.9()")), [b"\x02(ER unknown address)\x03\x0b"]
        )
        self.assertEqual(
            h.talk(command_message("W1", "1.8.0(5)")), [answer_message("(ER read only)")]
        )
        self.assertEqual(
            h.talk(command_message("E2", "x()")), [answer_message("(ER unsupported command)")]
        )
        self.assertEqual(h.talk(B0, wait=50), [(BAUD, 300)])
        self.assertEqual(octets(h.talk(b"/?!\r\n")), IDENT)

    def test_wrong_password(self):
        self.h.talk(b"/?!\r\n")
        self.h.talk(b"\x06051\r\n")
        wrong = command_message("P1", "(00000000)")
        self.assertEqual(self.h.talk(wrong), [NAK])
        self.assertEqual(
            self.h.talk(command_message("R1", "1.8.0()")),
            [answer_message("(ER password required)")],
        )
        self.assertEqual(self.h.talk(wrong), [NAK])
        # the third wrong password: break, back to the sign-on at 300 Bd
        self.assertEqual(self.h.talk(wrong), [B0, (BAUD, 300)])
        self.assertEqual(octets(self.h.talk(b"/?!\r\n")), IDENT)

    def test_bcc_error_in_a_command_is_naked(self):
        self.h.talk(b"/?!\r\n")
        self.h.talk(b"\x06051\r\n")
        self.assertEqual(self.h.talk(b"\x01P1\x02(12345678)\x03j"), [NAK])
        self.assertEqual(self.h.talk(b"\x01P1\x02(12345678)\x03i"), [ACK])
        self.assertEqual(self.h.talk(b"\x01R1\x021.8.0()\x03Y"), [NAK])
        self.assertEqual(
            self.h.talk(b"\x01R1\x021.8.0()\x03Z"), [answer_message("1.8.0(012345.678*kWh)")]
        )
        self.assertEqual(self.h.talk(NAK), [answer_message("1.8.0(012345.678*kWh)")])  # repeat

    def test_a_repeat_request_after_a_nak_repeats_the_nak(self):
        # not the answer to the command before the garbled one, which the
        # reader would take for the answer to its last command
        self.h.talk(b"/?!\r\n")
        self.h.talk(b"\x06051\r\n")
        self.h.talk(b"\x01P1\x02(12345678)\x03i")
        self.h.talk(b"\x01R1\x021.8.0()\x03Z")
        self.assertEqual(self.h.talk(b"\x01R1\x022.8.0()\x03Z"), [NAK])  # BCC is Y
        self.assertEqual(self.h.talk(NAK), [NAK])

    def test_a_sign_on_right_after_a_readout_at_300_is_answered(self):
        # ACK 0 0 0: readout at 300 Bd; a new sign-on within the 1.5 s after
        # it starts a new session, it is not taken for a repeat or break
        self.h.talk(b"/?!\r\n")
        self.assertEqual(self.h.talk(b"\x06000\r\n", wait=1000), [READOUT_MSG])
        self.assertEqual(octets(self.h.talk(b"/?!\r\n", gap=300)), IDENT)

    def test_a_readout_after_the_option_select_timed_out_keeps_the_line(self):
        # no option select: the readout goes at 300 Bd when t_t runs out; the
        # line is busy until its last octet has left, so a NAK 400 ms after
        # it is a repeat request, answered
        self.h.talk(b"/?!\r\n")
        got = self.h.wait(2500)
        self.assertEqual(got, [READOUT_MSG])
        self.h.wait(self.h.quiet_at + 400 - self.h.t)  # polled as a driver does
        self.assertEqual(self.h.talk(NAK, gap=0, wait=1000), [READOUT_MSG])

    def test_programming_mode_needs_a_password(self):
        s = server(password=None)
        h = Hhu(s)
        h.talk(b"/?!\r\n")
        self.assertEqual(h.talk(b"\x06051\r\n", wait=1000), [READOUT_MSG])  # unsupported: 300 Bd

    def test_client_that_stops_mid_frame(self):
        self.h.talk(b"/?!\r\n")
        self.h.talk(b"\x06051\r\n")
        self.h.talk(command_message("P1", "(12345678)"))
        self.assertEqual(self.h.talk(b"\x01R1\x021.8", wait=1600), [])  # t_a drops it
        self.assertEqual(self.h.talk(b".0()\x03Z"), [])
        # then silence: inactivity (60-120 s) brings the sign-on back at 300 Bd
        self.assertEqual(self.h.wait(118000), [])
        self.assertEqual(self.h.wait(2000), [(BAUD, 300)])
        self.assertEqual(octets(self.h.talk(b"/?!\r\n")), IDENT)

    def test_random_bytes_never_raise(self):
        rng = Rng(62056)
        for _ in range(200):
            data = rng.bytes(rng.below(40))
            if rng.below(4) == 0:
                data = b"/?!\r\n" + data
            if rng.below(4) == 0:
                data = b"\x0605" + bytes((0x30 + rng.below(3),)) + b"\r\n" + data
            if rng.below(3) == 0:
                data = command_message("P1", "(12345678)") + data
            self.h.send(data, gap=rng.below(300))
            self.h.wait(rng.below(2000))
            self.assertTrue(len(self.s._q) < 50)
        if self.s.handed_over():  # a random mode E select
            self.s.reset()
        self.h.wait(121000)
        self.assertEqual(self.h.rate, 300)
        self.assertEqual(octets(self.h.talk(b"/?!\r\n")), IDENT)


class TestOtherModes(unittest.TestCase):
    def test_mode_a(self):
        h = Hhu(server(modes="A"))
        got = h.talk(b"/?!\r\n", wait=1500)
        self.assertEqual(octets(got), b"/MPYKmpdlms0001\r\n" + READOUT_MSG)  # all at 300 Bd
        self.assertEqual(events(got + h.wait(2000)), [])

    def test_mode_b(self):
        h = Hhu(server(modes="B", baud=4800))
        got = h.talk(b"/?!\r\n", wait=1200)
        self.assertEqual(got, [b"/MPYDmpdlms0001\r\n", (BAUD, 4800), READOUT_MSG])
        self.assertEqual(h.wait(2000), [(BAUD, 300)])

    def test_mode_d_push(self):
        s = server(modes="CD")
        h = Hhu(s)
        self.assertTrue(s.push_readout(h.t))
        self.assertFalse(s.push_readout(h.t))  # one at a time
        got = h.wait(10)
        self.assertEqual(got, [(BAUD, 2400), b"/MPY3mpdlms0001\r\n" + READOUT_MSG, (BAUD, 300)])
        self.assertEqual(octets(h.talk(b"/?!\r\n")), b"/MPY5mpdlms0001\r\n")

    def test_mode_d_only_stays_at_2400(self):
        s = server(modes="D")
        h = Hhu(s)
        self.assertEqual(s.idle_rate, 2400)
        self.assertTrue(s.push_readout(0))
        self.assertEqual(h.wait(10), [b"/MPY3mpdlms0001\r\n" + READOUT_MSG])
        self.assertEqual(h.talk(b"/?!\r\n"), [])  # unidirectional

    def test_mode_e_hands_the_port_to_hdlc(self):
        s = server()
        h = Hhu(s)
        h.talk(b"/?!\r\n")
        self.assertEqual(h.talk(b"\x06252\r\n"), [(MODE_E, 9600)])
        self.assertEqual(h.talk(b"/?!\r\n\x7e\xa0\x07"), [])  # HDLC's now
        self.assertFalse(s.push_readout(h.t))
        s.reset()
        self.assertEqual(h.drain(), [(BAUD, 300)])
        self.assertEqual(octets(h.talk(b"/?!\r\n")), IDENT)

    def test_mode_e_not_offered(self):
        h = Hhu(server(modes="C"))
        self.assertEqual(octets(h.talk(b"/?!\r\n")), b"/MPY5mpdlms0001\r\n")
        self.assertEqual(h.talk(b"\x06252\r\n", wait=1000), [READOUT_MSG])  # at 300 Bd

    def test_configuration_is_checked(self):
        for kw in ({"modes": "AC"}, {"modes": "E"}, {"modes": "X"}, {"baud": 115200}):
            with self.assertRaises(ValueError):
                server(**kw)
        with self.assertRaises(ValueError):
            Iec62056Server("x" * 17, ITEMS)
        with self.assertRaises(ValueError):
            Iec62056Server("a/b", ITEMS)


class TestObjectModel(unittest.TestCase):
    def setUp(self):
        d = LogicalDevice(1, b"MPY0000000000001")
        d.add(Data("0.0.96.1.0.255", (axdr.OCTET_STRING, b"12345678"), writable=()))
        d.add(Register("1.0.1.8.0.255", axdr.DOUBLE_LONG_UNSIGNED, 12345678, 0, UNIT_WH))
        d.add(Register("1.0.2.8.0.255", axdr.DOUBLE_LONG_UNSIGNED, 123456, 0, UNIT_WH, writable=()))
        d.add(Register("1.0.32.7.0.255", axdr.LONG_UNSIGNED, 2301, -1, UNIT_V, writable=()))
        self.device = d
        self.codes = ["0.0.96.1.0.255", "1.0.1.8.0.255", "1.0.2.8.0.255", "1.0.32.7.0.255"]

    def test_readout_from_objects(self):
        self.assertEqual(readout_from_objects(self.device, self.codes + ["9.9.9.9.9.9"]), ITEMS)

    def test_programming_reads_and_writes_the_registers(self):
        access = ObjectAccess(self.device, self.codes)
        s = Iec62056Server(
            "mpdlms0001", access.readout, "12345678", read=access.read, write=access.write
        )
        h = Hhu(s)
        h.talk(b"/?!\r\n")
        h.talk(b"\x06051\r\n")
        h.talk(command_message("P1", "(12345678)"))
        self.assertEqual(h.talk(command_message("W1", "1.8.0(000001.500*kWh)")), [ACK])
        self.assertEqual(self.device.find(obis.parse("1.0.1.8.0.255")).value, 1500)
        self.assertEqual(
            octets(h.talk(command_message("R1", "1.8.0()"))),
            answer_message("1.8.0(000001.500*kWh)"),
        )
        for data, err in (
            ("1.8.0(1.2345)", "ER bad value"),
            ("1.8.0(1*V)", "ER bad value"),
            ("2.8.0(1)", "ER read only"),
            ("7.7.7(1)", "ER unknown address"),
        ):
            self.assertEqual(
                octets(h.talk(command_message("W1", data))), answer_message("(%s)" % err)
            )
        self.assertEqual(
            octets(h.talk(command_message("R1", "96.1.0()"))), answer_message("96.1.0(12345678)")
        )

    def test_the_simulated_meter(self):
        from app import config
        from app.meter import build_meter

        device = build_meter(config.load()).server.devices[1]
        items = readout_from_objects(
            device, ["1.0.1.8.0.255", "1.0.32.7.0.255", "1.0.14.7.0.255", "0.0.1.0.0.255"]
        )
        self.assertEqual([i[0] for i in items], ["1.8.0", "32.7.0", "14.7.0", "0-0:1.0.0"])
        self.assertEqual([i[2] for i in items], ["kWh", "V", "Hz", ""])
        self.assertEqual(len(items[0][1]), 10)  # 012345.678
        self.assertEqual(len(items[3][1]), 13)  # YYMMDDhhmmssX
        self.assertTrue(items[3][1][-1] in "SW")


class Wire:
    """Two sans-IO ends on a simulated serial line. Octets arrive only when both
    ends are at the same rate and character format; otherwise as noise (and
    counted in ``garbled``). Every change of either end is recorded."""

    def __init__(self, a, b):
        self.ends = (a, b)
        self.line = [(300, "7E1"), (300, "7E1")]
        self.changes = ([], [])
        self.events = ([], [])
        self.garbled = 0
        self.t = 0

    def step(self):
        for i, ep in enumerate(self.ends):
            ep.poll(self.t)
            while True:
                out = ep.data_to_send()
                if out:
                    if self.line[0] == self.line[1]:
                        self.ends[1 - i].receive_data(out, self.t)
                    else:
                        self.garbled += len(out)
                        self.ends[1 - i].receive_data(b"\x7f" * len(out), self.t)
                ev = ep.next_event()
                if ev is None:
                    break
                self.events[i].append(ev)
                if ev[0] in (BAUD, MODE_E):
                    self.line[i] = (ev[1], "7E1" if ev[0] == BAUD else "8N1")
                    self.changes[i].append(self.line[i])
        self.t += 10

    def run(self, ms, until=None):
        end = self.t + ms
        while self.t < end:
            self.step()
            if until is not None and until():
                return True
        return False


class TestClient(unittest.TestCase):
    def test_reads_the_simulated_meter(self):
        from app import config
        from app.meter import build_meter
        from hal.clock import ManualClock

        device = build_meter(config.load(), hal_clock=ManualClock(1790000000)).server.devices[1]
        codes = ["0.0.96.1.0.255", "1.0.1.8.0.255", "1.0.2.8.0.255", "1.0.32.7.0.255"]
        access = ObjectAccess(device, codes)
        s = Iec62056Server("mpdlms00000001", access.readout, read=access.read)
        c = Iec62056Client()
        w = Wire(c, s)
        c.start(0)
        self.assertTrue(w.run(10000, c.done))
        got = [(a, v[0][0], v[0][1]) for a, v in c.readout.lines]
        self.assertEqual(got, access.readout())
        self.assertEqual(c.readout.obis(0, 0)[obis.parse("0.0.96.1.0.255")], ("00000001", ""))

    def test_readout_from_our_server(self):
        s = server()
        c = Iec62056Client()
        w = Wire(c, s)
        c.start(0)
        self.assertTrue(w.run(10000, c.done))
        self.assertEqual(c.error, None)
        self.assertEqual(c.readout.values["1.8.0"], ("012345.678", "kWh"))
        self.assertEqual(c.readout.values["0-0:96.1.0"], ("12345678", ""))
        self.assertEqual(c.readout.obis()[obis.parse("1.0.32.7.0.255")], ("230.1", "V"))
        self.assertEqual(c.identification.ident, "mpdlms0001")
        self.assertEqual(w.garbled, 0)
        self.assertEqual(w.changes[0], [(300, "7E1"), (9600, "7E1"), (300, "7E1")])
        w.run(100)  # the server takes the client's break
        self.assertEqual(w.changes[1], [(9600, "7E1"), (300, "7E1")])
        self.assertEqual(w.events[0][-1], (READOUT, c.readout))

    def test_slower_client_gets_300(self):
        c = Iec62056Client(max_baud=4800)
        w = Wire(c, server())
        c.start(0)
        self.assertTrue(w.run(10000, c.done))
        self.assertEqual(len(c.readout.values), 4)
        self.assertEqual(w.changes[1], [])
        self.assertEqual(w.garbled, 0)

    def test_modes_a_b_and_d(self):
        for kw, rates in (({"modes": "A"}, []), ({"modes": "B", "baud": 19200}, [19200, 300])):
            s = server(**kw)
            c = Iec62056Client()
            w = Wire(c, s)
            c.start(0)
            self.assertTrue(w.run(10000, c.done), kw)
            self.assertEqual(len(c.readout.values), 4)
            self.assertEqual(w.garbled, 0)
            self.assertEqual([r for r, _ in w.changes[0][1:]], rates)
        s = server(modes="D")
        c = Iec62056Client()
        w = Wire(c, s)
        w.line = [(2400, "7E1"), (2400, "7E1")]
        c.listen(0)
        s.push_readout(0)
        self.assertTrue(w.run(2000, c.done))
        self.assertEqual(c.identification.baud_char, "3")
        self.assertEqual(c.readout.values["32.7.0"], ("230.1", "V"))

    def test_mode_e_then_a_dlms_session(self):
        s = server()
        c = Iec62056Client(want=MODE_E)
        w = Wire(c, s)
        c.start(0)
        self.assertTrue(w.run(5000, c.done))
        w.run(20)
        self.assertEqual(w.events[0][-1], (MODE_E, 9600))
        self.assertEqual(w.events[1][-1], (MODE_E, 9600))
        self.assertEqual(w.line, [(9600, "8N1"), (9600, "8N1")])

        # the port now belongs to HDLC on both sides: our DLMS client reads the meter
        meter = HdlcServerLink(build(max_pdu=1024), physical_address=16)
        link = HdlcClientLink(17, 1, 16)

        class Transport:
            def exchange(self, apdu):
                return self.pump(link.request(apdu))

            def pump(self, data):
                resp = None
                while data:
                    meter.receive_data(data)
                    back = meter.data_to_send()
                    if not back:
                        break
                    resp = link.receive_data(back)
                    data = link.data_to_send()
                return resp

        t = Transport()
        t.pump(link.snrm())
        self.assertTrue(link.connected)
        dlms = Client(t, acse.MECHANISM_LLS, b"12345678")
        dlms.associate()
        self.assertEqual(
            dlms.get(3, obis.parse("1.0.1.8.0.255"), 2), (axdr.DOUBLE_LONG_UNSIGNED, 123456)
        )
        dlms.release()
        t.pump(link.disc())
        self.assertFalse(link.connected)
        s.reset()  # the HDLC session is over: the 62056-21 sign-on again
        w.run(10)
        self.assertEqual(w.line[1], (300, "7E1"))
        c = Iec62056Client()
        w.ends = (c, s)
        c.start(w.t)
        self.assertTrue(w.run(10000, c.done))
        self.assertEqual(c.error, None)
        self.assertEqual(len(c.readout.values), 4)

    def test_no_mode_e(self):
        c = Iec62056Client(want=MODE_E)
        w = Wire(c, server(modes="C"))
        c.start(0)
        self.assertTrue(w.run(5000, c.done))
        self.assertEqual(w.events[0][-1], (ERROR, "the meter offers no mode E"))

    def test_no_answer_times_out(self):
        c = Iec62056Client()
        c.start(0)
        self.assertEqual(c.next_event(), (BAUD, 300))
        self.assertEqual(c.data_to_send(), b"/?!\r\n")
        c.poll(3100)
        self.assertEqual(c.next_event(), None)
        c.poll(3300)
        self.assertEqual(c.next_event(), (ERROR, "time-out waiting for the identification"))

    def test_bcc_error_in_the_readout(self):
        c = Iec62056Client()
        c.start(0)
        c.next_event()
        c.data_to_send()
        c.receive_data(IDENT, 700)
        c.poll(900)
        self.assertEqual(c.data_to_send(), b"\x06050\r\n")
        self.assertEqual(c.next_event(), (BAUD, 9600))
        c.receive_data(READOUT_MSG[:-1] + b"m", 1200)
        c.poll(1400)
        self.assertEqual(c.data_to_send(), B0)
        self.assertEqual(
            [c.next_event(), c.next_event()], [(BAUD, 300), (ERROR, "BCC error in the readout")]
        )

    def test_readout_stops_mid_frame(self):
        c = Iec62056Client()
        c.start(0)
        c.receive_data(b"\x7f\x7f/?!\r\n" + IDENT, 700)  # noise, the head's echo
        c.receive_data(READOUT_MSG[:40], 1200)
        c.poll(4300)
        got = Hhu(c).drain()
        self.assertEqual(
            events(got)[-2:], [(BAUD, 300), (ERROR, "time-out waiting for the readout")]
        )

    def test_random_bytes_never_raise(self):
        rng = Rng(21)
        for i in range(50):
            c = Iec62056Client(want=MODE_E if i & 1 else READOUT)
            c.start(0)
            t = 0
            for _ in range(20):
                t += rng.below(500)
                data = rng.bytes(rng.below(30))
                if rng.below(3) == 0:
                    data = IDENT + data
                c.receive_data(data, t)
                c.poll(t)
            c.poll(t + 10000)
            Hhu(c).drain()
            self.assertTrue(c.done())


def _unescape(text):
    """The C escapes of the log (\\ooo, \\r, \\n) as octets."""
    out = bytearray()
    i = 0
    while i < len(text):
        ch = text[i]
        if ch == "\\":
            n = text[i + 1]
            if n == "r":
                out.append(13)
                i += 2
            elif n == "n":
                out.append(10)
                i += 2
            elif n == "\\":
                out.append(92)
                i += 2
            else:
                out.append(int(text[i + 1 : i + 4], 8))
                i += 4
        else:
            out.append(ord(ch))
            i += 1
    return bytes(out)


def real_session():
    """[(direction, octets)] of the ISKRA ME-162 session in data/ ('>>' HHU, '<<' meter)."""
    here = __file__.rsplit("/", 1)[0] if "/" in __file__ else "."
    out = []
    with open(here + "/data/iskra_me162_session.log") as f:
        for line in f:
            if line.startswith("#") or " -> " not in line:
                continue
            msg = line.rstrip("\n").split(" -> ", 1)[1]
            if msg.startswith(">> ") or msg.startswith("<< "):
                out.append((msg[:2], _unescape(msg[3:])))
    return out


class TestRealMeter(unittest.TestCase):
    """A captured ISKRA ME-162 session (host_tests/data/, provenance in the file)."""

    def setUp(self):
        self.session = real_session()
        self.readout = self.session[2][1]

    def test_the_capture_is_intact(self):
        self.assertEqual(self.session[0], (">>", b"/?!\r\n"))
        self.assertEqual(self.session[1], (">>", b"\x06050\r\n"))
        self.assertEqual(self.readout[-2:], b"\x03L")
        for d, m in self.session:
            if d == "<<" and m[0] == 2:
                self.assertEqual(bcc(m, 1, len(m) - 1), m[-1])

    def test_our_client_reads_it(self):
        c = Iec62056Client()
        c.start(0)
        self.assertEqual(c.next_event(), (BAUD, 300))
        self.assertEqual(c.data_to_send(), self.session[0][1])  # what the real HHU sent
        c.receive_data(b"/ISK5ME162-0033\r\n", 833)
        c.poll(1100)
        self.assertEqual(c.data_to_send(), self.session[1][1])  # ACK 0 5 0, as the real HHU
        self.assertEqual(c.next_event(), (BAUD, 9600))
        for i in range(0, len(self.readout), 16):  # as the UART delivers it
            c.receive_data(self.readout[i : i + 16], 1700 + i)
        c.poll(2300)
        self.assertEqual(c.data_to_send(), B0)  # the real HHU's break too
        self.assertEqual(c.next_event(), (BAUD, 300))
        kind, r = c.next_event()
        self.assertEqual(kind, READOUT)
        self.assertEqual(r.identification.manufacturer, "ISK")
        self.assertEqual(r.values["1.8.0"], ("0032907.841", "kWh"))
        self.assertEqual(r.values["2.8.0"], ("0000000.001", "kWh"))
        self.assertEqual(r.values["C.1.0"], ("28342193", ""))
        self.assertEqual(r.values["F.F"], ("0000000", ""))
        self.assertEqual(len(r.values), 9)
        self.assertEqual(r.obis()[obis.parse("1.0.1.8.2.255")], ("0032907.841", "kWh"))
        self.assertEqual(parse_data_message(self.readout).values, r.values)

    def test_the_real_hhus_messages_against_our_server(self):
        sent = [m for d, m in self.session if d == ">>"]
        s = server(modes="C")
        h = Hhu(s)
        self.assertEqual(octets(h.talk(sent[0])), b"/MPY5mpdlms0001\r\n")
        self.assertEqual(h.talk(sent[1], wait=300), [(BAUD, 9600), READOUT_MSG])
        self.assertEqual(h.talk(sent[2], wait=50), [(BAUD, 300)])  # its ACK ends the readout
        h.talk(sent[3], wait=50)  # its break at 9600: noise here, ignored
        self.assertEqual(octets(h.talk(sent[4])), b"/MPY5mpdlms0001\r\n")
        # programming mode: our P0 is the real meter's, octet for octet
        self.assertEqual(h.talk(sent[5]), [(BAUD, 9600), P0])
        self.assertEqual(h.talk(sent[6]), [])  # its ACK of P0
        # that meter reads without a password; ours asks for one
        self.assertEqual(octets(h.talk(sent[7])), answer_message("(ER password required)"))


if __name__ == "__main__":
    unittest.main()
