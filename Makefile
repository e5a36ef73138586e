# Every target bootstraps its own virtual environment in .venv, so a fresh clone needs only python3.
# The venv installs the pinned, hash-checked versions from requirements-dev.lock, then this
# package itself without touching its dependencies.  `make lock` regenerates both lock files.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
LOCK_ARGS := --universal --python-version 3.11 --generate-hashes --quiet

.PHONY: run test bench venv clean db-upgrade lock lint fmt

$(STAMP): pyproject.toml requirements-dev.lock
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet --require-hashes -r requirements-dev.lock
	$(BIN)/pip install --quiet --no-deps -e .
	touch $(STAMP)

venv: $(STAMP)

run: $(STAMP)
	$(BIN)/darebot run

# Lint and strict typing first: a style or type error fails the build like a failing test.
test: $(STAMP)
	$(BIN)/ruff check bot adapters storage tests bench
	$(BIN)/ruff format --check bot adapters storage tests bench
	$(BIN)/mypy bot storage
	$(BIN)/python -m pytest -n auto -q $(PYTEST_ARGS)

bench: $(STAMP)
	$(BIN)/python -m bench $(BENCH_ARGS)

db-upgrade: $(STAMP)
	$(BIN)/darebot db upgrade

# requirements.lock: what the image installs; requirements-dev.lock: that plus the test and lint tools.
lock:
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet uv
	$(BIN)/uv pip compile pyproject.toml $(LOCK_ARGS) -o requirements.lock
	$(BIN)/uv pip compile pyproject.toml --extra dev $(LOCK_ARGS) -o requirements-dev.lock

lint: $(STAMP)
	$(BIN)/ruff check bot adapters storage tests bench
	$(BIN)/ruff format --check bot adapters storage tests bench
	$(BIN)/mypy bot storage

fmt: $(STAMP)
	$(BIN)/ruff check --fix bot adapters storage tests bench
	$(BIN)/ruff format bot adapters storage tests bench

clean:
	rm -rf $(VENV) .pytest_cache build *.egg-info
