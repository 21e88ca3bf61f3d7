"""The simulated meter: ``micropython -m app.main [options]`` (``make run``).

Serves the COSEM server over the TCP wrapper (IEC 62056-47, port 4059) and
HDLC over TCP (port 4061), in the foreground until Ctrl-C. Options:
``--config FILE`` (JSON over the defaults of app/config.py),
``--wrapper-port N``, ``--hdlc-port N``, ``--host H``,
``--endpoints FILE`` (where to write the endpoints as JSON, default
build/sim/endpoints.json), ``--quiet``, ``--stats`` (heap figures on exit),
``--pty NAME=FD:PATH`` (a serial port, ``optical`` or ``rs485``: the master
fd of a pty and its slave's path, given by tools/pty_launcher.py).
"""

import asyncio
import gc
import json
import sys

import log
from compat import mem_alloc, mem_free, ticks_diff, ticks_ms
from dlms.hdlc_link import HdlcServerLink
from dlms.wrapper_link import WrapperServerLink
from micropython import const

from app import config as configuration
from app.meter import build_meter, makedirs, open_flash

_READ = 1024
# a new connection finding every slot taken waits up to 10 x 20 ms for one
_ADMIT_TRIES = const(10)
_ADMIT_WAIT_S = 0.02
# One receive buffer for every TCP connection, allocated once at boot: a
# read(n) would allocate n octets per call, and on a board's fragmented heap
# a new 1 KiB block is what fails first. Each task hands what it read to its
# link (which copies it) before it awaits again, so they never overlap.
_RX = bytearray(_READ)
_RXV = memoryview(_RX)


class Endpoints:
    def __init__(self):
        self.d = {}
        self.path = None

    def write(self, path):
        if not path:
            return
        try:
            makedirs(path.rsplit("/", 1)[0] if "/" in path else ".")
            with open(path, "w") as f:
                f.write(json.dumps(self.d))
        except OSError as e:
            log.warning("cannot write %s: %r", path, e)


class Stats:
    """Heap figures for ``make bench`` (``--stats``): the live heap after boot
    and its largest value after any request (a gc.collect() each time)."""

    def __init__(self, code):
        gc.collect()
        self.code = code  # the heap the imported modules take
        self.boot = mem_alloc()
        self.peak = self.boot
        self.requests = 0
        self._seen = None

    def every_second(self, connections):
        """A line ``heap {"heap": N, "connections": N, "requests": N}`` when
        requests or connections changed since the last one (so none while
        idle): the soak test reads the live heap while the meter runs."""
        if self._seen == (self.requests, connections):
            return
        self._seen = (self.requests, connections)
        gc.collect()
        line = {"heap": mem_alloc(), "connections": connections, "requests": self.requests}
        print("heap " + json.dumps(line))

    def sample(self):
        self.requests += 1
        gc.collect()
        m = mem_alloc()
        if m > self.peak:
            self.peak = m

    def report(self):
        return {
            "heap_code": self.code,
            "heap_after_boot": self.boot,
            "heap_peak": self.peak,
            "requests": self.requests,
            "heap_total": mem_alloc() + mem_free(),
        }


def board_relay():
    """The board's breaker (boards/<name>/board.py ``relay()``), or None."""
    try:
        import board
    except ImportError:  # no board module on the path (a bare run from firmware/)
        return None
    make = getattr(board, "relay", None)
    return make() if make is not None else None


class Meter:
    """The running meter: the object model plus connection bookkeeping."""

    def __init__(self, cfg, stats=False):
        gc.collect()
        code = mem_alloc()
        self.cfg = cfg
        self.store = open_flash(cfg["store"])
        self.model = build_meter(cfg, store=self.store, relay=board_relay())
        self.server = self.model.server
        self.connections = 0
        self.max_connections = cfg["max_associations"]
        self.stats = Stats(code) if stats else None
        # the links tick() polls: [link, send, task, last octet ms] -- ``send``
        # takes the octets a time-out released (a frame held back behind an
        # abandoned one); ``task`` is set for a TCP connection, which tick()
        # cancels when silent too long
        self.links = []
        self.neighbours = []  # the other meters' models on the RS-485 bus
        self.stopping = False
        self.push = None  # app.push.PushSender, with pushing configured
        if cfg["push"]["enabled"]:
            from app.push import PushSender

            self.push = PushSender.from_config(self.model, cfg["push"], self.stop)

    def stop(self):
        self.stopping = True

    async def admit(self, kind):
        """Take a connection slot. A full house waits a moment first: a client
        that hung up and dialled again at once holds its old slot until its
        connection's task reads the end of the stream, which may come after
        the new connection is accepted."""
        for _ in range(_ADMIT_TRIES):
            if self.connections < self.max_connections:
                self.connections += 1
                return True
            await asyncio.sleep(_ADMIT_WAIT_S)
        log.warning("%s connection refused: %d already open", kind, self.connections)
        return False


