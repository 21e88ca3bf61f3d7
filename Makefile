# The project's commands. `make run` and `make test` build their own venv.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
PY     := $(BIN)/python
MPY    := $(BIN)/micropython
STAMP  := $(VENV)/.installed
BOARD  ?= unix
# mpy-cross architecture per board (viper/native code needs the right one)
ARCH_unix    := x64
ARCH_esp32   := xtensawin
ARCH_esp32s3 := xtensawin
ARCH_stm32   := armv7emsp
ARCH   ?= $(ARCH_$(BOARD))
MICROPYPATH_TESTS := .frozen:firmware:host_tests/mp:host_tests
HEAP   ?= 2M

.PHONY: all venv run test test-cpython test-mp bench lint mpy mpy-all clean

all: test

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -c "import tomllib; print('\n'.join(tomllib.load(open('pyproject.toml','rb'))['project']['optional-dependencies']['dev']))" > $(VENV)/requirements.txt
	$(BIN)/pip install --disable-pip-version-check -q -r $(VENV)/requirements.txt
	touch $(STAMP)

venv: $(STAMP)

# The simulated meter on the unix MicroPython port, in the foreground until Ctrl-C
# (tools/pty_launcher.py creates the optical and RS-485 ptys, then execs it).
run: $(STAMP)
	MICROPYPATH=.frozen:firmware:boards/unix $(PY) -m tools.pty_launcher -- \
		$(MPY) -X heapsize=$(HEAP) -m app.main $(ARGS)

# One suite, two runtimes: pytest on CPython, then the same modules on the unix
# port, from source and from the .mpy build (which also cross-compiles the
# firmware for every board architecture: mpy-cross is stricter than the
# unix port's own compiler about viper code).
test: $(STAMP)
	@rc=0; \
	echo "== CPython (pytest)"; \
	$(PY) -m pytest host_tests || rc=1; \
	echo "== MicroPython unix port, firmware from source"; \
	MICROPYPATH=$(MICROPYPATH_TESTS) $(MPY) -X heapsize=$(HEAP) host_tests/mp_run.py || rc=1; \
	$(MAKE) --no-print-directory mpy-all || rc=1; \
	echo "== MicroPython unix port, firmware from build/mpy/unix"; \
	MICROPYPATH=.frozen:build/mpy/unix:host_tests/mp:host_tests $(MPY) -X heapsize=$(HEAP) \
		host_tests/mp_run.py || rc=1; \
	exit $$rc

test-cpython: $(STAMP)
	$(PY) -m pytest $(or $(ARGS),host_tests)

test-mp: $(STAMP)
	MICROPYPATH=$(MICROPYPATH_TESTS) $(MPY) -X heapsize=$(HEAP) host_tests/mp_run.py $(ARGS)

bench: $(STAMP) mpy
	$(PY) -m tools.bench

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

# Cross-compile firmware/ into build/mpy/<board>/ (same tree, .mpy files).
mpy: $(STAMP)
	$(PY) -m tools.build_mpy --arch $(ARCH) --out build/mpy/$(BOARD) --romfs build/mpy/$(BOARD).romfs

mpy-all: $(STAMP)
	@for b in unix esp32 stm32; do \
		$(MAKE) --no-print-directory mpy BOARD=$$b || exit 1; \
	done

clean:
	rm -rf build .hypothesis .pytest_cache .ruff_cache
	find . -name __pycache__ -prune -exec rm -rf {} +
