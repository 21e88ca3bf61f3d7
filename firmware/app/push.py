"""Pushing: the meter's Push setup objects sent as DATA-NOTIFICATIONs.

Sans-IO core, then the asyncio transport:

- ``Periodic``: the simple schedule the app configures (a push every N
  seconds, on multiples of N in UTC) until a Single action schedule exists.
- ``PushJob``: one Push setup's push in progress (Blue Book 4.4.8): it is
  taken from ``setup.pending`` (method 1, the schedule, an event), waits for
  a communication window, then a random 0..randomisation_start_interval
  seconds, and makes 1 + number_of_retries attempts at most,
  repetition_delay seconds apart, inside the windows. ``poll(now)`` says
  when to attempt, ``result(ok, now)`` what came of it. Time and randomness
  are passed in.
- ``build_frame``: the wrapper frame of one push: the DATA-NOTIFICATION of
  the push_object_list's values, general-glo-ciphered when the push's
  security says so (dlms.notification), source wPort the logical device's
  SAP (1, the management logical device), destination wPort the push client
  (16 by default: the client address gurux-dlms's push listener expects).
  Built once per push; a retry sends the same octets (same invocation
  counter: a receiver that got the first drops the repeat).
- ``PushSender``: the asyncio task. Every ``interval`` seconds it polls the
  jobs; an attempt opens a TCP connection to the destination, writes the
  frame and closes. Data-notification is unconfirmed: an attempt succeeds
  when the connection took the octets.
"""

import asyncio
import os

import log
from compat import bounded
from cosem.push import PushSetup
from dlms import axdr, notification, obis, wrapper
from dlms.errors import BufferFull
from dlms.security.cipher import SecurityError
from micropython import const

PUSH_SETUP_LN = "0.0.25.9.0.255"  # Push setup, the first instance (IEC 62056-6-1)
CLIENT_WPORT = const(16)
MAX_APDU = const(2048)
CONNECT_TIMEOUT_MS = const(10000)

# What the meter pushes by default after its own logical name (a HAN-like
# snapshot): device id, clock, energy and power, import and export.
DEFAULT_OBJECTS = (
    ("0.0.96.1.0.255", 2),
    ("0.0.1.0.0.255", 2),
    ("1.0.1.8.0.255", 2),
    ("1.0.2.8.0.255", 2),
    ("1.0.1.7.0.255", 2),
    ("1.0.2.7.0.255", 2),
)


def random_below(n):
    """A random integer 0..n (os.urandom: the same on the boards and hosts)."""
    if n <= 0:
        return 0
    return int.from_bytes(os.urandom(4), "big") % (n + 1)


class Periodic:
    """True once per ``period`` seconds, at UTC multiples of it (0: never)."""

    def __init__(self, period):
        self.period = period
        self.last = None

    def fire(self, now):
        p = self.period
        if p <= 0:
            return False
        b = now - now % p
        if self.last is None:
            self.last = b  # the first boundary after the start counts
            return False
        if b > self.last:
            self.last = b
            return True
        return False


class PushJob:
    """One Push setup's pushing, sans-IO (see the module docstring)."""

    def __init__(self, setup, rand=random_below, period=0):
        self.setup = setup
        self.rand = rand
        self.periodic = Periodic(period)
        self.active = False  # a push is in progress
        self.attempt = 0  # attempts made for it
        self.due = None  # UTC of the next attempt (None: not yet fixed)
        self.frame = None  # the frame of the push in progress, once built
        self.pushed = 0  # pushes that went out
        self.failed = 0  # pushes given up

    def poll(self, now):
        """True when an attempt is to be made now."""
        s = self.setup
        if self.periodic.fire(now):
            s.request()
        if not self.active:
            if not s.pending:
                return False
            s.pending = False
            self.active = True
            self.attempt = 0
            self.due = None
            self.frame = None
        if not s.in_window(now):
            if self.attempt == 0:
                self.due = None  # the random start is drawn in the next window
            return False
        if self.due is None:
            self.due = now + self.rand(s.randomisation_start_interval)
        return now >= self.due

    def result(self, ok, now):
        """What came of the attempt poll() asked for: True when it is over."""
        self.attempt += 1
        if ok:
            self.pushed += 1
            self._end()
            return True
        if self.attempt > self.setup.number_of_retries:
            self.failed += 1
            self._end()
            return True
        self.due = now + self.setup.repetition_delay
        return False

    def abandon(self):
        """Give the push up (it cannot be built)."""
        self.failed += 1
        self._end()

    def _end(self):
        self.active = False
        self.due = None
        self.frame = None


