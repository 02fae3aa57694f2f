"""End-to-end ingest: N metrics x P points in batches of B points per metric over T client threads.

Timer: from the first POST until GET /v1/status shows no backlog. Two modes:
``batch`` (each request is POST /v1/batch/metrics/measures carrying the next B points for each of the
thread's metrics) and ``per-metric`` (each request is POST /v1/metric/{id}/measures with B points).
"""

from __future__ import annotations

from collections.abc import Callable

from bench import common

MODES = ("batch", "per-metric")
HEADERS = {"Content-Type": "application/json"}


def _requests(mode: str, ids: list[str], chunks: list[list[str]]) -> list[tuple[str, bytes]]:
    """One thread's requests in sending order, as (path, body): the next chunk of every metric each time."""
    out = []
    for k in range(len(chunks[0])):
        if mode == "batch":
            body = "{" + ",".join(f'"{mid}":{chunks[i][k]}' for i, mid in enumerate(ids)) + "}"
            out.append(("/v1/batch/metrics/measures", body.encode()))
        else:
            out.extend((f"/v1/metric/{mid}/measures", chunks[i][k].encode()) for i, mid in enumerate(ids))
    return out


def _post(c, req) -> None:
    common.expect(c.post(req[0], content=req[1], headers=HEADERS), 202)


def run(
    target: common.Target, mode: str, metrics: int, points: int, batch: int, threads: int, timeout_s: float,
    mark: Callable[[str], None] | None = None,
) -> dict:
    """``mark`` (optional) is called with ``"start"`` just before the first POST (metrics created, server idle)
    and with ``"drained"`` once the backlog is empty (before the check): what a caller samples between them
    (CPU, operation counts) belongs to the timed ingest only."""
    if mode not in MODES or metrics % threads or points % batch:
        raise ValueError(f"bad ingest shape: {mode}, {metrics} metrics, {points} points, {threads} threads")
    policy = common.ensure_policy(target)
    with target.client() as c:
        ids = common.create_metrics(c, policy, metrics)
        common.wait_no_backlog(c, timeout_s)  # start from an idle server
    stamps, values = common.gauge(metrics, points)
    chunks = [
        [common.measures_json(stamps[j : j + batch], values[i, j : j + batch]) for j in range(0, points, batch)]
        for i in range(metrics)
    ]
    per = metrics // threads
    work = [_requests(mode, ids[t * per : (t + 1) * per], chunks[t * per : (t + 1) * per]) for t in range(threads)]
    del chunks
    if mark:
        mark("start")
    r = common.run_threads(target, work, _post, timeout_s)
    with target.client() as c:
        t_done = common.wait_no_backlog(c, timeout_s)
        if mark:
            mark("drained")
        _verify(c, [ids[0], ids[-1]], points)
    total = metrics * points
    e2e, post = t_done - r["start"], r["end"] - r["start"]
    return {
        "mode": mode,
        "measures_per_s": round(total / e2e, 1),
        "post_measures_per_s": round(total / post, 1),
        "points": total,
        "metrics": metrics,
        "batch_points_per_metric": batch,
        "threads": threads,
        "requests": len(r["latencies"]),
        "seconds": round(e2e, 3),
        "post_seconds": round(post, 3),
        "drain_seconds": round(t_done - r["end"], 3),
        "request": common.percentiles_ms(r["latencies"]),
        "verified": True,
    }


def _verify(c, ids: list[str], points: int) -> None:
    """Every point landed: the count aggregate at 300 s sums to the points sent."""
    for mid in ids:
        rows = common.expect(
            c.get(f"/v1/metric/{mid}/measures", params={"aggregation": "count", "granularity": 300}), 200
        ).json()
        got = int(sum(r[2] for r in rows))
        if got != points:
            raise common.BenchError(f"metric {mid}: {got} points stored, {points} sent")
