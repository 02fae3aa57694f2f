"""Measures older than the back window: Gnocchi drops them silently, we say so — in the 202 to clients that
ask for JSON, and in `/v1/status` totals that survive restarts and add up across processes."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import httpx
from fastapi.testclient import TestClient

from tests import server
from tests.api.conftest import ADMIN

POLICY = {"name": "bw", "back_window": 1, "definition": [{"granularity": "1 minute", "timespan": "1 day"}]}
JSON = {"accept": "application/json"}


def _points(*minutes: int) -> list[dict[str, Any]]:
    return [{"timestamp": f"2026-12-01T12:{m:02d}:00", "value": m} for m in minutes]


def test_dropped_measures_are_reported_and_counted(client: TestClient) -> None:
    assert client.post("/v1/archive_policy", json=POLICY).status_code == 201
    a, b = (client.post("/v1/metric", json={"archive_policy_name": "bw"}).json()["id"] for _ in range(2))
    for mid in (a, b):
        assert client.post(f"/v1/metric/{mid}/measures", json=_points(0, 5)).status_code == 202
        client.get(f"/v1/metric/{mid}/measures?refresh=true")
    # last stored 12:05, back window of one 1-minute block: 12:04 is still accepted, 12:03 is not
    r = client.post("/v1/batch/metrics/measures", headers=JSON, json={a: _points(1, 3, 4, 6), b: _points(7)})
    assert r.status_code == 202
    assert r.json() == {"accepted": 3, "dropped": {"older_than_back_window": 2, "metrics": {a: 2}}}

    # Gnocchi's empty 202 for clients that do not ask for JSON, and whenever nothing was dropped
    r = client.post(f"/v1/metric/{a}/measures", headers={"accept": "*/*"}, json=_points(2))
    assert (r.status_code, r.content) == (202, b"")
    r = client.post(f"/v1/metric/{b}/measures", headers=JSON, json=_points(8))
    assert (r.status_code, r.content) == (202, b"")

    measures = client.get(f"/v1/metric/{a}/measures?refresh=true").json()
    assert [m[0][11:16] for m in measures] == ["12:00", "12:04", "12:05", "12:06"]
    client.get(f"/v1/metric/{b}/measures?refresh=true")
    status = client.get("/v1/status").json()
    assert set(status["storage"]) == {"summary", "measures_to_process"}  # Gnocchi's, unchanged
    totals = status["totals"]
    assert totals == {"metrics": 2, "measures_processed": 8, "measures_dropped_back_window": 3}


def _status(srv: server.Server) -> dict[str, Any]:
    return httpx.get(srv.url + "/v1/status", headers={**ADMIN, **JSON}).json()


def _until_processed(srv: server.Server, processed: int) -> dict[str, int]:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        status = _status(srv)
        if status["totals"]["measures_processed"] >= processed and status["storage"]["summary"]["measures"] == 0:
            return status["totals"]
        time.sleep(0.1)
    raise AssertionError(f"not processed in time: {_status(srv)}")


def test_status_totals_come_from_the_workers_and_survive_a_restart(tmp_path: Path) -> None:
    """The API and two processing worker processes add to the same totals, kept in the indexer."""
    data = tmp_path / "data"
    overrides = ["processing.workers=2", "processing.delay=0.05"]
    with server.running(data, overrides) as srv:
        api = httpx.Client(base_url=srv.url, headers={**ADMIN, **JSON})
        assert api.post("/v1/archive_policy", json=POLICY).status_code == 201
        mid = api.post("/v1/metric", json={"archive_policy_name": "bw"}).json()["id"]
        assert api.post(f"/v1/metric/{mid}/measures", json=_points(0, 5)).status_code == 202
        assert _until_processed(srv, 2)["measures_processed"] == 2
        r = api.post(f"/v1/metric/{mid}/measures", json=_points(1, 6))
        assert r.json()["dropped"]["older_than_back_window"] == 1
        assert _until_processed(srv, 3) == {"metrics": 1, "measures_processed": 3, "measures_dropped_back_window": 1}
    with server.running(data, overrides) as srv:
        assert _status(srv)["totals"] == {"metrics": 1, "measures_processed": 3, "measures_dropped_back_window": 1}
