"""Dynamic aggregate: ``mean`` across 1,000 metrics × 1,440 points (one day at 60 s), by ids and by search.

``POST /v1/aggregates?granularity=60`` with ``{"operations": ["aggregate", "mean", ["metric", [id, "mean"], …]]}``
naming every metric of the run (the headline figure), and the same mean asked by resource search,
``{"resource_type": "generic", "search": {"=": {"project_id": P}}, "operations": "(aggregate mean (metric cpu
mean))"}`` (``by_search``). Target: p50 ≤ 100 ms on Telescale for both.

Loaded through the API only: the run's archive policy (``common.ensure_policy``: 60 s × 1 day and 300 s × 30 days,
default methods), one ``generic`` resource per metric in a project of the run, each created with its metric
``cpu`` (4 threads), then one day of 60 s gauge points per metric with ``POST /v1/batch/metrics/measures`` (50
metrics per request, 4 threads), until ``/v1/status`` shows no backlog. Each warm-up answer is checked point by
point against the mean computed here from the values sent; then ``queries`` timed requests of each form from one
keep-alive client.

    .venv/bin/python -m bench.run --only aggregates --with-gnocchi
    .venv/bin/python -m bench.aggregates --url http://127.0.0.1:8041 [--url gnocchi=http://127.0.0.1:18041]
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
import time
import uuid

import httpx
import numpy as np

from bench import common

LOG = logging.getLogger(__name__)
DAY_POINTS = 1440
METRICS_PER_REQUEST = 50  # 72,000 measures per batch request
THREADS = 4
QUERY_TIMEOUT = httpx.Timeout(600.0, connect=5.0)


def operations_body(ids: list[str]) -> bytes:
    """The request body, encoded once: the client's JSON encoding stays out of the timings."""
    return json.dumps({"operations": ["aggregate", "mean", ["metric", *[[i, "mean"] for i in ids]]]}).encode()


def search_body(project: str) -> bytes:
    """The same mean asked by resource search: every ``cpu`` metric of the run's resources."""
    return json.dumps({"resource_type": "generic", "search": {"=": {"project_id": project}},
                       "operations": "(aggregate mean (metric cpu mean))"}).encode()


def load(target: common.Target, metrics: int, project: str, timeout_s: float) -> tuple[list[str], np.ndarray, dict]:
    """Create ``metrics`` resources of ``project``, each with a metric ``cpu``, and post one day at 60 s to each
    metric; returns the metric ids, the values sent, timings."""
    policy = common.ensure_policy(target)
    t0 = time.monotonic()
    ids: list[list[str]] = [[] for _ in range(THREADS)]

    def create(c: httpx.Client, k: int) -> None:
        body = {"id": str(uuid.uuid4()), "project_id": project, "user_id": "bench",
                "metrics": {"cpu": {"archive_policy_name": policy}}}
        ids[k % THREADS].append(common.expect(c.post("/v1/resource/generic", json=body), 201).json()["metrics"]["cpu"])

    common.run_threads(target, [list(range(k, metrics, THREADS)) for k in range(THREADS)], create, timeout_s)
    all_ids = [i for part in ids for i in part]
    t1 = time.monotonic()
    stamps, values = common.gauge(metrics, DAY_POINTS, step_s=60, seed=11)
    chunks = [list(range(i, min(i + METRICS_PER_REQUEST, metrics))) for i in range(0, metrics, METRICS_PER_REQUEST)]

    def post(c: httpx.Client, chunk: list[int]) -> None:
        body = "{" + ",".join(f'"{all_ids[i]}":{common.measures_json(stamps, values[i])}' for i in chunk) + "}"
        common.expect(c.post("/v1/batch/metrics/measures", content=body.encode(),
                             headers={"Content-Type": "application/json"}), 202)

    common.run_threads(target, [chunks[k::THREADS] for k in range(THREADS)], post, timeout_s)
    t2 = time.monotonic()
    with target.client() as c:
        common.wait_no_backlog(c, timeout_s, poll_s=0.5)
    t3 = time.monotonic()
    return all_ids, values, {"create_metrics_s": round(t1 - t0, 1), "post_measures_s": round(t2 - t1, 1),
                             "drain_s": round(t3 - t2, 1)}


