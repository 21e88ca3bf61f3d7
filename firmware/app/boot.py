"""Boot a board into the meter: ``boot.run(board)`` from boards/<name>/main.py.

The steps, in order, each printed on the console:

1. Safe mode: the board's safe-mode pin held at its active level -> the
   application is skipped and the REPL stays free (nothing else runs, no
   watchdog: a board stuck in a reset loop is recovered this way).
2. The meter's configuration from flash (``board.CONFIG_PATH``, the JSON of
   app/config.py, written by ``make deploy``) and the boot settings
   (``board.SETTINGS_PATH``: Wi-Fi, NTP, watchdog; ``SETTINGS`` below). A
   configuration that is refused is reported by field and nothing runs.
3. Provisioning: keys and passwords come from a host-side file at deploy time
   (tools/deploy.py) and are never in the repository. A configuration without
   its own (no file, or the simulator's example keys or passwords:
   app.config.simulator_defaults_in_use) boots into the "not provisioned"
   state: it says so and serves nothing.
4. The watchdog (``machine.WDT``, ``watchdog_ms``), started only now so that
   the states above leave a usable REPL. The application feeds it once a
   second from its tick task (``app.main.feed``), so a stalled event loop
   resets the board; the waits below feed it too.
5. The network: Wi-Fi (SSID and password from the provisioning file) or
   Ethernet, with retries and a doubling pause between them (1 s, 2 s, 4 s,
   ... at most 30 s). Without it the meter still serves its serial ports.
6. Time: the RTC keeps UTC; with ``ntp.host`` set and the network up, NTP
   sets it (``ntptime.settime``), with retries. A clock before 2024 is
   reported as not set.
7. The meter (app.main) with the board's serial ports (``--pty NAME=board``),
   or with ``"role": "gateway"`` app.gateway on the board's UART named by
   ``gateway.input`` (``p1``, ``han`` or ``optical``).

Everything that touches hardware comes from the ``board`` module (or any
object with the same names), so the unix tests drive it with small fakes:

- ``NAME``, ``CONFIG_PATH``, ``SETTINGS_PATH``;
- ``safe_mode_pin()``: ``(pin, active_level)`` or None;
- ``watchdog(timeout_ms)``: an object with ``feed()`` (machine.WDT), or None;
- ``network()``: a network interface (``network.WLAN(STA_IF)``, ``network.LAN()``)
  or None when the board has none (or, on unix, uses the host's);
  ``NETWORK``: "wifi" (needs an SSID) or "ethernet";
- ``ntp()``: the ``ntptime`` module, or None;
- ``led()``: ``led(on)`` or None;
- ``serial_args(cfg)``: app.main options for the board's serial ports.

``run()`` returns what happened (SAFE_MODE, NOT_PROVISIONED, REFUSED,
STOPPED) for the tests; on a board main.py then ends at the REPL.
"""

import gc
import json
import time

import log
from hal.clock import SystemClock
from micropython import const

from app import config as configuration

SAFE_MODE = "safe mode"
NOT_PROVISIONED = "not provisioned"
REFUSED = "configuration refused"
STOPPED = "stopped"

_PLAUSIBLE = const(1704067200)  # 2024-01-01T00:00:00Z: an RTC before it was never set
_PAUSE_FIRST_MS = const(1000)
_PAUSE_MAX_MS = const(30000)
_FEED_MS = const(1000)  # the longest wait without feeding the watchdog

# The running watchdog (machine.WDT), kept where tools/deploy.py finds it to
# feed it while copying files after interrupting the application.
wdt = None

# The boot settings (SETTINGS_PATH), merged over these like app.config does.
SETTINGS = {
    "wifi": {"ssid": None, "password": None},
    "connect": {"attempts": 8, "timeout_s": 20},
    "ntp": {"host": None, "attempts": 3},
    "watchdog_ms": 30000,  # 0: no watchdog; STM32's IWDG goes up to 32768
}


def _merge(base, over, path):
    if not isinstance(over, dict):
        raise configuration.ConfigError("%s: must be an object" % (path or "settings"))
    out = dict(base)
    for k, v in over.items():
        p = path + "." + k if path else k
        if k not in base:
            raise configuration.ConfigError("%s: unknown field" % p)
        out[k] = _merge(base[k], v, p) if isinstance(base[k], dict) else v
    return out


def _optional_text(v, path):
    if v is not None and (not isinstance(v, str) or len(v) > 64):
        raise configuration.ConfigError(
            "%s: must be null or a string of at most 64 characters" % path
        )


def _count(v, path, lo, hi):
    if isinstance(v, bool) or not isinstance(v, int) or not lo <= v <= hi:
        raise configuration.ConfigError("%s: must be an integer from %d to %d" % (path, lo, hi))


