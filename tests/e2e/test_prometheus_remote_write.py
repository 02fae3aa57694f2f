"""A real Prometheus remote-writing to a real `telescale serve`: its samples are readable through /v1 with the
values Prometheus itself answers for the same series and second.

Prometheus (Debian's, from `make tools`) scrapes itself every second and remote-writes with
``?metric_names=labels`` (each series its own metric).  Telescale keeps one point per second (`last`), so each
stored point must equal the last sample Prometheus holds in that second.  Without Prometheus the test is
skipped on a laptop and fails when ``CI=true``.
"""

from __future__ import annotations

import datetime
import time
from collections.abc import Iterator
from urllib.parse import quote

import httpx
import pytest

from telescale.ingest.names import labelled
from tests import prometheus_peer, server

AUTH = ("admin", "")
CONFIG = """\
global:
  scrape_interval: 1s
scrape_configs:
  - job_name: self
    static_configs:
      - targets: ["127.0.0.1:{port}"]
remote_write:
  - url: "{telescale}/v1/prometheus/write?metric_names=labels"
    basic_auth: {{username: admin, password: unused}}
    queue_config: {{batch_send_deadline: 1s, min_backoff: 100ms, max_backoff: 1s}}
"""
# A gauge without other labels, and a counter whose labels (one holding "/") go into the metric name.
SERIES = [("up", {}), ("prometheus_http_requests_total", {"code": "200", "handler": "/metrics"})]


@pytest.fixture(scope="module")
def telescale(tmp_path_factory: pytest.TempPathFactory) -> Iterator[server.Server]:
    with server.running(tmp_path_factory.mktemp("telescale") / "data",
                        ["indexer.create_default_archive_policies=false", "processing.delay=0.05"]) as srv:
        client = httpx.Client(base_url=srv.url, auth=AUTH, timeout=30)
        client.post("/v1/archive_policy", json={
            "name": "second", "aggregation_methods": ["last"],
            "definition": [{"granularity": "1 second", "timespan": "1 hour"}]}).raise_for_status()
        client.post("/v1/archive_policy_rule", json={
            "name": "all", "metric_pattern": "*", "archive_policy_name": "second"}).raise_for_status()
        yield srv


@pytest.fixture(scope="module")
def prometheus(telescale: server.Server, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    config = lambda port: CONFIG.format(port=port, telescale=telescale.url)  # noqa: E731
    with prometheus_peer.running(tmp_path_factory.mktemp("prometheus"), config) as (url, _, _):
        yield url


def _stored(telescale: server.Server, resource: str, metric: str) -> list[list]:
    path = f"/v1/resource/prometheus/{quote(resource, safe='')}/metric/{quote(metric, safe='')}/measures"
    response = httpx.get(telescale.url + path,
                         params={"aggregation": "last", "refresh": "true"}, auth=AUTH, timeout=30)
    return response.json() if response.status_code == 200 else []


def _prometheus_samples(url: str, name: str, labels: dict[str, str]) -> dict[int, float]:
    """Prometheus' own raw samples of one series over the last 10 minutes: the last one of each second."""
    selector = name + "{" + ",".join(f'{k}="{v}"' for k, v in labels.items()) + "}"
    body = httpx.get(f"{url}/api/v1/query", params={"query": f"{selector}[10m]"}, timeout=10).json()
    results = body["data"]["result"]
    assert len(results) == 1, body
    samples: dict[int, float] = {}
    for stamp, value in results[0]["values"]:
        samples[int(float(stamp))] = float(value)  # later samples of one second replace earlier ones
    return samples


@pytest.mark.timeout(240)
def test_prometheus_samples_are_readable_with_their_values(telescale: server.Server, prometheus: str) -> None:
    instance = prometheus.removeprefix("http://")
    resource = f"self@{instance}"
    deadline = time.monotonic() + 120
    for name, labels in SERIES:
        metric = labelled(name, sorted(labels.items()))
        while len(stored := _stored(telescale, resource, metric)) < 5:
            assert time.monotonic() < deadline, f"{metric} of {resource}: {len(stored)} points after 120 s"
            time.sleep(1)
        truth = _prometheus_samples(prometheus, name, labels)
        compared = 0
        for stamp, granularity, value in stored:
            assert granularity == 1.0
            second = int(datetime.datetime.fromisoformat(stamp).timestamp())
            if second in truth:
                assert value == truth[second], f"{metric} at {stamp}: {value} stored, Prometheus has {truth[second]}"
                compared += 1
        assert compared >= 5, f"{metric}: only {compared} of {len(stored)} stored points found in Prometheus"

    resources = httpx.get(f"{telescale.url}/v1/resource/prometheus", auth=AUTH, timeout=30).json()
    assert [(r["job"], r["instance"]) for r in resources] == [("self", instance)]