def _check(answer: dict, values: np.ndarray) -> None:
    """Every minute of the day, equal to the mean of what was sent (one point per metric per minute)."""
    try:
        points = answer["measures"]["aggregated"]
    except (KeyError, TypeError) as e:
        raise common.BenchError(f"no measures.aggregated in the answer: {json.dumps(answer)[:300]}") from e
    if len(points) != DAY_POINTS or any(p[1] != 60.0 for p in points):
        raise common.BenchError(f"{len(points)} points, expected {DAY_POINTS} at 60 s")
    got = np.array([p[2] for p in points])
    want = values.mean(axis=0)
    if not np.allclose(got, want, rtol=1e-9, atol=1e-9):
        worst = int(np.argmax(np.abs(got - want)))
        raise common.BenchError(f"point {worst}: {got[worst]} != mean of the values sent {want[worst]}")


def _time(c: httpx.Client, body: bytes, values: np.ndarray, queries: int, timeout_s: float) -> dict:
    """One checked warm-up, then up to ``queries`` timed requests of ``body``: warm-up ms and percentiles."""
    params = {"granularity": 60}
    headers = {"Content-Type": "application/json"}
    t = time.perf_counter()
    answer = common.expect(c.post("/v1/aggregates", params=params, content=body, headers=headers), 200).json()
    warmup = time.perf_counter() - t
    _check(answer, values)
    samples = []
    deadline = time.monotonic() + timeout_s
    for _ in range(queries):
        if time.monotonic() > deadline:
            break
        t = time.perf_counter()
        common.expect(c.post("/v1/aggregates", params=params, content=body, headers=headers), 200)
        samples.append(time.perf_counter() - t)
    if not samples:
        raise common.BenchError("no timed query within the timeout")
    return {"n": len(samples), "warmup_ms": round(warmup * 1000, 1), **common.percentiles_ms(samples)}


def run(target: common.Target, metrics: int = 1000, queries: int = 30, timeout_s: float = 1800.0) -> dict:
    """Load the metrics, then time ``queries`` aggregates by ids (the headline figure) and by search."""
    project = str(uuid.uuid4())
    ids, values, loading = load(target, metrics, project, timeout_s)
    with httpx.Client(base_url=target.url, auth=common.AUTH, timeout=QUERY_TIMEOUT,
                      headers={"Accept": "application/json"}) as c:
        by_ids = _time(c, operations_body(ids), values, queries, timeout_s)
        by_search = _time(c, search_body(project), values, queries, timeout_s)
    return {"metrics": metrics, "points_per_metric": DAY_POINTS, "granularity_s": 60, **by_ids,
            "by_search": by_search, "verified": True, **loading}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m bench.aggregates", description=__doc__.splitlines()[0])
    ap.add_argument("--url", action="append", required=True, metavar="[NAME=]URL",
                    help="server to measure (repeatable); NAME is telescale or gnocchi (guessed when omitted)")
    ap.add_argument("--metrics", type=int, default=1000)
    ap.add_argument("--queries", type=int, default=30, help="timed queries per target (after a warm-up)")
    ap.add_argument("--timeout", type=float, default=1800.0, help="seconds for loading, and for the queries")
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s", stream=sys.stderr)
    logging.getLogger("httpx").setLevel(logging.WARNING)
    from bench.run import measure_targets  # the same NAME=URL convention and ratio lines as bench.run

    return measure_targets("aggregates", args.url, lambda target: run(target, args.metrics, args.queries, args.timeout))


if __name__ == "__main__":
    sys.exit(main())
