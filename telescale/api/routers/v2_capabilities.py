"""`GET /v2/capabilities`: what Aodh's API and alarm storage support (all of it, here)."""

from __future__ import annotations

from fastapi import APIRouter, Depends
from fastapi.responses import Response

from telescale.api.aodh_access import AodhCaller, aodh_caller
from telescale.api.jsonio import json_response
from telescale.api.openapi import JSON_ONLY, doc

router = APIRouter(prefix="/v2", tags=["alarms (Aodh v2)"], **JSON_ONLY)

CAPABILITIES = {
    "api": {"alarms:history:query:complex": True, "alarms:history:query:simple": True,
            "alarms:query:complex": True, "alarms:query:simple": True},
    "alarm_storage": {"storage:production_ready": True},
}


@router.get("/capabilities", **doc(returns="AlarmCapabilities"))
async def capabilities(caller: AodhCaller = Depends(aodh_caller)) -> Response:  # async: no I/O
    return json_response(CAPABILITIES)
