"""Multi-tenancy matrix: a user of one project never sees, searches, aggregates or writes another's data.

Two projects, A (alice) and B (bob), each with a resource they created, a resource a service account
created for them (``project_id`` set, as Ceilometer does), metrics on both and a metric of their own.
Every endpoint is called by the owner (which must work: the positive control) and by the other
project's user (which must be refused, or filtered out of listings).  The whole matrix runs on SQLite
and on the real PostgreSQL, in ``noauth`` mode (identity headers) and in ``keystone`` mode (tokens
checked by keystonemiddleware, with its own test fixture standing in for the Keystone server).
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import fixtures
import pytest
from fastapi.testclient import TestClient
from keystonemiddleware import fixture as ks_fixture

from tests.api.conftest import make_client

POLICY = {"name": "tenancy", "definition": [{"granularity": "1s", "timespan": "1h"}]}
MEASURES = [{"timestamp": "2026-01-01T00:00:00", "value": 1.0}, {"timestamp": "2026-01-01T00:00:01", "value": 2.0}]

# who: (user id, project id, roles)
PEOPLE = {
    "admin": ("u-admin", "p-admin", "admin"),
    "service": ("u-ceilometer", "p-service", "service"),
    "alice": ("u-alice", "p-a", "member"),
    "bob": ("u-bob", "p-b", "member"),
}


@dataclass
class Tenant:
    own_resource: str = ""  # created by the tenant's user
    served_resource: str = ""  # created by the service for the tenant's project
    resource_metric: str = ""  # "cpu" on own_resource
    served_metric: str = ""  # "cpu" on served_resource
    own_metric: str = ""  # created by the tenant's user, on no resource
    all_metrics: list[str] = field(default_factory=list)


class World:
    """The two tenants' data and a way to call the API as anybody."""

    def __init__(self, client: TestClient, headers_for: Callable[[str], dict[str, str]]) -> None:
        self.client = client
        self.headers_for = headers_for
        self.tenants = {"alice": Tenant(), "bob": Tenant()}

    def call(self, who: str, method: str, path: str, body: Any = None, **params: Any) -> Any:
        headers = {**self.headers_for(who), "accept": "application/json"}
        content = None if body is None else json.dumps(body)
        if content is not None:
            headers["content-type"] = "application/json"
        return self.client.request(method, path, content=content, headers=headers, params=params or None)

    def ok(self, who: str, method: str, path: str, body: Any = None, **params: Any) -> Any:
        r = self.call(who, method, path, body, **params)
        assert r.status_code < 300, (who, method, path, r.status_code, r.text)
        return r.json() if r.content else None

    def build(self) -> None:
        self.ok("admin", "POST", "/v1/archive_policy", POLICY)
        for who in ("alice", "bob"):
            t = self.tenants[who]
            project = PEOPLE[who][1]
            own = self.ok(who, "POST", "/v1/resource/generic", {
                "id": f"{who}-vm", "project_id": project, "metrics": {"cpu": {"archive_policy_name": "tenancy"}}})
            served = self.ok("service", "POST", "/v1/resource/generic", {
                "id": str(uuid.uuid4()), "project_id": project, "user_id": PEOPLE[who][0],
                "metrics": {"cpu": {"archive_policy_name": "tenancy"}}})
            metric = self.ok(who, "POST", "/v1/metric", {"archive_policy_name": "tenancy", "name": "own"})
            t.own_resource, t.served_resource = own["id"], served["id"]
            t.resource_metric, t.served_metric = own["metrics"]["cpu"], served["metrics"]["cpu"]
            t.own_metric = metric["id"]
            t.all_metrics = [t.resource_metric, t.served_metric, t.own_metric]
            self.ok(who, "POST", f"/v1/metric/{t.own_metric}/measures", MEASURES)
            self.ok(who, "POST", f"/v1/resource/generic/{t.own_resource}/metric/cpu/measures", MEASURES)
            self.ok("service", "POST", f"/v1/metric/{t.served_metric}/measures", MEASURES)


def _noauth_headers(who: str) -> dict[str, str]:
    user, project, roles = PEOPLE[who]
    return {"x-user-id": user, "x-project-id": project, "x-roles": roles}


