"""How objects are shown in JSON, in Gnocchi's field names and formats."""

from __future__ import annotations

from typing import Any

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
