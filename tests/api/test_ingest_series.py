"""`telescale.ingest.series`, the helper every ingest protocol writes through, called as a route calls it."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from fastapi.testclient import TestClient
from starlette.requests import Request

from telescale.api.auth import Identity
from telescale.api.errors import ApiError
from telescale.ingest import series
from telescale.ingest.series import SeriesBatch
from tests.api.conftest import make_client

ADMIN = Identity(user="admin", roles=frozenset({"admin"}))
T0 = 1_795_435_200 * 10**9  # 2026-11-23T12:00:00Z


@pytest.fixture
def api(tmp_path: Path) -> Iterator[TestClient]:
    with make_client(tmp_path) as client:
        assert client.post("/v1/resource_type", json={"name": "host", "attributes": {
            "hostname": {"type": "string", "required": True}}}).status_code == 201
        yield client


def request(client: TestClient) -> Request:
    return Request({"type": "http", "app": client.app, "method": "POST", "path": "/", "query_string": b"",
                    "headers": [(b"accept", b"application/json")]})


def batch(resource: str, metric: str, values: list[float], **options) -> SeriesBatch:
    stamps = T0 + np.arange(len(values), dtype=np.int64) * 60 * 10**9
    return SeriesBatch("host", resource, metric, stamps, np.array(values, dtype=np.float64), **options)


def test_resources_and_metrics_are_created_then_written_in_one_batch(api: TestClient) -> None:
    response = series.write_series(request(api), ADMIN, [
        batch("web-1", "load", [1.0, 2.0], attributes={"hostname": "web-1.example"}, unit="1",
              archive_policy_name="high"),
        batch("web-1", "temp", [40.0], attributes={"hostname": "web-1.example"}),
        batch("web-2", "load", [5.0], attributes={"hostname": "web-2.example"})])
    assert response.status_code == 202
    web1 = api.get("/v1/resource/host/web-1").json()
    assert web1["hostname"] == "web-1.example" and sorted(web1["metrics"]) == ["load", "temp"]
    load = api.get(f"/v1/metric/{web1['metrics']['load']}").json()
    assert (load["unit"], load["archive_policy"]["name"]) == ("1", "high")
    temp = api.get(f"/v1/metric/{web1['metrics']['temp']}").json()
    assert temp["archive_policy"]["name"] == "low"  # by the default rule
    rows = api.get("/v1/resource/host/web-1/metric/load/measures?refresh=true&granularity=60").json()
    assert [row[2] for row in rows] == [1.0, 2.0]
    # a second write goes to the same metrics (found in the per-process cache)
    series.write_series(request(api), ADMIN, [batch("web-1", "load", [3.0, 4.0, 5.0])])
    rows = api.get("/v1/resource/host/web-1/metric/load/measures?refresh=true&granularity=60").json()
    assert [row[2] for row in rows] == [3.0, 4.0, 5.0]


@pytest.mark.parametrize(("bad", "status", "says"), [
    (batch("web-3", "load", [1.0]), 400, "hostname"),  # a required attribute is missing
    (batch("web-3", "a/b", [1.0], attributes={"hostname": "h"}), 400, "contains '/'"),
    (batch("web-3", "load", [1.0], attributes={"hostname": "h"}, archive_policy_name="nope"), 400, "nope"),
    (batch("a/b", "load", [1.0], attributes={"hostname": "h"}), 400, "'/' is not supported in resource id"),
])
def test_bad_series_are_refused_with_a_reason(api: TestClient, bad: SeriesBatch, status: int, says: str) -> None:
    with pytest.raises(ApiError) as e:
        series.write_series(request(api), ADMIN, [bad])
    assert e.value.status == status and says in str(e.value.description)


def test_an_id_taken_by_a_resource_of_another_type_is_a_conflict(api: TestClient) -> None:
    assert api.post("/v1/resource/generic", json={"id": "web-9"}).status_code == 201
    with pytest.raises(ApiError) as e:
        series.write_series(request(api), ADMIN, [batch("web-9", "load", [1.0], attributes={"hostname": "h"})])
    assert e.value.status == 409


def test_a_missing_resource_type_is_created_by_ensure_resource_type(api: TestClient) -> None:
    series.ensure_resource_type(request(api), ADMIN, "collectd", {"plugin": {"type": "string", "required": False}})
    assert api.get("/v1/resource_type/collectd").json()["attributes"]["plugin"]["required"] is False
    series.ensure_resource_type(request(api), ADMIN, "collectd", {})  # exists: nothing happens
