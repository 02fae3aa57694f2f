"""Deprecated ``POST /v1/aggregation/resource/{type}/metric/{name}``: cross-metric aggregation of the metric
``name`` of the resources a search finds, optionally per group of attribute values.

Aodh's Gnocchi rules and older Grafana plugins still call it.  The search (a JSON body or ``?filter=``)
is scoped to what the caller may see, then the matched resources and their metric called ``name`` come
from one indexer query; each group is then what ``/v1/aggregation/metric`` computes for its metrics.
Unlike Gnocchi, which aggregates only the first page (``api.max_limit``) of the search, every matched
resource counts.
"""

from __future__ import annotations

import glob

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response

from telescale import indexer as idx
from telescale.api.access import enforce_metrics, resource_query_scope
from telescale.api.auth import Identity, get_identity
from telescale.api.deps import query, services, with_body
from telescale.api.errors import ApiError, bad_request, not_found
from telescale.api.openapi import CROSS_METRIC, JSON_ONLY, doc
from telescale.api.routers.aggregates import (
    cross_metric_args,
    cross_metric_measures,
    cross_metric_rows,
    group_view,
    groupby_arg,
    id_transform,
    respond,
    search_errors,
    type_schema,
)
from telescale.api.routers.resource import request_filter
from telescale.query.aggregates.resources import group_resources
from telescale.query.reader import ResourceSearch

router = APIRouter(tags=["aggregates"], **with_body(JSON_ONLY))
PATH = "/v1/aggregation/resource/{rtype}/metric"


def _check_type(request: Request, rtype: str) -> None:
    try:
        services(request).indexer.get_resource_type(rtype)
    except idx.NoSuchResourceType as e:
        raise not_found(str(e)) from None


@router.post(PATH + "/{name}", **doc(body="SearchQuery", body_required=False, returns="GroupedMeasureRows",
                                      query=("filter", "groupby", *CROSS_METRIC), errors=(503,)))
def post_aggregation_resource(rtype: str, name: str, request: Request,
                              identity: Identity = Depends(get_identity)) -> Response:
    _check_type(request, rtype)
    groupby = groupby_arg(request)
    node = request_filter(request)
    scope = resource_query_scope(request, identity, "search resource", rtype)
    search = ResourceSearch(rtype, node, tuple(groupby), id_transform=id_transform(identity))
    with search_errors(lambda e: bad_request("Invalid groupby attribute", e.hint)):
        # The name is literal here: escaped so that '*', '?' or '[' in it match only themselves.
        resources = query(request).search_resources(scope, search, [glob.escape(name)])
    enforce_metrics(request, identity, "get metric", [m for r in resources for m in r.metrics])
    args = cross_metric_args(request)
    if not groupby:
        rows, finite = cross_metric_rows(cross_metric_measures(
            request, scope, [m for r in resources for m in r.metrics], args))
        return respond(rows, finite)
    answer = []
    all_finite = True
    schema = type_schema(request, rtype)
    for key, members in group_resources(resources):
        rows, finite = cross_metric_rows(cross_metric_measures(
            request, scope, [m for r in members for m in r.metrics], args))
        all_finite = all_finite and finite
        answer.append({"group": group_view(schema, groupby, key), "measures": rows})
    return respond(answer, all_finite)


@router.get(PATH + "/{name}", include_in_schema=False)
def get_aggregation_resource(rtype: str, name: str, request: Request,
                             identity: Identity = Depends(get_identity)) -> Response:
    _check_type(request, rtype)
    raise ApiError(405, "Method Not Allowed", {"Allow": "POST"})


@router.api_route(PATH, methods=["GET", "POST"], include_in_schema=False)
def no_metric_name(rtype: str, request: Request, identity: Identity = Depends(get_identity)) -> Response:
    _check_type(request, rtype)
    raise ApiError(405, "Method Not Allowed", {"Allow": "POST"})
