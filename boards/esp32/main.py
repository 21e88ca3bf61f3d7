"""Runs after boot.py at every reset (MicroPython): the meter, through app.boot
(safe mode, configuration, provisioning, watchdog, network, time)."""

import board
from app import boot

boot.run(board)
