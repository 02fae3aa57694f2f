"""`POST /v2/events`: events fire the matching event alarms of their project, committed with their notifications.

An event is Ceilometer's event as Aodh's listener receives it. What a fired alarm shows is Aodh's: state
``alarm``, a ``state transition`` whose reason is "Event <id=…,event_type=…> hits the query <query=…>.", and
one outbox row per alarm action carrying Aodh's notification body (``reason_data`` = ``{"type": "event",
"event": <the event>}``). Runs on SQLite and PostgreSQL in ``noauth`` mode, plus ``basic`` mode where alarms
have no project.
"""

from __future__ import annotations

import datetime
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from telescale.alarming import events
from telescale.timeutil import now_ns
from tests.api.conftest import make_client

ALICE = {"x-user-id": "u-alice", "x-project-id": "p-a", "x-roles": "member"}
BOB = {"x-user-id": "u-bob", "x-project-id": "p-b", "x-roles": "member"}
READER = {"x-user-id": "u-carol", "x-project-id": "p-a", "x-roles": "reader"}
ADMIN = {"x-user-id": "u-admin", "x-project-id": "p-admin", "x-roles": "admin"}
HOOK = "http://10.0.0.1/hook"
QUERY = [{"field": "traits.state", "op": "eq", "value": "stopped", "type": "string"}]


def event(message_id: str = "m1", event_type: str = "compute.instance.power_off.end", state: str = "stopped",
          project: str | None = None, **extra: Any) -> dict[str, Any]:
    traits = [["instance_id", 1, "vm-1"], ["state", 1, state]]
    if project is not None:
        traits.append(["project_id", 1, project])
    return {"message_id": message_id, "event_type": event_type, "generated": "2026-11-23T12:00:00.000000",
            "traits": traits, **extra}


class Api:
    def __init__(self, client: TestClient) -> None:
        self.client = client
        self.indexer = client.app.state.services.indexer

    def call(self, method: str, path: str, body: Any = None, headers: dict[str, str] | None = None) -> Any:
        content = None if body is None else json.dumps(body)
        extra = {} if body is None else {"content-type": "application/json"}
        return self.client.request(method, path, content=content, headers={**extra, **(headers or ALICE)})

    def ok(self, method: str, path: str, body: Any = None, headers: dict[str, str] | None = None) -> Any:
        r = self.call(method, path, body, headers)
        assert r.status_code < 300, (method, path, r.status_code, r.text)
        return r.json() if r.content else None

    def alarm(self, headers: dict[str, str] | None = None, name: str = "power-off", **fields: Any) -> str:
        body = {"name": name, "type": "event", "alarm_actions": [HOOK],
                "event_rule": {"event_type": "compute.instance.power_off.*", "query": QUERY}, **fields}
        return self.ok("POST", "/v2/alarms", body, headers)["alarm_id"]

    def post(self, body: Any, headers: dict[str, str] | None = None) -> list[dict[str, Any]]:
        r = self.call("POST", "/v2/events", body, headers)
        assert r.status_code == 202, r.text
        return r.json()["events"]

    def fault(self, body: Any, headers: dict[str, str] | None = None, raw: bytes | None = None) -> tuple[int, str]:
        if raw is not None:
            r = self.client.post("/v2/events", content=raw, headers={"content-type": "application/json", **ALICE})
        else:
            r = self.call("POST", "/v2/events", body, headers)
        return r.status_code, r.json()["error_message"]["faultstring"]

    def state(self, alarm_id: str) -> str:
        return self.ok("GET", f"/v2/alarms/{alarm_id}/state", headers=ADMIN)

    def transitions(self, alarm_id: str) -> list[dict[str, Any]]:
        history = self.ok("GET", f"/v2/alarms/{alarm_id}/history", headers=ADMIN)
        return [json.loads(h["detail"]) for h in history if h["type"] == "state transition"]

    def outbox(self) -> list[Any]:
        return self.indexer.claim_notifications(100, 60)


