"""Counter resets seen through the HTTP API (gnocchi #1, #1044, #1079).

A cumulative counter (a VM's CPU time in ns) restarts from zero when the VM reboots. ``rate:`` archive
methods and ``counterrateofchange`` report the increase since the restart instead of a negative rate;
``rateofchange`` keeps Gnocchi's plain difference (its conformance file asserts negative values).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from tests.api.conftest import ADMIN, USER, make_client

# one point a minute; the VM reboots between 12:03 and 12:04 (the counter falls from 400 to 30)
CPU = [("2026-11-23T12:00:00", 100.0), ("2026-11-23T12:01:00", 200.0), ("2026-11-23T12:02:00", 300.0),
       ("2026-11-23T12:03:00", 400.0), ("2026-11-23T12:04:00", 30.0), ("2026-11-23T12:05:00", 130.0)]


@pytest.fixture
def client(tmp_path: Path) -> Iterator[TestClient]:
    with make_client(tmp_path) as c:
        r = c.post("/v1/archive_policy", headers=ADMIN, json={
            "name": "counter", "aggregation_methods": ["mean", "rate:mean", "rate:sum", "rate:last", "rate:max"],
            "definition": [{"granularity": "1 minute"}, {"granularity": "5 minutes"}]})
        assert r.status_code == 201, r.text
        yield c
        c.app.state.services.close()


def new_metric(client: TestClient) -> str:
    r = client.post("/v1/metric", headers=USER, json={"archive_policy_name": "counter"})
    assert r.status_code == 201, r.text
    return r.json()["id"]


def push(client: TestClient, mid: str, points: list[tuple[str, float]]) -> None:
    r = client.post(f"/v1/metric/{mid}/measures", headers=USER,
                    json=[{"timestamp": t, "value": v} for t, v in points])
    assert r.status_code == 202, r.text


def measures(client: TestClient, mid: str, query: str) -> list[list]:
    r = client.get(f"/v1/metric/{mid}/measures?refresh=true&{query}", headers=USER)
    assert r.status_code == 200, r.text
    return r.json()


@pytest.mark.parametrize("cut", [len(CPU), 4, 3])  # one request; the reset as the first point of a batch; inside
def test_rate_mean_across_a_reset(client: TestClient, cut: int) -> None:
    mid = new_metric(client)
    push(client, mid, CPU[:cut])
    if cut < len(CPU):
        measures(client, mid, "")  # process the first batch before the second arrives
        push(client, mid, CPU[cut:])
    assert measures(client, mid, "aggregation=rate:mean&granularity=60") == [
        ["2026-11-23T12:01:00+00:00", 60.0, 100.0],
        ["2026-11-23T12:02:00+00:00", 60.0, 100.0],
        ["2026-11-23T12:03:00+00:00", 60.0, 100.0],
        ["2026-11-23T12:04:00+00:00", 60.0, 30.0],   # not -370: 30 counted since the reboot
        ["2026-11-23T12:05:00+00:00", 60.0, 100.0],
    ]
    # 5-minute buckets: [12:00, 12:05) holds +100 +100 +100 +30; [12:05, …) holds +100
    assert measures(client, mid, "aggregation=rate:sum&granularity=300") == [
        ["2026-11-23T12:00:00+00:00", 300.0, 330.0], ["2026-11-23T12:05:00+00:00", 300.0, 100.0]]
    for method in ("rate:mean", "rate:sum", "rate:last", "rate:max"):
        assert all(v >= 0 for _, _, v in measures(client, mid, f"aggregation={method}")), method


def test_rateofchange_over_aggregates(client: TestClient) -> None:
    mid = new_metric(client)
    push(client, mid, CPU)
    measures(client, mid, "")

    def post(operations: str) -> list[list]:
        r = client.post("/v1/aggregates?granularity=60", headers=USER, json={"operations": operations})
        assert r.status_code == 200, r.text
        return r.json()["measures"][mid]["mean"]

    counter = post(f"(counterrateofchange (metric {mid} mean))")
    assert [v for _, _, v in counter] == [100.0, 100.0, 100.0, 30.0, 100.0]
    assert counter[3][0] == "2026-11-23T12:04:00+00:00"
    per_second = post(f"(counterrateofchangesec (metric {mid} mean))")
    assert [v for _, _, v in per_second] == pytest.approx([100 / 60, 100 / 60, 100 / 60, 0.5, 100 / 60])
    # Gnocchi's own operator is left as Gnocchi defines it (aggregates-with-metric-ids.yaml asserts < 0)
    plain = post(f"(rateofchange (metric {mid} mean))")
    assert [v for _, _, v in plain] == [100.0, 100.0, 100.0, -370.0, 100.0]
    # the archive-policy rate, read through aggregates, is already reset-safe
    r = client.post("/v1/aggregates?granularity=60", headers=USER,
                    json={"operations": f"(aggregate sum (metric {mid} rate:mean))"})
    assert r.status_code == 200, r.text
    assert [v for _, _, v in r.json()["measures"]["aggregated"]] == [100.0, 100.0, 100.0, 30.0, 100.0]
