"""A tiny logger: one line per event on stdout, and the last errors kept for
status pages. Levels: 10 debug, 20 info, 30 warning, 40 error."""

import sys

level = 20
last_errors = []
_KEEP = 8
_NAMES = {10: "D", 20: "I", 30: "W", 40: "E"}


def _log(lvl, msg, args):
    if args:
        try:
            msg = msg % args
        except Exception:
            msg = "%s %r" % (msg, args)
    if lvl >= 30:
        last_errors.append(msg)
        if len(last_errors) > _KEEP:
            last_errors.pop(0)
    if lvl >= level:
        sys.stdout.write("%s %s\n" % (_NAMES.get(lvl, "?"), msg))


def debug(msg, *args):
    if level <= 10:
        _log(10, msg, args)


def info(msg, *args):
    _log(20, msg, args)


def warning(msg, *args):
    _log(30, msg, args)


def error(msg, *args):
    _log(40, msg, args)
