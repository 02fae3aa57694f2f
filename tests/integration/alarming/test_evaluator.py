"""The evaluator on a real indexer (SQLite and PostgreSQL) and real file storage: measures written as
processing writes them, alarms stored as the API stores them, one cycle at a time at a chosen clock."""

from __future__ import annotations

import datetime
import json
import uuid
from typing import Any

import numpy as np
import pytest

from telescale.alarming.evaluator import Evaluator
from telescale.config import AlarmingSettings
from telescale.indexer import Alarm, Indexer
from telescale.processing.processor import process_metric_measures
from telescale.query.reader import Query
from telescale.storage.file import FileStorage

NS = 1_000_000_000
MINUTE = 60 * NS
NOW = 1_767_225_600 * NS  # 2026-01-01T00:00:00Z, a minute boundary
HOOK = "http://receiver.example/hook"


class World:
    """A resource with a metric ``cpu`` (policy ``high``: 1 s, 1 min, 1 h), its alarms and an evaluator."""

    def __init__(self, indexer: Indexer, storage: FileStorage, **settings: Any) -> None:
        self.indexer = indexer
        self.storage = storage
        self.resource_id = uuid.uuid4()
        resource = indexer.create_resource("generic", self.resource_id, str(self.resource_id), "admin",
                                           project_id="project-a", metrics={"cpu": {"archive_policy_name": "high"}})
        self.metric = indexer.get_metrics([resource.metrics["cpu"]])[0]
        self.evaluator = Evaluator(indexer, Query(indexer, storage), AlarmingSettings(**settings))

    def write(self, minutes_ago_values: dict[int, float]) -> None:
        ts = np.array([NOW - m * MINUTE for m in sorted(minutes_ago_values, reverse=True)], np.int64)
        values = np.array([minutes_ago_values[m] for m in sorted(minutes_ago_values, reverse=True)], float)
        process_metric_measures(self.storage, self.metric.id, self.metric.archive_policy, ts, values)

    def alarm(self, **fields: Any) -> Alarm:
        rule = fields.pop("rule", {})
        if fields.get("type", "gnocchi").startswith("gnocchi"):
            rule = {"metric": "cpu", "resource_id": str(self.resource_id), "resource_type": "generic",
                    "aggregation_method": "mean", "granularity": 60, "evaluation_periods": 3, "threshold": 80.0,
                    "comparison_operator": "gt", **rule}
        values: dict[str, Any] = {"alarm_id": uuid.uuid4(), "name": "cpu-high", "type": "gnocchi_resources_threshold",
                                  "rule": rule, "user_id": "u", "project_id": "project-a",
                                  "alarm_actions": (HOOK,), "ok_actions": (HOOK + "/ok",), **fields}
        return self.indexer.create_alarm(Alarm(**values))

    def cycle(self, at: int = NOW + 5 * NS) -> Any:
        return self.evaluator.cycle(at)

    def get(self, alarm: Alarm) -> Alarm:
        found = self.indexer.get_alarm(alarm.alarm_id, project=None)
        assert found is not None
        return found

    def transitions(self, alarm: Alarm) -> list[dict[str, Any]]:
        entries = self.indexer.get_alarm_history(alarm.alarm_id, project=None)
        return [json.loads(e.detail) for e in entries if e.type == "state transition"]

    def notifications(self) -> list[Any]:
        return self.indexer.claim_notifications(100, 60.0)


@pytest.fixture
def world(indexer: Indexer, storage: FileStorage) -> World:
    return World(indexer, storage)


def test_all_points_breaching_fire_the_alarm_once_with_aodh_payload(world: World) -> None:
    alarm = world.alarm()
    world.write({3: 90.0, 2: 95.0, 1: 99.0})
    stats = world.cycle()
    assert stats.transitions == 1
    got = world.get(alarm)
    assert got.state == "alarm"
    assert got.state_reason == "Transition to alarm due to 3 samples outside threshold, most recent: 99.0"
    (note,) = world.notifications()
    assert note.action == HOOK
    assert note.payload["current"] == "alarm" and note.payload["previous"] == "insufficient data"
    assert set(note.payload) >= {"alarm_name", "severity", "previous", "current", "reason", "reason_data"}
    assert note.payload["reason_data"]["values"] == [90.0, 95.0, 99.0]
    # Unchanged on the next evaluation: no new transition, no new notification (repeat_actions is false).
    assert world.cycle(NOW + 20 * NS).transitions == 0
    assert world.notifications() == []
    assert len(world.transitions(alarm)) == 1


def test_no_point_breaching_is_ok_and_mixed_points_keep_the_state(world: World) -> None:
    alarm = world.alarm()
    world.write({3: 10.0, 2: 20.0, 1: 30.0})
    world.cycle()
    assert world.get(alarm).state == "ok"
    world.write({1: 99.0})  # the newest point breaches, the two before it do not: "trending", state kept
    world.cycle(NOW + 20 * NS)
    got = world.get(alarm)
    assert got.state == "ok"  # and, as Aodh, nothing is written when nothing changes
    assert got.state_reason == "Transition to ok due to 3 samples inside threshold, most recent: 30.0"
    assert len(world.transitions(alarm)) == 1


def test_missing_metric_is_insufficient_data_with_aodh_reason(world: World) -> None:
    alarm = world.alarm(rule={"metric": "memory"}, state="ok")
    world.cycle()
    got = world.get(alarm)
    assert got.state == "insufficient data"
    assert got.state_reason == f"metric memory for resource {world.resource_id} does not exists"


def test_missing_data_policy_ok(world: World) -> None:
    alarm = world.alarm(missing_data="ok", state="alarm")
    world.cycle()
    assert world.get(alarm).state == "ok"


