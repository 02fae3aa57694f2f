"""`/v1/metric`: create, list, show and delete metrics, and read or write their measures."""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import Iterator

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response

from telescale import indexer as idx
from telescale.api import measures
from telescale.api.access import enforce, enforce_metrics, enforce_resource, metric_query_scope, metric_scope
from telescale.api.auth import Identity, get_identity
from telescale.api.deps import json_body, next_link, page_limit, services, url_for, with_body
from telescale.api.errors import bad_request, not_found
from telescale.api.ids import resource_uuid
from telescale.api.jsonio import json_response
from telescale.api.openapi import JSON_ONLY, MEASURES_READ, PAGINATION, doc, equals, many
from telescale.api.schemas import METRIC, validate
from telescale.api.views import metric_view, resource_view
from telescale.indexer.batch_metrics import NewMetric

router = APIRouter(prefix="/v1/metric", tags=["metrics"], **with_body(JSON_ONLY))

LIST_FILTERS = ("id", "name", "unit", "creator", "archive_policy_name", "resource_id", "status",
                "user_id", "project_id")


def parse_uuid(value: str) -> uuid.UUID | None:
    try:
        return uuid.UUID(value)
    except ValueError:
        return None


def get_metric_or_404(request: Request, metric_id: str) -> idx.Metric:
    mid = parse_uuid(metric_id)
    metric = services(request).indexer.get_metric(mid) if mid else None
    if metric is None:
        raise not_found(f"Metric {metric_id} does not exist")
    return metric


def metric_detail(request: Request, metric: idx.Metric) -> dict:
    """A single metric as Gnocchi shows it: with its policy and its resource (generic fields) or null."""
    view = metric_view(metric)
    resource = services(request).indexer.get_resource("generic", metric.resource_id) if metric.resource_id else None
    if resource is None:
        view["resource"] = None
    else:
        view["resource"] = {k: v for k, v in resource_view(resource, None).items() if k != "metrics"}
    return view


def new_metric(request: Request, identity: Identity, body: dict, resource_id: uuid.UUID | None = None) -> NewMetric:
    """The metric a validated body asks for, its policy chosen by rule when none is named; 403 unless the
    caller may create it."""
    name = body.get("name")
    if name and "/" in name:
        raise bad_request("'/' is not supported in metric name")
    policy_name = body.get("archive_policy_name")
    if policy_name is None:
        rule = services(request).indexer.match_archive_policy_rule(name) if name else None
        if rule is None:
            raise bad_request("No archive policy name specified and no archive policy rule found matching "
                              f"the metric name {name}")
        policy_name = rule.archive_policy_name
    enforce(request, identity, "create metric", {
        "creator": identity.creator, "archive_policy_name": policy_name, "name": name, "unit": body.get("unit"),
        "resource_id": str(resource_id) if resource_id else None})
    return NewMetric(uuid.uuid4(), identity.creator, policy_name, name=name, unit=body.get("unit"),
                     resource_id=resource_id)


@contextlib.contextmanager
def creation_errors(name: str | None) -> Iterator[None]:
    """A metric the indexer refused to create, as Gnocchi's 400s."""
    try:
        yield
    except idx.NoSuchArchivePolicy as e:
        raise bad_request(str(e)) from None
    except idx.NamedMetricAlreadyExists as e:
        raise bad_request({"cause": "Named metric already exists", "reason": str(e), "detail": name}) from None


def create_metric(request: Request, identity: Identity, body: dict, resource_id: uuid.UUID | None = None,
                  ) -> idx.Metric:
    """Create one metric from a validated body (see `new_metric`)."""
    new = new_metric(request, identity, body, resource_id)
    with creation_errors(new.name):
        return services(request).indexer.create_metric(new.id, new.creator, new.archive_policy_name, name=new.name,
                                                       unit=new.unit, resource_id=new.resource_id)


