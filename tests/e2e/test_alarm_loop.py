"""The loop with real processes: measures cross a threshold → the alarm fires → a local receiver gets Aodh's
payload; retries until the receiver answers; a SIGKILL right after the transition still delivers."""

from __future__ import annotations

import json
import re
import signal
import time
import uuid
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests import server
from tests.notifier_peers import Receiver

AUTH = ("admin", "")
SETTINGS = ('alarming.webhook_allowed_networks=["127.0.0.0/8"]', "alarming.notifier_backoff=0.2",
            "alarming.notifier_timeout=1", "api.workers=1")
AODH_KEYS = {"alarm_name", "alarm_id", "severity", "previous", "current", "reason", "reason_data"}


def _setup(url: str, hook: str) -> tuple[str, str]:
    """A 1 s policy, a resource with a metric ``load``, and an alarm on ``mean > 50`` calling ``hook``."""
    policy = f"p-{uuid.uuid4().hex[:6]}"
    rid = str(uuid.uuid4())
    with httpx.Client(base_url=url, auth=AUTH, timeout=30) as c:
        assert c.post("/v1/archive_policy", json={
            "name": policy, "aggregation_methods": ["mean"],
            "definition": [{"granularity": "1 second", "timespan": "1 hour"}]}).status_code == 201
        assert c.post("/v1/resource/generic", json={
            "id": rid, "metrics": {"load": {"archive_policy_name": policy}}}).status_code == 201
        r = c.post("/v2/alarms", json={
            "name": "load-high", "type": "gnocchi_resources_threshold", "severity": "critical",
            "gnocchi_resources_threshold_rule": {
                "metric": "load", "resource_id": rid, "resource_type": "generic", "aggregation_method": "mean",
                "granularity": 1, "evaluation_periods": 1, "threshold": 50, "comparison_operator": "gt"},
            "alarm_actions": [hook], "evaluation_interval": 1})
        assert r.status_code == 201, r.text
        return rid, r.json()["alarm_id"]


def _breach(url: str, rid: str) -> None:
    with httpx.Client(base_url=url, auth=AUTH, timeout=30) as c:
        r = c.post(f"/v1/resource/generic/{rid}/metric/load/measures",
                   json=[{"timestamp": time.time(), "value": 90.0}])
        assert r.status_code == 202, r.text


def _history(url: str, alarm_id: str) -> list[dict[str, Any]]:
    with httpx.Client(base_url=url, auth=AUTH, timeout=30) as c:
        r = c.get(f"/v2/alarms/{alarm_id}/history")
        assert r.status_code == 200, r.text
        return r.json()


def test_breach_notifies_the_receiver_with_aodh_payload_after_two_failures(tmp_path: Path) -> None:
    with Receiver((503, 503)) as receiver, server.running(tmp_path / "data", SETTINGS) as srv:
        rid, alarm_id = _setup(srv.url, receiver.url + "/hook")
        _breach(srv.url, rid)
        requests = receiver.wait_for(3, timeout=30)
        time.sleep(1.5)  # nothing more comes: the third attempt succeeded
        assert len(receiver.requests) == 3 and receiver.answered == [503, 503, 200]
        for request in requests:
            assert request.path == "/hook"
            assert request.header("content-type") == "application/json"
            assert re.fullmatch(r"req-[0-9a-f-]{36}", request.header("x-openstack-request-id") or "")
            body = request.json()
            assert set(body) == AODH_KEYS
            assert body["alarm_id"] == alarm_id and body["current"] == "alarm" and body["severity"] == "critical"
            assert body["previous"] == "insufficient data"
        assert requests[0].body == requests[2].body  # the same notification, retried
        deadline = time.monotonic() + 10
        while True:  # each attempt is in the alarm's history (written after the receiver answered)
            attempts = [h for h in _history(srv.url, alarm_id) if h["type"] == "action"]
            if len(attempts) == 3 or time.monotonic() > deadline:
                break
            time.sleep(0.2)
        assert [json.loads(a["detail"]).get("status") for a in sorted(attempts, key=lambda a: a["timestamp"])] \
            == [503, 503, 200]


@pytest.mark.timeout(180)
def test_sigkill_right_after_the_transition_still_delivers(tmp_path: Path) -> None:
    data = tmp_path / "data"
    with Receiver(hold=True) as receiver:
        srv = server.start(data, SETTINGS)
        try:
            rid, alarm_id = _setup(srv.url, receiver.url + "/hook")
            _breach(srv.url, rid)
            receiver.wait_for(1, timeout=30)  # committed and being delivered: the receiver holds the request
            srv.kill(signal.SIGKILL)  # the whole process group, mid-delivery
        finally:
            srv.kill(signal.SIGKILL)
        receiver.release()  # the first request is answered, but nobody is there to read the answer
        with server.running(data, SETTINGS, port=srv.port):
            # Delivered again once the dead process's claim expires (lease: 2 × timeout + 10 s).
            receiver.wait_for(2, timeout=60)
            assert receiver.requests[1].body == receiver.requests[0].body  # the committed notification itself
            assert receiver.requests[1].json()["alarm_id"] == alarm_id
            assert receiver.requests[1].json()["current"] == "alarm"
