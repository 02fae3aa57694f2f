"""Aodh's simple queries (``q.field``/``q.op``/``q.value``) of the alarm and history listings, and the scope.

The scope is decided from who the caller is, never from the filter: a caller that is not an admin reads
its own project only. A ``project_id`` filter naming another project is refused (Aodh's 401), and every
filter is applied — so repeating a field (``project_id=mine&project_id=theirs``, or ``all_projects``)
narrows the result, it never widens it (Aodh's LP 2161276).
"""

from __future__ import annotations

from fastapi import Request

from telescale.alarming.rule_types import InvalidAlarm, boolean, invalid_input
from telescale.api.aodh_access import AodhCaller
from telescale.api.errors import ApiError
from telescale.api.routers.v2_common import SIMPLE_OPS, not_authorized, simple_query

#: Aodh's ALARM_QUERY_FIELDS_ALLOWED.
ALARM_FIELDS = ("all_projects", "enabled", "name", "project_id", "repeat_actions", "severity", "state",
                "timestamp", "type", "user_id")
#: Aodh's history query keys (``user``/``project`` stand for ``user_id``/``project_id``).
HISTORY_FIELDS = ("project", "search_offset", "severity", "timestamp", "type", "user")
_HISTORY_NAMES = {"user": "user_id", "project": "project_id", "user_id": "user_id", "project_id": "project_id"}
_TIME_OPS = ("lt", "le", "gt", "ge")

Filter = tuple[str, str, str]


def _set(items: object) -> str:
    """A set as Aodh prints it, in a stable order."""
    return "{" + ", ".join(repr(i) for i in sorted(items)) + "}"  # type: ignore[call-overload]


def _bad(field: str, value: object, reason: str) -> ApiError:
    return ApiError(400, str(invalid_input(field, value, reason)))


def _all_projects(values: list[str]) -> bool:
    """Whether any ``all_projects`` filter asks for every project."""
    wanted = False
    for value in values:
        try:
            wanted = boolean({"v": value}, "v", False) or wanted
        except InvalidAlarm:
            raise ApiError(400, f"Unable to convert the value {value} to the expected data type boolean.") from None
    return wanted


def list_filters(request: Request, caller: AodhCaller) -> tuple[list[Filter], str | None]:
    """``GET /v2/alarms``: the filters to apply and the project scope (None: every project)."""
    caller.enforce_own("get_alarms")
    query = simple_query(request)
    unknown = sorted({f for f, _, _, _ in query} - set(ALARM_FIELDS))
    if unknown:
        raise _bad("field", _set(unknown), f"only fields {_set(ALARM_FIELDS)} are allowed")
    bad_ops = sorted({o for _, o, _, _ in query} - set(SIMPLE_OPS))
    if bad_ops:
        raise _bad("op", _set(bad_ops), f"only operations {_set(SIMPLE_OPS)} are allowed")
    everywhere = _all_projects([v for f, _, v, _ in query if f == "all_projects"])
    projects = [v for f, _, v, _ in query if f == "project_id"]
    if everywhere:
        caller.enforce("get_alarms:all_projects", {} if caller.admin else {"project_id": caller.project_id})
        scope = None
    elif caller.admin:
        # As Aodh: an admin lists its own project unless it names one (or all).
        scope = None if projects or not caller.identity.scoped else caller.project_id
    else:
        scope = caller.project_scope
        for project in projects:
            if project != scope and caller.identity.scoped:
                raise not_authorized(project)
    filters = [(f, o, v) for f, o, v, _ in query if f != "all_projects"]
    return filters, scope


def history_filters(request: Request, caller: AodhCaller) -> list[Filter]:
    """``GET /v2/alarms/{id}/history``: Aodh's checks, then the filters in the indexer's field names."""
    filters = []
    for field, op, value, _ in simple_query(request):
        name = _HISTORY_NAMES.get(field, field)
        key = "user" if name == "user_id" else "project" if name == "project_id" else name
        if key not in HISTORY_FIELDS:
            raise ApiError(400, f'Unknown argument: "{key}": unrecognized field in query, valid keys: '
                                f"{list(HISTORY_FIELDS)}")
        if (op not in _TIME_OPS) if name == "timestamp" else (op != "eq"):
            raise _bad("op", op, f"unimplemented operator for {field}")
        if name == "project_id" and caller.project_scope is not None and value != caller.project_scope:
            raise not_authorized(value)
        filters.append((name, op, value))
    return filters
