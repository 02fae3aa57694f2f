"""SIGKILL at any moment loses no accepted measure, and never wedges the service.

A real `telescale serve` (API + processing workers) takes batches from several client threads and is
killed with SIGKILL in the middle, twice: first the main process alone while clients post (as the OOM
killer or a supervisor would: its API and processing workers must then exit by themselves, within
about two seconds, and free the port), then the whole process group while the workers drain the
backlog.  Each time it restarts on the same port, and in the end every measure that got a 202 must be
readable.
"""

from __future__ import annotations

import contextlib
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
OVERRIDES = ["api.workers=2", "processing.workers=2", "processing.delay=0.01"]
ROLES = ("api worker", "api worker", "metricd worker 0", "metricd worker 1")
ORPHAN_SECONDS = 3.0  # the children get ~2 s after their parent died; a little slack for a busy machine


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
                     seconds: float, main_only: bool) -> None:
    """Post from two clients, then SIGKILL the main process alone or its whole group; check every
    child went away and the port is free."""
    children = server.wait_for_roles(srv.process.pid, ROLES)
    stop = threading.Event()
    threads = [threading.Thread(target=_post_until_killed, args=(url, metrics[i::2], start, acked, stop, i))
               for i in range(2)]
    for t in threads:
        t.start()
    time.sleep(seconds)
    if main_only:
        srv.kill_main(signal.SIGKILL)
    else:
        srv.kill(signal.SIGKILL)
    left = server.still_running(children, ORPHAN_SECONDS)
    stop.set()
    for t in threads:
        t.join(30)
    assert not left, f"children outlived the main process: {server.titles(left)}"
    holders = server.wait_port_free(srv.port, ORPHAN_SECONDS)
    assert not holders, f"port {srv.port} is still served after the kill, by {holders}"


def test_sigkill_loses_no_accepted_measure(tmp_path: Path) -> None:
    data = tmp_path / "data"
    acked: dict[str, list[int]] = {}
    port = server.free_port()
    # each server's whole group is killed at the end, so a failing run leaves no orphan behind
    with contextlib.ExitStack() as cleanup:
        srv = cleanup.enter_context(server.running(data, OVERRIDES, port=port))
        metrics = _setup(srv.url)
        acked.update({m: [] for m in metrics})
        # 1: the main process alone killed while clients are posting (and workers processing)
        _ingest_and_kill(srv.url, srv, metrics, acked, 1_500_000_000, 3.0, main_only=True)
        assert sum(len(v) for v in acked.values()) > 0
        # 2: restart on the same port, post more, kill the whole group with a backlog still pending
        srv = cleanup.enter_context(server.running(data, OVERRIDES, port=port))
        _ingest_and_kill(srv.url, srv, metrics, acked, 1_600_000_000, 2.0, main_only=False)
        total = sum(len(v) for v in acked.values())
        # 3: restart on the same port and check every acknowledged measure is there
        srv = cleanup.enter_context(server.running(data, OVERRIDES, port=port))
        for m in metrics:
            missing = set(acked[m]) - _stored(srv.url, m)
            assert not missing, f"metric {m}: {len(missing)} of {total} accepted measures lost"
