"""`/v1/aggregates` (dynamic aggregates over metric ids) and the deprecated `/v1/aggregation/metric`.

The router checks arguments and references in Gnocchi's order and wording, then hands the validated
operations tree to `telescale.query.aggregates`, which does the work in a worker thread.
"""

from __future__ import annotations

import datetime
import json
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import orjson
from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response
from starlette.concurrency import run_in_threadpool

from telescale import indexer as idx
from telescale.api import measures as api_measures
from telescale.api.access import enforce_metrics, resource_scope, with_scope
from telescale.api.auth import Identity, get_identity
from telescale.api.body import read_json
from telescale.api.deps import services
from telescale.api.errors import ApiError, argument_error, bad_request, not_found, query_not_found
from telescale.api.ids import resource_uuid
from telescale.api.jsonio import JSON_TYPE
from telescale.api.openapi import CROSS_METRIC, JSON_ONLY, READ_RANGE, doc
from telescale.api.params import parse_bool, resample_args, timespan_arg, timestamp_arg
from telescale.api.routers.resource import resource_view
from telescale.api.routers.resource_type import render_value
from telescale.api.views import metric_view
from telescale.indexer import search as search_language
from telescale.query import measures as query
from telescale.query.aggregates import align, parser
from telescale.query.aggregates import resources as agg_resources
from telescale.query.aggregates.evaluate import AggregationDoesNotExist, Reference, Result, evaluate
from telescale.query.aggregates.operations import AGGREGATE_METHODS, UnAggregableTimeseries
from telescale.query.aggregates.parser import Aggregation, MetricNode
from telescale.timeutil import NS

router = APIRouter(tags=["aggregates"], **JSON_ONLY)

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


def _finite(result: Result) -> bool:
    return all(np.isfinite(v).all() for series in result.series.values() for _, _, v in series)


def respond(body: Any, finite: bool) -> Response:
    """orjson when every value is finite; otherwise the standard library, which writes NaN/Infinity
    as Gnocchi does (orjson would turn them into null)."""
    if finite:
        return Response(orjson.dumps(body), media_type=JSON_TYPE)
    return Response(json.dumps(body, allow_nan=True, separators=(",", ":")).encode(), media_type=JSON_TYPE)


def _measures_body(result: Result, refs: Sequence[Reference]) -> dict[str, Any]:
    if result.aggregated:
        return {"aggregated": api_measures.render(result.series.get(None, []))}
    body: dict[str, Any] = {}
    for i, ref in enumerate(refs):
        body.setdefault(ref.name, {}).setdefault(ref.method, []).extend(api_measures.render(result.series.get(i, [])))
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


@router.post("/v1/aggregates", **doc(body="AggregatesRequest", returns="AggregatesResult", errors=(404, 503),
                                      query=("details", "use_history", "refresh", *READ_RANGE, "needed_overlap",
                                             "fill", "groupby")))
async def post_aggregates(request: Request, identity: Identity = Depends(get_identity)) -> Response:
    q = request.query_params
    details = parse_bool(q.get("details"), "details")
    use_history = parse_bool(q.get("use_history"), "use_history")
    refresh = parse_bool(q.get("refresh"), "refresh")
    start, stop, granularity, needed_overlap, fill = _query_args(request, default_fill="dropna")
    body = await read_json(request)
    tree = _parse_operations(body)
    if "resource_type" in body or "search" in body:
        rtype, node = _resource_search_body(request, body)
        refs = _metric_references(tree, body["operations"])
        search = ResourceSearch(rtype, with_scope(node, resource_scope(request, identity, "search resource", rtype)),
                                groupby_arg(request), use_history, _id_transform(identity))
        options = dict(start=start, stop=stop, granularity=granularity, needed_overlap=needed_overlap, fill=fill)
        return await _resource_aggregates(request, tree, refs, search, details=details, refresh=refresh,
                                          **options)
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
    return respond(out, _finite(result))


# ---------------------------------------------------------------------------------------------------
# POST /v1/aggregates over a resource search


