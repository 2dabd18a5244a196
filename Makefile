# pyrmq: `make run` starts a NameServer + broker in the foreground; `make test` runs the suite.
PY      ?= python3
VENV    := .venv
VPY     := $(VENV)/bin/python
STAMP   := $(VENV)/.installed
TSTAMP  := $(VENV)/.installed-test
PIP_CACHE := .cache/pip

.PHONY: run test interop lint typecheck bench clean

$(VPY):
	$(PY) -m venv $(VENV)
	$(VPY) -m pip install --cache-dir $(PIP_CACHE) -q --upgrade pip

$(STAMP): pyproject.toml | $(VPY)
	$(VPY) -m pip install --cache-dir $(PIP_CACHE) -q -e .
	touch $@

$(TSTAMP): pyproject.toml | $(VPY)
	$(VPY) -m pip install --cache-dir $(PIP_CACHE) -q -e '.[test]'
	touch $(STAMP) $@

run: $(STAMP)
	$(VPY) -m pyrmq.tools.local -c conf/broker.conf

# The official clients' drivers for tests/interop (Java, Go, Node, C++), built into .cache/.
interop:
	sh tests/interop/build-all.sh

test: $(TSTAMP) interop
	$(VPY) -m pytest -q -p no:cacheprovider $(PYTEST_ARGS)

lint: $(TSTAMP)
	$(VENV)/bin/ruff check pyrmq tests benchmarks
	$(VENV)/bin/ruff format --check pyrmq tests benchmarks
	$(VENV)/bin/mypy

bench: $(STAMP)
	$(VPY) benchmarks/bench_codec.py
	$(VPY) benchmarks/bench_store.py
	$(VPY) benchmarks/bench_e2e.py
	$(VPY) -m benchmarks.bench_delay

clean:
	rm -rf $(VENV) .cache build *.egg-info
