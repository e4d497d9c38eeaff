# The README's two commands: `make demo` (the main job) and `make test` (the whole suite).
# Each creates or reuses the virtual environment .venv and installs what it needs.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python

.PHONY: demo test install coverage

$(VENV)/.installed-%: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e ".[$*]"
	touch $@

install: $(VENV)/.installed-test

demo: $(VENV)/.installed-examples
	$(PY) -m minidl.demo

# Three tiers in separate processes: CPU + PTX compile (no simulator), then the CUDA simulator tier
# (numba chooses the simulator when numba.cuda is first imported, so it cannot share a process).
test: $(VENV)/.installed-test
	$(PY) -m pytest -n 2 -q -m "not cuda" tests
	NUMBA_ENABLE_CUDASIM=1 $(PY) -m pytest -n 2 -q -m cuda tests

# Line coverage of minidl/ per tier (a developer's measurement, not part of `make test` or CI;
# one process per tier, so it is slow: ~2x `make test`). Reports in build/coverage/, the
# combined HTML in build/coverage/html/index.html. See docs/testing.md.
COV := $(PY) -m coverage
coverage: $(VENV)/.installed-dev
	mkdir -p build/coverage
	COVERAGE_FILE=build/coverage/cpu.dat $(COV) run --source=minidl -m pytest -q -x -m "not cuda" tests
	COVERAGE_FILE=build/coverage/sim.dat NUMBA_ENABLE_CUDASIM=1 \
		$(COV) run --source=minidl -m pytest -q -x -m cuda tests
	$(COV) report --data-file=build/coverage/cpu.dat > build/coverage/cpu.txt
	$(COV) report --data-file=build/coverage/sim.dat > build/coverage/sim.txt
	$(COV) combine --keep --data-file=build/coverage/all.dat \
		build/coverage/cpu.dat build/coverage/sim.dat
	$(COV) html --data-file=build/coverage/all.dat -d build/coverage/html
	$(COV) report --data-file=build/coverage/all.dat | tail -1
