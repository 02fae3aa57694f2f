"""Errors a person can act on: the exact text a client sees names the entry, the key and what to send.

Where Gnocchi's clients (and its conformance suite) match Gnocchi's own text, that text is kept and a
`hint` beside the description says what exactly is wrong.
"""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient

import telescale
from tests.api.test_bad_input import new_metric

RID = "5a301761-f78b-46e2-8900-8b4f6fe6675a"
T = "2026-12-01T12:00:00"
OUT_OF_RANGE = "Timestamp must be after Epoch (1970-01-01T00:00:00+00:00) and before 2261-01-01T00:00:00+00:00"
FORMAT = {"cause": "Invalid input", "reason": "unexpected measures format", "detail": []}


def _error(r: Any, status: int = 400) -> dict[str, Any]:
    assert r.status_code == status, r.text
    return r.json()


@pytest.mark.parametrize(("body", "hint"), [
    ([{"timestamp": T, "vaule": 1}], "measures[0]: unknown key 'vaule' (expected 'timestamp', 'value')"),
    ([{"timestamp": T, "value": 1}] * 3 + [{"timestamp": T}], "measures[3]: missing key 'value'"),
    ([{"timestamp": T, "value": 1}, [T, 1]], "measures[1]: expected an object with 'timestamp', 'value', got a list"),
    ([{"timestamp": T, "value": 1}, "x"], "measures[1]: expected an object with 'timestamp', 'value', got a string"),
    ({"timestamp": T, "value": 1}, "measures: expected a list of objects, got an object"),
])
def test_measure_entries_name_position_and_key(client: TestClient, body: Any, hint: str) -> None:
    mid = new_metric(client)
    err = _error(client.post(f"/v1/metric/{mid}/measures", json=body))
    assert (err["description"], err["hint"]) == (FORMAT, hint)


def test_bad_value_names_its_position(client: TestClient) -> None:
    mid = new_metric(client)
    body = [{"timestamp": T, "value": 1}, {"timestamp": T, "value": "12,5"}]
    err = _error(client.post(f"/v1/metric/{mid}/measures", json=body))
    assert err["description"]["reason"] == 'unexpected measures value: measures[1]: value "12,5" is not a number'


def test_batches_say_which_metric_or_resource(client: TestClient) -> None:
    good, bad = new_metric(client), new_metric(client)
    body = {good: [{"timestamp": T, "value": 1}], bad: [{"timestamp": T, "value": 1}, {"timestamp": T}]}
    err = _error(client.post("/v1/batch/metrics/measures", json=body))
    assert (err["description"], err["hint"]) == (FORMAT, f"metric {bad}: measures[1]: missing key 'value'")

    client.post("/v1/resource/generic", json={"id": RID, "metrics": {"cpu": {"archive_policy_name": "low"}}})
    body = {RID: {"cpu": [{"timestamp": 1764590400000, "value": 1}]}}
    err = _error(client.post("/v1/batch/resources/metrics/measures", json=body))
    assert err["description"]["reason"] == (f"resource {RID} metric cpu: timestamp 1764590400000 is out of range; "
                                             "it looks like milliseconds since the epoch: send seconds (1764590400.0)")


@pytest.mark.parametrize(("ts", "unit", "seconds"), [
    (1764590400000, "milliseconds", "1764590400.0"),
    (1764590400123456, "microseconds", "1764590400.123456"),
    (1764590400000000000, "nanoseconds", "1764590400.0"),
    ("1764590400000", "milliseconds", "1764590400.0"),
])
def test_epoch_in_milliseconds_says_what_to_send(client: TestClient, ts: Any, unit: str, seconds: str) -> None:
    mid = new_metric(client)
    err = _error(client.post(f"/v1/metric/{mid}/measures", json=[{"timestamp": ts, "value": 1}]))
    assert err["description"]["reason"] == (f"timestamp {ts} is out of range; it looks like {unit} since the epoch: "
                                            f"send seconds ({seconds})")


