"""`POST /v1/otlp/v1/metrics`: OTLP/HTTP exports stored and read back through `/v1`, and the answers the OTLP
specification asks for (200 with partial_success, 400, 415)."""

from __future__ import annotations

import gzip
import json
from urllib.parse import quote

from fastapi.testclient import TestClient
from google.protobuf import json_format
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import (
    ExportMetricsServiceRequest,
    ExportMetricsServiceResponse,
)

from tests.api.conftest import USER

URL = "/v1/otlp/v1/metrics"
T0 = 1_795_435_200  # seconds, on a 5 minute boundary
PROTOBUF = {"content-type": "application/x-protobuf"}


def export(*metrics: dict, service: str = "shop", host: str = "web-1") -> dict:
    """An ExportMetricsServiceRequest in OTLP/JSON."""
    attributes = [{"key": "service.name", "value": {"stringValue": service}},
                  {"key": "host.name", "value": {"stringValue": host}}]
    return {"resourceMetrics": [{"resource": {"attributes": attributes},
                                 "scopeMetrics": [{"metrics": list(metrics)}]}]}


def gauge(name: str, *values: float, unit: str = "") -> dict:
    return {"name": name, "unit": unit, "gauge": {"dataPoints": [
        {"timeUnixNano": str((T0 + 60 * i) * 10**9), "asDouble": v} for i, v in enumerate(values)]}}


def protobuf(body: dict) -> bytes:
    return json_format.ParseDict(body, ExportMetricsServiceRequest()).SerializeToString()


def measures(client: TestClient, resource: str, metric: str, **params: str) -> list:
    r = client.get(f"/v1/resource/otlp/{resource}/metric/{quote(metric, safe='')}/measures",
                   params={"refresh": "true", **params})
    assert r.status_code == 200, r.text
    return r.json()


def test_protobuf_export_is_stored_under_an_otlp_resource_and_answered_in_protobuf(client: TestClient) -> None:
    r = client.post(URL, content=protobuf(export(gauge("queue.depth", 12, 14, unit="1"))), headers=PROTOBUF)
    assert r.status_code == 200, r.text
    assert r.headers["content-type"] == "application/x-protobuf"
    assert not ExportMetricsServiceResponse.FromString(r.content).HasField("partial_success")
    resource = client.get("/v1/resource/otlp/shop@web-1").json()
    assert (resource["service_name"], resource["host_name"], list(resource["metrics"])) == (
        "shop", "web-1", ["queue.depth"])
    assert client.get(f"/v1/metric/{resource['metrics']['queue.depth']}").json()["unit"] == "1"
    assert measures(client, "shop@web-1", "queue.depth") == [["2026-11-23T12:00:00+00:00", 300.0, 13.0]]


def test_json_export_with_histogram_and_delta_sum_gzipped(client: TestClient) -> None:
    histogram = {"name": "latency", "unit": "ms", "histogram": {"aggregationTemporality": 2, "dataPoints": [
        {"timeUnixNano": str(T0 * 10**9), "count": "3", "sum": 7.5, "bucketCounts": ["1", "2"],
         "explicitBounds": [2.0], "attributes": [{"key": "route", "value": {"stringValue": "home"}}]}]}}
    delta = {"name": "bytes", "sum": {"aggregationTemporality": 1, "isMonotonic": True, "dataPoints": [
        {"timeUnixNano": str(T0 * 10**9), "asInt": "100"}, {"timeUnixNano": str((T0 + 60) * 10**9), "asInt": "50"}]}}
    body = gzip.compress(json.dumps(export(histogram, delta)).encode())
    r = client.post(URL, content=body, headers={"content-type": "application/json", "content-encoding": "gzip"})
    assert (r.status_code, r.headers["content-type"], r.json()) == (200, "application/json", {})
    names = sorted(client.get("/v1/resource/otlp/shop@web-1").json()["metrics"])
    assert names == ["bytes", 'latency.bucket{le="+Inf",route="home"}', 'latency.bucket{le="2",route="home"}',
                     'latency.count{route="home"}', 'latency.sum{route="home"}']
    assert measures(client, "shop@web-1", 'latency.bucket{le="+Inf",route="home"}')[0][2] == 3.0
    assert measures(client, "shop@web-1", "bytes", aggregation="sum")[0][2] == 150.0


def test_bad_points_are_counted_in_partial_success_and_the_good_ones_kept(client: TestClient) -> None:
    body = export(gauge("ok", 1.0), {"name": "late", "gauge": {"dataPoints": [{"asDouble": 1}]}})
    r = client.post(URL, json=body)
    assert r.status_code == 200
    assert r.json() == {"partialSuccess": {
        "rejectedDataPoints": "1",
        "errorMessage": "1 data points rejected: metric late: time_unix_nano 0 is missing or out of range"}}
    assert list(client.get("/v1/resource/otlp/shop@web-1").json()["metrics"]) == ["ok"]


def test_undecodable_bodies_are_400_and_other_media_types_415(client: TestClient) -> None:
    r = client.post(URL, content=b"\xff\xff\xff", headers=PROTOBUF)
    assert r.status_code == 400 and "Unable to decode the application/x-protobuf body" in r.json()["description"]
    r = client.post(URL, content=b'{"resourceMetrics": {}}', headers={"content-type": "application/json"})
    assert r.status_code == 400 and "resourceMetrics" in r.json()["description"]
    r = client.post(URL, content=b"x", headers={"content-type": "text/plain"})
    assert r.status_code == 415 and "Content-Type text/plain is not supported" in r.json()["description"]
    r = client.post(URL, content=protobuf(export()), headers={**PROTOBUF, "content-encoding": "zstd"})
    assert r.status_code == 415 and "Content-Encoding zstd" in r.json()["description"]
    assert client.get("/v1/resource/generic").json() == []


def test_an_export_without_points_answers_200_and_writes_nothing(client: TestClient) -> None:
    r = client.post(URL, content=b"", headers=PROTOBUF)
    assert (r.status_code, r.content) == (200, b"")


def test_each_caller_gets_its_own_resources_and_a_metric_without_policy_is_a_400(client: TestClient) -> None:
    assert client.post(URL, json=export(gauge("g", 1.0)), headers=USER).status_code == 200
    mine = client.get("/v1/resource/otlp/shop@web-1", headers=USER).json()
    assert mine["creator"] == "foobar"
    assert client.get("/v1/resource/otlp/shop@web-1").status_code == 404  # the admin's id maps elsewhere
    assert client.delete("/v1/archive_policy_rule/default").status_code == 204
    r = client.post(URL, json=export(gauge("unmatched", 1.0)), headers=USER)
    assert r.status_code == 400 and "no archive policy rule found matching the metric name unmatched" in r.text


def test_a_resource_id_taken_by_another_type_is_a_409(client: TestClient) -> None:
    assert client.post("/v1/resource/generic", json={"id": "shop@web-1"}).status_code == 201
    r = client.post(URL, json=export(gauge("g", 1.0)))
    assert r.status_code == 409 and "exists with type generic, not otlp" in r.json()["description"]["reason"]
