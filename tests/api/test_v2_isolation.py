"""Project isolation on Aodh's v2 API: a non-admin never reads or acts on another project's alarm.

Alice (project p-a) and Bob (p-b) each own an alarm; Bob also had one he deleted. Every ``/v2`` operation
is tried by Alice on Bob's objects (refused: 404 for an alarm, 401 for a query naming his project, 403
for quotas, all_projects and an event naming his project) and, as the positive control, on her own.
Listings and queries are tried with every way of asking for more — ``all_projects=false``, a repeated
``project_id`` (Aodh's LP 2161276), the ``project`` alias, ``in``/``not`` — and must still hold only Alice's
alarms. The matrix must name every
``/v2`` operation of the OpenAPI description, so a new endpoint cannot skip it. It runs on SQLite and
PostgreSQL, in ``noauth`` and ``keystone`` modes.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from tests.api.test_tenancy import World, auth_mode, world  # noqa: F401 — auth_mode and world are fixtures

EVENT = {"type": "event", "event_rule": {"event_type": "compute.instance.*"}}


class Alarms:
    """The two tenants' alarms, beside their /v1 data (which Alice's alarms must not read of Bob's)."""

    def __init__(self, data: World) -> None:
        self.client, self.call, self.ok = data.client, data.call, data.ok
        bob = data.tenants["bob"]
        self.bob_resource, self.bob_metric = bob.own_resource, bob.resource_metric
        self.mine = {"alice": self.alarm("alice", "alice-alarm"), "bob": self.alarm("bob", "bob-alarm")}
        self.ok("bob", "PUT", f"/v2/alarms/{self.mine['bob']}/state", "alarm")
        self.gone = self.alarm("bob", "bob-gone")
        self.ok("bob", "DELETE", f"/v2/alarms/{self.gone}")

    def alarm(self, who: str, name: str) -> str:
        return self.ok(who, "POST", "/v2/alarms", {"name": name, **EVENT})["alarm_id"]


@pytest.fixture
def alarms(world: World) -> Alarms:  # noqa: F811 — world is test_tenancy's fixture: both tenants' /v1 data
    return Alarms(world)


def _object_cases(alarm: str) -> list[tuple[str, str, str, Any]]:
    """(method, path template, path, body) of every operation on one alarm."""
    item = f"/v2/alarms/{alarm}"
    return [
        ("GET", "/v2/alarms/{alarm_id}", item, None),
        ("PUT", "/v2/alarms/{alarm_id}", item, {"name": "taken", **EVENT}),
        ("GET", "/v2/alarms/{alarm_id}/state", f"{item}/state", None),
        ("PUT", "/v2/alarms/{alarm_id}/state", f"{item}/state", "ok"),
        ("GET", "/v2/alarms/{alarm_id}/history", f"{item}/history", None),
        ("DELETE", "/v2/alarms/{alarm_id}", item, None),
    ]


COLLECTION_CASES = {("GET", "/v2/alarms"), ("POST", "/v2/alarms"), ("POST", "/v2/query/alarms"),
                    ("POST", "/v2/query/alarms/history"), ("GET", "/v2/quotas"), ("POST", "/v2/quotas"),
                    ("DELETE", "/v2/quotas/{project_id}"), ("GET", "/v2/capabilities"), ("POST", "/v2/events")}


def test_the_matrix_covers_every_v2_operation(alarms: Alarms) -> None:
    spec = alarms.client.get("/openapi.json").json()
    documented = {(method.upper(), path) for path, item in spec["paths"].items() if path.startswith("/v2")
                  for method in item}
    covered = {(m, t) for m, t, _, _ in _object_cases("x")} | COLLECTION_CASES
    assert documented == covered


def test_other_project_cannot_touch_an_alarm(alarms: Alarms) -> None:
    bob = alarms.mine["bob"]
    for method, _, path, body in _object_cases(bob):
        r = alarms.call("alice", method, path, body)
        assert r.status_code == 404, (method, path, r.status_code, r.text)
        assert r.json()["error_message"]["faultstring"] == f"Alarm {bob} not found"
    r = alarms.call("alice", "GET", f"/v2/alarms/{alarms.gone}/history")
    assert r.status_code == 404, r.text
    # Nothing Alice tried changed Bob's alarm.
    alarm = alarms.ok("bob", "GET", f"/v2/alarms/{bob}")
    assert (alarm["name"], alarm["state"]) == ("bob-alarm", "alarm")
    assert len(alarms.ok("bob", "GET", f"/v2/alarms/{bob}/history")) == 2


