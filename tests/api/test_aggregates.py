"""POST /v1/aggregates and the deprecated /v1/aggregation/metric, driven in process."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

import telescale.config
import telescale.service
from telescale.api.app import create_app

ADMIN = {"authorization": "basic YWRtaW46", "content-type": "application/json"}
USER = {"authorization": "basic Zm9vYmFyOg==", "content-type": "application/json"}


@pytest.fixture
def client(tmp_path: Path):
    settings = telescale.config.load(
        environ={},
        overrides=[f"storage.data_dir={json.dumps(str(tmp_path))}", "indexer.create_default_archive_policies=false"])
    telescale.service.upgrade(settings)
    services = telescale.service.Services.build(settings)
    app = create_app(settings, services)
    with TestClient(app) as c:
        yield c
    services.close()


def policy(client: TestClient, name: str, *granularities: str, methods: list[str] | None = None) -> None:
    body: dict = {"name": name, "definition": [{"granularity": g} for g in granularities]}
    if methods is not None:
        body["aggregation_methods"] = methods
    r = client.post("/v1/archive_policy", headers=ADMIN, json=body)
    assert r.status_code == 201, r.text


def metric(client: TestClient, policy_name: str, measures: list[tuple[str, float]] = ()) -> str:
    r = client.post("/v1/metric", headers=USER, json={"archive_policy_name": policy_name})
    assert r.status_code == 201, r.text
    mid = r.json()["id"]
    if measures:
        r = client.post(f"/v1/metric/{mid}/measures", headers=USER,
                        json=[{"timestamp": t, "value": v} for t, v in measures])
        assert r.status_code == 202, r.text
        assert client.get(f"/v1/metric/{mid}/measures?refresh=true", headers=USER).status_code == 200
    return mid


def aggregates(client: TestClient, operations, query: str = "", status: int = 200):
    r = client.post(f"/v1/aggregates{query}", headers=USER, json={"operations": operations})
    assert r.status_code == status, r.text
    return r.json()


M1 = [("2015-03-06T14:33:57", 43.1), ("2015-03-06T14:34:12", 12), ("2015-03-06T14:34:15", 16),
      ("2015-03-06T14:35:12", 9), ("2015-03-06T14:35:15", 11), ("2015-03-06T14:36:15", -16),
      ("2015-03-06T14:37:15", -23)]


def test_metric_yaml_operations(client: TestClient) -> None:
    policy(client, "cookies", "1 second")
    mid = metric(client, "cookies", M1)
    out = aggregates(client, f"(negative (resample mean 60 (metric {mid} mean)))", "?granularity=1")
    assert out["measures"][mid]["mean"][:3] == [
        ["2015-03-06T14:33:00+00:00", 60.0, -43.1], ["2015-03-06T14:34:00+00:00", 60.0, -14.0],
        ["2015-03-06T14:35:00+00:00", 60.0, -10.0]]
    out = aggregates(client, f"(absolute (metric {mid} mean))")
    assert [r[2] for r in out["measures"][mid]["mean"]] == [43.1, 12.0, 16.0, 9.0, 11.0, 16.0, 23.0]
    out = aggregates(client, f"(rolling mean 2 (metric {mid} mean))")
    assert out["measures"][mid]["mean"] == [
        ["2015-03-06T14:34:12+00:00", 1.0, 27.55], ["2015-03-06T14:34:15+00:00", 1.0, 14.0],
        ["2015-03-06T14:35:12+00:00", 1.0, 12.5], ["2015-03-06T14:35:15+00:00", 1.0, 10.0],
        ["2015-03-06T14:36:15+00:00", 1.0, -2.5], ["2015-03-06T14:37:15+00:00", 1.0, -19.5]]
    out = aggregates(client, f"(negative (absolute (metric {mid} mean)))")
    assert [r[2] for r in out["measures"][mid]["mean"]] == [-43.1, -12.0, -16.0, -9.0, -11.0, -16.0, -23.0]
    err = aggregates(client, f"(notexist (absolute (metric {mid} mean)))", status=400)
    assert err["description"]["cause"] == "Invalid input"
    assert err["description"]["detail"] == ["operations"]
    assert err["description"]["reason"].startswith("'notexist' operation invalid for dictionary value")
    assert "unknown operator 'notexist'" in err["description"]["reason"]


def test_deprecated_aggregation_metric_errors(client: TestClient) -> None:
    policy(client, "cookies", "1 second")
    mid = metric(client, "cookies", M1[:2])
    r = client.get(f"/v1/aggregation/metric?metric={mid}&aggregation=last", headers=USER)
    assert r.status_code == 404
    assert r.json()["description"] == {"cause": "Aggregation method does not exist for this metric",
                                       "detail": {"metric": mid, "aggregation_method": "last"}}
    r = client.get("/v1/aggregation/metric?metric=cee6ef1f-52cc-4a16-bbb5-648aedfd1c37", headers=USER)
    assert r.status_code == 404
    assert "Metric cee6ef1f-52cc-4a16-bbb5-648aedfd1c37 does not exist" in r.text
    r = client.get(f"/v1/aggregation/metric?metric={mid}", headers=USER)
    assert r.json() == [["2015-03-06T14:33:57+00:00", 1.0, 43.1], ["2015-03-06T14:34:12+00:00", 1.0, 12.0]]
    assert math.isfinite(r.json()[0][2])