@dataclass(frozen=True)
class ResourceSearch:
    """Which resources an aggregate reads: the type, the (tenancy-scoped) filter, the grouping."""

    type: str
    node: Any
    groupby: list[str]
    history: bool = False
    id_transform: Any = None


def groupby_arg(request: Request) -> list[str]:
    """``groupby`` as Gnocchi takes it: repeated (``groupby=a&groupby=b``), deduplicated and sorted."""
    q = request.query_params
    return sorted(set(q.getlist("groupby") + q.getlist("groupby[]")))


def _id_transform(identity: Identity) -> Any:
    return lambda value: resource_uuid(value, identity.creator)


def _search_error(e: search_language.InvalidSearch) -> ApiError:
    """A bad ``search`` in the body, named as such (``@ data['search']…``)."""
    reason = e.reason
    where = "@ data['search']"
    reason = reason.replace("@ data[", where + "[", 1) if "@ data[" in reason else f"{reason} {where}"
    return _invalid_body(reason, ["search", *(str(p) for p in e.path)])


def _resource_search_body(request: Request, body: dict[str, Any]) -> tuple[str, Any]:
    """``resource_type`` (it must exist: 400 otherwise, as Gnocchi) and ``search`` (JSON or string form)."""
    rtype = body.get("resource_type")
    if "resource_type" not in body:
        raise _invalid_body("'search' needs 'resource_type' (the type of the resources searched) "
                            "@ data['resource_type']", ["resource_type"])
    if not isinstance(rtype, str):
        raise _invalid_body("expected str for dictionary value @ data['resource_type']", ["resource_type"])
    try:
        services(request).indexer.get_resource_type(rtype)
    except idx.NoSuchResourceType as e:
        raise bad_request(str(e)) from None
    raw = body.get("search")
    try:
        if isinstance(raw, str):
            return rtype, search_language.parse_string_filter(raw)
        return rtype, search_language.parse_json_filter(raw)
    except search_language.InvalidSearch as e:
        raise _search_error(e) from None


def type_schema(request: Request, rtype: str) -> dict[str, Any]:
    """The attribute schema of ``rtype`` (read once per request, for :func:`group_view`)."""
    return services(request).indexer.get_resource_type(rtype).attributes


def group_view(schema: dict[str, Any], groupby: Sequence[str], key: Sequence[Any]) -> dict[str, Any]:
    """Group values as Gnocchi shows them: ids and datetimes as text, attributes as stored."""
    out: dict[str, Any] = {}
    for name, value in zip(groupby, key, strict=True):
        if isinstance(value, uuid.UUID):
            value = str(value)
        elif isinstance(value, datetime.datetime):
            value = value.isoformat()
        else:
            value = render_value(schema.get(name), value)
        out[name] = value
    return out


def _find_resources(request: Request, search: ResourceSearch, patterns: Sequence[str]) -> list[Any]:
    try:
        return services(request).indexer.search_resource_metrics(
            search.type, patterns, filter_node=search.node, groupby=search.groupby, history=search.history,
            id_transform=search.id_transform)
    except idx.NoSuchResourceType as e:
        raise bad_request(str(e)) from None
    except idx.UnknownGroupby as e:
        raise bad_request(f"Invalid pagination: `{e}'", e.hint) from None
    except search_language.InvalidSearch as e:
        raise bad_request(e.description) from None
    except (idx.InvalidFilter, idx.ResourceAttributeError) as e:
        raise bad_request(str(e)) from None


def _reference_views(request: Request, search: ResourceSearch, wanted: set[tuple[uuid.UUID, int]]
                     ) -> dict[tuple[uuid.UUID, int], dict[str, Any]]:
    """``details=true``: the matched resources (revisions with history) as Gnocchi shows them."""
    if not wanted:
        return {}
    indexer = services(request).indexer
    resources = indexer.list_resources(search.type, filter_node=search.node, history=search.history,
                                       id_transform=search.id_transform)
    schema = indexer.get_resource_type(search.type).attributes if search.type != "generic" else None
    return {(r.id, r.revision): resource_view(r, schema) for r in resources if (r.id, r.revision) in wanted}


