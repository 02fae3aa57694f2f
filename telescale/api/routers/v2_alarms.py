"""`/v2/alarms` and `/v2/alarms/{alarm_id}`: Aodh's alarm definitions — list, create, show, replace, delete.

Handlers doing SQL are plain ``def`` (FastAPI runs them in its threadpool); the body is read by the
async :func:`json_body` dependency first. Every indexer call carries the caller's project scope.
An alarm with ``trust+http(s)://`` actions holds one Keystone trust (:mod:`telescale.api.alarm_trusts`):
created with the alarm, kept by a PUT that still needs it, deleted once the alarm is gone or needs it no more.
"""

from __future__ import annotations

import uuid
from typing import Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response

from telescale import indexer as idx
from telescale.alarming.definitions import ACTION_FIELDS, Caller, InvalidAlarm, build_alarm, data_scope, uses_trust
from telescale.alarming.notifiers.allowlist import TargetRefused, check_target
from telescale.api.alarm_trusts import create_trust, release_trust
from telescale.api.aodh_access import AodhCaller, aodh_caller
from telescale.api.deps import url_for
from telescale.api.errors import ApiError
from telescale.api.jsonio import json_response
from telescale.api.openapi import JSON_ONLY, doc
from telescale.api.openapi_v2 import PAGE, SIMPLE_QUERY
from telescale.api.routers.v2_common import (
    ALARM_SORT_KEYS,
    alarm_view,
    aodh_error,
    bad_query,
    indexer,
    json_body,
    load_alarm,
    page_args,
)
from telescale.api.routers.v2_filters import list_filters
from telescale.api.routers.v2_rule_checks import check_rule
from telescale.scaling import alarm_actions as scaling_actions

router = APIRouter(prefix="/v2/alarms", tags=["alarms (Aodh v2)"], **JSON_ONLY)


def _definition(request: Request, caller: AodhCaller, body: Any, previous: idx.Alarm | None) -> dict[str, Any]:
    """The stored fields of the alarm in ``body``, validated as Aodh does and checked against the indexer."""
    writer = Caller(caller.user_id, caller.project_id, limited=not caller.admin)
    before = None if previous is None else {"user_id": previous.user_id, "project_id": previous.project_id}
    prometheus = bool(request.app.state.settings.alarming.prometheus_url)
    try:
        fields = build_alarm(body, writer, before, prometheus_enabled=prometheus)
    except InvalidAlarm as e:
        raise aodh_error(e) from None
    check_rule(indexer(request), fields["type"], fields["rule"], data_scope(writer, fields["project_id"]),
               caller.identity.creator)
    allowed = request.app.state.settings.alarming.webhook_allowed_networks
    for field in ACTION_FIELDS:
        for action in fields.get(field) or ():
            try:
                check_target(action, allowed)  # loopback, link-local, metadata: refused unless allowed
                scaling_actions.check_action(indexer(request), action, data_scope(writer, fields["project_id"]))
            except (TargetRefused, ValueError) as e:
                raise ApiError(400, f"{field}: {e}") from None
    return fields


@router.get("", **doc(query=(*SIMPLE_QUERY, *PAGE), returns="AlarmList"))
def list_alarms(request: Request, caller: AodhCaller = Depends(aodh_caller)) -> Response:
    """The alarms of the caller's project (all projects: admins with ``q.field=all_projects``)."""
    filters, scope = list_filters(request, caller)
    sorts, limit, marker = page_args(request, ALARM_SORT_KEYS)
    alarms = bad_query(lambda: indexer(request).list_alarms(filters, sorts, limit, marker, project=scope))
    return json_response([alarm_view(a) for a in alarms])


@router.post("", **doc(body="AlarmWrite", status=201, returns="Alarm", headers=("Location",),
                         errors=(401, 503)))
