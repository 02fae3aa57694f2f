"""`/v1/resource`: typed resources, their revisions, and their metrics by name.

Gnocchi's behaviour throughout: bodies validated against the type's attribute schema, ETag /
Last-Modified with the RFC 7232 preconditions, a PATCH that changes something writes the previous state
to the history, lists paginated with `Link: rel="next"`. Basic-mode policy: reads are open, changes are
for the creator or the admin.
"""

from __future__ import annotations

import datetime
import hashlib
import uuid
from email.utils import format_datetime, parsedate_to_datetime
from typing import Any
from urllib.parse import urlencode

import orjson
import voluptuous as vo
from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response

from telescale import indexer as idx
from telescale.api import measures
from telescale.api.access import (
    enforce,
    enforce_metrics,
    enforce_resource,
    metric_query_scope,
    resource_scope,
    with_scope,
)
from telescale.api.auth import Identity, get_identity
from telescale.api.deps import base_url, json_body, page_limit, raw_body, services, url_for, with_body
from telescale.api.errors import ApiError, bad_request, conflict, not_found
from telescale.api.ids import resource_uuid
from telescale.api.jsonio import is_json_content, json_response
from telescale.api.openapi import JSON_ONLY, LISTING, MEASURES_READ, doc, many, object_schema
from telescale.api.params import parse_bool
from telescale.api.routers.metric import get_metric_or_404, metric_detail
from telescale.api.routers.resource_type import attributes_schema
from telescale.api.schemas import METRIC, validate
from telescale.api.views import metric_view, resource_view
from telescale.indexer import search
from telescale.timeutil import TimeParseError, parse_timestamp, to_datetime

router = APIRouter(tags=["resources"], **with_body(JSON_ONLY))
PREFIX = "/v1/resource"

DEFAULT_SORTS = ("revision_start:asc", "started_at:asc")


def _timestamp(value: Any) -> Any:
    try:
        return to_datetime(parse_timestamp(value))
    except (TimeParseError, TypeError, ValueError) as e:
        raise vo.Invalid(str(e)) from None


def _metric_name(name: Any) -> str:
    if not isinstance(name, str):
        raise vo.Invalid("expected str")
    if "/" in name:
        raise vo.Invalid("'/' is not supported in metric name")
    return name


METRICS = {_metric_name: vo.Any(str, dict)}

BASE_SCHEMA = {
    vo.Optional("started_at"): _timestamp,
    vo.Optional("ended_at"): vo.Any(None, _timestamp),
    vo.Optional("user_id"): vo.Any(None, vo.All(str, vo.Length(min=1, max=255))),
    vo.Optional("project_id"): vo.Any(None, vo.All(str, vo.Length(min=1, max=255))),
    vo.Optional("metrics"): METRICS,
}
BASE_FIELDS = ("id", "started_at", "ended_at", "user_id", "project_id", "metrics")


def etag(resource: idx.Resource) -> str:
    digest = hashlib.sha1(str(resource.id).encode())
    digest.update(resource.revision_start.isoformat().encode())
    return digest.hexdigest()


def _last_modified(resource: idx.Resource) -> datetime.datetime:
    return resource.revision_start.replace(microsecond=0)


def etag_headers(resource: idx.Resource) -> dict[str, str]:
    return {"ETag": f'"{etag(resource)}"', "Last-Modified": format_datetime(_last_modified(resource), usegmt=True)}


def _etags(header: str) -> list[str]:
    tags = []
    for part in header.split(","):
        part = part.strip()
        if part.startswith("W/"):
            part = part[2:]
        tags.append(part.strip('"'))
    return tags


def _http_date(value: str | None) -> datetime.datetime | None:
    if not value:
        return None
    try:
        parsed = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=datetime.UTC)


def check_preconditions(request: Request, resource: idx.Resource) -> None:
    """RFC 7232 in Gnocchi's order: If-Match, If-Unmodified-Since, If-None-Match, If-Modified-Since."""
    tag, modified = etag(resource), _last_modified(resource)
    headers = request.headers
    if_match = headers.get("if-match")
    if if_match is not None and "*" not in _etags(if_match) and tag not in _etags(if_match):
        raise ApiError(412, "Precondition Failed")
    unmodified_since = _http_date(headers.get("if-unmodified-since"))
    if if_match is None and unmodified_since is not None and unmodified_since < modified:
        raise ApiError(412, "Precondition Failed")
    if_none_match = headers.get("if-none-match")
    read = request.method in ("GET", "HEAD")
    if if_none_match is not None and ("*" in _etags(if_none_match) or tag in _etags(if_none_match)):
        if read:
            raise ApiError(304, "Not Modified")
        raise ApiError(412, "Precondition Failed")
    modified_since = _http_date(headers.get("if-modified-since"))
    if if_none_match is None and modified_since is not None and modified_since >= modified and read:
        raise ApiError(304, "Not Modified")


