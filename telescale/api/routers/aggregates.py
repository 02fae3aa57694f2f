"""`/v1/aggregates` (dynamic aggregates over metric ids or a resource search) and the deprecated
`/v1/aggregation/metric`.

The router checks arguments and references in Gnocchi's order and wording, hands the work to the read
path (:class:`telescale.query.reader.Query`), maps its typed errors to Gnocchi's answers and renders.
Handlers are plain ``def``: they run in the thread pool, never on the event loop.
"""

from __future__ import annotations

import contextlib
import datetime
import json
import uuid
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import orjson
from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response

from telescale import indexer as idx
from telescale.api import measures as api_measures
from telescale.api.access import enforce_metrics, metric_query_scope, resource_query_scope
from telescale.api.auth import Identity, get_identity
from telescale.api.deps import json_body, query, refresh_timeout, services, with_body
from telescale.api.errors import ApiError, argument_error, bad_request, not_found, query_not_found
from telescale.api.ids import resource_uuid
from telescale.api.jsonio import JSON_TYPE
from telescale.api.openapi import CROSS_METRIC, JSON_ONLY, READ_RANGE, doc
from telescale.api.params import parse_bool, resample_args, timespan_arg, timestamp_arg
from telescale.api.routers.resource import resource_view
from telescale.api.routers.resource_type import render_value
from telescale.api.views import metric_view
from telescale.indexer import search as search_language
from telescale.query import errors
from telescale.query.aggregates import align, parser
from telescale.query.aggregates import resources as agg_resources
from telescale.query.aggregates.evaluate import AggregationDoesNotExist, Reference, Result
from telescale.query.aggregates.operations import UnAggregableTimeseries
from telescale.query.cross_metric import CrossMetricArgs
from telescale.query.reader import ResourceSearch
from telescale.query.scope import Scope

router = APIRouter(tags=["aggregates"], **with_body(JSON_ONLY))

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


@contextlib.contextmanager
def _aggregate_errors() -> Iterator[None]:
    """Errors of evaluating operations, as Gnocchi answers them."""
    with api_measures.read_errors():
        try:
            yield
        except UnAggregableTimeseries as e:
            raise bad_request(e.jsonify()) from None
        except AggregationDoesNotExist as e:
            r = e.reference
            raise not_found({"cause": "Metrics with unknown aggregation", "detail": [[r.name, r.method]]}) from None
        except agg_resources.NoMetricMatched as e:
            raise not_found(str(e)) from None
        except agg_resources.NotAggregated as e:
            raise bad_request({"cause": "Invalid operations", "reason": str(e), "detail": ["operations"]}) from None


@router.post("/v1/aggregates", **doc(body="AggregatesRequest", returns="AggregatesResult", errors=(404, 503),
                                      query=("details", "use_history", "refresh", *READ_RANGE, "needed_overlap",
                                             "fill", "groupby")))
def post_aggregates(request: Request, identity: Identity = Depends(get_identity)) -> Response:
    q = request.query_params
    details = parse_bool(q.get("details"), "details")
    use_history = parse_bool(q.get("use_history"), "use_history")
    refresh = refresh_timeout(request, parse_bool(q.get("refresh"), "refresh"))
    start, stop, granularity, needed_overlap, fill = _query_args(request, default_fill="dropna")
    options = dict(start=start, stop=stop, granularity=granularity, needed_overlap=needed_overlap, fill=fill)
    body = json_body(request)
    tree = _parse_operations(body)
    if "resource_type" in body or "search" in body:
        rtype, node = _resource_search_body(request, body)
        refs = _metric_references(tree, body["operations"])
        scope = resource_query_scope(request, identity, "search resource", rtype)
        search = ResourceSearch(rtype, node, tuple(groupby_arg(request)), use_history, id_transform(identity))
        return _resource_aggregates(request, scope, tree, refs, search, details=details, refresh=refresh, **options)
    refs = _metric_references(tree, body["operations"])
    reads = query(request)
    try:
        plan = reads.metric_references(refs)
    except errors.InvalidMetricReference as e:
        raise bad_request({"cause": "Invalid metric references", "reason": e.reason, "detail": e.references}) from None
    except errors.NoSuchMetric as e:
        raise not_found({"cause": "Unknown metrics", "reason": "Provided metrics don't exists",
                         "detail": e.metrics}) from None
    enforce_metrics(request, identity, "get metric", plan.metrics)
    with _aggregate_errors():
        result = reads.aggregates(metric_query_scope(request, identity, "get metric"), tree, plan,
                                  refresh_timeout=refresh, **options)
    out: dict[str, Any] = {"measures": _measures_body(result, plan.columns)}
    if details:
        out["references"] = [metric_view(m) for m in plan.metrics]
    return respond(out, _finite(result))


# ---------------------------------------------------------------------------------------------------
# POST /v1/aggregates over a resource search


def groupby_arg(request: Request) -> list[str]:
    """``groupby`` as Gnocchi takes it: repeated (``groupby=a&groupby=b``), deduplicated and sorted."""
    q = request.query_params
    return sorted(set(q.getlist("groupby") + q.getlist("groupby[]")))


def id_transform(identity: Identity) -> Any:
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


@contextlib.contextmanager
def search_errors(groupby_error: Callable[[errors.UnknownGroupby], ApiError]) -> Iterator[None]:
    """Errors of a resource search, as Gnocchi answers them (each route words a bad group-by its own way)."""
    try:
        yield
    except errors.NoSuchResourceType as e:
        raise bad_request(str(e)) from None
    except errors.UnknownGroupby as e:
        raise groupby_error(e) from None
    except errors.InvalidFilter as e:
        cause = e.cause
        raise bad_request(cause.description if isinstance(cause, search_language.InvalidSearch) else str(cause)
                          ) from None


