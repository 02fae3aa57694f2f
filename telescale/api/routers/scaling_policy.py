"""A group's policies (`/v1/scaling_group/{id}/policy`) and the signals that fire them.

A policy's ``signal_url`` carries a secret token and needs no other credential (Aodh webhooks,
Alertmanager, curl); it is shown when the policy is created and when its token is rotated, since only the
token's hash is stored. ``authenticated_signal_url`` takes the caller's usual credentials. Both accept an
Aodh notification, an Alertmanager (v4) webhook or an empty body, and answer with the decision they caused;
a resolved alert or an alarm back to ``ok`` is logged and never scales.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response

from telescale.api.auth import Identity, get_identity
from telescale.api.deps import base_url, json_body, raw_body, url_for, with_body
from telescale.api.errors import bad_request, conflict, not_found
from telescale.api.jsonio import json_response
from telescale.api.openapi import JSON_ONLY, doc
from telescale.api.routers.scaling_group import caller_project, engine, indexer, load_group
from telescale.indexer import errors
from telescale.scaling.definitions import build_policy
from telescale.scaling.engine import NoSuchSignal
from telescale.scaling.model import Decision, Group, Policy
from telescale.scaling.policies import SignalError, parse_signal
from telescale.scaling.tokens import SIGNAL_PREFIX, looks_like_token, new_token, token_hash
from telescale.scaling.views import decision_view, group_view, policy_view

router = APIRouter(prefix="/v1/scaling_group/{group_id}/policy", tags=["scaling policies"],
                   **with_body(JSON_ONLY))
signals = APIRouter(prefix=SIGNAL_PREFIX.rstrip("/"), tags=["scaling policies"], **with_body({}))


def _view(request: Request, policy: Policy, token: str | None = None) -> dict[str, Any]:
    authenticated = url_for(request, "v1", "scaling_group", str(policy.group_id), "policy", str(policy.id),
                            "signal")
    signal_url = None if token is None else f"{base_url(request)}{SIGNAL_PREFIX}{token}"
    return policy_view(policy, signal_url=signal_url, authenticated_signal_url=authenticated)


def _load(request: Request, identity: Identity, group_id: str, policy_id: str) -> tuple[Group, Policy]:
    group = load_group(request, identity, group_id)
    policy = next((p for p in indexer(request).list_scaling_policies(group.id, caller_project(identity))
                   if str(p.id) == policy_id), None)
    if policy is None:
        raise not_found(f"Scaling policy {policy_id} does not exist in group {group_id}")
    return group, policy


@router.post("", **doc(body="ScalingPolicyCreate", status=201, returns="ScalingPolicy", headers=("Location",),
                       errors=(404, 409)))
def create_policy(group_id: str, request: Request, identity: Identity = Depends(get_identity)) -> Response:
    group = load_group(request, identity, group_id)
    scope = None if identity.is_admin or not identity.scoped else identity.project
    try:
        policy = build_policy(group, json_body(request), scope_project=scope)
    except ValueError as e:
        raise bad_request(str(e)) from None
    token = new_token()
    try:
        policy = indexer(request).create_scaling_policy(policy, token_hash(token))
    except errors.ScalingPolicyAlreadyExists:
        raise conflict(f"Group {group.name} already has a policy named {policy.name!r}") from None
    location = url_for(request, "v1", "scaling_group", str(group.id), "policy", str(policy.id))
    return json_response(_view(request, policy, token), status=201, headers={"Location": location})


@router.get("", **doc(returns="ScalingPolicyList", errors=(404,)))
def list_policies(group_id: str, request: Request, identity: Identity = Depends(get_identity)) -> Response:
    group = load_group(request, identity, group_id)
    policies = indexer(request).list_scaling_policies(group.id, caller_project(identity))
    return json_response([_view(request, p) for p in policies])


@router.get("/{policy_id}", **doc(returns="ScalingPolicy", errors=(404,)))
def get_policy(group_id: str, policy_id: str, request: Request, identity: Identity = Depends(get_identity)
               ) -> Response:
    return json_response(_view(request, _load(request, identity, group_id, policy_id)[1]))


@router.delete("/{policy_id}", **doc(status=204, errors=(404,)))
def delete_policy(group_id: str, policy_id: str, request: Request, identity: Identity = Depends(get_identity)
                  ) -> Response:
    _, policy = _load(request, identity, group_id, policy_id)
    indexer(request).delete_scaling_policy(policy.id, caller_project(identity))
    return Response(status_code=204)


@router.post("/{policy_id}/token", **doc(returns="ScalingPolicy", errors=(404,)))
def rotate_token(group_id: str, policy_id: str, request: Request, identity: Identity = Depends(get_identity)
                 ) -> Response:
    """A new ``signal_url``; the previous one answers 404 from now on."""
    _, policy = _load(request, identity, group_id, policy_id)
    token = new_token()
    indexer(request).set_policy_token(policy.id, caller_project(identity), token_hash(token))
    return json_response(_view(request, policy, token))


@router.delete("/{policy_id}/token", **doc(status=204, errors=(404,)))
def revoke_token(group_id: str, policy_id: str, request: Request, identity: Identity = Depends(get_identity)
                 ) -> Response:
    """The ``signal_url`` stops working (404); ``authenticated_signal_url`` still does."""
    _, policy = _load(request, identity, group_id, policy_id)
    indexer(request).set_policy_token(policy.id, caller_project(identity), None)
    return Response(status_code=204)


def _answer(request: Request, group: Group, decision: Decision) -> Response:
    members = indexer(request).list_scaling_members(group.id)
    return json_response({"decision": decision_view(decision), "group": group_view(group, members)}, status=202)


def _signal(request: Request) -> Any:
    try:
        return parse_signal(raw_body(request), request.headers.get("content-type"))
    except SignalError as e:
        raise bad_request(str(e)) from None


@router.post("/{policy_id}/signal", **doc(body="Signal", body_required=False, status=202, returns="SignalAnswer",
                                          errors=(404,)))
def signal_authenticated(group_id: str, policy_id: str, request: Request,
                         identity: Identity = Depends(get_identity)) -> Response:
    group, policy = _load(request, identity, group_id, policy_id)
    group, decision = engine(request).signal_policy(policy, group, _signal(request), "signal")
    return _answer(request, group, decision)


@signals.post("/{token}", **doc(body="Signal", body_required=False, status=202, returns="SignalAnswer",
                                errors=(404,)))
def signal(token: str, request: Request) -> Response:
    """A pre-signed signal: the token is the credential. An unknown or revoked token gets 404 and changes
    nothing."""
    if not looks_like_token(token):
        raise not_found("No scaling policy has this signal token")
    body = _signal(request)
    try:
        group, decision = engine(request).signal(token, body)
    except NoSuchSignal:
        raise not_found("No scaling policy has this signal token") from None
    return _answer(request, group, decision)


