"""OTLP/HTTP metrics (`ExportMetricsServiceRequest`, protobuf or JSON, optionally gzipped) to named series.

The mapping, chosen so that every OTLP series lands in one Telescale metric and nothing is computed from
state a second API worker would not share:

* **Resource** — one resource of type ``otlp`` per ``service.name`` (``unknown_service`` when absent, as
  the SDKs say) and ``service.instance.id``, or ``host.name`` when there is no instance id: original id
  ``<service.name>@<instance>`` (``/`` becomes ``_``), attributes ``service_name``, ``service_namespace``,
  ``service_instance_id``, ``host_name``.  Other resource attributes are not stored.
* **Metric name** — the OTLP name, followed by the data point's attributes Prometheus-style
  (``http.requests{method="GET",status="200"}``, see :mod:`telescale.ingest.names`): each distinct
  attribute set is its own metric.  The OTLP unit becomes the metric's unit (when it fits in 31 characters).
* **Gauges** — stored as they are.
* **Sums** — stored as they are whatever their temporality: a *cumulative* sum keeps its running total
  (read its rate with a ``rate:*`` aggregation, which handles counter resets); a *delta* sum keeps each
  interval's increment (read the total per period with the ``sum`` aggregation).  Turning deltas into a
  running total would need the previous total, which only one process could own.
* **Histograms** — ``<name>.count``, ``<name>.sum``, ``<name>.min``, ``<name>.max`` (when sent) and one
  ``<name>.bucket{…,le="<bound>"}`` per bucket holding the *cumulative* count up to that bound (the last one
  ``le="+Inf"``), as Prometheus exposes them; temporality as for sums.
* **Exponential histograms** — their count, sum, min and max as for histograms; their buckets are not
  stored (the answer says so).
* **Summaries** — ``<name>.count``, ``<name>.sum`` and ``<name>{…,quantile="<q>"}`` per quantile.

Points flagged "no recorded value" carry no value and are skipped.  Points that cannot be stored (no
timestamp, NaN, a name too long …) are counted in the answer's ``partial_success`` with the first reasons.
"""

from __future__ import annotations

import math
import zlib
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import orjson
from google.protobuf import json_format
from google.protobuf.message import DecodeError
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import (
    ExportMetricsServiceRequest,
    ExportMetricsServiceResponse,
)

from telescale.api.ids import MAX_ORIGINAL_ID
from telescale.ingest import resource_types
from telescale.ingest.names import MAX_NAME, labelled
from telescale.ingest.series import SeriesBatch

PROTOBUF = "application/x-protobuf"
JSON = "application/json"
CONTENT_TYPES = (PROTOBUF, JSON)
NO_RECORDED_VALUE = 1  # DataPointFlags.DATA_POINT_FLAGS_NO_RECORDED_VALUE_MASK
MAX_UNIT = 31  # the indexer's unit column
MAX_TIME = np.iinfo(np.int64).max
MAX_REASONS = 3  # reasons quoted in partial_success.error_message
_RESOURCE_ATTRIBUTES = {"service.name": "service_name", "service.namespace": "service_namespace",
                        "service.instance.id": "service_instance_id", "host.name": "host_name"}


class OtlpError(Exception):
    """A request that cannot be read at all: its HTTP status and a message naming what is wrong."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


def media_type(content_type: str | None) -> str:
    """The request's media type, lower case without parameters; 415 unless OTLP/HTTP defines it."""
    media = (content_type or "").partition(";")[0].strip().lower()
    if media not in CONTENT_TYPES:
        raise OtlpError(415, f"Content-Type {content_type or '(none)'} is not supported: OTLP/HTTP sends "
                             f"{PROTOBUF} or {JSON}")
    return media


def _gunzip(body: bytes, limit: int) -> bytes:
    """A gzip body inflated to at most ``limit`` bytes (a small body must not inflate without bound)."""
    inflater = zlib.decompressobj(wbits=16 + zlib.MAX_WBITS)
    try:
        out = inflater.decompress(body, limit + 1)
    except zlib.error as e:
        raise OtlpError(400, f"Content-Encoding gzip, but the body is not gzip data: {e}") from None
    if len(out) > limit:
        raise OtlpError(413, f"Request body inflates to more than the {limit} bytes allowed")
    if not inflater.eof:
        raise OtlpError(400, "Content-Encoding gzip, but the gzip data is truncated")
    return out


