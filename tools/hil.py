"""Hardware in the loop: interop checks against a flashed board, with a report.

    make hil PORT=/dev/ttyUSB1 [HOST=192.0.2.10] [RS485=...] [P1=...] [PROVISION=keys.json]
    python -m tools.hil --optical PATH --host HOST [--rs485 PATH] [--p1 PATH] [--json FILE]

``PORT`` is the host's serial port on the board's optical head (an IR head
on a USB adapter), ``HOST`` the board's address (the TCP wrapper on 4059,
HDLC over TCP on 4061), ``RS485`` an adapter on its bus, ``P1`` an adapter
wired to a gateway's P1 input. The checks, each with independent clients:

- ``iec62056-21 readout``: the ``iec62056-21`` package signs on at 300 Bd
  and reads the mode C readout (PORT);
- ``gurux HDLC optical``: the IEC 62056-21 opening to mode E, then gurux-dlms
  associates (LLS) over HDLC, reads the object list, the logical device
  name, the clock and the active energy, releases and disconnects (PORT);
- ``gurux HDLC RS-485``: the same session on the bus (RS485);
- ``gurux wrapper TCP`` / ``gurux HDLC TCP``: the same session over the
  network (HOST);
- ``dlms-cosem wrapper TCP``: dlms-cosem associates (LLS) and reads the same
  values (HOST);
- ``P1 loopback``: a DSMR 5 telegram (with its CRC) with fresh values goes
  out on P1 and the gateway serves them back over DLMS (P1 and HOST);
- ``consistency``: every session saw the same logical device name and
  energy register (within what the meter counts meanwhile).

A check without its port is reported as skipped. Without any port or host
nothing is tested: it says so and exits 0. The client is the reader (17,
LLS) with the password of the provisioning file (``--provision``: the one
given to make deploy) or ``--password``; the simulator's by default. The
exit status is 1 when a check failed. CI runs the same code against the
simulator's ptys and ports (host_tests/test_hil.py).
"""

import argparse
import json
import socket
import sys
import termios
import time

READER = 17
DEFAULT_PASSWORD = "12345678"
LDN_OBIS = "0.0.42.0.0.255"
ENERGY_OBIS = "1.0.1.8.0.255"
CLOCK_OBIS = "0.0.1.0.0.255"
PASS, FAIL, SKIP = "pass", "fail", "skip"


class Skip(Exception):
    pass


class Report:
    def __init__(self):
        self.rows = []  # (check, result, detail)
        self.seen = {}  # check -> {"ldn": ..., "energy_wh": ...}

    def run(self, name, fn, *args):
        t = time.monotonic()
        try:
            detail = fn(self, name, *args)
            result = PASS
        except Skip as e:
            result, detail = SKIP, str(e)
        except Exception as e:  # a check's failure is a row, not the end of the run
            result, detail = FAIL, "%s: %s" % (type(e).__name__, e)
        if result != SKIP:
            detail = "%s (%.1f s)" % (detail, time.monotonic() - t)
        self.rows.append((name, result, detail))

    def counts(self):
        return tuple(sum(1 for r in self.rows if r[1] == k) for k in (PASS, FAIL, SKIP))

    def text(self, title):
        w = max(len(r[0]) for r in self.rows)
        lines = [title, "%-*s  %-6s %s" % (w, "check", "result", "detail")]
        for name, result, detail in self.rows:
            lines.append("%-*s  %-6s %s" % (w, name, result, detail))
        lines.append("hil: %d passed, %d failed, %d skipped" % self.counts())
        return "\n".join(lines)


# -- gurux-dlms sessions ------------------------------------------------------------


class SerialLine:
    """pyserial as a byte pipe for gurux (``send``, ``recv``)."""

    def __init__(self, port):
        self.port = port

    def send(self, data):
        self.port.write(bytes(data))
        self.port.flush()

    def recv(self):
        data = self.port.read(max(1, self.port.in_waiting))
        if not data:
            raise TimeoutError("no answer on %s" % self.port.port)
        return data

    def close(self):
        self.port.close()


