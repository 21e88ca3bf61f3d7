"""IEC 62056-21 from the reading side (the HHU of 6.4), sans-IO: for gateways.

``Iec62056Client`` signs on (``start()``), reads the identification, and
either takes the data readout -- mode C with the option select, mode B after
its baud rate switch, mode A at 300 Bd -- or (``want=MODE_E``) selects mode E
and hands the port to HDLC (an ``HdlcClientLink`` and ``dlms.client.Client``
take over at the new rate, 8N1). ``listen()`` waits for a mode D meter's
pushed readout at 2400 Bd.

Same interface as the server: ``receive_data(data, now_ms)``, ``poll(now_ms)``,
``data_to_send()``, and ``next_event()`` in order with the octets:
``(BAUD, rate)`` (7E1 at rate), ``(MODE_E, rate)`` (8N1, hand over),
``(READOUT, Readout)`` at the end of a readout, ``(ERROR, text)`` on a
time-out, a BCC error or a refusal. Before READOUT or ERROR the port goes
back to its initial rate (300 Bd, or the ``listen()`` rate) with a BAUD event
when it was elsewhere.
"""

from micropython import const

from dlms.errors import DecodeError
from dlms.iec62056_21 import (
    BAUD,
    ETX,
    MODE_E,
    STX,
    Endpoint,
    baud_of,
    bcc,
    command_message,
    obis_of,
    option_select,
    request_message,
)

READOUT = "readout"  # (READOUT, Readout): the readout arrived whole, its BCC right
ERROR = "error"  # (ERROR, text): the session failed; the port is back at 300 Bd

_TIMEOUT_MS = const(3000)  # silence while waiting for an answer (t_r max 1500 ms + margin)
_MAX_IDENT_LINE = const(64)

_IDLE = const(0)
_IDENT = const(1)
_READOUT = const(2)
_DONE = const(3)


class Identification:
    """``/XXXZ\\W...ident CR LF`` (6.3.2): ``manufacturer``, the baud rate
    character ``baud_char`` and what it means (``mode`` 'A', 'B' or 'C',
    ``rate``), the enhanced identification characters (``enhanced``;
    ``mode_e`` when it holds '2', HDLC), ``ident``, and ``fast`` when the
    third letter in lower case allows a 20 ms reaction time."""

    def __init__(self, manufacturer, baud_char, enhanced, ident):
        self.manufacturer = manufacturer
        self.baud_char = baud_char
        self.mode, self.rate = baud_of(baud_char)
        self.enhanced = enhanced
        self.ident = ident
        self.mode_e = "2" in enhanced
        self.fast = manufacturer[2].islower()

    @classmethod
    def parse(cls, line):
        s = bytes(line).decode()
        if len(s) < 7 or s[0] != "/" or s[-2:] != "\r\n" or not s[1:4].isalpha():
            raise DecodeError("not an identification message")
        rest = s[5:-2]
        enhanced = ""
        while len(rest) >= 2 and rest[0] == "\\":
            enhanced += rest[1]
            rest = rest[2:]
        return cls(s[1:4], s[4], enhanced, rest)

    def __repr__(self):
        return "<Identification %s%s %s mode %s %d Bd%s>" % (
            self.manufacturer,
            self.baud_char,
            self.ident,
            self.mode,
            self.rate,
            " +E" if self.mode_e else "",
        )


class Readout:
    """A parsed data block (6.5): ``lines`` is ``[(address, [(value, unit), ...])]``
    in order (a line's further data sets, and lines without an address, add to
    the address before them); ``values`` maps each address, as written, to
    its first ``(value, unit)`` (unit ``""`` when none). ``skipped``: lines
    that were not data sets."""

    def __init__(self):
        self.lines = []
        self.values = {}
        self.skipped = 0
        self.identification = None

    def obis(self, a=1, b=0):
        """``values`` keyed by 6-byte OBIS code (A, B default to ``a``, ``b``);
        addresses that are not OBIS codes are left out."""
        out = {}
        for address, v in self.values.items():
            code = obis_of(address, a, b)
            if code is not None and code not in out:
                out[code] = v
        return out