def _api(tmp_path: Path, url: str = "", mode: str = "noauth") -> Iterator[Api]:
    with make_client(tmp_path, url, (f"api.auth_mode={mode}",)) as client:
        yield Api(client)
        client.app.state.services.close()


@pytest.fixture
def api(tmp_path: Path, indexer_url: str) -> Iterator[Api]:
    yield from _api(tmp_path, indexer_url)


@pytest.fixture
def lite(tmp_path: Path) -> Iterator[Api]:
    """SQLite only, for what does not depend on the database."""
    yield from _api(tmp_path)


# --- firing -------------------------------------------------------------------------------------------------

def test_a_matching_event_fires_the_alarm_once_with_aodh_payload(api: Api) -> None:
    alarm_id = api.alarm(severity="critical")
    posted = event()
    assert api.post(posted) == [{"message_id": "m1", "project_id": "p-a", "fired": [alarm_id]}]
    assert api.state(alarm_id) == "alarm"
    reason = ('Event <id=m1,event_type=compute.instance.power_off.end> hits the query <query=[{"field": '
              '"traits.state", "op": "eq", "type": "string", "value": "stopped"}]>.')
    assert api.transitions(alarm_id) == [{"state": "alarm", "transition_reason": reason,
                                          "reason_data": {"type": "event", "event": posted}}]
    assert api.ok("GET", f"/v2/alarms/{alarm_id}")["state_reason"] == reason
    [note] = api.outbox()
    assert note.action == HOOK and str(note.alarm_id) == alarm_id
    assert note.payload == {"alarm_name": "power-off", "alarm_id": alarm_id, "severity": "critical",
                            "previous": "insufficient data", "current": "alarm", "reason": reason,
                            "reason_data": {"type": "event", "event": posted}}
    # Already in alarm without repeat_actions: the next matching event is skipped, as in Aodh.
    assert api.post(event("m2")) == [{"message_id": "m2", "project_id": "p-a", "fired": []}]
    assert len(api.transitions(alarm_id)) == 1 and api.outbox() == []


def test_repeat_actions_records_and_notifies_every_matching_event(api: Api) -> None:
    alarm_id = api.alarm(repeat_actions=True)
    assert api.post([event("m1"), event("m2")]) == [
        {"message_id": "m1", "project_id": "p-a", "fired": [alarm_id]},
        {"message_id": "m2", "project_id": "p-a", "fired": [alarm_id]}]
    notes = api.outbox()
    assert [(n.payload["previous"], n.payload["current"]) for n in notes] == [
        ("insufficient data", "alarm"), ("alarm", "alarm")]
    assert [n.payload["reason_data"]["event"]["message_id"] for n in notes] == ["m1", "m2"]
    assert [t["reason_data"]["event"]["message_id"] for t in api.transitions(alarm_id)] == ["m2", "m1"]


@pytest.mark.parametrize("posted", [
    event(event_type="compute.instance.power_on.end"),  # another event type
    event(state="active"),  # the query does not hold
    {"message_id": "m1", "event_type": "compute.instance.power_off.end"},  # no trait for the query
])
def test_events_that_do_not_match_change_nothing(lite: Api, posted: dict[str, Any]) -> None:
    alarm_id = lite.alarm()
    assert lite.post(posted)[0]["fired"] == []
    assert lite.state(alarm_id) == "insufficient data"
    assert lite.transitions(alarm_id) == [] and lite.outbox() == []


def test_event_type_pattern_and_typed_queries(lite: Api) -> None:
    rule = {"event_type": "volume.*.end", "query": [
        {"field": "traits.size", "op": "ge", "value": "100", "type": "integer"},
        {"field": "traits.load", "op": "lt", "value": "0.5", "type": "float"}]}
    alarm_id = lite.alarm(name="big", event_rule=rule)
    small = {"message_id": "s", "event_type": "volume.create.end",
             "traits": [{"name": "size", "dtype": "integer", "value": 10},
                        {"name": "load", "dtype": "float", "value": 0.25}]}
    big = {**small, "message_id": "b", "traits": [["size", 2, 500], ["load", 3, "0.25"]]}
    assert [e["fired"] for e in lite.post([small, big])] == [[], [alarm_id]]


