# pegkeeper: `make run` for the demo, `make test` for the whole suite.
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
GRPC := src/pegkeeper/api/grpc
PROTOS := $(wildcard $(GRPC)/protos/services/*/v1/*.proto)
GENERATED := $(GRPC)/generated/.stamp
# The browser tests drive Debian's chromium (Playwright's own browser download is not used).
CHROMIUM := /usr/bin/chromium
# anvil and solcjs from the npm registry (package.json, package-lock.json) for the chain tests;
# node_modules/ is git-ignored.
NODE_TOOLS := node_modules/.tools-installed
SOLCJS := node_modules/.bin/solcjs
# The suite runs on two workers, a file's tests on one; then the cluster tests, which time
# leases of a few seconds with processes of their own, alone and one after another.
TEST_WORKERS ?= 2

.PHONY: install run test lint bench fmt clean tools contracts properties day cluster failover

install: $(STAMP) $(GENERATED)

$(STAMP): pyproject.toml requirements.lock
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -c requirements.lock -e '.[dev]'
	@touch $(STAMP)

# The gRPC modules (and their typing stubs) from the .proto files; git-ignored.
$(GENERATED): $(STAMP) $(PROTOS)
	$(BIN)/python -m pegkeeper.api.grpc.codegen --stubs
	@touch $(GENERATED)

run: install tools
	$(BIN)/pegkeeper run

test: install tools $(CHROMIUM)
	$(BIN)/lint-imports
	$(BIN)/pytest -q -n $(TEST_WORKERS) --dist loadfile --ignore=tests/cluster --cov --cov-report= $(PYTEST_ARGS)
	$(BIN)/pytest -q --cov --cov-append --cov-report=term $(PYTEST_ARGS) tests/cluster

$(CHROMIUM):
	@echo "installing Debian's chromium for the browser tests"
	@(apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium) \
		>/dev/null 2>&1 || echo "could not install chromium: the browser tests skip (fail with CI=true)"

tools: $(NODE_TOOLS)

$(NODE_TOOLS): package.json package-lock.json
	@command -v npm >/dev/null || (echo "installing Debian's npm for anvil and solc" && \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq npm) \
		>/dev/null 2>&1 || true
	@(npm ci --no-audit --no-fund --loglevel=error >/dev/null 2>&1 && touch $@) \
		|| echo "could not install anvil and solc from npm: the chain tests skip (fail with CI=true)"

# The test contracts' committed ABI and bytecode (src/pegkeeper/sim/raindex/artifacts.json).
contracts: install tools
	$(BIN)/python -m pegkeeper.sim.raindex.compile --solcjs $(SOLCJS)

lint: install
	$(BIN)/ruff check src tests bench
	$(BIN)/ruff format --check src tests bench
	$(BIN)/mypy src
	$(BIN)/lint-imports

fmt: install
	$(BIN)/ruff format src tests bench
	$(BIN)/ruff check --fix src tests bench

# The equity ledger's invariants over 10 000 random histories (the suite runs 1 000).
properties: install
	PEGKEEPER_LEDGER_EXAMPLES=10000 $(BIN)/pytest -q -p no:cacheprovider --timeout=0 \
		tests/unit/equities/test_book_property.py

# The equity hedger's calendar day in full: 24 hours of fills at every broker, the real ones
# against their local servers, each broker's numbers printed (the suite runs 6 hours of it).
day: install
	PEGKEEPER_DAY=full $(BIN)/pytest -q -p no:cacheprovider --timeout=0 --durations=0 \
		tests/integration/equities_day

# The kill -9 campaigns at full length: 20 kills of the active hedger, 6 of the funding manager
# and of the equity hedger, each taken over by its standby (the suite runs 20, 3 and 3).
failover: install tools
	PEGKEEPER_FAILOVER_KILLS=20 PEGKEEPER_FUNDING_KILLS=6 PEGKEEPER_EQUITY_KILLS=6 \
		$(BIN)/pytest -q -p no:cacheprovider --durations=0 tests/cluster

# Every service its own process on PostgreSQL and Redis, with standbys (README: "Running as a
# cluster"); Ctrl-C stops them all.
cluster: install
	@$(BIN)/python -c "import honcho" 2>/dev/null || $(BIN)/pip install -q -c requirements.lock -e '.[dev,cluster]'
	PEGKEEPER_CONFIG=deploy/cluster/pegkeeper.toml $(BIN)/python deploy/cluster/prepare.py
	$(BIN)/honcho -f deploy/cluster/Procfile -e deploy/cluster/env start

bench: install tools
	@$(BIN)/python -c "import cryptofeed" 2>/dev/null || $(BIN)/pip install -q -c requirements.lock -e '.[dev,bench]'
	$(BIN)/python -m bench

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache .coverage $(GRPC)/generated
