# wsaudit: `make test` sets up everything on a fresh machine and runs every check.
SHELL := /bin/bash
VENV ?= .venv
PY := $(VENV)/bin/python
INSTALLED := $(VENV)/.installed
PYTEST_ARGS ?=

.PHONY: test lint unit integration e2e bench crds docs demo system-deps binaries cluster-up cluster-down clean

$(INSTALLED): pyproject.toml
	@test -x $(PY) || python3 -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[dev]'
	@touch $@

system-deps:
	@bash hack/install-system-deps.sh

binaries:
	@bash hack/build-binaries.sh >/dev/null

lint: $(INSTALLED)
	$(VENV)/bin/ruff check operator tests bench hack
	$(VENV)/bin/ruff format --check operator tests bench hack
	$(VENV)/bin/mypy
	$(VENV)/bin/lint-imports

test: system-deps binaries lint
	$(VENV)/bin/pytest $(PYTEST_ARGS)

unit: $(INSTALLED)
	$(VENV)/bin/pytest tests/unit $(PYTEST_ARGS)

integration: $(INSTALLED) system-deps
	$(VENV)/bin/pytest tests/integration $(PYTEST_ARGS)

e2e: $(INSTALLED) binaries
	$(VENV)/bin/pytest tests/e2e $(PYTEST_ARGS)

crds: $(INSTALLED)
	$(VENV)/bin/wsaudit crd > crds/wsaudit.io_websocketendpoints.yaml
	cp crds/*.yaml charts/wsaudit/files/crds/

docs: $(INSTALLED)
	$(PY) -m wsaudit.api.reference docs/resource.md

bench: $(INSTALLED)
	$(PY) bench/probe_throughput.py

demo: system-deps binaries $(INSTALLED)
	$(PY) hack/demo.py

cluster-up: $(INSTALLED) binaries
	@bash hack/cluster.sh up

cluster-down:
	@bash hack/cluster.sh down

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache .hypothesis
