"""Give the simulator its serial ports: ``python -m tools.pty_launcher -- COMMAND...``.

The unix MicroPython port has no way to create a pseudo-terminal (no
``os.openpty``, no ioctl for ``unlockpt``, no ffi), but it can use one it
inherits. So this creates one pty pair per port (``--pty NAME``, default
``optical`` and ``rs485``), makes the slave raw (no echo, no line editing)
and the master non-blocking, and then *execs* COMMAND (the same process: the
PID, the Ctrl-C and the exit status are the simulator's) with
``--pty NAME=FD:PATH`` added for each port. The simulator is then the only
owner of the masters; the slave fds stay open in it too, so a master does
not read end-of-file while no client has the port open. Clients open PATH
(/dev/pts/N) like any serial adapter.

    MICROPYPATH=.frozen:firmware:boards/unix \\
        .venv/bin/python -m tools.pty_launcher -- .venv/bin/micropython -m app.main
"""

import os
import sys
import tty

DEFAULT_PORTS = ("optical", "rs485")


def make_pty():
    """(master fd, slave fd, slave path): both inheritable, the master non-blocking."""
    master, slave = os.openpty()
    tty.setraw(slave)
    os.set_blocking(master, False)
    os.set_inheritable(master, True)
    os.set_inheritable(slave, True)
    return master, slave, os.ttyname(slave)


def main(argv=None):
    argv = list(sys.argv[1:] if argv is None else argv)
    if "--" not in argv:
        sys.exit("usage: python -m tools.pty_launcher [--pty NAME]... -- COMMAND [ARGS...]")
    cut = argv.index("--")
    opts, command = argv[:cut], argv[cut + 1 :]
    names = []
    i = 0
    while i < len(opts):
        if opts[i] != "--pty" or i + 1 >= len(opts):
            sys.exit("unknown option %s" % opts[i])
        names.append(opts[i + 1])
        i += 2
    if not command:
        sys.exit("no command to run")
    for name in names or DEFAULT_PORTS:
        master, _slave, path = make_pty()
        command += ["--pty", "%s=%d:%s" % (name, master, path)]
    sys.stdout.flush()
    os.execvp(command[0], command)


if __name__ == "__main__":
    main()
