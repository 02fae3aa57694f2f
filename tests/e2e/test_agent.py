"""A real `telescale agent` scraping a real node-exporter and polling its host, publishing to a real server.

The agent scrapes and polls every second and flushes every second. Its metrics must be readable through
/v1 with their values; then the API is stopped for 30 s while the agent keeps producing, restarted on the
same port and data directory, and every sample the agent produced must be stored: for each resource, the
sum of the ``count`` aggregates of its metrics equals what the agent counted (``stats.json``), exactly.
"""

from __future__ import annotations

import signal
import time
from pathlib import Path

import httpx
import psutil
import pytest

from tests import server
from tests.agent_peers import agent, node_exporter

ADMIN = ("admin", "")
HOST = "agent-e2e-host"
OUTAGE_SECONDS = 30


def _config(api: str, exporter: str, workdir: Path) -> str:
    return f"""
api: {{url: "{api}", timeout: 30}}
host: {HOST}
sources:
  host: {{interval: 1, groups: [memory, load]}}
  prometheus: [{{url: "{exporter}", job: node, interval: 1}}]
publisher: {{flush_interval: 1, buffer_dir: "{workdir / 'buffer'}", max_backoff: 2}}
"""


def _wait(predicate, timeout: float, what: str) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.2)


def _metrics(c: httpx.Client, rid: str) -> dict[str, str]:
    r = c.get(f"/v1/resource/generic/{rid}")
    assert r.status_code == 200, r.text
    return r.json()["metrics"]


def _last(c: httpx.Client, metric: str, aggregation: str = "max") -> float:
    r = c.get(f"/v1/metric/{metric}/measures", params={"aggregation": aggregation, "refresh": "true"})
    assert r.status_code == 200, r.text
    return r.json()[-1][2]


def _stored_count(c: httpx.Client, rid: str) -> int:
    total = 0
    for metric in _metrics(c, rid).values():
        r = c.get(f"/v1/metric/{metric}/measures", params={"aggregation": "count", "refresh": "true"})
        assert r.status_code == 200, r.text
        total += int(sum(row[2] for row in r.json()))
    return total


@pytest.mark.timeout(600)
def test_agent_publishes_exporter_and_host_metrics_and_loses_nothing_while_the_api_is_down(tmp_path: Path) -> None:
    data = tmp_path / "data"
    with node_exporter() as exporter:
        srv = server.start(data)
        port = srv.port
        try:
            with agent(_config(srv.url, exporter, tmp_path), tmp_path) as running, \
                    httpx.Client(base_url=srv.url, auth=ADMIN, timeout=60) as c:
                node = f"node@{exporter.split('/')[2]}"
                _wait(lambda: running.stats().get("acknowledged_by_resource", {}).get(node, 0) > 0
                      and running.stats()["acknowledged_by_resource"].get(HOST, 0) > 0, 120, "the first batches")

                # node-exporter's series, on the prometheus resource job@instance, with their values
                r = c.get(f"/v1/resource/prometheus/{node}")
                assert r.status_code == 200, r.text
                assert (r.json()["job"], r.json()["instance"]) == ("node", exporter.split("/")[2])
                metrics = _metrics(c, node)
                assert {"node_load1", "node_time_seconds", "up", "scrape_duration_seconds"} <= set(metrics)
                assert _last(c, metrics["up"]) == 1.0
                assert abs(_last(c, metrics["node_time_seconds"]) - time.time()) < 600
                # the host's own series
                host = _metrics(c, HOST)
                assert {"memory.total", "memory.used", "load.1"} <= set(host)
                assert _last(c, host["memory.total"]) == float(psutil.virtual_memory().total)

                # the API goes away for 30 s while the agent keeps producing
                before = running.stats()["produced"]
                srv.kill(signal.SIGTERM)
                time.sleep(OUTAGE_SECONDS)
                buffered = running.stats()["buffered"]
                assert running.stats()["produced"] > before + 2 * OUTAGE_SECONDS // 2, running.stats()
                assert buffered > 0, running.stats()
                srv = server.start(data, port=port)
                _wait(lambda: running.stats().get("buffered", 1) == 0, 180, "the buffer's replay")
                assert running.stop() == 0
            stats = running.stats()
            log = running.log.read_text()
            assert "is unavailable" in log and "replaying" in log, log[-3000:]
            assert stats["produced"] == stats["acknowledged"], stats
            assert (stats["rejected"], stats["dropped_by_policy"], stats["buffered"]) == (0, 0, 0), stats
            with httpx.Client(base_url=srv.url, auth=ADMIN, timeout=60) as c:
                for rid, count in stats["acknowledged_by_resource"].items():
                    assert _stored_count(c, rid) == count, rid
        finally:
            srv.kill(signal.SIGTERM)
