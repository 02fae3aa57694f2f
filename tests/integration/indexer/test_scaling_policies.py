"""Scaling policies in the indexer, on SQLite and PostgreSQL: specs stored by type, scoping through the group,
signal tokens (rotate, revoke, look up) and the scaler's schedule of due policies."""

from __future__ import annotations

import dataclasses
import uuid

import pytest

from telescale.indexer import Indexer
from telescale.indexer.errors import (
    InvalidScalingValue,
    NoSuchScalingGroup,
    NoSuchScalingPolicy,
    ScalingPolicyAlreadyExists,
)
from telescale.scaling.model import StepSpec, TargetSpec, Trigger
from tests.integration.indexer.scaling_records import (
    T0,
    at,
    group,
    scheduled_policy,
    step_policy,
    target_policy,
    token_hash,
    triggered_policy,
)


@pytest.fixture
def web(indexer: Indexer):
    return indexer.create_scaling_group(group())


def test_each_type_round_trips(indexer: Indexer, web) -> None:
    policies = [
        step_policy(web.id, step=StepSpec("percent_change_in_capacity", 50, min_adjustment_step=2, cooldown=30)),
        target_policy(web.id, state={"last": 1.5}),
        scheduled_policy(web.id, enabled=False),
        triggered_policy(web.id, trigger=Trigger("aggregates", "(metric cpu mean)", for_=60, comparison_operator="gt",
                                                 threshold=80.0, granularity=60.0)),
    ]
    created = [indexer.create_scaling_policy(p, token_hash(p.name)) for p in policies]
    for policy, stored in zip(policies, created, strict=True):
        assert stored.created_at is not None
        assert stored == dataclasses.replace(policy, created_at=stored.created_at)
        assert indexer.get_scaling_policy(policy.id, "project-a") == stored
    assert indexer.list_scaling_policies(web.id, "project-a") == created
    assert created[3].trigger.for_ == 60


def test_trigger_for_is_stored_as_for(indexer: Indexer, web) -> None:
    policy = indexer.create_scaling_policy(triggered_policy(web.id), None)
    with indexer._engine.connect() as conn:
        stored = conn.exec_driver_sql(f"SELECT trigger FROM scaling_policy WHERE id = '{_db_id(indexer, policy.id)}'")
        trigger = stored.scalar()
    trigger = trigger if isinstance(trigger, dict) else __import__("json").loads(trigger)
    assert trigger["for"] == 120.0 and "for_" not in trigger


def _db_id(indexer: Indexer, value: uuid.UUID) -> str:
    return str(value) if indexer._engine.dialect.name == "postgresql" else value.hex


def test_policy_errors(indexer: Indexer, web) -> None:
    indexer.create_scaling_policy(step_policy(web.id), None)
    with pytest.raises(ScalingPolicyAlreadyExists, match=f"up already exists in scaling group {web.id}"):
        indexer.create_scaling_policy(step_policy(web.id), None)
    with pytest.raises(NoSuchScalingGroup):
        indexer.create_scaling_policy(step_policy(uuid.uuid4()), None)
    with pytest.raises(InvalidScalingValue) as e:
        indexer.create_scaling_policy(step_policy(web.id, name="x", type="target_tracking"), None)
    assert e.value.field == "target"
    with pytest.raises(InvalidScalingValue) as e:
        indexer.create_scaling_policy(step_policy(web.id, name="x", type="magic"), None)
    assert e.value.field == "type"
    with pytest.raises(InvalidScalingValue) as e:
        indexer.create_scaling_policy(step_policy(web.id, name="x"), "not-a-hash")
    assert e.value.field == "token_hash"
    # Another group may use the name.
    other = indexer.create_scaling_group(group(name="api"))
    indexer.create_scaling_policy(step_policy(other.id), None)


def test_scoped_through_the_group(indexer: Indexer, web) -> None:
    policy = indexer.create_scaling_policy(step_policy(web.id), token_hash("t"))
    with pytest.raises(NoSuchScalingPolicy, match="not found in project project-b"):
        indexer.get_scaling_policy(policy.id, "project-b")
    with pytest.raises(NoSuchScalingGroup):
        indexer.list_scaling_policies(web.id, "project-b")
    with pytest.raises(NoSuchScalingPolicy):
        indexer.delete_scaling_policy(policy.id, "project-b")
    with pytest.raises(NoSuchScalingPolicy):
        indexer.set_policy_token(policy.id, "project-b", None)
    assert indexer.policy_by_token(token_hash("t"))[0] == policy  # untouched
    assert indexer.get_scaling_policy(policy.id, None) == policy


