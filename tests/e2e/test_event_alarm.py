"""The event loop with real processes: an event posted to ``POST /v2/events`` fires an event alarm, and the
evaluator processes' dispatcher delivers Aodh's payload to a local receiver (the API process has none)."""

from __future__ import annotations

import re
from pathlib import Path

import httpx

from tests import server
from tests.e2e.test_alarm_loop import AODH_KEYS, SETTINGS
from tests.notifier_peers import Receiver

MEMBER = {"x-user-id": "u-ops", "x-project-id": "p-ops", "x-roles": "member"}
SERVICE = {"x-user-id": "ceilometer", "x-project-id": "p-service", "x-roles": "admin"}


def test_a_posted_event_reaches_the_receiver_with_aodh_payload(tmp_path: Path) -> None:
    event = {"message_id": "0f4e8c3a-1d2b-4c5e-8f70-9a1b2c3d4e5f", "event_type": "compute.instance.power_off.end",
             "generated": "2026-11-23T12:00:00.000000",
             "traits": [["instance_id", 1, "vm-1"], ["state", 1, "stopped"], ["project_id", 1, "p-ops"]]}
    with Receiver() as receiver, server.running(tmp_path / "data", (*SETTINGS, "api.auth_mode=noauth")) as srv, \
            httpx.Client(base_url=srv.url, timeout=30) as c:
        r = c.post("/v2/alarms", headers=MEMBER, json={
            "name": "vm-off", "type": "event", "severity": "moderate", "alarm_actions": [receiver.url + "/hook"],
            "event_rule": {"event_type": "compute.instance.power_off.*",
                           "query": [{"field": "traits.instance_id", "op": "eq", "value": "vm-1"}]}})
        assert r.status_code == 201, r.text
        alarm_id = r.json()["alarm_id"]
        # Ceilometer (an admin service) posts the event of the project.
        r = c.post("/v2/events", headers=SERVICE, json=[event])
        assert r.status_code == 202, r.text
        assert r.json() == {"events": [{"message_id": event["message_id"], "project_id": "p-ops", "fired": [alarm_id]}]}
        [request] = receiver.wait_for(1, timeout=30)
        assert request.path == "/hook" and request.header("content-type") == "application/json"
        assert re.fullmatch(r"req-[0-9a-f-]{36}", request.header("x-openstack-request-id") or "")
        body = request.json()
        assert set(body) == AODH_KEYS
        assert (body["alarm_id"], body["alarm_name"], body["severity"]) == (alarm_id, "vm-off", "moderate")
        assert (body["previous"], body["current"]) == ("insufficient data", "alarm")
        assert body["reason"].startswith(f"Event <id={event['message_id']},event_type=compute.instance.power_off.end>")
        assert body["reason_data"] == {"type": "event", "event": event}
        assert c.get(f"/v2/alarms/{alarm_id}/state", headers=MEMBER).json() == "alarm"
