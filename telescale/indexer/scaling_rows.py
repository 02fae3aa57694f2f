"""What every scaling module of the indexer shares: rows ⇄ frozen records, JSON of the nested values, checks.

The nested values of ``telescale.scaling.model`` (Behavior, Healing, Action, the policy specs, Trigger) are
stored as JSON documents written with :func:`dataclasses.asdict` and read back field by field, so a field
added later with a default reads old rows unchanged. Trigger's ``for_`` is stored as ``for``. The indexer
checks what would corrupt a row (sizes out of bounds, an unknown member status or decision outcome) and
raises :class:`~telescale.indexer.errors.InvalidScalingValue`, a ``ValueError`` the API turns into a 400.
"""

from __future__ import annotations

import dataclasses
import datetime
import uuid
from collections.abc import Mapping
from typing import Any, TypeVar

import sqlalchemy as sa
from sqlalchemy.orm import Session

from telescale.indexer import errors
from telescale.indexer.alarm_rows import plain
from telescale.indexer.models import ScalingDecisionRow, ScalingGroupRow, ScalingMemberRow, ScalingPolicyRow
from telescale.scaling.model import (
    BLOCKERS,
    MEMBER_STATES,
    OUTCOMES,
    Action,
    Behavior,
    Decision,
    DirectionBehavior,
    Group,
    Healing,
    Member,
    Policy,
    RateLimit,
    ScheduleSpec,
    StepSpec,
    TargetSpec,
    Trigger,
)

G = ScalingGroupRow
T = TypeVar("T")

#: Policy types and the Policy field holding each one's spec.
POLICY_SPECS = {"step": "step", "target_tracking": "target", "scheduled": "schedule"}
_SPEC_CLASSES: dict[str, type[Any]] = {"step": StepSpec, "target_tracking": TargetSpec, "scheduled": ScheduleSpec}
#: The action's bookkeeping kept in columns (the claim query reads them), not in its JSON.
_ACTION_COLUMNS = {"owner": "action_owner", "lease_until": "action_lease_until",
                   "next_attempt_at": "action_next_attempt_at"}
_ACTION_TIMES = ("started_at", "lease_until", "next_attempt_at")


# -- JSON of nested values -------------------------------------------------------------------------------------

def _known(cls: type[T], values: Mapping[str, Any]) -> dict[str, Any]:
    names = {f.name for f in dataclasses.fields(cls)}  # type: ignore[arg-type]
    return {k: v for k, v in values.items() if k in names}


def behavior_to_json(behavior: Behavior) -> dict[str, Any]:
    return plain(dataclasses.asdict(behavior))


def _direction(values: Mapping[str, Any]) -> DirectionBehavior:
    limits = tuple(RateLimit(**_known(RateLimit, limit)) for limit in values.get("limits", ()))
    return DirectionBehavior(**{**_known(DirectionBehavior, values), "limits": limits})


def behavior_from_json(values: Mapping[str, Any]) -> Behavior:
    default = Behavior()
    return Behavior(
        scale_up=_direction(values["scale_up"]) if "scale_up" in values else default.scale_up,
        scale_down=_direction(values["scale_down"]) if "scale_down" in values else default.scale_down,
    )


def healing_to_json(healing: Healing) -> dict[str, Any]:
    return plain(dataclasses.asdict(healing))


def healing_from_json(values: Mapping[str, Any]) -> Healing:
    return Healing(**_known(Healing, values))


def action_to_json(action: Action) -> dict[str, Any]:
    """The action without the three fields kept in columns (see :func:`action_columns`)."""
    values = dataclasses.asdict(action)
    for name in _ACTION_COLUMNS:
        values.pop(name)
    return plain(values)


def action_columns(action: Action | None) -> dict[str, Any]:
    """The group's column values of ``action`` (all NULL when none is in flight)."""
    if action is None:
        return {"action": None, **{column: None for column in _ACTION_COLUMNS.values()}}
    return {"action": action_to_json(action), **{column: getattr(action, name) for name, column in
                                                  _ACTION_COLUMNS.items()}}


def action_from_json(values: Mapping[str, Any], **columns: Any) -> Action:
    """The action of its JSON and the ``owner``/``lease_until``/``next_attempt_at`` columns."""
    fields = {**_known(Action, values), **columns}
    fields.update({k: tuple(v) for k, v in fields.items() if isinstance(v, list)})  # JSON arrays are tuples here
    fields["id"] = uuid.UUID(str(fields["id"]))
    fields["decision_id"] = uuid.UUID(str(fields["decision_id"]))
    for name in _ACTION_TIMES:
        if isinstance(fields.get(name), str):
            fields[name] = datetime.datetime.fromisoformat(fields[name])
    return Action(**fields)


def spec_to_json(spec: Any) -> dict[str, Any]:
    return plain(dataclasses.asdict(spec))


