"""The simulated three-phase electricity meter, built from the configuration.

Objects sit at their standard OBIS codes (IEC 62056-6-1 / DLMS UA 1000-1 and
the IDIS/DSMR habits head-ends expect) and read their values from
``app.sim``: the same model serves a real meter with other providers.
"""

import log
from cosem.alarm import ALARM_FRAUD_ATTEMPT, ALARM_POWER_UP, AlarmFilter, AlarmRegister, Alarms
from cosem.association import AssociationLN
from cosem.base import LogicalDevice
from cosem.calendar import SpecialDaysTable, default_tariff_calendar
from cosem.clock import Clock
from cosem.control import DisconnectControl, Limiter
from cosem.data import Data
from cosem.flash_ring import FlashRingSource
from cosem.profile import ProfileGeneric, RingSource, SimulatedSource
from cosem.register import (
    UNIT_A,
    UNIT_HZ,
    UNIT_M3,
    UNIT_V,
    UNIT_W,
    UNIT_WH,
    DemandRegister,
    ExtendedRegister,
    Register,
)
from cosem.sap import SapAssignment
from dlms import axdr, obis
from dlms.server import ClientPolicy, Server
from hal.clock import SystemClock
from micropython import const

from app import sim
from app.energy import TariffEnergy

EVENT_POWER_UP = const(2)  # standard event log codes (DLMS UA / IDIS)
EVENT_CLOCK_ADJUSTED_OLD = const(4)
EVENT_CLOCK_ADJUSTED = const(5)
FIRMWARE_VERSION = "mpdlms 0.1.0"

U32 = axdr.DOUBLE_LONG_UNSIGNED
U16 = axdr.LONG_UNSIGNED