def _resource_for_metric(request: Request, identity: Identity, body: dict) -> uuid.UUID | None:
    """The resource a new metric is attached to, which the caller must be allowed to change."""
    original = body.get("resource_id")
    if original is None:
        return None
    if not body.get("name"):
        raise bad_request({"cause": "Attribute value error", "detail": "name",
                           "reason": "Name cannot be null if resource_id is not null"})
    try:
        rid = resource_uuid(original, identity.creator)
    except ValueError as e:
        raise bad_request({"cause": "Invalid input", "reason": str(e), "detail": ["resource_id"]}) from None
    resource = services(request).indexer.get_resource("generic", rid)
    if resource is None:
        raise not_found(f"Resource {original} does not exist")
    enforce_resource(request, identity, "update resource", resource)
    return rid


@router.post("", **doc(body="MetricCreate", status=201, returns="Metric", headers=("Location",), errors=(404,)))
def post_metric(request: Request, identity: Identity = Depends(get_identity)) -> Response:
    body = validate(METRIC, json_body(request))
    resource_id = _resource_for_metric(request, identity, body)
    metric = create_metric(request, identity, body, resource_id)
    return json_response(metric_view(metric), status=201,
                         headers={"Location": url_for(request, "v1", "metric", str(metric.id))})


@router.get("", **doc(query=(*PAGINATION, *equals(LIST_FILTERS, "metrics")), returns=many("Metric"),
                      headers=("Link",)))
def list_metrics(request: Request, identity: Identity = Depends(get_identity)) -> Response:
    q = request.query_params
    filters = {k: q[k] for k in LIST_FILTERS if k in q}
    if "id" in filters and parse_uuid(filters["id"]) is None:
        return json_response([])
    scope = metric_scope(request, identity, "list metric")
    if scope is not None:
        filters["visible_to_project_id"] = scope
    limit = page_limit(request, q.get("limit"))
    marker = q.get("marker")
    marker_id = parse_uuid(marker) if marker else None
    if marker and marker_id is None:
        raise bad_request(str(idx.InvalidMarker(marker)))
    try:
        metrics = services(request).indexer.list_metrics(
            filters=filters, sorts=q.getlist("sort"), limit=limit, marker=marker_id)
    except (idx.InvalidPagination, idx.InvalidFilter) as e:
        raise bad_request(str(e)) from None
    headers = {"Link": next_link(request, str(metrics[-1].id))} if metrics and len(metrics) == limit else None
    return json_response([metric_view(m) for m in metrics], headers=headers)


@router.get("/{metric_id}", **doc(returns="MetricDetail"))
def get_metric(metric_id: str, request: Request, identity: Identity = Depends(get_identity)) -> Response:
    metric = get_metric_or_404(request, metric_id)
    enforce_metrics(request, identity, "get metric", [metric])
    return json_response(metric_detail(request, metric))


@router.delete("/{metric_id}", **doc(status=204))
def delete_metric(metric_id: str, request: Request, identity: Identity = Depends(get_identity)) -> Response:
    metric = get_metric_or_404(request, metric_id)
    enforce_metrics(request, identity, "delete metric", [metric])
    try:
        services(request).indexer.delete_metric(metric.id)
    except idx.NoSuchMetric as e:
        raise not_found(str(e)) from None
    return Response(status_code=204)


@router.post("/{metric_id}/measures", **doc(body="Measures", status=202))
def post_measures(metric_id: str, request: Request, identity: Identity = Depends(get_identity)) -> Response:
    metric = get_metric_or_404(request, metric_id)
    enforce_metrics(request, identity, "post measures", [metric])
    return measures.write(request, metric)


@router.get("/{metric_id}/measures", **doc(query=MEASURES_READ, returns="MeasureRows", errors=(503,)))
def get_measures(metric_id: str, request: Request, identity: Identity = Depends(get_identity)) -> Response:
    metric = get_metric_or_404(request, metric_id)
    enforce_metrics(request, identity, "get measures", [metric])
    return measures.read(request, metric, metric_query_scope(request, identity, "get measures"))
