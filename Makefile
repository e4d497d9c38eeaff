# The README's two commands: `make demo` (the main job) and `make test` (the whole suite).
# Each creates or reuses the virtual environment .venv and installs what it needs.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python

.PHONY: demo test install

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
