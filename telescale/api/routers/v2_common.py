"""What the ``/v2`` routers share: views of alarms and changes, Aodh's query-string forms, the alarm lookup.

Views follow Aodh's field order; timestamps are ISO 8601 with their UTC offset (Telescale's convention;
Aodh prints naive UTC). Trust ids are never stored in an action, so no view can show one.
"""

from __future__ import annotations

import datetime
from collections.abc import Callable, Sequence
from typing import Any, TypeVar
from urllib.parse import urlsplit

from fastapi import Request

from telescale import indexer as idx
from telescale.alarming.definitions import public_rule
from telescale.alarming.rule_types import InvalidAlarm, invalid_input, storable
from telescale.api.aodh_access import AodhCaller
from telescale.api.body import read_json
from telescale.api.deps import services
from telescale.api.errors import ApiError
from telescale.api.routers.metric import parse_uuid

T = TypeVar("T")

#: Aodh's sort keys, in the order its message lists them.
ALARM_SORT_KEYS = ("alarm_id", "enabled", "name", "type", "severity", "timestamp", "user_id", "project_id",
                   "state", "repeat_actions", "state_timestamp")
HISTORY_SORT_KEYS = ("event_id", "alarm_id", "on_behalf_of", "project_id", "user_id", "type", "timestamp",
                     "severity")
SIMPLE_OPS = ("lt", "le", "eq", "ne", "ge", "gt")
MAX_LIMIT = 2**31 - 1  # no page is longer; a larger limit is read as "all", as no limit is


def iso(value: datetime.datetime | None) -> str | None:
    return None if value is None else value.isoformat()


def action_view(actions: Sequence[str]) -> list[str]:
    """Actions as Aodh shows them: each URL re-assembled (``log://`` reads ``log:``), which aodhclient's
    output and Heat compare against."""
    return [urlsplit(a).geturl() for a in actions]


def alarm_view(alarm: idx.Alarm) -> dict[str, Any]:
    return {
        "alarm_id": str(alarm.alarm_id),
        "name": alarm.name,
        "description": alarm.description,
        "enabled": alarm.enabled,
        "ok_actions": action_view(alarm.ok_actions),
        "alarm_actions": action_view(alarm.alarm_actions),
        "insufficient_data_actions": action_view(alarm.insufficient_data_actions),
        "repeat_actions": alarm.repeat_actions,
        "type": alarm.type,
        "time_constraints": [dict(tc) for tc in alarm.time_constraints],
        "project_id": alarm.project_id,
        "user_id": alarm.user_id,
        "timestamp": iso(alarm.timestamp),
        "state": alarm.state,
        "state_timestamp": iso(alarm.state_timestamp),
        "state_reason": alarm.state_reason,
        "severity": alarm.severity,
        "evaluate_timestamp": iso(alarm.evaluate_timestamp),
        "evaluation_interval": alarm.evaluation_interval,
        "pending_for": alarm.pending_for,
        "missing_data": alarm.missing_data,
        f"{alarm.type}_rule": public_rule(alarm.type, alarm.rule),
    }


def change_view(change: idx.AlarmChange) -> dict[str, Any]:
    return {"event_id": str(change.event_id), "alarm_id": str(change.alarm_id), "type": change.type,
            "detail": change.detail, "project_id": change.project_id, "user_id": change.user_id,
            "on_behalf_of": change.on_behalf_of, "timestamp": iso(change.timestamp)}


async def json_body(request: Request) -> Any:
    """FastAPI dependency: the JSON body, read before a plain-``def`` handler runs in the threadpool."""
    return await read_json(request)


def indexer(request: Request) -> idx.Indexer:
    return services(request).indexer


def aodh_error(error: InvalidAlarm) -> ApiError:
    return ApiError(error.status, str(error))


def clean(value: str, field: str) -> str:
    """400 for a query value no database could compare (a NUL character)."""
    try:
        return storable(value, field)
    except InvalidAlarm as e:
        raise aodh_error(e) from None


def not_authorized(value: Any, aspect: str = "project") -> ApiError:
    """Aodh's refusal of a query naming another project (a 401, as Aodh answers it)."""
    return ApiError(401, f"Not Authorized to access {aspect} {value}")


def alarm_not_found(alarm_id: Any) -> ApiError:
    return ApiError(404, f"Alarm {alarm_id} not found")


def load_alarm(request: Request, caller: AodhCaller, alarm_id: str, rule: str) -> idx.Alarm:
    """The alarm if it is in the caller's scope and ``telemetry:<rule>`` allows it (Aodh's
    ``_enforce_rbac``): 404 when it is missing or in another project, 403 when the rule says no."""
    parsed = parse_uuid(alarm_id)
    alarm = None if parsed is None else indexer(request).get_alarm(parsed, project=caller.project_scope)
    if alarm is None:
        raise alarm_not_found(alarm_id)
    caller.enforce(rule, {"user_id": alarm.user_id, "project_id": alarm.project_id})
    return alarm


# --- Aodh's query string: q.field/q.op/q.value/q.type, sort, limit, marker ---------------------------------


def simple_query(request: Request) -> list[tuple[str, str, str, str]]:
    """The ``q`` filters as (field, op, value, type); op defaults to eq as in Aodh."""
    params = request.query_params
    fields = [clean(f, "q.field") for f in params.getlist("q.field")]
    values = [clean(v, "q.value") for v in params.getlist("q.value")]
    ops, types = params.getlist("q.op"), params.getlist("q.type")
    if len(values) != len(fields):
        raise ApiError(400, str(invalid_input("q", values, "every q.field needs one q.value")))
    if len(ops) not in (0, len(fields)) or len(types) not in (0, len(fields)):
        raise ApiError(400, str(invalid_input("q", ops, "give q.op and q.type for every q.field, or none")))
    ops = ops or ["eq"] * len(fields)
    types = types or [""] * len(fields)
    return [(f, o or "eq", v, t) for f, o, v, t in zip(fields, ops, values, types, strict=True)]


def page_args(request: Request, sort_keys: Sequence[str]) -> tuple[list[str], int | None, str | None]:
    """``sort`` (repeatable ``key[:dir]``), ``limit`` (positive) and ``marker`` with Aodh's messages."""
    params = request.query_params
    sorts = [clean(s, "sort") for s in params.getlist("sort")]
    for sort in sorts:
        if sort.partition(":")[0] not in sort_keys:
            raise ApiError(400, str(invalid_input(
                "sort", sort, "the sort parameter should be a pair of sort key and sort dir combined with ':', or "
                "only sort key specified and sort dir will be default 'asc', the supported sort keys are: "
                f"{tuple(sort_keys)}")))
    limit, raw = None, params.get("limit")
    if raw is not None:
        try:
            limit = int(raw)
        except ValueError:
            raise ApiError(400, str(invalid_input("limit", raw, "unable to convert to int"))) from None
        if limit <= 0:
            raise ApiError(400, str(invalid_input("limit", raw, "it should be a positive integer.")))
        limit = min(limit, MAX_LIMIT)
    marker = params.get("marker")
    return sorts, limit, None if marker is None else clean(marker, "marker")


def bad_query(call: Callable[[], T]) -> T:
    """Run an indexer query, answering 400 for what it refuses (an unknown marker too, where Aodh fails)."""
    try:
        return call()
    except idx.InvalidMarker as e:
        raise ApiError(400, f"Marker {e.marker} not found.") from None
    except (idx.InvalidPagination, idx.InvalidAlarmQuery) as e:
        raise ApiError(400, str(e)) from None
