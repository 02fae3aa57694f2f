# Telescale: `make run` serves on :8041 with embedded defaults, `make test` runs the whole suite.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: install run run-agent test lint bench services tools clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[test]'
	touch $(STAMP)

install: $(STAMP)

run: install
	$(BIN)/telescale serve

# A local agent publishing this machine's metrics to `make run`'s server (its config is written once).
run-agent: install
	@test -f data/agent.yaml || (mkdir -p data && printf '%s\n' 'api: {url: "http://127.0.0.1:8041"}' \
	  'sources: {host: {interval: 10}}' 'publisher: {buffer_dir: data/agent-buffer, flush_interval: 5}' > data/agent.yaml)
	$(BIN)/telescale agent --config data/agent.yaml

# Start the loopback services the integration tests use, when they are down (idempotent, needs root);
# the S3 stand-in (moto's standalone server, from the test extras) for the s3 storage driver's contract tests.
S3_PORT ?= 9000
services: install
	@curl -s -o /dev/null http://127.0.0.1:$(S3_PORT)/ || (setsid nohup $(BIN)/moto_server -H 127.0.0.1 -p $(S3_PORT) \
	  >/tmp/telescale-moto-$(S3_PORT).log 2>&1 &); \
	  for i in $$(seq 100); do curl -s -o /dev/null http://127.0.0.1:$(S3_PORT)/ && break; sleep 0.1; done
	@pg_isready -q -h 127.0.0.1 2>/dev/null || pg_ctlcluster --skip-systemctl-redirect $$(ls /etc/postgresql) main start || true
	@redis-cli -h 127.0.0.1 ping >/dev/null 2>&1 || redis-server --daemonize yes --bind 127.0.0.1 -::1 --port 6379 --save "" --appendonly no --dir /var/lib/redis --logfile /var/log/redis/ci.log || true
	@timeout 2 bash -c '</dev/tcp/127.0.0.1/5672' 2>/dev/null || rabbitmq-server -detached || true

# Programs the tests drive: curl and jq (README examples), prometheus (prometheus alarm rules),
# prometheus-node-exporter (scraped by the agent), collectd (its write_http plugin needs libyajl2 and
# libcurl3-gnutls, which collectd-core only suggests).
tools:
	@command -v curl >/dev/null && command -v jq >/dev/null && command -v prometheus >/dev/null && \
	  command -v prometheus-node-exporter >/dev/null && command -v collectd >/dev/null && \
	  ldconfig -p | grep -q libyajl.so.2 || \
	  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq curl jq prometheus \
	    prometheus-node-exporter collectd-core libyajl2 libcurl3-gnutls)

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
	$(BIN)/python -m bench.agent_cpu
	$(BIN)/python -m bench.scaleout

clean:
	rm -rf $(VENV) data
