"""The OpenAPI description of the ingest protocols' routes (Prometheus remote_write, InfluxDB), merged into
the document by the routes' own ``openapi_extra`` (their bodies are not JSON)."""

from __future__ import annotations

from typing import Any

from telescale.api.openapi import Param, doc

_ACCEPTED = {"type": "object", "description": "only when the request asks for JSON and something was dropped",
             "properties": {"accepted": {"type": "integer"}, "dropped": {"type": "object"}}}


def with_body(route: dict[str, Any], media: dict[str, dict[str, Any]], description: str) -> dict[str, Any]:
    """``doc(...)`` arguments with a request body that is not JSON (415 and 413 added)."""
    extra = route["openapi_extra"]
    extra["requestBody"] = {"required": True, "description": description, "content": media}
    for code in ("400", "413", "415"):
        extra["responses"].setdefault(code, {"$ref": f"#/components/responses/{code}"})
    return route


METRIC_NAMES = Param({"type": "string", "enum": ["gnocchi", "labels"]},
                     "How series become metric names: `gnocchi` (the metric is `__name__`, as Gnocchi does) or "
                     "`labels` (`__name__{label=\"value\",…}` with every label but job and instance); default: "
                     "the `ingest.prometheus_metric_names` setting.")

REMOTE_WRITE = with_body(
    doc(query=(METRIC_NAMES.render("metric_names"),), status=202, returns=_ACCEPTED, errors=(403, 409)),
    {media: {"schema": {"type": "string", "format": "binary"}} for media in ("application/x-protobuf",
                                                                             "application/octet-stream")},
    "A Prometheus remote_write 1.0 `WriteRequest`, snappy block-compressed (`Content-Encoding: snappy`).")

_DB = Param({"type": "string", "default": "influxdb"}, "The database: the resource type of the resources written.")
_PRECISION = Param({"type": "string", "enum": ["ns", "n", "u", "ms", "s", "m", "h"], "default": "ns"},
                   "Unit of the line timestamps.")
_QUERY = Param({"type": "string", "pattern": r'^ *[Cc][Rr][Ee][Aa][Tt][Ee] +[Dd][Aa][Tt][Aa][Bb][Aa][Ss][Ee] +'
                                              r'[A-Za-z_][A-Za-z0-9_]{0,60} *;? *$'},
               "`CREATE DATABASE <name>`: creates the resource type `<name>` (nothing else is implemented: 501).")

INFLUX_WRITE = with_body(
    doc(query=(_DB.render("db"), _PRECISION.render("precision")), status=204, errors=(403, 404, 409)),
    {"text/plain": {"schema": {"type": "string"},
                    "example": "cpu,host=web1,core=0 usage_user=12.5,usage_system=3i 1510581804179554816"}},
    "InfluxDB line protocol: `measurement[,tag=value…] field=value[,…] [timestamp]`, one point per line; "
    "the resource is the tag named by `X-Gnocchi-InfluxDB-Tag-Resource-ID` (default `host`).")
INFLUX_QUERY = doc(query=(_QUERY.render("q"),), status=204, errors=(403,))
INFLUX_QUERY["openapi_extra"]["responses"]["501"] = {
    "description": "The query is not `CREATE DATABASE`.",
    "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}},
                "text/plain": {"schema": {"type": "string"}}}}
INFLUX_PING = doc(status=204)
