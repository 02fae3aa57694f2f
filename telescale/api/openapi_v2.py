"""The OpenAPI description of Aodh's v2 API (``/v2``): its schemas, examples, query parameters and errors.

Plain JSON-schema data, merged into the document by :mod:`telescale.api.openapi`; error responses of
``/v2`` operations point at :data:`ERROR_RESPONSES` (Aodh's ``{"error_message": {...}}`` body) instead
of Gnocchi's.
"""

from __future__ import annotations

from http import HTTPStatus
from typing import Any

PREFIX = "/v2"
_REF = "#/components/schemas/"
ERROR_PREFIX = "Aodh"
_STRING = {"type": "string"}
_NULLABLE_STRING = {"type": ["string", "null"]}
_STATE = {"enum": ["ok", "alarm", "insufficient data"]}
_ACTIONS = {"type": "array", "items": _STRING, "description": "URLs: `http(s)://`, `trust+http(s)://`, `log://`"}
_TIME_CONSTRAINT = {"type": "object", "required": ["name", "start", "duration"], "properties": {
    "name": _STRING, "description": _STRING, "start": {"type": "string", "description": "cron expression"},
    "duration": {"type": "integer", "minimum": 0, "description": "seconds"},
    "timezone": {"type": "string", "description": "IANA name; empty: UTC"}}}
_RULE = {"type": "object", "description": "the rule of the alarm's type: gnocchi_resources_threshold, "
         "gnocchi_aggregation_by_metrics_threshold, gnocchi_aggregation_by_resources_threshold, prometheus "
         "(threshold, comparison_operator, aggregation_method, evaluation_periods, granularity, …), event "
         "(event_type, query) or composite (nested {\"and\"|\"or\": [rules with a type]})"}
_RULES = {f"{kind}_rule": _RULE for kind in (
    "gnocchi_resources_threshold", "gnocchi_aggregation_by_metrics_threshold",
    "gnocchi_aggregation_by_resources_threshold", "prometheus", "event", "composite")}
_SETTINGS = {
    "evaluation_interval": {"type": ["number", "null"], "minimum": 1,
                            "description": "seconds between evaluations (null: `alarming.evaluation_interval`)"},
    "pending_for": {"type": "number", "minimum": 0,
                    "description": "seconds a new state must hold before the alarm enters it"},
    "missing_data": {"enum": ["insufficient_data", "ok", "alarm", "keep_state"],
                     "description": "the state an evaluation without data leads to"},
}
_ALARM_INPUT = {
    "name": _STRING, "type": {"enum": sorted(k.removesuffix("_rule") for k in _RULES)}, "description": _STRING,
    "enabled": {"type": "boolean"}, "ok_actions": _ACTIONS, "alarm_actions": _ACTIONS,
    "insufficient_data_actions": _ACTIONS, "repeat_actions": {"type": "boolean"},
    "time_constraints": {"type": "array", "items": _TIME_CONSTRAINT}, "state": _STATE,
    "severity": {"enum": ["low", "moderate", "critical"]}, "user_id": _STRING, "project_id": _STRING,
    **_SETTINGS, **_RULES}
_TIMESTAMP = {"type": ["string", "null"], "format": "date-time"}

SCHEMAS: dict[str, dict[str, Any]] = {
    "AodhError": {"type": "object", "required": ["error_message"], "properties": {"error_message": {
        "type": "object", "required": ["faultcode", "faultstring"], "properties": {
            "faultcode": {"enum": ["Client", "Server"]},
            "faultstring": {"type": ["string", "object"], "description": "what is wrong, naming the field"},
            "debuginfo": {"type": ["string", "null"]}}}}},
    "Alarm": {"type": "object", "additionalProperties": True, "required": ["alarm_id", "name", "type", "state"],
              "properties": {**_ALARM_INPUT, "alarm_id": {"type": "string", "format": "uuid"},
                             "timestamp": _TIMESTAMP, "state_timestamp": _TIMESTAMP, "state_reason": _STRING,
                             "evaluate_timestamp": _TIMESTAMP, "user_id": _NULLABLE_STRING,
                             "project_id": _NULLABLE_STRING}},
    "AlarmWrite": {"type": "object", "required": ["name", "type"], "properties": _ALARM_INPUT,
                   "description": "an alarm with the rule of its type (`<type>_rule`)"},
    "AlarmState": {**_STATE, "description": "a bare JSON string"},
    "AlarmChange": {"type": "object", "properties": {
        "event_id": {"type": "string", "format": "uuid"}, "alarm_id": {"type": "string", "format": "uuid"},
        "type": {"type": "string", "examples": ["creation", "rule change", "state transition", "deletion"]},
        "detail": {"type": "string", "description": "a JSON document"}, "project_id": _NULLABLE_STRING,
        "user_id": _NULLABLE_STRING, "on_behalf_of": _NULLABLE_STRING, "timestamp": _TIMESTAMP}},
    "ComplexQuery": {"type": "object", "additionalProperties": False, "properties": {
        "filter": {"type": "string", "description": "a JSON filter: {\"and\"|\"or\": [...]}, {\"not\": ...}, "
                   "{op: {field: value}} with ops = != < <= > >= in =~"},
        "orderby": {"type": "string", "description": "JSON: [{field: \"asc\"|\"desc\"}, ...]"},
        "limit": {"type": "integer", "minimum": 1}}},
    "AlarmQuotas": {"type": "object", "required": ["project_id"], "properties": {
        "project_id": _STRING, "quotas": {"type": "array", "items": {
            "type": "object", "required": ["resource", "limit"], "properties": {
                "resource": {"enum": ["alarms"]}, "limit": {"type": "integer", "minimum": -1}}}}}},
    "AlarmCapabilities": {"type": "object", "properties": {
        "api": {"type": "object", "additionalProperties": {"type": "boolean"}},
        "alarm_storage": {"type": "object", "additionalProperties": {"type": "boolean"}}}},
}
_TRAIT = {"description": "`[name, type, value]` (type 1 string, 2 integer, 3 float, 4 datetime, or those names) "
          "or `{\"name\", \"dtype\" (or \"type\"), \"value\"}`",
          "oneOf": [{"type": "array", "minItems": 3, "maxItems": 3},
                    {"type": "object", "required": ["name", "value"], "properties": {
                        "name": _STRING, "dtype": {"type": ["integer", "string"]},
                        "type": {"type": ["integer", "string"]}, "value": {}}}]}
