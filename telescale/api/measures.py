"""Measures in and out of one metric, shared by the metric, resource and batch routes.

Writing: the body is decoded once and turned into two numpy arrays per metric; a 202 is returned only
after the incoming driver has made the batch durable.  Reading: argument checks in Gnocchi's wording,
then the shared read path (:class:`telescale.query.reader.Query`, with an optional refresh).  Everything
here blocks (SQL, files): it is called from plain ``def`` handlers, in the thread pool.
"""

from __future__ import annotations

import contextlib
import itertools
from collections.abc import Callable, Iterable, Iterator
from typing import Any

import numpy as np
from fastapi import Request
from fastapi.responses import Response

from telescale.api.deps import query, refresh_timeout, services
from telescale.api.errors import ApiError, bad_request, query_not_found
from telescale.api.jsonio import dumps, fast_json_response, json_response, names_json
from telescale.api.measures_body import MEASURES, columns, measures_body
from telescale.api.params import parse_bool, resample_args, timespan_arg, timestamp_arg
from telescale.incoming.base import Columns
from telescale.indexer.counters import MEASURES_DROPPED_BACK_WINDOW
from telescale.indexer.records import Metric
from telescale.query.availability import require
from telescale.query.errors import MeasuresQueryError, NoSuchMetric, RefreshTimeout
from telescale.query.scope import Scope
from telescale.timeutil import NS, TimeParseError, TimestampOutOfRange, format_timestamps, parse_timestamps

Batch = dict[Any, tuple[np.ndarray, np.ndarray]]


Where = Callable[[int], str]
_KEYS = ("timestamp", "value")
_EXPECTED = ", ".join(map(repr, _KEYS))
_JSON_KINDS = {list: "a list", dict: "an object", str: "a string", int: "a number", float: "a number",
               bool: "a boolean", type(None): "null"}


def _invalid(reason: str, hint: str | None = None) -> ApiError:
    return bad_request({"cause": "Invalid input", "reason": reason, "detail": []}, hint)


def _format_error(where: str, what: str) -> ApiError:
    """Gnocchi's reason (its clients and conformance suite match it) plus a hint naming the entry."""
    return _invalid("unexpected measures format", f"{where}{what}")


def _columns(body: Any, i: int, label: Callable[[int], str]) -> tuple[list[Any], list[Any]]:
    """The timestamps and values of list `i`; `label(i)` names it in an error, and is only called then."""
    if not isinstance(body, list):
        raise _format_error(label(i), f"measures: expected a list of objects, got {_JSON_KINDS.get(type(body))}")
    decoded = columns(body)
    if decoded is not None:
        return decoded
    try:
        return [m["timestamp"] for m in body], [m["value"] for m in body]
    except (TypeError, KeyError):
        raise _format_error(label(i), _bad_entry(body)) from None


def _bad_entry(body: list[Any]) -> str:
    """Only called once the fast path failed: the first entry that is not `{"timestamp", "value"}`."""
    for i, m in enumerate(body):
        if not isinstance(m, dict):
            return f"measures[{i}]: expected an object with {_EXPECTED}, got {_JSON_KINDS.get(type(m))}"
        missing = [k for k in _KEYS if k not in m]
        unknown = sorted(set(m) - set(_KEYS))
        if missing and unknown:
            return f"measures[{i}]: unknown key {unknown[0]!r} (expected {_EXPECTED})"
        if missing:
            return f"measures[{i}]: missing key {missing[0]!r}"
    raise AssertionError("no bad entry")  # pragma: no cover — called only after a TypeError/KeyError


def _values(raw: list[Any]) -> np.ndarray:
    """float64 values; raises `_BadValue` naming the first bad one (looked for only on failure)."""
    try:
        if bool in set(map(type, raw)):
            raise TypeError
        values = np.array(raw, dtype=np.float64)
        if values.ndim != 1:
            raise TypeError
    except (TypeError, ValueError):
        i = next((i for i, v in enumerate(raw) if isinstance(v, bool) or not isinstance(v, int | float)), 0)
        raise _BadValue(i, f"value {dumps(raw[i]).decode()} is not a number") from None
    if not np.isfinite(values).all():
        i = int(np.argmin(np.isfinite(values)))
        raise _BadValue(i, "NaN and infinite values are not accepted")
    return values


class _BadValue(ValueError):
    def __init__(self, index: int, what: str) -> None:
        super().__init__(what)
        self.index, self.what = index, what


def _timestamps(raw: list[Any], where: str) -> np.ndarray:
    try:
        return parse_timestamps(raw)
    except TimestampOutOfRange as e:
        raise _invalid(f"{where}{e}") from None
    except TimeParseError as e:
        raise _invalid(f"{where}unexpected timestamp: {e}") from None


