"""Measures in and out of one metric, shared by the metric, resource and batch routes.

Writing: the body is decoded once and turned into two numpy arrays per metric; a 202 is returned only
after the incoming driver has made the batch durable.  Reading: argument checks in Gnocchi's wording,
an optional synchronous refresh, then the shared read path in `telescale.query`.
"""

from __future__ import annotations

import asyncio
from typing import Any

import numpy as np
from fastapi import Request
from fastapi.responses import Response
from starlette.concurrency import run_in_threadpool

from telescale.api.deps import services
from telescale.api.errors import ApiError, bad_request, query_not_found
from telescale.api.jsonio import fast_json_response
from telescale.api.params import parse_bool, resample_args, timespan_arg, timestamp_arg
from telescale.query import measures as query
from telescale.timeutil import NS, TimeParseError, format_timestamps, parse_timestamps

Batch = dict[Any, tuple[np.ndarray, np.ndarray]]


def _invalid(reason: str) -> ApiError:
    return bad_request({"cause": "Invalid input", "reason": reason, "detail": []})


def parse_measures(body: Any) -> tuple[np.ndarray, np.ndarray]:
    """`[{"timestamp": t, "value": v}, …]` to (int64 ns, float64) arrays; 400 on anything else."""
    if not isinstance(body, list):
        raise _invalid("unexpected measures format")
    try:
        raw_ts = [m["timestamp"] for m in body]
        raw_values = [m["value"] for m in body]
    except (TypeError, KeyError):
        raise _invalid("unexpected measures format") from None
    try:
        timestamps = parse_timestamps(raw_ts)
    except TimeParseError as e:
        raise _invalid(f"unexpected timestamp: {e}") from None
    try:
        values = np.array(raw_values, dtype=np.float64)
    except (TypeError, ValueError):
        raise _invalid("unexpected measures value: values must be numbers") from None
    if values.ndim != 1 or any(isinstance(v, bool) for v in raw_values[:1]):
        raise _invalid("unexpected measures value: values must be numbers")
    if not np.isfinite(values).all():
        raise _invalid("unexpected measures value: NaN and infinite values are not accepted")
    if timestamps.size and timestamps.min() < 0:
        raise bad_request("Timestamp must be after Epoch")
    return timestamps, values


async def store(request: Request, batch: Batch) -> Response:
    """Make the batch durable, then answer 202 with an empty body."""
    batch = {k: v for k, v in batch.items() if v[0].size}
    if batch:
        await run_in_threadpool(services(request).incoming.add_measures, batch)
    return Response(status_code=202, headers={"content-length": "0"})


async def read(request: Request, metric: Any) -> Response:
    """GET …/measures for one metric: `[[timestamp, granularity_seconds, value], …]`, coarsest first."""
    q = request.query_params
    method = q.get("aggregation", "mean")
    granularity = timespan_arg(q.get("granularity"), "granularity")
    start = timestamp_arg(q.get("start"), "start")
    stop = timestamp_arg(q.get("stop"), "stop")
    resample, calendar = resample_args(q.get("resample"), granularity)
    try:
        query.validate(metric, method, granularity)
    except query.MeasuresQueryError as e:
        raise query_not_found(e) from None
    svc = services(request)
    if parse_bool(q.get("refresh"), "refresh"):
        await refresh(request, metric.id)
    series = await run_in_threadpool(
        query.get_measures, svc.storage, metric, method, granularity=granularity, start=start, stop=stop,
        resample=resample, calendar=calendar)
    return fast_json_response(render(series))


def render(series: list[tuple[int, np.ndarray, np.ndarray]]) -> list[list[Any]]:
    out: list[list[Any]] = []
    for granularity, ts, values in series:
        seconds = granularity / NS
        out.extend([t, seconds, v] for t, v in zip(format_timestamps(ts), values.tolist(), strict=True))
    return out


async def refresh(request: Request, metric_id: Any) -> None:
    """Process this metric's pending measures now; 503 when its sack stays locked too long."""
    svc = services(request)
    timeout = request.app.state.settings.api.refresh_timeout
    try:
        await asyncio.wait_for(run_in_threadpool(svc.refresh, metric_id, timeout), timeout + 1)
    except (TimeoutError, svc.LockTimeout):
        raise ApiError(503, f"Unable to refresh metric: {metric_id}. Metric is locked. Please try again.") \
            from None