def decode(body: bytes, media: str, encoding: str | None, limit: int) -> ExportMetricsServiceRequest:
    """The request message of a body of type ``media`` (see :func:`media_type`), gzipped or not."""
    encoding = (encoding or "identity").strip().lower()
    if encoding == "gzip":
        body = _gunzip(body, limit)
    elif encoding != "identity":
        raise OtlpError(415, f"Content-Encoding {encoding} is not supported (gzip or none)")
    message = ExportMetricsServiceRequest()
    try:
        if media == PROTOBUF:
            message.ParseFromString(body)
        else:  # OTLP/JSON: receivers must ignore unknown fields
            json_format.Parse(body, message, ignore_unknown_fields=True)
    except (DecodeError, json_format.ParseError, UnicodeDecodeError, ValueError) as e:
        raise OtlpError(400, f"Unable to decode the {media} body as an OTLP ExportMetricsServiceRequest: "
                             f"{e}") from None
    return message


def encode_response(media: str, rejected: int = 0, message: str = "") -> bytes:
    """`ExportMetricsServiceResponse` in the request's encoding; ``partial_success`` only when set."""
    response = ExportMetricsServiceResponse()
    if rejected or message:
        response.partial_success.rejected_data_points = rejected
        response.partial_success.error_message = message
    if media == PROTOBUF:
        return response.SerializeToString()
    return json_format.MessageToJson(response, indent=None).encode()


def _text(value: Any) -> str:
    """An OTLP ``AnyValue`` as a string: scalars as written, arrays and maps as compact JSON."""
    kind = value.WhichOneof("value")
    if kind == "string_value":
        return value.string_value
    if kind == "bool_value":
        return "true" if value.bool_value else "false"
    if kind == "int_value":
        return str(value.int_value)
    if kind == "double_value":
        return repr(value.double_value)
    if kind is None:
        return ""
    return orjson.dumps(json_format.MessageToDict(value)).decode()


def _labels(attributes: Iterable[Any]) -> list[tuple[str, str]]:
    return [(kv.key, _text(kv.value)) for kv in attributes]


def _bound(value: float) -> str:
    """A bucket bound or quantile as Prometheus prints it (``0.5``, ``10``, ``+Inf``)."""
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    return repr(int(value)) if value.is_integer() else repr(value)


@dataclass
class Series:
    """The points gathered for one metric of one resource."""

    unit: str | None
    timestamps: list[int] = field(default_factory=list)
    values: list[float] = field(default_factory=list)


@dataclass
class Decoded:
    """What a request holds: its series, and what could not be stored and why."""

    batches: list[SeriesBatch]
    rejected: int = 0
    reasons: list[str] = field(default_factory=list)

    @property
    def message(self) -> str:
        """``partial_success.error_message``: the count and the first reasons."""
        if not self.reasons:
            return ""
        more = len(self.reasons) - MAX_REASONS
        text = "; ".join(self.reasons[:MAX_REASONS]) + (f"; and {more} more" if more > 0 else "")
        return f"{self.rejected} data points rejected: {text}" if self.rejected else text


class _Collector:
    """Gathers the points of one resource's metrics, counting the ones it must refuse."""

    def __init__(self, decoded: Decoded) -> None:
        self.decoded = decoded
        self.series: dict[str, Series] = {}

    def reject(self, count: int, reason: str) -> None:
        self.decoded.rejected += count
        self.decoded.reasons.append(reason)

    def add(self, name: str, unit: str | None, ts: int, value: float) -> None:
        if len(name) > MAX_NAME:
            self.reject(1, f"metric name {name[:60]}… is longer than {MAX_NAME} characters")
            return
        if not math.isfinite(value):
            self.reject(1, f"metric {name}: {value} is not a finite number")
            return
        series = self.series.get(name)
        if series is None:
            series = self.series[name] = Series(unit)
        series.timestamps.append(ts)
        series.values.append(value)


def _number(point: Any) -> float:
    return point.as_double if point.WhichOneof("value") == "as_double" else float(point.as_int)


def _numbers(c: _Collector, name: str, unit: str | None, points: Iterable[Any]) -> None:
    """Gauge and sum points: one value each."""
    for p in points:
        c.add(labelled(name, _labels(p.attributes)), unit, p.time_unix_nano, _number(p))


def _aggregates(c: _Collector, name: str, unit: str | None, p: Any, labels: list[tuple[str, str]]) -> None:
    """The count, sum, min and max a histogram point has."""
    c.add(labelled(f"{name}.count", labels), None, p.time_unix_nano, float(p.count))
    for part in ("sum", "min", "max"):
        if p.HasField(part):
            c.add(labelled(f"{name}.{part}", labels), unit, p.time_unix_nano, getattr(p, part))


