"""`/v1/resource_type`: user-defined resource types and their typed attributes.

A type is a row holding its attribute schema (no DDL per type; see `telescale.indexer.models`). This
module also turns a schema into the voluptuous validator of resource bodies, so that creating or patching
a resource of the type answers with Gnocchi's messages ("length of value must be at most 5 ...").
Attribute values are stored as JSON: uuids as strings, datetimes as ISO 8601 UTC with microseconds (so
they sort as text), numbers, booleans and strings as themselves.
"""

from __future__ import annotations

import datetime
import numbers
import re
import uuid
from collections.abc import Mapping
from typing import Any

import voluptuous as vo
from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response

from telescale import indexer as idx
from telescale.api.access import enforce
from telescale.api.auth import Identity, get_identity
from telescale.api.deps import json_body, services, url_for, with_body
from telescale.api.errors import bad_request, conflict, not_found
from telescale.api.jsonio import JSON_TYPE, json_response
from telescale.api.openapi import JSON_ONLY, doc, many
from telescale.api.schemas import validate
from telescale.api.views import render_value  # noqa: F401  (re-exported: routers import it from here)
from telescale.timeutil import TimeParseError, parse_timestamp, to_datetime

router = APIRouter(prefix="/v1/resource_type", tags=["resource types"], **with_body(JSON_ONLY))

INVALID_NAMES = frozenset({
    "id", "type", "metrics", "revision", "revision_start", "revision_end", "started_at", "ended_at",
    "user_id", "project_id", "created_by_user_id", "created_by_project_id", "get_metric", "creator",
})
VALID_NAME = re.compile("[a-zA-Z0-9][a-zA-Z0-9_]*")
STRING_MAX = 256
JSON_PATCH = "application/json-patch+json"


class InvalidAttribute(ValueError):
    pass


# --- attribute values ---------------------------------------------------------------------------------


def _uuid_value(value: Any) -> str:
    if isinstance(value, uuid.UUID):
        return str(value)
    try:
        return str(uuid.UUID(value))
    except (TypeError, ValueError, AttributeError) as e:
        raise vo.Invalid(str(e) if isinstance(e, ValueError) else "not a valid UUID") from None


def _datetime_value(value: Any) -> str:
    try:
        when = to_datetime(parse_timestamp(value))
    except (TimeParseError, TypeError, ValueError) as e:
        raise vo.Invalid(str(e)) from None
    return when.astimezone(datetime.UTC).isoformat(timespec="microseconds")


def _real(value: Any) -> Any:
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise vo.Invalid("expected Real")
    return value


def value_validator(spec: Mapping[str, Any]) -> Any:
    """The validator of one attribute's values; returns the JSON value to store."""
    kind = spec["type"]
    if kind == "string":
        return vo.All(str, vo.Length(min=spec.get("min_length", 0), max=spec.get("max_length", STRING_MAX)))
    if kind == "uuid":
        return _uuid_value
    if kind == "datetime":
        return _datetime_value
    if kind == "number":
        return vo.All(_real, vo.Range(min=spec.get("min"), max=spec.get("max")))
    if kind == "bool":
        return bool
    raise InvalidAttribute(f"unknown attribute type {kind}")


def attributes_schema(attributes: Mapping[str, Mapping[str, Any]], *, for_update: bool = False) -> dict:
    """Voluptuous keys for a type's attributes (all optional when patching)."""
    schema: dict[Any, Any] = {}
    for name, spec in attributes.items():
        validator = vo.Any(None, value_validator(spec)) if not spec.get("required") else value_validator(spec)
        key = vo.Optional(name) if for_update or not spec.get("required") else vo.Required(name)
        schema[key] = validator
    return schema


# --- attribute definitions ----------------------------------------------------------------------------


def _common(kind: str, for_update: bool) -> dict:
    d: dict[Any, Any] = {vo.Required("type"): kind, vo.Required("required", default=True): bool}
    if for_update:
        d[vo.Required("options", default={})] = {vo.Optional("fill"): object}
    return d


def _definition_schema(for_update: bool) -> vo.Schema:
    string = {**_common("string", for_update),
              vo.Required("min_length", default=0): vo.All(int, vo.Range(min=0, max=STRING_MAX)),
              vo.Required("max_length", default=STRING_MAX): vo.All(int, vo.Range(min=1, max=STRING_MAX))}
    number = {**_common("number", for_update),
              vo.Required("min", default=None): vo.Any(None, _real),
              vo.Required("max", default=None): vo.Any(None, _real)}
    kinds = (string, _common("uuid", for_update), number, _common("bool", for_update),
             _common("datetime", for_update))
    return vo.Schema({vo.Required("name"): str, vo.Required("attributes", default={}): {str: vo.Any(*kinds)}})


TYPE_SCHEMA = _definition_schema(False)
TYPE_UPDATE_SCHEMA = _definition_schema(True)

PATCH_SCHEMA = vo.Schema([{
    vo.Required("op"): vo.Any("add", "remove"),
    vo.Required("path"): vo.All(str, vo.Match("^/attributes", msg="Only attributes can be modified")),
    vo.Optional("value"): dict,
}])


