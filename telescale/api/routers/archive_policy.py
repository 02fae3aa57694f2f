"""`/v1/archive_policy`: how long and how finely each metric's aggregates are kept."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response

from telescale import indexer as idx
from telescale.api.access import enforce
from telescale.api.auth import Identity, get_identity
from telescale.api.deps import json_body, services, url_for, with_body
from telescale.api.errors import ApiError, bad_request, conflict, not_found
from telescale.api.jsonio import json_response
from telescale.api.openapi import JSON_ONLY, doc, many
from telescale.api.schemas import ARCHIVE_POLICY, ARCHIVE_POLICY_PATCH, validate
from telescale.api.views import policy_view
from telescale.timeseries import ArchivePolicy, PolicyError, PolicyItem, resolve_methods

router = APIRouter(prefix="/v1/archive_policy", tags=["archive policies"],
                   **with_body(JSON_ONLY))


def _items(definition: list[dict]) -> tuple[PolicyItem, ...]:
    try:
        return tuple(PolicyItem.build(d.get("granularity"), d.get("points"), d.get("timespan")) for d in definition)
    except PolicyError as e:
        raise bad_request(str(e)) from None


@router.get("", **doc(returns=many("ArchivePolicy")))
def list_policies(request: Request, identity: Identity = Depends(get_identity)) -> Response:
    return json_response([policy_view(p) for p in services(request).indexer.list_archive_policies()])


@router.post("", **doc(body="ArchivePolicyCreate", status=201, returns="ArchivePolicy", headers=("Location",),
                       errors=(409,)))
def create_policy(request: Request, identity: Identity = Depends(get_identity)) -> Response:
    enforce(request, identity, "create archive policy")
    body = validate(ARCHIVE_POLICY, json_body(request))
    try:
        policy = ArchivePolicy(
            name=body["name"],
            back_window=body["back_window"],
            definition=_items(body["definition"]),
            aggregation_methods=resolve_methods(body.get("aggregation_methods")),
        )
    except PolicyError as e:
        raise bad_request(str(e)) from None
    try:
        created = services(request).indexer.create_archive_policy(policy)
    except idx.ArchivePolicyAlreadyExists as e:
        raise conflict(str(e)) from None
    return json_response(policy_view(created), status=201,
                         headers={"Location": url_for(request, "v1", "archive_policy", created.name)})


def _get(request: Request, name: str) -> ArchivePolicy:
    policy = services(request).indexer.get_archive_policy(name)
    if policy is None:
        raise not_found(str(idx.NoSuchArchivePolicy(name)))
    return policy


@router.get("/{name}", **doc(returns="ArchivePolicy"))
def get_policy(name: str, request: Request, identity: Identity = Depends(get_identity)) -> Response:
    return json_response(policy_view(_get(request, name)))


@router.patch("/{name}", **doc(body="ArchivePolicyUpdate", returns="ArchivePolicy"))
def update_policy(name: str, request: Request, identity: Identity = Depends(get_identity)) -> Response:
    enforce(request, identity, "update archive policy")
    body = validate(ARCHIVE_POLICY_PATCH, json_body(request))
    policy = _get(request, name)
    items = _items(body["definition"])
    try:
        policy.check_update(items)
    except PolicyError as e:
        raise bad_request(f"Archive policy {name} does not support change: {e}") from None
    try:
        updated = services(request).indexer.update_archive_policy(name, items)
    except idx.NoSuchArchivePolicy as e:
        raise not_found(str(e)) from None
    return json_response(policy_view(updated))


@router.delete("/{name}", **doc(status=204, errors=(400,)))
def delete_policy(name: str, request: Request, identity: Identity = Depends(get_identity)) -> Response:
    enforce(request, identity, "delete archive policy")
    try:
        services(request).indexer.delete_archive_policy(name)
    except idx.NoSuchArchivePolicy as e:
        raise not_found(str(e)) from None
    except idx.ArchivePolicyInUse as e:
        raise ApiError(400, str(e)) from None
    return Response(status_code=204)