# --- helpers ------------------------------------------------------------------------------------------


def _type(request: Request, rtype: str) -> idx.ResourceType:
    try:
        return services(request).indexer.get_resource_type(rtype)
    except idx.NoSuchResourceType as e:
        raise not_found(str(e)) from None


def _rid(resource_id: str, identity: Identity) -> uuid.UUID:
    try:
        return resource_uuid(resource_id, identity.creator)
    except ValueError:
        raise not_found(str(idx.NoSuchResource(resource_id))) from None


def _get_resource(request: Request, rtype: str, resource_id: str, identity: Identity,
                  rule: str | None = "get resource") -> idx.Resource:
    """The resource named by the URL (404 if none), after checking ``rule`` on it (403)."""
    _type(request, rtype)
    rid = _rid(resource_id, identity)
    resource = services(request).indexer.get_resource(rtype, rid)
    if resource is None:
        raise not_found(str(idx.NoSuchResource(rid)))
    if rule is not None:
        enforce_resource(request, identity, rule, resource)
    return resource


def _metrics_arg(request: Request, raw: dict[str, Any]) -> dict[str, Any]:
    metrics: dict[str, Any] = {}
    for name, spec in raw.items():
        if isinstance(spec, str):
            try:
                metrics[name] = uuid.UUID(spec)
            except ValueError:
                raise bad_request(str(idx.NoSuchMetric(spec))) from None
        else:
            metrics[name] = validate(METRIC, spec)
    return metrics


def _metric_error(e: Exception) -> ApiError:
    if isinstance(e, idx.NamedMetricAlreadyExists):
        return conflict(str(e))
    if isinstance(e, idx.NoArchivePolicyRuleMatch):
        return bad_request("No archive policy name specified and no archive policy rule found matching "
                           f"the metric name {e.metric_name}")
    return bad_request(str(e))


_METRIC_ERRORS = (idx.NoSuchMetric, idx.NoSuchArchivePolicy, idx.NoArchivePolicyRuleMatch, idx.ResourceValueError,
                  idx.NamedMetricAlreadyExists)


def _pagination(request: Request) -> tuple[int, str | None, list[str]]:
    q = request.query_params
    limit = page_limit(request, q.get("limit"))
    sorts = q.getlist("sort") or list(DEFAULT_SORTS)
    return limit, q.get("marker"), sorts


def _attrs_arg(request: Request) -> list[str] | None:
    values = request.query_params.getlist("attrs") + request.query_params.getlist("attrs[]")
    return values or None


def _id_transform(identity: Identity | None) -> Any:
    if identity is None:
        return None
    return lambda value: resource_uuid(value, identity.creator)


def _next_link(request: Request, marker: str, limit: int, sorts: list[str]) -> str:
    """Gnocchi's resource `Link`: the query as sent, with limit, sort and marker set, keys sorted."""
    options: dict[str, list[str]] = {}
    for key, value in request.query_params.multi_items():
        options.setdefault(key, []).append(value)
    options.update(limit=[str(limit)], sort=list(sorts), marker=[marker])
    params = [(k, v) for k in sorted(options) for v in options[k]]
    return f'<{base_url(request)}{request.url.path}?{urlencode(params)}>; rel="next"'


