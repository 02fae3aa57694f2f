"""Measures in and out of one metric, shared by the metric, resource and batch routes.

Writing: the body is decoded once and turned into two numpy arrays per metric; a 202 is returned only
after the incoming driver has made the batch durable.  Reading: argument checks in Gnocchi's wording,
an optional synchronous refresh, then the shared read path in `telescale.query`.
"""

from __future__ import annotations

import asyncio
import itertools
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


def _columns(body: Any) -> tuple[list[Any], list[Any]]:
    if not isinstance(body, list):
        raise _invalid("unexpected measures format")
    try:
        return [m["timestamp"] for m in body], [m["value"] for m in body]
    except (TypeError, KeyError):
        raise _invalid("unexpected measures format") from None


def _values(raw: list[Any]) -> np.ndarray:
    if bool in set(map(type, raw)):
        raise _invalid("unexpected measures value: values must be numbers")
    try:
        values = np.array(raw, dtype=np.float64)
    except (TypeError, ValueError):
        raise _invalid("unexpected measures value: values must be numbers") from None
    if values.ndim != 1:
        raise _invalid("unexpected measures value: values must be numbers")
    if not np.isfinite(values).all():
        raise _invalid("unexpected measures value: NaN and infinite values are not accepted")
    return values


def _timestamps(raw: list[Any]) -> np.ndarray:
    try:
        timestamps = parse_timestamps(raw)
    except TimeParseError as e:
        raise _invalid(f"unexpected timestamp: {e}") from None
    if timestamps.size and timestamps.min() < 0:
        raise bad_request("Timestamp must be after Epoch")
    return timestamps


def parse_many(bodies: list[Any]) -> list[tuple[np.ndarray, np.ndarray]]:
    """Several `[{"timestamp": t, "value": v}, …]` lists to (int64 ns, float64) arrays; 400 on anything else.

    The lists of a batch are converted together — one numpy conversion for all timestamps and one for all
    values — because per-call overhead, not per-point work, dominates requests of many small lists.
    """
    if not bodies:  # an empty batch: np.split below would still return one (empty) pair
        return []
    columns = [_columns(body) for body in bodies]
    counts = np.cumsum([len(ts) for ts, _ in columns])[:-1]
    all_ts = [t for ts, _ in columns for t in ts]
    try:
        timestamps = np.split(_timestamps(all_ts), counts)
    except ApiError:
        # one list may use epoch numbers and another strings: that is allowed across lists
        timestamps = [_timestamps(ts) for ts, _ in columns]
    values = np.split(_values([v for _, vs in columns for v in vs]), counts)
    return list(zip(timestamps, values, strict=True))


def parse_measures(body: Any) -> tuple[np.ndarray, np.ndarray]:
    """One list of measures (see `parse_many`)."""
    return parse_many([body])[0]


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
    if calendar is not None:  # Gnocchi reports the calendar unit ("Y", "M" …) in place of the granularity
        series = [(calendar, ts, values) for _, ts, values in series]
    return fast_json_response(render(series))


def render(series: list[tuple[Any, np.ndarray, np.ndarray]]) -> list[tuple[str, Any, float]]:
    """Rows ``(timestamp, granularity_seconds, value)``; tuples built by zip in C (orjson writes them as arrays)."""
    out: list[tuple[str, Any, float]] = []
    for granularity, ts, values in series:
        label = granularity if isinstance(granularity, str) else granularity / NS
        out.extend(zip(format_timestamps(ts), itertools.repeat(label), values.tolist(), strict=False))
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