def _histograms(c: _Collector, name: str, unit: str | None, points: Iterable[Any]) -> None:
    for p in points:
        labels = _labels(p.attributes)
        counts, bounds = list(p.bucket_counts), [*p.explicit_bounds, math.inf]
        if counts and len(counts) != len(bounds):
            c.reject(1, f"metric {name}: {len(counts)} bucket counts for {len(bounds) - 1} explicit bounds")
            continue
        _aggregates(c, name, unit, p, labels)
        for bound, cumulative in zip(bounds, np.cumsum(counts).tolist() if counts else [], strict=False):
            c.add(labelled(f"{name}.bucket", [*labels, ("le", _bound(bound))]), None, p.time_unix_nano,
                  float(cumulative))


def _exponential(c: _Collector, name: str, unit: str | None, points: Iterable[Any]) -> None:
    for p in points:
        _aggregates(c, name, unit, p, _labels(p.attributes))
    c.decoded.reasons.append(f"metric {name}: the buckets of an exponential histogram are not stored "
                             "(its count, sum, min and max are)")


def _summaries(c: _Collector, name: str, unit: str | None, points: Iterable[Any]) -> None:
    for p in points:
        labels = _labels(p.attributes)
        c.add(labelled(f"{name}.count", labels), None, p.time_unix_nano, float(p.count))
        c.add(labelled(f"{name}.sum", labels), unit, p.time_unix_nano, p.sum)
        for q in p.quantile_values:
            c.add(labelled(name, [*labels, ("quantile", _bound(q.quantile))]), unit, p.time_unix_nano, q.value)


_KINDS: dict[str, Callable[[_Collector, str, str | None, Iterable[Any]], None]] = {
    "gauge": _numbers, "sum": _numbers, "histogram": _histograms, "exponential_histogram": _exponential,
    "summary": _summaries}


def _recorded(c: _Collector, name: str, points: Any) -> list[Any]:
    """The points that carry a value at a time; those without a time are refused."""
    kept = []
    for p in points:
        if p.flags & NO_RECORDED_VALUE:
            continue
        if not 0 < p.time_unix_nano <= MAX_TIME:
            c.reject(1, f"metric {name}: time_unix_nano {p.time_unix_nano} is missing or out of range")
            continue
        kept.append(p)
    return kept


def _resource(attributes: Iterable[Any]) -> tuple[str, dict[str, str]]:
    """The original resource id and the stored attributes of an OTLP resource."""
    found = {kv.key: _text(kv.value) for kv in attributes if kv.key in _RESOURCE_ATTRIBUTES}
    service = found.get("service.name") or "unknown_service"
    instance = found.get("service.instance.id") or found.get("host.name")
    original = (f"{service}@{instance}" if instance else service).replace("/", "_")
    return original, {_RESOURCE_ATTRIBUTES[k]: v for k, v in found.items()}


def _count(metric: Any) -> int:
    kind = metric.WhichOneof("data")
    return len(getattr(metric, kind).data_points) if kind else 0


def to_series(message: ExportMetricsServiceRequest) -> Decoded:
    """Every series of a request, one :class:`SeriesBatch` per metric of each resource (see the module)."""
    decoded = Decoded([])
    for rm in message.resource_metrics:
        original, attributes = _resource(rm.resource.attributes)
        c = _Collector(decoded)
        metrics = [m for sm in rm.scope_metrics for m in sm.metrics]
        if len(original) > MAX_ORIGINAL_ID:
            c.reject(sum(map(_count, metrics)), f"resource id {original[:60]}… is longer than {MAX_ORIGINAL_ID} "
                                                "characters")
            continue
        for metric in metrics:
            kind = metric.WhichOneof("data")
            if kind is None:
                decoded.reasons.append(f"metric {metric.name or '(no name)'} has no gauge, sum, histogram, "
                                       "exponential_histogram or summary: nothing stored")
                continue
            points = getattr(metric, kind).data_points
            if not metric.name:
                c.reject(len(points), "a metric has no name")
                continue
            unit = metric.unit if 0 < len(metric.unit) <= MAX_UNIT else None
            _KINDS[kind](c, metric.name, unit, _recorded(c, metric.name, points))
        decoded.batches.extend(
            SeriesBatch(resource_types.OTLP, original, name, np.array(s.timestamps, dtype=np.int64),
                        np.array(s.values, dtype=np.float64), attributes, s.unit)
            for name, s in c.series.items())
    return decoded

