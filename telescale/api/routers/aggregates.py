"""`/v1/aggregates` (dynamic aggregates over metric ids) and the deprecated `/v1/aggregation/metric`.

The router checks arguments and references in Gnocchi's order and wording, then hands the validated
operations tree to `telescale.query.aggregates`, which does the work in a worker thread.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Sequence
from typing import Any

import numpy as np
import orjson
from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response
from starlette.concurrency import run_in_threadpool

from telescale.api import measures as api_measures
from telescale.api.access import enforce_metrics
from telescale.api.auth import Identity, get_identity
from telescale.api.body import read_json
from telescale.api.deps import require_json_accept, services
from telescale.api.errors import ApiError, argument_error, bad_request, not_found, query_not_found
from telescale.api.jsonio import JSON_TYPE
from telescale.api.params import parse_bool, resample_args, timespan_arg, timestamp_arg
from telescale.api.views import metric_view
from telescale.query import measures as query
from telescale.query.aggregates import align, parser
from telescale.query.aggregates.evaluate import AggregationDoesNotExist, Reference, Result, evaluate
from telescale.query.aggregates.operations import AGGREGATE_METHODS, UnAggregableTimeseries
from telescale.query.aggregates.parser import Aggregation, MetricNode
from telescale.timeutil import NS, format_timestamps

router = APIRouter(tags=["aggregates"], dependencies=[Depends(require_json_accept)])

BODY_KEYS = ("operations", "resource_type", "search")


# ---------------------------------------------------------------------------------------------------
# Arguments


def _query_args(request: Request, default_fill: str | None) -> tuple[Any, ...]:
    """start, stop, granularity, needed_overlap, fill — checked in Gnocchi's order and wording."""
    q = request.query_params
    raw_overlap = q.get("needed_overlap")
    raw_fill = q.get("fill")
    needed_overlap: float | None = None
    if raw_overlap is not None:
        try:
            needed_overlap = float(raw_overlap)
        except ValueError:
            raise argument_error("Must be a number", "needed_overlap") from None
    start = timestamp_arg(q.get("start"), "start")
    stop = timestamp_arg(q.get("stop"), "stop")
    granularity = timespan_arg(q.get("granularity"), "granularity")
    fill: float | str | None = None
    if raw_fill is not None:
        try:
            fill = align.parse_fill(raw_fill)
        except ValueError as e:
            raise argument_error(str(e), "fill") from None
    elif raw_overlap is None:
        fill = default_fill
    return start, stop, granularity, needed_overlap, fill


def _invalid_body(reason: str, detail: list[str]) -> ApiError:
    return bad_request({"cause": "Invalid input", "reason": reason, "detail": detail})


def _parse_operations(body: Any) -> parser.Node:
    if not isinstance(body, dict):
        raise _invalid_body("expected a dictionary", [])
    extra = [k for k in body if k not in BODY_KEYS]
    if extra:
        raise _invalid_body(f"extra keys not allowed @ data['{extra[0]}']", [str(extra[0])])
    if "operations" not in body:
        raise _invalid_body("required key not provided @ data['operations']", ["operations"])
    try:
        return parser.parse(body["operations"])
    except parser.OperationsSyntaxError as e:
        raise bad_request({"cause": "Invalid operations", "reason": "Fail to parse the operations string",
                           "detail": str(e)}) from None
    except parser.OperationsError as e:
        raise _invalid_body(str(e), ["operations"]) from None


async def _refresh(request: Request, metrics: Sequence[Any]) -> None:
    for m in metrics:
        await api_measures.refresh(request, m.id)


# ---------------------------------------------------------------------------------------------------
# Rendering


def _rows(measures: list[tuple[int, np.ndarray, np.ndarray]]) -> list[list[Any]]:
    out: list[list[Any]] = []
    for g, ts, values in measures:
        seconds = g / NS
        out.extend([t, seconds, v] for t, v in zip(format_timestamps(ts), values.tolist(), strict=True))
    return out


def _finite(result: Result) -> bool:
    return all(np.isfinite(v).all() for series in result.series.values() for _, _, v in series)


def _respond(body: Any, finite: bool) -> Response:
    """orjson when every value is finite; otherwise the standard library, which writes NaN/Infinity
    as Gnocchi does (orjson would turn them into null)."""
    if finite:
        return Response(orjson.dumps(body), media_type=JSON_TYPE)
    return Response(json.dumps(body, allow_nan=True, separators=(",", ":")).encode(), media_type=JSON_TYPE)