class TcpLine:
    def __init__(self, host, port, timeout):
        self.sock = socket.create_connection((host, port), timeout)
        self.sock.settimeout(timeout)

    def send(self, data):
        self.sock.sendall(bytes(data))

    def recv(self):
        data = self.sock.recv(4096)
        if not data:
            raise ConnectionError("the board closed the connection")
        return data

    def close(self):
        self.sock.close()


class GuruxSession:
    """gurux-dlms as its own example client drives a meter: send a request,
    feed what arrives to getData until the reply is complete, ask for the
    rest (receiverReady) while there is more."""

    def __init__(self, line, hdlc, client, password, physical=16):
        from gurux_dlms.enums import Authentication, InterfaceType
        from gurux_dlms.GXDLMSClient import GXDLMSClient

        auth = Authentication.LOW if password else Authentication.NONE
        if hdlc:
            server = GXDLMSClient.getServerAddress(1, physical, 2)
            self.c = GXDLMSClient(True, client, server, auth, password, InterfaceType.HDLC)
            self.c.serverAddressSize = 2
        else:
            self.c = GXDLMSClient(True, client, 1, auth, password, InterfaceType.WRAPPER)
        self.hdlc = hdlc
        self.line = line

    def packet(self, data, reply):
        from gurux_dlms import GXByteBuffer, GXDLMSException, GXReplyData

        if not data:
            return
        self.line.send(data)
        rd = GXByteBuffer()
        while not self.c.getData(rd, reply, GXReplyData()):
            rd.set(self.line.recv())
        if reply.error:
            raise GXDLMSException(reply.error)

    def transfer(self, data):
        from gurux_dlms import GXReplyData

        reply = GXReplyData()
        for one in data if isinstance(data, list) else [data]:
            reply.clear()
            self.packet(one, reply)
            while reply.isMoreData():
                self.packet(self.c.receiverReady(reply), reply)
        return reply

    def associate(self):
        from gurux_dlms import GXReplyData

        if self.hdlc:
            reply = GXReplyData()
            self.packet(self.c.snrmRequest(), reply)
            self.c.parseUAResponse(reply.data)
        self.c.parseAareResponse(self.transfer(self.c.aarqRequest()).data)

    def read(self, obj, index):
        from gurux_dlms.enums import DataType

        reply = self.transfer(self.c.read(obj, index)[0])
        if obj.getDataType(index) == DataType.NONE:
            obj.setDataType(index, reply.valueType)
        return self.c.updateValue(obj, index, reply.value)

    def close(self):
        from gurux_dlms import GXReplyData

        try:
            self.transfer(self.c.releaseRequest())
            if self.hdlc:
                self.packet(self.c.disconnectRequest(), GXReplyData())
        finally:
            self.line.close()


def gurux_session(report, name, line, hdlc, opts):
    """The shortened full session; returns its detail line."""
    from gurux_dlms.objects import GXDLMSClock, GXDLMSData, GXDLMSRegister

    s = GuruxSession(line, hdlc, opts.client, opts.password, opts.physical)
    try:
        s.associate()
        objects = s.c.parseObjects(s.transfer(s.c.getObjectsRequest()).data, True)
        listed = {o.logicalName for o in objects}
        ldn = _text(s.read(GXDLMSData(LDN_OBIS), 2))
        clock = s.read(GXDLMSClock(CLOCK_OBIS), 2)
        wh = None
        if ENERGY_OBIS in listed:  # a gateway serves only what its input sends
            reg = GXDLMSRegister(ENERGY_OBIS)
            s.read(reg, 3)
            s.read(reg, 2)
            wh = _wh(reg.value, 0, reg.unit)
    finally:
        s.close()
    _expect_ldn(opts, ldn)
    report.seen[name] = {"ldn": ldn, "energy_wh": wh, "t": time.monotonic()}
    return "LDN %s, %d objects, %s, clock %s" % (ldn, len(objects), _energy(wh), clock)


