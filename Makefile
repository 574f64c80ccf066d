# The two commands of the quick start: `make demo` and `make test`.
# Each creates .venv and installs what it needs on first use.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
# `make demo` needs only tossd itself; `make test` adds the dev tools (a second stamp).
STAMP := $(VENV)/.installed
DEV_STAMP := $(VENV)/.installed-dev

.PHONY: demo test lint typecheck pytest test-packaging bench clean

$(STAMP): pyproject.toml
	test -d $(VENV) || $(PY) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e .
	touch $(STAMP)

# The transcribe extra too: the local engine's test scores it on the committed clips.
$(DEV_STAMP): $(STAMP)
	$(BIN)/pip install --quiet -e '.[dev,transcribe]'
	touch $(DEV_STAMP)

demo: $(STAMP)
	$(BIN)/tossd demo

test: lint typecheck pytest

lint: $(DEV_STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/lint-imports

typecheck: $(DEV_STAMP)
	$(BIN)/mypy

pytest: $(DEV_STAMP)
	$(BIN)/pytest

# The image built and run, compose.yaml run, the unit booted under systemd-nspawn (root,
# Debian 12; a few minutes). Installs its Debian packages first; caches trees in
# /var/cache/tossd-packaging. Not part of `make test`.
test-packaging: $(DEV_STAMP)
	bash tests/packaging/provision.sh
	$(BIN)/pytest -m packaging --timeout=900 tests/packaging

bench: $(DEV_STAMP)
	$(BIN)/python bench/client.py
	$(BIN)/python bench/poll.py
	$(BIN)/python bench/poll_latency.py
	$(BIN)/python bench/deliver.py
	$(BIN)/python bench/isolation.py
	$(BIN)/python bench/footprint.py
	$(BIN)/python bench/transcribe.py

clean:
	rm -rf $(VENV) build *.egg-info
