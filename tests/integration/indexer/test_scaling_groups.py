"""Scaling groups and members in the indexer, on SQLite and PostgreSQL: what the API's group endpoints rely on."""

from __future__ import annotations

import dataclasses
import uuid

import pytest

from telescale.indexer import Indexer, InvalidMarker
from telescale.indexer.errors import (
    InvalidScalingValue,
    NoSuchScalingGroup,
    NoSuchScalingMember,
    NoSuchScalingPolicy,
    ScalingGroupAlreadyExists,
    ScalingGroupConflict,
)
from telescale.scaling.model import Action, Behavior, DirectionBehavior, Healing, RateLimit
from tests.integration.indexer.scaling_records import at, decision, group, member, step_policy


def test_create_and_get_round_trip(indexer: Indexer) -> None:
    behavior = Behavior(scale_down=DirectionBehavior(600.0, (RateLimit("members", 1, 60),), select="min"))
    healing = Healing(enabled=True, liveness_metric="heartbeat", max_unhealthy=2)
    created = indexer.create_scaling_group(group(behavior=behavior, healing=healing, paused=True, dry_run=True))
    assert created.version == 1 and created.created_at is not None and created.created_at == created.updated_at
    assert created.action is None
    got = indexer.get_scaling_group(created.id, "project-a")
    assert got == created
    assert got.behavior == behavior and got.healing == healing
    assert got.member_driver == {"type": "webhook", "url": "http://receiver:9/scale"}
    assert indexer.get_scaling_group(created.id, None) == created


def test_default_behavior_is_hpa(indexer: Indexer) -> None:
    got = indexer.get_scaling_group(indexer.create_scaling_group(group()).id, None)
    assert got.behavior == Behavior() and got.behavior.scale_down.stabilization == 300.0
    assert got.healing == Healing()


def test_name_unique_per_project(indexer: Indexer) -> None:
    indexer.create_scaling_group(group())
    with pytest.raises(ScalingGroupAlreadyExists, match="web already exists in project project-a"):
        indexer.create_scaling_group(group())
    indexer.create_scaling_group(group(project_id="project-b"))  # another project may use the name
    indexer.create_scaling_group(group(project_id=None))
    with pytest.raises(ScalingGroupAlreadyExists):
        indexer.create_scaling_group(group(project_id=None))


@pytest.mark.parametrize(("fields", "field"), [
    ({"min_size": 3, "max_size": 2, "desired_capacity": 2}, "min_size"),
    ({"desired_capacity": -1}, "desired_capacity"),
    ({"min_size": -1}, "min_size"),
    ({"current_size": -1}, "current_size"),
    ({"cooldown": -5.0}, "cooldown"),
    ({"name": ""}, "name"),
    ({"member_driver": {}}, "member_driver"),
])  # fmt: skip
def test_bad_sizes_are_value_errors(indexer: Indexer, fields: dict, field: str) -> None:
    with pytest.raises(InvalidScalingValue) as e:
        indexer.create_scaling_group(group(**fields))
    assert isinstance(e.value, ValueError) and e.value.field == field and field in str(e.value)
    assert indexer.list_scaling_groups(None) == []


def test_another_projects_group_is_invisible(indexer: Indexer) -> None:
    g = indexer.create_scaling_group(group())
    with pytest.raises(NoSuchScalingGroup, match="not found in project project-b"):
        indexer.get_scaling_group(g.id, "project-b")
    with pytest.raises(NoSuchScalingGroup):
        indexer.update_scaling_group(g.id, "project-b", {"paused": True})
    with pytest.raises(NoSuchScalingGroup):
        indexer.delete_scaling_group(g.id, "project-b")
    assert indexer.list_scaling_groups("project-b") == []
    with pytest.raises(InvalidMarker):
        indexer.list_scaling_groups("project-b", marker=g.id)
    assert indexer.get_scaling_group(g.id, "project-a") == g  # untouched


def test_list_order_pages_and_name(indexer: Indexer) -> None:
    created = [indexer.create_scaling_group(group(name=f"g{i}")) for i in range(5)]
    indexer.create_scaling_group(group(name="other", project_id="project-b"))
    assert [g.name for g in indexer.list_scaling_groups("project-a")] == ["g0", "g1", "g2", "g3", "g4"]
    assert len(indexer.list_scaling_groups(None)) == 6
    first = indexer.list_scaling_groups("project-a", limit=2)
    second = indexer.list_scaling_groups("project-a", limit=2, marker=first[-1].id)
    third = indexer.list_scaling_groups("project-a", limit=2, marker=second[-1].id)
    assert [g.id for g in first + second + third] == [g.id for g in created]
    assert indexer.list_scaling_groups("project-a", name="g3") == [created[3]]
    with pytest.raises(InvalidMarker):
        indexer.list_scaling_groups("project-a", marker=uuid.uuid4())
    with pytest.raises(InvalidScalingValue):
        indexer.list_scaling_groups("project-a", limit=0)


