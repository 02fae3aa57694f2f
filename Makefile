# Telescale: `make run` serves on :8041 with embedded defaults, `make test` runs the whole suite.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: install run test lint bench services tools clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[test]'
	touch $(STAMP)

install: $(STAMP)

run: install
	$(BIN)/telescale serve

# Start the loopback services the integration tests use, when they are down (idempotent, needs root).
services:
	@pg_isready -q -h 127.0.0.1 2>/dev/null || pg_ctlcluster --skip-systemctl-redirect $$(ls /etc/postgresql) main start || true
	@redis-cli -h 127.0.0.1 ping >/dev/null 2>&1 || redis-server --daemonize yes --bind 127.0.0.1 -::1 --port 6379 --save "" --appendonly no --dir /var/lib/redis --logfile /var/log/redis/ci.log || true

# Programs the tests drive: curl and jq (README examples), prometheus (prometheus alarm rules).
tools:
	@command -v curl >/dev/null && command -v jq >/dev/null && command -v prometheus >/dev/null || \
	  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq curl jq prometheus)

lint: install
	$(BIN)/ruff check telescale tests bench

test: install services tools lint
	$(BIN)/python -m pytest -q -p no:cacheprovider tests

bench: install
	$(BIN)/python -m bench.run
	$(BIN)/python -m bench.remote_write
	$(BIN)/python -m bench.alarm_latency
	$(BIN)/python -m bench.alarm_cycle
	$(BIN)/python -m bench.scaling_latency

clean:
	rm -rf $(VENV) data