def load_settings(text=None):
    """The boot settings from JSON text over SETTINGS (None: the defaults);
    ConfigError names the field."""
    over = {}
    if text:
        try:
            over = json.loads(text)
        except ValueError as e:
            raise configuration.ConfigError("settings: not valid JSON (%s)" % e)
    s = _merge(SETTINGS, over, "")
    _optional_text(s["wifi"]["ssid"], "wifi.ssid")
    _optional_text(s["wifi"]["password"], "wifi.password")
    _count(s["connect"]["attempts"], "connect.attempts", 1, 1000)
    _count(s["connect"]["timeout_s"], "connect.timeout_s", 1, 300)
    _optional_text(s["ntp"]["host"], "ntp.host")
    _count(s["ntp"]["attempts"], "ntp.attempts", 1, 100)
    w = s["watchdog_ms"]
    if w != 0:
        _count(w, "watchdog_ms", 1000, 3600000)
    return s


def _read(path):
    with open(path) as f:
        return f.read()


def provisioning_problem(cfg):
    """Why ``cfg`` may not run on a board (None: provisioned)."""
    if configuration.simulator_defaults_in_use(cfg):
        return "its keys or passwords are the simulator's examples"
    return None


def _sleep_ms(ms):
    time.sleep(ms / 1000)


def pause(ms, feed, sleep_ms=_sleep_ms):
    """Wait ``ms``, feeding the watchdog at least once a second."""
    while ms > 0:
        step = ms if ms < _FEED_MS else _FEED_MS
        sleep_ms(step)
        feed()
        ms -= step


def safe_mode(board, sleep_ms=_sleep_ms, out=print):
    """True if the board's safe-mode pin is held. A board whose button also
    selects the ROM bootloader at reset (ESP32's BOOT) gives a window
    (``SAFE_MODE_WINDOW_MS``) to press it in after the reset."""
    make = getattr(board, "safe_mode_pin", None)
    got = make() if make is not None else None
    if got is None:
        return False
    pin, active = got
    window = getattr(board, "SAFE_MODE_WINDOW_MS", 0)
    if window:
        out("boot: hold the safe-mode button now to skip the application")
        sleep_ms(window)
    return pin.value() == active


def connect_network(nic, ssid, password, attempts, timeout_ms, feed, sleep_ms=_sleep_ms):
    """Bring ``nic`` up: Wi-Fi with ``ssid`` (None: Ethernet, just wait for
    the link and DHCP). Up to ``attempts`` tries of ``timeout_ms`` each, the
    pause between them doubling from 1 s to 30 s. True once connected."""
    nic.active(True)
    wait = _PAUSE_FIRST_MS
    for n in range(1, attempts + 1):
        if ssid is not None:
            try:
                nic.connect(ssid, password)
            except OSError as e:
                log.warning("network: connect failed: %r", e)
        left = timeout_ms
        while left > 0:
            if nic.isconnected():
                log.info("network: up after %d attempt(s), address %s", n, nic.ifconfig()[0])
                return True
            step = 200 if left > 200 else left
            sleep_ms(step)
            feed()
            left -= step
        if nic.isconnected():
            log.info("network: up after %d attempt(s), address %s", n, nic.ifconfig()[0])
            return True
        log.warning("network: attempt %d of %d failed (status %r)", n, attempts, _status(nic))
        if ssid is not None:
            try:
                nic.disconnect()
            except OSError:
                pass
        if n < attempts:
            pause(wait, feed, sleep_ms)
            wait = wait * 2 if wait * 2 < _PAUSE_MAX_MS else _PAUSE_MAX_MS
    return False


def _status(nic):
    try:
        return nic.status()
    except (AttributeError, OSError, TypeError):
        return None


def set_time(ntp, host, attempts, feed, sleep_ms=_sleep_ms):
    """The RTC from NTP (``ntptime``: UTC), with ``attempts`` tries."""
    ntp.host = host
    wait = _PAUSE_FIRST_MS
    for n in range(1, attempts + 1):
        try:
            ntp.settime()
            log.info("time: set from NTP (%s)", host)
            return True
        except (OSError, OverflowError, IndexError) as e:
            log.warning("time: NTP attempt %d of %d failed: %r", n, attempts, e)
        feed()
        if n < attempts:
            pause(wait, feed, sleep_ms)
            wait = wait * 2 if wait * 2 < _PAUSE_MAX_MS else _PAUSE_MAX_MS
    return False


def _nothing():
    pass


def _led(board, on):
    make = getattr(board, "led", None)
    drive = make() if make is not None else None
    if drive is not None:
        drive(on)


