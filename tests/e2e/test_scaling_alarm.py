"""An Aodh alarm scales a group: created through ``/v2/alarms`` with a policy's ``signal_url`` as its
``alarm_actions``, a breaching measure fires it, the evaluator posts Aodh's notification to the signal URL,
the policy steps the group and the ``webhook`` driver's receiver sees the new desired capacity. The same
through the in-process action ``telescale://scaling/<policy id>``."""

from __future__ import annotations

import time
import uuid
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests import server
from tests.notifier_peers import Receiver

AUTH = ("admin", "")
SETTINGS = (server.SCALER, 'alarming.webhook_allowed_networks=["127.0.0.0/8"]', "alarming.notifier_backoff=0.2",
            "alarming.notifier_timeout=2", "api.workers=1")


def _group_and_policy(c: httpx.Client, hook: str) -> tuple[dict[str, Any], dict[str, Any]]:
    r = c.post("/v1/scaling_group", json={"name": f"g-{uuid.uuid4().hex[:6]}", "min_size": 1, "max_size": 6,
                                          "cooldown": 0, "member_driver": {"type": "webhook", "url": hook}})
    assert r.status_code == 201, r.text
    group = r.json()
    r = c.post(f"/v1/scaling_group/{group['id']}/policy", json={
        "name": "out", "type": "step", "adjustment_type": "change_in_capacity", "scaling_adjustment": 2})
    assert r.status_code == 201, r.text
    return group, r.json()


def _alarm_on_breach(c: httpx.Client, action: str) -> str:
    policy = f"p-{uuid.uuid4().hex[:6]}"
    rid = str(uuid.uuid4())
    assert c.post("/v1/archive_policy", json={"name": policy, "aggregation_methods": ["mean"], "definition": [
        {"granularity": "1 second", "timespan": "1 hour"}]}).status_code == 201
    assert c.post("/v1/resource/generic", json={"id": rid, "metrics": {"load": {"archive_policy_name": policy}}}
                  ).status_code == 201
    r = c.post("/v2/alarms", json={
        "name": "load-high", "type": "gnocchi_resources_threshold",
        "gnocchi_resources_threshold_rule": {
            "metric": "load", "resource_id": rid, "resource_type": "generic", "aggregation_method": "mean",
            "granularity": 1, "evaluation_periods": 1, "threshold": 50, "comparison_operator": "gt"},
        "alarm_actions": [action], "evaluation_interval": 1})
    assert r.status_code == 201, r.text
    r = c.post(f"/v1/resource/generic/{rid}/metric/load/measures", json=[{"timestamp": time.time(), "value": 90}])
    assert r.status_code == 202, r.text
    return rid


@pytest.mark.parametrize("through", ["signal_url", "internal"])
@pytest.mark.timeout(120)
def test_an_alarm_scales_the_group_and_the_receiver_sees_the_new_capacity(tmp_path: Path, through: str) -> None:
    with Receiver() as receiver, server.running(tmp_path / "data", SETTINGS) as srv, \
            httpx.Client(base_url=srv.url, auth=AUTH, timeout=30) as c:
        group, policy = _group_and_policy(c, receiver.url + "/capacity")
        first = receiver.wait_for(1, timeout=30)[0].json()  # the group's first member: 0 → 1
        assert first["desired_capacity"] == 1 and first["previous_capacity"] == 0
        action = policy["signal_url"] if through == "signal_url" else f"telescale://scaling/{policy['id']}"
        _alarm_on_breach(c, action)
        body = receiver.wait_for(2, timeout=60)[1].json()
        assert body["group_id"] == group["id"] and body["group_name"] == group["name"]
        assert body["desired_capacity"] == 3 and body["previous_capacity"] == 1
        assert body["reason"]
        deadline = time.monotonic() + 10
        while c.get(f"/v1/scaling_group/{group['id']}").json()["current_size"] != 3:
            assert time.monotonic() < deadline, "the acknowledged size becomes the current size"
            time.sleep(0.2)
        history = c.get(f"/v1/scaling_group/{group['id']}/history").json()
        step = next(d for d in history if d["outcome"] == "scale_out" and d["policy_id"] == policy["id"])
        assert step["source"] == ("signal" if through == "signal_url" else "alarm")
        assert step["inputs"]["signal"] == "aodh" and step["size_before"] == 1 and step["size_after"] == 3
