"""Faythe-style scalers on a real indexer (SQLite and PostgreSQL), real file storage and a real Prometheus.

A step policy with a ``trigger`` fires by itself: the condition must hold ``for`` seconds (pending until then),
then it steps the group, then it does not fire again for its ``cooldown``; a condition that stops holding
resets the pending timer. Every evaluation is a line of the decision log, including those that did nothing
(``not_firing``, ``cooldown``), because "why did it not scale?" is the question the log answers.

The clock is a fixed one well in the past (as the scaler's ``evaluate_due(now)`` passes it), so the measures
the condition reads must be read at that clock, not at the wall clock.
"""

from __future__ import annotations

import datetime
import uuid
from collections.abc import Iterator
from typing import Any

import numpy as np
import pytest

from telescale.indexer import Indexer
from telescale.processing.processor import process_metric_measures
from telescale.query.reader import Query
from telescale.scaling.engine import ScalingEngine
from telescale.scaling.model import Decision, Group, Policy, StepSpec, Trigger
from telescale.storage.file import FileStorage
from tests.integration.indexer import scaling_records as rec

NS = 1_000_000_000
T0 = datetime.datetime(2026, 1, 1, tzinfo=datetime.UTC)  # far from the wall clock, on purpose
LOAD = "(aggregate mean (metric load mean))"


def at(seconds: float) -> datetime.datetime:
    return T0 + datetime.timedelta(seconds=seconds)


class Members:
    """Two member resources of type ``worker`` (``server_group = 'web'``) with a metric ``load`` (policy
    ``high``: 1 s points), and a third of another group that the member query must leave out."""

    def __init__(self, indexer: Indexer, storage: FileStorage) -> None:
        self.indexer = indexer
        self.storage = storage
        indexer.create_resource_type("worker", {"server_group": {"type": "string", "required": False,
                                                                 "min_length": 0, "max_length": 255}})
        self.metrics = [self._member("web") for _ in range(2)]
        self.stranger = self._member("db")

    def _member(self, server_group: str) -> Any:
        rid = uuid.uuid4()
        resource = self.indexer.create_resource("worker", rid, str(rid), "admin", project_id="project-a",
                                                attributes={"server_group": server_group},
                                                metrics={"load": {"archive_policy_name": "high"}})
        return self.indexer.get_metrics([resource.metrics["load"]])[0]

    def write(self, start: float, stop: float, value: float) -> None:
        """Every member reports ``value`` each second from ``start`` to ``stop`` (seconds after T0), as
        processing would have stored it; the stranger reports a value that would always fire."""
        stamps = np.array([int(at(s).timestamp()) * NS for s in range(int(start), int(stop) + 1)], np.int64)
        for metric in self.metrics:
            process_metric_measures(self.storage, metric.id, metric.archive_policy, stamps,
                                    np.full(len(stamps), value))
        process_metric_measures(self.storage, self.stranger.id, self.stranger.archive_policy, stamps,
                                np.full(len(stamps), 1000.0))


class World:
    def __init__(self, indexer: Indexer, storage: FileStorage, prometheus: str = "") -> None:
        self.indexer = indexer
        self.members = Members(indexer, storage)
        self.engine = ScalingEngine(indexer, Query(indexer, storage), prometheus_url=prometheus, timeout=5)
        self.group = indexer.create_scaling_group(rec.group(
            member_resource_type="worker", member_query="server_group = 'web'", cooldown=0.0,
            desired_capacity=2, current_size=2, min_size=1, max_size=8))

    def policy(self, trigger: Trigger) -> Policy:
        return self.indexer.create_scaling_policy(
            rec.step_policy(self.group.id, name="faythe", step=StepSpec("change_in_capacity", 2), trigger=trigger),
            None)

    def evaluate(self, policy: Policy, seconds: float) -> tuple[Group, Decision] | None:
        """One evaluation as the scaler runs it: the policy and group as stored now."""
        fresh = self.indexer.get_scaling_policy(policy.id, None)
        return self.engine.evaluate(fresh, self.get(), now=at(seconds))

    def get(self) -> Group:
        return self.indexer.get_scaling_group(self.group.id, None)

    def state(self, policy: Policy) -> dict[str, Any]:
        return dict(self.indexer.get_scaling_policy(policy.id, None).state)

    def log(self) -> list[Decision]:
        return sorted(self.indexer.list_decisions(self.group.id, None, limit=1000), key=lambda d: d.timestamp)

    def finish_action(self, seconds: float) -> None:
        """What the actuator does once the receiver acknowledged: the action ends, the group is free again."""
        (claimed,) = self.indexer.claim_scaling_actions("test", at(seconds), 30.0)
        assert claimed.action is not None
        done = rec.decision(self.group.id, at(seconds), source="actuator", outcome="completed",
                            size_before=claimed.action.previous, size_after=claimed.action.desired,
                            current_size=claimed.action.desired)
        self.indexer.finish_scaling_action(self.group.id, claimed.action.id, "test", decision=done,
                                           current_size=claimed.action.desired, members=None, cooldown_end=None)


@pytest.fixture
def world(indexer: Indexer, storage: FileStorage) -> Iterator[World]:
    w = World(indexer, storage)
    try:
        yield w
    finally:
        w.engine.close()


def aggregates(**fields: Any) -> Trigger:
    values: dict[str, Any] = {"kind": "aggregates", "query": LOAD, "for_": 60.0, "interval": 10.0,
                              "cooldown": 300.0, "comparison_operator": "gt", "threshold": 50.0, "granularity": 1.0}
    values.update(fields)
    return Trigger(**values)


