"""Alarms: create, read, replace, set state, delete, each with its history entry; quotas."""

from __future__ import annotations

import dataclasses
import datetime
import json
import threading
import uuid

import pytest

from telescale.indexer import (
    AlarmAlreadyExists,
    AlarmQuotaExceeded,
    AlarmVersionConflict,
    Indexer,
    InvalidAlarmValue,
    NoSuchAlarm,
)

T0 = datetime.datetime(2026, 3, 1, 12, 0, tzinfo=datetime.UTC)


def _history(indexer: Indexer, alarm_id: uuid.UUID) -> list[tuple[str, dict]]:
    """(type, detail) of the alarm's history, oldest first."""
    changes = indexer.get_alarm_history(alarm_id, sorts=["timestamp:asc"], project=None)
    return [(c.type, json.loads(c.detail)) for c in changes]


def test_create_and_get_keep_every_field(indexer: Indexer, make_alarm) -> None:
    alarm = make_alarm(
        description="CPU above 80%", enabled=False, severity="critical", ok_actions=("http://ok/",),
        alarm_actions=("http://a/", "log://"), insufficient_data_actions=("http://i/",), repeat_actions=True,
        time_constraints=({"name": "night", "start": "0 23 * * *", "duration": 3600, "timezone": "Europe/Paris"},),
        evaluation_interval=5.0, pending_for=30.0, missing_data="keep_state", trust_id="trust-1",
    )
    created = indexer.create_alarm(alarm, by_user="user-a", by_project="project-a", now=T0)
    assert created == dataclasses.replace(alarm, timestamp=T0, state_timestamp=T0, version=1)
    assert indexer.get_alarm(alarm.alarm_id, project="project-a") == created
    assert indexer.get_alarm(alarm.alarm_id, project=None) == created
    assert indexer.get_alarm(alarm.alarm_id, project="project-b") is None
    assert indexer.get_alarm(uuid.uuid4(), project=None) is None


def test_creation_history_holds_the_public_fields(indexer: Indexer, make_alarm) -> None:
    alarm = indexer.create_alarm(make_alarm(trust_id="secret-trust"), by_user="admin", by_project="admin-p", now=T0)
    [change] = indexer.get_alarm_history(alarm.alarm_id, project=None)
    assert (change.type, change.user_id, change.project_id) == ("creation", "admin", "admin-p")
    assert (change.on_behalf_of, change.severity, change.timestamp) == ("project-a", "low", T0)
    detail = json.loads(change.detail)
    assert detail["alarm_id"] == str(alarm.alarm_id) and detail["rule"] == alarm.rule
    assert detail["state"] == "insufficient data" and detail["state_reason"] == "Not evaluated yet"
    assert detail["timestamp"] == T0.isoformat() and detail["ok_actions"] == []
    assert "secret-trust" not in change.detail
    assert not {"trust_id", "version", "pending_state", "evaluate_timestamp"} & set(detail)


def test_create_twice_and_invalid_values(indexer: Indexer, make_alarm) -> None:
    alarm = indexer.create_alarm(make_alarm())
    with pytest.raises(AlarmAlreadyExists):
        indexer.create_alarm(make_alarm(alarm_id=alarm.alarm_id))
    for field, value in (("state", "firing"), ("severity", "high"), ("missing_data", "zero")):
        with pytest.raises(InvalidAlarmValue) as e:
            indexer.create_alarm(make_alarm(**{field: value}))
        assert e.value.field == field
    assert len(indexer.list_alarms(project=None)) == 1


def test_update_replaces_fields_and_records_what_changed(indexer: Indexer, make_alarm) -> None:
    alarm = indexer.create_alarm(make_alarm(), now=T0)
    t1 = T0 + datetime.timedelta(minutes=1)
    updated = indexer.update_alarm(
        alarm.alarm_id, {"name": "cpu_very_high", "severity": "moderate", "alarm_actions": ["http://x/"]},
        expected_version=1, project="project-a", by_user="user-b", by_project="project-a", now=t1,
    )
    assert (updated.name, updated.severity, updated.alarm_actions) == ("cpu_very_high", "moderate", ("http://x/",))
    assert (updated.version, updated.timestamp, updated.state_timestamp) == (2, t1, T0)
    assert updated.state_reason == "Not evaluated yet"
    assert indexer.get_alarm(alarm.alarm_id, project=None) == updated
    change = indexer.get_alarm_history(alarm.alarm_id, project=None)[0]
    assert (change.type, change.user_id, change.severity) == ("rule change", "user-b", "moderate")
    assert json.loads(change.detail) == {"name": "cpu_very_high", "severity": "moderate",
                                         "alarm_actions": ["http://x/"]}