@pytest.fixture(params=["noauth", "keystone"])
def auth_mode(request: pytest.FixtureRequest) -> Iterator[tuple[str, Callable[[str], dict[str, str]]]]:
    if request.param == "noauth":
        yield "noauth", _noauth_headers
        return
    with fixtures.Fixture() as holder:
        tokens = holder.useFixture(ks_fixture.AuthTokenFixture())
        ids = {}
        for who, (user, project, roles) in PEOPLE.items():
            ids[who] = f"token-{who}"
            tokens.add_token_data(token_id=ids[who], user_id=user, project_id=project, role_list=[roles])
        yield "keystone", lambda who: {"x-auth-token": ids[who]}


@pytest.fixture(params=["sqlite", "postgresql"])
def world(request: pytest.FixtureRequest, tmp_path: Path, auth_mode: Any) -> Iterator[World]:
    mode, headers_for = auth_mode
    url = request.getfixturevalue("postgresql_migrated_url") if request.param == "postgresql" else ""
    overrides = (f"api.auth_mode={mode}", "keystone_authtoken.www_authenticate_uri=http://keystone.invalid:5000",
                 "keystone_authtoken.delay_auth_decision=false")
    with make_client(tmp_path, url, overrides) as client:
        w = World(client, headers_for)
        w.build()
        yield w
        client.app.state.services.close()


# --- one object at a time: the owner may, the other project's user may not ----------------------------

def _object_cases(t: Tenant) -> list[tuple[str, str, Any, dict[str, Any]]]:
    rid, mid, own = t.own_resource, t.resource_metric, t.own_metric
    res = f"/v1/resource/generic/{rid}"
    return [
        ("GET", res, None, {}),
        ("PATCH", res, {"user_id": "someone"}, {}),
        ("GET", f"{res}/history", None, {}),
        ("GET", f"{res}/metric", None, {}),
        ("POST", f"{res}/metric", {"mem": {"archive_policy_name": "tenancy"}}, {}),
        ("GET", f"{res}/metric/cpu", None, {}),
        ("GET", f"{res}/metric/cpu/measures", None, {"refresh": "true"}),
        ("POST", f"{res}/metric/cpu/measures", MEASURES, {}),
        ("GET", f"/v1/metric/{own}", None, {}),
        ("GET", f"/v1/metric/{own}/measures", None, {"refresh": "true"}),
        ("POST", f"/v1/metric/{own}/measures", MEASURES, {}),
        ("POST", "/v1/batch/metrics/measures", {own: MEASURES, mid: MEASURES}, {}),
        ("POST", "/v1/batch/resources/metrics/measures", {rid: {"cpu": MEASURES}}, {}),
        ("POST", "/v1/batch/resources/metrics/measures", {rid: {"new": MEASURES}}, {"create_metrics": "true"}),
        ("POST", "/v1/metric", {"archive_policy_name": "tenancy", "name": "intruder", "resource_id": rid}, {}),
        ("POST", "/v1/aggregates", {"operations": ["metric", [own, "mean"], [mid, "mean"]]}, {}),
        ("GET", "/v1/aggregation/metric", None, {"metric": [own, mid]}),
        ("POST", "/v1/search/metric", {">=": 0}, {"metric_id": [own, mid]}),
        ("DELETE", f"/v1/metric/{own}", None, {}),
        ("DELETE", res, None, {}),
    ]


def test_other_project_is_refused_every_object(world: World) -> None:
    alice = world.tenants["alice"]
    for method, path, body, params in _object_cases(alice):
        r = world.call("bob", method, path, body, **params)
        assert r.status_code == 403, (method, path, r.status_code, r.text)
    # ...and nothing bob tried changed alice's data.
    resource = world.ok("alice", "GET", f"/v1/resource/generic/{alice.own_resource}")
    assert resource["user_id"] is None and set(resource["metrics"]) == {"cpu"}
    measures = world.ok("alice", "GET", f"/v1/metric/{alice.own_metric}/measures", refresh="true")
    assert [m[2] for m in measures] == [1.0, 2.0]


def test_owner_may_do_every_object_operation(world: World) -> None:
    """The positive control: the same calls succeed for the owning user."""
    for method, path, body, params in _object_cases(world.tenants["alice"]):
        world.ok("alice", method, path, body, **params)


# --- listings and searches are filtered to the caller's project ---------------------------------------

def _ids(rows: list[dict[str, Any]]) -> set[str]:
    return {row["id"] for row in rows}


