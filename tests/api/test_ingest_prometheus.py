"""`POST /v1/prometheus/write` in process: Gnocchi's mapping, the labels mode, what is dropped and told, bad bodies."""

from __future__ import annotations

import struct
from pathlib import Path
from urllib.parse import quote

import cramjam
import pytest
from fastapi.testclient import TestClient

from telescale.ingest import remote_pb2, remote_write
from tests.api.conftest import USER, make_client

HEADERS = {"content-type": "application/x-protobuf", "content-encoding": "snappy"}
STALE = struct.unpack("<d", struct.pack("<Q", remote_write.STALE_NAN))[0]
T0 = 1_735_689_600_000  # 2025-01-01T00:00:00Z in ms


def body(*series: tuple[dict[str, str], list[tuple[int, float]]]) -> bytes:
    out = remote_pb2.WriteRequest()
    for labels, samples in series:
        ts = out.timeseries.add()
        ts.labels.extend(remote_pb2.Label(name=k, value=v) for k, v in sorted(labels.items()))
        ts.samples.extend(remote_pb2.Sample(timestamp=t, value=v) for t, v in samples)
    return bytes(cramjam.snappy.compress_raw(out.SerializeToString()))


def node(name: str, **labels: str) -> dict[str, str]:
    return {"__name__": name, "job": "node", "instance": "web:9100", **labels}


def with_policy(client: TestClient) -> TestClient:
    assert client.post("/v1/archive_policy", json={
        "name": "s", "aggregation_methods": ["last"], "definition": [{"granularity": "1 second"}]}).status_code == 201
    assert client.post("/v1/archive_policy_rule", json={
        "name": "all", "metric_pattern": "*", "archive_policy_name": "s"}).status_code == 201
    return client


@pytest.fixture
def api(client: TestClient) -> TestClient:
    return with_policy(client)


def measures(client: TestClient, resource: str, metric: str, **headers: str) -> list:
    response = client.get(f"/v1/resource/prometheus/{quote(resource, safe='')}/metric/{quote(metric, safe='')}"
                          "/measures?refresh=true&aggregation=last", headers=headers)
    assert response.status_code == 200, response.text
    return response.json()


def test_gnocchi_mapping_creates_resource_and_metrics(api: TestClient) -> None:
    response = api.post("/v1/prometheus/write", content=body(
        (node("up"), [(T0, 1.0), (T0 + 1000, 0.0)]),
        (node("load1"), [(T0, 0.5)])), headers=HEADERS)
    assert response.status_code == 202 and response.content == b""
    resources = api.get("/v1/resource/prometheus").json()
    assert [(r["job"], r["instance"], r["original_resource_id"], sorted(r["metrics"])) for r in resources] == [
        ("node", "web:9100", "node@web:9100", ["load1", "up"])]
    assert measures(api, "node@web:9100", "up") == [
        ["2025-01-01T00:00:00+00:00", 1.0, 1.0], ["2025-01-01T00:00:01+00:00", 1.0, 0.0]]
    # the second request finds everything in the cache, and appends a metric to the existing resource
    api.post("/v1/prometheus/write", content=body((node("up"), [(T0 + 2000, 1.0)]), (node("new"), [(T0, 7.0)])),
             headers=HEADERS)
    assert measures(api, "node@web:9100", "up")[-1] == ["2025-01-01T00:00:02+00:00", 1.0, 1.0]
    assert measures(api, "node@web:9100", "new") == [["2025-01-01T00:00:00+00:00", 1.0, 7.0]]


def test_labels_mode_keeps_every_label_in_the_metric_name(api: TestClient) -> None:
    series = [(node("cpu_seconds_total", cpu="0", mode="idle"), [(T0, 10.0)]),
              (node("cpu_seconds_total", cpu="0", mode="user"), [(T0, 3.0)])]
    assert api.post("/v1/prometheus/write?metric_names=labels", content=body(*series),
                    headers=HEADERS).status_code == 202
    assert measures(api, "node@web:9100", 'cpu_seconds_total{cpu="0",mode="user"}') == [
        ["2025-01-01T00:00:00+00:00", 1.0, 3.0]]
    assert measures(api, "node@web:9100", 'cpu_seconds_total{cpu="0",mode="idle"}')[0][2] == 10.0


def test_drops_are_reported_to_a_client_asking_for_json(tmp_path: Path) -> None:
    with make_client(tmp_path) as client:
        with_policy(client)
        series = [(node("q", quantile="0.5"), [(T0, 1.0), (T0 + 1000, float("nan")), (T0 + 2000, STALE)]),
                  (node("q", quantile="0.9"), [(T0, 2.0)])]
        response = client.post("/v1/prometheus/write", content=body(*series), headers=HEADERS)
        assert response.status_code == 202
        assert response.json() == {"accepted": 1, "dropped": {"not_finite": 1, "duplicate_series": 1}}
        # as Gnocchi: of the series sharing a name in one request, the last one is kept
        assert measures(client, "node@web:9100", "q") == [["2025-01-01T00:00:00+00:00", 1.0, 2.0]]
        quiet = client.post("/v1/prometheus/write", content=body(*series), headers={**HEADERS, "accept": "*/*"})
        assert quiet.status_code == 202 and quiet.content == b""


