"""`POST /v2/events`: the events intake, where events fire ``event`` alarms (Aodh takes them from its bus).

The body is one event or a list, as Aodh's listener receives them from Ceilometer. Every event is checked
before any is matched (400 naming the field), then each fires the matching alarms of its project and
their transitions and notifications are committed before the 202 (``telescale.alarming.events``); the
notifications are delivered by the evaluator processes' dispatcher, which finds them within its poll
interval. An event's project is its ``project_id``/``tenant_id`` trait. A caller that is not an admin may
only post events of its own project (another project named: 403), and an event naming none is its own;
an admin (a service such as Ceilometer) posts for any project, and its events without a project trait fire
the alarms that have no project, as Aodh's listener does.
"""

from __future__ import annotations

import time
from typing import Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response

from telescale.alarming.events import InvalidEvent, fire, read_events
from telescale.alarming.rules.event import event_project, traits
from telescale.api.aodh_access import AodhCaller, aodh_caller
from telescale.api.errors import ApiError
from telescale.api.jsonio import json_response
from telescale.api.openapi import JSON_ONLY, doc
from telescale.api.routers.v2_common import indexer, json_body

router = APIRouter(prefix="/v2/events", tags=["events (Telescale)"], **JSON_ONLY)
PROJECT_TRAITS = ("project_id", "tenant_id")


def _project(event: dict[str, Any], scope: str | None, where: str) -> str:
    """The project whose alarms the event fires; 403 when a confined caller's event names another one."""
    if scope is None:
        return event_project(event)
    for name, value in traits(event).items():
        if name in PROJECT_TRAITS and (project := str(value)) != scope:
            raise ApiError(403, f"{where}traits.{name}: Not Authorized to access project {project}")
    return scope


@router.post("", **doc(body="Events", status=202, returns="EventsAccepted"))
def post_events(request: Request, body: Any = Depends(json_body),
                caller: AodhCaller = Depends(aodh_caller)) -> Response:
    """Match the events against the enabled event alarms of their project and commit what they fire."""
    caller.enforce_own("post_events")
    try:
        events = read_events(body)
    except InvalidEvent as e:
        raise ApiError(400, str(e)) from None
    scope = caller.project_scope
    many = isinstance(body, list)
    projects = [_project(event, scope, f"events[{i}]." if many else "") for i, event in enumerate(events)]
    store = indexer(request)
    outcomes = [fire(store, event, project, time.time_ns()) for event, project in zip(events, projects, strict=True)]
    return json_response({"events": [
        {"message_id": o.message_id, "project_id": o.project_id or None, "fired": [str(a) for a in o.fired]}
        for o in outcomes]}, status=202)
