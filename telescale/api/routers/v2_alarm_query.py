"""`POST /v2/query/alarms` and `/v2/query/alarms/history`: Aodh's complex queries.

The body is ``{"filter", "orderby", "limit"}`` with ``filter`` and ``orderby`` JSON documents *as
strings*. A caller that is not an admin is confined to its project (alarms by ``project_id``, history
by ``on_behalf_of``) in the indexer, and — as in Aodh — a filter naming another project is refused.
Unlike Aodh, alarms found this way never show a trust id either.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response

from telescale import indexer as idx
from telescale.alarming.rule_types import InvalidAlarm, check_known
from telescale.api.aodh_access import AodhCaller, aodh_caller
from telescale.api.errors import ApiError
from telescale.api.jsonio import json_response
from telescale.api.openapi import JSON_ONLY, doc
from telescale.api.routers.v2_common import (
    MAX_LIMIT,
    alarm_view,
    aodh_error,
    change_view,
    indexer,
    json_body,
    not_authorized,
)

router = APIRouter(prefix="/v2/query/alarms", tags=["alarms (Aodh v2)"], **JSON_ONLY)
_ALIASES = {"project": "project_id", "user": "user_id"}


def _json(body: dict[str, Any], key: str, what: str) -> Any:
    value = body.get(key)
    if value is None:
        return None
    if not isinstance(value, str):
        raise ApiError(400, f"{what} expression not valid: {key} must be a JSON document in a string")
    try:
        parsed = json.loads(value)
    except ValueError as e:
        raise ApiError(400, f"{what} expression not valid: {e}") from None
    if _has_nul(parsed):
        raise ApiError(400, f"{what} expression not valid: NUL characters are not allowed")
    return parsed


def _has_nul(node: Any) -> bool:
    """Whether a parsed JSON document holds a NUL character anywhere (no database can compare one)."""
    if isinstance(node, str):
        return "\x00" in node
    if isinstance(node, dict):
        return any(_has_nul(k) or _has_nul(v) for k, v in node.items())
    return isinstance(node, list) and any(_has_nul(item) for item in node)


def _check_visibility(node: Any, field: str, project: str) -> None:
    """Aodh's 401 for a filter that names another project in the visibility field."""
    if not isinstance(node, dict) or len(node) != 1:
        return  # malformed: the indexer says what is wrong
    (op, operand), = node.items()
    if str(op).lower() in ("and", "or"):
        for member in operand if isinstance(operand, list) else ():
            _check_visibility(member, field, project)
    elif str(op).lower() == "not":
        _check_visibility(operand, field, project)
    elif isinstance(operand, dict):
        for name, value in operand.items():
            values = value if isinstance(value, list) else [value]
            if _ALIASES.get(name, name) == field and any(v != project for v in values):
                raise not_authorized(value)


def _complex_query(body: Any, caller: AodhCaller, field: str) -> tuple[Any, Any, int | None]:
    if not isinstance(body, dict):
        raise ApiError(400, "Invalid input for field/attribute body. Value should be an object")
    try:
        check_known(body, ("filter", "orderby", "limit"), "body")
    except InvalidAlarm as e:
        raise aodh_error(e) from None
    filter_ = _json(body, "filter", "Filter")
    orderby = _json(body, "orderby", "Order-by")
    limit = body.get("limit")
    if limit is not None and (isinstance(limit, bool) or not isinstance(limit, int) or limit <= 0):
        raise ApiError(400, "Limit should be positive")
    limit = None if limit is None else min(limit, MAX_LIMIT)
    if orderby is not None and not isinstance(orderby, list):
        raise ApiError(400, f"Order-by expression not valid: {orderby!r} is not a list")
    if caller.project_scope is not None and filter_ is not None:
        _check_visibility(filter_, field, caller.project_scope)
    return filter_, orderby, limit


def _run(call: Callable[[], list[Any]]) -> list[Any]:
    try:
        return call()
    except idx.InvalidPagination as e:
        raise ApiError(400, f"Order-by expression not valid: {e}") from None
    except idx.InvalidAlarmQuery as e:
        what = "Order-by" if getattr(e, "field", None) == "orderby" else "Filter"
        raise ApiError(400, f"{what} expression not valid: {e}") from None


@router.post("", **doc(body="ComplexQuery", returns="AlarmList", errors=(401,)))
def query_alarms(request: Request, body: Any = Depends(json_body),
                 caller: AodhCaller = Depends(aodh_caller)) -> Response:
    caller.enforce_own("query_alarm")
    filter_, orderby, limit = _complex_query(body, caller, "project_id")
    alarms = _run(lambda: indexer(request).query_alarms(filter_, orderby, limit, project=caller.project_scope))
    return json_response([alarm_view(a) for a in alarms])


@router.post("/history", **doc(body="ComplexQuery", returns="AlarmChanges", errors=(401,)))
def query_history(request: Request, body: Any = Depends(json_body),
                  caller: AodhCaller = Depends(aodh_caller)) -> Response:
    caller.enforce_own("query_alarm_history")
    filter_, orderby, limit = _complex_query(body, caller, "on_behalf_of")
    changes = _run(lambda: indexer(request).query_alarm_history(filter_, orderby, limit,
                                                                project=caller.project_scope))
    return json_response([change_view(c) for c in changes])
