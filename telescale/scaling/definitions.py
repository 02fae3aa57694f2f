"""Scaling groups, policies and silences as the API receives them: validated into the model's values.

Every mistake is an :class:`InvalidDefinition` (a ValueError) naming the field and what would be right,
which the API answers with 400. Durations are seconds or a string such as ``"5m"`` / ``"300s"``.
"""

from __future__ import annotations

import datetime
import re
import uuid
from collections.abc import Callable
from dataclasses import replace
from typing import Any

import pytimeparse

from telescale.scaling import readings
from telescale.scaling.drivers import validate_driver
from telescale.scaling.model import Group, Healing, Policy, Silence, Trigger
from telescale.scaling.policies import validate_behavior, validate_schedule, validate_step, validate_target

GROUP_FIELDS = ("name", "min_size", "max_size", "desired_capacity", "cooldown", "member_driver",
                "member_resource_type", "member_query", "paused", "dry_run", "behavior", "healing", "project_id",
                "user_id")
PATCHABLE = frozenset(GROUP_FIELDS) - {"project_id", "user_id"}
POLICY_TYPES = ("step", "target_tracking", "scheduled")
STEP_KEYS = ("adjustment_type", "scaling_adjustment", "min_adjustment_step", "cooldown")
TARGET_KEYS = ("operations", "target", "tolerance", "window", "granularity", "interval")
SCHEDULE_KEYS = ("cron", "timezone", "duration", "min_size", "max_size", "desired_capacity")
TYPE_KEYS = {"step": STEP_KEYS, "target_tracking": TARGET_KEYS, "scheduled": SCHEDULE_KEYS}
#: Policy fields that are durations: "5m" is accepted as well as 300.
DURATION_KEYS = frozenset({"cooldown", "window", "granularity", "interval", "duration"})
DEFAULT_COOLDOWN = 60.0
MAX_SIZE_LIMIT = 10_000


class InvalidDefinition(ValueError):
    pass


def seconds(value: Any, name: str, *, minimum: float = 0.0) -> float:
    """A duration: a number of seconds or a string such as ``5m``, at least ``minimum``."""
    if isinstance(value, bool):
        raise InvalidDefinition(f"{name}: expected seconds or a duration such as '5m', not {value!r}")
    if isinstance(value, int | float):
        result = float(value)
    elif isinstance(value, str):
        parsed = pytimeparse.parse(value.strip())
        if parsed is None:
            try:
                parsed = float(value)
            except ValueError:
                raise InvalidDefinition(f"{name}: {value!r} is not a duration (use seconds or e.g. '5m', '1h')"
                                        ) from None
        result = float(parsed)
    else:
        raise InvalidDefinition(f"{name}: expected seconds or a duration such as '5m', not {value!r}")
    if not result >= minimum:
        raise InvalidDefinition(f"{name}: must be at least {minimum:g} s, not {result:g}")
    return result


def integer(value: Any, name: str, *, minimum: int = 0, maximum: int = MAX_SIZE_LIMIT) -> int:
    if isinstance(value, bool) or not isinstance(value, int | float) or int(value) != value:
        raise InvalidDefinition(f"{name}: expected an integer, not {value!r}")
    if not minimum <= int(value) <= maximum:
        raise InvalidDefinition(f"{name}: must be between {minimum} and {maximum}, not {int(value)}")
    return int(value)


def boolean(value: Any, name: str) -> bool:
    if not isinstance(value, bool):
        raise InvalidDefinition(f"{name}: expected true or false, not {value!r}")
    return value


def text(value: Any, name: str, *, max_length: int = 255, empty: bool = False) -> str:
    if not isinstance(value, str) or (not empty and not value.strip()):
        raise InvalidDefinition(f"{name}: expected a non-empty string, not {value!r}")
    if len(value) > max_length:
        raise InvalidDefinition(f"{name}: at most {max_length} characters")
    return value


