"""`/v1/status` tells what each processing worker did, against a live server with a real worker."""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx

from tests import server

ADMIN = ("admin", "")
MEASURES = 100


def _status_until(client: httpx.Client, done: Callable[[dict[str, Any]], bool], timeout: float = 60.0,
                  ) -> dict[str, Any]:
    """The `metricd` part of /v1/status once ``done`` holds for it."""
    deadline = time.monotonic() + timeout
    while True:
        r = client.get("/v1/status")
        assert r.status_code == 200, r.text
        metricd = r.json()["metricd"]
        if done(metricd):
            return metricd
        assert time.monotonic() < deadline, f"status never got there: {metricd}"
        time.sleep(0.2)


def _totals(metricd: dict[str, Any], key: str) -> int:
    return sum(stats.get(key, 0) for stats in metricd["statistics"].values())


def test_statistics_show_the_measures_each_worker_processed(tmp_path: Path) -> None:
    with server.running(tmp_path / "data", ["processing.workers=1", "processing.delay=0.01"]) as srv, \
            httpx.Client(base_url=srv.url, auth=ADMIN, timeout=30) as c:
        r = c.post("/v1/archive_policy", json={"name": "status", "aggregation_methods": ["mean"],
                                                "definition": [{"granularity": "1 second"}]})
        assert r.status_code == 201, r.text
        metric = c.post("/v1/metric", json={"archive_policy_name": "status"}).json()["id"]
        measures = [{"timestamp": f"2026-01-01T00:{i // 60:02d}:{i % 60:02d}Z", "value": i} for i in range(MEASURES)]
        assert c.post(f"/v1/metric/{metric}/measures", json=measures).status_code == 202
        _status_until(c, lambda m: _totals(m, "measures") >= MEASURES)
        # The API refuses what is older than the bound it knows (the last point it saw stored, 00:01:39);
        # a measure newer than that but older than a point processed since (00:03:20) reaches processing,
        # which drops and counts it.
        newer = [{"timestamp": "2026-01-01T00:03:20Z", "value": 1}]
        assert c.post(f"/v1/metric/{metric}/measures", json=newer).status_code == 202
        _status_until(c, lambda m: _totals(m, "measures") >= MEASURES + 1)
        late = [{"timestamp": "2026-01-01T00:02:30Z", "value": 1}]
        assert c.post(f"/v1/metric/{metric}/measures", json=late).status_code == 202
        metricd = _status_until(c, lambda m: _totals(m, "dropped") >= 1)
        worker_pids = {p.pid for p in srv.children()}

    (name,) = metricd["processors"]
    assert list(metricd["statistics"]) == [name]
    stats = metricd["statistics"][name]
    assert stats["measures"] == MEASURES + 2 and stats["dropped"] == 1
    assert stats["metrics"] >= 3 and stats["sacks"] >= 3 and stats["errors"] == 0
    assert stats["pid"] in worker_pids
    assert datetime.fromisoformat(stats["started_at"]) <= datetime.fromisoformat(stats["last_pass_at"])
