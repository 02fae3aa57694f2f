"""The OpenAPI description of scaling groups, policies, signals, decisions and silences (plain JSON schema,
merged into the document by :mod:`telescale.api.openapi`)."""

from __future__ import annotations

from typing import Any

_REF = "#/components/schemas/"
_S = {"type": "string"}
_NS = {"type": ["string", "null"]}
_INT = {"type": "integer", "minimum": 0}
_NUM = {"type": "number"}
_BOOL = {"type": "boolean"}
_TIME = {"type": ["string", "null"], "format": "date-time"}
_DURATION = {"type": ["number", "string"], "description": "seconds, or a duration such as `5m`"}
_OBJ = {"type": "object", "additionalProperties": True}


def _ref(name: str) -> dict[str, str]:
    return {"$ref": _REF + name}


def _list(name: str) -> dict[str, Any]:
    return {"type": "array", "items": _ref(name)}


_DRIVER = {"type": "object", "required": ["type"], "additionalProperties": True, "properties": {
    "type": {"enum": ["webhook", "process", "heat", "nova"]}},
    "description": "webhook: url, headers, timeout, max_attempts, backoff; process: command, env, cwd, "
                   "stop_timeout; heat: mode signal (scale_out_url, scale_in_url) or stack (stack_id, stack_name, "
                   "parameter); nova: flavor, image, network, key_name, name_prefix, metadata"}
_DIRECTION = {"type": "object", "properties": {
    "stabilization": {"type": "number", "minimum": 0, "maximum": 3600},
    "limits": {"type": "array", "items": {"type": "object", "properties": {
        "kind": {"enum": ["members", "percent"]}, "value": _NUM, "period": _NUM}}},
    "select": {"enum": ["max", "min", "disabled"]}}}
_BEHAVIOR = {"type": "object", "properties": {"scale_up": _DIRECTION, "scale_down": _DIRECTION},
             "description": "stabilisation windows and rate limits (defaults: Kubernetes HPA's)"}
_HEALING = {"type": ["object", "null"], "properties": {
    "enabled": _BOOL, "liveness_metric": _NS, "absent_for": _DURATION, "health_query": _NS,
    "comparison_operator": {"enum": ["gt", "ge", "lt", "le", "eq", "ne"]}, "threshold": {"type": ["number", "null"]},
    "duration": _DURATION, "max_unhealthy": {"type": "integer", "minimum": 1}, "action": {"enum": ["replace"]}}}
_GROUP_INPUT = {
    "name": _S, "min_size": _INT, "max_size": _INT, "desired_capacity": _INT, "cooldown": _DURATION,
    "member_driver": _DRIVER, "member_resource_type": _NS, "member_query": _NS, "paused": _BOOL, "dry_run": _BOOL,
    "behavior": _BEHAVIOR, "healing": _HEALING}
_MEMBER = {"type": "object", "additionalProperties": True, "properties": {
    "id": _S, "name": _S, "ref": _S, "status": {"enum": ["active", "unhealthy", "failed"]}, "created_at": _TIME}}
_DECISION = {"type": "object", "required": ["id", "timestamp", "outcome", "reason"], "properties": {
    "id": _S, "group_id": _S, "timestamp": _TIME, "source": _S, "policy_id": _NS,
    "outcome": {"enum": ["scale_out", "scale_in", "none", "completed", "failed", "heal", "healed", "dry_run"]},
    "blocked_by": _NS, "reason": _S, "rule": _S, "recommended": {"type": ["integer", "null"]},
    "size_before": {"type": "integer"}, "size_after": {"type": "integer"}, "current_size": {"type": "integer"},
    "dry_run": _BOOL, "inputs": _OBJ}}
_TRIGGER = {"type": ["object", "null"], "properties": {
    "kind": {"enum": ["prometheus", "aggregates"]}, "query": _S, "for": _DURATION, "interval": _DURATION,
    "cooldown": _DURATION, "comparison_operator": {"enum": ["gt", "ge", "lt", "le", "eq", "ne"]},
    "threshold": _NUM, "granularity": _DURATION}}