def _object(body: Any, what: str, known: tuple[str, ...] | frozenset[str]) -> dict[str, Any]:
    if not isinstance(body, dict):
        raise InvalidDefinition(f"{what}: expected a JSON object")
    unknown = sorted(set(body) - set(known))
    if unknown:
        raise InvalidDefinition(f"{what}: unknown field {unknown[0]!r} (known: {', '.join(sorted(known))})")
    return body


def _wrap(check: Callable[[], Any], name: str) -> Any:
    """Run a validator of another module, naming the field in its error."""
    try:
        return check()
    except InvalidDefinition:
        raise
    except ValueError as e:
        raise InvalidDefinition(f"{name}: {e}") from None


def validate_healing(body: Any) -> Healing:
    keys = ("enabled", "liveness_metric", "absent_for", "health_query", "comparison_operator", "threshold",
            "duration", "max_unhealthy", "action")
    body = _object(body, "healing", keys)
    out: dict[str, Any] = {"enabled": boolean(body.get("enabled", True), "healing.enabled")}
    if body.get("liveness_metric") is not None:
        out["liveness_metric"] = text(body["liveness_metric"], "healing.liveness_metric")
        if not re.fullmatch(r"[^\s()]+", out["liveness_metric"]):
            raise InvalidDefinition("healing.liveness_metric: a metric name, without spaces or parentheses")
    if "absent_for" in body:
        out["absent_for"] = seconds(body["absent_for"], "healing.absent_for", minimum=1)
    if body.get("health_query") is not None:
        out["health_query"] = text(body["health_query"], "healing.health_query", max_length=4096)
        _wrap(lambda: readings.check_expression(out["health_query"]), "healing.health_query")
        if body.get("threshold") is None:
            raise InvalidDefinition("healing.threshold: required with health_query")
    if body.get("threshold") is not None:
        if isinstance(body["threshold"], bool) or not isinstance(body["threshold"], int | float):
            raise InvalidDefinition(f"healing.threshold: expected a number, not {body['threshold']!r}")
        out["threshold"] = float(body["threshold"])
    if "comparison_operator" in body:
        if body["comparison_operator"] not in readings.COMPARISON_OPERATORS:
            raise InvalidDefinition(f"healing.comparison_operator: one of {', '.join(readings.COMPARISON_OPERATORS)}")
        out["comparison_operator"] = body["comparison_operator"]
    if "duration" in body:
        out["duration"] = seconds(body["duration"], "healing.duration")
    if "max_unhealthy" in body:
        out["max_unhealthy"] = integer(body["max_unhealthy"], "healing.max_unhealthy", minimum=1)
    if body.get("action", "replace") != "replace":
        raise InvalidDefinition("healing.action: only 'replace' is supported")
    if out["enabled"] and not out.get("liveness_metric") and not out.get("health_query"):
        raise InvalidDefinition("healing: give liveness_metric or health_query (or enabled: false)")
    return Healing(**out)


def _sizes(min_size: int, max_size: int, desired: int) -> None:
    if min_size > max_size:
        raise InvalidDefinition(f"min_size {min_size} is larger than max_size {max_size}")
    if not min_size <= desired <= max_size:
        raise InvalidDefinition(f"desired_capacity {desired} is outside [min_size {min_size}, max_size {max_size}]")


def _group_field(name: str, value: Any) -> Any:
    """One group field, validated (shared by create and PATCH)."""
    if name == "name":
        return text(value, "name")
    if name in ("min_size", "max_size", "desired_capacity"):
        return integer(value, name)
    if name == "cooldown":
        return seconds(value, "cooldown")
    if name == "member_driver":
        return _wrap(lambda: validate_driver(value), "member_driver")
    if name == "member_resource_type":
        return None if value is None else text(value, name)
    if name == "member_query":
        if value is None:
            return None
        text(value, name, max_length=4096)
        _wrap(lambda: readings.check_member_query(value), name)
        return value
    if name in ("paused", "dry_run"):
        return boolean(value, name)
    if name == "behavior":
        return _wrap(lambda: validate_behavior(value), "behavior")
    if name == "healing":
        return Healing() if value is None else validate_healing(value)
    return value