def _energy(wh):
    return "%s = %s Wh" % (ENERGY_OBIS, _num(wh)) if wh is not None else "no " + ENERGY_OBIS


def _text(v):
    return bytes(v).decode("latin-1") if isinstance(v, (bytes, bytearray)) else str(v)


def _num(v):
    return ("%.3f" % v).rstrip("0").rstrip(".")


def _wh(value, scaler, unit):
    """gurux applies the scaler; unit 30 is Wh (Blue Book 4.3.2)."""
    u = int(unit) if unit is not None else 30
    if u != 30:
        raise AssertionError("%s unit %r, not Wh (30)" % (ENERGY_OBIS, unit))
    return float(value) * 10**scaler


def _expect_ldn(opts, ldn):
    if opts.ldn and ldn != opts.ldn:
        raise AssertionError("logical device name %r, expected %r" % (ldn, opts.ldn))
    if len(ldn) != 16:
        raise AssertionError("logical device name %r is not 16 characters" % ldn)


# -- the checks ---------------------------------------------------------------------


def open_serial(path, rate, timeout):
    import serial

    return serial.Serial(path, rate, timeout=timeout)


def check_gurux_optical(report, name, opts):
    if not opts.optical:
        raise Skip("no PORT (the optical head)")
    from compat import ticks_ms
    from dlms.iec62056_21 import MODE_E
    from dlms.iec62056_21_client import Iec62056Client

    from tools.serial_transport import drive_iec, open_port

    port = open_port(opts.optical, 300, True)
    try:
        for attempt in range(3):
            # a meter keeps the readout's rate for 1.5 s after one (62056-21
            # 6.4.4): a sign-on in that time goes unanswered, so try again
            iec = Iec62056Client("", MODE_E, max_baud=opts.baud)
            iec.start(ticks_ms())
            try:
                rate = drive_iec(port, iec, opts.timeout + 10)[1]
                break
            except OSError:
                if attempt == 2:
                    raise
                time.sleep(2)
                open_port_line(port)
        port.timeout = opts.timeout
        port.reset_input_buffer()
    except Exception:
        port.close()
        raise
    detail = gurux_session(report, name, SerialLine(port), True, opts)
    return "mode E at %d Bd; %s" % (rate, detail)


def open_port_line(port):
    """Back to the sign-on's 300 Bd 7E1, input dropped."""
    _set_line(port, 300, seven_e1=True)
    port.reset_input_buffer()


def check_gurux_rs485(report, name, opts):
    if not opts.rs485:
        raise Skip("no RS485 port")
    port = open_serial(opts.rs485, opts.baud, opts.timeout)
    port.reset_input_buffer()
    return gurux_session(report, name, SerialLine(port), True, opts)


def check_gurux_tcp(report, name, opts, hdlc):
    if not opts.host:
        raise Skip("no HOST")
    tcp = opts.hdlc_port if hdlc else opts.wrapper_port
    return gurux_session(report, name, TcpLine(opts.host, tcp, opts.timeout), hdlc, opts)