def test_store_failure_is_an_evaluation_error_not_a_transition(world: World, monkeypatch) -> None:
    alarm = world.alarm()
    world.write({3: 90.0, 2: 95.0, 1: 99.0})
    world.cycle()
    assert world.get(alarm).state == "alarm"

    def broken(*args: Any, **kwargs: Any) -> Any:
        raise OSError(5, "Input/output error")

    monkeypatch.setattr(world.storage, "list_split_keys", broken)
    for i in range(3):
        stats = world.cycle(NOW + (20 + 20 * i) * NS)
        assert stats.errors == 1 and stats.transitions == 0
    assert world.get(alarm).state == "alarm"
    errors = [e for e in world.indexer.get_alarm_history(alarm.alarm_id, project=None) if e.type == "evaluation error"]
    assert len(errors) == 1  # one entry per error streak, not one per cycle
    assert "Input/output error" in json.loads(errors[0].detail)["error"]


def test_processing_new_measures_makes_the_alarm_due_at_once(world: World) -> None:
    alarm = world.alarm()
    world.write({3: 10.0, 2: 20.0, 1: 30.0})
    world.cycle()
    assert world.get(alarm).state == "ok"
    # Within its 10 s interval the alarm is not due ...
    assert world.cycle(NOW + 6 * NS).due == 0
    # ... until processing merges measures of the metric it read.
    assert world.indexer.trigger_alarms_reading([world.metric.id]) == 1
    world.write({3: 90.0, 2: 95.0, 1: 99.0})
    stats = world.cycle(NOW + 6 * NS)
    assert stats.due == 1 and stats.transitions == 1
    assert world.get(alarm).state == "alarm"


def test_time_constraints_freeze_the_state_outside_their_windows(world: World) -> None:
    # 2026-01-01 00:00 UTC is 01:00 in Paris; the window opens at 09:00 Paris for an hour.
    alarm = world.alarm(time_constraints=({"name": "office", "start": "0 9 * * *", "duration": 3600,
                                           "timezone": "Europe/Paris"},))
    world.write({3: 90.0, 2: 95.0, 1: 99.0})
    stats = world.cycle()
    assert stats.skipped == 1
    assert world.get(alarm).state == "insufficient data"


def test_pending_for_holds_a_change_until_it_lasted(world: World) -> None:
    alarm = world.alarm(pending_for=30.0, state="ok")
    world.write({3: 90.0, 2: 95.0, 1: 99.0})
    world.cycle(NOW + 1 * NS)
    got = world.get(alarm)
    assert got.state == "ok" and got.pending_state == "alarm"
    world.cycle(NOW + 20 * NS)
    assert world.get(alarm).state == "ok"
    world.cycle(NOW + 40 * NS)
    assert world.get(alarm).state == "alarm"


def test_repeat_actions_notify_every_evaluation(world: World) -> None:
    world.alarm(repeat_actions=True)
    world.write({3: 90.0, 2: 95.0, 1: 99.0})
    world.cycle()
    world.cycle(NOW + 20 * NS)
    assert [n.payload["current"] for n in world.notifications()] == ["alarm", "alarm"]


def test_a_stale_version_loses_the_race_and_writes_nothing(world: World) -> None:
    alarm = world.alarm()
    world.write({3: 90.0, 2: 95.0, 1: 99.0})
    stale = world.get(alarm)
    # Another evaluator commits first.
    assert world.indexer.record_state(alarm.alarm_id, stale.version, "ok", "elsewhere", {},
                                      datetime.datetime.fromtimestamp(NOW / NS, datetime.UTC))
    stats = world.evaluator.evaluate([stale], NOW + 5 * NS)
    assert stats.lost_races == 1 and stats.transitions == 0
    assert world.get(alarm).state == "ok"
    assert world.notifications() == []


def test_aggregation_by_metrics_and_by_resources(world: World) -> None:
    world.write({3: 90.0, 2: 95.0, 1: 99.0})
    by_metrics = world.alarm(type="gnocchi_aggregation_by_metrics_threshold",
                             rule={"metrics": [str(world.metric.id)], "metric": None, "resource_id": None})
    by_resources = world.alarm(type="gnocchi_aggregation_by_resources_threshold",
                               rule={"query": json.dumps({"=": {"project_id": "project-a"}}), "resource_id": None})
    world.cycle()
    assert world.get(by_metrics).state == "alarm"
    assert world.get(by_resources).state == "alarm"


def test_composite_and_or(world: World) -> None:
    world.write({3: 90.0, 2: 95.0, 1: 99.0})
    leaf = {"type": "gnocchi_resources_threshold", "metric": "cpu", "resource_id": str(world.resource_id),
            "resource_type": "generic", "aggregation_method": "mean", "granularity": 60, "evaluation_periods": 3,
            "comparison_operator": "gt"}
    both = world.alarm(type="composite", rule={"and": [{**leaf, "threshold": 80.0}, {**leaf, "threshold": 99.5}]})
    either = world.alarm(type="composite", rule={"or": [{**leaf, "threshold": 99.5}, {**leaf, "threshold": 50.0}]})
    world.cycle()
    assert world.get(both).state == "ok"
    assert world.get(either).state == "alarm"


def test_a_scoped_rule_never_reads_another_projects_resource(world: World) -> None:
    world.write({3: 90.0, 2: 95.0, 1: 99.0})
    own = world.alarm(rule={"scope_to_project": "project-a"})
    other = world.alarm(rule={"scope_to_project": "project-b"}, state="ok")
    world.cycle()
    assert world.get(own).state == "alarm"
    got = world.get(other)
    assert got.state == "insufficient data"
    assert got.state_reason == f"resource {world.resource_id} does not exists"
