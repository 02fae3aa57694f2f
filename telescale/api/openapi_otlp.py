"""OpenAPI schemas and examples of the OTLP/HTTP and collectd `write_http` ingest routes.

Both bodies are defined by other projects (OpenTelemetry's protobuf, collectd's JSON writer), so only their
outline is given here; the routes refuse what does not decode with a 400 naming the problem.
"""

from __future__ import annotations

from typing import Any

PROTOBUF = "application/x-protobuf"
_OBJECTS = {"type": "array", "items": {"type": "object"}}

SCHEMAS: dict[str, dict[str, Any]] = {
    "OtlpMetricsRequest": {
        "type": "object", "properties": {"resourceMetrics": _OBJECTS},
        "description": "OTLP `ExportMetricsServiceRequest` in OTLP/JSON (or protobuf, "
                       f"`Content-Type: {PROTOBUF}`; either may be `Content-Encoding: gzip`)"},
    "OtlpMetricsResponse": {
        "type": "object", "properties": {"partialSuccess": {"type": "object", "properties": {
            "rejectedDataPoints": {"type": ["string", "integer"]}, "errorMessage": {"type": "string"}}}},
        "description": "OTLP `ExportMetricsServiceResponse`, in the encoding of the request"},
    "CollectdValues": {
        "type": "array", "description": "collectd `write_http` value lists (`Format \"JSON\"`)",
        "items": {"type": "object", "required": ["values", "dstypes", "dsnames", "time", "host", "plugin", "type"],
                  "properties": {
                      "values": {"type": "array", "items": {"type": ["number", "null"]}},
                      "dstypes": {"type": "array", "items": {"enum": ["gauge", "derive", "counter", "absolute"]}},
                      "dsnames": {"type": "array", "items": {"type": "string"}},
                      "time": {"type": "number"}, "interval": {"type": "number"},
                      "host": {"type": "string"}, "plugin": {"type": "string"},
                      "plugin_instance": {"type": "string"}, "type": {"type": "string"},
                      "type_instance": {"type": "string"}}}},
}

EXAMPLES: dict[str, Any] = {
    "OtlpMetricsRequest": {"resourceMetrics": [{
        "resource": {"attributes": [{"key": "service.name", "value": {"stringValue": "shop"}},
                                    {"key": "host.name", "value": {"stringValue": "web-1"}}]},
        "scopeMetrics": [{"metrics": [{"name": "queue.depth", "unit": "1", "gauge": {"dataPoints": [
            {"timeUnixNano": "1795435200000000000", "asDouble": 12}]}}]}]}]},
    "CollectdValues": [{"values": [0.42], "dstypes": ["gauge"], "dsnames": ["shortterm"], "time": 1795435200.0,
                        "interval": 10.0, "host": "web-1", "plugin": "load", "plugin_instance": "",
                        "type": "load", "type_instance": ""}],
}


def binary_too(spec: dict[str, Any], status: int = 200) -> dict[str, Any]:
    """A :func:`telescale.api.openapi.doc` result whose success answer may also be protobuf."""
    content = spec["openapi_extra"]["responses"][str(status)]["content"]
    content[PROTOBUF] = {"schema": {"type": "string", "format": "binary"}}
    return spec