def test_a_condition_held_for_its_duration_fires_the_step_once_then_cools_down(world: World) -> None:
    policy = world.policy(aggregates())
    world.members.write(-30, 0, 80.0)
    assert world.evaluate(policy, 0) is None  # holds, pending from now
    assert world.state(policy)["pending_since"] == at(0).isoformat()
    world.members.write(1, 30, 80.0)
    assert world.evaluate(policy, 30) is None  # 30 s of the 60
    world.members.write(31, 60, 80.0)
    fired = world.evaluate(policy, 60)
    assert fired is not None
    group, decision = fired
    assert decision.outcome == "scale_out" and decision.source == "trigger"
    assert (decision.size_before, decision.size_after) == (2, 4)
    assert decision.policy_id == policy.id and decision.inputs["seen"] == "80 gt 50"
    assert group.desired_capacity == 4 and group.action is not None
    assert world.state(policy)["fired_at"] == at(60).isoformat()
    world.finish_action(61)
    # still holding, but within the scaler's own cooldown: nothing, and the log says why
    world.members.write(61, 90, 80.0)
    assert world.evaluate(policy, 90) is None
    assert world.get().desired_capacity == 4
    log = world.log()
    assert [(d.outcome, d.blocked_by) for d in log] == [
        ("none", "not_firing"), ("none", "not_firing"), ("scale_out", None), ("completed", None),
        ("none", "cooldown")]
    assert "0 s of the 60 s" in log[0].reason and "30 s of the 60 s" in log[1].reason
    assert "ends in 270 s" in log[4].reason
    assert all(d.policy_id == policy.id for d in log if d.source == "trigger")
    # after the cooldown, the condition still holding fires again
    world.members.write(91, 360, 80.0)
    again = world.evaluate(policy, 360)
    assert again is not None and again[1].outcome == "scale_out" and again[1].size_after == 6


def test_the_condition_going_away_resets_the_pending_timer(world: World) -> None:
    policy = world.policy(aggregates())
    world.members.write(-10, 0, 80.0)
    assert world.evaluate(policy, 0) is None
    world.members.write(1, 50, 10.0)  # the load falls before the 60 s are over
    assert world.evaluate(policy, 50) is None
    assert world.state(policy)["pending_since"] is None
    world.members.write(51, 70, 80.0)  # back up: pending again from 70, not from 0
    assert world.evaluate(policy, 70) is None
    assert world.state(policy)["pending_since"] == at(70).isoformat()
    world.members.write(71, 100, 80.0)
    assert world.evaluate(policy, 100) is None  # 30 s held: 100 s since the first breach would have fired
    assert world.get().desired_capacity == 2
    log = world.log()
    assert [d.blocked_by for d in log] == ["not_firing"] * 4
    assert "does not hold (10 gt 50)" in log[1].reason
    assert "30 s of the 60 s" in log[3].reason
    world.members.write(101, 130, 80.0)
    fired = world.evaluate(policy, 130)
    assert fired is not None and fired[1].outcome == "scale_out"


def test_no_measure_in_the_window_is_not_firing_and_never_scales(world: World) -> None:
    policy = world.policy(aggregates(for_=0.0))
    assert world.evaluate(policy, 0) is None
    (decision,) = world.log()
    assert decision.blocked_by == "not_firing" and decision.outcome == "none"
    assert world.get().desired_capacity == 2


def test_the_scaler_evaluates_a_trigger_when_its_interval_has_passed(world: World) -> None:
    from telescale.scaling.process import Scaler

    policy = world.policy(aggregates(for_=0.0, interval=10.0))
    world.indexer.schedule_policy(policy.id, at(0))
    world.members.write(-10, 0, 80.0)
    scaler = Scaler(world.indexer, world.engine, actuator=None)
    assert scaler.evaluate_due(at(0)) == 1
    assert world.get().desired_capacity == 4
    assert scaler.evaluate_due(at(5)) == 0  # next one at 10 s
    assert world.indexer.get_scaling_policy(policy.id, None).state["fired_at"] == at(0).isoformat()
    assert len(world.indexer.due_scaling_policies(at(10))) == 1


@pytest.mark.timeout(120)
def test_a_prometheus_trigger_fires_while_its_query_returns_series(indexer: Indexer, storage: FileStorage,
                                                                   prometheus_url: str) -> None:
    world = World(indexer, storage, prometheus_url)
    try:
        empty = world.policy(Trigger("prometheus", 'up{job="self-p1"} == 0', for_=0.0, interval=5.0))
        assert world.evaluate(empty, 0) is None
        (quiet,) = world.log()
        assert quiet.blocked_by == "not_firing" and "0 series" in quiet.reason
        full = world.indexer.create_scaling_policy(rec.step_policy(
            world.group.id, name="up", step=StepSpec("change_in_capacity", 1),
            trigger=Trigger("prometheus", 'up{job="self-p1"} == 1', for_=0.0, interval=5.0)), None)
        fired = world.evaluate(full, 1)
        assert fired is not None
        group, decision = fired
        assert decision.outcome == "scale_out" and (decision.size_before, decision.size_after) == (2, 3)
        assert decision.inputs["seen"] == "1 series" and decision.inputs["query"] == 'up{job="self-p1"} == 1'
        assert group.desired_capacity == 3
    finally:
        world.engine.close()


def test_a_prometheus_trigger_without_a_prometheus_logs_an_error(world: World) -> None:
    policy = world.policy(Trigger("prometheus", "up", for_=0.0))
    assert world.evaluate(policy, 0) is None
    (decision,) = world.log()
    assert decision.blocked_by == "error" and "prometheus_url" in decision.reason