def test_update_bumps_version_and_checks_it(indexer: Indexer) -> None:
    g = indexer.create_scaling_group(group())
    changed = indexer.update_scaling_group(
        g.id, "project-a",
        {"max_size": 10, "desired_capacity": 7, "paused": True, "member_query": "server_group = 'api'",
         "behavior": {"scale_up": {"stabilization": 30, "limits": [{"kind": "members", "value": 2, "period": 60}]}},
         "healing": Healing(enabled=True, health_query="(metric up mean)", threshold=1.0)},
        expected_version=1,
    )  # fmt: skip
    assert (changed.max_size, changed.desired_capacity, changed.paused, changed.version) == (10, 7, True, 2)
    assert changed.behavior.scale_up == DirectionBehavior(30, (RateLimit("members", 2, 60),))
    assert changed.behavior.scale_down == Behavior().scale_down
    assert changed.updated_at >= g.updated_at
    assert indexer.get_scaling_group(g.id, None) == changed
    with pytest.raises(ScalingGroupConflict, match="version 2, expected 1"):
        indexer.update_scaling_group(g.id, "project-a", {"paused": False}, expected_version=1)
    assert indexer.update_scaling_group(g.id, None, {"paused": False}).version == 3


def test_update_refuses_what_it_cannot_store(indexer: Indexer) -> None:
    g = indexer.create_scaling_group(group())
    other = indexer.create_scaling_group(group(name="api"))
    with pytest.raises(InvalidScalingValue) as e:
        indexer.update_scaling_group(g.id, None, {"min_size": 9})
    assert e.value.field == "min_size"
    for field in ("version", "project_id", "action", "bogus"):
        with pytest.raises(InvalidScalingValue) as e:
            indexer.update_scaling_group(g.id, None, {field: None})
        assert e.value.field == field
    with pytest.raises(ScalingGroupAlreadyExists):
        indexer.update_scaling_group(other.id, None, {"name": "web"})
    assert indexer.get_scaling_group(g.id, None) == g
    renamed = indexer.update_scaling_group(other.id, None, {"name": "api-2"})
    assert indexer.list_scaling_groups(None, name="api-2") == [renamed]


def test_delete_cascades_but_keeps_the_log(indexer: Indexer) -> None:
    g = indexer.create_scaling_group(group())
    policy = indexer.create_scaling_policy(step_policy(g.id), None)
    indexer.record_decision(decision(g.id, at(-1)))
    _give_members(indexer, g, ["m1", "m2"])
    assert len(indexer.list_scaling_members(g.id)) == 2

    deleted = indexer.delete_scaling_group(g.id, "project-a")
    assert deleted.id == g.id
    with pytest.raises(NoSuchScalingGroup):
        indexer.get_scaling_group(g.id, None)
    with pytest.raises(NoSuchScalingGroup):
        indexer.delete_scaling_group(g.id, None)
    assert indexer.list_scaling_members(g.id) == []
    with pytest.raises(NoSuchScalingPolicy):
        indexer.get_scaling_policy(policy.id, None)
    assert [d.outcome for d in indexer.list_decisions(g.id, "project-a")] == ["completed", "scale_out", "none"]
    # The name is free again.
    indexer.create_scaling_group(group())


def _give_members(indexer: Indexer, g, names: list[str]) -> None:
    """Members as a completed action writes them (the only way members are stored)."""
    action = Action(uuid.uuid4(), uuid.uuid4(), len(names), g.current_size, "test", at(0), owner="me")
    indexer.decide_scaling(g.id, lambda grp, past: (decision(g.id, at(0), outcome="scale_out"), {"action": action}),
                           now=at(0))
    indexer.finish_scaling_action(
        g.id, action.id, "me", decision=decision(g.id, at(1), outcome="completed"), current_size=len(names),
        members=[member(g.id, n) for n in names], cooldown_end=None,
    )


def test_member_status(indexer: Indexer) -> None:
    g = indexer.create_scaling_group(group())
    _give_members(indexer, g, ["m1", "m2"])
    m1, m2 = sorted(indexer.list_scaling_members(g.id), key=lambda m: m.name)  # created together: any order
    assert (m1.name, m2.name, m1.status, m1.ref) == ("m1", "m2", "active", "ref-m1")
    marked = indexer.set_member_status(g.id, m2.id, "unhealthy")
    assert marked == dataclasses.replace(m2, status="unhealthy")
    assert sorted(indexer.list_scaling_members(g.id), key=lambda m: m.name) == [m1, marked]
    with pytest.raises(InvalidScalingValue) as e:
        indexer.set_member_status(g.id, m1.id, "sleepy")
    assert e.value.field == "status"
    with pytest.raises(NoSuchScalingMember):
        indexer.set_member_status(uuid.uuid4(), m1.id, "failed")
    with pytest.raises(NoSuchScalingMember):
        indexer.set_member_status(g.id, uuid.uuid4(), "failed")
