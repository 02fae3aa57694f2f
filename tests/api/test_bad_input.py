"""Bad input always gets a clear 4xx naming what is wrong — never a 500 or a silent drop."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from tests.api.conftest import USER


def new_metric(client: TestClient, policy: str = "low") -> str:
    r = client.post("/v1/metric", json={"archive_policy_name": policy})
    assert r.status_code == 201, r.text
    return r.json()["id"]


def test_malformed_json(client: TestClient) -> None:
    mid = new_metric(client)
    r = client.post(f"/v1/metric/{mid}/measures", content=b'[{"timestamp": "2020-01-01", "value": 1',
                    headers={"content-type": "application/json"})
    assert r.status_code == 400
    assert "Unable to decode body" in r.json()["description"]


@pytest.mark.parametrize("raw", [b'[{"timestamp": "2020-01-01", "value": NaN}]',
                                 b'[{"timestamp": "2020-01-01", "value": Infinity}]',
                                 b'[{"timestamp": "2020-01-01", "value": 1e999}]'])
def test_nan_and_infinity_are_refused(client: TestClient, raw: bytes) -> None:
    mid = new_metric(client)
    r = client.post(f"/v1/metric/{mid}/measures", content=raw, headers={"content-type": "application/json"})
    assert r.status_code == 400, r.text


@pytest.mark.parametrize("value", ["NaN", "inf", "-Infinity", "foobar", None, [1], {"a": 1}])
def test_non_finite_or_non_numeric_values(client: TestClient, value: object) -> None:
    mid = new_metric(client)
    r = client.post(f"/v1/metric/{mid}/measures", json=[{"timestamp": "2020-01-01", "value": value}])
    assert r.status_code == 400, r.text
    assert r.json()["description"]["cause"] == "Invalid input"


def test_unknown_policy(client: TestClient) -> None:
    r = client.post("/v1/metric", json={"archive_policy_name": "nope"})
    assert r.status_code == 400
    assert r.json()["description"] == "Archive policy nope does not exist"


@pytest.mark.parametrize("ts", ["9999-01-01T00:00:00", "2300-06-01", 1e20, -5, "1915-03-06T14:33:57",
                                "not a date", "2015-13-45"])
def test_timestamps_out_of_range_or_invalid(client: TestClient, ts: object) -> None:
    mid = new_metric(client)
    r = client.post(f"/v1/metric/{mid}/measures", json=[{"timestamp": ts, "value": 1}])
    assert r.status_code == 400, r.text


def test_oversized_body(tmp_path) -> None:
    from tests.api.conftest import make_client

    with make_client(tmp_path, overrides=("api.max_body_size=1000",)) as c:
        mid = new_metric(c)
        measures = [{"timestamp": 1_600_000_000 + i, "value": i} for i in range(200)]
        r = c.post(f"/v1/metric/{mid}/measures", json=measures)
        assert r.status_code == 413
        assert "larger than the 1000 bytes allowed" in r.json()["description"]


def test_wrong_media_type_and_accept(client: TestClient) -> None:
    assert client.post("/v1/metric", content=b"{}", headers={"content-type": "text/plain"}).status_code == 415
    assert client.get("/v1/metric", headers={"accept": "text/html"}).status_code == 406


def test_unknown_metric_and_bad_ids(client: TestClient) -> None:
    assert client.get("/v1/metric/not-a-uuid").status_code == 404
    assert client.post("/v1/metric/00000000-0000-0000-0000-000000000000/measures",
                       json=[{"timestamp": 1, "value": 1}]).status_code == 404


def test_bad_query_arguments(client: TestClient) -> None:
    mid = new_metric(client)
    assert client.get(f"/v1/metric/{mid}/measures?start=yesterday-ish").status_code == 400
    assert client.get(f"/v1/metric/{mid}/measures?refresh=perhaps").status_code == 400
    assert client.get("/v1/metric?limit=-3").status_code == 400
    assert client.get("/v1/metric?marker=nope").status_code == 400
    assert client.get("/v1/metric?sort=id:sideways").status_code == 400


def test_auth_required_and_admin_only(client: TestClient) -> None:
    assert client.get("/v1/metric", headers={"authorization": ""}).status_code == 401
    assert client.get("/v1/metric", headers={"authorization": "basic !!!"}).status_code == 401
    r = client.post("/v1/archive_policy", headers=USER, json={"name": "x", "definition": [{"granularity": 1}]})
    assert r.status_code == 403


def test_measures_accepted_then_visible(client: TestClient) -> None:
    mid = new_metric(client)
    r = client.post(f"/v1/metric/{mid}/measures", json=[{"timestamp": "2020-01-01T00:00:00", "value": 4},
                                                       {"timestamp": "2020-01-01T00:01:00", "value": 6}])
    assert r.status_code == 202 and r.content == b""
    r = client.get(f"/v1/metric/{mid}/measures?refresh=true")
    assert r.status_code == 200
    assert r.json() == [["2020-01-01T00:00:00+00:00", 300.0, 5.0]]