def start_meter(argv, feed):
    """app.main with ``feed`` as its watchdog hook."""
    from app import main as meter_main

    meter_main.feed = feed
    try:
        meter_main.main(argv)
    finally:
        meter_main.feed = None


def start_gateway(argv, feed):
    """app.gateway with ``feed`` as its watchdog hook (its tick is app.main's)."""
    from app import gateway
    from app import main as meter_main

    meter_main.feed = feed
    try:
        gateway.main(argv)
    finally:
        meter_main.feed = None


def run(board, config_path=None, settings_path=None, app_args=(), start=start_meter, **kw):
    """The boot sequence of the module docstring; returns what happened.
    ``kw`` for the tests: ``sleep_ms``, ``now`` (UTC seconds), ``out`` (print)."""
    global wdt
    wdt = None
    sleep_ms = kw.get("sleep_ms", _sleep_ms)
    now = kw.get("now") or SystemClock().now
    out = kw.get("out", print)
    out("boot: %s" % board.NAME)
    if safe_mode(board, sleep_ms, out):
        _led(board, True)
        out("boot: SAFE MODE: the safe-mode pin is held; the application is skipped")
        return SAFE_MODE
    config_path = config_path or board.CONFIG_PATH
    settings_path = settings_path or board.SETTINGS_PATH
    try:
        cfg = configuration.load(_read(config_path))
    except OSError:
        return _not_provisioned(out, board, "there is no configuration at %s" % config_path)
    except configuration.ConfigError as e:
        out("boot: %s: %s refused: %s" % (REFUSED, config_path, e))
        return REFUSED
    try:
        settings = load_settings(_read(settings_path))
    except OSError:
        settings = load_settings(None)
    except configuration.ConfigError as e:
        out("boot: %s: %s refused: %s" % (REFUSED, settings_path, e))
        return REFUSED
    problem = provisioning_problem(cfg)
    if problem:
        return _not_provisioned(out, board, "%s: %s" % (config_path, problem))
    if cfg["role"] == "gateway":
        # the meter being read is on the board's UART of that name
        serial = ["--pty", cfg["gateway"]["input"] + "=board"]
        if start is start_meter:
            start = start_gateway
    else:
        serial = board.serial_args(cfg) if hasattr(board, "serial_args") else []
    del cfg
    gc.collect()

    feed = _nothing
    wms = settings["watchdog_ms"]
    make = getattr(board, "watchdog", None)
    wdt = make(wms) if wms and make is not None else None
    if wdt is not None:
        feed = wdt.feed
        log.info("watchdog: %d ms, fed by the application", wms)
    else:
        log.info("watchdog: none")

    up = _network(board, settings, feed, sleep_ms)
    _time(board, settings, up, feed, sleep_ms, now)
    argv = ["--config", config_path, "--endpoints", ""] + list(serial) + list(app_args)
    gc.collect()
    try:
        start(argv, feed)
    except SystemExit as e:
        code = e.args[0] if e.args else 0
        out(
            "boot: the meter stopped (exit %s)%s"
            % (code, "; the watchdog will reset the board" if wdt else "")
        )
    return STOPPED


def _not_provisioned(out, board, why):
    _led(board, True)
    out("boot: NOT PROVISIONED: %s." % why)
    out("boot: the meter serves nothing until its keys and passwords are provisioned:")
    out("boot:   make deploy BOARD=%s PORT=<serial port> PROVISION=<your file>.json" % board.NAME)
    log.warning("not provisioned: %s", why)
    return NOT_PROVISIONED


def _network(board, settings, feed, sleep_ms):
    make = getattr(board, "network", None)
    nic = make() if make is not None else None
    if nic is None:
        log.info("network: the board's own (nothing to bring up)")
        return True
    ssid = None
    if getattr(board, "NETWORK", "wifi") == "wifi":
        ssid = settings["wifi"]["ssid"]
        if ssid is None:
            log.warning("network: no Wi-Fi configured; serial ports only")
            return False
    c = settings["connect"]
    up = connect_network(
        nic,
        ssid,
        settings["wifi"]["password"],
        c["attempts"],
        c["timeout_s"] * 1000,
        feed,
        sleep_ms,
    )
    if not up:
        log.warning("network: not connected; serial ports only")
    return up


def _time(board, settings, up, feed, sleep_ms, now):
    host = settings["ntp"]["host"]
    make = getattr(board, "ntp", None)
    ntp = make() if make is not None and host and up else None
    if ntp is not None:
        set_time(ntp, host, settings["ntp"]["attempts"], feed, sleep_ms)
    t = now()
    if t < _PLAUSIBLE:
        log.warning("time: the clock is not set (%d s since 1970): set it over DLMS or NTP", t)
    else:
        log.info("time: %d s since 1970 (UTC)", t)