def check_dlms_cosem(report, name, opts):
    if not opts.host:
        raise Skip("no HOST")
    import logging

    import structlog
    from dlms_cosem import cosem, enumerations, utils
    from dlms_cosem.client import DataResultError, DlmsClient
    from dlms_cosem.io import BlockingTcpIO, TcpTransport
    from dlms_cosem.security import LowLevelSecurityAuthentication, NoSecurityAuthentication

    # dlms-cosem logs every APDU at info level through structlog
    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.WARNING))
    ic = enumerations.CosemInterface
    auth = (
        LowLevelSecurityAuthentication(secret=opts.password.encode())
        if opts.password
        else NoSecurityAuthentication()
    )
    from dlms_cosem.exceptions import CommunicationError

    class TcpIO(BlockingTcpIO):
        # dlms-cosem's recv() loops for ever on a connection the meter closed
        # (recv() returning b""): a board that hangs up must fail the check
        def recv(self, amount=1):
            data = b""
            while len(data) < amount:
                try:
                    got = self.tcp_socket.recv(amount - len(data))
                except OSError as e:
                    raise CommunicationError("could not receive data") from e
                if not got:
                    raise CommunicationError("the meter closed the connection")
                data += got
            return data

    transport = TcpTransport(
        client_logical_address=opts.client,
        server_logical_address=1,
        io=TcpIO(opts.host, opts.wrapper_port, timeout=opts.timeout),
    )
    c = DlmsClient(transport=transport, authentication=auth)

    def get(interface, code, attr):
        at = cosem.CosemAttribute(interface, cosem.Obis.from_string(code), attr)
        return utils.parse_as_dlms_data(c.get(at))

    c.connect()
    try:
        c.associate()
        ldn = _text(get(ic.DATA, LDN_OBIS, 2))
        try:
            scaler, unit = get(ic.REGISTER, ENERGY_OBIS, 3)
            wh = _wh(get(ic.REGISTER, ENERGY_OBIS, 2), scaler, unit)
        except DataResultError as e:
            if "OBJECT_UNDEFINED" not in str(e):
                raise
            wh = None  # a gateway serves only what its input sends
        c.release_association()
    finally:
        c.disconnect()
    _expect_ldn(opts, ldn)
    report.seen[name] = {"ldn": ldn, "energy_wh": wh, "t": time.monotonic()}
    return "LDN %s, %s" % (ldn, _energy(wh))


def check_iec_readout(report, name, opts):
    if not opts.optical:
        raise Skip("no PORT (the optical head)")
    from iec62056_21 import transports
    from iec62056_21.client import Iec6205621Client

    c = Iec6205621Client.with_serial_transport(port=opts.optical)
    t = c.transport
    t.timeout = opts.timeout
    real_serial = transports.serial

    def switch_baudrate(baud):
        # The package reopens the port 0.5 s after the option select, which
        # flushes the readout a meter sends after its reaction time (200 ms
        # to 1.5 s, IEC 62056-21 5.3.7): change the rate in place instead.
        _set_line(t.port, baud, seven_e1=True)

    t.switch_baudrate = switch_baudrate
    transports.serial = _SerialModule()  # 7E1 where the line takes it (a pty may not)
    try:
        c.connect()
        try:
            answer = c.standard_readout()
        finally:
            t.port.close()
    finally:
        transports.serial = real_serial
    got = {d.address: (d.value, d.unit or "") for d in answer.data}
    ident = c.identification
    if opts.ldn and not ident.endswith(opts.ldn):
        raise AssertionError("identification %r does not end with %r" % (ident, opts.ldn))
    total = got.get("1.8.0") or got.get("1-0:1.8.0")
    if total is None:
        raise AssertionError("no 1.8.0 in the readout: %s" % sorted(got))
    kwh = float(total[0])
    if total[1] != "kWh":
        raise AssertionError("1.8.0 unit %r, not kWh" % total[1])
    report.seen[name] = {"ldn": ident[-16:], "energy_wh": kwh * 1000, "t": time.monotonic()}
    return "identification %r, readout at %d Bd: %d values, 1.8.0 = %s kWh" % (
        ident,
        c.switchover_baudrate,
        len(got),
        total[0],
    )


def _set_line(port, rate, seven_e1):
    import serial

    try:
        port.baudrate = rate
    except (serial.SerialException, termios.error, ValueError):
        pass
    if seven_e1:
        try:
            port.bytesize, port.parity = serial.SEVENBITS, serial.PARITY_EVEN
        except (serial.SerialException, termios.error, ValueError):
            try:  # a pty that refuses 7E1 carries the octets as they are anyway
                port.bytesize, port.parity = serial.EIGHTBITS, serial.PARITY_NONE
            except (serial.SerialException, termios.error, ValueError):
                pass