class Model:
    """What the app needs of the meter: the server and a periodic tick."""

    def __init__(self, server, clock, event_log, event_code):
        self.server = server
        self.clock = clock
        self.event_log = event_log
        self.event_code = event_code
        self.pushes = []  # cosem.push.PushSetup objects (app.push sends them)
        self.push_on_events = False

    alarms = None  # cosem.alarm.Alarms

    def event(self, code):
        """Log event ``code`` in the standard event log; a capture that
        cannot be stored (a flash error, a row too long) is logged, never
        raised to the caller."""
        self.event_code.value = (axdr.UNSIGNED, code)
        try:
            self.event_log.capture()
        except (OSError, ValueError) as e:
            log.error("event log capture failed: %r", e)
        if self.push_on_events:
            self.push_now()

    def alarm(self, bit):
        """Raise an alarm; a newly set bit (filter permitting) pushes when
        pushing on events is configured."""
        if self.alarms is not None and self.alarms.raise_alarm(bit) and self.push_on_events:
            self.push_now()

    def push_now(self):
        for p in self.pushes:
            p.request()

    periodic = ()  # profiles captured on their capture_period (flash-backed)
    monthly = ()  # billing profiles captured at the first local midnight of a month
    schedules = ()  # activity calendar, single action schedules: tick(prev, now, device)
    monitors = ()  # limiter, register monitors: tick()
    energy = None  # app.energy.TariffEnergy: the rate registers
    save_period = 900  # the energy split goes to flash this often (and at stop)
    device = None
    _prev = None

    def tick(self, now=None):
        """Once a second: the energy of (previous tick, now] to the tariff in
        force, then calendars and schedules over that interval (a switch at
        ``now`` counts from ``now``), monitors, and the periodic profiles at
        each period boundary in local time (a daily profile at local
        midnight, 23 or 25 hours apart across a daylight saving change)."""
        if now is None:
            now = self.clock.now()
        prev = self._prev
        if prev is None or prev > now:  # first tick, or the clock went back
            prev = now - 1
        self._prev = now
        energy = self.energy
        if energy is not None:
            energy.advance(now)
            if now // self.save_period != prev // self.save_period:
                energy.save()
        for sch in self.schedules:
            try:
                sch.tick(prev, now, self.device)
                if getattr(sch, "activated", False):  # a calendar activated: kept
                    sch.activated = False
                    if self.server.keeper is not None:
                        self.server.keeper(sch)
            except Exception as e:
                log.error("%r failed: %r", sch, e)
        for m in self.monitors:
            try:
                m.tick(now)
            except Exception as e:
                log.error("%r failed: %r", m, e)
        for p in self.periodic:
            period = p.capture_period
            if period:
                self._capture(p, self._boundary(now, period))
        if self.monthly:
            midnight = self._boundary(now, 86400)
            if self.clock.local_datetime(midnight).day == 1:
                for p in self.monthly:
                    self._capture(p, midnight)

    def clock_adjusted(self, old, new):
        """A client set the time: the standard event log gets "clock adjusted
        (old date/time)" stamped with the old time and "(new date/time)"
        with the new one; the energy of a skipped interval is split by the
        fixed schedule. Forward, the next tick still covers the skipped
        interval from the last tick: a passive calendar activation time or
        a schedule's execution time in it happens (at most once); back, the
        interval the clock goes through again is not run twice."""
        if self.energy is not None:
            self.energy.advance(old)
            self.energy.jump(new)
        if self._prev is not None and new < self._prev:
            self._prev = new
        for code, t in ((EVENT_CLOCK_ADJUSTED_OLD, old), (EVENT_CLOCK_ADJUSTED, new)):
            self.event_code.value = (axdr.UNSIGNED, code)
            try:
                self.event_log.capture(t)
            except (OSError, ValueError) as e:
                log.error("event log capture failed: %r", e)

    def _boundary(self, utc, period):
        """The last multiple of ``period`` in local time at or before ``utc``."""
        local = utc - self.clock.deviation(utc) * 60
        b = utc - local % period
        # on the day of a daylight saving change the boundary found with
        # today's offset is an hour off in the other one: move it there
        r = (b - self.clock.deviation(b) * 60) % period
        if r:
            b = b - r if r < period // 2 else b + period - r
        return b

    def _capture(self, p, b):
        src = p.source
        last = src.time(src.count() - 1) if src.count() else -1
        if b > last:
            try:
                p.capture(b)
            except (OSError, ValueError) as e:
                log.error("capture of %r failed: %r", p, e)

    def shutdown(self):
        """A clean stop: what is kept in RAM goes to flash."""
        if self.energy is not None:
            self.energy.save()


def _relay(on):
    # the simulator's breaker: a board wires a Pin here (boards/<name>/board.py)
    log.info("relay %s", "closed" if on else "open")


def _policies(cfg):
    from app.config import LEVELS, MECHANISMS, SECURITY

    out = {}
    for c in cfg["clients"]:
        pw = c.get("password")
        out[c["sap"]] = ClientPolicy(
            c["sap"],
            LEVELS[c["level"]],
            MECHANISMS[c["authentication"]],
            pw.encode() if pw else None,
            c["level"],
            SECURITY[c.get("security", "none")],
        )
    return out


def _keep_policies(store, policies):
    # what clients change of their policies (the secret: the attribute and
    # change_HLS_secret; security_activate) outlives a reboot, as the keys
    # do: as saved, else as configured. Record: security bits, secret.
    def save(p):
        _save(store, "client.%d" % p.sap, bytes((p.security,)) + (p.secret or b""))

    for p in policies.values():
        rec = _load(store, "client.%d" % p.sap)
        if rec:
            p.security = rec[0] & 0x30
            p.secret = bytes(rec[1:]) or None
        p.on_change = save


