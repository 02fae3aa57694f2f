"""Scheduled capacity through the engine on a real indexer (SQLite and PostgreSQL): a cron window in force
raises the group to the schedule's floor and replaces its bounds, whatever the cooldown; outside every window
the group's own bounds come back; the scaler is told when to look again (the window's end or next start)."""

from __future__ import annotations

import datetime
from collections.abc import Iterator
from pathlib import Path

import pytest

from telescale.indexer import Indexer
from telescale.query.reader import Query
from telescale.scaling.engine import ScalingEngine
from telescale.scaling.model import Group, Policy, ScheduleSpec, StepSpec
from telescale.scaling.policies import Signal
from telescale.storage.file import FileStorage
from tests.integration.indexer import scaling_records as rec

# Monday 2027-01-18 09:30 in Paris (08:30 UTC): inside the office-hours window "0 8 * * 1-5" Europe/Paris, 10 h
INSIDE = datetime.datetime(2027, 1, 18, 8, 30, tzinfo=datetime.UTC)
# the same Monday at 19:00 Paris (18:00 UTC): the window closed at 18:00 Paris
OUTSIDE = datetime.datetime(2027, 1, 18, 18, 0, tzinfo=datetime.UTC)
AODH = Signal("aodh", True, "alarm cpu-high → alarm")
OFFICE = ScheduleSpec("0 8 * * 1-5", 36000.0, "Europe/Paris", min_size=4, max_size=8, desired_capacity=5)


@pytest.fixture
def engine(indexer: Indexer, tmp_path: Path) -> Iterator[ScalingEngine]:
    storage = FileStorage(tmp_path / "storage")
    e = ScalingEngine(indexer, Query(indexer, storage))
    try:
        yield e
    finally:
        e.close()
        storage.close()


def _group(indexer: Indexer, **fields: object) -> Group:
    values: dict[str, object] = {"min_size": 1, "max_size": 3, "desired_capacity": 2, "current_size": 2,
                                 "cooldown": 600.0}
    values.update(fields)
    return indexer.create_scaling_group(rec.group(**values))


def _scheduled(indexer: Indexer, group: Group, spec: ScheduleSpec = OFFICE) -> Policy:
    return indexer.create_scaling_policy(rec.scheduled_policy(group.id, schedule=spec), None)


def _finish(indexer: Indexer, group: Group, now: datetime.datetime, cooldown_end: datetime.datetime | None) -> Group:
    (claimed,) = indexer.claim_scaling_actions("test", now, 30.0)
    assert claimed.action is not None
    done = rec.decision(group.id, now, source="actuator", outcome="completed", size_before=claimed.action.previous,
                        size_after=claimed.action.desired, current_size=claimed.action.desired)
    return indexer.finish_scaling_action(group.id, claimed.action.id, "test", decision=done,
                                         current_size=claimed.action.desired, members=None, cooldown_end=cooldown_end)


def test_a_window_in_force_raises_the_group_to_its_floor_despite_the_cooldown(indexer: Indexer,
                                                                              engine: ScalingEngine) -> None:
    group = _group(indexer, max_size=8, cooldown_end=INSIDE + datetime.timedelta(minutes=5))
    policy = _scheduled(indexer, group)
    result = engine.evaluate(policy, group, now=INSIDE)
    assert result is not None
    after, decision = result
    assert decision.outcome == "scale_out" and decision.source == "scheduled"
    assert (decision.size_before, decision.size_after, decision.recommended) == (2, 5, 5)
    assert decision.blocked_by is None  # the cooldown, 5 more minutes, does not hold a schedule back
    assert after.desired_capacity == 5 and after.action is not None and after.action.desired == 5
    assert decision.inputs["window"] == ["2027-01-18T07:00:00+00:00", "2027-01-18T17:00:00+00:00"]
    assert "at least 5" in decision.rule