def parse_many(bodies: list[Any], where: Where | None = None) -> list[tuple[np.ndarray, np.ndarray]]:
    """Several `[{"timestamp": t, "value": v}, …]` lists to (int64 ns, float64) arrays; 400 on anything else.

    The lists of a batch are converted together — one numpy conversion for all timestamps and one for all
    values — because per-call overhead, not per-point work, dominates requests of many small lists.  Only
    when that fails is the offending entry looked for; `where(i)` names list i in the error (batches).
    """
    if not bodies:  # np.split would still return one (empty) part
        return []

    def label(i: int) -> str:
        return f"{where(i)}: " if where else ""

    columns = [_columns(body, i, label) for i, body in enumerate(bodies)]
    sizes = [len(ts) for ts, _ in columns]
    counts = np.cumsum(sizes)[:-1]
    all_ts = [t for ts, _ in columns for t in ts]
    try:
        timestamps = np.split(parse_timestamps(all_ts), counts)
    except TimeParseError:
        # one list may use epoch numbers and another strings: that is allowed across lists
        timestamps = [_timestamps(ts, label(i)) for i, (ts, _) in enumerate(columns)]
    try:
        values = np.split(_values([v for _, vs in columns for v in vs]), counts)
    except _BadValue as e:
        which = int(np.searchsorted(np.cumsum(sizes), e.index, side="right"))
        raise _invalid(f"unexpected measures value: {label(which)}measures[{e.index - sum(sizes[:which])}]: "
                       f"{e.what}") from None
    return list(zip(timestamps, values, strict=True))


def parse_measures(body: Any) -> tuple[np.ndarray, np.ndarray]:
    """One list of measures (see `parse_many`)."""
    return parse_many([body])[0]


def write(request: Request, metric: Metric) -> Response:
    """POST …/measures of one metric: its body as arrays, made durable (see `store`)."""
    ts, values = parse_measures(measures_body(request, MEASURES))
    return store(request, {metric.id: (ts, values)}, [metric])


def store(request: Request, batch: Batch | Columns, metrics: Iterable[Metric]) -> Response:
    """Make the batch (``{metric id: (timestamps, values)}``, or column-wise) durable, then answer 202: an empty
    body, or what was dropped and why.

    Measures older than their metric's back window would be dropped by processing; they are refused here
    instead (see `telescale.processing.backwindow`) and counted in `/v1/status`.  A client that asks for
    JSON is told how many in the body; others get Gnocchi's empty 202 (its conformance suite expects it).
    """
    columns = batch if isinstance(batch, Columns) else Columns.from_mapping(batch)
    accepted, dropped = _store(services(request), columns, {m.id: m.archive_policy for m in metrics})
    total = sum(dropped.values())
    if not total or not names_json(request.headers.get("accept")):
        return Response(status_code=202, headers={"content-length": "0"})
    return json_response({"accepted": accepted, "dropped": {
        "older_than_back_window": total, "metrics": {str(k): n for k, n in dropped.items()}}}, status=202)


def _store(svc: Any, batch: Columns, policies: dict[Any, Any]) -> tuple[int, dict[Any, int]]:
    """Refuse what is too old, write, count the refused."""
    batch, dropped = svc.back_window.split_columns(batch, policies)
    if len(batch):
        svc.incoming.add_columns(batch)
    if dropped:
        svc.indexer.add_to_counters({MEASURES_DROPPED_BACK_WINDOW: sum(dropped.values())})
    return len(batch), dropped


def read(request: Request, metric: Any, scope: Scope) -> Response:
    """GET …/measures for one metric: `[[timestamp, granularity_seconds, value], …]`, coarsest first."""
    q = request.query_params
    method = q.get("aggregation", "mean")
    granularity = timespan_arg(q.get("granularity"), "granularity")
    start = timestamp_arg(q.get("start"), "start")
    stop = timestamp_arg(q.get("stop"), "stop")
    resample, calendar = resample_args(q.get("resample"), granularity)
    try:
        require(metric, method, granularity)
    except MeasuresQueryError as e:
        raise query_not_found(e) from None
    refresh = refresh_timeout(request, parse_bool(q.get("refresh"), "refresh"))
    with read_errors():
        series = query(request).measures(scope, metric, method, granularity=granularity, start=start, stop=stop,
                                         resample=resample, calendar=calendar, refresh_timeout=refresh)
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


@contextlib.contextmanager
def read_errors() -> Iterator[None]:
    """The errors every read maps the same way: a sack that stayed locked (503), a metric the caller's
    scope does not see although the policy let it through (404, as if it did not exist)."""
    try:
        yield
    except RefreshTimeout as e:
        raise ApiError(503, str(e)) from None
    except NoSuchMetric as e:
        raise ApiError(404, f"Metric {e.metrics[0]} does not exist") from None
