"""The unix "board" booted like a real one (app.boot: safe mode, configuration,
provisioning, watchdog, time, then app.main):

    MICROPYPATH=.frozen:firmware:boards/unix micropython boards/unix/main.py [app.main options]

Options after the script go to app.main (``--wrapper-port``, ``--pty`` from
tools/pty_launcher.py...); board.py says which environment variables stand
in for the pins and the flash.
"""

import sys

import board
from app import boot


def main(argv=None):
    boot.run(board, app_args=sys.argv[1:] if argv is None else argv)


if __name__ == "__main__":
    main()
