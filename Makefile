# `make run` and `make test` create .venv and install on first use; nothing else is needed but Python 3.11.
PYTHON ?= $(shell command -v python3.11 2>/dev/null || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: run test test-fast bench lint install clean lock

$(STAMP): pyproject.toml
	$(PYTHON) -c 'import sys; assert sys.version_info >= (3, 11), "cxgov needs Python 3.11+"'
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --disable-pip-version-check -e '.[dev]'
	@# Bytecode up front: the workflow sandbox re-imports workflow modules on every run, and where
	@# PYTHONDONTWRITEBYTECODE is set nothing would ever be cached.
	$(BIN)/python -m compileall -q cxgov workflows activities worker
	touch $(STAMP)

install: $(STAMP)

run: $(STAMP)
	$(BIN)/cxgov up --tour

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

test: lint
	scripts/ensure-system-packages
	$(BIN)/pytest

test-fast: $(STAMP)
	scripts/ensure-system-packages
	$(BIN)/pytest -m "not slow"

bench: $(STAMP)
	$(BIN)/python -m bench.throughput
	$(BIN)/python -m bench.decisions
	$(BIN)/python -m bench.audit_archive
	$(BIN)/python -m bench.api
	$(BIN)/python -m bench.load

# requirements.lock: the Docker image's dependencies, pinned to this virtualenv's versions, with hashes (needs
# the package index). Run after changing [project].dependencies or upgrading the virtualenv; commit the result.
lock: $(STAMP)
	$(BIN)/python scripts/lock

clean:
	rm -rf $(VENV) .cxgov .pytest_cache .mypy_cache .ruff_cache