def security_context(cfg, store=None):
    """The SecurityContext of the configuration, or None when no client needs one.

    With a ``store`` (hal.store) the server's invocation counter and the
    clients' last accepted counters persist across reboots and power cuts."""
    from app.config import unhex

    push = cfg["push"]
    if not any(
        c.get("security", "none") != "none" or c["authentication"] in ("hls-gmac", "hls-sha256")
        for c in cfg["clients"]
    ) and not (push["enabled"] and push["security"] != "none"):
        return None
    from dlms.security.context import SecurityContext

    s = cfg["security"]
    counter = guard_factory = None
    keys = {
        0: unhex(s["block_cipher_key"]),
        2: unhex(s["authentication_key"]),
        3: unhex(s["master_key"]),
    }
    if store is not None:
        from dlms.security.counter import InvocationCounter, ReplayGuard

        counter = InvocationCounter(store, "ic.server", s["counter_stride"])

        def guard_factory(name):
            return ReplayGuard(store, "ic.c." + name)

        keys.update(_load_keys(store))
    ctx = SecurityContext(
        unhex(s["system_title"]),
        keys[0],
        keys[2],
        keys[3],
        keys.get(1),
        suite=s["suite"],
        counter=counter,
        guard_factory=guard_factory,
        on_change=(lambda c: _save_keys(store, c)) if store is not None else None,
    )
    return ctx


def _load_keys(store):
    # keys changed by key transfer outlive the configuration: id, length, key...
    rec = store.get("keys") or b""
    out = {}
    i = 0
    while i + 2 <= len(rec):
        n = rec[i + 1]
        out[rec[i]] = bytes(rec[i + 2 : i + 2 + n])
        i += 2 + n
    return out


def _save_keys(store, ctx):
    rec = bytearray()
    for key_id in sorted(ctx.keys):
        k = ctx.keys[key_id]
        rec += bytes((key_id, len(k))) + k
    store.put("keys", bytes(rec))


def _associations(device, policies):
    device.associations = {}
    for i, sap in enumerate(sorted(policies, key=lambda s: (s != 16, s))):
        a = AssociationLN("0.0.40.0.%d.255" % (i + 1), device, policies[sap])
        device.add(a)
        device.associations[sap] = a