def _measures_body(result: Result, refs: Sequence[Reference]) -> dict[str, Any]:
    if result.aggregated:
        return {"aggregated": _rows(result.series.get(None, []))}
    body: dict[str, Any] = {}
    for i, ref in enumerate(refs):
        body.setdefault(ref.name, {}).setdefault(ref.method, []).extend(_rows(result.series.get(i, [])))
    return body


# ---------------------------------------------------------------------------------------------------
# POST /v1/aggregates


def _metric_references(tree: parser.Node, operations: Any) -> list[tuple[str, str]]:
    refs = parser.references(tree)
    if not refs:
        raise bad_request({"cause": "Operations is invalid", "reason": "At least one 'metric' is required",
                           "detail": operations})
    return refs


def _resolve(request: Request, refs: list[tuple[str, str]]) -> tuple[list[Reference], dict, list[Any]]:
    """References over metric ids: (columns, tree reference -> column indexes, metrics once each)."""
    ids: list[uuid.UUID] = []
    for m, _ in refs:
        try:
            ids.append(uuid.UUID(m))
        except (ValueError, TypeError, AttributeError) as e:
            raise bad_request({"cause": "Invalid metric references", "reason": str(e),
                               "detail": [list(r) for r in refs]}) from None
    metrics = services(request).indexer.get_metrics(ids)
    by_id = {m.id: m for m in metrics}
    missing = sorted({str(i) for i in ids if i not in by_id})
    if missing:
        raise not_found({"cause": "Unknown metrics", "reason": "Provided metrics don't exists", "detail": missing})
    columns: list[Reference] = []
    index: dict[tuple[str, str], int] = {}
    lookup: dict[tuple[str, str], list[int]] = {}
    for (m, method), mid in zip(refs, ids, strict=True):
        key = (str(mid), method)
        if key not in index:
            index[key] = len(columns)
            columns.append(Reference(by_id[mid], method, str(mid)))
        lookup[(m, method)] = [index[key]]
    return columns, lookup, list(dict.fromkeys(by_id[i] for i in ids))


def _run(request: Request, tree: parser.Node, refs: list[Reference], lookup: dict, **kwargs: Any) -> Result:
    try:
        return evaluate(services(request).storage, tree, refs, lookup, **kwargs)
    except UnAggregableTimeseries as e:
        raise bad_request(e.jsonify()) from None


@router.post("/v1/aggregates")
async def post_aggregates(request: Request, identity: Identity = Depends(get_identity)) -> Response:
    q = request.query_params
    details = parse_bool(q.get("details"), "details")
    parse_bool(q.get("use_history"), "use_history")
    refresh = parse_bool(q.get("refresh"), "refresh")
    start, stop, granularity, needed_overlap, fill = _query_args(request, default_fill="dropna")
    body = await read_json(request)
    tree = _parse_operations(body)
    if "resource_type" in body or "search" in body:
        raise bad_request({"cause": "Invalid input",
                           "reason": "Aggregates over a resource search (resource_type, search) are not "
                                     "supported yet; reference metrics by id",
                           "detail": [k for k in ("resource_type", "search") if k in body]})
    refs = _metric_references(tree, body["operations"])
    columns, lookup, metrics = _resolve(request, refs)
    enforce_metrics(request, identity, "get metric", metrics)
    if refresh:
        await _refresh(request, metrics)
    try:
        result = await run_in_threadpool(
            _run, request, tree, columns, lookup, start=start, stop=stop, granularity=granularity,
            needed_overlap=needed_overlap, fill=fill)
    except AggregationDoesNotExist as e:
        r = e.reference
        raise not_found({"cause": "Metrics with unknown aggregation", "detail": [[r.name, r.method]]}) from None
    out: dict[str, Any] = {"measures": _measures_body(result, columns)}
    if details:
        out["references"] = [metric_view(m) for m in metrics]
    return _respond(out, _finite(result))


# ---------------------------------------------------------------------------------------------------
# Deprecated: GET|POST /v1/aggregation/metric


def _metric_ids_from_query(request: Request) -> list[uuid.UUID]:
    ids = []
    for i, value in enumerate(request.query_params.getlist("metric")):
        try:
            ids.append(uuid.UUID(value))
        except ValueError:
            raise bad_request(f"Invalid input: not a valid value @ data[{i}]") from None
    return ids