class _SerialModule:
    """pyserial for the iec62056-21 package, opening 8N1 at the same rate
    where a pty refuses 7E1 (EINVAL): the meter reads 7-bit characters
    either way; on a real adapter 7E1 is taken."""

    def __getattr__(self, name):
        import serial

        return getattr(serial, name)

    @staticmethod
    def Serial(*args, **kw):  # noqa: N802 (pyserial's name)
        import serial

        try:
            return serial.Serial(*args, **kw)
        except (serial.SerialException, termios.error):
            kw.update(bytesize=serial.EIGHTBITS, parity=serial.PARITY_NONE)
            return serial.Serial(*args, **kw)


def p1_telegram(seq):
    """A DSMR 5.0.2 telegram (P1 CS 5.0.2) whose import registers carry
    ``seq``, with its CRC-16 (gateway.dsmr): bytes and {OBIS: kWh}."""
    from gateway.dsmr import crc16

    t1 = 1000 + seq % 100000 / 1000
    t2 = 2000 + seq % 100000 / 1000
    body = (
        "/MPY5HIL-P1-LOOPBACK\r\n\r\n"
        "1-3:0.2.8(50)\r\n"
        "0-0:1.0.0(261126120000W)\r\n"
        "0-0:96.1.1(4d505931)\r\n"
        "1-0:1.8.1(%010.3f*kWh)\r\n"
        "1-0:1.8.2(%010.3f*kWh)\r\n"
        "1-0:2.8.1(000000.000*kWh)\r\n"
        "1-0:2.8.2(000000.000*kWh)\r\n"
        "0-0:96.14.0(0001)\r\n"
        "1-0:1.7.0(01.234*kW)\r\n"
        "1-0:2.7.0(00.000*kW)\r\n"
        "1-0:32.7.0(230.1*V)\r\n"
        "!" % (t1, t2)
    ).encode()
    crc = crc16(body, 0, len(body))
    return body + b"%04X\r\n" % crc, {"1.0.1.8.1.255": t1, "1.0.1.8.2.255": t2}


def check_p1(report, name, opts):
    if not opts.p1:
        raise Skip("no P1 port (wired to a gateway's P1 input)")
    if not opts.host:
        raise Skip("no HOST: the gateway's values are read back over DLMS")
    from gurux_dlms.objects import GXDLMSRegister

    seq = int(time.time() * 1000) % 100000
    telegram, want = p1_telegram(seq)
    port = open_serial(opts.p1, opts.p1_baud, opts.timeout)
    deadline = time.monotonic() + opts.timeout
    got = {}
    try:
        while True:
            port.write(telegram)  # a meter sends one every second (DSMR 5)
            port.flush()
            time.sleep(1.0)
            s = GuruxSession(
                TcpLine(opts.host, opts.wrapper_port, opts.timeout),
                False,
                opts.client,
                opts.password,
            )
            try:
                s.associate()
                for code in want:
                    reg = GXDLMSRegister(code)
                    try:
                        s.read(reg, 3)
                        s.read(reg, 2)
                        got[code] = _wh(reg.value, 0, reg.unit) / 1000
                    except Exception:  # not there yet
                        got.pop(code, None)
            finally:
                s.close()
            if all(abs(got.get(k, -1) - v) < 0.0005 for k, v in want.items()):
                break
            if time.monotonic() > deadline:
                raise AssertionError("sent %r, the gateway serves %r" % (want, got))
    finally:
        port.close()
    return "telegram of %d octets (CRC %s) -> %s" % (
        len(telegram),
        telegram[-6:-2].decode(),
        ", ".join("%s = %s kWh" % (k, _num(v)) for k, v in sorted(got.items())),
    )


