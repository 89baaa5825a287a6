# Basis: the two commands that set a fresh machine up are `make run` and `make test`.

PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-$(shell $(PYTHON) -c "import hashlib,sys;print(hashlib.sha1(open('pyproject.toml','rb').read()).hexdigest()[:12])" 2>/dev/null)
PYTEST_ARGS ?=

.PHONY: run test bench lint fmt venv clean

## make run: start the devnet (venues, chains and Privy on loopback) and print every URL.
run: $(STAMP)
	$(BIN)/basis devnet up

## make test: create .venv if missing, install Basis with its test extras, run every test.
test: $(STAMP)
	$(BIN)/python -m pytest $(PYTEST_ARGS)

## make bench: measure start-up and latency figures; prints a table, writes bench-results/latest.json.
bench: $(STAMP)
	$(BIN)/python -m tests.bench

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

fmt: $(STAMP)
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

venv: $(STAMP)

$(STAMP): pyproject.toml
	@$(PYTHON) -c "import sys; sys.exit(0 if sys.version_info >= (3, 11) else 'Basis needs Python 3.11 or newer')"
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test]'
	@rm -f $(VENV)/.installed-*
	@touch $@

clean:
	rm -rf $(VENV) bench-results .pytest_cache .ruff_cache *.egg-info
