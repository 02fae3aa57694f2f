"""`/v2/quotas`: Aodh's per-project alarm quotas (resource ``alarms``; -1 means unlimited).

Anyone reads its own project's quotas; only admins read another's, set or delete them. Unlike Aodh,
reading quotas never writes the default row.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response

from telescale.alarming.rule_types import (
    MAX_NAME,
    InvalidAlarm,
    as_object,
    check_known,
    choice,
    integer,
    missing,
    text,
)
from telescale.api.aodh_access import AodhCaller, aodh_caller
from telescale.api.jsonio import json_response
from telescale.api.openapi import JSON_ONLY, doc
from telescale.api.openapi_v2 import QUOTA_PROJECT
from telescale.api.routers.v2_common import aodh_error, clean, indexer, json_body

router = APIRouter(prefix="/v2/quotas", tags=["alarms (Aodh v2)"], **JSON_ONLY)
RESOURCES = ("alarms",)
UNLIMITED = -1
MAX_QUOTA = 2**31 - 1  # the indexer's column is a 32-bit integer


def _view(project_id: str, quotas: dict[str, int]) -> dict[str, Any]:
    limits = {resource: UNLIMITED for resource in RESOURCES} | quotas
    return {"project_id": project_id, "quotas": [{"resource": r, "limit": n} for r, n in sorted(limits.items())]}


def _quotas(body: Any) -> tuple[str, dict[str, int]]:
    try:
        body = as_object(body, "data")
        check_known(body, ("project_id", "quotas"), "data")
        project_id = text(body, "project_id", mandatory=True, max_length=MAX_NAME)
        raw = body.get("quotas") or []
        if not isinstance(raw, list):
            raise InvalidAlarm(f"Invalid input for field/attribute quotas. Value: '{raw}'. Value not a valid list")
        limits = {}
        for item in raw:
            item = as_object(item, "quotas")
            check_known(item, ("resource", "limit"), "data.quotas")
            limits[choice(item, "resource", RESOURCES)] = integer(item, "limit", UNLIMITED, MAX_QUOTA, mandatory=True)
    except InvalidAlarm as e:
        raise aodh_error(e) from None
    return project_id, limits  # type: ignore[return-value]


@router.get("", **doc(query=QUOTA_PROJECT, returns="AlarmQuotas"))
def get_quotas(request: Request, caller: AodhCaller = Depends(aodh_caller)) -> Response:
    project_id = clean(request.query_params.get("project_id") or caller.project_id or "", "project_id")
    if not project_id:
        raise aodh_error(missing("project_id"))
    caller.enforce("get_quotas", {"project_id": project_id})
    return json_response(_view(project_id, indexer(request).get_quotas(project_id)))


@router.post("", **doc(body="AlarmQuotas", status=201, returns="AlarmQuotas"))
def set_quotas(request: Request, body: Any = Depends(json_body), caller: AodhCaller = Depends(aodh_caller)
               ) -> Response:
    project_id, limits = _quotas(body)
    caller.enforce("update_quotas", {"project_id": project_id})
    return json_response(_view(project_id, indexer(request).set_quotas(project_id, limits)), status=201)


@router.delete("/{project_id}", **doc(status=204))
def delete_quotas(project_id: str, request: Request, caller: AodhCaller = Depends(aodh_caller)) -> Response:
    caller.enforce("delete_quotas", {"project_id": clean(project_id, "project_id")})
    indexer(request).delete_quotas(project_id)
    return Response(status_code=204)
