"""IEC 62056-21 direct local data exchange (formerly IEC 1107): the meter's side, sans-IO.

``Iec62056Server`` answers on an optical port or RS-485 line in the protocol
modes of clause 6.4: A (300 Bd), B (baud rate switch), C (acknowledgement /
option select: data readout or programming mode), D (the meter pushes its
readout at 2400 Bd) and E (the option select hands the port to HDLC, Annex E).
Octets go in with ``receive_data(data, now_ms)``, octets come out of
``data_to_send()``, time is passed in with ``poll(now_ms)``; characters are
7-bit (5.4: 7E1, the UART does the parity; a parity bit left in is ignored).

The port driver also acts on *events*, queued in order with the octets:
``next_event()`` returns ``(BAUD, rate)`` -- set the UART to 7E1 at ``rate``
-- or ``(MODE_E, rate)`` -- 8N1 at ``rate``, hand the port to an
``HdlcServerLink``, and call ``reset()`` when the HDLC session is over. An
event is only returned once every octet queued before it has been taken, so
a driver writes, waits until the UART has sent it all, then switches::

    while True:
        out = link.data_to_send()
        if out:
            uart.write(out)
            uart.flush()                  # gone at the old rate
        ev = link.next_event()
        if ev is None:
            break
        ...                               # BAUD: uart.init(ev[1], 7E1); MODE_E: hand over

Answers are held for the reaction time t_r (6.3.14: 200 ms <= t_r <= 1500 ms)
after the message they answer: ``data_to_send()`` gives them once ``poll()``
or ``receive_data()`` has seen that time. ``wait_ms(now_ms)`` tells a driver
when to poll next.

Messages (6.3): request ``/?address!CRLF``; identification ``/XXXZ\\Wident
CRLF`` (Z the baud rate character, ``\\2`` when mode E is offered);
acknowledgement/option select ``ACK V Z Y CRLF``; data message
``STX block ! CRLF ETX BCC``; programming commands ``SOH C D STX data ETX
BCC`` (P1 password, R1 read, W1 write, B0 break) answered with ACK, NAK (BCC
error, wrong password), ``STX data set ETX BCC`` or an error message
``STX (text) ETX BCC``. The BCC (6.2) is the XOR of the characters after the
first SOH or STX up to and including ETX/EOT.

Time-outs: an inter-character gap over t_a (1500 ms) drops a partial
message; without an option select within t_t (1500 ms < t_t <= 2200 ms)
after the identification a mode C meter sends its readout at 300 Bd; after a
readout the rate is kept for 1500 ms (a NAK repeats the readout, ACK or B0
ends at once); 60-120 s of inactivity in any state goes back to the sign-on
at the initial rate.
"""

import log
from compat import ticks_add, ticks_diff
from micropython import const

from dlms import axdr, obis

SOH = const(0x01)
STX = const(0x02)
ETX = const(0x03)
EOT = const(0x04)
ACK = const(0x06)
NAK = const(0x15)
_CR = const(0x0D)
_LF = const(0x0A)

# Events for the port driver (see the module doc)
BAUD = "baud"  # (BAUD, rate): 7E1 at rate, after the octets queued before it have gone
MODE_E = "mode_e"  # (MODE_E, rate): 8N1 at rate, the port belongs to HDLC until reset()

# Baud rate characters (6.3.2 item 13): Z '0'..'6' in modes C, D and E,
# 'A'..'F' in mode B ('G'..'I' reserved), anything else means mode A (300 Bd)
BAUD_RATES = (300, 600, 1200, 2400, 4800, 9600, 19200)
MODE_B_RATES = (600, 1200, 2400, 4800, 9600, 19200)
MODE_A_CHAR = "K"  # any printable character that is not a digit, 'A'..'I', '/' or '!'

_MAX_ADDRESS = const(32)  # device address, 6.3.1 item 20
_MAX_IDENT = const(16)  # identification, 6.3.2 item 14
_MAX_ERROR = const(32)  # error message, 6.3.10

# Time-outs (6.3.14)
_RESPONSE_MS = const(200)  # t_r, minimum 200 ms (20 ms for a lower-case third letter)
_ACK_WAIT_MS = const(2000)  # t_t: 1500 ms < t_t <= 2200 ms
_INTER_CHAR_MS = const(1500)  # t_a
_INACTIVITY_MS = const(120000)  # 60 s to 120 s, then back to the start
_REPEATS = const(3)  # repeat requests (NAK) answered per message