def _resource_measures_body(result: Result, refs: Sequence[Reference]) -> dict[str, Any]:
    if result.aggregated:
        return {"aggregated": api_measures.render(result.series.get(None, []))}
    return {rid: {name: {method: api_measures.render(m) for method, m in methods.items()}
                  for name, methods in names.items()}
            for rid, names in agg_resources.results_by_resource(refs, result).items()}


async def _resource_aggregates(request: Request, tree: parser.Node, refs: list[tuple[str, str]],
                               search: ResourceSearch, *, details: bool, refresh: bool, **options: Any) -> Response:
    """Aggregates over the resources ``search`` finds: one answer, or one per group with ``groupby``."""
    patterns = [p for p, _ in refs]
    resources = await run_in_threadpool(_find_resources, request, search, patterns)
    if refresh:
        await _refresh(request, list(agg_resources.metric_ids(resources).values()))
    storage = services(request).storage

    def work() -> Any:
        if search.history and search.groupby:
            return agg_resources.evaluate_history(storage, tree, refs, resources, **options)
        groups = agg_resources.group_resources(resources) if search.groupby else [((), list(resources))]
        return agg_resources.evaluate_groups(storage, tree, refs, groups, **options)

    try:
        computed = await run_in_threadpool(work)
    except UnAggregableTimeseries as e:
        raise bad_request(e.jsonify()) from None
    except agg_resources.NoMetricMatched as e:
        raise not_found(str(e)) from None
    except agg_resources.NotAggregated as e:
        raise bad_request({"cause": "Invalid operations", "reason": str(e), "detail": ["operations"]}) from None
    except AggregationDoesNotExist as e:
        r = e.reference
        raise not_found({"cause": "Metrics with unknown aggregation", "detail": [[r.name, r.method]]}) from None

    if search.history and search.groupby:
        return _history_response(request, search, computed, details)
    groups: list[agg_resources.Group] = [g for g in computed if g.result is not None]
    views = _reference_views(request, search, {(r.resource, -1) for g in groups for r in g.references}) \
        if details else {}
    finite = all(_finite(g.result) for g in groups if g.result is not None)
    if not search.groupby:
        group = groups[0]
        assert group.result is not None
        out: dict[str, Any] = {"measures": _resource_measures_body(group.result, group.references)}
        if details:
            out["references"] = _unique_views(views, (r.resource for r in group.references))
        return respond(out, finite)
    answer = []
    schema = type_schema(request, search.type)
    for group in groups:
        assert group.result is not None
        measures: dict[str, Any] = {"measures": _resource_measures_body(group.result, group.references)}
        if details:
            measures["references"] = _unique_views(views, (r.resource for r in group.references))
        answer.append({"group": group_view(schema, search.groupby, group.key), "measures": measures})
    return respond(answer, finite)


def _unique_views(views: dict[tuple[uuid.UUID, int], dict[str, Any]], ids: Iterable[uuid.UUID],
                  revision: int = -1) -> list[dict[str, Any]]:
    return [views[(i, revision)] for i in dict.fromkeys(ids) if (i, revision) in views]


def _history_response(request: Request, search: ResourceSearch, groups: list[agg_resources.HistoryGroup],
                      details: bool) -> Response:
    views = _reference_views(request, search, {(r.id, r.revision) for g in groups for r in g.revisions}) \
        if details else {}
    answer = []
    finite = True
    schema = type_schema(request, search.type)
    for group in groups:
        finite = finite and all(np.isfinite(v).all() for _, _, v in group.measures)
        measures: dict[str, Any] = {"measures": {"aggregated": api_measures.render(group.measures)}}
        if details:
            measures["references"] = [views[(r.id, r.revision)] for r in group.revisions
                                      if (r.id, r.revision) in views]
        answer.append({"group": group_view(schema, search.groupby, group.key), "measures": measures})
    return respond(answer, finite)


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


