"""`POST /v1/search/metric`: the points of some metrics whose values satisfy a condition.

``?metric_id=<id>&metric_id=…&start=&stop=&aggregation=mean&granularity=…&refresh=`` with a body such as
``{"and": [{">": 50}, {"<": 100}]}`` answers ``{"<metric id>": [[timestamp, granularity, value], …]}``,
coarsest granularity first (every granularity of the policy unless ``granularity`` is given, repeatable).

Arguments are checked in Gnocchi's order and wording. Where Gnocchi answers oddly this answers usefully:
an unknown metric id is a 400 naming it (Gnocchi silently leaves it out), a metric without measures yet
has an empty list (Gnocchi: 400), each metric is searched at its own policy's granularities (Gnocchi
reuses the first metric's), and a bad granularity is a 400 (Gnocchi: 500). The query itself is parsed and
evaluated by `telescale.query.value_search`; reads go through `telescale.query.measures`.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response
from starlette.concurrency import run_in_threadpool

from telescale import indexer as idx
from telescale.api import measures as api_measures
from telescale.api.access import enforce_metrics
from telescale.api.auth import Identity, get_identity
from telescale.api.body import read_json
from telescale.api.deps import services
from telescale.api.errors import ApiError, argument_error, bad_request
from telescale.api.jsonio import fast_json_response
from telescale.api.openapi import GRANULARITIES, JSON_ONLY, doc, ref
from telescale.api.params import parse_bool, timespan_arg
from telescale.query import measures as query
from telescale.query import value_search
from telescale.storage.base import StorageDriver
from telescale.timeseries import PolicyItem
from telescale.timeutil import NS, TimeParseError, TimestampOutOfRange, parse_timestamp

router = APIRouter(tags=["search"], **JSON_ONLY)

Plan = list[tuple[idx.Metric, list[PolicyItem]]]


def _metrics(request: Request, raw_ids: Sequence[str]) -> list[idx.Metric]:
    """The metrics named by ``metric_id``, in the order given; 400 naming the first one that does not exist."""
    if not raw_ids:
        raise argument_error("At least one metric_id is required", "metric_id")
    ids: list[uuid.UUID] = []
    for raw in raw_ids:
        try:
            ids.append(uuid.UUID(raw))
        except ValueError:
            raise _no_such_metric(raw) from None
    metrics = services(request).indexer.get_metrics(ids)
    found = {m.id for m in metrics}
    for raw, mid in zip(raw_ids, ids, strict=True):
        if mid not in found:
            raise _no_such_metric(raw)
    return metrics


def _no_such_metric(raw: str) -> ApiError:
    return bad_request({"cause": "Metric does not exist", "detail": {"metric": raw}})


def _predicate(body: Any) -> value_search.Predicate:
    if body is None:
        raise bad_request("No query specified in body")
    try:
        return value_search.parse(body)
    except value_search.InvalidQuery as e:
        raise bad_request({"cause": "Invalid input", "reason": e.reason, "detail": e.path}) from None


def _timestamp(value: str | None, name: str) -> int | None:
    if value is None:
        return None
    try:
        return parse_timestamp(value)
    except TimestampOutOfRange as e:
        raise bad_request(f"Invalid value for {name}: {e}") from None
    except TimeParseError:
        raise bad_request(f"Invalid value for {name}") from None


def _granularities(raw: Sequence[str]) -> list[int] | None:
    """The granularities asked for, coarsest first, or None for every granularity of each policy."""
    if not raw:
        return None
    return sorted({timespan_arg(g, "granularity") for g in raw}, reverse=True)  # type: ignore[type-var]


def _plan(metrics: Sequence[idx.Metric], method: str, granularities: list[int] | None) -> Plan:
    """The policy items to read for each metric; 400 when one lacks the method or a granularity."""
    plan: Plan = []
    for metric in metrics:
        policy = metric.archive_policy
        wanted = granularities or sorted((d.granularity for d in policy.definition), reverse=True)
        items: list[PolicyItem] = []
        for g in wanted:
            item = policy.item(g)
            if item is None or method not in policy.aggregation_methods:
                raise bad_request({"cause": "Aggregation does not exist",
                                   "detail": {"granularity": g / NS, "aggregation_method": method}})
            items.append(item)
        plan.append((metric, items))
    return plan


def _search(storage: StorageDriver, plan: Plan, method: str, predicate: value_search.Predicate,
            start: int | None, stop: int | None) -> dict[str, list[tuple[str, Any, float]]]:
    out: dict[str, list[tuple[str, Any, float]]] = {}
    for metric, items in plan:
        series = [(item.granularity, *predicate.select(*query.read_series(storage, metric.id, item, method, start,
                                                                         stop))) for item in items]
        out[str(metric.id)] = api_measures.render(series)
    return out


@router.post("/v1/search/metric", **doc(body="ValueQuery",
                                         query=("metric_id", "start", "stop", "aggregation", GRANULARITIES, "refresh"),
                                         returns={"type": "object", "additionalProperties": ref("MeasureRows")},
                                         errors=(503,)))
async def search_metric(request: Request, identity: Identity = Depends(get_identity)) -> Response:
    q = request.query_params
    metrics = _metrics(request, q.getlist("metric_id"))
    enforce_metrics(request, identity, "search metric", metrics)
    predicate = _predicate(await read_json(request))
    start = _timestamp(q.get("start"), "start")
    stop = _timestamp(q.get("stop"), "stop")
    method = q.get("aggregation", "mean")
    plan = _plan(metrics, method, _granularities(q.getlist("granularity")))
    if parse_bool(q.get("refresh"), "refresh"):
        for metric in metrics:
            await api_measures.refresh(request, metric.id)
    result = await run_in_threadpool(_search, services(request).storage, plan, method, predicate, start, stop)
    return fast_json_response(result)