def test_disabled_alarms_are_ignored(lite: Api) -> None:
    alarm_id = lite.alarm(enabled=False)
    assert lite.post(event())[0]["fired"] == []
    assert lite.state(alarm_id) == "insufficient data" and lite.outbox() == []


def test_alarms_outside_their_time_constraints_are_not_fired(lite: Api) -> None:
    now = datetime.datetime.now(datetime.UTC)
    later = now + datetime.timedelta(minutes=30)  # a daily 60 s window starting 30 minutes from now
    closed = {"name": "later", "start": f"{later.minute} {later.hour} * * *", "duration": 60}
    earlier = now - datetime.timedelta(minutes=1)  # a daily hour starting a minute ago
    open_ = {"name": "now", "start": f"{earlier.minute} {earlier.hour} * * *", "duration": 3600}
    outside = lite.alarm(name="outside", time_constraints=[closed])
    inside = lite.alarm(name="inside", time_constraints=[open_])
    assert lite.post(event())[0]["fired"] == [inside]
    assert lite.state(outside) == "insufficient data"


def test_an_alarm_changed_meanwhile_is_judged_again(api: Api) -> None:
    """A record read before another writer changed the alarm loses the conditional write and is read again."""
    alarm_id = api.alarm()
    [stale] = api.indexer.event_alarms("p-a")
    api.ok("PUT", f"/v2/alarms/{alarm_id}/state", "ok")
    assert events.fire_alarm(api.indexer, stale, event(), now_ns())
    [note] = api.outbox()
    assert (note.payload["previous"], note.payload["current"]) == ("ok", "alarm")
    # In alarm meanwhile (no repeat_actions): the re-read alarm is skipped, nothing is written.
    [stale] = api.indexer.event_alarms("p-a")
    api.ok("PUT", f"/v2/alarms/{alarm_id}/state", "ok")
    api.ok("PUT", f"/v2/alarms/{alarm_id}/state", "alarm")
    assert not events.fire_alarm(api.indexer, stale, event(), now_ns())
    assert api.outbox() == []


# --- projects --------------------------------------------------------------------------------------------

def test_a_member_fires_only_its_own_projects_alarms(api: Api) -> None:
    alices = api.alarm(ALICE, name="alice")
    bobs = api.alarm(BOB, name="bob")
    # Bob names Alice's project: refused, whether as project_id or tenant_id, alone or in a batch.
    status, message = api.fault(event(project="p-a"), BOB)
    assert (status, message) == (403, "traits.project_id: Not Authorized to access project p-a")
    tenant = {**event(), "traits": [["tenant_id", 1, "p-a"], ["state", 1, "stopped"]]}
    assert api.fault([event(project="p-b"), tenant], BOB) == (
        403, "events[1].traits.tenant_id: Not Authorized to access project p-a")
    assert api.state(alices) == api.state(bobs) == "insufficient data" and api.outbox() == []
    # Without a project trait an event is the caller's: only Bob's alarm fires.
    assert api.post(event(), BOB) == [{"message_id": "m1", "project_id": "p-b", "fired": [bobs]}]
    assert api.post(event("m2", project="p-b"), BOB)[0]["project_id"] == "p-b"
    assert (api.state(alices), api.state(bobs)) == ("insufficient data", "alarm")
    assert [str(n.alarm_id) for n in api.outbox()] == [bobs]
    assert api.transitions(alices) == []


def test_an_admin_posts_events_of_any_project(api: Api) -> None:
    alices = api.alarm(ALICE, name="alice")
    bobs = api.alarm(BOB, name="bob")
    # Aodh: an event without a project trait fires only the alarms without a project.
    assert api.post(event("m0"), ADMIN) == [{"message_id": "m0", "project_id": None, "fired": []}]
    assert api.post([event("m1", project="p-a"), {**event("m2"), "traits": [["tenant_id", 1, "p-b"],
                                                                             ["state", 1, "stopped"]]}], ADMIN) == [
        {"message_id": "m1", "project_id": "p-a", "fired": [alices]},
        {"message_id": "m2", "project_id": "p-b", "fired": [bobs]}]
    assert sorted(str(n.alarm_id) for n in api.outbox()) == sorted([alices, bobs])


