# `make demo` and `make test` work on a fresh machine with Python 3.11, 3.12 or 3.13: each makes .venv
# and installs the project (with its dev tools) into it when it is missing or stale. A name on PATH is not enough
# (pyenv's shims exist for versions that are not selected): the first that runs and is 3.11 or newer is used.
PYTHON ?= $(shell for p in python3.11 python3.12 python3.13 python3; do \
	$$p -c 'import sys; sys.exit(sys.version_info < (3, 11))' >/dev/null 2>&1 && command -v $$p && break; done)
# The first line of every recipe that runs $(PYTHON): without one, say what is needed and what was found.
NEEDS_PYTHON = @test -n "$(PYTHON)" || { echo "rotation-doctor needs Python 3.11, 3.12 or 3.13 (found: \
$$(python3 --version 2>&1 || echo no python3)). Install one, or name it: make $(MAKECMDGOALS) PYTHON=/path/to/python3.13" >&2; exit 1; }
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test lint typecheck unit browser docs cli-reference bench package lock clean screenshot schema fix-kind-tables templates build-WorkerFunction build-ApprovalFunction

$(STAMP): pyproject.toml
	$(NEEDS_PYTHON)
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

# Tools whose pins clash with ours get a virtual environment each: checkov judges the template's IAM
# (tests/test_iam.py); the SAM CLI runs tests/test_sam_build.py (and serves anyone without one); MkDocs builds the
# documentation site (`make docs`), which nothing else needs.
CHECKOV_VENV := .venv-checkov
SAM_VENV := .venv-sam
DOCS_VENV := .venv-docs

define TOOL_VENV
$(1)/.installed:
	$$(NEEDS_PYTHON)
	test -x $(1)/bin/python || $$(PYTHON) -m venv $(1)
	$(1)/bin/python -m pip install --quiet --upgrade pip
	$(1)/bin/python -m pip install --quiet $(2)
	touch $$@
endef
$(eval $(call TOOL_VENV,$(CHECKOV_VENV),checkov==3.3.30))
$(eval $(call TOOL_VENV,$(SAM_VENV),aws-sam-cli==1.170.0))
$(eval $(call TOOL_VENV,$(DOCS_VENV),mkdocs==1.6.1 mkdocs-material==9.8.1 pymdown-extensions==13.1.2))

unit: $(STAMP) browser $(CHECKOV_VENV)/.installed $(SAM_VENV)/.installed
	$(BIN)/pytest

test: lint typecheck unit docs

# The documentation site (mkdocs.yml, docs/) into build/site. --strict: a link to a page, file or anchor that does
# not exist fails the build. Material's notice about its successor is silenced (NO_MKDOCS_2_WARNING).
docs: $(DOCS_VENV)/.installed
	NO_MKDOCS_2_WARNING=1 $(DOCS_VENV)/bin/mkdocs build --strict --quiet

# docs/cli.md, the CLI reference, generated from the command's parser (rotation_doctor/cli/reference.py).
cli-reference: $(STAMP)
	$(BIN)/python -m rotation_doctor.cli.reference

# README's picture: the approval page of the demo's proposal, photographed by headless Chromium.
screenshot: $(STAMP) browser
	$(BIN)/python scripts/screenshot_approval_page.py --out docs/approval-page.png

# The JSON Schema of `--format json` (docs/schema/v1), generated from rotation_doctor/cli/schema/models.py.
schema: $(STAMP)
	$(BIN)/python -m rotation_doctor.cli.schema

# The fix-kind tables of docs/contract.md and docs/fixing.md, generated from remediations/
# (rotation_doctor/cli/fix_kind_tables.py). A new kind runs both: `make schema fix-kind-tables`.
fix-kind-tables: $(STAMP)
	$(BIN)/python -m rotation_doctor.cli.fix_kind_tables

# The EventBridge patterns of template.yaml and org/member.yaml, written from rotation_doctor/service/patterns.py.
templates: $(STAMP)
	$(BIN)/python scripts/event_patterns.py

# Every benchmark, each with --json, into bench/results.json (each entry says when, and how loaded the machine was);
# then docs/performance.md's tables are written from it. `bench/run.py --only NAME` measures some again.
bench: $(STAMP)
	$(BIN)/python bench/run.py
	$(BIN)/python bench/render.py

# The Lambda artifact, from requirements-lambda.txt: the lock of pyproject.toml's dependencies for the template's
# runtime (its Python and architecture), with hashes. Downloading the locked wheels is the only step that needs the
# registry; the builds install from .wheelhouse with --no-index, and both pass --require-hashes. The packager needs
# only the standard library and pip, so neither path makes .venv. LAMBDA_PYTHON=3.11 builds for this machine's
# Python (tests import it).
LAMBDA_PYTHON ?= 3.13
WHEELHOUSE := .wheelhouse/py$(subst .,,$(LAMBDA_PYTHON))
PACKAGER = $(PYTHON) scripts/package_lambda.py

# The lock again after a change to pyproject.toml's dependencies (uv, from the dev extra); tests/test_lock.py, in
# `make test`, fails while the two disagree.
lock: $(STAMP)
	$(BIN)/python scripts/package_lambda.py lock

$(WHEELHOUSE)/.complete: requirements-lambda.txt
	$(NEEDS_PYTHON)
	$(PACKAGER) download --python-version $(LAMBDA_PYTHON)
	touch $@

# The same artifact without the SAM CLI, in build/package (to look into, or to zip for another deployer).
package: $(WHEELHOUSE)/.complete
	$(NEEDS_PYTHON)
	$(PACKAGER) build --python-version $(LAMBDA_PYTHON)
	@echo "build/package is ready"

# `sam build` runs these (template.yaml: Metadata BuildMethod makefile, CodeUri .); SAM names ARTIFACTS_DIR.
build-WorkerFunction: $(WHEELHOUSE)/.complete
	test -n "$(ARTIFACTS_DIR)"
	$(PACKAGER) build --python-version $(LAMBDA_PYTHON) --out "$(ARTIFACTS_DIR)"

# The approval page ships only what its handler imports (no fix kinds, no EC2 code): a smaller, faster cold start.
build-ApprovalFunction: $(WHEELHOUSE)/.complete
	test -n "$(ARTIFACTS_DIR)"
	$(PACKAGER) build --python-version $(LAMBDA_PYTHON) --out "$(ARTIFACTS_DIR)" --handler handlers.approval

clean:
	rm -rf $(VENV) $(CHECKOV_VENV) $(SAM_VENV) $(DOCS_VENV) build .aws-sam .wheelhouse *.egg-info .pytest_cache .mypy_cache .ruff_cache