def test_update_of_the_state_is_manual(indexer: Indexer, make_alarm) -> None:
    alarm = indexer.create_alarm(make_alarm(), now=T0)
    t1 = T0 + datetime.timedelta(minutes=1)
    updated = indexer.update_alarm(alarm.alarm_id, {"state": "alarm"}, project=None, now=t1)
    assert (updated.state, updated.state_reason, updated.state_timestamp) == ("alarm", "Manually set via API", t1)
    change = indexer.get_alarm_history(alarm.alarm_id, project=None)[0]
    assert json.loads(change.detail) == {"state": "alarm", "state_reason": "Manually set via API"}
    assert change.severity is None  # Aodh: only a changed severity is reported


def test_update_without_change_records_nothing(indexer: Indexer, make_alarm) -> None:
    alarm = indexer.create_alarm(make_alarm())
    updated = indexer.update_alarm(alarm.alarm_id, {"name": alarm.name, "rule": alarm.rule}, project=None)
    assert updated.version == 2
    assert [t for t, _ in _history(indexer, alarm.alarm_id)] == ["creation"]


def test_update_checks_version_scope_and_fields(indexer: Indexer, make_alarm) -> None:
    alarm = indexer.create_alarm(make_alarm())
    indexer.update_alarm(alarm.alarm_id, {"name": "b"}, expected_version=1, project=None)
    with pytest.raises(AlarmVersionConflict) as e:
        indexer.update_alarm(alarm.alarm_id, {"name": "c"}, expected_version=1, project=None)
    assert (e.value.expected, e.value.actual) == (1, 2)
    with pytest.raises(NoSuchAlarm):
        indexer.update_alarm(alarm.alarm_id, {"name": "c"}, project="project-b")
    with pytest.raises(NoSuchAlarm):
        indexer.update_alarm(uuid.uuid4(), {"name": "c"}, project=None)
    with pytest.raises(InvalidAlarmValue) as bad:
        indexer.update_alarm(alarm.alarm_id, {"version": 7}, project=None)
    assert bad.value.field == "version"
    assert indexer.get_alarm(alarm.alarm_id, project=None).name == "b"


def test_definition_change_makes_the_alarm_due_and_drops_pending(indexer: Indexer, make_alarm) -> None:
    alarm = indexer.create_alarm(make_alarm())
    assert indexer.record_state(alarm.alarm_id, 1, "ok", "r", None, T0, pending=("alarm", T0))
    evaluated = indexer.get_alarm(alarm.alarm_id, project=None)
    assert (evaluated.evaluate_timestamp, evaluated.pending_state) == (T0, "alarm")
    renamed = indexer.update_alarm(alarm.alarm_id, {"name": "other"}, project=None)
    assert (renamed.evaluate_timestamp, renamed.pending_state) == (T0, "alarm")
    set_by_hand = indexer.update_alarm(alarm.alarm_id, {"state": "alarm"}, project=None)
    assert (set_by_hand.evaluate_timestamp, set_by_hand.pending_state) == (T0, None)
    indexer.record_state(alarm.alarm_id, set_by_hand.version, "alarm", "r", None, T0, pending=("ok", T0))
    changed = indexer.update_alarm(alarm.alarm_id, {"rule": {**alarm.rule, "threshold": 90.0}}, project=None)
    assert (changed.evaluate_timestamp, changed.pending_state, changed.pending_since) == (None, None, None)


def test_set_alarm_state(indexer: Indexer, make_alarm) -> None:
    alarm = indexer.create_alarm(make_alarm(severity="critical"), now=T0)
    t1 = T0 + datetime.timedelta(seconds=5)
    after = indexer.set_alarm_state(alarm.alarm_id, "ok", project="project-a", by_user="u", by_project="p", now=t1)
    assert (after.state, after.state_reason, after.state_timestamp, after.version) == (
        "ok", "Manually set via API", t1, 2)
    assert indexer.get_alarm(alarm.alarm_id, project=None) == after
    change = indexer.get_alarm_history(alarm.alarm_id, project=None)[0]
    assert (change.type, change.severity, change.on_behalf_of) == ("state transition", "critical", "project-a")
    assert json.loads(change.detail) == {"state": "ok", "state_reason": "Manually set via API"}
    assert indexer.claim_notifications(10, 60) == []
    with pytest.raises(NoSuchAlarm):
        indexer.set_alarm_state(alarm.alarm_id, "ok", project="project-b")