# States
_IDLE = const(0)  # waiting for a request message
_WAIT_ACK = const(1)  # identification sent (mode C/E), waiting for the option select
_AFTER_READOUT = const(2)  # data message sent: a NAK repeats it, ACK or B0 ends
_PASSWORD = const(3)  # programming mode, P0 sent, waiting for P1
_PROGRAMMING = const(4)  # programming mode, password accepted
_HDLC = const(5)  # mode E: the port belongs to HDLC until reset()

# Error messages (6.3.10: 32 characters at most, none of ( ) * / !)
ERR_UNKNOWN = "ER unknown address"
ERR_READ_ONLY = "ER read only"
ERR_VALUE = "ER bad value"
ERR_COMMAND = "ER unsupported command"
ERR_PASSWORD = "ER password required"

_FORBIDDEN_VALUE = "()*/!"
_FORBIDDEN_ADDRESS = "()/!"


# -- codec -----------------------------------------------------------------------------


def bcc(data, start=0, end=None):
    """Block check character (6.2, ISO 1155): XOR of ``data[start:end]``, 7 bits."""
    x = 0
    for i in range(start, len(data) if end is None else end):
        x ^= data[i]
    return x & 0x7F


def _ascii(text):
    return text.encode() if isinstance(text, str) else bytes(text)


def data_message(block):
    """``STX block ! CR LF ETX BCC`` (6.3.4); ``block`` holds whole lines."""
    m = bytearray(b"\x02")
    m += _ascii(block)
    m += b"!\r\n\x03"
    m.append(bcc(m, 1))
    return bytes(m)


def answer_message(data):
    """``STX data ETX BCC``: data message in programming mode (6.3.9) or error (6.3.10)."""
    m = bytearray(b"\x02")
    m += _ascii(data)
    m.append(ETX)
    m.append(bcc(m, 1))
    return bytes(m)


def command_message(command, data=None):
    """``SOH C D [STX data] ETX BCC`` (6.3.7), ``command`` e.g. ``"R1"`` or ``"B0"``."""
    m = bytearray(b"\x01")
    m += _ascii(command)
    if data is not None:
        m.append(STX)
        m += _ascii(data)
    m.append(ETX)
    m.append(bcc(m, 1))
    return bytes(m)


def request_message(address=""):
    """``/ ? address ! CR LF`` (6.3.1)."""
    return b"/?" + _ascii(address) + b"!\r\n"


def option_select(mode, baud_char, protocol="0"):
    """``ACK V Z Y CR LF`` (6.3.3): ``mode`` Y '0' readout, '1' programming, '2' HDLC."""
    return b"\x06" + _ascii(protocol + baud_char + mode) + b"\r\n"


def data_set(address, value, unit=None):
    """``address(value*unit)`` (6.5), unit and address optional."""
    if unit:
        return "%s(%s*%s)" % (address, value, unit)
    return "%s(%s)" % (address, value)


def data_block(items):
    """The lines of a readout from ``(address, value, unit)`` items; an item
    that would break the framing (a forbidden character) is left out."""
    out = []
    for item in items:
        address, value, unit = item
        value = str(value)
        unit = unit or ""
        if not _clean(address, _FORBIDDEN_ADDRESS, 16) or not _clean(value, _FORBIDDEN_VALUE, 128):
            log.warning("62056-21: readout item %r left out", item)
            continue
        if not _clean(unit, _FORBIDDEN_VALUE, 16):
            log.warning("62056-21: readout item %r left out", item)
            continue
        out.append(data_set(address, value, unit))
        out.append("\r\n")
    return "".join(out)


def _clean(text, forbidden, limit):
    if len(text) > limit:
        return False
    for ch in text:
        o = ord(ch)
        if o < 0x20 or o > 0x7E or ch in forbidden:
            return False
    return True


def baud_char(rate, mode="C"):
    """The Z character offering ``rate`` in mode ``mode`` ('A', 'B', 'C'/'D'/'E')."""
    if mode == "A":
        return MODE_A_CHAR
    if mode == "B":
        return "ABCDEF"[MODE_B_RATES.index(rate)]
    return "%d" % BAUD_RATES.index(rate)


