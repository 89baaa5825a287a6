# Basis: the two commands that set a fresh machine up are `make run` and `make test`.

PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-$(shell $(PYTHON) -c "import hashlib,sys;print(hashlib.sha1(open('pyproject.toml','rb').read()).hexdigest()[:12])" 2>/dev/null)
PYTEST_ARGS ?=
# Test processes (pytest-xdist): most tests wait on devnets and bots rather than compute, so two run at
# once even on two cores. A module's tests stay together, and the Docker tests share one process
# (tests/conftest.py). TEST_WORKERS=0 runs everything in this one process.
TEST_WORKERS ?= 2
# The Node package whose Hyperliquid response schemas the devnet's answers are checked against
# (tests/support/sdk_schemas.py); installed with npm ci when npm exists, else those tests skip.
HL_SCHEMAS := tests/support/hl_schemas
HL_SCHEMAS_STAMP := $(HL_SCHEMAS)/node_modules/.installed

# Privy's browser SDK for the portal page, bundled from npm (portal-sdk/). The bundle,
# orchestrator/web/static/privy-sdk.js, is committed: `make run`, the images and a pip install serve it
# without Node. `make portal-sdk` rebuilds it from package-lock.json (the same bytes unless the lock
# changed: tests/unit/orchestrator/test_privy_bundle.py checks).
PORTAL_SDK := portal-sdk

.PHONY: run test bench bench-gateway backtest mutate lint fmt venv clean images portal-sdk