def test_resource_listings_and_searches_show_only_own_project(world: World) -> None:
    a, b = world.tenants["alice"], world.tenants["bob"]
    mine_a, mine_b = {a.own_resource, a.served_resource}, {b.own_resource, b.served_resource}
    for who, mine in (("alice", mine_a), ("bob", mine_b)):
        assert _ids(world.ok(who, "GET", "/v1/resource/generic")) == mine
        assert _ids(world.ok(who, "GET", "/v1/resource/generic", history="true")) == mine
        assert _ids(world.ok(who, "POST", "/v1/search/resource/generic", {})) == mine
        assert _ids(world.ok(who, "POST", "/v1/search/resource/generic", history="true",
                             filter='id != "00000000-0000-0000-0000-000000000000"')) == mine
    # Searching explicitly for the other project's resources finds nothing.
    assert world.ok("bob", "POST", "/v1/search/resource/generic", {"=": {"project_id": "p-a"}}) == []
    assert world.ok("bob", "POST", "/v1/search/resource/generic", {"in": {"id": sorted(mine_a)}}) == []
    assert _ids(world.ok("admin", "GET", "/v1/resource/generic")) == mine_a | mine_b


def test_metric_listing_shows_only_own_project(world: World) -> None:
    a, b = world.tenants["alice"], world.tenants["bob"]
    assert _ids(world.ok("alice", "GET", "/v1/metric")) == set(a.all_metrics)
    assert _ids(world.ok("bob", "GET", "/v1/metric")) == set(b.all_metrics)
    assert world.ok("bob", "GET", "/v1/metric", id=a.own_metric) == []
    assert _ids(world.ok("admin", "GET", "/v1/metric")) == set(a.all_metrics) | set(b.all_metrics)


def test_delete_by_filter_touches_only_own_project(world: World) -> None:
    a, b = world.tenants["alice"], world.tenants["bob"]
    deleted = world.ok("bob", "DELETE", "/v1/resource/generic", {"like": {"original_resource_id": "%"}})
    assert deleted == {"deleted": 1}  # bob's own resource; the served one was created by the service
    assert _ids(world.ok("admin", "GET", "/v1/resource/generic")) == {a.own_resource, a.served_resource,
                                                                     b.served_resource}


def test_project_member_reads_but_does_not_write_what_the_service_created(world: World) -> None:
    """Gnocchi's rules: the resource owner reads (resource_owner, metric_owner), only the creator writes."""
    a = world.tenants["alice"]
    world.ok("alice", "GET", f"/v1/resource/generic/{a.served_resource}")
    world.ok("alice", "GET", f"/v1/metric/{a.served_metric}/measures", refresh="true")
    patch = world.call("alice", "PATCH", f"/v1/resource/generic/{a.served_resource}", {"user_id": "x"})
    assert patch.status_code == 403
    assert world.call("alice", "POST", f"/v1/metric/{a.served_metric}/measures", MEASURES).status_code == 403
    assert world.call("bob", "GET", f"/v1/metric/{a.served_metric}/measures").status_code == 403


def test_same_name_in_two_projects_is_two_resources(world: World) -> None:
    """Non-UUID ids are mapped with the creator, so each project's "web-1" is its own resource."""
    ra = world.ok("alice", "POST", "/v1/resource/generic", {"id": "web-1"})
    rb = world.ok("bob", "POST", "/v1/resource/generic", {"id": "web-1"})
    assert ra["id"] != rb["id"]
    assert world.ok("bob", "GET", "/v1/resource/generic/web-1")["id"] == rb["id"]


def test_admin_only_operations(world: World) -> None:
    for who in ("alice", "bob"):
        assert world.call(who, "GET", "/v1/status").status_code == 403
        assert world.call(who, "POST", "/v1/archive_policy", {**POLICY, "name": "x"}).status_code == 403
        assert world.call(who, "DELETE", "/v1/archive_policy/tenancy").status_code == 403
        assert world.call(who, "POST", "/v1/archive_policy_rule", {
            "name": "r", "metric_pattern": "*", "archive_policy_name": "tenancy"}).status_code == 403
        assert world.call(who, "POST", "/v1/resource_type", {"name": "t"}).status_code == 403
    world.ok("admin", "GET", "/v1/status")
    world.ok("service", "POST", "/v1/resource_type", {"name": "t"})  # admin_or_service
    assert world.call("service", "DELETE", "/v1/resource_type/t").status_code == 403  # admin only


def test_requests_without_identity_are_refused(world: World) -> None:
    r = world.client.get("/v1/resource/generic", headers={"x-user-id": "", "x-project-id": "",
                                                          "authorization": ""})
    assert r.status_code == 401
    assert world.client.get("/healthcheck", headers={"authorization": ""}).status_code in (200, 204)