def spec_from_json(policy_type: str, values: Mapping[str, Any]) -> Any:
    cls = _SPEC_CLASSES[policy_type]
    return cls(**_known(cls, values))


def trigger_to_json(trigger: Trigger) -> dict[str, Any]:
    values = dataclasses.asdict(trigger)
    values["for"] = values.pop("for_")
    return plain(values)


def trigger_from_json(values: Mapping[str, Any]) -> Trigger:
    fields = dict(values)
    if "for" in fields:
        fields["for_"] = fields.pop("for")
    return Trigger(**_known(Trigger, fields))


def check_limit(limit: int | None) -> None:
    if limit is not None and (isinstance(limit, bool) or not isinstance(limit, int) or limit < 1):
        raise errors.InvalidScalingValue("limit", f"{limit!r} is not a positive integer")


# -- groups ----------------------------------------------------------------------------------------------------

def select_groups() -> sa.Select[Any]:
    return sa.select(G.__table__)


def group_scope(project: str | None) -> sa.ColumnElement[bool]:
    """The groups a caller limited to ``project`` may see (None: every group)."""
    return sa.true() if project is None else G.project_id == project


def group_record(row: Any) -> Group:
    """The record of a row of :func:`select_groups`."""
    action = None
    if row.action is not None:
        action = action_from_json(row.action, owner=row.action_owner, lease_until=row.action_lease_until,
                                  next_attempt_at=row.action_next_attempt_at)
    return Group(
        id=row.id, name=row.name, project_id=row.project_id, user_id=row.user_id,
        min_size=row.min_size, max_size=row.max_size, desired_capacity=row.desired_capacity,
        current_size=row.current_size, cooldown=row.cooldown, member_driver=dict(row.member_driver),
        member_resource_type=row.member_resource_type, member_query=row.member_query,
        paused=row.paused, dry_run=row.dry_run, behavior=behavior_from_json(row.behavior),
        healing=healing_from_json(row.healing), cooldown_end=row.cooldown_end, action=action,
        created_at=row.created_at, updated_at=row.updated_at, version=row.version,
    )  # fmt: skip


def check_group(group: Group) -> None:
    """What the table's checks would refuse, with a message naming the field."""
    if not group.name:
        raise errors.InvalidScalingValue("name", "a scaling group needs a name")
    for name in ("min_size", "max_size", "desired_capacity", "current_size"):
        value = getattr(group, name)
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            raise errors.InvalidScalingValue(name, f"{value!r} is not an integer >= 0")
    if group.min_size > group.max_size:
        raise errors.InvalidScalingValue("min_size", f"min_size {group.min_size} is above max_size {group.max_size}")
    # desired_capacity may leave [min_size, max_size] while a scheduled window widens them; the API keeps a
    # user's own changes inside the group's bounds
    if not isinstance(group.cooldown, int | float) or group.cooldown < 0:
        raise errors.InvalidScalingValue("cooldown", f"{group.cooldown!r} is not a number of seconds >= 0")
    if not isinstance(group.member_driver, Mapping) or not group.member_driver.get("type"):
        raise errors.InvalidScalingValue("member_driver", "a member driver is an object with a 'type'")


def group_values(group: Group) -> dict[str, Any]:
    """The column values of a group record, after :func:`check_group`."""
    check_group(group)
    return {
        "id": group.id, "name": group.name, "project_id": group.project_id, "user_id": group.user_id,
        "min_size": group.min_size, "max_size": group.max_size, "desired_capacity": group.desired_capacity,
        "current_size": group.current_size, "cooldown": float(group.cooldown), "cooldown_end": group.cooldown_end,
        "member_driver": plain(dict(group.member_driver)), "member_resource_type": group.member_resource_type,
        "member_query": group.member_query, "paused": group.paused, "dry_run": group.dry_run,
        "behavior": behavior_to_json(group.behavior), "healing": healing_to_json(group.healing),
        **action_columns(group.action),
        "created_at": group.created_at, "updated_at": group.updated_at, "version": group.version,
    }  # fmt: skip


def coerce_group_changes(changes: Mapping[str, Any]) -> dict[str, Any]:
    """Group field values as the record holds them: ``behavior``/``healing`` may come as JSON objects."""
    values = dict(changes)
    if isinstance(values.get("behavior"), Mapping):
        values["behavior"] = behavior_from_json(values["behavior"])
    if isinstance(values.get("healing"), Mapping):
        values["healing"] = healing_from_json(values["healing"])
    if isinstance(values.get("action"), Mapping):
        values["action"] = action_from_json(values["action"])
    return values


def locked_group(s: Session, group_id: uuid.UUID, project: str | None) -> Group:
    """The group, locked until the end of the transaction (PostgreSQL; SQLite writers hold the database)."""
    row = s.execute(select_groups().where(G.id == group_id, group_scope(project)).with_for_update()).first()
    if row is None:
        raise errors.NoSuchScalingGroup(group_id, project)
    return group_record(row)