def test_owner_may_do_every_alarm_operation(alarms: Alarms) -> None:
    """The positive control: the same calls work for the owner, the deleted alarm's history too."""
    for method, _, path, body in _object_cases(alarms.mine["alice"]):
        alarms.ok("alice", method, path, body)
    assert [c["type"] for c in alarms.ok("bob", "GET", f"/v2/alarms/{alarms.gone}/history")] == [
        "deletion", "creation"]


def _names(rows: list[dict[str, Any]]) -> list[str]:
    return sorted(row["name"] for row in rows)


@pytest.mark.parametrize("params", [
    {},
    {"q.field": "all_projects", "q.value": "false"},
    {"q.field": ["all_projects", "project_id"], "q.value": ["false", "p-a"]},
    {"q.field": "project_id", "q.value": "p-a"},
    {"q.field": "name", "q.value": "bob-alarm"},
    {"q.field": "user_id", "q.value": "u-bob"},
    {"q.field": "state", "q.value": "alarm"},
])
def test_alarm_listing_holds_only_own_project(alarms: Alarms, params: dict[str, Any]) -> None:
    rows = alarms.ok("alice", "GET", "/v2/alarms", **params)
    assert set(_names(rows)) <= {"alice-alarm"} and {r["project_id"] for r in rows} <= {"p-a"}


@pytest.mark.parametrize("params, status", [
    ({"q.field": "project_id", "q.value": "p-b"}, 401),
    ({"q.field": ["project_id", "project_id"], "q.value": ["p-a", "p-b"]}, 401),  # LP 2161276
    ({"q.field": ["all_projects", "project_id"], "q.value": ["false", "p-b"]}, 401),
    ({"q.field": "all_projects", "q.value": "true"}, 403),
    ({"q.field": ["all_projects", "all_projects"], "q.value": ["false", "true"]}, 403),
])
def test_alarm_listing_refuses_other_projects(alarms: Alarms, params: dict[str, Any], status: int) -> None:
    r = alarms.call("alice", "GET", "/v2/alarms", **params)
    assert r.status_code == status, r.text


def test_admin_lists_every_project_only_when_asked(alarms: Alarms) -> None:
    assert alarms.ok("admin", "GET", "/v2/alarms") == []  # its own project has none
    everything = alarms.ok("admin", "GET", "/v2/alarms", **{"q.field": "all_projects", "q.value": "true"})
    assert _names(everything) == ["alice-alarm", "bob-alarm"]
    bobs = alarms.ok("admin", "GET", "/v2/alarms", **{"q.field": "project_id", "q.value": "p-b"})
    assert _names(bobs) == ["bob-alarm"]


@pytest.mark.parametrize("filter_", [
    None, {"=~": {"name": ".*"}}, {"=": {"state": "alarm"}}, {"=": {"alarm_id": "<bob>"}},
    {"or": [{"=": {"name": "bob-alarm"}}, {"=": {"project_id": "p-a"}}]},
])
def test_alarm_query_holds_only_own_project(alarms: Alarms, filter_: Any) -> None:
    body = {} if filter_ is None else {"filter": json.dumps(filter_).replace("<bob>", alarms.mine["bob"])}
    assert set(_names(alarms.ok("alice", "POST", "/v2/query/alarms", body))) <= {"alice-alarm"}
    history = alarms.ok("alice", "POST", "/v2/query/alarms/history", {})
    assert {c["alarm_id"] for c in history} == {alarms.mine["alice"]}


@pytest.mark.parametrize("path, filter_", [
    ("/v2/query/alarms", {"=": {"project_id": "p-b"}}),
    ("/v2/query/alarms", {"=": {"project": "p-b"}}),
    ("/v2/query/alarms", {"in": {"project_id": ["p-a", "p-b"]}}),
    ("/v2/query/alarms", {"and": [{"=": {"name": "x"}}, {"not": {"=": {"project_id": "p-b"}}}]}),
    ("/v2/query/alarms/history", {"=": {"on_behalf_of": "p-b"}}),
])
def test_queries_naming_another_project_are_refused(alarms: Alarms, path: str, filter_: Any) -> None:
    r = alarms.call("alice", "POST", path, {"filter": json.dumps(filter_)})
    assert r.status_code == 401, r.text
    assert r.json()["error_message"]["faultstring"].startswith("Not Authorized to access project")


def test_history_query_cannot_reach_another_alarm(alarms: Alarms) -> None:
    for alarm in (alarms.mine["bob"], alarms.gone):
        body = {"filter": json.dumps({"=": {"alarm_id": alarm}})}
        assert alarms.ok("alice", "POST", "/v2/query/alarms/history", body) == []