def check_definition(name: str, spec: Mapping[str, Any]) -> tuple[dict[str, Any], Any]:
    """A validated attribute definition in its stored form, and its fill value (None without one)."""
    if len(name) > 63 or name in INVALID_NAMES or not VALID_NAME.match(name):
        raise InvalidAttribute(f"Resource attribute name {name} is invalid")
    kind = spec["type"]
    out: dict[str, Any] = {"type": kind, "required": spec["required"]}
    if kind == "string":
        low, high = spec["min_length"], spec["max_length"]
    elif kind == "number":
        low, high = spec["min"], spec["max"]
    else:
        low = high = None
    if low is not None and high is not None and low > high:
        raise InvalidAttribute(f"Resource attribute value min (or min_length) {low} must be less  "
                               f"than or equal to max (or max_length) {high}!")
    if kind == "string":
        out.update(min_length=low, max_length=high)
    elif kind == "number":
        out.update(min=low, max=high)
    fill = None
    options = spec.get("options")
    if options is not None:
        fill = options.get("fill")
        if fill is None and spec["required"]:
            raise InvalidAttribute(f"Option 'fill' of resource attribute {name} is invalid: "
                                   "must not be empty if required=True")
        if fill is not None:
            try:
                fill = vo.Schema(value_validator(out))(fill)
            except vo.Invalid as e:
                raise InvalidAttribute(f"Option 'fill' of resource attribute {name} is invalid: {e}") from None
    return out, fill


def type_view(rtype: idx.ResourceType) -> dict[str, Any]:
    return {"name": rtype.name, "attributes": rtype.attributes, "state": rtype.state}


def get_type_or_404(request: Request, name: str) -> idx.ResourceType:
    try:
        return services(request).indexer.get_resource_type(name)
    except idx.NoSuchResourceType as e:
        raise not_found(str(e)) from None


# --- routes -------------------------------------------------------------------------------------------


@router.get("", **doc(returns=many("ResourceType")))
def list_types(request: Request, identity: Identity = Depends(get_identity)) -> Response:
    return json_response([type_view(t) for t in services(request).indexer.list_resource_type_records()])


@router.post("", **doc(body="ResourceTypeCreate", status=201, returns="ResourceType", headers=("Location",),
                       errors=(409,)))
def create_type(request: Request, identity: Identity = Depends(get_identity)) -> Response:
    body = validate(TYPE_SCHEMA, json_body(request))
    enforce(request, identity, "create resource type")
    try:
        attributes = {name: check_definition(name, spec)[0] for name, spec in body["attributes"].items()}
    except InvalidAttribute as e:
        raise bad_request(f"Invalid input: {e}") from None
    try:
        created = services(request).indexer.create_resource_type(body["name"], attributes)
    except idx.ResourceTypeAlreadyExists as e:
        raise conflict(str(e)) from None
    return json_response(type_view(created), status=201,
                         headers={"Location": url_for(request, "v1", "resource_type", created.name)})


@router.get("/{name}", **doc(returns="ResourceType"))
def get_type(name: str, request: Request, identity: Identity = Depends(get_identity)) -> Response:
    return json_response(type_view(get_type_or_404(request, name)))


def _apply_patch(current: dict[str, Any], patch: list[dict[str, Any]]) -> dict[str, Any]:
    """RFC 6902 add/remove on ``/attributes/<name>`` (the only paths the schema lets through)."""
    doc = {"name": current["name"], "attributes": {k: dict(v) for k, v in current["attributes"].items()}}
    for op in patch:
        parts = [p.replace("~1", "/").replace("~0", "~") for p in op["path"].split("/")[1:]]
        if len(parts) != 2:
            raise bad_request(f"Invalid JSON patch path {op['path']}")
        attr = parts[1]
        if op["op"] == "add":
            if "value" not in op:
                raise bad_request("The operation does not contain a 'value' member")
            doc["attributes"][attr] = op["value"]
        else:
            if attr not in doc["attributes"]:
                raise bad_request(f"can't remove a non-existent object '{attr}'")
            del doc["attributes"][attr]
    return doc


@router.patch("/{name}", **doc(body="ResourceTypePatch", body_types=(JSON_PATCH, JSON_TYPE), returns="ResourceType"))
def patch_type(name: str, request: Request, identity: Identity = Depends(get_identity)) -> Response:
    rtype = get_type_or_404(request, name)
    enforce(request, identity, "update resource type")
    patch = validate(PATCH_SCHEMA, json_body(request, (JSON_PATCH,)))
    next_doc = _apply_patch(type_view(rtype), patch)
    current = rtype.attributes
    for attr, spec in next_doc["attributes"].items():
        old = current.get(attr)
        if old is not None and isinstance(spec, dict) and spec.get("type") != old["type"]:
            raise bad_request(f"Type update is not available yet. Changing {old['type']} to {spec.get('type')} "
                              f"for attribute {attr} of resource {name}")
    try:
        next_doc = TYPE_UPDATE_SCHEMA(next_doc)
    except vo.Invalid as e:
        raise bad_request(f"Invalid input: {e}") from None
    added: dict[str, dict[str, Any]] = {}
    fill: dict[str, Any] = {}
    try:
        for attr, spec in next_doc["attributes"].items():
            definition = {k: v for k, v in spec.items() if k != "options"}
            if attr in current and definition == current[attr]:
                continue
            added[attr], fill[attr] = check_definition(attr, spec)
    except InvalidAttribute as e:
        raise bad_request(f"Invalid input: {e}") from None
    removed = [a for a in current if a not in next_doc["attributes"]]
    if not added and not removed:
        return json_response(type_view(rtype))
    try:
        updated = services(request).indexer.update_resource_type(
            name, add_attributes=added, del_attributes=removed, fill=fill)
    except idx.NoSuchResourceType as e:
        raise bad_request(str(e)) from None
    return json_response(type_view(updated))


@router.delete("/{name}", **doc(status=204, errors=(400,)))
def delete_type(name: str, request: Request, identity: Identity = Depends(get_identity)) -> Response:
    get_type_or_404(request, name)
    enforce(request, identity, "delete resource type")
    try:
        services(request).indexer.delete_resource_type(name)
    except (idx.NoSuchResourceType, idx.ResourceTypeInUse) as e:
        raise bad_request(str(e)) from None
    return Response(status_code=204)