_POLICY_INPUT = {
    "name": _S, "type": {"enum": ["step", "target_tracking", "scheduled"]}, "enabled": _BOOL,
    "adjustment_type": {"enum": ["change_in_capacity", "exact_capacity", "percent_change_in_capacity"]},
    "scaling_adjustment": _NUM, "min_adjustment_step": {"type": "integer", "minimum": 1}, "cooldown": _DURATION,
    "operations": _S, "target": _NUM, "tolerance": _NUM, "window": _DURATION, "granularity": _DURATION,
    "interval": _DURATION, "cron": _S, "timezone": _S, "duration": _DURATION, "min_size": _INT, "max_size": _INT,
    "desired_capacity": _INT, "trigger": _TRIGGER}

SCHEMAS: dict[str, dict[str, Any]] = {
    "ScalingGroupCreate": {"type": "object", "required": ["name", "max_size", "member_driver"],
                           "properties": _GROUP_INPUT},
    "ScalingGroupUpdate": {"type": "object", "properties": _GROUP_INPUT},
    "ScalingGroup": {"type": "object", "additionalProperties": True,
                     "required": ["id", "name", "desired_capacity", "current_size", "members"],
                     "properties": {**_GROUP_INPUT, "id": _S, "project_id": _NS, "user_id": _NS,
                                    "current_size": {"type": "integer"}, "cooldown": _NUM, "cooldown_end": _TIME,
                                    "member_driver": _OBJ, "behavior": _OBJ, "healing": _OBJ,
                                    "in_progress": {"type": ["object", "null"]},
                                    "members": {"type": "array", "items": _MEMBER},
                                    "created_at": _TIME, "updated_at": _TIME}},
    "ScalingPolicyCreate": {"type": "object", "properties": _POLICY_INPUT,
                            "description": "flat, as Heat's ScalingPolicy: the fields of its type"},
    "ScalingPolicy": {"type": "object", "additionalProperties": True, "required": ["id", "type"],
                      "properties": {**_POLICY_INPUT, "id": _S, "group_id": _S,
                                     "cooldown": {"type": ["number", "null"]},
                                     "trigger": {"type": ["object", "null"]},
                                     "signal_url": {"type": ["string", "null"],
                                                    "description": "shown on creation and token rotation only"},
                                     "authenticated_signal_url": _S, "created_at": _TIME, "state": _OBJ}},
    "Signal": {"type": "object", "additionalProperties": True,
               "description": "an Aodh notification, an Alertmanager v4 webhook, any JSON object, or nothing"},
    "SignalAnswer": {"type": "object", "required": ["decision", "group"],
                     "properties": {"decision": _ref("Decision"), "group": _ref("ScalingGroup")}},
    "Decision": _DECISION,
    "SilenceCreate": {"type": "object", "required": ["pattern"], "properties": {
        "pattern": _S, "ttl": _DURATION, "expires_at": {"type": "string", "format": "date-time"}, "group_id": _NS,
        "comment": _S}},
    "Silence": {"type": "object", "required": ["id", "pattern", "expires_at"], "properties": {
        "id": _S, "project_id": _NS, "group_id": _NS, "pattern": _S, "comment": _S, "created_by": _NS,
        "created_at": _TIME, "expires_at": _TIME}},
}
SCHEMAS["ScalingGroupList"] = _list("ScalingGroup")
SCHEMAS["ScalingPolicyList"] = _list("ScalingPolicy")
SCHEMAS["DecisionList"] = _list("Decision")
SCHEMAS["SilenceList"] = _list("Silence")

EXAMPLES: dict[str, Any] = {
    "ScalingGroupCreate": {"name": "web", "min_size": 1, "max_size": 10, "cooldown": "1m",
                           "member_driver": {"type": "webhook", "url": "https://deploy.example.com/capacity"},
                           "member_resource_type": "generic", "member_query": "project_id = 'web'"},
    "ScalingGroupUpdate": {"max_size": 20, "dry_run": True},
    "ScalingPolicyCreate": {"name": "scale-out", "type": "step", "adjustment_type": "change_in_capacity",
                            "scaling_adjustment": 2},
    "Signal": {"alarm_name": "cpu-high", "alarm_id": "0b7f5ed0-4d6a-4e0b-9fd3-5a7d1c2f0e11", "severity": "moderate",
               "previous": "ok", "current": "alarm", "reason": "Transition to alarm due to 3 samples outside "
               "threshold", "reason_data": {"type": "threshold"}},
    "SilenceCreate": {"pattern": "^web-3$", "ttl": "2h", "comment": "kernel upgrade"},
}
