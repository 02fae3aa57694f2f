"""`/v2/alarms/{alarm_id}/state` and `/history`: an alarm's state as a bare JSON string, and its changes.

Setting the state records a ``state transition`` whose reason is "Manually set via API" and sends no
notification, as in Aodh; the next evaluation may change it back. History stays readable after the
alarm is deleted (Aodh answers 404 then), always limited to the changes made on behalf of the caller's
project.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response

from telescale import indexer as idx
from telescale.alarming.definitions import MANUAL_STATE_REASON, STATES
from telescale.api.aodh_access import AodhCaller, aodh_caller
from telescale.api.errors import ApiError
from telescale.api.jsonio import json_response
from telescale.api.openapi import JSON_ONLY, doc
from telescale.api.openapi_v2 import PAGE, SIMPLE_QUERY
from telescale.api.routers.v2_common import (
    HISTORY_SORT_KEYS,
    alarm_not_found,
    bad_query,
    change_view,
    indexer,
    json_body,
    load_alarm,
    page_args,
    parse_uuid,
)
from telescale.api.routers.v2_filters import history_filters

router = APIRouter(prefix="/v2/alarms/{alarm_id}", tags=["alarms (Aodh v2)"], **JSON_ONLY)


@router.get("/state", **doc(returns="AlarmState"))
def get_state(alarm_id: str, request: Request, caller: AodhCaller = Depends(aodh_caller)) -> Response:
    return json_response(load_alarm(request, caller, alarm_id, "get_alarm_state").state)


@router.put("/state", **doc(body="AlarmState", returns="AlarmState"))
def set_state(alarm_id: str, request: Request, body: Any = Depends(json_body),
              caller: AodhCaller = Depends(aodh_caller)) -> Response:
    alarm = load_alarm(request, caller, alarm_id, "change_alarm_state")
    if not isinstance(body, str) or body not in STATES:
        raise ApiError(400, "state invalid")
    try:
        updated = indexer(request).set_alarm_state(alarm.alarm_id, body, project=caller.project_scope,
                                                   by_user=caller.user_id, by_project=caller.project_id,
                                                   reason=MANUAL_STATE_REASON)
    except idx.NoSuchAlarm:
        raise alarm_not_found(alarm_id) from None
    return json_response(updated.state)


def _history_target(request: Request, caller: AodhCaller, alarm_id: str) -> Any:
    """The alarm id whose history the caller may read: its alarm's if it exists in the caller's scope (and
    the rule allows it), else — a deleted alarm — only if some of its history is the caller's."""
    parsed = parse_uuid(alarm_id)
    scope = caller.project_scope
    alarm = None if parsed is None else indexer(request).get_alarm(parsed, project=scope)
    if alarm is not None:
        caller.enforce("alarm_history", {"user_id": alarm.user_id, "project_id": alarm.project_id})
        return parsed
    caller.enforce_own("alarm_history")
    if parsed is None or not indexer(request).get_alarm_history(parsed, limit=1, project=scope):
        raise alarm_not_found(alarm_id)
    return parsed


@router.get("/history", **doc(query=(*SIMPLE_QUERY, *PAGE), returns="AlarmChanges", errors=(401,)))
def get_history(alarm_id: str, request: Request, caller: AodhCaller = Depends(aodh_caller)) -> Response:
    """The alarm's changes, newest first: ``creation``, ``rule change``, ``state transition``, ``deletion``
    (and Telescale's ``action`` deliveries and evaluation errors)."""
    target = _history_target(request, caller, alarm_id)
    filters = history_filters(request, caller)
    sorts, limit, marker = page_args(request, HISTORY_SORT_KEYS)
    changes = bad_query(lambda: indexer(request).get_alarm_history(
        target, filters, sorts, limit, marker, project=caller.project_scope))
    return json_response([change_view(c) for c in changes])