def test_resources_belong_to_their_writer(tmp_path: Path) -> None:
    with make_client(tmp_path) as client:
        with_policy(client)
        payload = body((node("up"), [(T0, 1.0)]))
        # creating the resource type takes the admin (or service) role, as in Gnocchi
        assert client.post("/v1/prometheus/write", content=payload, headers={**HEADERS, **USER}).status_code == 403
        assert client.post("/v1/prometheus/write", content=payload, headers=HEADERS).status_code == 202
        assert client.post("/v1/prometheus/write", content=payload, headers={**HEADERS, **USER}).status_code == 202
        resources = client.get("/v1/resource/prometheus").json()
        assert sorted(r["creator"] for r in resources) == ["admin", "foobar"]
        assert len({r["id"] for r in resources}) == 2


def test_a_resource_of_another_type_with_that_id_is_a_conflict(tmp_path: Path) -> None:
    with make_client(tmp_path) as client:
        with_policy(client)
        assert client.post("/v1/resource/generic", json={"id": "node@web:9100"}).status_code == 201
        response = client.post("/v1/prometheus/write", content=body((node("up"), [(T0, 1.0)])), headers=HEADERS)
        assert response.status_code == 409
        assert response.json()["description"]["cause"] == "Resource already exists"


def test_without_an_archive_policy_rule_the_metric_is_refused(tmp_path: Path) -> None:
    with make_client(tmp_path, overrides=("indexer.create_default_archive_policies=false",)) as client:
        response = client.post("/v1/prometheus/write", content=body((node("up"), [(T0, 1.0)])), headers=HEADERS)
        assert response.status_code == 400
        assert "no archive policy rule found matching the metric name up" in response.text


def test_a_deleted_metric_is_created_again_when_the_cache_is_off(tmp_path: Path) -> None:
    with make_client(tmp_path, overrides=("ingest.series_cache_ttl=0",)) as client:
        with_policy(client)
        client.post("/v1/prometheus/write", content=body((node("up"), [(T0, 1.0)])), headers=HEADERS)
        first = client.get("/v1/resource/prometheus/node@web:9100").json()["metrics"]["up"]
        assert client.delete(f"/v1/metric/{first}").status_code == 204
        client.post("/v1/prometheus/write", content=body((node("up"), [(T0 + 1000, 2.0)])), headers=HEADERS)
        second = client.get("/v1/resource/prometheus/node@web:9100").json()["metrics"]["up"]
        assert second != first
        assert measures(client, "node@web:9100", "up") == [["2025-01-01T00:00:01+00:00", 1.0, 2.0]]


@pytest.mark.parametrize(("content", "headers", "status", "says"), [
    (b"not snappy at all", HEADERS, 400, "not snappy"),
    (bytes(cramjam.snappy.compress_raw(b"\x0a\x05ab")), HEADERS, 400, "not a protobuf WriteRequest"),
    (b"", HEADERS, 400, "empty body"),
    (body((node("up"), [(T0, 1.0)])), {**HEADERS, "content-encoding": "gzip"}, 415, "Content-Encoding"),
    (body((node("up"), [(T0, 1.0)])), {**HEADERS, "content-type": "application/json"}, 415, "Content-Type"),
    (body(({"__name__": "up", "job": "j"}, [(T0, 1.0)])), HEADERS, 400, "no instance label"),
    (body((node("up", instance="a/b"), [(T0, 1.0)])), HEADERS, 400, "'/' is not supported in resource id"),
])
def test_bad_requests_say_what_is_wrong(tmp_path: Path, content: bytes, headers: dict, status: int,
                                        says: str) -> None:
    with make_client(tmp_path) as client:
        with_policy(client)
        response = client.post("/v1/prometheus/write", content=content, headers=headers)
        assert response.status_code == status, response.text
        assert says in response.text


def test_bad_mode_and_oversized_body(tmp_path: Path) -> None:
    with make_client(tmp_path, overrides=("api.max_body_size=1000",)) as client:
        response = client.post("/v1/prometheus/write?metric_names=all", content=body(), headers=HEADERS)
        assert response.status_code == 400 and "metric_names must be one of gnocchi, labels" in response.text
        big = bytes(cramjam.snappy.compress_raw(b"\0" * 5000))
        response = client.post("/v1/prometheus/write", content=big, headers=HEADERS)
        assert response.status_code == 413 and "5000 bytes" in response.text


def test_an_empty_request_is_accepted(tmp_path: Path) -> None:
    with make_client(tmp_path) as client:
        assert client.post("/v1/prometheus/write", content=body(), headers=HEADERS).status_code == 202
