"""`/v1/scaling_group`: scaling groups — create, list, show, change, delete, pause, resume, decision log.

Handlers are plain ``def`` (SQL in the threadpool). A caller sees the groups of its project (an admin, or a
caller without a project under basic auth, sees all), as everywhere in ``/v1``; another project's group is
answered 404, exactly as a missing one. Changing ``desired_capacity`` by PATCH is a manual decision: it goes
through the same gates as any other (bounds, in flight; not cooldown) and is logged with who asked.
"""

from __future__ import annotations

import asyncio
import datetime
import uuid
from typing import Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response

from telescale.alarming.notifiers.allowlist import TargetRefused, check_target
from telescale.api.auth import Identity, get_identity
from telescale.api.deps import json_body, page_limit, url_for, with_body
from telescale.api.errors import ApiError, bad_request, conflict, not_found
from telescale.api.jsonio import json_response
from telescale.api.openapi import JSON_ONLY, doc
from telescale.indexer import errors
from telescale.indexer.engine import utcnow
from telescale.scaling.definitions import build_group, group_changes
from telescale.scaling.model import Group
from telescale.scaling.views import decision_view, group_view

router = APIRouter(prefix="/v1/scaling_group", tags=["scaling groups"], **with_body(JSON_ONLY))


def caller_project(identity: Identity) -> str | None:
    """The project a caller's scaling objects are limited to (None: all)."""
    return None if identity.is_admin or not identity.scoped else identity.project


def indexer(request: Request) -> Any:
    return request.app.state.services.indexer


def engine(request: Request) -> Any:
    return request.app.state.scaling


def group_uuid(group_id: str) -> uuid.UUID:
    try:
        return uuid.UUID(group_id)
    except ValueError:
        raise not_found(f"Scaling group {group_id} does not exist") from None


def load_group(request: Request, identity: Identity, group_id: str) -> Group:
    try:
        return indexer(request).get_scaling_group(group_uuid(group_id), caller_project(identity))
    except errors.NoSuchScalingGroup:
        raise not_found(f"Scaling group {group_id} does not exist") from None