def build_group(body: Any, *, user_id: str | None, project_id: str | None, admin: bool) -> Group:
    """A new group from a POST body; non-admins create in their own project only."""
    body = _object(body, "scaling group", GROUP_FIELDS)
    for required in ("name", "max_size", "member_driver"):
        if required not in body:
            raise InvalidDefinition(f"{required}: required")
    if not admin and body.get("project_id", project_id) != project_id:
        raise InvalidDefinition("project_id: only an admin creates a group in another project")
    fields = {k: _group_field(k, v) for k, v in body.items() if k not in ("project_id", "user_id")}
    fields.setdefault("min_size", 0)
    fields.setdefault("desired_capacity", fields["min_size"])
    fields.setdefault("cooldown", DEFAULT_COOLDOWN)
    _sizes(fields["min_size"], fields["max_size"], fields["desired_capacity"])
    if fields.get("member_query") and not fields.get("member_resource_type"):
        raise InvalidDefinition("member_query: needs member_resource_type (the type of the members' resources)")
    return Group(id=uuid.uuid4(), project_id=body.get("project_id", project_id),
                 user_id=body.get("user_id", user_id) if admin else user_id, current_size=0, **fields)


def group_changes(group: Group, body: Any) -> dict[str, Any]:
    """The fields a PATCH changes, validated against the group as it is."""
    body = _object(body, "scaling group update", PATCHABLE)
    changes = {k: _group_field(k, v) for k, v in body.items()}
    after = replace(group, **{k: v for k, v in changes.items() if k != "desired_capacity"})
    desired = changes.get("desired_capacity", min(max(group.desired_capacity, after.min_size), after.max_size))
    _sizes(after.min_size, after.max_size, desired)
    if after.member_query and not after.member_resource_type:
        raise InvalidDefinition("member_query: needs member_resource_type (the type of the members' resources)")
    return changes


def _trigger(body: Any, *, scope_project: str | None) -> Trigger:
    keys = ("kind", "query", "for", "interval", "cooldown", "comparison_operator", "threshold", "granularity")
    body = _object(body, "trigger", keys)
    kind = body.get("kind")
    if kind not in ("prometheus", "aggregates"):
        raise InvalidDefinition("trigger.kind: 'prometheus' (a PromQL query, firing while its result is not "
                                "empty) or 'aggregates' (an aggregates expression compared with a threshold)")
    query = text(body.get("query"), "trigger.query", max_length=8192)
    out: dict[str, Any] = {"kind": kind, "query": query}
    for key, attr, minimum in (("for", "for_", 0.0), ("interval", "interval", 1.0), ("cooldown", "cooldown", 0.0)):
        if key in body:
            out[attr] = seconds(body[key], f"trigger.{key}", minimum=minimum)
    if kind == "prometheus":
        from telescale.alarming.rules.promql_scope import scope_to_project

        if scope_project is not None:
            _wrap(lambda: scope_to_project(query, scope_project), "trigger.query")
            out["scope_project"] = scope_project
        return Trigger(**out)
    _wrap(lambda: readings.check_expression(query), "trigger.query")
    if body.get("comparison_operator") not in readings.COMPARISON_OPERATORS:
        raise InvalidDefinition(f"trigger.comparison_operator: one of {', '.join(readings.COMPARISON_OPERATORS)}")
    threshold = body.get("threshold")
    if isinstance(threshold, bool) or not isinstance(threshold, int | float):
        raise InvalidDefinition(f"trigger.threshold: expected a number, not {threshold!r}")
    if body.get("granularity") is not None:
        out["granularity"] = seconds(body["granularity"], "trigger.granularity", minimum=1)
    return Trigger(**out, comparison_operator=body["comparison_operator"], threshold=float(threshold))


