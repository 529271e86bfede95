# Set-up is part of every target: a fresh machine needs only python3 and make.
# Installs are reproducible: every package comes from a lock with its hashes (pip --require-hashes), the project
# itself is installed without dependencies. `make lock` regenerates the locks from pyproject.toml + constraints.txt.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
RUN_LOCK := requirements.lock
TEST_LOCK := requirements-test.lock
RUN_STAMP := $(VENV)/.installed-run
TEST_STAMP := $(VENV)/.installed-test
PIP := $(BIN)/python -m pip install --quiet --require-hashes
LOCK := $(BIN)/uv pip compile --quiet pyproject.toml build-requirements.in --constraint constraints.txt \
	--generate-hashes --universal --python-version 3.11 --custom-compile-command "make lock"

.PHONY: run test check bench lint lock clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

# Running needs the run lock only; the tests need everything. The project goes in last, without dependencies.
$(RUN_STAMP): $(RUN_LOCK) pyproject.toml | $(BIN)/python
	$(PIP) -r $(RUN_LOCK)
	$(BIN)/python -m pip install --quiet --no-deps --no-build-isolation -e .
	touch $@

$(TEST_STAMP): $(TEST_LOCK) pyproject.toml | $(BIN)/python
	$(PIP) -r $(TEST_LOCK)
	$(BIN)/python -m pip install --quiet --no-deps --no-build-isolation -e .
	touch $@

run: $(RUN_STAMP)  ## Run the bot: the console course without chat tokens, else every configured platform
	$(BIN)/coursebot

test: $(TEST_STAMP)  ## Run the whole test suite
	$(BIN)/pytest

check: $(RUN_STAMP)  ## Validate the course content
	$(BIN)/coursebot check

bench: $(TEST_STAMP)  ## Run the benchmarks (many minutes; they start their own servers; figures go in bench/RESULTS.md)
	$(BIN)/python bench/bench_core.py
	$(BIN)/python bench/bench_streaming.py
	$(BIN)/python bench/bench_store.py
	$(BIN)/python bench/bench_admission.py
	$(BIN)/python bench/bench_redis.py
	$(BIN)/python bench/bench_charts.py

lint: $(TEST_STAMP)  ## Lint the Dockerfile and the Python code
	$(BIN)/hadolint Dockerfile
	$(BIN)/ruff check bot tests bench

lock: $(TEST_STAMP)  ## Regenerate both hashed locks after a change to pyproject.toml or constraints.txt
	$(LOCK) --output-file $(RUN_LOCK)
	$(LOCK) --extra test --output-file $(TEST_LOCK)

clean:
	rm -rf $(VENV) .pytest_cache