def write_group(s: Session, group: Group) -> None:
    s.execute(sa.update(G).where(G.id == group.id).values(group_values(group)))


# -- policies --------------------------------------------------------------------------------------------------

def policy_is_scheduled(policy: Policy) -> bool:
    """Whether the scaler evaluates the policy by itself (else only signals move it)."""
    return policy.type in ("target_tracking", "scheduled") or policy.trigger is not None


def check_policy(policy: Policy) -> None:
    if not policy.name:
        raise errors.InvalidScalingValue("name", "a scaling policy needs a name")
    if policy.type not in POLICY_SPECS:
        raise errors.InvalidScalingValue("type", f"{policy.type!r} is not one of {', '.join(POLICY_SPECS)}")
    spec = getattr(policy, POLICY_SPECS[policy.type])
    if not isinstance(spec, _SPEC_CLASSES[policy.type]):
        raise errors.InvalidScalingValue(
            POLICY_SPECS[policy.type], f"a {policy.type} policy needs its {_SPEC_CLASSES[policy.type].__name__}"
        )


def policy_values(policy: Policy, token_hash: str | None) -> dict[str, Any]:
    check_policy(policy)
    return {
        "id": policy.id, "group_id": policy.group_id, "name": policy.name, "type": policy.type,
        "spec": spec_to_json(getattr(policy, POLICY_SPECS[policy.type])),
        "trigger": None if policy.trigger is None else trigger_to_json(policy.trigger),
        "enabled": policy.enabled, "token_hash": token_hash, "state": plain(dict(policy.state)),
        "next_evaluation_at": policy.created_at if policy_is_scheduled(policy) else None,
        "created_at": policy.created_at,
    }  # fmt: skip


def select_policies() -> sa.Select[Any]:
    return sa.select(ScalingPolicyRow.__table__)


def policy_record(row: Any) -> Policy:
    spec_field = POLICY_SPECS[row.type]
    return Policy(
        id=row.id, group_id=row.group_id, name=row.name, type=row.type,
        **{spec_field: spec_from_json(row.type, row.spec)},
        trigger=None if row.trigger is None else trigger_from_json(row.trigger),
        enabled=row.enabled, created_at=row.created_at, state=dict(row.state or {}),
    )  # fmt: skip


# -- members ---------------------------------------------------------------------------------------------------

def check_member_status(status: str) -> None:
    if status not in MEMBER_STATES:
        raise errors.InvalidScalingValue("status", f"{status!r} is not one of {', '.join(MEMBER_STATES)}")


def member_values(member: Member, group_id: uuid.UUID, now: datetime.datetime) -> dict[str, Any]:
    check_member_status(member.status)
    if member.group_id != group_id:
        raise errors.InvalidScalingValue("group_id", f"member {member.id} belongs to group {member.group_id}")
    return {
        "id": member.id, "group_id": group_id, "name": member.name, "ref": member.ref, "status": member.status,
        "resource_id": member.resource_id, "created_at": member.created_at or now, "data": plain(dict(member.data)),
    }  # fmt: skip


def member_record(row: Any) -> Member:
    return Member(id=row.id, group_id=row.group_id, name=row.name, ref=row.ref, status=row.status,
                  resource_id=row.resource_id, created_at=row.created_at, data=dict(row.data or {}))


def replace_members(s: Session, group_id: uuid.UUID, members: list[Member], now: datetime.datetime) -> None:
    s.execute(sa.delete(ScalingMemberRow).where(ScalingMemberRow.group_id == group_id))
    if members:
        s.execute(sa.insert(ScalingMemberRow), [member_values(m, group_id, now) for m in members])


# -- decisions -------------------------------------------------------------------------------------------------

def decision_values(decision: Decision, project_id: str | None) -> dict[str, Any]:
    if decision.outcome not in OUTCOMES:
        raise errors.InvalidScalingValue("outcome", f"{decision.outcome!r} is not one of {', '.join(OUTCOMES)}")
    if decision.blocked_by is not None and decision.blocked_by not in BLOCKERS:
        raise errors.InvalidScalingValue(
            "blocked_by", f"{decision.blocked_by!r} is not one of {', '.join(BLOCKERS)}"
        )
    values = {f.name: getattr(decision, f.name) for f in dataclasses.fields(Decision)}
    values["inputs"] = plain(dict(decision.inputs))
    values["project_id"] = project_id
    return values


def insert_decision(s: Session, decision: Decision, project_id: str | None) -> None:
    s.execute(sa.insert(ScalingDecisionRow).values(decision_values(decision, project_id)))


def decision_record(row: Any) -> Decision:
    values = {f.name: getattr(row, f.name) for f in dataclasses.fields(Decision)}
    values["inputs"] = dict(values["inputs"] or {})
    return Decision(**values)
