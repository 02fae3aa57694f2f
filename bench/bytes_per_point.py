"""Bytes per stored point: size of the server's storage directory / aggregated points it serves.

Points are counted through the API: for every metric, GET measures for every aggregation method of its
archive policy (all granularities at once). Run it after the ingest bench, once the backlog is empty.
"""

from __future__ import annotations

import os
import time

from bench import common

MAX_PAGES = 100


def dir_bytes(path: str) -> tuple[int, int, int]:
    """(apparent bytes, allocated bytes, files) of the regular files under ``path``."""
    size = blocks = files = 0
    for root, _dirs, names in os.walk(path):
        for n in names:
            try:
                st = os.lstat(os.path.join(root, n))
            except FileNotFoundError:
                continue
            size += st.st_size
            blocks += st.st_blocks * 512
            files += 1
    return size, blocks, files


def _all_metrics(c, deadline: float) -> list[dict]:
    out: list[dict] = []
    params: dict = {"limit": 1000}
    for _ in range(MAX_PAGES):
        page = common.expect(c.get("/v1/metric", params=params), 200).json()
        out.extend(page)
        if len(page) < 1000 or time.monotonic() > deadline:
            return out
        params["marker"] = page[-1]["id"]
    raise common.BenchError(f"over {MAX_PAGES * 1000} metrics; refusing to count them all")


def _methods(c, metric: dict, cache: dict) -> list[str]:
    ap = metric.get("archive_policy")
    if isinstance(ap, dict) and ap.get("aggregation_methods"):
        return list(ap["aggregation_methods"])
    name = ap if isinstance(ap, str) else metric.get("archive_policy_name") or (ap or {}).get("name")
    if name not in cache:
        cache[name] = common.expect(c.get(f"/v1/archive_policy/{name}"), 200).json()["aggregation_methods"]
    return cache[name]


def stored_points(c, timeout_s: float) -> tuple[int, int]:
    """(aggregated points served over every metric, method and granularity; metrics holding data)."""
    deadline = time.monotonic() + timeout_s
    cache: dict = {}
    points = with_data = 0
    for m in _all_metrics(c, deadline):
        for i, method in enumerate(_methods(c, m, cache)):
            if time.monotonic() > deadline:
                raise common.BenchError(f"counting stored points took over {timeout_s:.0f} s")
            n = len(common.expect(c.get(f"/v1/metric/{m['id']}/measures", params={"aggregation": method}), 200).json())
            if i == 0 and n == 0:
                break  # empty metric: no method holds points
            with_data += i == 0
            points += n
    return points, with_data


def run(target: common.Target, timeout_s: float) -> dict:
    if not target.storage_dir:
        return {"skipped": "storage directory unknown: pass --storage-dir NAME=PATH"}
    if not os.path.isdir(target.storage_dir):
        raise common.BenchError(f"storage directory missing: {target.storage_dir}")
    with target.client() as c:
        common.wait_no_backlog(c, timeout_s)
        points, with_data = stored_points(c, timeout_s)
    size, blocks, files = dir_bytes(target.storage_dir)
    if not points:
        raise common.BenchError("no stored points: run the ingest bench first")
    return {
        "bytes_per_point": round(size / points, 3),
        "disk_bytes_per_point": round(blocks / points, 3),
        "bytes": size,
        "disk_bytes": blocks,
        "files": files,
        "stored_points": points,
        "metrics_with_data": with_data,
        "storage_dir": target.storage_dir,
    }


def codec() -> dict | None:
    """Telescale's own codec figure, when ``telescale.timeseries.codec`` provides it."""
    try:
        from telescale.timeseries.codec import bench_bytes_per_point
    except ImportError:
        return None
    try:
        value = bench_bytes_per_point("gauge")
    except Exception as e:  # noqa: BLE001 - another engineer's code in progress: report, don't crash
        return {"kind": "gauge", "error": f"{type(e).__name__}: {e}"}
    if isinstance(value, dict):
        return {"kind": "gauge", **value}
    try:
        return {"kind": "gauge", "bytes_per_point": float(value)}
    except (TypeError, ValueError):
        return {"kind": "gauge", "error": f"unexpected result {value!r}"}