def create_alarm(request: Request, body: Any = Depends(json_body),
                 caller: AodhCaller = Depends(aodh_caller)) -> Response:
    caller.enforce_own("create_alarm")
    fields = _definition(request, caller, body, None)
    alarm = idx.Alarm(alarm_id=uuid.uuid4(), **fields, trust_id=create_trust(request, caller, fields))
    try:
        created = indexer(request).create_alarm(alarm, by_user=caller.user_id, by_project=caller.project_id)
    except BaseException as e:  # nothing stored: the new trust goes too
        release_trust(request, alarm.alarm_id, alarm.trust_id)
        if isinstance(e, idx.AlarmQuotaExceeded):
            raise ApiError(403, str(e)) from None
        raise
    return json_response(alarm_view(created), status=201,
                         headers={"Location": url_for(request, "v2", "alarms", str(created.alarm_id))})


@router.get("/{alarm_id}", **doc(returns="Alarm"))
def get_alarm(alarm_id: str, request: Request, caller: AodhCaller = Depends(aodh_caller)) -> Response:
    return json_response(alarm_view(load_alarm(request, caller, alarm_id, "get_alarm")))


def _store_replacement(request: Request, caller: AodhCaller, alarm: idx.Alarm, fields: dict[str, Any]) -> idx.Alarm:
    """Write the PUT's fields; when a trust is involved, only over the trust that was read (an evaluation
    moving the alarm's version meanwhile is retried, a concurrent PUT changing the trust is a 409)."""
    update = indexer(request).update_alarm
    if not (alarm.trust_id or fields["trust_id"]):
        return update(alarm.alarm_id, fields, project=caller.project_scope, by_user=caller.user_id,
                      by_project=caller.project_id)
    read = alarm
    for _ in range(5):
        try:
            return update(alarm.alarm_id, fields, read.version, project=caller.project_scope,
                          by_user=caller.user_id, by_project=caller.project_id)
        except idx.AlarmVersionConflict:
            read = indexer(request).get_alarm(alarm.alarm_id, project=caller.project_scope)
            if read is None:
                raise idx.NoSuchAlarm(alarm.alarm_id, caller.project_scope) from None
            if read.trust_id != alarm.trust_id:
                break
    raise ApiError(409, f"Alarm {alarm.alarm_id} was changed by another request meanwhile: read it again and retry")


@router.put("/{alarm_id}", **doc(body="AlarmWrite", returns="Alarm", errors=(401, 409, 503)))
def replace_alarm(alarm_id: str, request: Request, body: Any = Depends(json_body),
                  caller: AodhCaller = Depends(aodh_caller)) -> Response:
    """Replace the whole alarm (fields left out take their defaults, as in Aodh); a new ``state`` is
    "Manually set via API". The alarm's trust is kept while a trust action remains, made if none was."""
    alarm = load_alarm(request, caller, alarm_id, "change_alarm")
    fields = _definition(request, caller, body, alarm)
    needed = uses_trust(fields)
    new_trust = create_trust(request, caller, fields) if needed and not alarm.trust_id else None
    fields["trust_id"] = (alarm.trust_id or new_trust) if needed else None
    try:
        updated = _store_replacement(request, caller, alarm, fields)
    except BaseException as e:  # nothing stored: a trust made for this PUT goes too
        release_trust(request, alarm.alarm_id, new_trust)
        if isinstance(e, idx.NoSuchAlarm):
            raise ApiError(404, f"Alarm {alarm_id} not found") from None
        raise
    if alarm.trust_id and not needed:
        release_trust(request, alarm.alarm_id, alarm.trust_id)
    return json_response(alarm_view(updated))


@router.delete("/{alarm_id}", **doc(status=204))
def delete_alarm(alarm_id: str, request: Request, caller: AodhCaller = Depends(aodh_caller)) -> Response:
    alarm = load_alarm(request, caller, alarm_id, "delete_alarm")
    try:
        indexer(request).delete_alarm(alarm.alarm_id, project=caller.project_scope, by_user=caller.user_id,
                                      by_project=caller.project_id)
    except idx.NoSuchAlarm:
        raise ApiError(404, f"Alarm {alarm_id} not found") from None
    release_trust(request, alarm.alarm_id, alarm.trust_id)
    return Response(status_code=204)