def test_delete_policy(indexer: Indexer, web) -> None:
    keep = indexer.create_scaling_policy(step_policy(web.id, name="keep"), None)
    gone = indexer.create_scaling_policy(step_policy(web.id), token_hash("t"))
    assert indexer.delete_scaling_policy(gone.id, "project-a") == gone
    with pytest.raises(NoSuchScalingPolicy):
        indexer.get_scaling_policy(gone.id, None)
    with pytest.raises(NoSuchScalingPolicy):
        indexer.policy_by_token(token_hash("t"))
    assert indexer.list_scaling_policies(web.id, None) == [keep]


def test_tokens_rotate_and_revoke(indexer: Indexer, web) -> None:
    policy = indexer.create_scaling_policy(step_policy(web.id), token_hash("first"))
    found, found_group = indexer.policy_by_token(token_hash("first"))
    assert found == policy and found_group == web
    with pytest.raises(NoSuchScalingPolicy) as e:
        indexer.policy_by_token(token_hash("guessed"))
    assert token_hash("guessed") not in str(e.value)

    indexer.set_policy_token(policy.id, "project-a", token_hash("second"))
    with pytest.raises(NoSuchScalingPolicy):
        indexer.policy_by_token(token_hash("first"))
    assert indexer.policy_by_token(token_hash("second"))[0] == policy

    indexer.set_policy_token(policy.id, None, None)
    with pytest.raises(NoSuchScalingPolicy):
        indexer.policy_by_token(token_hash("second"))

    other = indexer.create_scaling_policy(step_policy(web.id, name="other"), token_hash("other"))
    with pytest.raises(InvalidScalingValue):
        indexer.set_policy_token(policy.id, None, token_hash("other"))
    with pytest.raises(InvalidScalingValue):
        indexer.create_scaling_policy(step_policy(web.id, name="third"), token_hash("other"))
    assert indexer.policy_by_token(token_hash("other"))[0] == other
    # Many policies may have no token at once.
    indexer.set_policy_token(other.id, None, None)


def test_due_policies(indexer: Indexer, web) -> None:
    signal_only = indexer.create_scaling_policy(step_policy(web.id, created_at=T0), None)
    target = indexer.create_scaling_policy(target_policy(web.id, created_at=at(1)), None)
    schedule = indexer.create_scaling_policy(scheduled_policy(web.id, created_at=at(2)), None)
    triggered = indexer.create_scaling_policy(triggered_policy(web.id, created_at=at(3)), None)
    indexer.create_scaling_policy(target_policy(web.id, name="off", enabled=False, created_at=at(0)), None)
    other = indexer.create_scaling_group(group(name="api", project_id="project-b"))
    other_target = indexer.create_scaling_policy(target_policy(other.id, created_at=at(4)), None)

    # New policies of the self-evaluated kinds are due at once; a signal-only step policy never is.
    due = indexer.due_scaling_policies(at(10))
    assert [p.id for p, _ in due] == [target.id, schedule.id, triggered.id, other_target.id]
    assert [g.id for _, g in due] == [web.id, web.id, web.id, other.id]
    assert signal_only.id not in {p.id for p, _ in indexer.due_scaling_policies(at(10_000))}
    assert [p.id for p, _ in indexer.due_scaling_policies(at(2))] == [target.id, schedule.id]
    assert len(indexer.due_scaling_policies(at(10), limit=2)) == 2

    indexer.schedule_policy(target.id, at(25), state={"pending_since": at(5).isoformat()})
    indexer.schedule_policy(schedule.id, at(20))
    indexer.schedule_policy(triggered.id, None)
    assert [p.id for p, _ in indexer.due_scaling_policies(at(10))] == [other_target.id]
    assert [p.id for p, _ in indexer.due_scaling_policies(at(30))] == [other_target.id, schedule.id, target.id]
    assert indexer.get_scaling_policy(target.id, None).state == {"pending_since": at(5).isoformat()}
    assert indexer.get_scaling_policy(schedule.id, None).state == {}  # state None: unchanged
    with pytest.raises(NoSuchScalingPolicy):
        indexer.schedule_policy(uuid.uuid4(), at(1))


def test_target_spec_defaults_survive(indexer: Indexer, web) -> None:
    policy = indexer.create_scaling_policy(target_policy(web.id), None)
    assert indexer.get_scaling_policy(policy.id, None).target == TargetSpec("(aggregate mean (metric cpu mean))", 60.0)