def test_delete_keeps_history(indexer: Indexer, make_alarm) -> None:
    alarm = indexer.create_alarm(make_alarm(), now=T0)
    metric = uuid.uuid4()
    indexer.set_alarm_metrics(alarm.alarm_id, [metric])
    with pytest.raises(NoSuchAlarm):
        indexer.delete_alarm(alarm.alarm_id, project="project-b")
    deleted = indexer.delete_alarm(alarm.alarm_id, project="project-a", by_user="u", by_project="project-a",
                                   now=T0 + datetime.timedelta(seconds=1))
    assert deleted.alarm_id == alarm.alarm_id
    assert indexer.get_alarm(alarm.alarm_id, project=None) is None
    assert indexer.alarms_reading([metric]) == []
    assert _history(indexer, alarm.alarm_id)[1] == ("deletion", {"state": "insufficient data"})
    with pytest.raises(NoSuchAlarm):
        indexer.delete_alarm(alarm.alarm_id, project=None)


def test_quotas(indexer: Indexer) -> None:
    assert indexer.get_quotas("p") == {}
    assert indexer.set_quotas("p", {"alarms": 3}) == {"alarms": 3}
    assert indexer.set_quotas("p", {"alarms": 5, "other": -1}) == {"alarms": 5, "other": -1}
    assert indexer.get_quotas("p") == {"alarms": 5, "other": -1}
    assert indexer.get_quotas("q") == {}
    with pytest.raises(InvalidAlarmValue):
        indexer.set_quotas("p", {"alarms": -2})
    indexer.delete_quotas("p")
    assert indexer.get_quotas("p") == {}


def test_project_quota_counts_the_project(indexer: Indexer, make_alarm) -> None:
    indexer.set_quotas("project-a", {"alarms": 2})
    indexer.create_alarm(make_alarm(user_id="u1"))
    indexer.create_alarm(make_alarm(user_id="u2"))
    with pytest.raises(AlarmQuotaExceeded) as e:
        indexer.create_alarm(make_alarm(user_id="u3"))
    assert (e.value.project_id, e.value.limit) == ("project-a", 2)
    indexer.create_alarm(make_alarm(project_id="project-b", user_id="u1"))
    indexer.set_quotas("project-a", {"alarms": -1})
    indexer.create_alarm(make_alarm(user_id="u3"))
    assert len(indexer.list_alarms(project="project-a")) == 3


def test_default_and_user_quotas(indexer: Indexer, make_alarm) -> None:
    indexer.create_alarm(make_alarm(), default_quota=1)
    with pytest.raises(AlarmQuotaExceeded):
        indexer.create_alarm(make_alarm(), default_quota=1)
    indexer.set_quotas("project-a", {"alarms": 10})  # a project's row wins over the default
    indexer.create_alarm(make_alarm(), default_quota=1)
    with pytest.raises(AlarmQuotaExceeded):
        indexer.create_alarm(make_alarm(project_id="project-b"), user_quota=2)
    indexer.create_alarm(make_alarm(user_id="user-b"), user_quota=2)


def test_quota_holds_under_concurrent_creates(indexer: Indexer, db_url: str, make_alarm) -> None:
    indexer.set_quotas("project-a", {"alarms": 3})
    instances = [Indexer(db_url) for _ in range(6)]
    barrier = threading.Barrier(len(instances))
    outcomes: list[str] = []

    def create(idx: Indexer) -> None:
        barrier.wait()
        try:
            idx.create_alarm(make_alarm())
            outcomes.append("created")
        except AlarmQuotaExceeded:
            outcomes.append("refused")

    threads = [threading.Thread(target=create, args=(idx,)) for idx in instances]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    try:
        assert sorted(outcomes) == ["created"] * 3 + ["refused"] * 3
        assert len(indexer.list_alarms(project="project-a")) == 3
    finally:
        for idx in instances:
            idx.dispose()