def check_consistency(report, name, opts):
    seen = report.seen
    if len(seen) < 2:
        raise Skip("fewer than two sessions to compare")
    ldns = {v["ldn"] for v in seen.values()}
    if len(ldns) != 1:
        raise AssertionError("logical device names differ: %r" % seen)
    with_energy = [v for v in seen.values() if v["energy_wh"] is not None]
    if not with_energy:
        return "%d sessions: LDN %s; no %s to compare" % (len(seen), ldns.pop(), ENERGY_OBIS)
    wh = [v["energy_wh"] for v in with_energy]
    spread = max(wh) - min(wh)
    span = max(v["t"] for v in with_energy) - min(v["t"] for v in with_energy)
    # the register grows while the checks run: at most opts.max_kw for that time (+1 Wh rounding)
    allowed = opts.max_kw * 1000 * (span + 2) / 3600 + 1
    if spread > allowed:
        raise AssertionError(
            "%s differs by %s Wh between the sessions (more than %s)"
            % (ENERGY_OBIS, _num(spread), _num(allowed))
        )
    return "%d sessions: LDN %s, %s within %s Wh" % (
        len(seen),
        ldns.pop(),
        ENERGY_OBIS,
        _num(spread),
    )


CHECKS = (
    ("gurux HDLC (optical, mode E)", check_gurux_optical, ()),
    ("iec62056-21 readout (optical)", check_iec_readout, ()),
    ("gurux HDLC (RS-485)", check_gurux_rs485, ()),
    ("gurux wrapper (TCP)", check_gurux_tcp, (False,)),
    ("gurux HDLC (TCP)", check_gurux_tcp, (True,)),
    ("dlms-cosem wrapper (TCP)", check_dlms_cosem, ()),
    ("P1 loopback", check_p1, ()),
    ("consistency", check_consistency, ()),
)


def credentials(opts):
    """The reader's password and the meter's name from the provisioning file."""
    if not opts.provision:
        return
    with open(opts.provision) as f:
        prov = json.load(f)
    cfg = prov.get("config", {})
    for c in cfg.get("clients", []):
        if c.get("sap") == opts.client and opts.password is None:
            opts.password = c.get("password")
    if opts.ldn is None:
        opts.ldn = cfg.get("identity", {}).get("logical_device_name")


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--optical", help="serial port on the board's optical head (PORT)")
    p.add_argument("--host", help="the board's address (HOST)")
    p.add_argument("--rs485", help="serial port on the board's RS-485 bus")
    p.add_argument("--p1", help="serial port wired to a gateway's P1 input")
    p.add_argument("--wrapper-port", type=int, default=4059)
    p.add_argument("--hdlc-port", type=int, default=4061)
    p.add_argument("--baud", type=int, default=9600, help="HDLC rate (mode E and RS-485)")
    p.add_argument("--p1-baud", type=int, default=115200)
    p.add_argument("--physical", type=int, default=16, help="HDLC physical address")
    p.add_argument("--client", type=int, default=READER)
    p.add_argument("--password", help="the client's LLS password (default: provisioning file)")
    p.add_argument("--provision", help="the provisioning file given to make deploy")
    p.add_argument("--ldn", help="the logical device name to expect")
    p.add_argument("--max-kw", type=float, default=50.0, help="import power bound (consistency)")
    p.add_argument("--timeout", type=float, default=10.0)
    p.add_argument("--json", help="also write the report here as JSON")
    opts = p.parse_args(argv)
    if not (opts.optical or opts.host or opts.rs485 or opts.p1):
        print(
            "make hil: no PORT (the host's serial port on the board's optical head) and no HOST "
            "(its address): nothing to test, skipped.\n"
            "  make hil PORT=/dev/ttyUSB1 HOST=192.0.2.10 [RS485=...] [P1=...] [PROVISION=...]"
        )
        return 0
    credentials(opts)
    if opts.password is None:
        opts.password = DEFAULT_PASSWORD
    report = Report()
    for name, fn, extra in CHECKS:
        report.run(name, fn, opts, *extra)
    where = ", ".join(
        "%s %s" % (k, v)
        for k, v in (
            ("optical", opts.optical),
            ("rs485", opts.rs485),
            ("host", opts.host),
            ("p1", opts.p1),
        )
        if v
    )
    print(report.text("HIL report (%s)" % where))
    if opts.json:
        with open(opts.json, "w") as f:
            json.dump(
                [{"check": c, "result": r, "detail": d} for c, r, d in report.rows], f, indent=1
            )
    return 1 if report.counts()[1] else 0


if __name__ == "__main__":
    sys.exit(main())