def _metric_ids_from_body(body: Any) -> list[uuid.UUID]:
    if not isinstance(body, list):
        raise _invalid_body("expected a list", [])
    ids = []
    for i, value in enumerate(body):
        try:
            ids.append(uuid.UUID(value))
        except (ValueError, TypeError, AttributeError):
            raise _invalid_body(f"not a valid value @ data[{i}]", [str(i)]) from None
    return ids


def _no_such_aggregation(metric: Any, method: str, granularity: int) -> ApiError:
    return not_found(f"Aggregation method '{method}' at granularity '{granularity / NS}' "
                     f"for metric {metric.id} does not exist")


async def _cross_metric(request: Request, identity: Identity, ids: list[uuid.UUID]) -> Response:
    q = request.query_params
    metrics = services(request).indexer.get_metrics(ids)
    found = {m.id for m in metrics}
    for i in ids:
        if i not in found:
            raise not_found(f"Metric {i} does not exist")
    enforce_metrics(request, identity, "get measures", metrics)
    metrics.sort(key=lambda m: str(m.id))
    start, stop, granularity, needed_overlap, fill = _query_args(request, default_fill=None)
    aggregation = q.get("aggregation", "mean")
    reaggregation = q.get("reaggregation") or aggregation
    if not metrics:
        return _respond([], True)
    resample, calendar = resample_args(q.get("resample"), granularity)
    if granularity is None:
        common = set.intersection(*(set(m.archive_policy.granularities) for m in metrics))
        grans = sorted(common, reverse=True)
        if not grans:
            raise bad_request(UnAggregableTimeseries([[str(m.id), aggregation] for m in metrics],
                                                     "No granularity match").jsonify())
    else:
        grans = [granularity]
    for m in metrics:
        for g in grans:
            if g not in m.archive_policy.granularities:
                raise _no_such_aggregation(m, aggregation, g)
    if parse_bool(q.get("refresh"), "refresh"):
        await _refresh(request, metrics)
    storage = services(request).storage

    if len(metrics) == 1:
        metric = metrics[0]
        try:
            query.validate(metric, aggregation)
        except query.MeasuresQueryError as e:
            raise query_not_found(e) from None

        def read_one() -> list[tuple[int, np.ndarray, np.ndarray]]:
            out = []
            for g in grans:
                out.extend(query.get_measures(storage, metric, aggregation, granularity=g, start=start,
                                              stop=stop, resample=resample, calendar=calendar))
            return out

        try:
            series = await run_in_threadpool(read_one)
        except ValueError as e:  # rate: with a calendar resample
            raise bad_request(str(e)) from None
        return _respond(_rows(series), all(np.isfinite(v).all() for _, _, v in series))

    if calendar is not None:
        raise bad_request("Calendar resampling is only available for a single metric")
    for m in metrics:  # before judging reaggregation, as Gnocchi does
        if aggregation not in m.archive_policy.aggregation_methods:
            raise _no_such_aggregation(m, aggregation, m.archive_policy.definition[0].granularity)
    if reaggregation not in AGGREGATE_METHODS:
        raise argument_error(f"Invalid aggregation method '{reaggregation}', expected one of "
                             f"{', '.join(AGGREGATE_METHODS)}", "reaggregation")
    refs = [Reference(m, aggregation, str(m.id)) for m in metrics]
    node: parser.Node = MetricNode(tuple((r.name, aggregation) for r in refs))
    if resample is not None:
        node = Aggregation("resample", aggregation, node, granularity=resample)
    tree = Aggregation("aggregate", reaggregation, node)
    lookup = {(r.name, aggregation): [i] for i, r in enumerate(refs)}
    try:
        result = await run_in_threadpool(
            _run, request, tree, refs, lookup, start=start, stop=stop, granularity=granularity,
            needed_overlap=100.0 if needed_overlap is None else needed_overlap, fill=fill)
    except AggregationDoesNotExist as e:
        m = e.reference.metric
        raise _no_such_aggregation(m, aggregation, m.archive_policy.definition[0].granularity) from None
    return _respond(_rows(result.series.get(None, [])), _finite(result))


@router.get("/v1/aggregation/metric")
async def get_aggregation_metric(request: Request, identity: Identity = Depends(get_identity)) -> Response:
    return await _cross_metric(request, identity, _metric_ids_from_query(request))


@router.post("/v1/aggregation/metric")
async def post_aggregation_metric(request: Request, identity: Identity = Depends(get_identity)) -> Response:
    return await _cross_metric(request, identity, _metric_ids_from_body(await read_json(request)))