SCHEMAS["Event"] = {"type": "object", "required": ["message_id", "event_type"], "properties": {
    "message_id": {"type": "string", "minLength": 1}, "event_type": {"type": "string", "minLength": 1},
    "generated": {"type": "string", "description": "ISO 8601"},
    "traits": {"type": "array", "items": _TRAIT, "description": "a `project_id` or `tenant_id` trait names the "
               "event's project (default: the caller's; an admin's event without one fires the alarms without "
               "a project)"},
    "raw": {"type": "object"}}, "description": "a Ceilometer event, as Aodh's listener receives it"}
SCHEMAS["Events"] = {"oneOf": [{"$ref": _REF + "Event"}, {"type": "array", "items": {"$ref": _REF + "Event"}}],
                     "description": "one event or a list of them"}
SCHEMAS["EventsAccepted"] = {"type": "object", "required": ["events"], "properties": {"events": {
    "type": "array", "description": "one item per event, in the order posted", "items": {
        "type": "object", "required": ["message_id", "project_id", "fired"], "properties": {
            "message_id": _STRING, "project_id": {**_NULLABLE_STRING, "description": "null: no project"},
            "fired": {"type": "array", "items": {"type": "string", "format": "uuid"},
                      "description": "the alarms the event fired (their transition and notifications are "
                                     "committed)"}}}}}}
SCHEMAS["AlarmList"] = {"type": "array", "items": {"$ref": _REF + "Alarm"}}
SCHEMAS["AlarmChanges"] = {"type": "array", "items": {"$ref": _REF + "AlarmChange"}}

EXAMPLES: dict[str, Any] = {
    "AlarmWrite": {"name": "cpu-high", "type": "gnocchi_aggregation_by_metrics_threshold",
                   "gnocchi_aggregation_by_metrics_threshold_rule": {
                       "metrics": ["5a301761-f78b-46e2-8900-8b4f6fe6675a"], "aggregation_method": "mean",
                       "threshold": 80, "comparison_operator": "gt", "granularity": 60, "evaluation_periods": 3},
                   "alarm_actions": ["https://hooks.example.com/scale-out"], "severity": "moderate",
                   "pending_for": 120},
    "AlarmState": "alarm",
    "ComplexQuery": {"filter": '{"and": [{"=": {"state": "alarm"}}, {"=": {"severity": "critical"}}]}',
                     "orderby": '[{"timestamp": "desc"}]', "limit": 10},
    "AlarmQuotas": {"project_id": "ops", "quotas": [{"resource": "alarms", "limit": 100}]},
    "Events": [{"message_id": "6b1c3a0e-5d0f-4a8e-9a51-5d1e7a3f2c10", "event_type": "compute.instance.power_off.end",
                "generated": "2026-11-23T12:00:00.000000",
                "traits": [["instance_id", 1, "vm-1"], ["state", 1, "stopped"]]}],
}


def _param(name: str, schema: dict[str, Any], description: str) -> dict[str, Any]:
    out = {"name": name, "in": "query", "required": False, "description": description, "schema": schema}
    if schema.get("type") == "array":
        out.update(style="form", explode=True)
    return out


_TEXTS = {"type": "array", "items": _STRING}
SIMPLE_QUERY = (
    _param("q.field", _TEXTS, "Filter fields, repeatable, one per q.value (alarms: name, type, state, severity, "
           "enabled, user_id, project_id, timestamp, repeat_actions, all_projects; history: type, severity, "
           "user_id, project_id, timestamp, search_offset)."),
    _param("q.op", {"type": "array", "items": {"enum": ["lt", "le", "eq", "ne", "ge", "gt"]}},
           "Operators, one per q.field (default eq)."),
    _param("q.value", _TEXTS, "Values, one per q.field."),
    _param("q.type", _TEXTS, "Value types, one per q.field (integer, float, string, boolean, datetime)."),
)
PAGE = (
    _param("sort", _TEXTS, "Sort keys `key[:asc|desc]`, repeatable (default newest first)."),
    _param("limit", {"type": "integer", "minimum": 1}, "At most this many items (default: all)."),
    _param("marker", _STRING, "Start after this id (alarm_id, or the history's event_id)."),
)
QUOTA_PROJECT = (_param("project_id", _STRING, "The project (default: the caller's; others: admin only)."),)

ERROR_RESPONSES = {
    f"{ERROR_PREFIX}{code}": {"description": HTTPStatus(code).phrase,
                              "content": {"application/json": {"schema": {"$ref": _REF + "AodhError"}}}}
    for code in (400, 401, 403, 404, 405, 406, 409, 413, 415, 503)}


def use_aodh_errors(path: str, operation: dict[str, Any]) -> None:
    """Point the error responses of a ``/v2`` operation at Aodh's error body."""
    if path != PREFIX and not path.startswith(PREFIX + "/"):
        return
    for code in operation["responses"]:
        if code.isdigit() and int(code) >= 400:
            operation["responses"][code] = {"$ref": f"#/components/responses/{ERROR_PREFIX}{code}"}
