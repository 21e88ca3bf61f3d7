"""The meter's serial ports (``app.main --pty``, made by tools/pty_launcher.py):
the optical port (IEC 62056-21, mode E into HDLC, or HDLC alone) and the
RS-485 bus (HDLC, one meter per configured physical address).
"""

import asyncio
import gc

import log
from compat import ticks_diff, ticks_ms
from dlms.hdlc_link import HdlcServerLink

from app.meter import build_meter, makedirs, open_flash

_READ = 1024


def neighbour_config(cfg, index, address):
    """A simulated neighbour on the RS-485 bus: this meter's configuration
    with the serial number plus ``index``, its own name and flash image."""
    c = dict(cfg)
    ident = dict(cfg["identity"])
    s = ident["serial"]
    s = ("0" * len(s) + str(int(s) + index))[-len(s) :] if s.isdigit() else "%s-%d" % (s, address)
    ident["serial"] = s
    ident["logical_device_name"] = ident["manufacturer"] + ("0" * 13 + s)[-13:]
    c["identity"] = ident
    store = dict(cfg["store"])
    path = store["path"]
    if path:
        if "." in path.rsplit("/", 1)[-1]:
            head, ext = path.rsplit(".", 1)
            store["path"] = "%s-%d.%s" % (head, address, ext)
        else:
            store["path"] = "%s-%d" % (path, address)
    c["store"] = store
    return c


def serial_ports(meter, ptys, endpoints):
    """The ports of ``--pty NAME=FD:PATH`` (hal.uart_unix; ``NAME=board``: the
    board's UART, hal.uart_machine, as app.boot asks) with their HDLC
    server links: the optical port serves this meter, the RS-485 bus one meter
    per configured address (this one first, then simulated neighbours).
    Returns [(port, links, iec)] -- ``iec`` the optical port's IEC 62056-21
    server (dlms.iec62056_21) when it opens with 62056-21, else None -- and
    records each port in ``endpoints.d``."""
    from hal.uart_unix import PtyUart

    cfg = meter.cfg
    scfg = cfg["serial"]
    h = cfg["hdlc"]
    ep = endpoints.path or ""
    where = ep.rsplit("/", 1)[0] if "/" in ep else "."
    if ep:
        makedirs(where)
    ports = []
    for spec in ptys:
        name, _, rest = spec.partition("=")
        fd, _, path = rest.partition(":")
        if name not in ("optical", "rs485") or not scfg[name]["enabled"]:
            log.warning("serial port %s not served", name)
            continue
        record = "%s/%s.line" % (where, name) if ep else None
        iec = None
        if name == "optical" and scfg["optical"]["protocol"] == "iec62056-21":
            iec = optical_iec(meter)
            line = (iec.idle_rate, 7, _EVEN, 1)
        else:
            line = (scfg["baudrate"], 8, None, 1)
        if fd == "board":  # a board's UART: boards/<name>/board.py optical() / rs485()
            import board

            port = getattr(board, name)(line)
            port.path = path = "board." + name
        else:
            port = PtyUart(name, int(fd), path, record, line)
        if name == "optical":
            addresses = [h["physical_address"]]
        else:
            addresses = scfg["rs485"]["addresses"]
        links = []
        for i, a in enumerate(addresses):
            server = meter.server
            if i:
                ncfg = neighbour_config(cfg, i, a)
                model = build_meter(ncfg, store=open_flash(ncfg["store"]))
                meter.neighbours.append(model)
                server = model.server
            links.append(
                HdlcServerLink(
                    server,
                    a,
                    h["max_info"],
                    h["window"],
                    inactivity_ms=scfg["inactivity_s"] * 1000,
                    inter_octet_ms=scfg["inter_octet_ms"],
                )
            )
        ports.append((port, links, iec))
        e = {"path": path, "line_log": record}
        if name == "optical":
            e["address"] = addresses[0]
            e["protocol"] = scfg["optical"]["protocol"]
        else:
            e["addresses"] = list(addresses)
        endpoints.d[name] = e
    return ports


_EVEN = 0  # hal.uart: parity as machine.UART takes it (None, 0 even, 1 odd)
_NO_SNRM_MS = 10000  # mode E: back to 62056-21 without an SNRM in this time
_HDLC_POLL_MS = 5  # mode E: how often the port is looked at (inter-octet 25 ms)
_IEC_POLL_MS = 50


def optical_iec(meter):
    """The optical port's IEC 62056-21 server: mode C readout of
    ``serial.optical.readout``, programming mode with its ``password``, mode
    E to HDLC at ``serial.baudrate``."""
    from dlms.iec62056_21 import Iec62056Server, ObjectAccess

    cfg = meter.cfg
    o = cfg["serial"]["optical"]
    ident = "".join(
        ch for ch in cfg["identity"]["logical_device_name"] if " " <= ch <= "~" and ch not in "/!\\"
    )
    access = ObjectAccess(meter.server.devices[1], o["readout"])
    return Iec62056Server(
        ident or "meter",
        access.readout,
        password=o["password"],
        modes="CE",
        manufacturer=cfg["identity"]["manufacturer"],
        baud=cfg["serial"]["baudrate"],
        read=access.read,
        write=access.write,
        response_ms=o["response_ms"],
    )


