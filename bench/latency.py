"""GET measures latency: one metric holding one day of 60 s points, fetched N times after a warm-up."""

from __future__ import annotations

import time

from bench import common

DAY_POINTS = 1440


def run(target: common.Target, n: int, timeout_s: float) -> list[dict]:
    policy = common.ensure_policy(target)
    stamps, values = common.gauge(1, DAY_POINTS, step_s=60, seed=7)
    start, stop = common.T0, common.T0 + 60 * DAY_POINTS
    with target.client() as c:
        mid = common.create_metrics(c, policy, 1)[0]
        common.expect(
            c.post(
                f"/v1/metric/{mid}/measures",
                content=common.measures_json(stamps, values[0]),
                headers={"Content-Type": "application/json"},
            ),
            202,
        )
        # Processing complete: refresh once, then the server backlog must be empty.
        common.expect(c.get(f"/v1/metric/{mid}/measures", params={"refresh": "true", "granularity": 60}), 200)
        common.wait_no_backlog(c, timeout_s)
        variants = {
            "granularity": {"granularity": 60},
            "range": {"aggregation": "mean", "start": common.iso(start), "stop": common.iso(stop)},
        }
        out = []
        for variant, params in variants.items():
            rows = common.expect(c.get(f"/v1/metric/{mid}/measures", params=params), 200).json()  # warm-up
            got = sum(1 for r in rows if r[1] == 60)
            if got != DAY_POINTS:
                raise common.BenchError(f"{variant}: {got} points at 60 s, expected {DAY_POINTS}")
            samples = []
            deadline = time.monotonic() + timeout_s
            for _ in range(n):
                if time.monotonic() > deadline:
                    raise common.BenchError(f"{variant}: {n} GETs took over {timeout_s:.0f} s")
                t = time.perf_counter()
                common.expect(c.get(f"/v1/metric/{mid}/measures", params=params), 200)
                samples.append(time.perf_counter() - t)
            out.append(
                {
                    "variant": variant,
                    "params": params,
                    "n": n,
                    "points_returned": len(rows),
                    **common.percentiles_ms(samples),
                }
            )
    return out
