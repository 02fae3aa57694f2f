"""Records the scaling indexer tests store: a group, a policy of each type, a member and a decision, each with
the API's defaults and any field overridable."""

from __future__ import annotations

import datetime
import hashlib
import uuid
from typing import Any

from telescale.scaling.model import (
    Decision,
    Group,
    Member,
    Policy,
    ScheduleSpec,
    StepSpec,
    TargetSpec,
    Trigger,
)

T0 = datetime.datetime(2027, 1, 15, 12, 0, tzinfo=datetime.UTC)


def at(seconds: float) -> datetime.datetime:
    return T0 + datetime.timedelta(seconds=seconds)


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def group(**fields: Any) -> Group:
    values: dict[str, Any] = {
        "id": uuid.uuid4(), "name": "web", "project_id": "project-a", "user_id": "user-a",
        "min_size": 1, "max_size": 5, "desired_capacity": 2, "current_size": 2, "cooldown": 60.0,
        "member_driver": {"type": "webhook", "url": "http://receiver:9/scale"},
        "member_resource_type": "instance", "member_query": "server_group = 'web'",
    }  # fmt: skip
    values.update(fields)
    return Group(**values)


def step_policy(group_id: uuid.UUID, **fields: Any) -> Policy:
    values: dict[str, Any] = {"id": uuid.uuid4(), "group_id": group_id, "name": "up", "type": "step",
                              "step": StepSpec("change_in_capacity", 2)}
    values.update(fields)
    return Policy(**values)


def target_policy(group_id: uuid.UUID, **fields: Any) -> Policy:
    return step_policy(group_id, **{"name": "cpu", "type": "target_tracking", "step": None,
                                    "target": TargetSpec("(aggregate mean (metric cpu mean))", 60.0), **fields})


def scheduled_policy(group_id: uuid.UUID, **fields: Any) -> Policy:
    return step_policy(group_id, **{"name": "office", "type": "scheduled", "step": None,
                                    "schedule": ScheduleSpec("0 8 * * 1-5", 36000.0, "Europe/Paris", min_size=3),
                                    **fields})


def triggered_policy(group_id: uuid.UUID, **fields: Any) -> Policy:
    return step_policy(group_id, **{"name": "faythe", "trigger": Trigger("prometheus", "up == 0", for_=120.0),
                                    **fields})


def member(group_id: uuid.UUID, name: str, **fields: Any) -> Member:
    return Member(id=uuid.uuid4(), group_id=group_id, name=name, ref=f"ref-{name}", **fields)


def decision(group_id: uuid.UUID, timestamp: datetime.datetime, **fields: Any) -> Decision:
    values: dict[str, Any] = {
        "id": uuid.uuid4(), "group_id": group_id, "timestamp": timestamp, "source": "signal", "outcome": "none",
        "reason": "nothing to do", "size_before": 2, "size_after": 2, "current_size": 2,
    }  # fmt: skip
    values.update(fields)
    return Decision(**values)