def build_policy(group: Group, body: Any, *, scope_project: str | None) -> Policy:
    """A new policy of ``group`` from a POST body (flat, as Heat's ScalingPolicy properties)."""
    if not isinstance(body, dict):
        raise InvalidDefinition("scaling policy: expected a JSON object")
    kind = body.get("type", "step")
    if kind not in POLICY_TYPES:
        raise InvalidDefinition(f"type: one of {', '.join(POLICY_TYPES)}, not {kind!r}")
    _object(body, f"{kind} policy", ("name", "type", "enabled", "trigger", *TYPE_KEYS[kind]))
    name = text(body.get("name", f"{kind}-{uuid.uuid4().hex[:8]}"), "name")
    spec = {k: seconds(v, k) if k in DURATION_KEYS and isinstance(v, str) else v
            for k, v in body.items() if k in TYPE_KEYS[kind]}
    fields: dict[str, Any] = {}
    if kind == "step":
        fields["step"] = _wrap(lambda: validate_step(spec), "step policy")
    elif kind == "target_tracking":
        fields["target"] = _wrap(lambda: validate_target(spec), "target_tracking policy")
        _wrap(lambda: readings.check_expression(fields["target"].operations), "operations")
        if not group.member_resource_type:
            raise InvalidDefinition("target_tracking: the group needs member_resource_type (and usually "
                                    "member_query) to read its members' metrics")
    else:
        fields["schedule"] = _wrap(lambda: validate_schedule(spec), "scheduled policy")
    if body.get("trigger") is not None:
        if kind != "step":
            raise InvalidDefinition("trigger: only a step policy has a trigger (the others evaluate by themselves)")
        fields["trigger"] = _trigger(body["trigger"], scope_project=scope_project)
        if fields["trigger"].kind == "aggregates" and not group.member_resource_type:
            raise InvalidDefinition("trigger: an aggregates trigger reads the members' metrics; the group needs "
                                    "member_resource_type")
    return Policy(id=uuid.uuid4(), group_id=group.id, name=name, type=kind,
                  enabled=boolean(body.get("enabled", True), "enabled"), **fields)


def build_silence(body: Any, *, project_id: str | None, created_by: str, now: datetime.datetime) -> Silence:
    body = _object(body, "silence", ("pattern", "ttl", "expires_at", "group_id", "comment"))
    pattern = text(body.get("pattern"), "pattern", max_length=1024)
    try:
        re.compile(pattern)
    except re.error as e:
        raise InvalidDefinition(f"pattern: not a regular expression ({e})") from None
    if ("ttl" in body) == ("expires_at" in body):
        raise InvalidDefinition("give either ttl (a duration) or expires_at (an ISO 8601 time)")
    if "ttl" in body:
        expires = now + datetime.timedelta(seconds=seconds(body["ttl"], "ttl", minimum=1))
    else:
        try:
            expires = datetime.datetime.fromisoformat(str(body["expires_at"]))
        except ValueError:
            raise InvalidDefinition(f"expires_at: not an ISO 8601 time: {body['expires_at']!r}") from None
        if expires.tzinfo is None:
            expires = expires.replace(tzinfo=datetime.UTC)
        if expires <= now:
            raise InvalidDefinition("expires_at: already in the past")
    group_id = None
    if body.get("group_id") is not None:
        try:
            group_id = uuid.UUID(str(body["group_id"]))
        except ValueError:
            raise InvalidDefinition(f"group_id: not a UUID: {body['group_id']!r}") from None
    return Silence(id=uuid.uuid4(), project_id=project_id, pattern=pattern, expires_at=expires, group_id=group_id,
                   comment=text(body.get("comment", ""), "comment", max_length=1024, empty=True),
                   created_by=created_by, created_at=now)