def test_the_window_bounds_replace_the_group_bounds_then_the_group_bounds_return(indexer: Indexer,
                                                                                 engine: ScalingEngine) -> None:
    group = _group(indexer, max_size=8, desired_capacity=5, current_size=5, cooldown=0.0)
    _scheduled(indexer, group, ScheduleSpec("0 8 * * 1-5", 36000.0, "Europe/Paris", min_size=4, max_size=6))
    step = indexer.create_scaling_policy(rec.step_policy(group.id, name="big", step=StepSpec(
        "change_in_capacity", 3)), None)
    _, inside = engine.signal_policy(step, group, AODH, "signal", now=INSIDE)
    # 5 + 3 = 8 is within the group's max_size 8, but the window's is 6
    assert inside.outcome == "scale_out" and inside.size_after == 6, inside
    assert "held at max_size 6" in inside.reason
    group = _finish(indexer, group, INSIDE, cooldown_end=None)
    _, at_limit = engine.signal_policy(step, group, AODH, "signal", now=INSIDE + datetime.timedelta(minutes=1))
    assert at_limit.outcome == "none" and at_limit.blocked_by == "at_limit" and "max_size 6" in at_limit.reason
    # the window closed: the group's own max_size 8 again
    _, outside = engine.signal_policy(step, indexer.get_scaling_group(group.id, None), AODH, "signal", now=OUTSIDE)
    assert outside.outcome == "scale_out" and (outside.size_before, outside.size_after) == (6, 8), outside


def test_a_window_above_the_group_max_size_raises_the_group_beyond_it(indexer: Indexer,
                                                                      engine: ScalingEngine) -> None:
    group = _group(indexer)  # max_size 3
    policy = _scheduled(indexer, group)  # window: min 4, max 8, desired 5
    result = engine.evaluate(policy, group, now=INSIDE)
    assert result is not None and result[1].size_after == 5
    group = _finish(indexer, group, INSIDE, cooldown_end=OUTSIDE + datetime.timedelta(hours=1))
    # outside the window the group's own max_size 3 is back, whatever the cooldown
    after, decision = engine.evaluate(indexer.get_scaling_policy(policy.id, None), group, now=OUTSIDE) or (None, None)
    assert decision is not None and decision.outcome == "scale_in" and decision.size_after == 3
    assert "outside its windows" in decision.rule and "held at max_size 3" in decision.reason


def test_inside_a_window_already_at_its_floor_nothing_changes(indexer: Indexer, engine: ScalingEngine) -> None:
    group = _group(indexer, max_size=8, desired_capacity=6, current_size=6)
    policy = _scheduled(indexer, group)
    result = engine.evaluate(policy, group, now=INSIDE)
    assert result is not None
    assert result[1].outcome == "none" and result[1].blocked_by == "no_change"
    assert result[0].desired_capacity == 6


def test_next_evaluation_is_the_end_of_the_open_window_or_the_next_start(indexer: Indexer,
                                                                         engine: ScalingEngine) -> None:
    group = _group(indexer)
    policy = _scheduled(indexer, group)
    assert engine.next_evaluation(policy, INSIDE) == datetime.datetime(2027, 1, 18, 17, 0, tzinfo=datetime.UTC)
    assert engine.next_evaluation(policy, OUTSIDE) == datetime.datetime(2027, 1, 19, 7, 0, tzinfo=datetime.UTC)
    friday_night = datetime.datetime(2027, 1, 22, 20, 0, tzinfo=datetime.UTC)
    assert engine.next_evaluation(policy, friday_night) == datetime.datetime(2027, 1, 25, 7, 0, tzinfo=datetime.UTC)


def test_the_scaler_evaluates_a_schedule_at_its_next_change(indexer: Indexer, engine: ScalingEngine) -> None:
    from telescale.scaling.process import Scaler

    group = _group(indexer, max_size=8)
    policy = _scheduled(indexer, group)
    indexer.schedule_policy(policy.id, INSIDE)
    scaler = Scaler(indexer, engine, actuator=None)
    assert scaler.evaluate_due(INSIDE) == 1
    assert indexer.get_scaling_group(group.id, None).desired_capacity == 5
    assert scaler.evaluate_due(INSIDE + datetime.timedelta(hours=1)) == 0
    (due, _), = indexer.due_scaling_policies(datetime.datetime(2027, 1, 18, 17, 0, tzinfo=datetime.UTC))
    assert due.id == policy.id