async def serve(meter, link, kind, reader, writer):
    """One TCP connection: bytes to the sans-IO link and back, time-outs polled."""
    if not await meter.admit(kind):
        await _close(writer)
        return
    # Time-outs are polled by tick(), not with wait_for: its helper task
    # catches BaseException, and a Ctrl-C landing there would be lost.
    # writer.write() is not a coroutine: what tick() sends joins the stream's
    # buffer behind what this task wrote, in order
    entry = [link, writer.write, asyncio.current_task(), ticks_ms()]
    meter.links.append(entry)
    readinto = getattr(reader, "readinto", None)  # MicroPython's; CPython reads
    try:
        while not link.closed:
            if readinto is None:
                data = await reader.read(_READ)
            else:
                n = await readinto(_RX)
                if n is None:  # woken with nothing to read yet
                    continue
                data = _RXV[:n]
            if not data:
                break
            entry[3] = ticks_ms()
            link.receive_data(data, ticks_ms())
            out = link.data_to_send()
            if out:
                writer.write(out)
                await writer.drain()
            if meter.stats:
                meter.stats.sample()
    except OSError as e:
        log.info("%s connection lost: %r", kind, e)
    except MemoryError:
        # the heap could not hold this request's answer: this connection
        # goes (its buffers with it), the meter and the others go on
        log.error("%s connection closed: out of memory", kind)
    except KeyboardInterrupt:
        # Ctrl-C can land in a connection's task, where asyncio would not pass
        # it on: the main task sees the flag and stops the meter.
        meter.stopping = True
    finally:
        meter.links.remove(entry)
        link.close()
        meter.connections -= 1
        try:
            await _close(writer)
        except KeyboardInterrupt:
            meter.stopping = True


async def _close(writer):
    try:
        writer.close()
        await writer.wait_closed()
    except OSError:
        pass


def serve_wrapper(meter, reader, writer):
    return serve(meter, WrapperServerLink(meter.server), "wrapper", reader, writer)


def serve_hdlc(meter, reader, writer):
    h = meter.cfg["hdlc"]
    link = HdlcServerLink(meter.server, h["physical_address"], h["max_info"], h["window"])
    return serve(meter, link, "HDLC", reader, writer)


# The board's watchdog (app.boot sets it to machine.WDT.feed): fed by the
# tick task, so a stalled event loop resets the board.
feed = None


async def tick(meter):
    while True:
        await asyncio.sleep(1)
        if feed is not None:
            feed()
        try:
            poll_links(meter, ticks_ms())
            meter.model.tick()
            for m in meter.neighbours:
                m.tick()
            if meter.stats:
                meter.stats.every_second(meter.connections)
        except Exception as e:
            # a second that fails (a full heap, say) must not stop the clock:
            # the next one runs
            try:
                log.error("tick failed: %r", e)
            except MemoryError:
                pass