def baud_of(char):
    """``(mode, rate)`` of an identification's Z character: mode 'A', 'B' or 'C'."""
    if "0" <= char <= "9":
        i = ord(char) - 0x30
        return "C", BAUD_RATES[i] if i < len(BAUD_RATES) else 300
    if "A" <= char <= "I":
        i = ord(char) - 0x41
        return "B", MODE_B_RATES[i] if i < len(MODE_B_RATES) else 300
    return "A", 300


# OBIS value group letters of the short forms (IEC 62056-61 4.4): C.1.0, F.F
_LETTERS = {"C": 96, "F": 97, "L": 98, "P": 99}


def address_of(code):
    """The conventional readout address of a 6-byte OBIS code: ``1.8.0`` for
    electricity (A=1, B=0), ``0-0:96.1.0`` otherwise; F other than 255 as ``*F``."""
    c = tuple(code)
    if c[0] == 1 and c[1] == 0:
        s = "%d.%d.%d" % c[2:5]
    else:
        s = "%d-%d:%d.%d.%d" % c[:5]
    if c[5] != 255:
        s += "*%d" % c[5]
    return s


def obis_of(address, a=1, b=0):
    """The 6-byte OBIS code of a readout address (``1.8.0``, ``1-0:1.8.0*01``,
    ``C.1.0``, ``F.F``, ``1.8.0&01``); groups A and B default to ``a``, ``b``
    when left out. ``None`` for what is not an OBIS address."""
    s = address.strip()
    f = 255
    for sep in ("*", "&"):
        if sep in s:
            s, fs = s.split(sep, 1)
            if not fs.isdigit():
                return None
            f = int(fs)
            break
    if ":" in s:
        ab, s = s.split(":", 1)
        if "-" not in ab:
            return None
        a, b = ab.split("-", 1)
        if not (a.isdigit() and b.isdigit()):
            return None
        a, b = int(a), int(b)
    groups = s.split(".")
    if len(groups) == 2:
        groups.append("255")
    if len(groups) != 3:
        return None
    out = [a, b]
    for g in groups:
        if g in _LETTERS:
            out.append(_LETTERS[g])
        elif g.isdigit():
            out.append(int(g))
        else:
            return None
    out.append(f)
    for v in out:
        if v > 255:
            return None
    return bytes(out)


def _later(a, b):
    return a if ticks_diff(a, b) >= 0 else b


# The longest the queued octets can keep the line busy (8 KB at 300 Bd: 270 s).
_MAX_BUSY_MS = const(300000)


# -- what both ends share --------------------------------------------------------------