def list_page(request: Request, rtype: str, *, history: bool, details: bool, resource_id: uuid.UUID | None = None,
              filter_node: Any = None, identity: Identity | None = None) -> Response:
    """One page of resources as Gnocchi lists them, with the `Link` to the next one."""
    limit, marker, sorts = _pagination(request)
    indexer = services(request).indexer
    try:
        resources = indexer.list_resources(rtype, resource_id=resource_id, filter_node=filter_node, history=history,
                                           sorts=sorts, limit=limit, marker=marker, details=details,
                                           id_transform=_id_transform(identity))
    except idx.NoSuchResourceType as e:
        raise not_found(str(e)) from None
    except search.InvalidSearch as e:
        raise bad_request(e.description) from None
    except (idx.InvalidPagination, idx.InvalidFilter, idx.ResourceAttributeError) as e:
        raise bad_request(str(e)) from None
    schemas = {t.name: t.attributes for t in indexer.list_resource_type_records()}
    attrs = _attrs_arg(request)
    body = [resource_view(r, schemas.get(r.type) if (details or rtype != "generic") else None, attrs)
            for r in resources]
    headers = None
    if resources and len(resources) >= limit:
        last = resources[-1]
        headers = {"Link": _next_link(request, f"{last.id}@{last.revision}" if history else str(last.id),
                                      limit, sorts)}
    return json_response(body, headers=headers)


def _decode(request: Request, raw: bytes) -> Any:
    if not is_json_content(request):
        raise ApiError(415, "Unsupported Media Type")
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError:
        raise bad_request({"cause": "Unable to decode body", "reason": "Expected object or value",
                           "detail": []}) from None


def _read_body(request: Request) -> Any:
    """The JSON body; an empty one is Gnocchi's "Unable to decode body" 400 as well."""
    return _decode(request, raw_body(request))


def request_filter(request: Request) -> Any:
    """The search filter of a request: a JSON body, else ``?filter=`` in the string form; None if neither."""
    raw = raw_body(request)
    text = request.query_params.get("filter")
    if not raw.strip() and not text:
        return None
    try:
        if raw.strip():
            return search.parse_json_filter(_decode(request, raw))
        return search.parse_string_filter(text)
    except search.InvalidSearch as e:
        raise bad_request(e.description) from None


# --- routes -------------------------------------------------------------------------------------------


@router.get(PREFIX, **doc(returns={"type": "object", "additionalProperties": {"type": "string"},
                                  "description": "resource type name → URL of its resources"}))
@router.get(PREFIX + "/", include_in_schema=False)
def list_types(request: Request, identity: Identity = Depends(get_identity)) -> Response:
    types = services(request).indexer.list_resource_types()
    return json_response({t: url_for(request, "v1", "resource", t) for t in types})


@router.post(PREFIX + "/{rtype}", **doc(body="ResourceCreate", status=201, returns="Resource",
                                         headers=("Location", "ETag", "Last-Modified"), errors=(409,)))
def create_resource(rtype: str, request: Request, identity: Identity = Depends(get_identity)) -> Response:
    resource_type = _type(request, rtype)
    def resource_id(value: Any) -> Any:
        if not isinstance(value, str) or not value:
            raise vo.Invalid("expected a non-empty str")
        try:
            resource_uuid(value, identity.creator)
        except ValueError as e:
            raise vo.Invalid(str(e)) from None
        return value

    schema = vo.Schema({vo.Required("id"): resource_id, **BASE_SCHEMA,
                        **attributes_schema(resource_type.attributes)})
    body = validate(schema, json_body(request))
    try:
        rid = resource_uuid(body["id"], identity.creator)
    except ValueError as e:
        raise bad_request({"cause": "Invalid input", "reason": str(e), "detail": ["id"]}) from None
    metrics = _metrics_arg(request, body.get("metrics") or {})
    enforce(request, identity, "create resource", {
        "resource_type": rtype, "id": str(rid), "original_resource_id": body["id"],
        **{k: (str(v) if k in ("started_at", "ended_at") and v is not None else v)
           for k, v in body.items() if k not in ("id", "metrics")}})
    attributes = {k: v for k, v in body.items() if k not in BASE_FIELDS}
    try:
        resource = services(request).indexer.create_resource(
            rtype, rid, body["id"], identity.creator, user_id=body.get("user_id"),
            project_id=body.get("project_id"), started_at=body.get("started_at"),
            ended_at=body.get("ended_at"), attributes=attributes, metrics=metrics)
    except idx.ResourceAlreadyExists as e:
        raise conflict(str(e)) from None
    except _METRIC_ERRORS as e:
        raise _metric_error(e) from None
    headers = {"Location": url_for(request, "v1", "resource", rtype, str(resource.id)), **etag_headers(resource)}
    return json_response(resource_view(resource, resource_type.attributes), status=201, headers=headers)


