"""OTLP metrics requests to series: decoding (protobuf, JSON, gzip), and the mapping of each kind of metric."""

from __future__ import annotations

import gzip
import json
import math

import numpy as np
import pytest
from google.protobuf import json_format
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import (
    ExportMetricsServiceRequest,
    ExportMetricsServiceResponse,
)
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue
from opentelemetry.proto.metrics.v1 import metrics_pb2 as pb

from telescale.ingest import otlp

T0 = 1_795_435_200_000_000_000
LIMIT = 1 << 20
CUMULATIVE = pb.AGGREGATION_TEMPORALITY_CUMULATIVE
DELTA = pb.AGGREGATION_TEMPORALITY_DELTA


def kv(key: str, value: object) -> KeyValue:
    if isinstance(value, bool):
        return KeyValue(key=key, value=AnyValue(bool_value=value))
    if isinstance(value, int):
        return KeyValue(key=key, value=AnyValue(int_value=value))
    return KeyValue(key=key, value=AnyValue(string_value=str(value)))


def request(*metrics: pb.Metric, **resource: str) -> ExportMetricsServiceRequest:
    attributes = [kv(k.replace("_", "."), v) for k, v in resource.items()]
    return ExportMetricsServiceRequest(resource_metrics=[pb.ResourceMetrics(
        resource={"attributes": attributes}, scope_metrics=[pb.ScopeMetrics(metrics=list(metrics))])])


def points(decoded: otlp.Decoded) -> dict[str, list[tuple[int, float]]]:
    return {b.metric: list(zip(b.timestamps.tolist(), b.values.tolist(), strict=True)) for b in decoded.batches}


def gauge(name: str, *values: float, unit: str = "", **attributes: str) -> pb.Metric:
    return pb.Metric(name=name, unit=unit, gauge=pb.Gauge(data_points=[
        pb.NumberDataPoint(time_unix_nano=T0 + i, as_double=v, attributes=[kv(k, a) for k, a in attributes.items()])
        for i, v in enumerate(values)]))


def test_protobuf_body_decodes_to_the_resource_and_its_gauges() -> None:
    body = request(gauge("queue.depth", 12.0, 13.5, unit="1"), service_name="shop", host_name="web-1")
    message = otlp.decode(body.SerializeToString(), otlp.PROTOBUF, None, LIMIT)
    decoded = otlp.to_series(message)
    (batch,) = decoded.batches
    assert (batch.resource_type, batch.resource_id, batch.metric, batch.unit) == ("otlp", "shop@web-1",
                                                                                  "queue.depth", "1")
    assert batch.attributes == {"service_name": "shop", "host_name": "web-1"}
    assert batch.timestamps.dtype == np.int64 and batch.values.dtype == np.float64
    assert points(decoded) == {"queue.depth": [(T0, 12.0), (T0 + 1, 13.5)]}
    assert decoded.rejected == 0 and decoded.message == ""


def test_json_body_as_exporters_send_it_integers_as_strings_and_enums_as_numbers() -> None:
    body = {"resourceMetrics": [{"resource": {"attributes": [
        {"key": "service.name", "value": {"stringValue": "shop"}},
        {"key": "service.instance.id", "value": {"stringValue": "i-1"}}]},
        "scopeMetrics": [{"scope": {"name": "x"}, "metrics": [{"name": "requests", "sum": {
            "aggregationTemporality": 2, "isMonotonic": True, "dataPoints": [
                {"timeUnixNano": str(T0), "asInt": "41", "unknownField": 1}]}}]}]}]}
    message = otlp.decode(json.dumps(body).encode(), otlp.JSON, None, LIMIT)
    decoded = otlp.to_series(message)
    assert decoded.batches[0].resource_id == "shop@i-1"
    assert points(decoded) == {"requests": [(T0, 41.0)]}


def test_gzip_bodies_are_inflated_within_the_size_limit() -> None:
    raw = request(gauge("g", 1.0)).SerializeToString()
    assert otlp.decode(gzip.compress(raw), otlp.PROTOBUF, "gzip", LIMIT) == otlp.decode(raw, otlp.PROTOBUF, None,
                                                                                          LIMIT)
    bomb = gzip.compress(b"\0" * 10_000)
    with pytest.raises(otlp.OtlpError) as e:
        otlp.decode(bomb, otlp.PROTOBUF, "gzip", 1000)
    assert e.value.status == 413