def build_meter(cfg, hal_clock=None, store=None, relay=None):
    """The meter's Model. ``relay(on)``: the breaker (a board's Pin, from
    board.py); without one the simulator logs the switching."""
    hal_clock = hal_clock or SystemClock()
    security = security_context(cfg, store)
    s = sim.Simulation(sim.Tariffs(utc_offset=-cfg["clock"]["time_zone"] * 60))
    policies = _policies(cfg)
    if store is not None:
        _keep_policies(store, policies)
    ident = cfg["identity"]
    mgmt = LogicalDevice(1, ident["logical_device_name"].encode())
    devices = {1: mgmt}
    clock = Clock(
        "0.0.1.0.0.255",
        hal_clock,
        time_zone=cfg["clock"]["time_zone"],
        dst_enabled=cfg["clock"]["dst"],
    )
    now = clock.now

    add = mgmt.add
    add(Data("0.0.42.0.0.255", (axdr.OCTET_STRING, mgmt.name), public=True, writable=()))
    add(clock)
    add(
        Data(
            "0.0.96.1.0.255",
            (axdr.OCTET_STRING, ident["serial"].encode()),
            public=True,
            writable=(),
        )
    )
    add(
        Data(
            "1.0.0.2.0.255",
            (axdr.OCTET_STRING, FIRMWARE_VERSION.encode()),
            public=True,
            writable=(),
        )
    )
    # The current tariff: written by the activity calendar's scripts (07:00 -> 1,
    # 23:00 -> 2, local time); special days may give a day tariff 2 throughout.
    add(Data("0.0.96.14.0.255", (axdr.UNSIGNED, s.tariffs.active(now()))))
    special_days = add(SpecialDaysTable("0.0.11.0.0.255"))
    calendar, scripts = default_tariff_calendar(clock, special_days)
    add(scripts)
    add(calendar)

    # Energy (Wh, scaler 0): total and per tariff, import and export; the
    # rates follow the tariff register (app.energy)
    tariff_reg = mgmt.find(obis.parse("0.0.96.14.0.255"))
    energy = TariffEnergy(
        [(s.import_ws, s.import_split), (s.export_ws, s.export_split)],
        2,
        lambda: tariff_reg.value[1],
        now(),
        store,
    )

    def energy_wh(channel, rate):
        energy.advance(now())
        return energy.wh(channel, rate)

    for c in (1, 2):
        for tariff in (0, 1, 2):
            add(
                Register(
                    "1.0.%d.8.%d.255" % (c, tariff),
                    U32,
                    (lambda c=c, t=tariff: energy_wh(c - 1, t)),
                    0,
                    UNIT_WH,
                    writable=(),
                )
            )
    # Instantaneous values: power (W), voltage (0.1 V), current (0.01 A), frequency
    add(Register("1.0.1.7.0.255", U32, lambda: int(s.power(now())), 0, UNIT_W, writable=()))
    add(Register("1.0.2.7.0.255", U32, lambda: int(s.export_power(now())), 0, UNIT_W, writable=()))
    for ph in (1, 2, 3):
        base = 20 * (ph - 1)
        add(
            Register(
                "1.0.%d.7.0.255" % (21 + base),
                U32,
                (lambda ph=ph: int(s.power(now(), ph))),
                0,
                UNIT_W,
                writable=(),
            )
        )
        add(
            Register(
                "1.0.%d.7.0.255" % (32 + base),
                U16,
                (lambda ph=ph: int(s.voltage(now(), ph) * 10 + 0.5)),
                -1,
                UNIT_V,
                writable=(),
            )
        )
        add(
            Register(
                "1.0.%d.7.0.255" % (31 + base),
                U16,
                (lambda ph=ph: int(s.current(now(), ph) * 100 + 0.5)),
                -2,
                UNIT_A,
                writable=(),
            )
        )
    add(
        Register(
            "1.0.14.7.0.255",
            U16,
            lambda: int(s.frequency(now()) * 100 + 0.5),
            -2,
            UNIT_HZ,
            writable=(),
        )
    )
    # Maximum demand style objects
    add(
        ExtendedRegister(
            "1.0.1.6.0.255",
            U32,
            lambda: int(s.power(now()) * 1.4),
            0,
            UNIT_W,
            clock=clock,
            writable=(),
        )
    )
    add(
        DemandRegister(
            "1.0.1.4.0.255",
            U32,
            lambda a, b: (s.import_wh(b) - s.import_wh(a)) * 3600,  # W s
            clock,
            0,
            UNIT_W,
            period=900,
        )
    )

    # Load profile: 15-minute energy, simulated history computed on the fly
    lp = cfg["load_profile"]
    status = Data("0.0.96.10.1.255", (axdr.UNSIGNED, 0), writable=())
    add(status)

    def row_at(t):
        return [
            (axdr.OCTET_STRING, clock.local_datetime(t).to_bytes()),
            (axdr.UNSIGNED, 0),
            (U32, s.import_wh(t)),
            (U32, s.export_wh(t)),
        ]

    find = mgmt.find
    if lp["source"] == "flash" and store is not None:
        source = FlashRingSource(store, "lp", lp["entries"], 48)
    else:
        source = SimulatedSource(lp["period"], lp["entries"], row_at, clock)
    load_profile = add(
        ProfileGeneric(
            "1.0.99.1.0.255",
            source,
            [
                (clock, 2),
                (status, 2),
                (find(obis.parse("1.0.1.8.0.255")), 2),
                (find(obis.parse("1.0.2.8.0.255")), 2),
            ],
            capture_period=lp["period"],
            clock=hal_clock,
        )
    )
    # Event logs (standard, fraud, disconnector, power quality; DSMR 5 numbering):
    # clock and event code, in flash when there is a store, else in RAM.
    n = cfg["event_log"]["entries"]

    def ring(name, entries, record_size):
        if store is None:
            return RingSource(entries)
        return FlashRingSource(store, name, entries, record_size)

    logs = []
    for e in (0, 1, 2, 5):
        code = add(Data("0.0.96.11.%d.255" % e, (axdr.UNSIGNED, 0), writable=()))
        log_obj = add(
            ProfileGeneric(
                "0.0.99.98.%d.255" % e,
                ring("ev%d" % e, n, 32),
                [(clock, 2), (code, 2)],
                capture_period=0,
                clock=hal_clock,
            )
        )
        logs.append((code, log_obj))
    event_code, event_log = logs[0]
    # Daily billing values, captured at each UTC midnight (in flash with a store)
    daily = add(
        ProfileGeneric(
            "1.0.98.1.0.255",
            ring("daily", cfg["daily_profile"]["entries"], 48),
            [
                (clock, 2),
                (find(obis.parse("1.0.1.8.1.255")), 2),
                (find(obis.parse("1.0.1.8.2.255")), 2),
                (find(obis.parse("1.0.2.8.1.255")), 2),
                (find(obis.parse("1.0.2.8.2.255")), 2),
            ],
            capture_period=86400,
            clock=hal_clock,
        )
    )
    # Monthly billing values (IDIS "data of billing period 1"), captured at
    # the first local midnight of each month: two years
    monthly = add(
        ProfileGeneric(
            "0.0.98.1.0.255",
            ring("monthly", 24, 64),
            [(clock, 2)]
            + [(find(obis.parse("1.0.%d.8.%d.255" % (c, t))), 2) for c in (1, 2) for t in range(3)],
            capture_period=0,
            clock=hal_clock,
        )
    )
    add(SapAssignment("0.0.41.0.0.255", devices))
    if security is not None:
        from cosem.security_setup import SecuritySetup

        add(SecuritySetup("0.0.43.0.0.255", security))
    pushes = []
    if cfg["push"]["enabled"]:
        from app.push import add_push_setup

        pushes.append(add_push_setup(mgmt, clock, cfg["push"]))
    _associations(mgmt, policies)

    gas = cfg["gas"]
    if gas["enabled"]:
        g = LogicalDevice(gas["sap"], gas["logical_device_name"].encode())
        g.add(Data("0.0.42.0.0.255", (axdr.OCTET_STRING, g.name), public=True, writable=()))
        g.add(
            Register(
                "7.0.3.0.0.255", U32, lambda: int(s.gas_m3(now()) * 1000), -3, UNIT_M3, writable=()
            )
        )
        g.add(
            Register(
                "7.0.3.1.0.255", U32, lambda: int(s.gas_m3(now()) * 1000), -3, UNIT_M3, writable=()
            )
        )
        _associations(g, policies)
        devices[gas["sap"]] = g

    from dlms.lls_guard import LlsGuard

    server = Server(
        devices,
        policies,
        max_pdu=cfg["max_pdu"],
        clock=clock,
        security=security,
        lls_guard=LlsGuard(store),
    )
    server.reserve()  # the first client's response buffer, made while the heap is whole
    # Disconnect control and a limiter on the import power that opens it; the
    # control state and mode persist, so a power cut leaves the supply as it was
    state, mode = _load_control(store)
    dc = add(
        DisconnectControl(
            "0.0.96.3.10.255", relay=relay or _relay, control_mode=mode, control_state=state
        )
    )
    if store is not None:
        dc.on_change = lambda st, md: _save(store, "dc", bytes((st, md)))

    def execute(script_ln, selector):
        # the disconnect script table's selectors (0.0.10.0.106.255): 1 open, 2 close
        if selector == 1:
            dc.local_disconnect()
        elif selector == 2:
            dc.local_reconnect()

    limiter = add(
        Limiter(
            "0.0.17.0.0.255",
            mgmt,
            clock,
            (3, obis.parse("1.0.1.7.0.255"), 2),
            (U32, 15000),
            (U32, 5000),
            60,
            60,
            (obis.parse("0.0.10.0.106.255"), 1),
            (obis.parse("0.0.10.0.106.255"), 2),
            execute=execute,
        )
    )
    # Alarm register and filter (in flash with a store): power up, fraud
    # attempts (an LLS client locked out)
    reg, filt = _load_alarms(store)
    alarm_register = add(AlarmRegister("0.0.97.98.0.255", reg))
    alarm_filter = add(AlarmFilter("0.0.97.98.10.255", filt))
    if store is not None:

        def save_alarms():
            v = (alarm_register.value[1] << 32) | alarm_filter.value[1]
            _save(store, "alarms", v.to_bytes(8, "big"))

        alarm_register.on_change = alarm_filter.on_change = save_alarms

    model = Model(server, clock, event_log, event_code)
    model.alarms = Alarms(alarm_register, alarm_filter)
    server.lls_guard.on_lockout = lambda sap: model.alarm(ALARM_FRAUD_ATTEMPT)
    model.device = mgmt
    model.schedules = (calendar,)
    model.monitors = (limiter,)
    model.periodic = (daily,)
    if not isinstance(load_profile.source, SimulatedSource):
        model.periodic = (daily, load_profile)
    model.monthly = (monthly,)
    model.energy = energy
    clock.on_adjust = model.clock_adjusted
    model.pushes = pushes
    model.push_on_events = cfg["push"]["on_events"]
    if store is not None:
        keep_settings(store, server)
    model.event(EVENT_POWER_UP)
    model.alarm(ALARM_POWER_UP)
    return model


