# Set-up is part of every target: a fresh machine needs only python3 and make.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: run test check bench lint clean

$(STAMP): pyproject.toml constraints.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade "pip>=24"
	$(BIN)/python -m pip install --quiet -c constraints.txt -e ".[test]"
	touch $(STAMP)

run: $(STAMP)  ## Run the bot: the console course without chat tokens, else every configured platform
	$(BIN)/coursebot

test: $(STAMP)  ## Run the whole test suite
	$(BIN)/pytest

check: $(STAMP)  ## Validate the course content
	$(BIN)/coursebot check

bench: $(STAMP)  ## Run the benchmarks (minutes; figures go in bench/RESULTS.md)
	$(BIN)/python bench/bench_core.py
	$(BIN)/python bench/bench_streaming.py

lint: $(STAMP)  ## Lint the Dockerfile and the Python code
	$(BIN)/hadolint Dockerfile
	$(BIN)/ruff check bot tests bench

clean:
	rm -rf $(VENV) .pytest_cache