def parse_data_block(text):
    """The ``Readout`` of a data block's lines (up to the ``!`` line)."""
    if not isinstance(text, str):
        # 7-bit characters (5.4): a parity bit left in is dropped, so any
        # octets decode
        text = bytes(c & 0x7F for c in bytes(text)).decode()
    r = Readout()
    entry = None
    for line in text.split("\n"):
        line = line.strip("\r")
        if line == "!":
            break
        if not line:
            continue
        pos = 0
        ok = False
        while True:
            i = line.find("(", pos)
            if i < 0:
                break
            j = line.find(")", i)
            if j < 0:
                ok = False
                break
            address = line[pos:i].strip()
            inner = line[i + 1 : j]
            k = inner.find("*")
            v = (inner, "") if k < 0 else (inner[:k], inner[k + 1 :])
            if address or entry is None:
                entry = (address, [v])
                r.lines.append(entry)
                if address not in r.values:
                    r.values[address] = v
            else:
                entry[1].append(v)
            ok = True
            pos = j + 1
        if not ok:
            r.skipped += 1
    return r


def parse_data_message(message):
    """The ``Readout`` of ``STX block ! CR LF ETX BCC``; DecodeError on a BCC error."""
    m = bytes(message)
    start = m.find(b"\x02")
    end = m.find(b"\x03", start + 1)
    if start < 0 or end < 0 or end + 1 >= len(m):
        raise DecodeError("not a data message")
    if bcc(m, start + 1, end + 1) != m[end + 1] & 0x7F:
        raise DecodeError("BCC error", end + 1)
    return parse_data_block(m[start + 1 : end])


# after the option select into mode E the meter switches its line once it
# has read the message at the old rate: the first HDLC frame waits this long
# (gurux's readers wait a second; the SNRM is also sent again,
# dlms.hdlc_client.HdlcLinkTransport)
MODE_E_SETTLE_MS = 500


def pump(iec, send, set_line):
    """Hand out what ``iec`` has due, in order with its events: octets to
    ``send(octets)``, line changes to ``set_line(rate, seven_e1)`` (BAUD: 7E1,
    MODE_E: 8N1). Returns the event that ends the opening, ``(MODE_E, rate)``
    or ``(READOUT, Readout)``, or None while the session goes on; OSError
    with the reason on an ERROR event. The I/O loop of any driver (pyserial
    on a host, hal.uart on a board) around a client."""
    while True:
        out = iec.data_to_send()
        if out:
            send(out)
        ev = iec.next_event()
        if ev is None:
            return None
        kind, arg = ev
        if kind == BAUD:
            set_line(arg, True)
        elif kind == MODE_E:
            set_line(arg, False)
            return ev
        elif kind == READOUT:
            return ev
        elif kind == ERROR:
            raise OSError("IEC 62056-21: %s" % arg)


