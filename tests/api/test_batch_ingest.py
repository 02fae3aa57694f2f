"""Batches of measures: lookups whose cost does not grow with the number of resources, metrics created
together, and the fast decoder giving exactly what the generic one gives."""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import Iterator
from typing import Any

import msgspec
import numpy as np
import orjson
import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient

from telescale.api import measures, measures_body

T = "2026-12-01T12:00:00+00:00"


@contextlib.contextmanager
def statements(client: TestClient) -> Iterator[list[str]]:
    """The SQL statements the indexer runs meanwhile."""
    seen: list[str] = []
    engine = client.app.state.services.indexer._engine

    def record(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        seen.append(statement)

    sa.event.listen(engine, "before_cursor_execute", record)
    try:
        yield seen
    finally:
        sa.event.remove(engine, "before_cursor_execute", record)


def _resources(client: TestClient, n: int, metrics: dict[str, Any]) -> list[str]:
    ids = [str(uuid.uuid4()) for _ in range(n)]
    for rid in ids:
        r = client.post("/v1/resource/generic", json={"id": rid, "metrics": metrics})
        assert r.status_code == 201, r.text
    return ids


def _post(client: TestClient, body: dict, query: str = "") -> list[str]:
    with statements(client) as seen:
        r = client.post("/v1/batch/resources/metrics/measures" + query, json=body)
    assert r.status_code == 202, r.text
    return [s.split()[0].upper() for s in seen]


@pytest.mark.parametrize("client", ["sqlite"], indirect=True)
def test_known_metrics_of_many_resources_cost_the_same_queries_as_of_one(client: TestClient) -> None:
    ids = _resources(client, 12, {"cpu": {"archive_policy_name": "low"}, "mem": {"archive_policy_name": "low"}})
    measure = [{"timestamp": T, "value": 1.0}]
    one = _post(client, {ids[0]: {"cpu": measure, "mem": measure}})
    many = _post(client, {rid: {"cpu": measure, "mem": {"measures": measure}} for rid in ids})
    assert many == one
    assert many.count("SELECT") <= 2, many  # the named metrics, and the measures' metrics for the back window


@pytest.mark.parametrize("client", ["sqlite", "postgresql"], indirect=True)
def test_missing_metrics_of_many_resources_are_created_in_one_transaction(client: TestClient) -> None:
    ids = _resources(client, 8, {})
    body = {rid: {"cpu": [{"timestamp": T, "value": 1.0}],
                  "disk": {"archive_policy_name": "medium", "unit": "B", "measures": [{"timestamp": T, "value": 2}]}}
            for rid in ids}
    seen = _post(client, body, "?create_metrics=true")
    assert seen.count("INSERT") == 1, seen
    for rid in ids:
        metrics = client.get(f"/v1/resource/generic/{rid}").json()["metrics"]
        assert set(metrics) == {"cpu", "disk"}
        disk = client.get(f"/v1/metric/{metrics['disk']}").json()
        assert (disk["archive_policy"]["name"], disk["unit"]) == ("medium", "B")
    assert _post(client, body, "?create_metrics=true").count("INSERT") == 0  # all there now


@pytest.mark.parametrize("client", ["sqlite"], indirect=True)
def test_unknown_resources_are_listed_after_the_known_ones_got_their_metrics(client: TestClient) -> None:
    """Ceilometer's publisher creates the resources a 400 lists, then sends the same batch again."""
    (known,) = _resources(client, 1, {})
    unknown = str(uuid.uuid4())
    body = {known: {"cpu": [{"timestamp": T, "value": 1}]}, unknown: {"cpu": [{"timestamp": T, "value": 1}]}}
    r = client.post("/v1/batch/resources/metrics/measures?create_metrics=true", json=body)
    assert r.status_code == 400, r.text
    assert r.json()["description"]["detail"] == [{"resource_id": unknown, "original_resource_id": unknown}]
    assert set(client.get(f"/v1/resource/generic/{known}").json()["metrics"]) == {"cpu"}


@pytest.mark.parametrize("body", [
    [{"timestamp": T, "value": 1}, {"timestamp": "2026-12-01T13:00:00.5Z", "value": -2.25}],
    [{"timestamp": "2026-12-01 12:00:00", "value": 3, "unit": "ignored"}],
    [{"timestamp": 1764590400, "value": 1}, {"timestamp": 1764590400.25, "value": 1e300}],
    [{"timestamp": "2026-12-01T12:00:00-05:30", "value": 0}, {"timestamp": "2026-12-01T12:00:00+01:00", "value": 0}],
    [{"timestamp": "2026-12-01T12:00", "value": 1}, {"timestamp": "2026-12-01", "value": 1}],
])
def test_struct_and_dict_decoding_give_the_same_arrays(body: list) -> None:
    raw = orjson.dumps(body)
    fast = measures_body.MEASURES.decode(raw)
    assert measures_body.columns(fast) is not None  # the fast path is taken
    ts_fast, v_fast = measures.parse_measures(fast)
    ts_dict, v_dict = measures.parse_measures(orjson.loads(raw))
    np.testing.assert_array_equal(ts_fast, ts_dict)
    np.testing.assert_array_equal(v_fast, v_dict)


@pytest.mark.parametrize("raw", [
    b'[{"timestamp": "2026-12-01T12:00:00", "value": "1.5"}]',  # numbers in strings: the dict path accepts them
    b'[{"timestamp": "2026-12-01T12:00:00", "value": true}]',
    b'[{"timestamp": "2026-12-01T12:00:00"}]',
    b'{"timestamp": "2026-12-01T12:00:00", "value": 1}',
])
def test_bodies_of_another_shape_go_the_generic_way(raw: bytes) -> None:
    with pytest.raises(msgspec.ValidationError):
        measures_body.MEASURES.decode(raw)


@pytest.mark.parametrize("client", ["sqlite"], indirect=True)
def test_values_sent_as_strings_are_still_accepted(client: TestClient) -> None:
    """What the fast decoder refuses is not refused: the generic path decides, as before."""
    mid = client.post("/v1/metric", json={"archive_policy_name": "low"}).json()["id"]
    r = client.post(f"/v1/metric/{mid}/measures", json=[{"timestamp": T, "value": "1.5"}])
    assert r.status_code == 202, r.text
