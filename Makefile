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

.PHONY: all venv run test test-cpython test-mp bench fuzz lint mpy mpy-all clean deploy console hil

all: test

$(STAMP): pyproject.toml Makefile
	$(PYTHON) -m venv $(VENV)
	$(PY) -c "import tomllib; print('\n'.join(tomllib.load(open('pyproject.toml','rb'))['project']['optional-dependencies']['dev']))" > $(VENV)/requirements.txt
	$(BIN)/pip install --disable-pip-version-check -q -r $(VENV)/requirements.txt
# dsmr-parser (an independent DSMR decoder, tests only) pins dlms_cosem==21.3.2 against our
# 25.1.0 and wants serialx for its serial clients; its telegram parser needs neither (the
# dlms_cosem names it imports are in 25.1.0 too), hence --no-deps.
	$(BIN)/pip install --disable-pip-version-check -q --no-deps dsmr-parser==1.11.2 Tailer==0.4.1
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

# The long fuzzing run (issue 9): every parser that sees outside bytes, on CPython
# (coverage-guided) and on the unix port at once; FUZZ_N inputs or FUZZ_SECONDS
# per target and runtime, whichever ends first (ARGS: more options, target names).
FUZZ_N       ?= 50000
FUZZ_SECONDS ?= 30
fuzz: $(STAMP)
	$(PY) -m tools.fuzz -n $(FUZZ_N) --seconds $(FUZZ_SECONDS) $(ARGS)

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

# Cross-compile firmware/ into build/mpy/<board>/ (same tree, .mpy files).
mpy: $(STAMP)
	$(PY) -m tools.build_mpy --arch $(ARCH) --out build/mpy/$(BOARD) --romfs build/mpy/$(BOARD).romfs

mpy-all: $(STAMP)
	@for b in unix esp32 esp32s3 stm32; do \
		$(MAKE) --no-print-directory mpy BOARD=$$b || exit 1; \
	done

# A board on its serial port (boards/$(BOARD)/README.md). deploy: only what
# changed, plus the provisioning file's keys (tools/deploy.py); console: its
# REPL; hil: the interop checks against it, PORT the host's serial port on
# its optical head, HOST its address (tools/hil.py; without both it skips).
deploy: $(STAMP)
	@$(PY) -m tools.deploy --board $(BOARD) --port "$(PORT)" $(if $(PROVISION),--provision "$(PROVISION)") $(if $(CODE),--code $(CODE)) $(ARGS)

console: $(STAMP)
	@if [ -z "$(PORT)" ]; then \
		echo "make console: no PORT given: name the board's serial port, e.g. make console PORT=/dev/ttyUSB0"; \
		echo "(.venv/bin/mpremote connect list shows the ports)"; exit 2; fi
	$(BIN)/mpremote connect $(PORT) repl

hil: $(STAMP)
	@$(PY) -m tools.hil $(if $(PORT),--optical "$(PORT)") $(if $(HOST),--host $(HOST)) $(if $(RS485),--rs485 "$(RS485)") $(if $(P1),--p1 "$(P1)") $(if $(PROVISION),--provision "$(PROVISION)") $(ARGS)

clean:
	rm -rf build .hypothesis .pytest_cache .ruff_cache
	find . -name __pycache__ -prune -exec rm -rf {} +
