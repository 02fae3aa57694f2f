"""`/v1/scaling_group`, its policies, the signal URLs and silences, through the API in process (no scaler
runs here: a decision queues an action, which shows as ``in_progress``)."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from tests.api.conftest import make_client

HOOK = {"type": "webhook", "url": "https://deploy.example.com/capacity"}


@pytest.fixture
def c(tmp_path: Path) -> Iterator[TestClient]:
    with make_client(tmp_path) as client:
        yield client
        client.app.state.services.close()


@pytest.fixture
def noauth(tmp_path: Path) -> Iterator[TestClient]:
    with make_client(tmp_path, overrides=("api.auth_mode=noauth",)) as client:
        yield client
        client.app.state.services.close()


def _group(c: TestClient, **fields: Any) -> dict[str, Any]:
    body = {"name": f"g-{uuid.uuid4().hex[:6]}", "min_size": 0, "max_size": 10, "cooldown": 0,
            "member_driver": HOOK, **fields}
    r = c.post("/v1/scaling_group", json=body)
    assert r.status_code == 201, r.text
    return r.json()


def _policy(c: TestClient, gid: str, **fields: Any) -> dict[str, Any]:
    body = {"name": f"p-{uuid.uuid4().hex[:6]}", "type": "step", "adjustment_type": "change_in_capacity",
            "scaling_adjustment": 1, **fields}
    r = c.post(f"/v1/scaling_group/{gid}/policy", json=body)
    assert r.status_code == 201, r.text
    return r.json()


def _path(url: str) -> str:
    """The path of an absolute URL the API answered (the test client has its own base)."""
    return "/" + url.split("://", 1)[1].split("/", 1)[1]


def _signal(c: TestClient, policy: dict[str, Any], body: Any = None) -> Any:
    """POST to the pre-signed URL with no credentials at all."""
    content = b"" if body is None else json.dumps(body).encode()
    return c.post(_path(policy["signal_url"]), content=content,
                  headers={"authorization": "", "content-type": "application/json"})


def test_create_show_list_patch_delete(c: TestClient) -> None:
    g = _group(c, min_size=2, max_size=5)
    assert g["desired_capacity"] == 2 and g["current_size"] == 0 and g["members"] == []
    assert g["in_progress"]["desired_capacity"] == 2  # the first members are queued
    assert g["member_driver"]["type"] == "webhook" and g["member_driver"]["url"] == HOOK["url"]
    assert c.get(f"/v1/scaling_group/{g['id']}").json()["name"] == g["name"]
    assert [x["id"] for x in c.get("/v1/scaling_group").json()] == [g["id"]]
    r = c.patch(f"/v1/scaling_group/{g['id']}", json={"max_size": 8, "dry_run": True})
    assert r.status_code == 200 and r.json()["max_size"] == 8 and r.json()["dry_run"] is True
    assert c.delete(f"/v1/scaling_group/{g['id']}").status_code == 204
    assert c.get(f"/v1/scaling_group/{g['id']}").status_code == 404
    assert c.get(f"/v1/scaling_group/{g['id']}/history").json()  # the log outlives the group


@pytest.mark.parametrize(("body", "message"), [
    ({"max_size": 3, "member_driver": HOOK}, "name: required"),
    ({"name": "x", "max_size": 3, "min_size": 4, "member_driver": HOOK}, "min_size 4 is larger than max_size 3"),
    ({"name": "x", "max_size": 3, "desired_capacity": 7, "member_driver": HOOK}, "desired_capacity 7 is outside"),
    ({"name": "x", "max_size": 3, "member_driver": {"type": "carrier-pigeon"}}, "member_driver"),
    ({"name": "x", "max_size": 3, "member_driver": HOOK, "colour": "red"}, "unknown field 'colour'"),
    ({"name": "x", "max_size": 3, "member_driver": HOOK, "cooldown": "soon"}, "cooldown: 'soon' is not a duration"),
    ({"name": "x", "max_size": 3, "member_driver": HOOK, "member_query": "server_group = 'a'"},
     "needs member_resource_type"),
    ({"name": "x", "max_size": 3, "member_driver": HOOK, "member_resource_type": "nope"},
     "resource type 'nope' does not exist"),
    ({"name": "x", "max_size": 3, "member_driver": {"type": "webhook", "url": "http://169.254.169.254/latest"}},
     "member_driver.url"),
])
def test_bad_groups_get_a_400_naming_the_field(c: TestClient, body: dict[str, Any], message: str) -> None:
    r = c.post("/v1/scaling_group", json=body)
    assert r.status_code == 400, r.text
    assert message in r.text


def test_a_duplicate_name_is_a_409(c: TestClient) -> None:
    g = _group(c)
    r = c.post("/v1/scaling_group", json={"name": g["name"], "max_size": 2, "member_driver": HOOK})
    assert r.status_code == 409 and "already exists" in r.text


def test_signal_url_steps_the_group_and_answers_the_decision(c: TestClient) -> None:
    g = _group(c, min_size=0, desired_capacity=0)
    p = _policy(c, g["id"], scaling_adjustment=2)
    assert p["signal_url"].startswith("http") and "/v1/signal/" in p["signal_url"]
    r = _signal(c, p)  # empty body
    assert r.status_code == 202, r.text
    decision = r.json()["decision"]
    assert decision["outcome"] == "scale_out" and decision["size_before"] == 0 and decision["size_after"] == 2
    assert r.json()["group"]["desired_capacity"] == 2
    # the action is still in flight: the next signal does nothing, and says why
    r = _signal(c, p, {"alarm_id": str(uuid.uuid4()), "alarm_name": "a", "current": "alarm", "previous": "ok",
                       "severity": "low", "reason": "x", "reason_data": {}})
    assert r.json()["decision"]["outcome"] == "none" and r.json()["decision"]["blocked_by"] == "in_flight"


def test_resolved_alertmanager_and_ok_alarms_never_scale(c: TestClient) -> None:
    g = _group(c)
    p = _policy(c, g["id"])
    resolved = {"version": "4", "groupKey": "{}:{}", "truncatedAlerts": 0, "status": "resolved", "receiver": "x",
                "groupLabels": {}, "commonLabels": {}, "commonAnnotations": {}, "externalURL": "http://am",
                "alerts": [{"status": "resolved", "labels": {"alertname": "HighLoad"}, "annotations": {},
                            "startsAt": "2026-12-01T00:00:00Z", "endsAt": "2026-12-01T00:05:00Z",
                            "generatorURL": "http://p", "fingerprint": "abc"}]}
    r = _signal(c, p, resolved)
    assert r.status_code == 202 and r.json()["decision"]["blocked_by"] == "resolved"
    ok = {"alarm_id": str(uuid.uuid4()), "alarm_name": "a", "current": "ok", "previous": "alarm",
          "severity": "low", "reason": "x", "reason_data": {}}
    assert _signal(c, p, ok).json()["decision"]["blocked_by"] == "resolved"
    firing = {**resolved, "status": "firing", "alerts": [{**resolved["alerts"][0], "status": "firing"}]}
    assert _signal(c, p, firing).json()["decision"]["outcome"] == "scale_out"
    assert c.get(f"/v1/scaling_group/{g['id']}").json()["desired_capacity"] == 1


def test_guessed_and_revoked_tokens_get_404_and_change_nothing(c: TestClient) -> None:
    g = _group(c)
    p = _policy(c, g["id"])
    guessed = {**p, "signal_url": p["signal_url"][:-6] + "AAAAAA"}
    assert _signal(c, guessed).status_code == 404
    rotated = c.post(f"/v1/scaling_group/{g['id']}/policy/{p['id']}/token").json()
    assert rotated["signal_url"] != p["signal_url"]
    assert _signal(c, p).status_code == 404  # the old URL is dead
    assert c.delete(f"/v1/scaling_group/{g['id']}/policy/{p['id']}/token").status_code == 204
    assert _signal(c, rotated).status_code == 404
    after = c.get(f"/v1/scaling_group/{g['id']}").json()
    assert after["desired_capacity"] == 0 and after["in_progress"] is None
    assert c.get(f"/v1/scaling_group/{g['id']}/history").json() == []
    # the authenticated URL still works
    r = c.post(_path(p["authenticated_signal_url"]))
    assert r.status_code == 202 and r.json()["decision"]["outcome"] == "scale_out"


def test_bad_signal_bodies_are_refused(c: TestClient) -> None:
    g = _group(c)
    p = _policy(c, g["id"])
    r = c.post(_path(p["signal_url"]), content=b"{not json", headers={"content-type": "application/json"})
    assert r.status_code == 400, r.text
    r = _signal(c, p, {"alarm_id": "x", "current": "on fire"})
    assert r.status_code == 400 and "current" in r.text


def test_pause_and_dry_run_are_logged_and_act_not(c: TestClient) -> None:
    g = _group(c)
    p = _policy(c, g["id"])
    assert c.post(f"/v1/scaling_group/{g['id']}/pause").json()["paused"] is True
    assert _signal(c, p).json()["decision"]["blocked_by"] == "paused"
    c.post(f"/v1/scaling_group/{g['id']}/resume")
    c.patch(f"/v1/scaling_group/{g['id']}", json={"dry_run": True})
    d = _signal(c, p).json()["decision"]
    assert d["outcome"] == "dry_run" and d["size_after"] == 1
    assert c.get(f"/v1/scaling_group/{g['id']}").json()["desired_capacity"] == 0
    history = c.get(f"/v1/scaling_group/{g['id']}/history").json()
    assert [h["outcome"] for h in history][:2] == ["dry_run", "none"]
    assert all(h["reason"] for h in history)


def test_policy_validation(c: TestClient) -> None:
    g = _group(c)
    for body, message in [
        ({"type": "step", "adjustment_type": "double"}, "adjustment_type"),
        ({"type": "step", "adjustment_type": "change_in_capacity", "scaling_adjustment": 1, "min_adjustment_step": 2},
         "min_adjustment_step"),
        ({"type": "target_tracking", "operations": "(aggregate mean (metric cpu mean))", "target": 50},
         "member_resource_type"),
        ({"type": "scheduled", "cron": "not cron", "duration": 60, "desired_capacity": 2}, "cron"),
        ({"type": "teleport"}, "type: one of step, target_tracking, scheduled"),
        ({"type": "step", "adjustment_type": "change_in_capacity", "scaling_adjustment": 1,
          "trigger": {"kind": "aggregates", "query": "(metric cpu mean)", "comparison_operator": "gt",
                      "threshold": 1}}, "member_resource_type"),
    ]:
        r = c.post(f"/v1/scaling_group/{g['id']}/policy", json=body)
        assert r.status_code == 400, (body, r.text)
        assert message in r.text, (body, r.text)


def test_other_projects_never_see_a_group(noauth: TestClient) -> None:
    alice = {"x-user-id": "alice", "x-project-id": "a", "x-roles": "member"}
    bob = {"x-user-id": "bob", "x-project-id": "b", "x-roles": "member"}
    r = noauth.post("/v1/scaling_group", headers=alice, json={"name": "web", "max_size": 3, "member_driver": HOOK})
    assert r.status_code == 201, r.text
    gid = r.json()["id"]
    p = noauth.post(f"/v1/scaling_group/{gid}/policy", headers=alice, json={
        "type": "step", "adjustment_type": "change_in_capacity", "scaling_adjustment": 1}).json()
    assert noauth.get("/v1/scaling_group", headers=bob).json() == []
    for method, path in [("get", f"/v1/scaling_group/{gid}"), ("patch", f"/v1/scaling_group/{gid}"),
                         ("delete", f"/v1/scaling_group/{gid}"), ("post", f"/v1/scaling_group/{gid}/pause"),
                         ("get", f"/v1/scaling_group/{gid}/history"), ("get", f"/v1/scaling_group/{gid}/policy"),
                         ("post", f"/v1/scaling_group/{gid}/policy/{p['id']}/signal"),
                         ("post", f"/v1/scaling_group/{gid}/policy/{p['id']}/token")]:
        kwargs = {"json": {"max_size": 9}} if method == "patch" else {}
        r = getattr(noauth, method)(path, headers=bob, **kwargs)
        assert r.status_code == 404, (method, path, r.status_code, r.text)
    assert noauth.get(f"/v1/scaling_group/{gid}", headers=alice).json()["max_size"] == 3
    # an alarm of project b cannot name project a's policy as an internal action
    r = noauth.post("/v2/alarms", headers=bob, json={
        "name": "x", "type": "event", "event_rule": {"event_type": "compute.*"},
        "alarm_actions": [f"telescale://scaling/{p['id']}"]})
    assert r.status_code == 400 and "no scaling policy" in r.text


def test_silences(c: TestClient) -> None:
    r = c.post("/v1/silence", json={"pattern": "^web-3$", "ttl": "2h", "comment": "kernel upgrade"})
    assert r.status_code == 201, r.text
    sid = r.json()["id"]
    assert [s["id"] for s in c.get("/v1/silence").json()] == [sid]
    assert c.post("/v1/silence", json={"pattern": "(", "ttl": 60}).status_code == 400
    assert c.post("/v1/silence", json={"pattern": "x"}).status_code == 400
    assert c.delete(f"/v1/silence/{sid}").status_code == 204
    assert c.get(f"/v1/silence/{sid}").status_code == 404