def poll_links(meter, now):
    """The links' time-outs: what they release is sent at once (not with the
    client's next octets), and a TCP connection silent longer than
    network.inactivity_s is closed."""
    limit = meter.cfg["network"]["inactivity_s"] * 1000
    for entry in meter.links:
        link, send, task, last = entry
        link.poll(now)
        out = link.data_to_send()
        if out:
            send(out)
        if task is not None and limit and ticks_diff(now, last) > limit:
            log.info("TCP connection silent for %d s: closed", limit // 1000)
            entry[3] = now
            task.cancel()  # its finally closes the link and the socket


class Listener:
    """A TCP server whose accept loop outlives a full heap.

    MicroPython's ``asyncio.start_server`` accepts in a task that a
    MemoryError (making the new connection's stream, task or link) ends for
    good, with its socket still open: the port then takes connections that
    nobody serves, until a reboot. Here a connection the heap cannot hold is
    closed at once, logged, and the next one is accepted. The loop waits on
    the listening socket through asyncio's I/O queue, as MicroPython's own
    streams do; CPython (host runs) keeps ``asyncio.start_server``."""

    def __init__(self, kind, handler):
        self.kind = kind
        self.handler = handler  # handler(reader, writer): a coroutine
        self.server = None  # CPython's asyncio server
        self.sock = None
        self.task = None

    async def start(self, host, port):
        core = getattr(asyncio, "core", None)
        if core is None:
            self.server = await asyncio.start_server(self.handler, host, port)
            return
        import socket

        addr = socket.getaddrinfo(host, port)[0][-1]
        s = socket.socket()
        s.setblocking(False)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.bind(addr)
        s.listen(5)
        self.sock = s
        self.task = asyncio.create_task(self._accept(core, s))

    def _accept(self, core, s):
        # a generator, as MicroPython's stream methods. Waiting (the I/O
        # queue grows with the sockets), accepting and starting the
        # connection's task all allocate: whichever fails, the connection
        # in hand is closed and the loop goes on after a pause in which the
        # other tasks may free memory.
        while True:
            c = None
            try:
                yield core._io_queue.queue_read(s)
                c, _ = s.accept()
                c.setblocking(False)
                stream = asyncio.StreamReader(c)
                asyncio.create_task(self.handler(stream, stream))
            except OSError:
                pass  # the client went before it was accepted
            except MemoryError:
                if c is not None:
                    c.close()
                yield from asyncio.sleep_ms(100)
                try:
                    log.error("%s connection refused: out of memory", self.kind)
                except MemoryError:
                    pass

    async def close(self):
        if self.server is not None:
            self.server.close()
            await self.server.wait_closed()
        if self.task is not None:
            self.task.cancel()
            self.sock.close()


async def serve_tcp(owner, host, wrapper_port, hdlc_port, ends):
    """The wrapper and HDLC-over-TCP servers of the meter or the gateway
    (``owner``), entered in ``ends``; returns their Listeners."""
    servers = [
        Listener("wrapper", lambda r, w: serve_wrapper(owner, r, w)),
        Listener("HDLC", lambda r, w: serve_hdlc(owner, r, w)),
    ]
    await servers[0].start(host, wrapper_port)
    await servers[1].start(host, hdlc_port)
    ends.d["wrapper"] = {"host": host, "port": wrapper_port}
    ends.d["hdlc_tcp"] = {"host": host, "port": hdlc_port}
    return servers


# -- serial ports: HDLC over hal.uart -------------------------------------------------


async def run(meter, host, wrapper_port, hdlc_port, endpoints_path, ready=None, ptys=()):
    ends = Endpoints()
    servers = await serve_tcp(meter, host, wrapper_port, hdlc_port, ends)
    ends.path = endpoints_path
    ports = []
    if ptys:  # the serial side is loaded only when there are ports to serve
        from app.serial import serial_ports

        ports = serial_ports(meter, ptys, ends)
    ends.write(endpoints_path)
    print_banner(meter, host, wrapper_port, hdlc_port, ports)
    t = asyncio.create_task(tick(meter))
    pusher = asyncio.create_task(meter.push.run()) if meter.push else None
    if ports:
        from app.serial import serve_optical_iec, serve_port
    serial = [
        asyncio.create_task(
            serve_optical_iec(meter, p, links[0], iec) if iec else serve_port(meter, p, links)
        )
        for p, links, iec in ports
    ]
    try:
        while not meter.stopping:
            await asyncio.sleep_ms(200)
    finally:
        t.cancel()
        if pusher:
            pusher.cancel()
        for task in serial:
            task.cancel()
        for p, _, _ in ports:
            p.close()
        for s in servers:
            await s.close()


def print_banner(meter, host, wport, hport, ports=()):
    cfg = meter.cfg
    lines = [
        "Simulated meter %s running (MicroPython DLMS/COSEM)"
        % cfg["identity"]["logical_device_name"],
        "  TCP wrapper  %s:%d  (server wPort 1 = management logical device%s)"
        % (host, wport, ", %d = gas" % cfg["gas"]["sap"] if cfg["gas"]["enabled"] else ""),
        "  HDLC on TCP  %s:%d  (physical address %d, logical device 1%s)"
        % (
            host,
            hport,
            cfg["hdlc"]["physical_address"],
            ", %d = gas" % cfg["gas"]["sap"] if cfg["gas"]["enabled"] else "",
        ),
    ]
    for port, links, iec in ports:
        from hal.uart import line_text

        what = "%s  HDLC, %s" % (port.path, line_text(port.line))
        if iec:
            what = "%s  IEC 62056-21 at %s, mode E: HDLC at %d 8N1" % (
                port.path,
                line_text(port.line),
                cfg["serial"]["baudrate"],
            )
        if port.name == "optical":
            lines.append(
                "  optical      %s, physical address %d" % (what, links[0].physical_address)
            )
        else:
            lines.append(
                "  RS-485 bus   %s, meters at physical addresses %s"
                % (what, ", ".join(str(k.physical_address) for k in links))
            )
    if not ports:
        lines.append("  serial ports: none (start through python -m tools.pty_launcher)")
    lines.append("  clients:")
    for c in cfg["clients"]:
        auth = c["authentication"]
        if auth == "lls":
            # the simulator's default is shown; a real one never goes to a console
            pw = c["password"]
            auth = "LLS password %s" % (pw if pw == configuration.DEFAULT_PASSWORD else "(set)")
        lines.append("    %3d %-8s %s" % (c["sap"], c["level"], auth))
    lines.append("  e.g. python -m tools.dlms_client --port %d objects" % wport)
    lines.append("Ctrl-C stops.")
    print("\n".join(lines))


def parse_args(argv):
    opts = {
        "config": None,
        "host": None,
        "wrapper_port": None,
        "hdlc_port": None,
        "endpoints": "build/sim/endpoints.json",
        "quiet": False,
        "stats": False,
        "pty": [],
        "serial": [],
    }
    i = 0
    while i < len(argv):
        a = argv[i]
        if a in ("--quiet", "--stats"):
            opts[a[2:]] = True
            i += 1
            continue
        if not a.startswith("--") or i + 1 >= len(argv):
            raise SystemExit(
                "usage: app.main [--config FILE] [--host H] [--wrapper-port N] "
                "[--hdlc-port N] [--endpoints FILE] [--quiet] [--stats] [--pty NAME=FD:PATH] "
                "[--serial NAME=DEVICE]"
            )
        key = a[2:].replace("-", "_")
        if key not in opts:
            raise SystemExit("unknown option %s" % a)
        v = argv[i + 1]
        if key in ("pty", "serial"):
            opts[key].append(v)
        else:
            opts[key] = int(v) if key.endswith("port") else v
        i += 2
    return opts


def collect_early(share=8):
    """Collect garbage once 1/``share`` of the heap free after boot has been
    allocated, not only when an allocation fails: objects that outlive a
    request then sit among fewer holes, and the large buffers of the next
    connection still find room in a board's small heap."""
    if hasattr(gc, "threshold"):  # MicroPython's
        gc.collect()
        gc.threshold(max(4096, mem_free() // share))


def start(argv):
    """What the meter and the gateway (app.gateway) do first: the options,
    the configuration, the TCP endpoints. Returns (opts, cfg, host, wrapper
    port, HDLC port); a configuration that cannot be read or is refused
    ends the program with status 2."""
    opts = parse_args(sys.argv[1:] if argv is None else argv)
    if opts["quiet"]:
        log.level = 30
    try:
        cfg = configuration.load_file(opts["config"])
    except configuration.ConfigError as e:
        print("configuration refused: %s" % e)
        sys.exit(2)
    except OSError as e:
        print("cannot read the configuration: %s" % e)
        sys.exit(2)
    net = cfg["network"]
    host = opts["host"] or net["host"]
    wport = opts["wrapper_port"] if opts["wrapper_port"] is not None else net["wrapper_port"]
    hport = opts["hdlc_port"] if opts["hdlc_port"] is not None else net["hdlc_port"]
    return opts, cfg, host, wport, hport


def store_refused(cfg, e):
    # a store that holds data but does not mount is never formatted over
    # (its invocation counters would roll back): say so and stop
    print(
        "cannot open the flash store %s: %r; it was left untouched "
        "(move it away to start with an empty store)" % (cfg["store"]["path"], e)
    )
    sys.exit(2)


def main(argv=None):
    opts, cfg, host, wport, hport = start(argv)
    try:
        meter = Meter(cfg, opts["stats"])
    except OSError as e:
        store_refused(cfg, e)
    collect_early()
    try:
        asyncio.run(run(meter, host, wport, hport, opts["endpoints"], ptys=opts["pty"]))
    except KeyboardInterrupt:
        pass
    meter.model.shutdown()
    if meter.stats:
        print("stats " + json.dumps(meter.stats.report()))
    print("meter stopped")


if __name__ == "__main__":
    main()
