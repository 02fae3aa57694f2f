"""Scaling values as the API shows them (JSON-ready dicts). Secrets never leave: a policy's signal token is
shown once, when created or rotated, and header values and URL passwords of a driver's options are masked."""

from __future__ import annotations

import dataclasses
import datetime
import uuid
from collections.abc import Mapping, Sequence
from typing import Any

from telescale.redact import public_url
from telescale.scaling.model import Decision, Group, Member, Policy, Silence

MASK = "***"


def _json(value: Any) -> Any:
    if isinstance(value, datetime.datetime):
        return value.isoformat()
    if isinstance(value, uuid.UUID):
        return str(value)
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name.rstrip("_"): _json(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, Mapping):
        return {str(k): _json(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_json(v) for v in value]
    return value


def driver_view(options: Mapping[str, Any]) -> dict[str, Any]:
    """A driver's options without their secrets (header values, passwords in URLs)."""
    out: dict[str, Any] = {}
    for key, value in options.items():
        if key == "headers" and isinstance(value, Mapping):
            out[key] = {name: MASK for name in value}
        elif isinstance(value, str) and "://" in value:
            out[key] = public_url(value)
        elif key in ("password", "token", "secret"):
            out[key] = MASK
        else:
            out[key] = _json(value)
    return out


def member_view(member: Member) -> dict[str, Any]:
    return {"id": str(member.id), "name": member.name, "ref": member.ref, "status": member.status,
            "resource_id": _json(member.resource_id), "created_at": _json(member.created_at),
            **{k: _json(v) for k, v in member.data.items() if k in ("address", "port", "pid", "server_id")}}


def group_view(group: Group, members: Sequence[Member] = ()) -> dict[str, Any]:
    action = group.action
    return {
        "id": str(group.id), "name": group.name, "project_id": group.project_id, "user_id": group.user_id,
        "min_size": group.min_size, "max_size": group.max_size, "desired_capacity": group.desired_capacity,
        "current_size": group.current_size, "cooldown": group.cooldown, "cooldown_end": _json(group.cooldown_end),
        "member_driver": driver_view(group.member_driver), "member_resource_type": group.member_resource_type,
        "member_query": group.member_query, "paused": group.paused, "dry_run": group.dry_run,
        "behavior": _json(group.behavior), "healing": _json(group.healing),
        "in_progress": None if action is None else {
            "desired_capacity": action.desired, "previous_capacity": action.previous, "reason": action.reason,
            "started_at": _json(action.started_at), "attempts": action.attempts, "last_error": action.last_error,
            "replacing": list(action.replace)},
        "members": [member_view(m) for m in members],
        "created_at": _json(group.created_at), "updated_at": _json(group.updated_at),
    }


def policy_view(policy: Policy, *, signal_url: str | None = None, authenticated_signal_url: str) -> dict[str, Any]:
    spec = policy.step or policy.target or policy.schedule
    return {"id": str(policy.id), "group_id": str(policy.group_id), "name": policy.name, "type": policy.type,
            "enabled": policy.enabled, **(_json(spec) if spec is not None else {}),
            "trigger": _json(policy.trigger) if policy.trigger else None,
            "signal_url": signal_url, "authenticated_signal_url": authenticated_signal_url,
            "created_at": _json(policy.created_at), "state": _json(policy.state)}


def decision_view(decision: Decision) -> dict[str, Any]:
    return {"id": str(decision.id), "group_id": str(decision.group_id), "timestamp": _json(decision.timestamp),
            "source": decision.source, "policy_id": _json(decision.policy_id), "outcome": decision.outcome,
            "blocked_by": decision.blocked_by, "reason": decision.reason, "rule": decision.rule,
            "recommended": decision.recommended, "size_before": decision.size_before,
            "size_after": decision.size_after, "current_size": decision.current_size, "dry_run": decision.dry_run,
            "inputs": _json(decision.inputs)}


def silence_view(silence: Silence) -> dict[str, Any]:
    return {"id": str(silence.id), "project_id": silence.project_id, "group_id": _json(silence.group_id),
            "pattern": silence.pattern, "comment": silence.comment, "created_by": silence.created_by,
            "created_at": _json(silence.created_at), "expires_at": _json(silence.expires_at)}
