"""`/v1/influxdb` in process: ping, CREATE DATABASE (query string or form body), writes and their errors."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import quote

import pytest
from fastapi.testclient import TestClient

from tests.api.conftest import make_client
from tests.api.test_ingest_prometheus import with_policy

TEXT = {"content-type": "text/plain"}


@pytest.fixture
def api(tmp_path: Path) -> TestClient:
    with make_client(tmp_path) as client:
        yield with_policy(client)


def measures(client: TestClient, db: str, resource: str, metric: str) -> list:
    response = client.get(f"/v1/resource/{db}/{resource}/metric/{quote(metric, safe='')}/measures"
                          "?refresh=true&aggregation=last")
    assert response.status_code == 200, response.text
    return response.json()


def test_ping_without_credentials(tmp_path: Path) -> None:
    with make_client(tmp_path) as client:
        for method in ("GET", "HEAD"):
            response = client.request(method, "/v1/influxdb/ping", headers={"authorization": ""})
            assert response.status_code == 204
            assert response.headers["x-influxdb-version"].startswith("Telescale")


def test_create_database_from_the_form_body_as_influx_clients_send_it(api: TestClient) -> None:
    response = api.post("/v1/influxdb/query", content='q=CREATE+DATABASE+"telegraf"',
                        headers={"content-type": "application/x-www-form-urlencoded"})
    assert response.status_code == 204
    assert api.get("/v1/resource_type/telegraf").json()["attributes"] == {}
    assert api.post("/v1/influxdb/query?q=create+database+telegraf").status_code == 204  # exists: fine


def test_write_with_precision_and_tag_header(api: TestClient) -> None:
    api.post("/v1/influxdb/query?q=create+database+metrics")
    lines = "cpu,rack=r1,host=h1 user=12.5,sys=3i 1735689600\ncpu,rack=r1,host=h1 user=13 1735689601\n"
    response = api.post("/v1/influxdb/write?db=metrics&precision=s", content=lines,
                        headers={**TEXT, "X-Gnocchi-InfluxDB-Tag-Resource-ID": "rack"})
    assert response.status_code == 204, response.text
    assert measures(api, "metrics", "r1", "cpu.user@host=h1") == [
        ["2025-01-01T00:00:00+00:00", 1.0, 12.5], ["2025-01-01T00:00:01+00:00", 1.0, 13.0]]
    assert measures(api, "metrics", "r1", "cpu.sys@host=h1") == [["2025-01-01T00:00:00+00:00", 1.0, 3.0]]


@pytest.mark.parametrize(("path", "content", "status", "says"), [
    ("/v1/influxdb/write?db=nowhere", "m,host=h f=1", 404, "CREATE DATABASE nowhere"),
    ("/v1/influxdb/write?db=d&precision=weeks", "m,host=h f=1", 400, "precision must be one of"),
    ("/v1/influxdb/write?db=d", "m,host=h f=1\nm,h=x f=2", 400, "Unable to find key `host' in tags"),
    ("/v1/influxdb/write?db=d", "m,host=h f=1\nbroken", 400, "Unable to parse line 2"),
    ("/v1/influxdb/write?db=d", "m,host=a/b f=1", 400, "'/' is not supported in resource id"),
    ("/v1/influxdb/query?q=drop+database+d", "", 501, "Query not implemented"),
    ("/v1/influxdb/query", "", 400, "missing query"),
    ('/v1/influxdb/query?q=create+database+"a/b"', "", 400, "without '/'"),
])
def test_bad_requests_say_what_is_wrong(api: TestClient, path: str, content: str, status: int, says: str) -> None:
    api.post("/v1/influxdb/query?q=create+database+d")
    response = api.post(path, content=content, headers=TEXT)
    assert response.status_code == status, response.text
    assert says in response.text