class Iec62056Client(Endpoint):
    """Reads one meter. ``want``: ``READOUT`` or ``MODE_E``; ``max_baud``: the
    highest rate to accept; ``device_address`` for a meter on a bus."""

    def __init__(
        self,
        device_address="",
        want=READOUT,
        max_baud=19200,
        response_ms=200,
        timeout_ms=_TIMEOUT_MS,
        max_readout=8192,
    ):
        if want not in (READOUT, MODE_E):
            raise ValueError("want: READOUT or MODE_E")
        super().__init__(300, response_ms)
        self.device_address = device_address
        self.want = want
        self.max_baud = max_baud
        self.timeout_ms = timeout_ms
        self.max_readout = max_readout
        self.state = _IDLE
        self.identification = None
        self.readout = None
        self.error = None
        self._line = None
        self._block = None
        self._bcc_next = False
        self._break = False
        self._push = False  # listening to mode D
        self._initial = 300

    # -- sans-IO interface --------------------------------------------------------------

    def start(self, now_ms):
        """Sign on: the request message at 300 Bd (7E1)."""
        self._begin(now_ms, 300, False)
        self._queue(request_message(self.device_address), delay=0)

    def listen(self, now_ms, rate=2400):
        """Mode D (6.4.5): wait for the meter's own identification and readout."""
        self._begin(now_ms, rate, True)

    def receive_data(self, data, now_ms=None):
        if now_ms is not None:
            self._now = now_ms
        if not data:
            return
        self._last_rx = self._now
        for c in bytes(data):
            if self.state in (_IDLE, _DONE):
                return
            c &= 0x7F
            if self.state == _IDENT:
                self._ident_char(c)
            else:
                self._readout_char(c)

    def poll(self, now_ms):
        self._now = now_ms
        if self.state in (_IDENT, _READOUT) and self._quiet(now_ms) > self.timeout_ms:
            what = "identification" if self.state == _IDENT else "readout"
            self._fail("time-out waiting for the %s" % what)

    def wait_ms(self, now_ms):
        due = self._next_due(now_ms)
        if self.state in (_IDENT, _READOUT):
            due = 50 if due is None else min(due, 50)
        return None if due is None else max(0, due)

    def done(self):
        return self.state == _DONE and not self._q

    # -- the exchange ---------------------------------------------------------------------

    def _begin(self, now_ms, rate, push):
        self._now = self._last_rx = self._tx_free = now_ms
        self._push = push
        self._initial = rate
        self.identification = self.readout = self.error = None
        self._line = self._block = None
        self._bcc_next = self._break = False
        self.state = _IDENT
        self._event(BAUD, rate)  # 7E1 at the initial rate, whatever the port was doing
        self.baud = rate

    def _ident_char(self, c):
        if c == 0x2F:  # '/'
            self._line = bytearray(b"/")
            return
        line = self._line
        if line is None:
            return
        line.append(c)
        if c == 0x0A and line[-2] == 0x0D:
            self._line = None
            if line[1] == 0x3F:  # our request echoed by the optical head
                return
            try:
                ident = Identification.parse(line)
            except (DecodeError, UnicodeError):
                return
            self._identified(ident)
        elif len(line) > _MAX_IDENT_LINE:
            self._line = None

    def _identified(self, ident):
        self.identification = ident
        self.state = _READOUT
        if self._push:
            return  # mode D: the readout follows at the same rate
        if ident.mode == "C":
            rate = ident.rate if ident.rate <= self.max_baud else 300
            z = ident.baud_char if rate == ident.rate else "0"
            if self.want == MODE_E:
                if not ident.mode_e:
                    self._fail("the meter offers no mode E")
                    return
                self._queue(option_select("2", z, "2"))
                self._event(MODE_E, rate)
                self.baud = rate
                self.state = _DONE
                return
            self._queue(option_select("0", z))
            self._break = True  # a mode C meter may wait for B0 after its readout
            self._set_baud(rate)
        elif self.want == MODE_E:
            self._fail("the meter offers no mode E")
        elif ident.mode == "B":
            self._set_baud(ident.rate)

    def _readout_char(self, c):
        if self._bcc_next:
            self._bcc_next = False
            block = self._block
            self._block = None
            if bcc(block, 1) != c:
                self._fail("BCC error in the readout")
                return
            r = parse_data_block(block[1:-1])
            r.identification = self.identification
            self._finish(r)
            return
        if c == STX:
            self._block = bytearray(b"\x02")
            return
        block = self._block
        if block is None:
            return
        block.append(c)
        if c == ETX:
            self._bcc_next = True
        elif len(block) > self.max_readout:
            self._fail("readout over %d characters" % self.max_readout)

    def _finish(self, readout):
        self.readout = readout
        self._end()
        self._event(READOUT, readout)

    def _fail(self, text):
        self.error = text
        self._end()
        self._event(ERROR, text)

    def _end(self):
        self._line = self._block = None
        self._bcc_next = False
        if self._break:
            self._queue(command_message("B0"))  # 6.3.12: the meter may stop waiting
        self._break = False
        self.state = _DONE
        self._set_baud(self._initial)
