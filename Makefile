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

.PHONY: install run test lint bench fmt clean

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

run: install
	$(BIN)/pegkeeper run

test: install $(CHROMIUM)
	$(BIN)/lint-imports
	$(BIN)/pytest -q --cov --cov-report=term $(PYTEST_ARGS)

$(CHROMIUM):
	@echo "installing Debian's chromium for the browser tests"
	@(apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium) \
		>/dev/null 2>&1 || echo "could not install chromium: the browser tests skip (fail with CI=true)"

lint: install
	$(BIN)/ruff check src tests bench
	$(BIN)/ruff format --check src tests bench
	$(BIN)/mypy src
	$(BIN)/lint-imports

fmt: install
	$(BIN)/ruff format src tests bench
	$(BIN)/ruff check --fix src tests bench

bench: install
	@$(BIN)/python -c "import cryptofeed" 2>/dev/null || $(BIN)/pip install -q -c requirements.lock -e '.[dev,bench]'
	$(BIN)/python -m bench

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache .coverage $(GRPC)/generated