def keep_settings(store, server):
    """What clients set of the objects' configuration (their KEEP
    attributes: time zone, calendars, special days, thresholds, pushes,
    scripts, schedules, capture periods) outlives a reboot: one A-XDR
    record per object, written when a client changed it, put back here
    with ``restore`` (no SET's side effects). Nothing is written at boot;
    a record that no longer fits the object is logged and left."""
    import binascii

    def name(obj):
        return "k" + binascii.hexlify(obj.ln).decode()

    def save(obj):
        try:
            values = [obj.get(a, None) for a in obj.KEEP]
            _save(store, name(obj), axdr.to_bytes((axdr.STRUCTURE, values)))
        except Exception as e:  # a value that does not encode: not kept
            log.error("%r not kept: %r", obj, e)

    server.keeper = save
    for dev in server.devices.values():
        for obj in dev.objects.values():
            if not obj.KEEP:
                continue
            rec = _load(store, name(obj))
            if not rec:
                continue
            try:
                values = axdr.decode(rec)[0][1]
                for a, v in zip(obj.KEEP, values):
                    obj.restore(a, v)
            except Exception as e:
                log.error("%r: kept settings not restored: %r", obj, e)


def _save(store, name, data):
    try:
        store.put(name, data)
    except OSError as e:
        log.error("%s not saved: %r", name, e)


