"""The applications: the meter (app.main), the gateway (app.gateway) and a
board's start (app.boot).

Importing the package sets MicroPython's garbage collector to run every
4 KiB allocated, before the applications import and build anything: the
garbage of the boot (configuration, flash scans, module loading) is then
reclaimed in small steps and the objects that live on pack together at the
bottom of the heap, instead of being scattered through it by collections
that only an exhausted heap would start. On the 32-bit build that leaves
the largest free block after the meter's boot at 32 KiB instead of 4 KiB
(in a 100 KiB heap), room for the first ciphered client's 4 KiB GHASH
table. The meter and the gateway raise the threshold once they are up
(app.main.collect_early).
"""

import gc

if hasattr(gc, "threshold"):  # MicroPython's
    gc.threshold(4096)