class Endpoint:
    """Octets and events out, in order and on time, for the server and the client.

    Octets are queued with the time they may go (``due``): the reaction time
    after the message they answer. ``baud`` is the port's rate once the queued
    events are applied; ``_tx_free`` when the queued octets will have left the
    UART (ten bits a character, 7E1), so time-outs count from there.
    """

    def __init__(self, rate, response_ms):
        self.baud = rate
        self.response_ms = response_ms
        self._q = []  # (octets, due_ms) and (event, arg), in order
        self._now = 0
        self._last_rx = 0
        self._tx_free = None  # set at the first message (see _line_free)

    def data_to_send(self):
        """The octets that are due (``b""`` when none, or when an event comes first)."""
        out = b""
        q = self._q
        while q and not isinstance(q[0][0], str) and ticks_diff(self._now, q[0][1]) >= 0:
            out += q.pop(0)[0]
        return out

    def next_event(self):
        """The next event (``(BAUD, rate)``...) once the octets before it are taken, else None."""
        q = self._q
        if q and isinstance(q[0][0], str):
            return q.pop(0)
        return None

    def pending(self):
        """Octets or events still queued (some may not be due yet)."""
        return bool(self._q)

    def _quiet(self, now_ms):
        """Milliseconds since the line was last busy, either way."""
        self._line_free(now_ms)
        return min(ticks_diff(now_ms, self._last_rx), ticks_diff(now_ms, self._tx_free))

    def _line_free(self, now_ms):
        # _tx_free is a tick count: unset (None) or from over half the tick
        # period ago (a port idle for a week: 2^29 ms on a board), it would
        # wrap into the future and hold every answer until the counter comes
        # round again. Nothing queued keeps the line that long: it is free.
        t = self._tx_free
        if t is None or ticks_diff(t, now_ms) > _MAX_BUSY_MS:
            self._tx_free = now_ms

    def _next_due(self, now_ms):
        for item in self._q:
            if not isinstance(item[0], str):
                return ticks_diff(item[1], now_ms)
        return None

    def _queue(self, data, delay=None, gap=False):
        """Octets out: ``delay`` (default t_r) after the last message received,
        or after our own last one (``gap``), never over what is still going out."""
        self._line_free(self._now)
        if delay is None:
            base = self._tx_free if gap else self._last_rx
            due = _later(ticks_add(base, self.response_ms), self._tx_free)
            start = _later(due, self._now)  # due in the past (t_t ran out): it goes now
        else:
            due = ticks_add(self._now, delay)  # unasked (mode D): no reaction time
            start = _later(due, self._tx_free)
        self._q.append((data, due))
        self._tx_free = ticks_add(start, (len(data) * 10000) // self.baud + 1)

    def _event(self, name, arg):
        self._q.append((name, arg))

    def _set_baud(self, rate):
        if rate != self.baud:
            self._q.append((BAUD, rate))
            self.baud = rate


# -- the meter's side ------------------------------------------------------------------


class Iec62056Server(Endpoint):
    """One 62056-21 port of a meter. ``readout``: the data readout, a list of
    ``(address, value, unit)`` or a callable returning one (see
    ``ObjectAccess``); ``read(address)`` -> ``(value, unit)`` or None and
    ``write(address, value, unit)`` (raises ValueError with the error text)
    serve R1/W1 in programming mode (without ``read``, R1 looks the address
    up in the readout). ``modes``: the protocol modes offered, ``"CE"`` (C
    with HDLC), ``"C"``, ``"B"``, ``"A"``, plus ``"D"`` to allow
    ``push_readout()``. Programming mode needs a ``password``.
    ``device_address`` (None: answer any) selects this meter on a bus.
    """

    def __init__(
        self,
        identification,
        readout,
        password=None,
        modes="CE",
        device_address=None,
        manufacturer="MPY",
        baud=9600,
        read=None,
        write=None,
        response_ms=_RESPONSE_MS,
        ack_timeout_ms=_ACK_WAIT_MS,
        inter_char_ms=_INTER_CHAR_MS,
        inactivity_ms=_INACTIVITY_MS,
        password_attempts=3,
        max_message=256,
    ):
        if len(manufacturer) != 3 or not _clean(manufacturer, "/!\\", 3):
            raise ValueError("manufacturer: three letters")
        if len(identification) > _MAX_IDENT or not _clean(identification, "/!\\", _MAX_IDENT):
            raise ValueError("identification: 16 printable characters, no / ! \\")
        sign_on = [m for m in modes if m in "ABC"]
        if len(sign_on) > 1 or ("E" in modes and "C" not in modes) or not modes:
            raise ValueError("modes: one of A, B or C (C with E), and/or D")
        for m in modes:
            if m not in "ABCDE":
                raise ValueError("modes: %r" % m)
        self.mode = sign_on[0] if sign_on else None  # None: mode D only
        self.mode_e = "E" in modes
        self.mode_d = "D" in modes
        self.identification = identification
        self.manufacturer = manufacturer
        self.rate = 300 if self.mode == "A" else baud
        if self.mode == "B" and baud not in MODE_B_RATES:
            raise ValueError("mode B baud rate: 600 ... 19200")
        if baud not in BAUD_RATES:
            raise ValueError("baud rate: 300 ... 19200")
        # the rate the port idles at: 300 Bd, or 2400 Bd for a mode D-only meter
        self.idle_rate = 300 if self.mode is not None else 2400
        super().__init__(self.idle_rate, response_ms)
        self.readout = readout
        self.password = password
        self.device_address = device_address
        self.read = read
        self.write = write
        self.ack_timeout_ms = ack_timeout_ms
        self.inter_char_ms = inter_char_ms
        self.inactivity_ms = inactivity_ms
        self.password_attempts = password_attempts
        self.max_message = max_message
        self.state = _IDLE
        self._line = None  # sign-on or option select being received
        self._block = None  # SOH/STX message being received
        self._bcc_next = False
        self._attempts = 0
        self._last_sent = None
        self._repeats = 0
        self.readouts = 0  # data readouts sent (statistics)

    # -- sans-IO interface --------------------------------------------------------------

    def receive_data(self, data, now_ms=None):
        if now_ms is not None:
            self._now = now_ms
        if not data:
            return
        self._last_rx = self._now
        for c in bytes(data):
            try:
                self._char(c & 0x7F)
            except Exception as e:  # never let one message take the port down
                log.error("62056-21: %r", e)
                self._sign_off()

    def poll(self, now_ms):
        """Apply the time-outs; call it at least every ``wait_ms()``."""
        self._now = now_ms
        if self._partial() and ticks_diff(now_ms, self._last_rx) > self.inter_char_ms:
            self._line = self._block = None  # t_a: the rest of that message never came
            self._bcc_next = False
        state = self.state
        if state in (_IDLE, _HDLC):
            return
        quiet = self._quiet(now_ms)
        if state == _WAIT_ACK and quiet > self.ack_timeout_ms and self._line is None:
            # 6.4.4: no option select -- the readout goes out at the initial rate
            self._readout()
        elif state == _AFTER_READOUT and quiet > self.inter_char_ms:
            self._sign_off()
        elif quiet > self.inactivity_ms:
            log.info("62056-21: inactivity time-out, back to the sign-on")
            self._sign_off()

    def wait_ms(self, now_ms):
        """Milliseconds until ``poll()`` has something to do, or None."""
        waits = []
        due = self._next_due(now_ms)
        if due is not None:
            waits.append(due)
        if self._partial():
            waits.append(ticks_diff(ticks_add(self._last_rx, self.inter_char_ms + 1), now_ms))
        if self.state not in (_IDLE, _HDLC):
            waits.append(50)
        if not waits:
            return None
        return max(0, min(waits))

    def handed_over(self):
        """In mode E: the port belongs to HDLC until ``reset()``."""
        return self.state == _HDLC

    def busy(self):
        return self.state != _IDLE or bool(self._q) or self._partial()

    def push_readout(self, now_ms):
        """Mode D (6.4.5): identification and readout at 2400 Bd, unasked. Queued
        only when the port is idle; False otherwise."""
        if not self.mode_d or self.state != _IDLE or self._q or self._partial():
            return False
        self._now = now_ms
        self._set_baud(2400)
        ident = "/%s3%s\r\n" % (self.manufacturer, self.identification)
        self._queue(ident.encode(), delay=0)
        self._queue(self._readout_message(), delay=0)
        self._set_baud(self.idle_rate)
        return True

    def reset(self):
        """The HDLC session of mode E is over: back to the sign-on, 7E1 at the
        initial rate (a BAUD event follows)."""
        self._clear()
        self._event(BAUD, self.idle_rate)
        self.baud = self.idle_rate

    def close(self):
        """The port is gone: forget everything; the port reopens at ``idle_rate``."""
        self._clear()
        self._q = []
        self.baud = self.idle_rate

    # -- receiving ------------------------------------------------------------------------

    def _partial(self):
        return self._line is not None or self._block is not None

    def _clear(self):
        self.state = _IDLE
        self._line = self._block = None
        self._bcc_next = False
        self._attempts = 0
        self._last_sent = None
        self._repeats = 0

    def _char(self, c):
        state = self.state
        if state == _HDLC:
            return
        if state in (_IDLE, _WAIT_ACK):
            self._sign_on_char(c)
        elif state == _AFTER_READOUT:
            if self._block is None and c == NAK:
                self._repeat()
            elif self._block is None and c == ACK:
                self._sign_off()
            elif self._block is None and c == 0x2F and self.baud == self.idle_rate:
                # a new sign-on at the initial rate: the reader is done
                self._sign_off()
                self._sign_on_char(c)
            else:
                self._block_char(c)
        else:
            if self._block is None and c == NAK:
                self._repeat()
            elif self._block is None and c == ACK:
                pass  # some HHUs acknowledge each answer
            else:
                self._block_char(c)

    def _sign_on_char(self, c):
        line = self._line
        if c == 0x2F or (c == ACK and self.state == _WAIT_ACK):  # '/' or ACK starts a message
            self._line = bytearray((c,))
            return
        if line is None:
            return  # line noise between messages
        line.append(c)
        if c == _LF and line[-2] == _CR:
            self._line = None
            if line[0] == ACK:
                self._option_select(bytes(line))
            else:
                self._request(bytes(line))
        elif len(line) > _MAX_ADDRESS + 5:
            self._line = None

    def _request(self, line):
        # / ? address ! CR LF
        if len(line) < 5 or line[1] != 0x3F or line[-3] != 0x21 or self.mode is None:
            return
        address = line[2:-3].decode()
        for ch in address:
            if not (ch.isalpha() or ch.isdigit() or ch == " "):
                return  # 6.3.1 item 20: digits, letters and space only
        if not self._addressed(address):
            return
        self._clear()
        if self.baud != self.idle_rate:
            self._set_baud(self.idle_rate)
        z = baud_char(self.rate, self.mode)
        enhanced = "\\2" if self.mode_e else ""
        ident = "/%s%s%s%s\r\n" % (self.manufacturer, z, enhanced, self.identification)
        self._queue(ident.encode())
        if self.mode == "C":
            self.state = _WAIT_ACK
        else:
            # modes A and B (6.4.2, 6.4.3): the readout follows, B at the offered rate
            self._set_baud(self.rate)
            self._readout(gap=True)

    def _addressed(self, address):
        mine = self.device_address
        if mine is None or not address:
            return True
        # 6.3.1 item 20: leading zeros are not evaluated; all zeros match all zeros
        a = address.lstrip("0")
        return a == mine.lstrip("0")

    def _option_select(self, line):
        # ACK V Z Y CR LF (6.3.3); an unsupported one proceeds at 300 Bd (6.4.4)
        if len(line) != 6 or self.state != _WAIT_ACK:
            self._readout()
            return
        v, z, y = chr(line[1]), chr(line[2]), chr(line[3])
        rate = self.rate if z == baud_char(self.rate) else 300
        if v not in "012" or y not in "012":
            self._readout()
        elif y == "0":
            self._set_baud(rate)
            self._readout()
        elif y == "1":
            if self.password is None:
                self._readout()
                return
            self._set_baud(rate)
            self.state = _PASSWORD
            self._answer(command_message("P0", "()"))
        elif not self.mode_e:
            self._readout()
        else:
            log.info("62056-21: mode E, HDLC at %d Bd", rate)
            self.state = _HDLC
            self._event(MODE_E, rate)
            self.baud = rate

    def _block_char(self, c):
        if self._bcc_next:
            self._bcc_next = False
            block = self._block
            self._block = None
            self._message(block, bcc(block, 1) == c)
            return
        block = self._block
        if c == SOH or (c == STX and (block is None or block[0] != SOH)):
            self._block = bytearray((c,))  # a new message (or resynchronising on noise)
            return
        if block is None:
            return
        block.append(c)
        if c in (ETX, EOT):
            self._bcc_next = True
        elif len(block) > self.max_message:
            log.warning("62056-21: message over %d characters dropped", self.max_message)
            self._block = None

    # -- programming mode (6.4.4, 6.3.7 - 6.3.13) ----------------------------------------

    def _message(self, block, bcc_ok):
        if not bcc_ok:
            if self.state != _AFTER_READOUT:
                self._send_nak()  # 6.3.6: repeat-request
            return
        if block[0] != SOH or len(block) < 4:
            return
        cmd = block[1:3].decode()
        data = None
        if block[3] == STX:
            data = block[4:-1].decode()
        if cmd == "B0":
            self._sign_off()  # 6.3.12: no answer
            return
        state = self.state
        if state == _AFTER_READOUT:
            return
        if cmd == "P1":
            self._password(data)
        elif state != _PROGRAMMING:
            self._error(ERR_PASSWORD)
        elif cmd == "R1":
            self._read(data)
        elif cmd == "W1":
            self._write(data)
        else:
            self._error(ERR_COMMAND)

    def _password(self, data):
        pw = _parenthesised(data)
        if pw is not None and self.password is not None and pw == self.password:
            self.state = _PROGRAMMING
            self._attempts = 0
            self._answer(b"\x06")
            return
        self._attempts += 1
        log.warning("62056-21: wrong password (%d)", self._attempts)
        if self._attempts >= self.password_attempts:
            self._answer(command_message("B0"))
            self._sign_off()
        else:
            self._answer(b"\x15")

    def _read(self, data):
        address, _ = _split_set(data)
        if address is None:
            self._error(ERR_UNKNOWN)
            return
        found = None
        if self.read is not None:
            try:
                found = self.read(address)
            except Exception as e:
                log.warning("62056-21: R1 %s: %r", address, e)
        else:
            key = obis_of(address)
            for item in self._items():
                if item[0] == address or (key is not None and obis_of(item[0]) == key):
                    found = (item[1], item[2])
                    break
        if found is None:
            self._error(ERR_UNKNOWN)
            return
        value, unit = str(found[0]), found[1] or ""
        if not _clean(value, _FORBIDDEN_VALUE, 128) or not _clean(unit, _FORBIDDEN_VALUE, 16):
            self._error(ERR_VALUE)
            return
        self._answer(answer_message(data_set(address, value, unit)))

    def _write(self, data):
        address, value = _split_set(data)
        if address is None or value is None:
            self._error(ERR_VALUE)
            return
        if self.write is None:
            self._error(ERR_READ_ONLY)
            return
        unit = None
        if "*" in value:
            value, unit = value.split("*", 1)
        try:
            self.write(address, value, unit)
        except Exception as e:  # ValueError carries the error message's text
            self._error((isinstance(e, ValueError) and str(e)) or ERR_VALUE)
            return
        self._answer(b"\x06")

    def _error(self, text):
        t = "".join(ch for ch in text if ch not in _FORBIDDEN_VALUE)[:_MAX_ERROR]
        self._answer(answer_message("(" + t + ")"))

    # -- sending -------------------------------------------------------------------------

    def _items(self):
        r = self.readout
        if callable(r):
            try:
                return r()
            except Exception as e:
                log.error("62056-21: readout provider failed: %r", e)
                return []
        return r

    def _readout_message(self):
        self.readouts += 1
        return data_message(data_block(self._items()))

    def _readout(self, gap=False):
        self._answer(self._readout_message(), gap)
        self.state = _AFTER_READOUT

    def _answer(self, data, gap=False):
        """Queue an answer t_r after the message it answers (``gap``: after our own last)."""
        self._last_sent = data
        self._repeats = 0
        self._queue(data, gap=gap)

    def _send_nak(self):
        # what a repeat-request (NAK) now repeats: the NAK, not the answer
        # to the reader's command before the garbled one
        self._last_sent = b"\x15"
        self._repeats = 0
        self._queue(b"\x15")

    def _repeat(self):
        if self._last_sent is None or self._repeats >= _REPEATS:
            return
        self._repeats += 1
        self._queue(self._last_sent)

    def _sign_off(self):
        self._clear()
        self._set_baud(self.idle_rate)


def _parenthesised(data):
    """``x`` of ``(x)``, else None."""
    if data is None or len(data) < 2 or data[0] != "(" or data[-1] != ")":
        return None
    return data[1:-1]


def _split_set(data):
    """``(address, value)`` of a data set ``address(value)``; value None without one."""
    if not data:
        return None, None
    i = data.find("(")
    if i < 0:
        return data, None
    if data[-1] != ")" or i == 0:
        return None, None
    return data[:i], data[i + 1 : -1]


# -- the object model as a readout -----------------------------------------------------

# unit code (Blue Book Table 4) -> readout unit, decimal shift, integer digits
_UNITS = {
    30: ("kWh", 3, 6),
    31: ("kVAh", 3, 6),
    32: ("kvarh", 3, 6),
    27: ("kW", 3, 2),
    28: ("kVA", 3, 2),
    29: ("kvar", 3, 2),
    35: ("V", 0, 3),
    33: ("A", 0, 3),
    44: ("Hz", 0, 2),
    14: ("m3", 0, 5),
}
_MANAGER = const(2)  # cosem.base.MANAGER: writes go through the manager's rights
_READ_WRITE = const(3)


class _Ctx:
    level = _MANAGER
    association_object = None


def format_value(value, scaler, unit):
    """``(text, unit text)`` of a register value: ``12345678`` Wh, scaler 0 ->
    ``("012345.678", "kWh")``; 2301 V, scaler -1 -> ``("230.1", "V")``."""
    text, shift, width = _UNITS.get(unit, ("", 0, 0))
    e = scaler - shift
    if isinstance(value, float):
        value = int(value * 10 ** (e + 3) + (0.5 if value >= 0 else -0.5))
        e = -3
    sign = "-" if value < 0 else ""
    v = -value if value < 0 else value
    if e >= 0:
        s = str(v * 10**e)
        return sign + "0" * (width - len(s)) + s, text
    q, r = divmod(v, 10 ** (-e))
    ip = str(q)
    fp = str(r)
    return sign + "0" * (width - len(ip)) + ip + "." + "0" * (-e - len(fp)) + fp, text


def parse_value(text, scaler, unit):
    """The register integer of a readout value (the inverse of ``format_value``);
    ValueError when it is not a number or needs more precision."""
    shift = _UNITS.get(unit, ("", 0, 0))[1]
    t = text.strip()
    neg = t.startswith("-")
    if neg or t.startswith("+"):
        t = t[1:]
    ip, _, fp = t.partition(".")
    if not (ip + fp).isdigit():
        raise ValueError(ERR_VALUE)
    n = int(ip + fp)
    exp = shift - scaler - len(fp)  # value = n * 10^exp register units
    if exp >= 0:
        n *= 10**exp
    else:
        q, r = divmod(n, 10 ** (-exp))
        if r:
            raise ValueError(ERR_VALUE)
        n = q
    return -n if neg else n


class ObjectAccess:
    """The readout, R1 and W1 of a logical device's objects (cosem.base.LogicalDevice):
    Registers (classes 3, 4, 5) with their scaler and unit, and Data (class 1)
    holding a number or a string. ``codes``: the OBIS codes of the readout, in
    order. Writes follow the manager's access rights (``WRITABLE``)."""

    def __init__(self, device, codes):
        self.device = device
        self.codes = [obis.parse(c) for c in codes]

    def readout(self):
        out = []
        for code in self.codes:
            v = self._value(code)
            if v is not None:
                out.append((address_of(code), v[0], v[1]))
        return out

    def read(self, address):
        code = self._find(address)
        return None if code is None else self._value(code)

    def write(self, address, value, unit=None):
        code = self._find(address)
        if code is None:
            raise ValueError(ERR_UNKNOWN)
        obj = self.device.find(code)
        if obj.attribute_access(_MANAGER, 2) != _READ_WRITE:
            raise ValueError(ERR_READ_ONLY)
        tag = obj.get(2, _Ctx())[0] if not hasattr(obj, "tag") else obj.tag
        if hasattr(obj, "scaler"):
            if unit and unit != _UNITS.get(obj.unit, ("",))[0]:
                raise ValueError(ERR_VALUE)
            typed = (tag, parse_value(value, obj.scaler, obj.unit))
        elif tag == axdr.OCTET_STRING:
            typed = (tag, value.encode())
        elif tag in (axdr.VISIBLE_STRING, axdr.UTF8_STRING):
            typed = (tag, value)
        else:
            typed = (tag, parse_value(value, 0, None))
        try:
            obj.set(2, typed, _Ctx())
        except Exception as e:  # DataAccessError: refused
            raise ValueError("ER refused %s" % getattr(e, "result", ""))

    def _find(self, address):
        for a, b in ((1, 0), (0, 0)):
            code = obis_of(address, a, b)
            if code is not None and self.device.find(code) is not None:
                return code
        return None

    def _value(self, code):
        obj = self.device.find(code)
        if obj is None:
            return None
        try:
            typed = obj.get(2, _Ctx())
        except Exception as e:
            log.warning("62056-21: %s unreadable: %r", obis.dotted(code), e)
            return None
        if not isinstance(typed, tuple):
            return None
        tag, v = typed
        if getattr(obj, "CLASS_ID", 0) == 8 and isinstance(v, (bytes, bytearray)):
            return _clock_text(bytes(v)), ""
        if isinstance(v, (bytes, bytearray)):
            return _text(bytes(v)), ""
        if isinstance(v, str):
            return v, ""
        if not isinstance(v, (int, float)) or isinstance(v, bool):
            return None
        if hasattr(obj, "scaler") and hasattr(obj, "unit"):
            return format_value(v, obj.scaler, obj.unit)
        return str(v), ""


def _clock_text(b):
    """A date-time (Blue Book 4.1.6.1) as ``YYMMDDhhmmssX``, X ``S`` in summer
    time (status bit 7) else ``W``: the form readouts and P1 telegrams use."""
    if len(b) != 12:
        return _text(b)
    year = (b[0] << 8) | b[1]
    s = "%02d%02d%02d%02d%02d%02d" % (year % 100, b[2], b[3], b[5], b[6], b[7])
    return s + ("S" if b[11] & 0x80 else "W")


def _text(b):
    for c in b:
        if c < 0x20 or c > 0x7E or chr(c) in _FORBIDDEN_VALUE:
            return "".join("%02X" % x for x in b)
    return b.decode()


def readout_from_objects(device, codes):
    """The readout items ``(address, value, unit)`` of ``codes`` in ``device``,
    e.g. ``("1.8.0", "012345.678", "kWh")``; absent objects are left out."""
    return ObjectAccess(device, codes).readout()