async def serve_optical_iec(meter, port, link, iec):
    """The optical port as a meter's: IEC 62056-21 at 300 Bd 7E1 (sign-on,
    readout, programming mode); mode E hands the port to the HDLC link at the
    agreed rate, 8N1, and back to 62056-21 when the HDLC connection ends (DISC,
    inactivity) or no SNRM came within 10 s. Out of memory in the middle of
    a session: logged, the session dropped, the port back at 62056-21."""
    while not meter.stopping:
        try:
            await _serve_optical_iec(meter, port, link, iec)
            return
        except MemoryError as e:
            log.error("optical: out of memory (%r): back to IEC 62056-21", e)
            link.close()
            iec.reset()
            gc.collect()
            await asyncio.sleep_ms(100)


async def _serve_optical_iec(meter, port, link, iec):
    from dlms.iec62056_21 import BAUD

    in_hdlc = False
    had = False
    since = 0
    try:
        while not meter.stopping:
            data = port.read_now()
            now = ticks_ms()
            if in_hdlc:
                if data:
                    link.receive_data(data, now)
                link.poll(now)  # after the octets: see serve_port
                out = link.data_to_send()
                if out:
                    await port.write(out)
                if link.connected():
                    had = True
                elif had or ticks_diff(now, since) > _NO_SNRM_MS:
                    log.info("optical: HDLC over, back to IEC 62056-21")
                    link.close()
                    iec.reset()
                    in_hdlc = False
                if data and meter.stats:
                    meter.stats.sample()
                rest = b""
            else:
                # line by line: what follows a mode E option select in the same
                # read is already HDLC (a client that sends its SNRM at once)
                rest = data
                while rest:
                    i = rest.find(b"\n")
                    i = len(rest) if i < 0 else i + 1
                    iec.receive_data(rest[:i], now)
                    rest = rest[i:]
                    if iec.handed_over():
                        break
                iec.poll(now)
            while True:
                out = iec.data_to_send()
                if out:
                    await port.write(out)
                ev = iec.next_event()
                if ev is None:
                    break
                if ev[0] == BAUD:
                    port.set_line(ev[1], 7, _EVEN, 1)
                else:  # MODE_E
                    port.set_line(ev[1], 8, None, 1)
                    in_hdlc = True
                    had = False
                    since = now
                    if rest:
                        link.receive_data(rest, now)
                        out = link.data_to_send()
                        if out:
                            await port.write(out)
            if not data:
                if in_hdlc:
                    wait = _HDLC_POLL_MS
                else:
                    wait = iec.wait_ms(ticks_ms())
                    wait = _IEC_POLL_MS if wait is None else max(1, min(wait, _IEC_POLL_MS))
                await asyncio.sleep_ms(wait)
    except OSError as e:
        log.warning("serial port %s failed: %r", port.name, e)
    except KeyboardInterrupt:
        meter.stopping = True
    finally:
        link.close()


async def serve_port(meter, port, links):
    """A serial port and its HDLC server links, one per physical address on a
    multi-drop bus. Every octet goes to every link and each answers only its
    own address (dlms.hdlc_link); what one meter sends the others hear, as on
    a real RS-485 pair. A link's time-outs are polled once a second by
    tick(), which sends at once what they release (``later``), and after new
    octets went in (not before: octets that waited in the UART while the
    meter was busy were no gap on the line)."""
    lock = asyncio.Lock()  # one frame at a time on the line

    async def send(link, out, now):
        # the other meters hear it too (and ignore a server's frame)
        for other in links:
            if other is not link:
                other.receive_data(out, now)
        async with lock:
            await port.write(out)

    def later(link):
        return lambda out: asyncio.create_task(send(link, out, ticks_ms()))

    entries = [[link, later(link), None, 0] for link in links]
    meter.links.extend(entries)
    try:
        while not meter.stopping:
            try:
                data = await port.read(_READ)
                now = ticks_ms()
                for link in links:
                    # the octets first, then the time-outs: octets that waited
                    # in the UART while the meter was busy (a flash write, a
                    # collection) are no gap on the line, and with them the
                    # frame under way is whole. A real gap is found by tick()
                    link.receive_data(data, now)
                    link.poll(now)
                for link in links:
                    out = link.data_to_send()
                    if out:
                        await send(link, out, now)
            except MemoryError as e:
                # as on the optical port: the bus's HDLC connections are
                # dropped (back to NDM, a client connects again), the port
                # serves on
                log.error("serial port %s: out of memory (%r): connections dropped", port.name, e)
                for link in links:
                    link.close()
                gc.collect()
                await asyncio.sleep_ms(100)
                continue
            if meter.stats:
                meter.stats.sample()
    except OSError as e:
        log.warning("serial port %s failed: %r", port.name, e)
    except KeyboardInterrupt:
        meter.stopping = True
    finally:
        for entry in entries:
            meter.links.remove(entry)
            entry[0].close()
