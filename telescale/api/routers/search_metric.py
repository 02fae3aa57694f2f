"""`POST /v1/search/metric`: the points of some metrics whose values satisfy a condition.

``?metric_id=<id>&metric_id=…&start=&stop=&aggregation=mean&granularity=…&refresh=`` with a body such as
``{"and": [{">": 50}, {"<": 100}]}`` answers ``{"<metric id>": [[timestamp, granularity, value], …]}``,
coarsest granularity first (every granularity of the policy unless ``granularity`` is given, repeatable).

Arguments are checked in Gnocchi's order and wording. Where Gnocchi answers oddly this answers usefully:
an unknown metric id is a 400 naming it (Gnocchi silently leaves it out), a metric without measures yet
has an empty list (Gnocchi: 400), each metric is searched at its own policy's granularities (Gnocchi
reuses the first metric's), and a bad granularity is a 400 (Gnocchi: 500). The query itself is parsed by
`telescale.query.value_search`; the search runs in the read path (`Query.search_values`).
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response

from telescale import indexer as idx
from telescale.api import measures as api_measures
from telescale.api.access import enforce_metrics, metric_query_scope
from telescale.api.auth import Identity, get_identity
from telescale.api.deps import json_body, query, refresh_timeout, with_body
from telescale.api.errors import ApiError, argument_error, bad_request
from telescale.api.jsonio import fast_json_response
from telescale.api.openapi import GRANULARITIES, JSON_ONLY, doc, ref
from telescale.api.params import parse_bool, timespan_arg
from telescale.query import value_search
from telescale.query.errors import NoSuchAggregation
from telescale.timeutil import NS, TimeParseError, TimestampOutOfRange, parse_timestamp

router = APIRouter(tags=["search"], **with_body(JSON_ONLY))


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
    metrics = query(request).find_metrics(ids)
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


@router.post("/v1/search/metric", **doc(body="ValueQuery",
                                         query=("metric_id", "start", "stop", "aggregation", GRANULARITIES, "refresh"),
                                         returns={"type": "object", "additionalProperties": ref("MeasureRows")},
                                         errors=(503,)))
def search_metric(request: Request, identity: Identity = Depends(get_identity)) -> Response:
    q = request.query_params
    metrics = _metrics(request, q.getlist("metric_id"))
    enforce_metrics(request, identity, "search metric", metrics)
    predicate = _predicate(json_body(request))
    start = _timestamp(q.get("start"), "start")
    stop = _timestamp(q.get("stop"), "stop")
    method = q.get("aggregation", "mean")
    granularities = _granularities(q.getlist("granularity"))
    refresh = refresh_timeout(request, parse_bool(q.get("refresh"), "refresh"))
    with api_measures.read_errors():
        try:
            found = query(request).search_values(metric_query_scope(request, identity, "search metric"), metrics,
                                                 method, granularities, predicate, start=start, stop=stop,
                                                 refresh_timeout=refresh)
        except NoSuchAggregation as e:
            raise bad_request({"cause": "Aggregation does not exist",
                               "detail": {"granularity": e.granularity / NS, "aggregation_method": method}}) from None
    return fast_json_response({str(metric.id): api_measures.render(series) for metric, series in found})
