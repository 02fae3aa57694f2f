"""How objects are shown in JSON, in Gnocchi's field names and formats."""

from __future__ import annotations

import datetime
from collections.abc import Mapping
from typing import Any

from telescale import indexer as idx
from telescale.timeseries import ArchivePolicy
from telescale.timeutil import format_timespan


def policy_view(policy: ArchivePolicy) -> dict[str, Any]:
    return {
        "name": policy.name,
        "back_window": policy.back_window,
        "aggregation_methods": sorted(policy.aggregation_methods),
        "definition": [
            {
                "granularity": format_timespan(item.granularity),
                "points": item.points,
                "timespan": format_timespan(item.timespan),
            }
            for item in policy.definition
        ],
    }


def rule_view(rule: Any) -> dict[str, Any]:
    return {"name": rule.name, "metric_pattern": rule.metric_pattern, "archive_policy_name": rule.archive_policy_name}


def _creator_parts(creator: str) -> tuple[str, str | None]:
    user, _, project = creator.partition(":")
    return user, project or None


def metric_view(metric: Any, with_policy: bool = True) -> dict[str, Any]:
    user, project = _creator_parts(metric.creator)
    view: dict[str, Any] = {
        "id": str(metric.id),
        "archive_policy_name": metric.archive_policy.name,
        "creator": metric.creator,
        "created_by_user_id": user,
        "created_by_project_id": project or "",
        "name": metric.name,
        "unit": metric.unit,
        "resource_id": str(metric.resource_id) if metric.resource_id else None,
    }
    if with_policy:
        view["archive_policy"] = policy_view(metric.archive_policy)
    return view


def render_value(spec: Mapping[str, Any] | None, value: Any) -> Any:
    """A stored value as Gnocchi shows it (datetimes without the microseconds when they are zero)."""
    if value is None or spec is None or spec.get("type") != "datetime":
        return value
    try:
        return datetime.datetime.fromisoformat(value).isoformat()
    except (TypeError, ValueError):
        return value


def _iso(value: Any) -> str | None:
    return value.isoformat() if value is not None else None


def resource_view(resource: idx.Resource, attributes: dict[str, dict[str, Any]] | None,
                  attrs: list[str] | None = None) -> dict[str, Any]:
    """Gnocchi's JSON of a resource; ``attributes`` is its type's schema (None: show no attributes)."""
    user, _, project = (resource.creator or "").partition(":")
    view: dict[str, Any] = {
        "id": str(resource.id),
        "type": resource.type,
        "original_resource_id": resource.original_resource_id,
        "creator": resource.creator,
        "created_by_user_id": user if resource.creator is not None else None,
        "created_by_project_id": project if resource.creator is not None else None,
        "user_id": resource.user_id,
        "project_id": resource.project_id,
        "started_at": _iso(resource.started_at),
        "ended_at": _iso(resource.ended_at),
        "revision_start": _iso(resource.revision_start),
        "revision_end": _iso(resource.revision_end),
        "metrics": {name: str(mid) for name, mid in resource.metrics.items()},
    }
    for name, spec in (attributes or {}).items():
        view[name] = render_value(spec, resource.attributes.get(name))
    if attrs:
        view = {k: v for k, v in view.items() if k in attrs}
    return view