@pytest.mark.parametrize(("body", "media", "encoding", "status", "says"), [
    (b"\xff\xff\xff", otlp.PROTOBUF, None, 400, "Unable to decode"),
    (b"{not json", otlp.JSON, None, 400, "Unable to decode"),
    (b'{"resourceMetrics": 3}', otlp.JSON, None, 400, "resourceMetrics"),
    (b"plain", otlp.PROTOBUF, "gzip", 400, "not gzip data"),
    (gzip.compress(b"x")[:-6], otlp.PROTOBUF, "gzip", 400, "truncated"),
    (b"", otlp.PROTOBUF, "br", 415, "Content-Encoding br"),
])
def test_undecodable_bodies_name_the_problem(body: bytes, media: str, encoding: str | None, status: int,
                                             says: str) -> None:
    with pytest.raises(otlp.OtlpError) as e:
        otlp.decode(body, media, encoding, LIMIT)
    assert e.value.status == status and says in str(e.value)


def test_media_types_other_than_protobuf_and_json_are_415() -> None:
    assert otlp.media_type("application/json; charset=utf-8") == otlp.JSON
    assert otlp.media_type("Application/X-Protobuf") == otlp.PROTOBUF
    for other in ("text/plain", None, "application/grpc"):
        with pytest.raises(otlp.OtlpError) as e:
            otlp.media_type(other)
        assert e.value.status == 415


def test_data_point_attributes_make_one_metric_per_attribute_set() -> None:
    metric = pb.Metric(name="http.requests", gauge=pb.Gauge(data_points=[
        pb.NumberDataPoint(time_unix_nano=T0, as_int=1, attributes=[kv("status", 200), kv("method", "GET")]),
        pb.NumberDataPoint(time_unix_nano=T0, as_int=2, attributes=[kv("method", "GET"), kv("status", 200)]),
        pb.NumberDataPoint(time_unix_nano=T0, as_int=3, attributes=[kv("path", "/a/b"), kv("ok", True)])]))
    assert points(otlp.to_series(request(metric))) == {
        'http.requests{method="GET",status="200"}': [(T0, 1.0), (T0, 2.0)],
        'http.requests{ok="true",path="%2Fa%2Fb"}': [(T0, 3.0)]}


@pytest.mark.parametrize("temporality", [CUMULATIVE, DELTA])
def test_sums_are_stored_as_sent_whatever_their_temporality(temporality: int) -> None:
    metric = pb.Metric(name="bytes", unit="By", sum=pb.Sum(aggregation_temporality=temporality, is_monotonic=True,
                                                          data_points=[
        pb.NumberDataPoint(start_time_unix_nano=T0 - 10, time_unix_nano=T0, as_int=100),
        pb.NumberDataPoint(start_time_unix_nano=T0 - 10, time_unix_nano=T0 + 10, as_int=250)]))
    decoded = otlp.to_series(request(metric))
    assert points(decoded) == {"bytes": [(T0, 100.0), (T0 + 10, 250.0)]}
    assert decoded.batches[0].unit == "By"


def test_histograms_become_count_sum_min_max_and_cumulative_buckets() -> None:
    metric = pb.Metric(name="latency", unit="ms", histogram=pb.Histogram(aggregation_temporality=DELTA, data_points=[
        pb.HistogramDataPoint(time_unix_nano=T0, count=6, sum=40.5, min=0.5, max=20.0, bucket_counts=[1, 3, 2],
                              explicit_bounds=[1.0, 7.5], attributes=[kv("route", "/")])]))
    decoded = otlp.to_series(request(metric))
    assert points(decoded) == {
        'latency.count{route="%2F"}': [(T0, 6.0)], 'latency.sum{route="%2F"}': [(T0, 40.5)],
        'latency.min{route="%2F"}': [(T0, 0.5)], 'latency.max{route="%2F"}': [(T0, 20.0)],
        'latency.bucket{le="1",route="%2F"}': [(T0, 1.0)], 'latency.bucket{le="7.5",route="%2F"}': [(T0, 4.0)],
        'latency.bucket{le="+Inf",route="%2F"}': [(T0, 6.0)]}
    units = {b.metric: b.unit for b in decoded.batches}
    assert units['latency.sum{route="%2F"}'] == "ms" and units['latency.count{route="%2F"}'] is None