def show(request: Request, group: Group, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    members = indexer(request).list_scaling_members(group.id)
    return json_response(group_view(group, members), status=status, headers=headers)


def invalid(e: ValueError) -> ApiError:
    return bad_request(str(e))


def _check_targets(request: Request, driver: dict[str, Any] | None) -> None:
    """The URLs a driver will call, refused now (400) as the driver would refuse them at each call: loopback,
    link-local and metadata addresses unless ``alarming.webhook_allowed_networks`` allows them."""
    allowed = request.app.state.settings.alarming.webhook_allowed_networks
    for key in ("url", "scale_out_url", "scale_in_url"):
        url = (driver or {}).get(key)
        if isinstance(url, str):
            try:
                check_target(url, allowed)
            except TargetRefused as e:
                raise bad_request(f"member_driver.{key}: {e}") from None


def _check_resource_type(request: Request, name: str | None) -> None:
    if name is None:
        return
    try:
        indexer(request).get_resource_type(name)
    except errors.NoSuchResourceType:
        raise bad_request(f"member_resource_type: resource type {name!r} does not exist") from None


@router.post("", **doc(body="ScalingGroupCreate", status=201, returns="ScalingGroup", headers=("Location",),
                       errors=(409,)))
def create_group(request: Request, identity: Identity = Depends(get_identity)) -> Response:
    try:
        group = build_group(json_body(request), user_id=identity.user, project_id=identity.project,
                            admin=identity.is_admin)
    except ValueError as e:
        raise invalid(e) from None
    _check_resource_type(request, group.member_resource_type)
    _check_targets(request, dict(group.member_driver))
    try:
        group = indexer(request).create_scaling_group(group)
    except errors.ScalingGroupAlreadyExists:
        raise conflict(f"A scaling group named {group.name!r} already exists in this project") from None
    if group.desired_capacity > 0:
        group, _ = engine(request).start(group, identity.user)
    return show(request, group, 201, {"Location": url_for(request, "v1", "scaling_group", str(group.id))})


def _marker(request: Request, what: str) -> uuid.UUID | None:
    value = request.query_params.get("marker")
    if not value:
        return None
    try:
        return uuid.UUID(value)
    except ValueError:
        raise bad_request(f"marker: not a {what} id: {value!r}") from None


@router.get("", **doc(query=("limit", "marker"), returns="ScalingGroupList"))
def list_groups(request: Request, identity: Identity = Depends(get_identity)) -> Response:
    q = request.query_params
    marker = _marker(request, "scaling group")
    try:
        groups = indexer(request).list_scaling_groups(caller_project(identity),
                                                      limit=page_limit(request, q.get("limit")), marker=marker)
    except (errors.InvalidMarker, errors.InvalidScalingValue) as e:
        raise bad_request(str(e)) from None
    return json_response([group_view(g) for g in groups])


@router.get("/{group_id}", **doc(returns="ScalingGroup", errors=(404,)))
def get_group(group_id: str, request: Request, identity: Identity = Depends(get_identity)) -> Response:
    return show(request, load_group(request, identity, group_id))


@router.patch("/{group_id}", **doc(body="ScalingGroupUpdate", returns="ScalingGroup", errors=(404, 409)))
def patch_group(group_id: str, request: Request, identity: Identity = Depends(get_identity)) -> Response:
    group = load_group(request, identity, group_id)
    try:
        changes = group_changes(group, json_body(request))
    except ValueError as e:
        raise invalid(e) from None
    _check_resource_type(request, changes.get("member_resource_type"))
    _check_targets(request, changes.get("member_driver"))
    sizes = {k: changes.pop(k) for k in ("min_size", "max_size", "desired_capacity") if k in changes}
    if changes:
        try:
            group = indexer(request).update_scaling_group(group.id, caller_project(identity), changes)
        except errors.ScalingGroupAlreadyExists:
            raise conflict(f"A scaling group named {changes.get('name')!r} already exists in this project") from None
    if sizes:
        group, _ = engine(request).resize_bounds(group.id, sizes, identity.user)
    return show(request, group)


@router.delete("/{group_id}", **doc(status=204, errors=(404,)))
def delete_group(group_id: str, request: Request, identity: Identity = Depends(get_identity)) -> Response:
    """Stops the members the group's driver started (process, nova), then deletes the group and its policies;
    its decision log stays readable."""
    group = load_group(request, identity, group_id)
    members = indexer(request).list_scaling_members(group.id)
    if members:
        from telescale.scaling.drivers import build_driver
        from telescale.scaling.process import driver_context

        context = driver_context(request.app.state.settings)

        async def stop_all() -> None:
            driver = build_driver(group.member_driver, context)
            try:
                if driver.tracks_members:
                    await driver.resize(group, members, 0, members, "the group is deleted")
            finally:
                await driver.aclose()

        try:
            asyncio.run(stop_all())
        except Exception as e:
            raise ApiError(503, f"cannot stop the members of scaling group {group.name}: {e}; try again") from None
    try:
        indexer(request).delete_scaling_group(group.id, caller_project(identity))
    except errors.NoSuchScalingGroup:
        raise not_found(f"Scaling group {group_id} does not exist") from None
    return Response(status_code=204)


def _set_paused(request: Request, identity: Identity, group_id: str, paused: bool) -> Response:
    group = load_group(request, identity, group_id)
    group = indexer(request).update_scaling_group(group.id, caller_project(identity), {"paused": paused})
    word = "paused" if paused else "resumed"
    engine(request).log(group, None, "manual", "paused" if paused else "no_change",
                        f"{word} by {identity.user}", utcnow(), {"user": identity.user})
    return show(request, group)


@router.post("/{group_id}/pause", **doc(returns="ScalingGroup", errors=(404,)))
def pause_group(group_id: str, request: Request, identity: Identity = Depends(get_identity)) -> Response:
    """No policy acts while paused (each evaluation is still logged, with "paused" as the reason)."""
    return _set_paused(request, identity, group_id, True)


@router.post("/{group_id}/resume", **doc(returns="ScalingGroup", errors=(404,)))
def resume_group(group_id: str, request: Request, identity: Identity = Depends(get_identity)) -> Response:
    return _set_paused(request, identity, group_id, False)


def _time(request: Request, name: str) -> datetime.datetime | None:
    value = request.query_params.get(name)
    if not value:
        return None
    try:
        at = datetime.datetime.fromisoformat(value)
    except ValueError:
        raise bad_request(f"{name}: not an ISO 8601 time: {value!r}") from None
    return at if at.tzinfo else at.replace(tzinfo=datetime.UTC)


@router.get("/{group_id}/history", **doc(query=("start", "stop", "limit", "marker"), returns="DecisionList",
                                         errors=(404,)))
def group_history(group_id: str, request: Request, identity: Identity = Depends(get_identity)) -> Response:
    """The decision log, newest first: why the group did, or did not, scale."""
    gid = group_uuid(group_id)
    q = request.query_params
    marker = _marker(request, "decision")
    outcome = q.get("outcome")
    try:
        decisions = indexer(request).list_decisions(gid, caller_project(identity), start=_time(request, "start"),
                                                    end=_time(request, "stop"),
                                                    limit=page_limit(request, q.get("limit")),
                                                    marker=marker, outcome=outcome)
    except errors.NoSuchScalingGroup:
        raise not_found(f"Scaling group {group_id} does not exist") from None
    except (errors.InvalidMarker, errors.InvalidScalingValue) as e:
        raise bad_request(str(e)) from None
    return json_response([decision_view(d) for d in decisions])

