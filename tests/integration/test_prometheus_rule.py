"""Prometheus alarm rules against a real Prometheus scraping itself every second.

Two scrape jobs read the same Prometheus, one labelled ``project="p1"`` and one ``project="p2"``, so
``up`` is a known value (1) in two series of two projects. Prometheus comes from Debian (``make tools``);
without it the tests are skipped on a laptop and fail when ``CI=true``.
"""

from __future__ import annotations

import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from telescale.alarming.rules.decision import ALARM, OK, UNKNOWN
from telescale.alarming.rules.prometheus import PrometheusClient, PrometheusQueryError, evaluate_prometheus
from telescale.alarming.rules.promql_scope import scope_to_project
from tests import prometheus_peer
from tests.server import free_port

CONFIG = """\
global:
  scrape_interval: 1s
  evaluation_interval: 1s
scrape_configs:
  - job_name: self-p1
    static_configs:
      - targets: ["127.0.0.1:{port}"]
        labels: {{project: p1}}
  - job_name: self-p2
    static_configs:
      - targets: ["127.0.0.1:{port}"]
        labels: {{project: p2}}
"""


@pytest.fixture(scope="module")
def prometheus_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with prometheus_peer.running(tmp_path_factory.mktemp("prometheus"), lambda port: CONFIG.format(port=port)) as (
            url, process, log):
        _wait_for_both_scrapes(url, process, log)
        yield url


def _wait_for_both_scrapes(url: str, process: subprocess.Popen, log: Path) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"prometheus exited with {process.returncode}: {log.read_text()[-2000:]}")
        try:
            body = httpx.get(f"{url}/api/v1/query", params={"query": "up"}, timeout=2).json()
            if len(body.get("data", {}).get("result", [])) == 2:
                return
        except (httpx.HTTPError, ValueError):
            pass
        time.sleep(0.2)
    pytest.fail(f"prometheus did not scrape itself within 60 s: {log.read_text()[-2000:]}")


@pytest.fixture
def client(prometheus_url: str) -> Iterator[PrometheusClient]:
    with PrometheusClient(prometheus_url, timeout=5) as c:
        yield c


def test_a_threshold_below_the_value_alarms(client):
    rule = {"query": 'up{job="self-p1"}', "threshold": 0.5, "comparison_operator": "gt"}
    d = evaluate_prometheus(client, rule, OK)
    assert d.state == ALARM
    assert d.reason == "Transition to alarm due to 1 samples outside threshold, most recent: 1.0"
    assert d.reason_data["series"][0]["job"] == "self-p1"
    assert d.reason_data["timestamps"][0].endswith("+00:00")


def test_a_threshold_above_the_value_is_ok(client):
    rule = {"query": 'up{job="self-p1"}', "threshold": 2, "comparison_operator": "gt"}
    d = evaluate_prometheus(client, rule, ALARM)
    assert d.state == OK
    assert d.reason == "Transition to ok due to 1 samples inside threshold, most recent: 1.0"


def test_every_series_is_a_point(client):
    d = evaluate_prometheus(client, {"query": "up", "threshold": 1, "comparison_operator": "ge"}, OK)
    assert (d.state, d.reason_data["count"]) == (ALARM, 2)
    assert sorted(s["project"] for s in d.reason_data["series"]) == ["p1", "p2"]


def test_an_empty_result_is_insufficient_data(client):
    d = evaluate_prometheus(client, {"query": 'up{job="nope"}', "threshold": 1, "comparison_operator": "gt"}, OK)
    assert (d.state, d.reason) == (UNKNOWN, "datapoints are unknown")


def test_a_query_error_is_an_evaluation_error(client):
    with pytest.raises(PrometheusQueryError, match="bad_data"):
        evaluate_prometheus(client, {"query": "sum(up", "threshold": 1, "comparison_operator": "gt"}, OK)


def test_an_unreachable_prometheus_is_an_evaluation_error():
    with PrometheusClient(f"http://127.0.0.1:{free_port()}", timeout=2) as c, \
            pytest.raises(PrometheusQueryError, match="did not answer"):
        c.query("up")


def test_a_scoped_rule_sees_only_its_project(client):
    rule = {"query": "up", "threshold": 0.5, "comparison_operator": "gt", "scope_to_project": "p1"}
    d = evaluate_prometheus(client, rule, OK)
    assert d.state == ALARM
    assert [s["project"] for s in d.reason_data["series"]] == ["p1"]
    other = evaluate_prometheus(client, {**rule, "scope_to_project": "p3"}, OK)
    assert other.state == UNKNOWN


def test_a_scoped_rule_cannot_read_another_project(client):
    rule = {"query": 'up{project="p2"} or sum(up)', "threshold": 0, "comparison_operator": "ge",
            "scope_to_project": "p1"}
    d = evaluate_prometheus(client, rule, OK)
    assert d.reason_data["values"] == [1.0]  # only sum(up{project="p1"})


@pytest.mark.parametrize("query", [
    "sum by (project) (up)",
    "rate(prometheus_http_requests_total[1m])",
    "max_over_time(up[30s:5s])",
    "up offset 1s",
    "avg without (instance) (up) > bool 0",
    'label_replace(up, "copy", "$1", "job", "(.*)")',
    "up and on (job) up",
    "topk(5, scrape_duration_seconds)",
    'count_values("v", up)',
    "-up",
    'up{job=~"self-.*"}',
    'absent(nonexistent{job="x"})',
])
def test_scoped_queries_run_on_prometheus_and_stay_in_the_project(client, query):
    samples = client.query(scope_to_project(query, "p1"))
    assert {s.labels["project"] for s in samples if "project" in s.labels} <= {"p1"}
    unscoped = client.query(query)
    if any(s.labels.get("project") == "p2" for s in unscoped):
        assert len(samples) < len(unscoped)
