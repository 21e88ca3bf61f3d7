# The firmware package tree (firmware/), frozen into a custom MicroPython
# build as bytecode that runs from flash: each board's manifest.py includes
# this after its port's own manifest (docs: "MicroPython manifest files").
# Every package and top-level module is taken, so a new one needs no edit
# here; firmware/micropython.py is left out (the CPython stand-in for the
# built-in module). Paths are relative to this file.
import os

_FIRMWARE = "../../firmware"
_CPYTHON_ONLY = ("micropython.py",)

for _name in sorted(os.listdir(_FIRMWARE)):
    _path = os.path.join(_FIRMWARE, _name)
    if os.path.isfile(os.path.join(_path, "__init__.py")):
        package(_name, base_path=_FIRMWARE)  # noqa: F821 (the manifest API)
    elif _name.endswith(".py") and _name not in _CPYTHON_ONLY:
        module(_name, base_path=_FIRMWARE)  # noqa: F821