@pytest.mark.parametrize("extra, status", [
    ({"project_id": "p-b"}, 401),
    ({"user_id": "u-bob"}, 401),
])
def test_alarm_cannot_be_created_for_another_owner(alarms: Alarms, extra: dict[str, str], status: int) -> None:
    r = alarms.call("alice", "POST", "/v2/alarms", {"name": "sneaky", **EVENT, **extra})
    assert r.status_code == status, r.text


def test_alarm_cannot_read_another_projects_data(alarms: Alarms) -> None:
    common = {"threshold": 1, "aggregation_method": "mean"}
    on_resource = {"name": "peek", "type": "gnocchi_resources_threshold", "gnocchi_resources_threshold_rule": {
        "metric": "cpu", "resource_id": alarms.bob_resource, "resource_type": "generic", **common}}
    on_metric = {"name": "peek", "type": "gnocchi_aggregation_by_metrics_threshold",
                 "gnocchi_aggregation_by_metrics_threshold_rule": {"metrics": [alarms.bob_metric], **common}}
    nested = {"name": "peek", "type": "composite", "composite_rule": {"or": [
        {"type": "gnocchi_aggregation_by_metrics_threshold", "metrics": [alarms.bob_metric], **common}]}}
    for body in (on_resource, on_metric, nested):
        r = alarms.call("alice", "POST", "/v2/alarms", body)
        assert r.status_code == 403, r.text
        assert "Not Authorized to access" in r.json()["error_message"]["faultstring"]
        alarms.ok("bob", "POST", "/v2/alarms", body)  # the positive control
    # An aggregation over resources is wrapped in the caller's project, as Aodh does.
    query = {"name": "all", "type": "gnocchi_aggregation_by_resources_threshold",
             "gnocchi_aggregation_by_resources_threshold_rule": {"metric": "cpu", "resource_type": "generic",
                                                                  "query": "{}", **common}}
    rule = alarms.ok("alice", "POST", "/v2/alarms", query)["gnocchi_aggregation_by_resources_threshold_rule"]
    assert json.loads(rule["query"]) == {"and": [{"or": [{"=": {"created_by_project_id": "p-a"}},
                                                         {"=": {"project_id": "p-a"}}]}, {}]}


def _event(message_id: str, *traits: list[Any]) -> dict[str, Any]:
    return {"message_id": message_id, "event_type": "compute.instance.update", "traits": list(traits)}


def test_events_cannot_fire_another_projects_alarms(alarms: Alarms) -> None:
    bob = alarms.mine["bob"]
    alarms.ok("bob", "PUT", f"/v2/alarms/{bob}/state", "ok")  # so that a matching event would fire it
    for trait in ("project_id", "tenant_id"):
        r = alarms.call("alice", "POST", "/v2/events", _event("m1", [trait, 1, "p-b"]))
        assert r.status_code == 403, r.text
        assert r.json()["error_message"]["faultstring"] == f"traits.{trait}: Not Authorized to access project p-b"
    # An event naming no project is Alice's own: it fires her alarm, never Bob's.
    assert alarms.ok("alice", "POST", "/v2/events", _event("m2")) == {
        "events": [{"message_id": "m2", "project_id": "p-a", "fired": [alarms.mine["alice"]]}]}
    assert alarms.ok("bob", "GET", f"/v2/alarms/{bob}/state") == "ok"
    # The positive control: an admin (a service such as Ceilometer) fires it; so does Bob.
    assert alarms.ok("admin", "POST", "/v2/events", _event("m3", ["project_id", 1, "p-b"]))["events"][0][
        "fired"] == [bob]
    alarms.ok("bob", "PUT", f"/v2/alarms/{bob}/state", "ok")
    assert alarms.ok("bob", "POST", "/v2/events", _event("m4"))["events"][0]["fired"] == [bob]


def test_quotas_of_another_project_are_refused(alarms: Alarms) -> None:
    assert alarms.call("alice", "GET", "/v2/quotas", project_id="p-b").status_code == 403
    assert alarms.call("alice", "POST", "/v2/quotas", {"project_id": "p-b", "quotas": [
        {"resource": "alarms", "limit": 0}]}).status_code == 403
    assert alarms.call("alice", "DELETE", "/v2/quotas/p-b").status_code == 403
    assert alarms.ok("alice", "GET", "/v2/quotas")["project_id"] == "p-a"
    assert alarms.ok("alice", "GET", "/v2/capabilities")["api"]["alarms:query:complex"] is True
    assert alarms.ok("admin", "GET", "/v2/quotas", project_id="p-b")["project_id"] == "p-b"
