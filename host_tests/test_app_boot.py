"""Booting a board (app.boot) with fakes for what cannot run here: the pins,
the watchdog, the Wi-Fi / Ethernet interface and ntptime. The configuration
files, the provisioning check, the order of the steps, the retries and their
pauses (a fake clock: no real waiting) are the real code, on both runtimes."""

import json
import os
import unittest

import log
import support  # noqa: F401  (quiet logs)
from app import boot
from app import main as meter_main

DIR = "build/test_app_boot"
KEYS = {
    "block_cipher_key": "11" * 16,
    "authentication_key": "22" * 16,
    "master_key": "33" * 16,
}
PROVISIONED = {
    "security": KEYS,
    "clients": [
        {"sap": 16, "level": "public", "authentication": "none"},
        {"sap": 17, "level": "reader", "authentication": "lls", "password": "r3ader-pw"},
    ],
}


def makedirs(path):
    cur = ""
    for part in path.split("/"):
        cur = cur + "/" + part if cur else part
        try:
            os.mkdir(cur)
        except OSError:
            pass


def write(name, data):
    makedirs(DIR)
    path = DIR + "/" + name
    with open(path, "w") as f:
        f.write(data if isinstance(data, str) else json.dumps(data))
    return path


class Pin:
    def __init__(self, level):
        self.level = level

    def value(self):
        return self.level


class Wdt:
    def __init__(self, timeout_ms):
        self.timeout_ms = timeout_ms
        self.feeds = 0

    def feed(self):
        self.feeds += 1


class Nic:
    """A WLAN / LAN: up once ``connect()`` was called ``up_after`` times (or,
    for Ethernet, once ``isconnected()`` was asked that many times)."""

    def __init__(self, up_after=1, ethernet=False):
        self.up_after = up_after
        self.ethernet = ethernet
        self.connects = []
        self.polls = 0
        self.activated = False
        self.disconnects = 0

    def active(self, on=None):
        if on is not None:
            self.activated = on
        return self.activated

    def connect(self, ssid, password):
        self.connects.append((ssid, password))

    def disconnect(self):
        self.disconnects += 1

    def isconnected(self):
        self.polls += 1
        if self.ethernet:
            return self.polls >= self.up_after
        return len(self.connects) >= self.up_after

    def ifconfig(self):
        return ("192.0.2.10", "255.255.255.0", "192.0.2.1", "192.0.2.1")

    def status(self):
        return 1010 if self.isconnected() else 201


class Ntp:
    def __init__(self, fail=0):
        self.fail = fail
        self.calls = 0
        self.host = "pool.ntp.org"

    def settime(self):
        self.calls += 1
        if self.calls <= self.fail:
            raise OSError(110)  # ETIMEDOUT


class Board:
    """Everything app.boot asks of boards/<name>/board.py."""

    NAME = "fake"
    NETWORK = "wifi"

    def __init__(self, config, settings=None, held=False, nic=None, ntp=None):
        self.CONFIG_PATH = config
        self.SETTINGS_PATH = settings or DIR + "/no-settings.json"
        self.held = held
        self.nic = nic
        self.ntp_module = ntp
        self.wdt = None
        self.lit = None

    def safe_mode_pin(self):
        return Pin(0 if self.held else 1), 0  # pulled up, low when pressed

    def watchdog(self, ms):
        self.wdt = Wdt(ms)
        return self.wdt

    def network(self):
        return self.nic

    def ntp(self):
        return self.ntp_module

    def led(self):
        def drive(on):
            self.lit = on

        return drive

    def serial_args(self, cfg):
        return ["--pty", "optical=board"] if cfg["serial"]["optical"]["enabled"] else []


class Clock:
    """sleep_ms that only counts."""

    def __init__(self):
        self.t = 0
        self.sleeps = []

    def sleep_ms(self, ms):
        self.t += ms
        self.sleeps.append(ms)


class App:
    def __init__(self, exit_code=None):
        self.calls = []
        self.exit_code = exit_code

    def __call__(self, argv, feed):
        self.calls.append((argv, feed))
        if self.exit_code is not None:
            raise SystemExit(self.exit_code)


NOW = 1795700000  # 2026-11-26, a set clock


class Console:
    def __init__(self):
        self.lines = []

    def __call__(self, line):
        self.lines.append(line)

    def text(self):
        return "\n".join(self.lines)


def boot_it(board, app=None, now=NOW, settings=None, console=None):
    app = app or App()
    clock = Clock()
    log.last_errors[:] = []
    got = boot.run(
        board,
        settings_path=settings,
        start=app,
        sleep_ms=clock.sleep_ms,
        now=lambda: now,
        out=console or Console(),
    )
    return got, app, clock


