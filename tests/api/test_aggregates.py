"""POST /v1/aggregates and the deprecated /v1/aggregation/metric, driven in process."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

import telescale.config
import telescale.drivers
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
    services = telescale.drivers.Drivers.build(settings)
    app = create_app(settings, services)
    with TestClient(app, headers={"accept": "application/json"}) as c:
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


IDS1 = [("2015-03-06T14:33:57", 43.1), ("2015-03-06T14:34:12", 12), ("2015-03-06T14:34:15", -16),
        ("2015-03-06T14:35:12", 9), ("2015-03-06T14:35:15", 11)]
M2 = [("2015-03-06T14:33:57", 2), ("2015-03-06T14:34:12", 4), ("2015-03-06T14:34:15", 5),
      ("2015-03-06T14:35:12", 10), ("2015-03-06T14:35:15", 15)]
M4 = [("2017-04-06T14:33:57", 20), ("2017-04-06T14:34:12", 10)]


@pytest.fixture
def two(client: TestClient):
    policy(client, "cookies", "1 second", "60 second")
    policy(client, "cake", "5 second")
    return metric(client, "cookies", IDS1), metric(client, "cookies", M2), metric(client, "cake")


def test_aggregated_and_details(client: TestClient, two) -> None:
    m1, m2, _ = two
    out = aggregates(client, ["aggregate", "mean", ["metric", [m1, "mean"], [m2, "mean"]]], "?details=true")
    assert out["measures"]["aggregated"][:3] == [
        ["2015-03-06T14:33:00+00:00", 60.0, 22.55], ["2015-03-06T14:34:00+00:00", 60.0, 1.25],
        ["2015-03-06T14:35:00+00:00", 60.0, 11.25]]
    assert sorted(r["id"] for r in out["references"]) == sorted([m1, m2])
    assert out["references"][0]["archive_policy"]["name"] == "cookies"
    out = aggregates(client, f"(metric ({m1} max) ({m2} min))", "?granularity=60")
    assert [r[2] for r in out["measures"][m1]["max"]] == [43.1, 12.0, 11.0]
    assert [r[2] for r in out["measures"][m2]["min"]] == [2.0, 4.0, 10.0]
    assert "references" not in out


def test_fill_null_renders_nan(client: TestClient, two) -> None:
    m1, _, _ = two
    m4 = metric(client, "cookies", M4)
    r = client.post("/v1/aggregates?fill=null&granularity=60", headers=USER,
                    json={"operations": f"(metric ({m1} mean) ({m4} mean))"})
    assert r.status_code == 200
    assert b"NaN" in r.content
    rows = json.loads(r.content)["measures"][m4]["mean"]
    assert math.isnan(rows[0][2]) and rows[-1] == ["2017-04-06T14:34:00+00:00", 60.0, 10.0]


def test_reference_errors(client: TestClient, two) -> None:
    m1, m2, m3 = two
    unknown = "8c062a7e-9f9f-4b1c-9996-9d0328512ab7"
    err = aggregates(client, ["metric", [m1, "mean"], [unknown, "mean"]], status=404)["description"]
    assert err["cause"] == "Unknown metrics" and err["detail"] == [unknown]
    err = aggregates(client, ["metric", [m1, "mean"], [m2, "mean"], [m3, "mean"]], status=400)["description"]
    assert err["cause"] == "Metrics cannot be aggregated" and err["reason"] == "No granularity match"
    err = aggregates(client, ["metric", m1, "mean"], "?granularity=123", status=400)["description"]
    assert err["reason"] == "Granularities are missing" and err["detail"] == [[m1, "mean", 123.0]]
    err = aggregates(client, ["metric", [m1, "what?"], [m2, "mean"]], status=404)["description"]
    assert err == {"cause": "Metrics with unknown aggregation", "detail": [[m1, "what?"]]}
    err = aggregates(client, ["metric", "not-a-uuid", "mean"], status=400)["description"]
    assert err["cause"] == "Invalid metric references"
    err = aggregates(client, ["+", 1, 2], status=400)["description"]
    assert err["reason"] == "At least one 'metric' is required"
    err = aggregates(client, "(metroc foo bar", status=400)["description"]
    assert err["cause"] == "Invalid operations" and err["reason"] == "Fail to parse the operations string"


def test_query_argument_errors(client: TestClient) -> None:
    for query, field, reason in [("start=notadate", "start", "Must be a datetime or a timestamp"),
                                 ("needed_overlap=x", "needed_overlap", "Must be a number"),
                                 ("granularity=foobar", "granularity", "Unable to parse timespan"),
                                 ("fill=foobar", "fill", "Must be a float, 'dropna', 'null', 'ffill', 'bfill', "
                                                         "'full_ffill' or 'full_bfill'")]:
        r = client.post(f"/v1/aggregates?{query}", headers=USER)
        assert r.status_code == 400
        assert r.json()["description"] == {"cause": "Argument value error", "detail": field, "reason": reason}


def test_resource_search_without_matching_metric_is_404(client: TestClient) -> None:
    r = client.post("/v1/aggregates", headers=USER,
                    json={"resource_type": "generic", "search": {}, "operations": "(metric cpu mean)"})
    assert r.status_code == 404
    assert r.json()["description"] == "Metric ['cpu'] does not exist"


def test_deprecated_cross_metric(client: TestClient) -> None:
    policy(client, "low", "1 second", "300 seconds")
    a = metric(client, "low", [("2015-03-06T14:33:57", 43.1), ("2015-03-06T14:34:12", 12)])
    b = metric(client, "low", [("2015-03-06T14:33:57", 3.1), ("2015-03-06T14:34:12", 2),
                               ("2015-03-06T14:35:12", 5)])
    r = client.get(f"/v1/aggregation/metric?metric={a}&metric={b}&granularity=1", headers=USER)
    assert r.json() == [["2015-03-06T14:33:57+00:00", 1.0, 23.1], ["2015-03-06T14:34:12+00:00", 1.0, 7.0]]
    r = client.post("/v1/aggregation/metric?granularity=1&fill=0", headers=USER, json=[a, b])
    assert [x[2] for x in r.json()] == [23.1, 7.0, 2.5]
    r = client.get(f"/v1/aggregation/metric?metric={a}&metric={b}&reaggregation=min", headers=USER)
    assert r.json() == [["2015-03-06T14:30:00+00:00", 300.0, 2.55], ["2015-03-06T14:33:57+00:00", 1.0, 3.1],
                        ["2015-03-06T14:34:12+00:00", 1.0, 2.0]]
    r = client.get(f"/v1/aggregation/metric?metric={a}&metric={b}&aggregation=wtf", headers=USER)
    assert r.status_code == 404
    assert r.json()["description"] == f"Aggregation method 'wtf' at granularity '1.0' for metric " \
                                      f"{min(a, b)} does not exist"
    r = client.get(f"/v1/aggregation/metric?metric={a}&granularity=42", headers=USER)
    assert r.status_code == 404 and "at granularity '42.0'" in r.text
    assert client.get("/v1/aggregation/metric?metric=foobar", headers=USER).status_code == 400
    r = client.get(f"/v1/aggregation/metric?metric={a}&metric={b}&granularity=1&resample=60", headers=USER)
    assert r.json() == [["2015-03-06T14:33:00+00:00", 60.0, 23.1], ["2015-03-06T14:34:00+00:00", 60.0, 7.0]]