def _reference_views(request: Request, scope: Scope, search: ResourceSearch, wanted: set[tuple[uuid.UUID, int]]
                     ) -> dict[tuple[uuid.UUID, int], dict[str, Any]]:
    """``details=true``: the matched resources (revisions with history) as Gnocchi shows them."""
    if not wanted:
        return {}
    resources = query(request).list_resources(scope, search)
    schema = type_schema(request, search.type) if search.type != "generic" else None
    return {(r.id, r.revision): resource_view(r, schema) for r in resources if (r.id, r.revision) in wanted}


def _resource_measures_body(result: Result, refs: Sequence[Reference]) -> dict[str, Any]:
    if result.aggregated:
        return {"aggregated": api_measures.render(result.series.get(None, []))}
    return {rid: {name: {method: api_measures.render(m) for method, m in methods.items()}
                  for name, methods in names.items()}
            for rid, names in agg_resources.results_by_resource(refs, result).items()}


def _resource_aggregates(request: Request, scope: Scope, tree: parser.Node, refs: list[tuple[str, str]],
                         search: ResourceSearch, *, details: bool, refresh: float | None, **options: Any) -> Response:
    """Aggregates over the resources ``search`` finds: one answer, or one per group with ``groupby``."""
    with search_errors(lambda e: bad_request(f"Invalid pagination: `{e}'", e.hint)), _aggregate_errors():
        computed = query(request).resource_aggregates(scope, search, tree, refs, refresh_timeout=refresh, **options)
    if search.history and search.groupby:
        return _history_response(request, scope, search, computed, details)  # type: ignore[arg-type]
    groups = [g for g in computed if isinstance(g, agg_resources.Group) and g.result is not None]
    views = _reference_views(request, scope, search, {(r.resource, -1) for g in groups for r in g.references}) \
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


def _history_response(request: Request, scope: Scope, search: ResourceSearch,
                      groups: list[agg_resources.HistoryGroup], details: bool) -> Response:
    views = _reference_views(request, scope, search, {(r.id, r.revision) for g in groups for r in g.revisions}) \
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


@dataclass(frozen=True)
class CrossMetricRequest:
    """The query arguments of the deprecated cross-metric aggregation, parsed once per request (``resample``
    is parsed only once there are metrics to aggregate, as Gnocchi does)."""

    start: int | None
    stop: int | None
    granularity: int | None
    needed_overlap: float | None
    fill: float | str | None
    aggregation: str
    reaggregation: str
    resample: str | None
    refresh: float | None


def cross_metric_args(request: Request) -> CrossMetricRequest:
    q = request.query_params
    start, stop, granularity, needed_overlap, fill = _query_args(request, default_fill=None)
    aggregation = q.get("aggregation", "mean")
    return CrossMetricRequest(start, stop, granularity, needed_overlap, fill, aggregation,
                              q.get("reaggregation") or aggregation, q.get("resample"),
                              refresh_timeout(request, parse_bool(q.get("refresh"), "refresh")))


def cross_metric_measures(request: Request, scope: Scope, metrics: list[Any], args: CrossMetricRequest
                          ) -> Result | None:
    """Gnocchi's ``get_cross_metric_measures_from_objs``: the measures of one metric, or ``reaggregation``
    of ``aggregation`` across several (None without metrics).  The caller has checked access."""
    if not metrics:
        return None
    resample, calendar = resample_args(args.resample, args.granularity)
    wanted = CrossMetricArgs(args.start, args.stop, args.granularity, args.needed_overlap, args.fill,
                             args.aggregation, args.reaggregation, resample, calendar)
    with api_measures.read_errors():
        try:
            return query(request).cross_metric(scope, metrics, wanted, refresh_timeout=args.refresh)
        except UnAggregableTimeseries as e:
            raise bad_request(e.jsonify()) from None
        except errors.NoSuchAggregation as e:
            raise not_found(str(e)) from None
        except errors.UnknownAggregationMethod as e:
            raise query_not_found(e) from None
        except errors.InvalidReaggregation as e:
            raise argument_error(str(e), "reaggregation") from None
        except errors.InvalidQuery as e:  # calendar with several metrics, rate: with a calendar
            raise bad_request(str(e)) from None


def cross_metric_rows(result: Result | None) -> tuple[list[list[Any]], bool]:
    """What :func:`cross_metric_measures` computed, as Gnocchi's rows, and whether every value is finite."""
    if result is None:
        return [], True
    return api_measures.render(result.series.get(None, [])), _finite(result)


def _cross_metric(request: Request, identity: Identity, ids: list[uuid.UUID]) -> Response:
    metrics = query(request).find_metrics(ids)
    found = {m.id for m in metrics}
    for i in ids:
        if i not in found:
            raise not_found(f"Metric {i} does not exist")
    enforce_metrics(request, identity, "get measures", metrics)
    metrics.sort(key=lambda m: str(m.id))
    args = cross_metric_args(request)
    scope = metric_query_scope(request, identity, "get measures")
    rows, finite = cross_metric_rows(cross_metric_measures(request, scope, metrics, args))
    return respond(rows, finite)


@router.get("/v1/aggregation/metric", **doc(query=("metric", *CROSS_METRIC), returns="MeasureRows", errors=(404, 503)))
def get_aggregation_metric(request: Request, identity: Identity = Depends(get_identity)) -> Response:
    return _cross_metric(request, identity, _metric_ids_from_query(request))


@router.post("/v1/aggregation/metric", **doc(body="MetricIds", query=CROSS_METRIC, returns="MeasureRows",
                                             errors=(404, 503)))
def post_aggregation_metric(request: Request, identity: Identity = Depends(get_identity)) -> Response:
    return _cross_metric(request, identity, _metric_ids_from_body(json_body(request)))