@router.get(PREFIX + "/{rtype}", **doc(query=(*LISTING, "history"), returns=many("Resource"), headers=("Link",)))
def list_resources(rtype: str, request: Request, identity: Identity = Depends(get_identity)) -> Response:
    _type(request, rtype)
    q = request.query_params
    scope = resource_scope(request, identity, "list resource", rtype)
    return list_page(request, rtype, history=parse_bool(q.get("history"), "history"),
                     details=parse_bool(q.get("details"), "details"), filter_node=with_scope(None, scope),
                     identity=identity)


@router.post("/v1/search/resource/{rtype}", **doc(body="SearchQuery", body_required=False,
                                                     query=(*LISTING, "history", "filter"), returns=many("Resource"),
                                                     headers=("Link",)))
def search_resources(rtype: str, request: Request, identity: Identity = Depends(get_identity)) -> Response:
    _type(request, rtype)
    q = request.query_params
    node = request_filter(request)
    scope = resource_scope(request, identity, "search resource", rtype)
    return list_page(request, rtype, history=parse_bool(q.get("history"), "history"),
                     details=parse_bool(q.get("details"), "details"), filter_node=with_scope(node, scope),
                     identity=identity)


@router.get("/v1/search/resource/{rtype}", include_in_schema=False)
def search_resources_get(rtype: str, request: Request, identity: Identity = Depends(get_identity)) -> Response:
    _type(request, rtype)
    raise ApiError(405, "Method Not Allowed", {"Allow": "POST"})


@router.delete(PREFIX + "/{rtype}", **doc(body="SearchQuery", body_required=False, query=("filter",),
                                          returns=object_schema({"deleted": {"type": "integer"}}, ("deleted",))))
def delete_resources(rtype: str, request: Request, identity: Identity = Depends(get_identity)) -> Response:
    _type(request, rtype)
    node = request_filter(request)
    if node is None:
        raise bad_request("caution: the query can not be empty, or it will delete entire database")
    node = with_scope(node, resource_scope(request, identity, "delete resources", rtype))
    try:
        deleted = services(request).indexer.delete_resources(rtype, filter_node=node,
                                                             id_transform=_id_transform(identity))
    except search.InvalidSearch as e:
        raise bad_request(e.description) from None
    except (idx.InvalidFilter, idx.ResourceAttributeError) as e:
        raise bad_request(str(e)) from None
    return json_response({"deleted": deleted})


@router.get(PREFIX + "/{rtype}/{resource_id}", **doc(returns="Resource", headers=("ETag", "Last-Modified"),
                                                     errors=(412,)))
def get_resource(rtype: str, resource_id: str, request: Request, identity: Identity = Depends(get_identity)
                 ) -> Response:
    resource_type = _type(request, rtype)
    resource = _get_resource(request, rtype, resource_id, identity)
    check_preconditions(request, resource)
    schema = resource_type.attributes if rtype != "generic" else _type(request, resource.type).attributes
    return json_response(resource_view(resource, schema), headers=etag_headers(resource))


def _revision_needed(resource: idx.Resource, body: dict[str, Any]) -> bool:
    for key, value in body.items():
        if key == "metrics":
            continue
        current = getattr(resource, key) if key in BASE_FIELDS else resource.attributes.get(key)
        if current != value:
            return True
    return False


@router.patch(PREFIX + "/{rtype}/{resource_id}", **doc(body="ResourceUpdate", returns="Resource",
                                                       headers=("ETag", "Last-Modified"), errors=(409, 412)))
def patch_resource(rtype: str, resource_id: str, request: Request, identity: Identity = Depends(get_identity)
                   ) -> Response:
    resource_type = _type(request, rtype)
    resource = _get_resource(request, rtype, resource_id, identity, "update resource")
    check_preconditions(request, resource)
    schema = resource_type.attributes if rtype != "generic" else _type(request, resource.type).attributes
    body = validate(vo.Schema({**BASE_SCHEMA, **attributes_schema(resource_type.attributes, for_update=True)}),
                    _read_body(request))
    create_revision = _revision_needed(resource, body)
    if not body or (not create_revision and "metrics" not in body):
        return json_response(resource_view(resource, schema), headers=etag_headers(resource))
    metrics = _metrics_arg(request, body.pop("metrics")) if "metrics" in body else None
    try:
        resource = services(request).indexer.update_resource(
            rtype, resource.id, create_revision=create_revision, metrics=metrics, **body)
    except idx.NoSuchResource as e:
        raise not_found(str(e)) from None
    except _METRIC_ERRORS as e:
        raise _metric_error(e) from None
    return json_response(resource_view(resource, schema), headers=etag_headers(resource))