@dataclass(frozen=True)
class CrossMetricArgs:
    """The query arguments of the deprecated cross-metric aggregation, parsed once per request."""

    start: int | None
    stop: int | None
    granularity: int | None
    needed_overlap: float | None
    fill: float | str | None
    aggregation: str
    reaggregation: str
    resample: str | None
    refresh: bool


def cross_metric_args(request: Request) -> CrossMetricArgs:
    q = request.query_params
    start, stop, granularity, needed_overlap, fill = _query_args(request, default_fill=None)
    aggregation = q.get("aggregation", "mean")
    return CrossMetricArgs(start, stop, granularity, needed_overlap, fill, aggregation,
                           q.get("reaggregation") or aggregation, q.get("resample"),
                           parse_bool(q.get("refresh"), "refresh"))


async def cross_metric_measures(request: Request, metrics: list[Any], args: CrossMetricArgs) -> Result | list:
    """Gnocchi's ``get_cross_metric_measures_from_objs``: the measures of one metric, or ``reaggregation``
    of ``aggregation`` across several (``[]`` without metrics).  The caller has checked access."""
    start, stop, granularity, needed_overlap, fill = (args.start, args.stop, args.granularity,
                                                     args.needed_overlap, args.fill)
    aggregation, reaggregation = args.aggregation, args.reaggregation
    if not metrics:
        return []
    resample, calendar = resample_args(args.resample, granularity)
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
    if args.refresh:
        await _refresh(request, metrics)
    storage = services(request).storage

    if len(metrics) == 1:
        metric = metrics[0]
        try:
            query.validate(metric, aggregation)
        except query.MeasuresQueryError as e:
            raise query_not_found(e) from None

        def read_one() -> list[tuple[Any, np.ndarray, np.ndarray]]:
            out = []
            for g in grans:
                out.extend(query.get_measures(storage, metric, aggregation, granularity=g, start=start,
                                              stop=stop, resample=resample, calendar=calendar))
            if calendar is not None:  # the calendar unit stands for the granularity, as in Gnocchi
                return [(calendar, ts, v) for _, ts, v in out]
            return out

        try:
            series = await run_in_threadpool(read_one)
        except ValueError as e:  # rate: with a calendar resample
            raise bad_request(str(e)) from None
        return Result(True, {None: series})

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
        return await run_in_threadpool(
            _run, request, tree, refs, lookup, start=start, stop=stop, granularity=granularity,
            needed_overlap=100.0 if needed_overlap is None else needed_overlap, fill=fill)
    except AggregationDoesNotExist as e:
        m = e.reference.metric
        raise _no_such_aggregation(m, aggregation, m.archive_policy.definition[0].granularity) from None


def cross_metric_rows(result: Result | list) -> tuple[list[list[Any]], bool]:
    """What :func:`cross_metric_measures` computed, as Gnocchi's rows, and whether every value is finite."""
    if isinstance(result, list):
        return [], True
    return api_measures.render(result.series.get(None, [])), _finite(result)


async def _cross_metric(request: Request, identity: Identity, ids: list[uuid.UUID]) -> Response:
    metrics = services(request).indexer.get_metrics(ids)
    found = {m.id for m in metrics}
    for i in ids:
        if i not in found:
            raise not_found(f"Metric {i} does not exist")
    enforce_metrics(request, identity, "get measures", metrics)
    metrics.sort(key=lambda m: str(m.id))
    rows, finite = cross_metric_rows(await cross_metric_measures(request, metrics, cross_metric_args(request)))
    return respond(rows, finite)


@router.get("/v1/aggregation/metric", **doc(query=("metric", *CROSS_METRIC), returns="MeasureRows", errors=(404, 503)))
async def get_aggregation_metric(request: Request, identity: Identity = Depends(get_identity)) -> Response:
    return await _cross_metric(request, identity, _metric_ids_from_query(request))


@router.post("/v1/aggregation/metric", **doc(body="MetricIds", query=CROSS_METRIC, returns="MeasureRows",
                                             errors=(404, 503)))
async def post_aggregation_metric(request: Request, identity: Identity = Depends(get_identity)) -> Response:
    return await _cross_metric(request, identity, _metric_ids_from_body(await read_json(request)))
