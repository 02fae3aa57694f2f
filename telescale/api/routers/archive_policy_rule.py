"""`/v1/archive_policy_rule`: which policy a metric created without one gets, by name pattern."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response

from telescale import indexer as idx
from telescale.api.access import enforce
from telescale.api.auth import Identity, get_identity
from telescale.api.deps import json_body, services, url_for, with_body
from telescale.api.errors import bad_request, conflict, not_found
from telescale.api.jsonio import json_response
from telescale.api.openapi import JSON_ONLY, doc, many
from telescale.api.schemas import ARCHIVE_POLICY_RULE, ARCHIVE_POLICY_RULE_PATCH, validate
from telescale.api.views import rule_view

router = APIRouter(prefix="/v1/archive_policy_rule", tags=["archive policy rules"],
                   **with_body(JSON_ONLY))


@router.get("", **doc(returns=many("ArchivePolicyRule")))
def list_rules(request: Request, identity: Identity = Depends(get_identity)) -> Response:
    return json_response([rule_view(r) for r in services(request).indexer.list_archive_policy_rules()])


@router.post("", **doc(body="ArchivePolicyRuleCreate", status=201, returns="ArchivePolicyRule",
                       headers=("Location",), errors=(409,)))
def create_rule(request: Request, identity: Identity = Depends(get_identity)) -> Response:
    enforce(request, identity, "create archive policy rule")
    body = validate(ARCHIVE_POLICY_RULE, json_body(request))
    try:
        rule = services(request).indexer.create_archive_policy_rule(
            body["name"], body["metric_pattern"], body["archive_policy_name"])
    except idx.NoSuchArchivePolicy:
        raise bad_request({"cause": "Archive policy does not exist",
                           "reason": f"Archive policy {body['archive_policy_name']} does not exist",
                           "detail": body["archive_policy_name"]}) from None
    except idx.ArchivePolicyRuleAlreadyExists as e:
        raise conflict(str(e)) from None
    return json_response(rule_view(rule), status=201,
                         headers={"Location": url_for(request, "v1", "archive_policy_rule", rule.name)})


@router.get("/{name}", **doc(returns="ArchivePolicyRule"))
def get_rule(name: str, request: Request, identity: Identity = Depends(get_identity)) -> Response:
    rule = services(request).indexer.get_archive_policy_rule(name)
    if rule is None:
        raise not_found(str(idx.NoSuchArchivePolicyRule(name)))
    return json_response(rule_view(rule))


@router.patch("/{name}", **doc(body="ArchivePolicyRuleUpdate", returns="ArchivePolicyRule"))
def rename_rule(name: str, request: Request, identity: Identity = Depends(get_identity)) -> Response:
    """Only the name of a rule may change (Gnocchi's rule)."""
    enforce(request, identity, "update archive policy rule")
    body = validate(ARCHIVE_POLICY_RULE_PATCH, json_body(request))
    try:
        rule = services(request).indexer.rename_archive_policy_rule(name, body["name"])
    except idx.NoSuchArchivePolicyRule as e:
        raise not_found(str(e)) from None
    except idx.ArchivePolicyRuleAlreadyExists as e:
        raise bad_request(str(e)) from None
    return json_response(rule_view(rule))


@router.delete("/{name}", **doc(status=204))
def delete_rule(name: str, request: Request, identity: Identity = Depends(get_identity)) -> Response:
    enforce(request, identity, "delete archive policy rule")
    try:
        services(request).indexer.delete_archive_policy_rule(name)
    except idx.NoSuchArchivePolicyRule as e:
        raise not_found(str(e)) from None
    return Response(status_code=204)
