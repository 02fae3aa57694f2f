"""POST /v1/search/metric over HTTP: matching points per metric and granularity, and a 400 for each bad input."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from tests.api.conftest import USER

MEASURES = [("2014-10-06T14:34:12", 12), ("2014-10-06T14:34:13", 5), ("2014-10-06T14:34:14", 12),
            ("2014-10-06T14:34:15", 20)]


def _t(hms: str) -> str:
    return f"2014-10-06T{hms}+00:00"


def _metric(client: TestClient, measures: list[tuple[str, float]] = MEASURES) -> str:
    if client.get("/v1/archive_policy/fine").status_code == 404:
        r = client.post("/v1/archive_policy", json={"name": "fine", "aggregation_methods": ["mean", "max"],
                                                     "definition": [{"granularity": "1s"}, {"granularity": "2s"}]})
        assert r.status_code == 201, r.text
    r = client.post("/v1/metric", json={"archive_policy_name": "fine"}, headers=USER)
    assert r.status_code == 201, r.text
    mid = r.json()["id"]
    if measures:
        r = client.post(f"/v1/metric/{mid}/measures", json=[{"timestamp": t, "value": v} for t, v in measures],
                        headers=USER)
        assert r.status_code == 202, r.text
    return mid


def _search(client: TestClient, query: str, body: object, status: int = 200) -> object:
    r = client.post(f"/v1/search/metric?{query}", json=body, headers=USER)
    assert r.status_code == status, r.text
    return r.json()


def test_matching_points_coarsest_granularity_first(client: TestClient) -> None:
    mid = _metric(client)
    assert _search(client, f"metric_id={mid}&refresh=true", {"=": 12}) == {
        mid: [[_t("14:34:12"), 1.0, 12.0], [_t("14:34:14"), 1.0, 12.0]]}
    assert _search(client, f"metric_id={mid}", {">": 10}) == {mid: [
        [_t("14:34:14"), 2.0, 16.0],
        [_t("14:34:12"), 1.0, 12.0], [_t("14:34:14"), 1.0, 12.0], [_t("14:34:15"), 1.0, 20.0]]}


def test_logical_and_arithmetic_queries(client: TestClient) -> None:
    mid = _metric(client)
    query = f"metric_id={mid}&granularity=1&refresh=true"
    assert _search(client, query, {"∧": [{"≥": 10}, {"<": 15}]}) == {
        mid: [[_t("14:34:12"), 1.0, 12.0], [_t("14:34:14"), 1.0, 12.0]]}
    assert _search(client, query, {"or": [{"=": 5}, {"=": [{"/": 4}, 5]}]}) == {
        mid: [[_t("14:34:13"), 1.0, 5.0], [_t("14:34:15"), 1.0, 20.0]]}
    assert _search(client, query, {"not": [{"≠": 5}]}) == {mid: [[_t("14:34:13"), 1.0, 5.0]]}


def test_granularity_aggregation_start_and_stop(client: TestClient) -> None:
    mid = _metric(client)
    assert _search(client, f"metric_id={mid}&granularity=2s&aggregation=max&refresh=true", {">=": 12}) == {
        mid: [[_t("14:34:12"), 2.0, 12.0], [_t("14:34:14"), 2.0, 20.0]]}
    assert _search(client, f"metric_id={mid}&granularity=1s&granularity=2&granularity=1", {"<": 10}) == {
        mid: [[_t("14:34:12"), 2.0, 8.5], [_t("14:34:13"), 1.0, 5.0]]}
    assert _search(client, f"metric_id={mid}&granularity=1&start=2014-10-06T14:34:13&stop=2014-10-06T14:34:15",
                   {">": 0}) == {mid: [[_t("14:34:13"), 1.0, 5.0], [_t("14:34:14"), 1.0, 12.0]]}


def test_several_metrics_and_one_without_measures(client: TestClient) -> None:
    first = _metric(client)
    second = _metric(client, [("2014-10-06T14:34:12", 12), ("2014-10-06T14:34:13", 13)])
    empty = _metric(client, [])
    result = _search(client, f"metric_id={first}&metric_id={second}&metric_id={empty}&granularity=1&refresh=true",
                     {"=": 12})
    assert result == {first: [[_t("14:34:12"), 1.0, 12.0], [_t("14:34:14"), 1.0, 12.0]],
                      second: [[_t("14:34:12"), 1.0, 12.0]], empty: []}
    assert list(result) == [first, second, empty]


def test_pending_measures_are_searched_after_refresh(client: TestClient) -> None:
    mid = _metric(client, [])
    r = client.post(f"/v1/metric/{mid}/measures", json=[{"timestamp": "2014-10-06T14:34:12", "value": 3}])
    assert r.status_code == 202
    assert _search(client, f"metric_id={mid}&granularity=1&refresh=true", {"=": 3}) == {
        mid: [[_t("14:34:12"), 1.0, 3.0]]}


@pytest.mark.parametrize(("body", "reason", "detail"), [
    ({"=": "12"}, "expected a number or a list of two operands, got str", ["="]),
    ({"nope": 1}, "Unknown operator nope", ["nope"]),
    ({"and": [{"=": [1, 2, 3]}]}, "Binary operator = needs 2 arguments, 3 given", ["and", "0", "="]),
    ({}, "expected an object with exactly one operator, got 0 keys", []),
    ([1], "expected an object with exactly one operator, got list", []),
])
def test_invalid_query_names_the_problem(client: TestClient, body: object, reason: str, detail: list[str]) -> None:
    mid = _metric(client, [])
    error = _search(client, f"metric_id={mid}", body, status=400)
    assert error["description"] == {"cause": "Invalid input", "reason": reason, "detail": detail}


def test_bad_arguments_are_400_with_gnocchi_wording(client: TestClient) -> None:
    mid = _metric(client)
    unknown = "6b2c3a1e-0000-4000-8000-000000000000"
    cases = [
        ("", {"=": 1}, {"cause": "Argument value error", "reason": "At least one metric_id is required",
                        "detail": "metric_id"}),
        (f"metric_id={unknown}", {"=": 1}, {"cause": "Metric does not exist", "detail": {"metric": unknown}}),
        (f"metric_id={mid}&metric_id=foo", {"=": 1}, {"cause": "Metric does not exist", "detail": {"metric": "foo"}}),
        (f"metric_id={mid}&start=foobar", {"=": 1}, "Invalid value for start"),
        (f"metric_id={mid}&stop=3000-01-01", {"=": 1}, "Invalid value for stop: timestamp 3000-01-01 is out of "
         "range; Timestamp must be after Epoch (1970-01-01T00:00:00+00:00) and before 2261-01-01T00:00:00+00:00"),
        (f"metric_id={mid}&granularity=1s&granularity=300", {"=": 1},
         {"cause": "Aggregation does not exist", "detail": {"granularity": 300.0, "aggregation_method": "mean"}}),
        (f"metric_id={mid}&aggregation=min", {"=": 1},
         {"cause": "Aggregation does not exist", "detail": {"granularity": 2.0, "aggregation_method": "min"}}),
        (f"metric_id={mid}&granularity=soon", {"=": 1},
         {"cause": "Argument value error", "reason": "Unable to parse timespan", "detail": "granularity"}),
        (f"metric_id={mid}&granularity=0", {"=": 1},
         {"cause": "Argument value error", "reason": "Unable to parse timespan", "detail": "granularity"}),
        (f"metric_id={mid}&refresh=maybe", {"=": 1},
         {"cause": "Argument value error", "reason": "Unrecognized value 'maybe', acceptable values are 'true' or "
                                                     "'false'", "detail": "refresh"}),
    ]
    for query, body, description in cases:
        assert _search(client, query, body, status=400)["description"] == description, query


def test_missing_or_malformed_body(client: TestClient) -> None:
    mid = _metric(client, [])
    r = client.post(f"/v1/search/metric?metric_id={mid}", headers={**USER, "content-type": "application/json"})
    assert r.status_code == 400 and r.json()["description"] == "No query specified in body"
    r = client.post(f"/v1/search/metric?metric_id={mid}", content=b'{"=": ',
                    headers={**USER, "content-type": "application/json"})
    assert r.status_code == 400 and "Unable to decode body" in r.json()["description"]
    r = client.post(f"/v1/search/metric?metric_id={mid}", content=b"=1", headers={**USER, "content-type": "text/plain"})
    assert r.status_code == 415


def test_errors_are_plain_text_without_json_accept(client: TestClient) -> None:
    mid = _metric(client, [])
    r = client.post(f"/v1/search/metric?metric_id={mid}&start=foobar", json={"∧": [{"≥": 1000}]},
                    headers={**USER, "accept": "*/*"})
    assert r.status_code == 400 and r.headers["content-type"].startswith("text/plain")
    assert "Invalid value for start" in r.text


def test_needs_an_identity(client: TestClient) -> None:
    mid = _metric(client, [])
    r = client.post(f"/v1/search/metric?metric_id={mid}", json={"=": 1}, headers={"authorization": ""})
    assert r.status_code == 401