class TestSafeModeAndProvisioning(unittest.TestCase):
    def test_safe_mode_pin_held_skips_everything(self):
        board = Board(write("c1.json", PROVISIONED), held=True)
        console = Console()
        got, app, _ = boot_it(board, console=console)
        self.assertIn("SAFE MODE", console.text())
        self.assertEqual(got, boot.SAFE_MODE)
        self.assertEqual(app.calls, [])
        self.assertIsNone(board.wdt)  # the REPL stays usable
        self.assertTrue(board.lit)

    def test_safe_mode_window_waits_before_reading_the_pin(self):
        board = Board(write("c1.json", PROVISIONED), held=True)
        board.SAFE_MODE_WINDOW_MS = 1500
        clock = Clock()
        self.assertTrue(boot.safe_mode(board, clock.sleep_ms, Console()))
        self.assertEqual(clock.sleeps, [1500])

    def test_no_configuration_is_not_provisioned(self):
        board = Board(DIR + "/absent.json")
        console = Console()
        got, app, _ = boot_it(board, console=console)
        self.assertIn("NOT PROVISIONED", console.text())
        self.assertIn("make deploy BOARD=fake PORT=", console.text())
        self.assertEqual(got, boot.NOT_PROVISIONED)
        self.assertEqual(app.calls, [])
        self.assertIsNone(board.wdt)
        self.assertTrue(board.lit)
        self.assertIn("not provisioned: there is no configuration", log.last_errors[-1])

    def test_example_keys_or_passwords_are_not_provisioned(self):
        for cfg in ({}, {"clients": PROVISIONED["clients"]}, {"security": KEYS}):
            board = Board(write("c2.json", cfg))
            got, app, _ = boot_it(board)
            self.assertEqual(got, boot.NOT_PROVISIONED, cfg)
            self.assertEqual(app.calls, [])
            self.assertIn("simulator's examples", log.last_errors[-1])

    def test_refused_configuration_names_the_field(self):
        bad = dict(PROVISIONED, hdlc={"window": 9})
        board = Board(write("c3.json", bad))
        got, app, _ = boot_it(board)
        self.assertEqual(got, boot.REFUSED)
        self.assertEqual(app.calls, [])

    def test_refused_settings(self):
        board = Board(write("c4.json", PROVISIONED))
        for settings in ({"wifi": {"ssid": 5}}, {"watchdog_ms": 10}, {"wlan": {}}, "{"):
            got, app, _ = boot_it(board, settings=write("s4.json", settings))
            self.assertEqual(got, boot.REFUSED, settings)
            self.assertEqual(app.calls, [])


class TestStart(unittest.TestCase):
    def test_provisioned_board_starts_the_meter_with_the_watchdog(self):
        nic = Nic()
        settings = write(
            "s5.json", {"wifi": {"ssid": "meters", "password": "pw"}, "watchdog_ms": 8000}
        )
        board = Board(write("c5.json", PROVISIONED), nic=nic)
        got, app, _ = boot_it(board, settings=settings)
        self.assertEqual(got, boot.STOPPED)
        self.assertEqual(board.wdt.timeout_ms, 8000)
        self.assertIs(boot.wdt, board.wdt)  # where tools/deploy.py feeds it
        argv, feed = app.calls[0]
        self.assertEqual(argv[:4], ["--config", board.CONFIG_PATH, "--endpoints", ""])
        self.assertEqual(argv[4:], ["--pty", "optical=board"])
        self.assertEqual(feed, board.wdt.feed)
        self.assertEqual(nic.connects, [("meters", "pw")])
        self.assertFalse(board.lit)

    def test_gateway_role_reads_the_boards_p1_port(self):
        cfg = dict(PROVISIONED, role="gateway", gateway={"input": "p1"})
        board = Board(write("c5g.json", cfg), nic=Nic())
        got, app, _ = boot_it(board)
        self.assertEqual(got, boot.STOPPED)
        argv, _ = app.calls[0]
        self.assertEqual(argv[4:], ["--pty", "p1=board"])

    def test_no_watchdog_when_zero(self):
        settings = write("s6.json", {"watchdog_ms": 0})
        board = Board(write("c6.json", PROVISIONED))
        got, app, _ = boot_it(board, settings=settings)
        self.assertIsNone(board.wdt)
        self.assertEqual(len(app.calls), 1)

    def test_meter_that_exits_is_reported(self):
        board = Board(write("c7.json", PROVISIONED))
        got, app, _ = boot_it(board, App(exit_code=2))
        self.assertEqual(got, boot.STOPPED)
        self.assertEqual(len(app.calls), 1)

    def test_clock_before_2024_is_reported(self):
        board = Board(write("c8.json", PROVISIONED))
        boot_it(board, now=946684800)  # 2000-01-01: an RTC never set
        self.assertIn("time: the clock is not set", log.last_errors[-1])