def build_frame(
    setup,
    now,
    security=None,
    sc=0,
    source=1,
    dest=CLIENT_WPORT,
    max_apdu=MAX_APDU,
    invoke_id=None,
):
    """The wrapper frame of a push of ``setup`` at UTC ``now``. ``sc``: the
    protection (0, 0x10, 0x20, 0x30) under SecurityContext ``security``.
    BufferFull when the APDU is over ``max_apdu`` octets, SecurityError when
    the invocation counter is exhausted."""
    if invoke_id is None:
        invoke_id = setup.next_invoke_id()
    w = axdr.Writer(max_apdu)
    notification.write_head(w, notification.long_invoke_id(invoke_id), setup.date_time(now))
    for p in setup.body_pieces(now):
        w.write(p)
    apdu = w.getvalue()
    if sc & 0x30:
        if security is None:
            raise SecurityError("a protected push needs the security context")
        apdu = notification.protect(security, sc, apdu)
        if len(apdu) > max_apdu:
            raise BufferFull("ciphered push of %d octets" % len(apdu))
    return wrapper.encode(source, dest, apdu)


class PushSender:
    """The asyncio side: polls the jobs and sends what is due.

    ``clock``: now() in UTC seconds (the cosem Clock). ``security``: the
    SecurityContext, ``sc`` the protection of pushes (0: plain). ``connect``:
    asyncio.open_connection or a stand-in (tests). ``on_interrupt``: called
    when Ctrl-C lands in this task (the app stops the meter)."""

    def __init__(
        self,
        setups,
        clock,
        security=None,
        sc=0,
        client_wport=CLIENT_WPORT,
        period=0,
        max_apdu=MAX_APDU,
        rand=random_below,
        connect=None,
        timeout_ms=CONNECT_TIMEOUT_MS,
        on_interrupt=None,
    ):
        self.jobs = [PushJob(s, rand, period) for s in setups]
        self.clock = clock
        self.security = security
        self.sc = sc
        self.client_wport = client_wport
        self.max_apdu = max_apdu
        self.connect = connect or asyncio.open_connection
        self.timeout_ms = timeout_ms
        self.on_interrupt = on_interrupt

    @staticmethod
    def from_config(model, pcfg, on_interrupt=None):
        """The sender of ``model.pushes`` as the ``push`` configuration says."""
        from app.config import SECURITY

        return PushSender(
            model.pushes,
            model.clock,
            model.server.security,
            SECURITY[pcfg["security"]],
            pcfg["client_wport"],
            pcfg["period"],
            on_interrupt=on_interrupt,
        )

    def frame(self, job, now):
        s = job.setup
        return build_frame(
            s, now, self.security, self.sc, s.device.sap, self.client_wport, self.max_apdu
        )

    async def step(self):
        """Poll every job once and make the attempts that are due."""
        for job in self.jobs:
            now = self.clock.now()
            if not job.poll(now):
                continue
            if job.frame is None:
                try:
                    job.frame = self.frame(job, now)
                except (BufferFull, SecurityError, ValueError) as e:
                    log.warning("push %s not built: %r", obis.dotted(job.setup.ln), e)
                    job.abandon()
                    continue
            ok = await self.send(job.setup, job.frame)
            job.result(ok, self.clock.now())

    async def send(self, setup, frame):
        """One attempt: connect, write, close. True if the octets went."""
        name = obis.dotted(setup.ln)
        try:
            host, port = setup.address()
            reader, writer = await self._open(host, port)
        except (OSError, ValueError) as e:
            log.warning("push %s: no connection to %s: %r", name, setup.destination, e)
            return False
        ok = True
        try:
            writer.write(frame)
            await writer.drain()
            log.info("push %s: %d octets to %s:%d", name, len(frame), host, port)
        except OSError as e:
            log.warning("push %s: sending to %s:%d failed: %r", name, host, port, e)
            ok = False
        try:
            writer.close()
            await writer.wait_closed()
        except OSError:
            pass
        return ok

    async def _open(self, host, port):
        # a connect bounded by timeout_ms
        msg = "connect timed out after %d ms"
        return await bounded(self.connect(host, port), self.timeout_ms, OSError, msg)

    async def run(self, interval=1):
        """Poll every ``interval`` seconds until cancelled."""
        try:
            while True:
                try:
                    await self.step()
                except MemoryError as e:
                    # a full heap: the attempts due now are made next time
                    log.error("push: out of memory (%r)", e)
                await asyncio.sleep(interval)
        except KeyboardInterrupt:
            if self.on_interrupt is None:
                raise
            self.on_interrupt()


def add_push_setup(device, clock, pcfg, ln=PUSH_SETUP_LN, objects=DEFAULT_OBJECTS):
    """A PushSetup in ``device`` from the ``push`` configuration. Its
    push_object_list is its own logical name, then the (logical name,
    attribute) of ``objects`` that the device has."""
    setup = PushSetup(
        ln,
        device,
        destination=pcfg["destination"],
        randomisation_start_interval=pcfg["randomisation_start_interval"],
        number_of_retries=pcfg["number_of_retries"],
        repetition_delay=pcfg["repetition_delay"],
        clock=clock,
    )
    device.add(setup)
    for text, attr in objects:
        obj = device.find(obis.parse(text))
        if obj is not None:
            setup.objects.append((obj.CLASS_ID, obj.ln, attr, 0))
    return setup