@pytest.mark.parametrize("ts", ["1915-03-06T14:33:57", "2300-06-01", -5, "9999-01-01T00:00:00"])
def test_one_message_for_every_out_of_range_timestamp(client: TestClient, ts: Any) -> None:
    """Measures, query arguments and searches all say the same, naming the value sent."""
    message = f"timestamp {ts} is out of range; {OUT_OF_RANGE}"
    mid = new_metric(client)
    err = _error(client.post(f"/v1/metric/{mid}/measures", json=[{"timestamp": ts, "value": 1}]))
    assert err["description"] == {"cause": "Invalid input", "reason": message, "detail": []}
    err = _error(client.get(f"/v1/metric/{mid}/measures", params={"start": ts}))
    assert err["description"] == {"cause": "Argument value error", "reason": message, "detail": "start"}
    err = _error(client.post("/v1/aggregates", params={"stop": ts}, json={"operations": f"(metric {mid} mean)"}))
    assert err["description"] == {"cause": "Argument value error", "reason": message, "detail": "stop"}
    err = _error(client.post("/v1/search/metric", params={"metric_id": mid, "start": ts}, json={"=": 1}))
    assert err["description"] == f"Invalid value for start: {message}"
    err = _error(client.post("/v1/search/resource/generic", json={"=": {"started_at": ts}}))
    assert message in str(err["description"])


def test_before_epoch_keeps_gnocchis_words_in_plain_text(client: TestClient) -> None:
    """Clients that do not ask for JSON get Gnocchi's text/plain page; upstream looks for its sentence."""
    mid = new_metric(client)
    r = client.post(f"/v1/metric/{mid}/measures", json=[{"timestamp": "1915-03-06T14:33:57", "value": 1}],
                    headers={"accept": "*/*"})
    assert r.status_code == 400 and r.headers["content-type"].startswith("text/plain")
    assert "Timestamp must be after Epoch" in r.text


def test_plain_text_and_json_carry_the_same_error(client: TestClient) -> None:
    mid = new_metric(client)
    body = [{"timestamp": T, "vaule": 1}]
    hint = "measures[0]: unknown key 'vaule' (expected 'timestamp', 'value')"
    r = client.post(f"/v1/metric/{mid}/measures", json=body, headers={"accept": "application/json"})
    assert r.headers["content-type"] == "application/json"
    assert r.json() == {"code": 400, "title": "Bad Request", "description": FORMAT, "hint": hint}
    r = client.post(f"/v1/metric/{mid}/measures", json=body, headers={"accept": "*/*"})
    assert r.headers["content-type"].startswith("text/plain")
    assert r.text == (
        "400 Bad Request\n\nThe server could not comply with the request since it is either malformed or "
        "otherwise incorrect.\n\n"
        ' {"cause": "Invalid input", "reason": "unexpected measures format", "detail": []}\n\n'
        f" {hint}\n")


def test_bad_groupby_names_the_attribute(client: TestClient) -> None:
    r = client.post("/v1/resource_type", json={"name": "instance", "attributes": {"flavor": {"type": "string"}}})
    assert r.status_code == 201, r.text
    hint = "groupby: unknown attribute 'flavour' of resource type 'instance'"
    err = _error(client.post("/v1/aggregates", params={"groupby": "flavour"}, json={
        "operations": "(metric cpu mean)", "resource_type": "instance", "search": {}}))
    assert (err["description"], err["hint"]) == ("Invalid pagination: `Sort key supplied is invalid: flavour'", hint)
    err = _error(client.post("/v1/aggregation/resource/instance/metric/cpu", params={"groupby": "flavour"}, json={}))
    assert (err["description"], err["hint"]) == ("Invalid groupby attribute", hint)


@pytest.mark.parametrize(("path", "body"), [
    ("/v1/batch/metrics/measures", {}),
    ("/v1/batch/resources/metrics/measures", {}),
    ("/v1/batch/resources/metrics/measures", {RID: {}}),
    ("/v1/batch/resources/metrics/measures?create_metrics=true", {RID: {}}),
])
def test_empty_batches_are_accepted(client: TestClient, path: str, body: dict) -> None:
    """Gnocchi answers 202 to a batch with nothing in it; this used to be a 500."""
    client.post("/v1/resource/generic", json={"id": RID})
    r = client.post(path, json=body)
    assert (r.status_code, r.content) == (202, b"")


def test_root_carries_the_build_version(client: TestClient) -> None:
    """gnocchiclient reads the server version from `build`: the Gnocchi API level, then Telescale's version."""
    from packaging.version import Version

    body = client.get("/").json()
    assert body["build"] == f"4.7.1+telescale.{telescale.__version__}"
    build = Version(body["build"])
    assert build >= Version("4.7.1") and build.local == f"telescale.{telescale.__version__}"
    assert body["versions"][0]["id"] == "v1.0"