class TestNetwork(unittest.TestCase):
    def test_wifi_retries_with_doubling_pauses(self):
        nic = Nic(up_after=4)
        wdt = Wdt(30000)
        clock = Clock()
        up = boot.connect_network(nic, "meters", "pw", 8, 3000, wdt.feed, clock.sleep_ms)
        self.assertTrue(up)
        self.assertEqual(len(nic.connects), 4)
        self.assertEqual(nic.disconnects, 3)
        # three failed tries of 3 s, then the pauses 1 s, 2 s, 4 s between them
        self.assertEqual(clock.t, 3 * 3000 + 1000 + 2000 + 4000)
        self.assertGreaterEqual(wdt.feeds, clock.t // 1000)
        self.assertLessEqual(max(clock.sleeps), 1000)  # never a second without feeding

    def test_pause_is_capped_at_30_s(self):
        nic = Nic(up_after=100)
        clock = Clock()
        up = boot.connect_network(nic, "meters", None, 8, 1000, lambda: None, clock.sleep_ms)
        self.assertFalse(up)
        self.assertEqual(len(nic.connects), 8)
        pauses = 1000 + 2000 + 4000 + 8000 + 16000 + 30000 + 30000
        self.assertEqual(clock.t, 8 * 1000 + pauses)

    def test_ethernet_waits_for_the_link(self):
        nic = Nic(up_after=6, ethernet=True)
        clock = Clock()
        self.assertTrue(
            boot.connect_network(nic, None, None, 3, 5000, lambda: None, clock.sleep_ms)
        )
        self.assertEqual(nic.connects, [])
        self.assertTrue(nic.activated)

    def test_board_without_wifi_settings_serves_serial_only(self):
        nic = Nic()
        ntp = Ntp()
        settings = write("s9.json", {"ntp": {"host": "time.example"}})
        board = Board(write("c9.json", PROVISIONED), nic=nic, ntp=ntp)
        got, app, _ = boot_it(board, settings=settings)
        self.assertEqual(len(app.calls), 1)
        self.assertEqual(nic.connects, [])
        self.assertEqual(ntp.calls, 0)  # no network, no NTP
        self.assertIn("no Wi-Fi configured", log.last_errors[0])

    def test_wifi_down_still_starts_the_meter(self):
        nic = Nic(up_after=1000)
        settings = write(
            "s10.json",
            {"wifi": {"ssid": "meters"}, "connect": {"attempts": 2, "timeout_s": 1}},
        )
        board = Board(write("c10.json", PROVISIONED), nic=nic, ntp=Ntp())
        got, app, clock = boot_it(board, settings=settings)
        self.assertEqual(len(app.calls), 1)
        self.assertEqual(len(nic.connects), 2)
        self.assertEqual(clock.t, 2 * 1000 + 1000)

    def test_ntp_sets_the_clock_with_retries(self):
        ntp = Ntp(fail=2)
        settings = write(
            "s11.json",
            {"wifi": {"ssid": "meters"}, "ntp": {"host": "time.example", "attempts": 3}},
        )
        board = Board(write("c11.json", PROVISIONED), nic=Nic(), ntp=ntp)
        got, app, clock = boot_it(board, settings=settings)
        self.assertEqual(ntp.calls, 3)
        self.assertEqual(ntp.host, "time.example")
        self.assertEqual(clock.sleeps[-3:], [1000, 1000, 1000])  # pauses 1 s, then 2 s
        self.assertEqual(len(app.calls), 1)

    def test_ntp_gives_up(self):
        ntp = Ntp(fail=10)
        clock = Clock()
        self.assertFalse(boot.set_time(ntp, "time.example", 2, lambda: None, clock.sleep_ms))
        self.assertEqual(ntp.calls, 2)


class TestSettings(unittest.TestCase):
    def test_defaults(self):
        s = boot.load_settings(None)
        self.assertIsNone(s["wifi"]["ssid"])
        self.assertEqual(s["watchdog_ms"], 30000)
        self.assertEqual(s["connect"]["attempts"], 8)

    def test_fields_named(self):
        for over, field in (
            ({"wifi": {"ssid": "x" * 65}}, "wifi.ssid"),
            ({"connect": {"attempts": 0}}, "connect.attempts"),
            ({"ntp": {"host": 3}}, "ntp.host"),
            ({"watchdog_ms": 999}, "watchdog_ms"),
            ({"wifi": {"bssid": "x"}}, "wifi.bssid"),
        ):
            try:
                boot.load_settings(json.dumps(over))
            except ValueError as e:
                self.assertTrue(str(e).startswith(field), str(e))
            else:
                self.fail("accepted %r" % over)


class TestFeedHook(unittest.TestCase):
    def test_tick_feeds_the_watchdog(self):
        import asyncio

        class Model:
            def tick(self):
                pass

        class Meter:
            links = []
            neighbours = []
            model = Model()
            stats = None
            connections = 0
            idle = []
            cfg = {"network": {"inactivity_s": 0}}

        wdt = Wdt(30000)

        async def briefly():
            t = asyncio.create_task(meter_main.tick(Meter()))
            await asyncio.sleep(1.2)
            t.cancel()

        meter_main.feed = wdt.feed
        try:
            asyncio.run(briefly())
        finally:
            meter_main.feed = None
        self.assertEqual(wdt.feeds, 1)
