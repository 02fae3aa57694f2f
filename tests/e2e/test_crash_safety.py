"""SIGKILL at any moment loses no accepted measure.

A real `telescale serve` (API + processing workers) takes batches from several client threads; the
whole process group is killed with SIGKILL in the middle, twice (once while clients post, once while
the workers drain the backlog).  After a restart every measure that got a 202 must be readable.
"""

from __future__ import annotations

import signal
import threading
import time
from pathlib import Path

import httpx
import numpy as np

from tests import server

ADMIN = ("admin", "")
METRICS = 8
BATCH = 200
OVERRIDES = ["processing.workers=2", "processing.delay=0.01"]


def _setup(url: str) -> list[str]:
    with httpx.Client(base_url=url, auth=ADMIN, timeout=30) as c:
        r = c.post("/v1/archive_policy", json={"name": "crash", "aggregation_methods": ["count"],
                                                "definition": [{"granularity": "1 second"}]})
        assert r.status_code == 201, r.text
        return [c.post("/v1/metric", json={"archive_policy_name": "crash"}).json()["id"] for _ in range(METRICS)]


def _post_until_killed(url: str, metrics: list[str], start: int, acked: dict[str, list[int]],
                       stop: threading.Event, offset: int) -> None:
    """Post unique timestamps; remember a batch only once its 202 arrived."""
    n = start + offset * 10_000_000
    with httpx.Client(base_url=url, auth=ADMIN, timeout=10) as c:
        while not stop.is_set():
            stamps = list(range(n, n + BATCH))
            n += BATCH
            body = {m: [{"timestamp": t, "value": 1.0} for t in stamps] for m in metrics}
            try:
                r = c.post("/v1/batch/metrics/measures", json=body)
            except httpx.HTTPError:
                return
            if r.status_code == 202:
                for m in metrics:
                    acked[m].extend(stamps)


def _stored(url: str, metric: str) -> set[int]:
    with httpx.Client(base_url=url, auth=ADMIN, timeout=60) as c:
        r = c.get(f"/v1/metric/{metric}/measures", params={"aggregation": "count", "refresh": "true"})
        assert r.status_code == 200, r.text
        stamps = np.array([row[0][:19] for row in r.json()], dtype="datetime64[s]").astype(np.int64)
        return set(stamps.tolist())


def _ingest_and_kill(url: str, srv: server.Server, metrics: list[str], acked: dict, start: int,
                     seconds: float) -> None:
    stop = threading.Event()
    threads = [threading.Thread(target=_post_until_killed, args=(url, metrics[i::2], start, acked, stop, i))
               for i in range(2)]
    for t in threads:
        t.start()
    time.sleep(seconds)
    srv.kill(signal.SIGKILL)
    stop.set()
    for t in threads:
        t.join(30)


def test_sigkill_loses_no_accepted_measure(tmp_path: Path) -> None:
    data = tmp_path / "data"
    acked: dict[str, list[int]] = {}
    srv = server.start(data, OVERRIDES)
    metrics = _setup(srv.url)
    acked.update({m: [] for m in metrics})
    # 1: killed while clients are posting (and workers processing)
    _ingest_and_kill(srv.url, srv, metrics, acked, 1_500_000_000, 3.0)
    assert sum(len(v) for v in acked.values()) > 0
    # 2: restart, post more, kill again right after posting stops, with a backlog still pending
    srv = server.start(data, OVERRIDES)
    _ingest_and_kill(srv.url, srv, metrics, acked, 1_600_000_000, 2.0)
    total = sum(len(v) for v in acked.values())
    # 3: restart and check every acknowledged measure is there
    srv = server.start(data, OVERRIDES)
    try:
        for m in metrics:
            missing = set(acked[m]) - _stored(srv.url, m)
            assert not missing, f"metric {m}: {len(missing)} of {total} accepted measures lost"
    finally:
        srv.kill(signal.SIGTERM)