## make run: start the devnet (venues, chains and Privy on loopback), then the control plane
## (process runtime, SQLite) at http://127.0.0.1:8000; Ctrl-C stops both (the bots keep running).
## Everything under var/ is this user's only (umask 077: the devnet log holds sign-in codes).
run: $(STAMP)
	@set -e; umask 077; mkdir -p var; chmod go-rwx var; touch var/devnet.log; chmod go-rwx var/devnet.log; \
	$(BIN)/basis devnet up > var/devnet.log 2>&1 & devnet=$$!; \
	trap 'kill $$devnet 2>/dev/null; wait $$devnet 2>/dev/null' EXIT INT TERM; \
	for i in $$(seq 1 300); do \
	  $(BIN)/python -c "import httpx; httpx.get('http://127.0.0.1:3000/health', timeout=1).raise_for_status()" \
	    2>/dev/null && break; \
	  kill -0 $$devnet 2>/dev/null || { cat var/devnet.log; exit 1; }; sleep 0.2; \
	done; \
	creds=$$($(BIN)/python -c "import httpx; p = httpx.get('http://127.0.0.1:3000/state', timeout=5).json()['privy']; \
	  print(p['app_id'], p['app_secret'])"); \
	export BASIS_CP_PRIVY_APP_ID=$${creds%% *} BASIS_CP_PRIVY_APP_SECRET=$${creds#* }; \
	cat var/devnet.log; echo; echo "control plane: http://127.0.0.1:8000  (devnet log: var/devnet.log)"; \
	echo "one-time sign-in codes: $(BIN)/basis devnet mailbox EMAIL, http://127.0.0.1:3000/mailbox?email=EMAIL,"; \
	echo "  or the 'devnet email sent' lines of var/devnet.log"; \
	$(BIN)/basis serve

## make test: create .venv if missing, install Basis with its test extras, run every test.
test: $(STAMP) $(HL_SCHEMAS_STAMP)
	$(BIN)/python -m pytest -n $(TEST_WORKERS) --dist loadgroup $(PYTEST_ARGS)

## make bench: measure start-up and latency figures; prints a table, writes bench-results/latest.json.
bench: $(STAMP)
	$(BIN)/python -m tests.bench

## make bench-gateway: 150 bots with open positions behind one address through the shared venue
## gateway, on a devnet counting Hyperliquid's real weights (BASIS_BENCH_GATEWAY_BOTS to change);
## weight a minute, 429s, tick and control-plane p99, CPU and memory per bot. About 15 minutes.
bench-gateway: $(STAMP)
	$(BIN)/python -m tests.bench gateway

## make mutate: mutation testing (mutmut) of the critical modules, each against the tests that cover it;
## prints the score per module and the surviving mutants, writes bench-results/mutation.json. Slow
## (minutes to an hour a module): not in CI. MUTATE="risk broker" for some modules only,
## MUTATE="risk --only tenant_bot/risk/engine.py" for one file.
MUTATE ?=
mutate: $(STAMP)
	$(BIN)/python -m tests.mutation $(MUTATE)

## make backtest: the bot's own decisions over the recorded history at 2x, 3x and 4x with $10,000
## (BACKTEST_DATA, BACKTEST_ARGS to change); prints the table, writes var/backtest.json and .svg.
BACKTEST_DATA ?= tenant_bot/backtest/history-sol-2025
BACKTEST_ARGS ?=
backtest: $(STAMP)
	$(BIN)/basis backtest --data $(BACKTEST_DATA) --json var/backtest.json --svg var/backtest.svg $(BACKTEST_ARGS)

## make images: the bot and control-plane images (basis/bot:VERSION, basis/control-plane:VERSION), from
## the official Python image when a registry answers, else from an offline debootstrap base
## (deploy/base-image.sh, needs root); both install from the wheelhouse (deploy/wheelhouse.sh).
IMAGE_VERSION ?= $(shell sed -n 's/^version = "\(.*\)"/\1/p' pyproject.toml | head -n1)
PY_IMAGE      ?= python:3.11-slim-bookworm
OFFLINE_BASE  ?= basis/base:bookworm
images: $(STAMP)
	@set -e; \
	if docker image inspect $(PY_IMAGE) >/dev/null 2>&1 || timeout 120 docker pull -q $(PY_IMAGE) >/dev/null 2>&1; then \
	  base=$(PY_IMAGE); \
	else \
	  echo "no image registry answers: building the offline base image $(OFFLINE_BASE)"; \
	  deploy/base-image.sh $(OFFLINE_BASE); base=$(OFFLINE_BASE); \
	fi; \
	WHEEL_PYTHON=$(BIN)/python deploy/wheelhouse.sh; \
	for image in bot control-plane; do \
	  echo "building basis/$$image:$(IMAGE_VERSION) on $$base"; \
	  log=$$(mktemp); \
	  docker build -q --build-arg BASE_IMAGE=$$base -f deploy/$$image.Dockerfile \
	    -t basis/$$image:$(IMAGE_VERSION) deploy >$$log 2>&1 || { cat $$log; rm -f $$log; exit 1; }; \
	  rm -f $$log; \
	done; \
	docker image prune -f --filter label=basis.image >/dev/null

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

fmt: $(STAMP)
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

venv: $(STAMP) $(HL_SCHEMAS_STAMP)

$(HL_SCHEMAS_STAMP): $(HL_SCHEMAS)/package.json $(HL_SCHEMAS)/package-lock.json
	@if command -v npm >/dev/null 2>&1; then \
	  cd $(HL_SCHEMAS) && npm ci --no-audit --no-fund --loglevel=error && touch node_modules/.installed; \
	else \
	  echo "npm not found: the Hyperliquid schema tests will skip (apt-get install nodejs npm)"; \
	fi

$(STAMP): pyproject.toml
	@$(PYTHON) -c "import sys; sys.exit(0 if sys.version_info >= (3, 11) else 'Basis needs Python 3.11 or newer')"
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test]'
	@rm -f $(VENV)/.installed-*
	@touch $@

portal-sdk:
	cd $(PORTAL_SDK) && npm ci --no-audit --no-fund --loglevel=error && npm run build

clean:
	rm -rf $(VENV) bench-results .pytest_cache .ruff_cache *.egg-info $(HL_SCHEMAS)/node_modules \
	  $(PORTAL_SDK)/node_modules