def _load(store, name, size=None):
    """The record ``name`` (of ``size`` octets when given), or None: none,
    of another size, or unreadable (logged)."""
    if store is None:
        return None
    try:
        rec = store.get(name)
    except OSError as e:
        log.error("%s unreadable: %r", name, e)
        return None
    return rec if rec is not None and (size is None or len(rec) == size) else None


def _load_control(store):
    """(control_state, control_mode) of the disconnect control: as saved,
    else connected in mode 1."""
    rec = _load(store, "dc", 2)
    if rec is None or rec[0] > 2 or rec[1] > 6:
        return 1, 1
    return rec[0], rec[1]


def _load_alarms(store):
    """(alarm register, alarm filter): as saved, else nothing raised, all enabled."""
    rec = _load(store, "alarms", 8)
    if rec is None:
        return 0, 0xFFFFFFFF
    v = int.from_bytes(rec, "big")
    return v >> 32, v & 0xFFFFFFFF


def makedirs(d):
    import os

    parts = d.split("/")
    cur = ""
    for p in parts:
        cur = cur + "/" + p if cur or d.startswith("/") else p
        if not p:
            continue
        try:
            os.mkdir(cur)
        except OSError:
            pass


def open_flash(scfg):
    """The flash store (hal.store on a littlefs image), or None without a path."""
    path = scfg["path"]
    if not path:
        return None
    from hal.store import open_store

    if "/" in path:
        makedirs(path.rsplit("/", 1)[0])
    return open_store(path, scfg["blocks"], 512)
