"""Metric creation rate: POST /v1/metric with archive_policy_name over T threads."""

from __future__ import annotations

from bench import common


def run(target: common.Target, metrics: int, threads: int, timeout_s: float) -> dict:
    policy = common.ensure_policy(target)
    work = [[policy] * (metrics // threads + (1 if t < metrics % threads else 0)) for t in range(threads)]

    def create(c, name):
        common.expect(c.post("/v1/metric", json={"archive_policy_name": name}), 201)

    r = common.run_threads(target, work, create, timeout_s)
    seconds = r["end"] - r["start"]
    return {
        "metrics_per_s": round(metrics / seconds, 1),
        "metrics": metrics,
        "threads": threads,
        "seconds": round(seconds, 3),
        "request": common.percentiles_ms(r["latencies"]),
    }