def test_a_histogram_whose_buckets_do_not_match_its_bounds_is_rejected() -> None:
    metric = pb.Metric(name="h", histogram=pb.Histogram(data_points=[
        pb.HistogramDataPoint(time_unix_nano=T0, count=1, bucket_counts=[1], explicit_bounds=[1.0, 2.0])]))
    decoded = otlp.to_series(request(metric))
    assert decoded.batches == [] and decoded.rejected == 1
    assert "1 bucket counts for 2 explicit bounds" in decoded.message


def test_summaries_become_count_sum_and_one_metric_per_quantile() -> None:
    metric = pb.Metric(name="rpc", summary=pb.Summary(data_points=[pb.SummaryDataPoint(
        time_unix_nano=T0, count=10, sum=55.0, quantile_values=[
            pb.SummaryDataPoint.ValueAtQuantile(quantile=0.5, value=5.0),
            pb.SummaryDataPoint.ValueAtQuantile(quantile=0.99, value=9.9)])]))
    assert points(otlp.to_series(request(metric))) == {
        "rpc.count": [(T0, 10.0)], "rpc.sum": [(T0, 55.0)], 'rpc{quantile="0.5"}': [(T0, 5.0)],
        'rpc{quantile="0.99"}': [(T0, 9.9)]}


def test_exponential_histograms_keep_their_aggregates_and_say_the_buckets_are_not_stored() -> None:
    metric = pb.Metric(name="e", exponential_histogram=pb.ExponentialHistogram(data_points=[
        pb.ExponentialHistogramDataPoint(time_unix_nano=T0, count=4, sum=8.0, scale=1)]))
    decoded = otlp.to_series(request(metric))
    assert points(decoded) == {"e.count": [(T0, 4.0)], "e.sum": [(T0, 8.0)]}
    assert decoded.rejected == 0 and "buckets of an exponential histogram are not stored" in decoded.message


def test_points_without_a_recorded_value_are_skipped_and_bad_points_counted_with_reasons() -> None:
    metric = pb.Metric(name="g", gauge=pb.Gauge(data_points=[
        pb.NumberDataPoint(time_unix_nano=T0, as_double=1.0),
        pb.NumberDataPoint(time_unix_nano=T0 + 1, as_double=2.0, flags=otlp.NO_RECORDED_VALUE),
        pb.NumberDataPoint(as_double=3.0),
        pb.NumberDataPoint(time_unix_nano=T0 + 3, as_double=math.nan),
        pb.NumberDataPoint(time_unix_nano=1 << 63, as_double=4.0)]))
    decoded = otlp.to_series(request(metric))
    assert points(decoded) == {"g": [(T0, 1.0)]}
    assert decoded.rejected == 3
    assert decoded.message.startswith("3 data points rejected: metric g: time_unix_nano 0 is missing")
    assert "and 0 more" not in decoded.message


def test_metrics_without_data_or_name_and_resources_with_overlong_ids_are_reported() -> None:
    decoded = otlp.to_series(request(pb.Metric(name="nothing"), pb.Metric(gauge=pb.Gauge(data_points=[
        pb.NumberDataPoint(time_unix_nano=T0, as_double=1.0)]))))
    assert decoded.batches == [] and decoded.rejected == 1
    assert "metric nothing has no gauge" in decoded.message and "a metric has no name" in decoded.message
    decoded = otlp.to_series(request(gauge("g", 1.0, 2.0), service_name="s" * 300))
    assert decoded.batches == [] and decoded.rejected == 2 and "longer than 289" in decoded.message


def test_resource_ids_default_to_unknown_service_and_never_contain_a_slash() -> None:
    assert otlp.to_series(request(gauge("g", 1.0))).batches[0].resource_id == "unknown_service"
    decoded = otlp.to_series(request(gauge("g", 1.0), service_name="a/b", service_instance_id="c/d", host_name="h"))
    assert decoded.batches[0].resource_id == "a_b@c_d"


def test_the_response_is_in_the_request_encoding_with_partial_success_only_when_needed() -> None:
    assert otlp.encode_response(otlp.PROTOBUF) == b""
    raw = otlp.encode_response(otlp.PROTOBUF, 2, "2 data points rejected: x")
    response = ExportMetricsServiceResponse.FromString(raw)
    assert (response.partial_success.rejected_data_points, response.partial_success.error_message) == (
        2, "2 data points rejected: x")
    assert json.loads(otlp.encode_response(otlp.JSON)) == {}
    parsed = json_format.Parse(otlp.encode_response(otlp.JSON, 1, "m"), ExportMetricsServiceResponse())
    assert parsed.partial_success.rejected_data_points == 1
