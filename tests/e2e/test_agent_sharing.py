"""Two real `telescale agent` processes sharing the same exporters through the real Redis (tooz ring):
each series is produced exactly once, with a correct rate.

Both agents have the same configuration (ten exporter targets served by the test, a ``rate_of_change``
pipeline on their counter) but their own name and buffer. Once both see each other on the ring, the
exporters start answering: each counter grows by a random amount at every scrape and states its serving
time. Afterwards, for every target: exactly one agent scraped it (its log says the scrape works), and the
stored rates are exactly Δcounter/Δt between the consecutive scrapes the exporter served — which holds
only if one agent did all of the target's scrapes, and none of them was lost or stored twice. Each agent
also polls its own host, whose series it publishes whichever agent the ring gives the host's name to.
"""

from __future__ import annotations

import time
from collections import defaultdict
from datetime import datetime
from pathlib import Path

import httpx
import pytest

from tests import server
from tests.agent_peers import CounterExporter, Scrape, agent
from tests.integration.test_coordination_redis import redis_namespace, tooz_url  # noqa: F401 (fixture)

ADMIN = ("admin", "")
TARGETS = 10
POLICY = "agent-sharing"


def _config(name: str, api: str, coordination: str, exporter: str, workdir: Path) -> str:
    targets = "\n".join(f'    - {{url: "{exporter}/{i}", job: shared, instance: exporter-{i}, interval: 1, timeout: 2}}'
                        for i in range(TARGETS))
    return f"""
api: {{url: "{api}"}}
host: {name}
coordination_url: "{coordination}"
sources:
  host: {{interval: 1, groups: [load]}}
  prometheus:
{targets}
pipelines:
  - name: work-rate
    meters: [work_total]
    transformers: [{{name: rate_of_change, target: {{name: work.rate, unit: "1/s"}}}}]
publisher: {{flush_interval: 0.5, buffer_dir: "{workdir / 'buffer'}", archive_policy: {POLICY}}}
"""


def _wait(predicate, timeout: float, what: str) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.2)


def _expected(scrapes: list[Scrape]) -> dict[float, list[float]]:
    """The rates between consecutive served scrapes, by the 1 s bucket their later scrape falls in."""
    out: dict[float, list[float]] = defaultdict(list)
    for before, after in zip(scrapes, scrapes[1:], strict=False):
        out[float(int(after.timestamp))].append((after.value - before.value) / (after.timestamp - before.timestamp))
    return out


def _stored(c: httpx.Client, rid: str, aggregation: str) -> dict[float, float]:
    r = c.get(f"/v1/resource/prometheus/{rid}/metric/work.rate/measures",
              params={"aggregation": aggregation, "refresh": "true"})
    assert r.status_code == 200, r.text
    return {datetime.fromisoformat(row[0]).timestamp(): row[2] for row in r.json()}


@pytest.mark.timeout(300)
def test_two_agents_share_the_targets_and_produce_each_series_once_with_a_correct_rate(
        redis_namespace: str, tmp_path: Path) -> None:  # noqa: F811
    coordination = tooz_url(redis_namespace)
    with CounterExporter(TARGETS) as exporter, server.running(tmp_path / "data") as srv, \
            httpx.Client(base_url=srv.url, auth=ADMIN, timeout=30) as c:
        r = c.post("/v1/archive_policy", json={"name": POLICY, "aggregation_methods": ["mean", "count"],
                                               "definition": [{"granularity": "1s", "timespan": "1h"}]})
        assert r.status_code == 201, r.text
        (tmp_path / "a").mkdir()
        (tmp_path / "b").mkdir()
        with agent(_config("agent-a", srv.url, coordination, exporter.url, tmp_path / "a"), tmp_path / "a") as a, \
                agent(_config("agent-b", srv.url, coordination, exporter.url, tmp_path / "b"), tmp_path / "b") as b:
            _wait(lambda: all("now has 2 members" in x.log.read_text() for x in (a, b)), 60, "both agents on the ring")
            time.sleep(3)  # scrapes begun before (all failing) are over: they time out after 2 s
            exporter.start()
            time.sleep(8)
            exporter.serving = False  # the last scrapes served reach the API before the agents stop
            time.sleep(3)
            assert (a.stop(), b.stop()) == (0, 0)
        logs = {"a": a.log.read_text(), "b": b.log.read_text()}
        owners = {i: [n for n, log in logs.items() if f"(shared@exporter-{i}) works" in log] for i in range(TARGETS)}
        hosts = {name: c.get(f"/v1/resource/host/agent-{name}") for name in ("a", "b")}
        rates = {i: _stored(c, f"shared@exporter-{i}", "mean") for i in range(TARGETS)}
        counts = {i: _stored(c, f"shared@exporter-{i}", "count") for i in range(TARGETS)}

    assert all(len(o) == 1 for o in owners.values()), owners  # every target scraped by one agent only
    assert {o[0] for o in owners.values()} == {"a", "b"}, owners  # and the two agents shared them
    for i in range(TARGETS):
        expected = _expected(exporter.scrapes[i])
        assert len(exporter.scrapes[i]) >= 5, exporter.scrapes[i]
        assert counts[i] == {t: len(v) for t, v in expected.items()}, i  # each rate stored once, none lost
        assert rates[i] == pytest.approx({t: sum(v) / len(v) for t, v in expected.items()}, rel=1e-9), i
    # each agent's own host is its own, whatever the ring says about its name
    assert all(r.status_code == 200 and "load.1" in r.json()["metrics"] for r in hosts.values()), hosts
    assert all(x.stats()["acknowledged_by_resource"].get(f"agent-{n}", 0) > 0 for n, x in (("a", a), ("b", b)))
    assert all("Traceback" not in log for log in logs.values())
