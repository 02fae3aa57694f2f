"""A crash mid-action never leaves a group stuck (Heat's ``scaling_in_progress``, LP 1651084).

A signal scales a ``webhook`` group out; its receiver holds the actuator's request; the whole server is SIGKILLed
while the action is in flight and restarted on the same data directory. The action, still recorded on the
group, is taken over once its lease lapses (``scaling.action_lease=5`` here, 30 s by default), the receiver is
asked again for the same capacity (a desired capacity, not a delta, so asking twice changes nothing), the group
ends at the new size with nothing in progress, and the decision log shows the completion once.
"""

from __future__ import annotations

import datetime
import json
import threading
import time
import uuid
from pathlib import Path

import httpx
import pytest

from tests import server
from tests.notifier_peers import Received, Receiver
from tests.scaling_client import group_of, wait

AUTH = ("admin", "")
LEASE = 5
SETTINGS = (server.SCALER, 'alarming.webhook_allowed_networks=["127.0.0.0/8"]', "api.workers=1",
            f"scaling.action_lease={LEASE}")


class HoldFirst:
    """Answers 200 at once, except the first request asking for ``capacity``: held until ``release``."""

    def __init__(self, capacity: int) -> None:
        self.capacity = capacity
        self.gate = threading.Event()
        self.held = False
        self.lock = threading.Lock()

    def __call__(self, request: Received) -> tuple[int, dict[str, str], bytes]:
        with self.lock:
            hold = not self.held and json.loads(request.body)["desired_capacity"] == self.capacity
            self.held = self.held or hold
        if hold:
            self.gate.wait(120)
        return 200, {}, b""


@pytest.mark.timeout(240)
def test_an_action_in_flight_when_the_server_dies_is_taken_over_and_completes_once(tmp_path: Path) -> None:
    hold = HoldFirst(capacity=3)
    data = tmp_path / "data"
    with Receiver(respond=hold) as receiver:
        srv = server.start(data, SETTINGS)
        try:
            with httpx.Client(base_url=srv.url, auth=AUTH, timeout=30) as c:
                r = c.post("/v1/scaling_group", json={
                    "name": f"crash-{uuid.uuid4().hex[:6]}", "min_size": 1, "max_size": 6, "cooldown": 0,
                    "member_driver": {"type": "webhook", "url": receiver.url + "/capacity", "timeout": 120}})
                assert r.status_code == 201, r.text
                gid = r.json()["id"]
                r = c.post(f"/v1/scaling_group/{gid}/policy", json={
                    "name": "out", "type": "step", "adjustment_type": "change_in_capacity", "scaling_adjustment": 2})
                assert r.status_code == 201, r.text
                signal_url = r.json()["signal_url"]
                wait(c, gid, lambda g: g["current_size"] == 1 and g["in_progress"] is None, 30, "the first member")
                r = httpx.post(signal_url, timeout=30)  # an empty POST, as a bare webhook sends
                assert r.status_code == 202, r.text
                decision = r.json()["decision"]
                assert decision["outcome"] == "scale_out" and decision["size_after"] == 3, decision
                held = json.loads(receiver.wait_for(2, timeout=30)[1].body)
                assert held["desired_capacity"] == 3 and held["previous_capacity"] == 1
                flying = group_of(c, gid)
                assert flying["in_progress"] is not None and flying["current_size"] == 1
        finally:
            srv.kill()  # SIGKILL to API, metricd, evaluator and scaler while the receiver holds the request
        killed_at = datetime.datetime.now(datetime.UTC)
        srv = server.start(data, SETTINGS)
        try:
            with httpx.Client(base_url=srv.url, auth=AUTH, timeout=30) as c:
                still = group_of(c, gid)
                assert still["desired_capacity"] == 3  # the decision survived the crash, and so did its action
                done = wait(c, gid, lambda g: g["in_progress"] is None, LEASE + 45, "the action taken over")
                assert done["current_size"] == 3 and done["desired_capacity"] == 3
                again = [json.loads(q.body) for q in receiver.requests[2:]]
                assert again and all(b["desired_capacity"] == 3 for b in again), again
                time.sleep(LEASE + 1)  # long enough for a second, wrong completion to show up
                history = c.get(f"/v1/scaling_group/{gid}/history", params={"limit": 1000}).json()
                ends = [d for d in history if d["source"] == "actuator"
                        and d["inputs"].get("decision_id") == decision["id"]]
                assert [d["outcome"] for d in ends] == ["completed"], history
                assert datetime.datetime.fromisoformat(ends[0]["timestamp"]) > killed_at
                assert (ends[0]["size_before"], ends[0]["size_after"], ends[0]["current_size"]) == (1, 3, 3)
                assert not [d for d in history if d["outcome"] == "failed"]
                assert group_of(c, gid)["in_progress"] is None
                c.delete(f"/v1/scaling_group/{gid}")
        finally:
            hold.gate.set()
            srv.kill()
