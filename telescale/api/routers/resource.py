"""`/v1/resource`: the resources metrics belong to (generic type), and measures by resource and name."""

from __future__ import annotations

from typing import Any

import voluptuous as vo
from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response

from telescale import indexer as idx
from telescale.api import measures
from telescale.api.auth import Identity, get_identity, require_creator_or_admin
from telescale.api.body import read_json
from telescale.api.deps import require_json_accept, services, url_for
from telescale.api.errors import bad_request, conflict, not_found
from telescale.api.ids import resource_uuid
from telescale.api.jsonio import json_response
from telescale.api.routers.metric import get_metric_or_404
from telescale.api.schemas import METRIC, validate
from telescale.api.views import metric_view
from telescale.timeutil import TimeParseError, parse_timestamp, to_datetime

router = APIRouter(prefix="/v1/resource", tags=["resources"], dependencies=[Depends(require_json_accept)])


def _timestamp(value: Any) -> Any:
    try:
        return to_datetime(parse_timestamp(value))
    except TimeParseError as e:
        raise vo.Invalid(str(e)) from None


RESOURCE = vo.Schema({
    vo.Required("id"): vo.All(str, vo.Length(min=1)),
    vo.Optional("started_at"): _timestamp,
    vo.Optional("ended_at"): vo.Any(None, _timestamp),
    vo.Optional("user_id"): vo.Any(None, vo.All(str, vo.Length(min=1, max=255))),
    vo.Optional("project_id"): vo.Any(None, vo.All(str, vo.Length(min=1, max=255))),
    vo.Optional("metrics"): {str: vo.Any(str, dict)},
}, extra=vo.ALLOW_EXTRA)

BASE_FIELDS = ("id", "started_at", "ended_at", "user_id", "project_id", "metrics")


def _iso(value: Any) -> str | None:
    return value.isoformat() if value is not None else None


def resource_view(resource: idx.Resource) -> dict[str, Any]:
    user, _, project = resource.creator.partition(":")
    view = {
        "id": str(resource.id),
        "type": resource.type,
        "original_resource_id": resource.original_resource_id,
        "creator": resource.creator,
        "created_by_user_id": user,
        "created_by_project_id": project,
        "user_id": resource.user_id,
        "project_id": resource.project_id,
        "started_at": _iso(resource.started_at),
        "ended_at": _iso(resource.ended_at),
        "revision_start": _iso(resource.revision_start),
        "revision_end": _iso(resource.revision_end),
        "metrics": {name: str(mid) for name, mid in resource.metrics.items()},
    }
    view.update(resource.attributes)
    return view


@router.get("")
@router.get("/", include_in_schema=False)
def list_types(request: Request, identity: Identity = Depends(get_identity)) -> Response:
    types = services(request).indexer.list_resource_types()
    return json_response({t: url_for(request, "v1", "resource", t) for t in types})


def _check_type(request: Request, rtype: str) -> None:
    if rtype not in services(request).indexer.list_resource_types():
        raise not_found(f"Resource type {rtype} does not exist")


@router.post("/{rtype}", status_code=201)
async def create_resource(rtype: str, request: Request, identity: Identity = Depends(get_identity)) -> Response:
    _check_type(request, rtype)
    body = validate(RESOURCE, await read_json(request))
    try:
        rid = resource_uuid(body["id"], identity.creator)
    except ValueError as e:
        raise bad_request({"cause": "Invalid input", "reason": str(e), "detail": ["id"]}) from None
    metrics: dict[str, Any] = {}
    for name, spec in (body.get("metrics") or {}).items():
        if "/" in name:
            raise bad_request("'/' is not supported in metric name")
        metrics[name] = get_metric_or_404(request, spec).id if isinstance(spec, str) else validate(METRIC, spec)
    attributes = {k: v for k, v in body.items() if k not in BASE_FIELDS}
    indexer = services(request).indexer
    try:
        resource = indexer.create_resource(
            rtype, rid, body["id"], identity.creator, user_id=body.get("user_id"),
            project_id=body.get("project_id"), started_at=body.get("started_at"),
            ended_at=body.get("ended_at"), attributes=attributes, metrics=metrics)
    except idx.ResourceAlreadyExists as e:
        raise conflict(str(e)) from None
    except (idx.NoSuchMetric, idx.NoSuchArchivePolicy, idx.NoArchivePolicyRuleMatch, idx.ResourceValueError) as e:
        raise bad_request(str(e)) from None
    except idx.NamedMetricAlreadyExists as e:
        raise conflict(str(e)) from None
    return json_response(resource_view(resource), status=201,
                         headers={"Location": url_for(request, "v1", "resource", rtype, str(resource.id))})


def _get_resource(request: Request, rtype: str, resource_id: str, identity: Identity) -> idx.Resource:
    _check_type(request, rtype)
    try:
        rid = resource_uuid(resource_id, identity.creator)
    except ValueError:
        raise not_found(f"Resource {resource_id} does not exist") from None
    resource = services(request).indexer.get_resource(rtype, rid)
    if resource is None:
        raise not_found(f"Resource {resource_id} does not exist")
    return resource


@router.get("/{rtype}/{resource_id}")
def get_resource(rtype: str, resource_id: str, request: Request, identity: Identity = Depends(get_identity)
                 ) -> Response:
    return json_response(resource_view(_get_resource(request, rtype, resource_id, identity)))


def _named_metric(request: Request, rtype: str, resource_id: str, name: str, identity: Identity) -> idx.Metric:
    resource = _get_resource(request, rtype, resource_id, identity)
    mid = resource.metrics.get(name)
    if mid is None:
        raise not_found(f"Metric {name} does not exist")
    return get_metric_or_404(request, str(mid))


@router.get("/{rtype}/{resource_id}/metric/{name}")
def get_named_metric(rtype: str, resource_id: str, name: str, request: Request,
                     identity: Identity = Depends(get_identity)) -> Response:
    return json_response(metric_view(_named_metric(request, rtype, resource_id, name, identity)))


@router.post("/{rtype}/{resource_id}/metric/{name}/measures", status_code=202)
async def post_named_measures(rtype: str, resource_id: str, name: str, request: Request,
                              identity: Identity = Depends(get_identity)) -> Response:
    metric = _named_metric(request, rtype, resource_id, name, identity)
    require_creator_or_admin(identity, metric.creator)
    ts, values = measures.parse_measures(await read_json(request))
    return await measures.store(request, {metric.id: (ts, values)})


@router.get("/{rtype}/{resource_id}/metric/{name}/measures")
async def get_named_measures(rtype: str, resource_id: str, name: str, request: Request,
                             identity: Identity = Depends(get_identity)) -> Response:
    return await measures.read(request, _named_metric(request, rtype, resource_id, name, identity))