def test_a_reader_may_not_post_events(lite: Api) -> None:
    alarm_id = lite.alarm()
    assert lite.fault(event(), READER) == (403, "RBAC Authorization Failed")
    assert lite.state(alarm_id) == "insufficient data"


def test_without_projects_events_fire_the_alarms_that_have_none(tmp_path: Path) -> None:
    """``basic`` mode: no tenancy, alarms have no project; an event without a project trait fires them."""
    for api in _api(tmp_path, mode="basic"):
        basic = {"authorization": "basic YWRtaW46"}
        alarm_id = api.alarm(basic)
        assert api.ok("GET", f"/v2/alarms/{alarm_id}", headers=basic)["project_id"] is None
        assert api.post(event(), basic) == [{"message_id": "m1", "project_id": None, "fired": [alarm_id]}]
        assert api.post(event("m2", project="p-a"), basic)[0]["fired"] == []  # not that project's alarm
        user = {"authorization": "basic Zm9vYmFyOg=="}  # foobar: not an admin, but no projects to keep apart
        assert api.post(event("m3", project="p-a"), user)[0]["fired"] == []


# --- validation ------------------------------------------------------------------------------------------

@pytest.mark.parametrize("body, message", [
    ("compute.instance.update", "event: must be an object with message_id and event_type, got 'compute.instance."),
    ({}, "event: must be an object"),
    ({"message_id": "m1"}, "event_type: mandatory, a non-empty string (got None)"),
    ({"event_type": "x", "message_id": ""}, "message_id: mandatory, a non-empty string (got '')"),
    ({"event_type": 5, "message_id": "m1"}, "event_type: mandatory, a non-empty string (got 5)"),
    ({"event_type": "x", "message_id": "m1", "generated": "yesterday"}, "generated: not an ISO 8601 timestamp"),
    ({"event_type": "x", "message_id": "m1", "generated": 5}, "generated: not an ISO 8601 timestamp"),
    ({"event_type": "x", "message_id": "m1", "traits": "state"}, "traits: must be a list"),
    ({"event_type": "x", "message_id": "m1", "traits": [["state", 1]]}, "traits: each trait must be"),
    ({"event_type": "x", "message_id": "m1", "traits": [[None, 1, "x"]]}, "traits: each trait's name"),
    ({"event_type": "x", "message_id": "m1", "traits": [["n", 2, "seven"]]}, "traits.n: "),
    ({"event_type": "x", "message_id": "m1", "traits": [["n", 4, "soon"]]}, "traits.n: "),
    ({"event_type": "x", "message_id": "m1", "traits": [["n", "color", "red"]]}, "traits.n: type: must be one of"),
    ({"event_type": "x", "message_id": "m1", "raw": {"payload": {"a": ["ok", "b\x00"]}}},
     "raw.payload.a[1]: must not contain NUL characters"),
    ([event(), {"message_id": "m2"}], "events[1].event_type: mandatory"),
    ([event(), 5], "events[1]: must be an object"),
    ([{**event(), "traits": [["n", 3, "x"]]}], "events[0].traits.n: "),
])
def test_bad_events_are_refused_naming_the_field(lite: Api, body: Any, message: str) -> None:
    alarm_id = lite.alarm()
    status, text = lite.fault(body)
    assert status == 400 and text.startswith(message), text
    # Nothing of a refused batch is matched, not even its valid events.
    assert lite.state(alarm_id) == "insufficient data" and lite.outbox() == []


def test_bodies_that_are_not_json_are_refused(lite: Api) -> None:
    assert lite.fault(None, raw=b"{not json")[0] == 400
    assert lite.fault(None, raw=b"")[1].startswith("event: must be an object")
    r = lite.client.post("/v2/events", content=b"{}", headers={"content-type": "text/plain", **ALICE})
    assert r.status_code == 415


def test_an_empty_list_is_accepted(lite: Api) -> None:
    assert lite.post([]) == []

