# `make demo` and `make test` work on a fresh machine with Python 3.11: each makes .venv
# and installs the project (with its dev tools) into it when it is missing or stale.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test lint typecheck unit browser bench package clean screenshot schema

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/rotation-doctor demo

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: $(STAMP)
	$(BIN)/mypy

browser:
	bash scripts/ensure_chromium.sh

# checkov judges the template's IAM (tests/test_iam.py); its pins clash with moto's, so it has a venv of its own.
CHECKOV_VENV := .venv-checkov
$(CHECKOV_VENV)/.installed:
	test -x $(CHECKOV_VENV)/bin/python || $(PYTHON) -m venv $(CHECKOV_VENV)
	$(CHECKOV_VENV)/bin/python -m pip install --quiet --upgrade pip
	$(CHECKOV_VENV)/bin/python -m pip install --quiet 'checkov==3.3.30'
	touch $@

unit: $(STAMP) browser $(CHECKOV_VENV)/.installed
	$(BIN)/pytest

test: lint typecheck unit

# README's picture: the approval page of the demo's proposal, photographed by headless Chromium.
screenshot: $(STAMP) browser
	$(BIN)/python scripts/screenshot_approval_page.py --out docs/approval-page.png

# The JSON Schema of `--format json` (docs/schema/v1), generated from rotation_doctor/cli/schema/models.py.
schema: $(STAMP)
	$(BIN)/python -m rotation_doctor.cli.schema

bench: $(STAMP)
	$(BIN)/python bench/diagnose_calls.py
	$(BIN)/python bench/scan_calls.py
	$(BIN)/python bench/fix_calls.py
	$(BIN)/python bench/cold_start.py
	$(BIN)/python bench/change_calls.py

# The Lambda artifact (template.yaml's CodeUri). Downloading the wheels for the runtime's platform is
# the only step that needs the registry; `package` itself installs from .wheelhouse with --no-index.
LAMBDA_PYTHON := 3.13
WHEELHOUSE := .wheelhouse/py$(subst .,,$(LAMBDA_PYTHON))

$(WHEELHOUSE)/.complete: pyproject.toml | $(STAMP)
	$(BIN)/python scripts/package_lambda.py download --python-version $(LAMBDA_PYTHON)
	touch $@

package: $(STAMP) $(WHEELHOUSE)/.complete
	$(BIN)/python scripts/package_lambda.py build --python-version $(LAMBDA_PYTHON)
	@echo "build/package is ready: sam deploy --guided"

clean:
	rm -rf $(VENV) $(CHECKOV_VENV) build .wheelhouse *.egg-info .pytest_cache .mypy_cache .ruff_cache
