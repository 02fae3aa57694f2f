"""The OpenAPI description of the API, and the offline Swagger UI that shows it at `/docs`.

Handlers read their bodies and query strings themselves (the ingest path decodes straight into numpy), so
FastAPI cannot infer them: routes say what they take with :func:`doc`, which builds the ``openapi_extra``
of a route decorator from the schemas and parameters defined once here; routers that answer only JSON take
:data:`JSON_ONLY`.  :func:`openapi_schema` then adds what every route shares — the auth schemes and 401/403
for routes that depend on :data:`~telescale.api.auth.get_identity`, 404 for routes with path parameters —
and removes the 422 responses FastAPI advertises, which this API never sends (bad input is a 400 in
Gnocchi's shape).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from http import HTTPStatus
from importlib import resources
from typing import Any

from fastapi import Depends, FastAPI, Request
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.openapi.utils import get_openapi
from fastapi.responses import HTMLResponse
from starlette.staticfiles import StaticFiles

import telescale
from telescale.api import openapi_otlp, openapi_scaling, openapi_v2
from telescale.api.deps import require_json_accept
from telescale.api.errors import EXPLANATIONS
from telescale.api.jsonio import JSON_TYPE

# What this release does. Later features add their line to FEATURES and leave telescale.LATER.
FEATURES = (
    "**archive policies** and **archive policy rules** (`/v1/archive_policy`, `/v1/archive_policy_rule`): "
    "how long and how finely the aggregates of each metric are kept, and which policy a new metric gets;",
    "**metrics** and their **measures** (`/v1/metric`): measures written durably, read back aggregated per "
    "granularity and method, resampled, or refreshed on demand;",
    "**resources** and **resource types** (`/v1/resource`, `/v1/resource_type`): typed resources with their "
    "revision history and named metrics;",
    "**search** (`/v1/search`): resources by attribute filters, metric points by value;",
    "**aggregates** (`/v1/aggregates`, and the deprecated `/v1/aggregation`): arithmetic and aggregation "
    "across metrics and across the resources a search finds, optionally grouped by attributes;",
    "**batch** (`/v1/batch`): measures for many metrics or resources in one durable write;",
    "**status** and **capabilities** (`/v1/status`, `/v1/capabilities`): the processing backlog, the "
    "processing workers and alarm evaluators, and the aggregation methods;",
    "**alarms** with **Aodh's v2 API** (`/v2/alarms`, `/v2/query`, `/v2/events`, `/v2/capabilities`, "
    "`/v2/quotas`): alarm definitions, their state and history, events, queries and quotas, as aodhclient "
    "and Heat use them (errors there "
    "have Aodh's shape `{\"error_message\": {\"faultcode\", \"faultstring\", \"debuginfo\"}}`); the "
    "evaluator runs beside the API and notifies webhooks reliably;",
    "**Metric collection** (`/v1/prometheus/write`, `/v1/influxdb`, `/v1/otlp/v1/metrics`, `/v1/collectd`): "
    "Prometheus remote_write, InfluxDB line protocol, OpenTelemetry's OTLP/HTTP metrics (protobuf or JSON) and "
    "collectd's `write_http` JSON, filed under resources and metrics created on first use (statsd over UDP is "
    "`telescale statsd`; hosts, exporters and OpenStack's notifications are collected by `telescale agent`);",
    "**autoscaling** (`/v1/scaling_group`, `/v1/signal`, `/v1/silence`): scaling groups with Heat-compatible "
    "step, target tracking and scheduled policies, pre-signed signal URLs for Aodh and Alertmanager, member "
    "drivers (webhook, process, Heat, Nova), autohealing, and a decision log that says why each evaluation "
    "did or did not scale.",
)
DESCRIPTION = "\n".join((
    "Telescale stores metrics behind the **Gnocchi v1 REST API**: gnocchiclient, Ceilometer's gnocchi publisher, "
    "Grafana's gnocchi datasource and Aodh's gnocchi rules work unchanged, and evaluates alarms next to the data "
    "behind the **Aodh v2 API**, and scales groups of servers on them. This release is the metric store, alarming, "
    "autoscaling and metric collection:",
    "",
    *(f"* {line}" for line in FEATURES),
    "",
    'Errors have Gnocchi\'s shape `{"code", "title", "description"}` when the request\'s `Accept` names JSON, '
    "plain text otherwise. Authentication follows `api.auth_mode` (see the security schemes): HTTP Basic by "
    "default, a front proxy's `X-Remote-User`, a Keystone `X-Auth-Token`, or trusted "
    "`X-User-Id`/`X-Project-Id`/`X-Roles` headers.",
    "",
    telescale.LATER,
))

SCHEMA_REF = "#/components/schemas/"
RESPONSE_REF = "#/components/responses/"
JSON_PATCH_TYPE = "application/json-patch+json"


def ref(name: str) -> dict[str, str]:
    return {"$ref": SCHEMA_REF + name}


def _array(items: dict[str, Any], **extra: Any) -> dict[str, Any]:
    return {"type": "array", "items": items, **extra}


def many(name: str) -> dict[str, Any]:
    """A JSON array of the schema ``name``."""
    return _array(ref(name))


def _nullable(type_: str) -> dict[str, Any]:
    return {"type": [type_, "null"]}


def object_schema(properties: dict[str, Any], required: Sequence[str] = (), **extra: Any) -> dict[str, Any]:
    out: dict[str, Any] = {"type": "object", "properties": properties, **extra}
    if required:
        out["required"] = list(required)
    return out


STRING = {"type": "string"}
NAME = {"type": "string", "minLength": 1, "maxLength": 255}
UUID = {"type": "string", "format": "uuid"}
TIMESTAMP = {"type": ["string", "number"], "description": "ISO 8601 (with an offset, UTC otherwise) or seconds "
             "since the epoch", "examples": ["2026-11-23T12:00:00+00:00", 1795435200]}
TIMESPAN = {"type": ["string", "number"], "description": "seconds, or a duration such as `5min`, `1 hour`",
            "examples": ["60", "1 hour"]}

# --- component schemas: requests and responses ------------------------------------------------------------

_POLICY_ITEM_OUT = object_schema({"granularity": STRING, "points": _nullable("integer"),
                                  "timespan": _nullable("string")})
_METRIC_FIELDS = {
    "id": UUID, "archive_policy_name": STRING, "creator": STRING, "created_by_user_id": STRING,
    "created_by_project_id": STRING, "name": _nullable("string"), "unit": _nullable("string"),
    "resource_id": {"type": ["string", "null"], "format": "uuid"}}
_MEASURE = object_schema({"timestamp": TIMESTAMP, "value": {"type": "number"}}, ("timestamp", "value"))
_METRIC_CREATE = {"archive_policy_name": NAME, "name": NAME, "unit": {"type": "string", "maxLength": 31},
                  "resource_id": _nullable("string")}
_RESOURCE_BASE = {"started_at": TIMESTAMP, "ended_at": {**TIMESTAMP, "type": ["string", "number", "null"]},
                  "user_id": _nullable("string"), "project_id": _nullable("string"), "metrics": ref("ResourceMetrics")}
_ATTRIBUTE = object_schema({
    "type": {"enum": ["string", "uuid", "number", "bool", "datetime"]}, "required": {"type": "boolean"},
    "min_length": {"type": "integer"}, "max_length": {"type": "integer"}, "min": _nullable("number"),
    "max": _nullable("number"), "options": object_schema({"fill": {}})}, ("type",))
_ROW = {"type": "array", "items": {"type": ["string", "number", "null"]}, "minItems": 3, "maxItems": 3,
        "description": "[timestamp, granularity in seconds (or calendar unit), value]"}

SCHEMAS: dict[str, dict[str, Any]] = {
    "Error": object_schema({"code": {"type": "integer"}, "title": STRING,
                      "description": {"type": ["string", "object", "array"],
                                      "description": "a message, or {cause, reason, detail} naming the bad field"}},
                     ("code", "title", "description")),
    "ArchivePolicy": object_schema({"name": STRING, "back_window": {"type": "integer"},
                              "aggregation_methods": _array(STRING), "definition": _array(_POLICY_ITEM_OUT)},
                             ("name", "back_window", "aggregation_methods", "definition")),
    "ArchivePolicyCreate": object_schema({
        "name": NAME, "back_window": {"type": "integer", "minimum": 0},
        "aggregation_methods": _array(STRING, description="methods kept (`+name`/`-name` adjust the defaults)"),
        "definition": ref("ArchivePolicyDefinition")}, ("name", "definition"), additionalProperties=False),
    "ArchivePolicyDefinition": _array(
        object_schema({"granularity": TIMESPAN, "points": {"type": "integer", "minimum": 1}, "timespan": TIMESPAN},
                      additionalProperties=False),
        minItems=1, description="two of granularity, points and timespan per item"),
    "ArchivePolicyUpdate": object_schema({"definition": ref("ArchivePolicyDefinition")}, ("definition",),
                                   additionalProperties=False),
    "ArchivePolicyRule": object_schema({"name": STRING, "metric_pattern": STRING, "archive_policy_name": STRING},
                                 ("name", "metric_pattern", "archive_policy_name")),
    "ArchivePolicyRuleCreate": object_schema({"name": NAME, "metric_pattern": NAME, "archive_policy_name": NAME},
                                       ("name", "metric_pattern", "archive_policy_name"), additionalProperties=False),
    "ArchivePolicyRuleUpdate": object_schema({"name": NAME}, ("name",), additionalProperties=False),
    "Metric": object_schema({**_METRIC_FIELDS, "archive_policy": ref("ArchivePolicy")}, tuple(_METRIC_FIELDS)),
    "MetricDetail": {"allOf": [ref("Metric"), object_schema(
        {"resource": {"anyOf": [ref("Resource"), {"type": "null"}]}}, ("resource",))]},
    "MetricCreate": object_schema(_METRIC_CREATE, additionalProperties=False,
                            description="without archive_policy_name, the policy comes from the rule matching name"),
    "Measures": _array(_MEASURE, description="points to add, unsorted, timestamps all ISO 8601 or all epoch numbers"),
    "MeasureRows": _array(_ROW, description="aggregated points, coarsest granularity first"),
    "BatchMetricsMeasures": {"type": "object", "propertyNames": UUID, "additionalProperties": ref("Measures"),
                             "description": "measures per metric id"},
    "BatchResourcesMeasures": {
        "type": "object", "description": "per resource id, measures per metric name",
        "additionalProperties": {"type": "object", "additionalProperties": {"anyOf": [
            ref("Measures"),
            object_schema({"archive_policy_name": NAME, "unit": STRING, "measures": ref("Measures")}, ("measures",),
                    additionalProperties=False)]}}},
    "Resource": object_schema({
        "id": UUID, "type": STRING, "original_resource_id": STRING, "creator": _nullable("string"),
        "created_by_user_id": _nullable("string"), "created_by_project_id": _nullable("string"),
        "user_id": _nullable("string"), "project_id": _nullable("string"), "started_at": _nullable("string"),
        "ended_at": _nullable("string"), "revision_start": _nullable("string"), "revision_end": _nullable("string"),
        "metrics": {"type": "object", "additionalProperties": UUID}},
        additionalProperties=True, description="plus the attributes of its type"),
    "ResourceCreate": object_schema({"id": {"type": "string", "minLength": 1}, **_RESOURCE_BASE}, ("id",),
                              additionalProperties=True, description="plus the attributes of the resource type"),
    "ResourceUpdate": object_schema(_RESOURCE_BASE, additionalProperties=True,
                              description="the fields and attributes to change"),
    "ResourceMetrics": {"type": "object", "description": "metric name → existing metric id, or a metric to create",
                        "additionalProperties": {"anyOf": [UUID, ref("MetricCreate")]}},
    "ResourceType": object_schema({"name": STRING, "attributes": {"type": "object", "additionalProperties": _ATTRIBUTE},
                             "state": STRING}, ("name", "attributes", "state")),
    "ResourceTypeCreate": object_schema({"name": {"type": "string"},
                                   "attributes": {"type": "object", "additionalProperties": _ATTRIBUTE}},
                                  ("name",), additionalProperties=False),
    "ResourceTypePatch": _array(object_schema({"op": {"enum": ["add", "remove"]},
                                         "path": {"type": "string", "pattern": "^/attributes/"},
                                         "value": _ATTRIBUTE}, ("op", "path"), additionalProperties=False),
                                description="RFC 6902 add/remove of /attributes/<name>"),
    "SearchQuery": {"type": "object", "description": "a filter: {op: {attribute: value}}, ops =, !=, <, <=, >, >=, "
                    "in, like, ne, and, or, not"},
    "AggregatesRequest": object_schema({
        "operations": {"type": ["string", "array"], "description": "e.g. `(aggregate mean (metric <id> mean))`"},
        "resource_type": STRING, "search": {"type": ["object", "string"]}}, ("operations",),
        additionalProperties=False),
    "AggregatesResult": {"anyOf": [
        object_schema({"measures": {"type": "object"}, "references": _array({"type": "object"})}, ("measures",)),
        _array(object_schema({"group": {"type": "object"}, "measures": {"type": "object"}}, ("group", "measures")))]},
    "GroupedMeasureRows": {"anyOf": [ref("MeasureRows"), _array(object_schema(
        {"group": {"type": "object"}, "measures": ref("MeasureRows")}, ("group", "measures")))]},
    "Versions": object_schema({"versions": _array(object_schema({
        "id": STRING, "status": STRING, "updated": STRING,
        "links": _array(object_schema({"rel": STRING, "href": STRING}))}))}, ("versions",)),
    "Links": object_schema({"version": STRING, "links": _array(object_schema({"rel": STRING, "href": STRING}))},
                           ("links",)),
    "Capabilities": object_schema({"aggregation_methods": _array(STRING)}, ("aggregation_methods",)),
    "Status": object_schema({
        "storage": object_schema({"summary": object_schema({"metrics": {"type": "integer"},
                                                           "measures": {"type": "integer"}}),
                                  "measures_to_process": {"type": "object",
                                                          "additionalProperties": {"type": "integer"}}}),
        "metricd": object_schema({"processors": _array(STRING), "statistics": {"type": "object"}}),
        "alarming": object_schema({"evaluators": _array(STRING), "statistics": {"type": "object"}}),
        "scaling": object_schema({"scalers": _array(STRING), "statistics": {"type": "object"}}),
        "agents": object_schema({"members": _array(STRING)})},
        ("storage",), description="measures waiting to be processed (per metric with details=true), and the live "
                                  "workers: those of every host on coordination.url, else those of this host"),
    "MetricIds": _array(UUID, description="metric ids"),
    "ValueQuery": {"type": "object", "description": "a condition on values: {op: number}, ops =, !=, <, <=, >, >=, "
                   "and, or, not, with arithmetic (+, -, *, /, **, abs, ...)"},
    **openapi_v2.SCHEMAS,
    **openapi_scaling.SCHEMAS,
    **openapi_otlp.SCHEMAS,
}

EXAMPLES: dict[str, Any] = {
    "ArchivePolicyCreate": {"name": "five-minutes", "back_window": 0, "aggregation_methods": ["mean", "max"],
                            "definition": [{"granularity": "5min", "timespan": "30 days"}]},
    "ArchivePolicyUpdate": {"definition": [{"granularity": "5min", "timespan": "60 days"}]},
    "ArchivePolicyRuleCreate": {"name": "cpu", "metric_pattern": "cpu.*", "archive_policy_name": "low"},
    "ArchivePolicyRuleUpdate": {"name": "cpu-usage"},
    "MetricCreate": {"archive_policy_name": "low", "name": "cpu.util", "unit": "%"},
    "Measures": [{"timestamp": "2026-11-23T12:00:00+00:00", "value": 42.0},
                 {"timestamp": "2026-11-23T12:01:00+00:00", "value": 43}],
    "BatchMetricsMeasures": {"5a301761-f78b-46e2-8900-8b4f6fe6675a": [
        {"timestamp": "2026-11-23T12:00:00+00:00", "value": 1.5}]},
    "BatchResourcesMeasures": {"host-1": {"cpu.util": [{"timestamp": "2026-11-23T12:00:00+00:00", "value": 3}],
                                          "mem.used": {"archive_policy_name": "low", "unit": "B",
                                                       "measures": [{"timestamp": 1795435200, "value": 1e9}]}}},
    "ResourceCreate": {"id": "host-1", "user_id": "alice", "project_id": "ops", "started_at": "2026-11-23T00:00:00Z",
                       "metrics": {"cpu.util": {"archive_policy_name": "low"}}},
    "ResourceUpdate": {"ended_at": "2026-11-24T00:00:00+00:00"},
    "ResourceMetrics": {"disk.io": {"archive_policy_name": "low", "unit": "B/s"}},
    "ResourceTypeCreate": {"name": "host", "attributes": {"hostname": {"type": "string", "required": True,
                                                                       "max_length": 64}}},
    "ResourceTypePatch": [{"op": "add", "path": "/attributes/rack",
                           "value": {"type": "string", "required": False}}],
    "SearchQuery": {"and": [{"=": {"project_id": "ops"}}, {">=": {"started_at": "2026-11-01"}}]},
    "AggregatesRequest": {"operations": "(aggregate mean (metric cpu.util mean))", "resource_type": "generic",
                          "search": {"=": {"project_id": "ops"}}},
    "MetricIds": ["5a301761-f78b-46e2-8900-8b4f6fe6675a"],
    "ValueQuery": {"and": [{">": 50}, {"<": 100}]},
    **openapi_v2.EXAMPLES,
    **openapi_scaling.EXAMPLES,
    **openapi_otlp.EXAMPLES,
}

# --- query parameters ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Param:
    """A query parameter: its JSON schema and what it does."""

    schema: dict[str, Any]
    description: str
    required: bool = False

    def render(self, name: str) -> dict[str, Any]:
        out = {"name": name, "in": "query", "required": self.required, "description": self.description,
               "schema": self.schema}
        if self.schema.get("type") == "array":
            out.update(style="form", explode=True)
        return out


BOOLEAN = {"type": "boolean"}
_METHOD = {"type": "string", "examples": ["mean", "max", "rate:mean", "95pct"]}

QUERY: dict[str, Param] = {
    "limit": Param({"type": "integer", "minimum": 1}, "Page size (at most and by default `api.max_limit`); the "
                   "`Link: rel=\"next\"` header points at the next page."),
    "marker": Param(STRING, "Where the page starts: the id of the last item of the previous page."),
    "sort": Param(_array(STRING), "Sort keys `attribute[:asc|desc]`, repeatable."),
    "details": Param(BOOLEAN, "Show more: every attribute, the referenced objects, or the per-metric backlog."),
    "history": Param(BOOLEAN, "List every revision, not only the current one."),
    "attrs": Param(_array(STRING), "Only these fields of each resource, repeatable (`attrs[]` is accepted too)."),
    "filter": Param(STRING, "The search as text when there is no body, e.g. `project_id='ops' and "
                    "started_at>='2026-11-01'`."),
    "start": Param(TIMESTAMP, "Only points at or after this time."),
    "stop": Param(TIMESTAMP, "Only points before this time."),
    "granularity": Param(TIMESPAN, "Only this granularity (default: every granularity of the policy)."),
    "aggregation": Param(_METHOD, "Aggregation method to read (default `mean`)."),
    "reaggregation": Param(_METHOD, "How the series of several metrics are combined (default: `aggregation`)."),
    "resample": Param(TIMESPAN, "Re-aggregate to this period (needs `granularity`); Y, H, Q, M or W for "
                      "calendar periods."),
    "refresh": Param(BOOLEAN, "Process the pending measures of the metrics before reading."),
    "fill": Param({"type": ["number", "string"], "examples": [0, "null", "ffill", "dropna"]},
                  "How holes are filled when aligning series: a number, `null`, `ffill`, `bfill`, `full_ffill`, "
                  "`full_bfill` or `dropna`."),
    "needed_overlap": Param({"type": "number", "minimum": 0, "maximum": 100},
                            "Percentage of timestamps the series must share (default 100 without fill)."),
    "groupby": Param(_array(STRING), "Group the resources by these attributes, repeatable."),
    "use_history": Param(BOOLEAN, "Aggregate each revision of the resources over its own period."),
    "create_metrics": Param(BOOLEAN, "Create the metrics missing on existing resources."),
    "metric": Param(_array(UUID), "Metric ids, repeatable."),
    "metric_id": Param(_array(UUID, minItems=1), "Metric ids, repeatable.", required=True),
}
PAGINATION = ("limit", "marker", "sort")
LISTING = (*PAGINATION, "details", "attrs")
READ_RANGE = ("start", "stop", "granularity")
MEASURES_READ = ("aggregation", *READ_RANGE, "resample", "refresh")
CROSS_METRIC = (*READ_RANGE, "needed_overlap", "fill", "aggregation", "reaggregation", "resample", "refresh")


GRANULARITIES = Param(_array(TIMESPAN), "Only these granularities, repeatable (default: every granularity of "
                      "each metric's policy).").render("granularity")


def equals(names: Sequence[str], what: str) -> tuple[dict[str, Any], ...]:
    """Equality filters on a listing: ``?name=value`` keeps the ``what`` whose ``name`` is ``value``."""
    return tuple(Param(STRING, f"Only the {what} whose `{name}` is this value.").render(name) for name in names)


# --- responses ------------------------------------------------------------------------------------------------


def _error(code: int) -> dict[str, Any]:
    return {"description": EXPLANATIONS.get(code, HTTPStatus(code).phrase),
            "content": {JSON_TYPE: {"schema": ref("Error")},
                        "text/plain": {"schema": STRING, "example": f"{code} {HTTPStatus(code).phrase}"}}}


ERROR_CODES = (400, 401, 403, 404, 406, 409, 412, 413, 415, 503)
ERROR_RESPONSES = {str(code): _error(code) for code in ERROR_CODES}


def error(code: int) -> dict[str, str]:
    return {"$ref": RESPONSE_REF + str(code)}


def _success(status: int, returns: str | dict[str, Any] | None, headers: Sequence[str]) -> dict[str, Any]:
    out: dict[str, Any] = {"description": HTTPStatus(status).phrase}
    if returns is not None:
        out["content"] = {JSON_TYPE: {"schema": ref(returns) if isinstance(returns, str) else returns}}
    if headers:
        out["headers"] = {h: {"schema": STRING, "description": HEADERS[h]} for h in headers}
    return out


HEADERS = {
    "Location": "URL of the created object",
    "Link": 'the next page, as `<url>; rel="next"`, when this page is full',
    "ETag": "revision tag, for If-Match / If-None-Match",
    "Last-Modified": "start of the current revision",
}


def doc(*, body: str | None = None, body_required: bool = True, body_types: Sequence[str] = (JSON_TYPE,),
        query: Sequence[str | dict[str, Any]] = (), status: int = 200, returns: str | dict[str, Any] | None = None,
        headers: Sequence[str] = (), errors: Sequence[int] = ()) -> dict[str, Any]:
    """Keyword arguments of a route decorator describing what the handler reads and answers.

    ``body``/``returns`` name schemas of :data:`SCHEMAS`; ``query`` names parameters of :data:`QUERY` (or
    gives rendered ones); ``errors`` lists the error statuses particular to the route (400 for bad input,
    413 and 415 for bodies are implied).
    """
    codes = set(errors)
    extra: dict[str, Any] = {}
    if query:
        extra["parameters"] = [QUERY[q].render(q) if isinstance(q, str) else q for q in query]
        codes.add(400)
    if body is not None:
        media = {"schema": ref(body), "example": EXAMPLES[body]}
        extra["requestBody"] = {"required": body_required, "content": {t: media for t in body_types}}
        codes |= {400, 413, 415}
    extra["responses"] = {str(status): _success(status, returns, headers), **{str(c): error(c) for c in codes}}
    return {"status_code": status, "openapi_extra": extra}


# Routers and routes that answer only JSON: the check, and the 406 it answers otherwise.
JSON_ONLY: dict[str, Any] = {"dependencies": [Depends(require_json_accept)], "responses": {406: _error(406)}}

# --- auth -----------------------------------------------------------------------------------------------------

SECURITY_SCHEMES = {
    "basic": {"type": "http", "scheme": "basic",
              "description": "`api.auth_mode = \"basic\"` (the default): the user name is the caller, the password is "
                             "not checked; `admin` is the administrator."},
    "remoteUser": {"type": "apiKey", "in": "header", "name": "X-Remote-User",
                   "description": "`api.auth_mode = \"remoteuser\"`: the user an authenticating front proxy set."},
    "keystone": {"type": "apiKey", "in": "header", "name": "X-Auth-Token",
                 "description": "`api.auth_mode = \"keystone\"`: a Keystone token, validated by keystonemiddleware."},
    "noauthUser": {"type": "apiKey", "in": "header", "name": "X-User-Id",
                   "description": "`api.auth_mode = \"noauth\"`: the caller's user id, trusted as sent."},
    "noauthProject": {"type": "apiKey", "in": "header", "name": "X-Project-Id",
                      "description": "`api.auth_mode = \"noauth\"`: the caller's project id, trusted as sent."},
    "noauthRoles": {"type": "apiKey", "in": "header", "name": "X-Roles",
                    "description": "`api.auth_mode = \"noauth\"`: comma-separated roles (`admin` for the "
                                   "administrator); optional."},
}
# One of these, depending on api.auth_mode.
SECURITY = [{"basic": []}, {"remoteUser": []}, {"keystone": []},
            {"noauthUser": [], "noauthProject": [], "noauthRoles": []}]


def _complete(operation: dict[str, Any]) -> None:
    """What every operation shares: the auth schemes (FastAPI marks the routes depending on get_identity with
    its one scheme), 401/403 there, 404 when the path names something; FastAPI's 422 goes, as do the query
    parameters FastAPI read from a signature that :func:`doc` describes too."""
    responses = operation["responses"]
    responses.pop("422", None)
    codes = []
    if "security" in operation:
        operation["security"] = SECURITY
        codes += [401, 403]
    parameters = {(p["in"], p["name"]): p for p in operation.get("parameters", ())}
    if parameters:
        operation["parameters"] = list(parameters.values())
    if any(where == "path" for where, _ in parameters):
        codes.append(404)
    for code in codes:
        responses.setdefault(str(code), error(code))
    operation["responses"] = dict(sorted(responses.items()))


def openapi_schema(app: FastAPI) -> dict[str, Any]:
    """The app's OpenAPI document, built once: FastAPI's, with each operation completed."""
    if app.openapi_schema:
        return app.openapi_schema
    spec = get_openapi(title=app.title, version=app.version, description=app.description, routes=app.routes)
    for path, operations in spec["paths"].items():
        for operation in operations.values():
            _complete(operation)
            openapi_v2.use_aodh_errors(path, operation)
    components = spec.setdefault("components", {})
    schemas = components.setdefault("schemas", {})
    for name in ("HTTPValidationError", "ValidationError"):
        schemas.pop(name, None)
    schemas.update(SCHEMAS)
    components["responses"] = {**ERROR_RESPONSES, **openapi_v2.ERROR_RESPONSES}
    components["securitySchemes"] = SECURITY_SCHEMES
    app.openapi_schema = spec
    return spec


# --- /docs ------------------------------------------------------------------------------------------------

OPENAPI_URL = "/openapi.json"
DOCS_URL = "/docs"
DOCS_STATIC = "/docs/static"


def is_public_doc(path: str) -> bool:
    """The description and its browser, open in every auth mode (keystone's middleware lets them through)."""
    return path in (OPENAPI_URL, DOCS_URL) or path.startswith(DOCS_STATIC + "/")


def install(app: FastAPI) -> None:
    """Serve the completed schema at /openapi.json and Swagger UI at /docs, with its files from the package."""
    app.openapi = lambda: openapi_schema(app)  # type: ignore[method-assign]
    static = resources.files("fastapi_offline") / "static"
    app.mount(DOCS_STATIC, StaticFiles(directory=str(static)), name="docs-static")

    @app.get(DOCS_URL, include_in_schema=False)
    def swagger_ui(request: Request) -> HTMLResponse:
        root = request.scope.get("root_path", "")
        return get_swagger_ui_html(
            openapi_url=root + OPENAPI_URL, title=f"{app.title} API",
            swagger_js_url=f"{root}{DOCS_STATIC}/swagger-ui-bundle.js",
            swagger_css_url=f"{root}{DOCS_STATIC}/swagger-ui.css",
            swagger_favicon_url=f"{root}{DOCS_STATIC}/favicon.png",
            swagger_ui_parameters={"validatorUrl": None})
