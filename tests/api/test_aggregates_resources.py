"""Aggregates over resource searches through the API: shapes, groups, history, errors and tenancy.

The upstream conformance files (aggregates-with-resources.yaml, aggregation.yaml,
resource-aggregation.yaml) cover Gnocchi's happy paths; this covers what they do not: every bad part of
a request gets a 4xx naming it, a caller sees only its project's resources, and the deprecated endpoint
aggregates every matched resource.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from tests.api.conftest import make_client

POLICY = {"name": "p", "definition": [{"granularity": "1 minute", "timespan": "1 day"}]}
T = ["2026-01-01T00:00:00", "2026-01-01T00:01:00", "2026-01-01T00:02:00"]


def _measures(*values: float) -> list[dict[str, Any]]:
    return [{"timestamp": t, "value": v} for t, v in zip(T, values, strict=False)]


class Api:
    def __init__(self, client: TestClient, headers: dict[str, str] | None = None) -> None:
        self.client = client
        self.headers = headers or {}

    def call(self, method: str, path: str, body: Any = None, headers: dict[str, str] | None = None) -> Any:
        h = {**self.headers, **(headers or {}), "accept": "application/json"}
        if body is not None:
            h["content-type"] = "application/json"
        return self.client.request(method, path, content=None if body is None else json.dumps(body), headers=h)

    def ok(self, method: str, path: str, body: Any = None, headers: dict[str, str] | None = None) -> Any:
        r = self.call(method, path, body, headers)
        assert r.status_code < 300, (method, path, r.status_code, r.text)
        return r.json() if r.content else None


def _load(api: Api, headers_for: Any = lambda who: {}) -> None:
    api.ok("POST", "/v1/archive_policy", POLICY, headers_for("admin"))
    api.ok("POST", "/v1/resource_type", {"name": "server", "attributes": {
        "server_group": {"type": "string", "required": False},
        "vcpus": {"type": "number", "required": False}}}, headers_for("admin"))
    rows = [("a1", "g1", 2, "p-a", (1, 2, 3)), ("a2", "g1", 4, "p-a", (3, 4, 5)),
            ("a3", "g2", None, "p-a", (10, 20, 30)), ("b1", "g1", 2, "p-b", (100, 200, 300))]
    for name, group, vcpus, project, values in rows:
        who = "alice" if project == "p-a" else "bob"
        body = {"id": name, "project_id": project, "server_group": group, "vcpus": vcpus,
                "metrics": {"cpu": {"archive_policy_name": "p"}, "cpu.user": {"archive_policy_name": "p"},
                            "disk": {"archive_policy_name": "p"}}}
        api.ok("POST", "/v1/resource/server", body, headers_for(who))
        api.ok("POST", f"/v1/resource/server/{name}/metric/cpu/measures", _measures(*values), headers_for(who))
        api.ok("POST", f"/v1/resource/server/{name}/metric/cpu.user/measures", _measures(*values),
               headers_for(who))
    # processing: one refresh per metric is enough in process (no workers)
    api.ok("POST", "/v1/aggregates?refresh=true", {"resource_type": "server", "search": {},
                                                   "operations": "(metric cpu* mean)"}, headers_for("admin"))


@pytest.fixture(params=["sqlite", "postgresql"])
def api(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Api]:
    url = request.getfixturevalue("postgresql_migrated_url") if request.param == "postgresql" else ""
    with make_client(tmp_path, url) as client:
        a = Api(client)
        _load(a)
        yield a
        client.app.state.services.close()


def _values(rows: list[list[Any]]) -> list[float]:
    return [r[2] for r in rows]


def test_aggregate_over_a_search_with_groups(api: Api) -> None:
    body = {"resource_type": "server", "search": "project_id = 'p-a'",
            "operations": "(aggregate sum (metric cpu mean))"}
    out = api.ok("POST", "/v1/aggregates", body)
    assert _values(out["measures"]["aggregated"]) == [14.0, 26.0, 38.0]
    groups = api.ok("POST", "/v1/aggregates?groupby=server_group&groupby=vcpus", body)
    assert [g["group"] for g in groups] == [{"server_group": "g1", "vcpus": 2}, {"server_group": "g1", "vcpus": 4},
                                            {"server_group": "g2", "vcpus": None}]
    assert [_values(g["measures"]["measures"]["aggregated"]) for g in groups] == [
        [1.0, 2.0, 3.0], [3.0, 4.0, 5.0], [10.0, 20.0, 30.0]]


def test_wildcards_nest_by_resource_and_name(api: Api) -> None:
    body = {"resource_type": "server", "search": {"=": {"server_group": "g2"}}, "operations": "(metric cpu* mean)"}
    out = api.ok("POST", "/v1/aggregates?details=true", body)
    (rid, by_name), = out["measures"].items()
    assert sorted(by_name) == ["cpu", "cpu.user"]
    assert _values(by_name["cpu"]["mean"]) == [10.0, 20.0, 30.0]
    assert [r["id"] for r in out["references"]] == [rid]
    assert out["references"][0]["server_group"] == "g2"


def test_deprecated_resource_aggregation_groups(api: Api) -> None:
    out = api.ok("POST", "/v1/aggregation/resource/server/metric/cpu?groupby=server_group&aggregation=mean",
                 {"=": {"project_id": "p-a"}})
    assert [(g["group"], _values(g["measures"])) for g in out] == [
        ({"server_group": "g1"}, [2.0, 3.0, 4.0]), ({"server_group": "g2"}, [10.0, 20.0, 30.0])]
    # no metric of that name: an empty answer, as Gnocchi
    assert api.ok("POST", "/v1/aggregation/resource/server/metric/nope") == []
    assert api.ok("POST", "/v1/aggregation/resource/server/metric/nope?groupby=server_group") == [
        {"group": {"server_group": "g1"}, "measures": []}, {"group": {"server_group": "g2"}, "measures": []}]


def test_use_history_groups_by_the_values_each_revision_had(api: Api) -> None:
    api.ok("PATCH", "/v1/resource/server/a3", {"server_group": "g9"})
    body = {"resource_type": "server", "search": {"=": {"id": "a3"}},
            "operations": "(aggregate mean (metric cpu mean))"}
    now = api.ok("POST", "/v1/aggregates?groupby=server_group", body)
    assert [g["group"] for g in now] == [{"server_group": "g9"}]
    past = api.ok("POST", "/v1/aggregates?groupby=server_group&use_history=true&details=true", body)
    # the measures (2026) predate the change (now): they belong to the first revision, in g2
    assert [g["group"] for g in past] == [{"server_group": "g2"}]
    assert _values(past[0]["measures"]["measures"]["aggregated"]) == [10.0, 20.0, 30.0]
    assert past[0]["measures"]["references"][0]["server_group"] == "g2"


@pytest.mark.parametrize(("body", "query", "status", "expected"), [
    ({"resource_type": "nope", "search": {}}, "", 400, "Resource type nope does not exist"),
    ({"resource_type": 3, "search": {}}, "", 400, "data['resource_type']"),
    ({"search": {}}, "", 400, "data['resource_type']"),
    ({"resource_type": "server", "search": {"===": {"id": "x"}}}, "", 400, "data['search']"),
    ({"resource_type": "server", "search": {"like": {"id": 3}}}, "", 400, "data['search']['like']"),
    ({"resource_type": "server", "search": "id = "}, "", 400, "data['search']"),
    ({"resource_type": "server", "search": {"=": {"flavor": "x"}}}, "", 400, "flavor"),
    ({"resource_type": "server", "search": {}}, "?groupby=nope", 400, "Sort key supplied is invalid: nope"),
    ({"resource_type": "server", "search": {}, "operations": "(metric cpu mean)"},
     "?groupby=server_group&use_history=true", 400, "use_history"),
    ({"resource_type": "server", "search": {}, "operations": "(metric nothing* mean)"}, "", 404,
     "Metric ['nothing*'] does not exist"),
    ({"resource_type": "server", "search": {}, "operations": "(aggregate mean (metric cpu 95pct))"}, "", 404,
     "Metrics with unknown aggregation"),
])
def test_bad_requests_name_the_wrong_part(api: Api, body: dict, query: str, status: int, expected: str) -> None:
    body = {"operations": "(aggregate mean (metric cpu mean))", **body}
    r = api.call("POST", f"/v1/aggregates{query}", body)
    assert r.status_code == status, r.text
    assert expected in json.dumps(r.json()["description"]), r.text


def test_deprecated_endpoint_errors(api: Api) -> None:
    assert api.call("POST", "/v1/aggregation/resource/server/metric/cpu?groupby=nope").status_code == 400
    assert api.call("POST", "/v1/aggregation/resource/nope/metric/cpu").status_code == 404
    assert api.call("GET", "/v1/aggregation/resource/server/metric/cpu").status_code == 405
    assert api.call("POST", "/v1/aggregation/resource/server/metric").status_code == 405
    r = api.call("POST", "/v1/aggregation/resource/server/metric/cpu", {"like": {"id": 3}})
    assert r.status_code == 400


PEOPLE = {"admin": ("u-admin", "p-admin", "admin"), "alice": ("u-alice", "p-a", "member"),
          "bob": ("u-bob", "p-b", "member")}


def _noauth(who: str) -> dict[str, str]:
    user, project, roles = PEOPLE[who]
    return {"x-user-id": user, "x-project-id": project, "x-roles": roles}


def test_a_caller_aggregates_only_its_projects_resources(tmp_path: Path) -> None:
    with make_client(tmp_path, "", ("api.auth_mode=noauth",)) as client:
        api = Api(client)
        _load(api, _noauth)
        body = {"resource_type": "server", "search": {}, "operations": "(aggregate sum (metric cpu mean))"}
        assert _values(api.ok("POST", "/v1/aggregates", body, _noauth("bob"))["measures"]["aggregated"]) == [
            100.0, 200.0, 300.0]
        assert _values(api.ok("POST", "/v1/aggregates", body, _noauth("alice"))["measures"]["aggregated"]) == [
            14.0, 26.0, 38.0]
        # naming the other project's resources finds nothing
        sneaky = {**body, "search": {"=": {"project_id": "p-a"}}}
        assert api.call("POST", "/v1/aggregates", sneaky, _noauth("bob")).status_code == 404
        out = api.ok("POST", "/v1/aggregation/resource/server/metric/cpu?groupby=project_id", None, _noauth("bob"))
        assert [g["group"] for g in out] == [{"project_id": "p-b"}]
        client.app.state.services.close()