@router.delete(PREFIX + "/{rtype}/{resource_id}", **doc(status=204, errors=(412,)))
def delete_resource(rtype: str, resource_id: str, request: Request, identity: Identity = Depends(get_identity)
                    ) -> Response:
    resource = _get_resource(request, rtype, resource_id, identity, "delete resource")
    check_preconditions(request, resource)
    try:
        services(request).indexer.delete_resource(resource.id)
    except idx.NoSuchResource as e:
        raise not_found(str(e)) from None
    return Response(status_code=204)


@router.get(PREFIX + "/{rtype}/{resource_id}/history", **doc(query=LISTING, returns=many("Resource"),
                                                             headers=("Link",)))
def get_history(rtype: str, resource_id: str, request: Request, identity: Identity = Depends(get_identity)
                ) -> Response:
    resource = _get_resource(request, rtype, resource_id, identity)
    details = parse_bool(request.query_params.get("details"), "details")
    return list_page(request, rtype, history=True, details=details, resource_id=resource.id)


@router.get(PREFIX + "/{rtype}/{resource_id}/metric", **doc(returns=many("Metric")))
def list_resource_metrics(rtype: str, resource_id: str, request: Request, identity: Identity = Depends(get_identity)
                          ) -> Response:
    resource = _get_resource(request, rtype, resource_id, identity)
    metrics = services(request).indexer.get_metrics(list(resource.metrics.values()))
    return json_response([metric_view(m) for m in metrics])


@router.post(PREFIX + "/{rtype}/{resource_id}/metric", **doc(body="ResourceMetrics", returns=many("Metric"),
                                                             errors=(409,)))
def post_resource_metrics(rtype: str, resource_id: str, request: Request,
                          identity: Identity = Depends(get_identity)) -> Response:
    resource = _get_resource(request, rtype, resource_id, identity, "update resource")
    body = validate(vo.Schema(METRICS), json_body(request))
    metrics = _metrics_arg(request, body)
    try:
        resource = services(request).indexer.update_resource(
            rtype, resource.id, create_revision=False, metrics=metrics, append_metrics=True)
    except idx.NoSuchResource as e:
        raise not_found(str(e)) from None
    except _METRIC_ERRORS as e:
        raise _metric_error(e) from None
    attached = services(request).indexer.get_metrics(list(resource.metrics.values()))
    return json_response([metric_view(m) for m in attached])


def _named_metric(request: Request, rtype: str, resource_id: str, name: str, identity: Identity,
                  rule: str) -> idx.Metric:
    """A resource's metric by name, after checking the metric ``rule`` on it."""
    resource = _get_resource(request, rtype, resource_id, identity, rule=None)
    mid = resource.metrics.get(name)
    if mid is None:
        raise not_found(f"Metric {name} does not exist")
    metric = get_metric_or_404(request, str(mid))
    enforce_metrics(request, identity, rule, [metric])
    return metric


@router.get(PREFIX + "/{rtype}/{resource_id}/metric/{name}", **doc(returns="MetricDetail"))
def get_named_metric(rtype: str, resource_id: str, name: str, request: Request,
                     identity: Identity = Depends(get_identity)) -> Response:
    return json_response(metric_detail(request, _named_metric(request, rtype, resource_id, name, identity,
                                                               "get metric")))


@router.post(PREFIX + "/{rtype}/{resource_id}/metric/{name}/measures", **doc(body="Measures", status=202))
def post_named_measures(rtype: str, resource_id: str, name: str, request: Request,
                        identity: Identity = Depends(get_identity)) -> Response:
    metric = _named_metric(request, rtype, resource_id, name, identity, "post measures")
    return measures.write(request, metric)


@router.get(PREFIX + "/{rtype}/{resource_id}/metric/{name}/measures",
             **doc(query=MEASURES_READ, returns="MeasureRows", errors=(503,)))
def get_named_measures(rtype: str, resource_id: str, name: str, request: Request,
                       identity: Identity = Depends(get_identity)) -> Response:
    metric = _named_metric(request, rtype, resource_id, name, identity, "get measures")
    return measures.read(request, metric, metric_query_scope(request, identity, "get measures"))

