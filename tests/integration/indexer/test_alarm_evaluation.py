"""What the evaluator reads and writes: transitions with their outbox rows, due alarms, read metrics."""

from __future__ import annotations

import dataclasses
import datetime
import json
import subprocess
import sys
import threading
import time
import uuid

from telescale.indexer import Indexer

T0 = datetime.datetime(2026, 3, 1, 12, 0, tzinfo=datetime.UTC)
PAYLOAD = {"alarm_name": "cpu_high", "severity": "low", "previous": "insufficient data", "current": "alarm",
           "reason": "Transition to alarm", "reason_data": {"type": "threshold", "count": 1}}


def _seconds(n: float) -> datetime.datetime:
    return T0 + datetime.timedelta(seconds=n)


def test_record_state_writes_state_history_and_outbox_at_once(indexer: Indexer, make_alarm) -> None:
    alarm = indexer.create_alarm(make_alarm(severity="critical"), now=T0)
    notifications = [("http://receiver/a", PAYLOAD), ("trust+https://receiver/b", {**PAYLOAD, "n": 2})]
    assert indexer.record_state(alarm.alarm_id, 1, "alarm", "Transition to alarm", {"count": 1}, _seconds(10),
                                notifications)
    after = indexer.get_alarm(alarm.alarm_id, project=None)
    assert (after.state, after.state_reason, after.version) == ("alarm", "Transition to alarm", 2)
    assert (after.state_timestamp, after.evaluate_timestamp, after.timestamp) == (_seconds(10), _seconds(10), T0)
    [change] = indexer.get_alarm_history(alarm.alarm_id, [("type", "eq", "state transition")], project=None)
    assert (change.timestamp, change.severity, change.on_behalf_of) == (_seconds(10), "critical", "project-a")
    assert json.loads(change.detail) == {"state": "alarm", "transition_reason": "Transition to alarm",
                                         "reason_data": {"count": 1}}
    claimed = indexer.claim_notifications(10, 60, now=_seconds(10))
    assert [(n.alarm_id, n.action, n.payload, n.attempts) for n in claimed] == [
        (alarm.alarm_id, "http://receiver/a", PAYLOAD, 0),
        (alarm.alarm_id, "trust+https://receiver/b", {**PAYLOAD, "n": 2}, 0),
    ]


def test_record_state_keeps_state_timestamp_when_the_state_stays(indexer: Indexer, make_alarm) -> None:
    alarm = indexer.create_alarm(make_alarm(state="ok"), now=T0)
    assert indexer.record_state(alarm.alarm_id, 1, "ok", "Remaining as ok", None, _seconds(5),
                                history_type=None, evaluated=False)
    after = indexer.get_alarm(alarm.alarm_id, project=None)
    assert (after.state_reason, after.state_timestamp, after.evaluate_timestamp, after.version) == (
        "Remaining as ok", T0, None, 2)
    assert [c.type for c in indexer.get_alarm_history(alarm.alarm_id, project=None)] == ["creation"]


def test_record_state_pending_and_evaluation_errors(indexer: Indexer, make_alarm) -> None:
    alarm = indexer.create_alarm(make_alarm(state="ok", pending_for=30.0), now=T0)
    assert indexer.record_state(alarm.alarm_id, 1, "ok", "breaching, pending", None, _seconds(1),
                                history_type=None, pending=("alarm", _seconds(1)))
    pending = indexer.get_alarm(alarm.alarm_id, project=None)
    assert (pending.state, pending.pending_state, pending.pending_since) == ("ok", "alarm", _seconds(1))
    assert indexer.record_state(alarm.alarm_id, 2, "ok", "store unavailable", {"error": "timeout"}, _seconds(2),
                                history_type="evaluation error", pending=pending.pending_state and (
                                    pending.pending_state, pending.pending_since))
    kept = indexer.get_alarm(alarm.alarm_id, project=None)
    assert (kept.pending_state, kept.pending_since, kept.state_timestamp) == ("alarm", _seconds(1), T0)
    error = indexer.get_alarm_history(alarm.alarm_id, project=None)[0]
    assert error.type == "evaluation error"
    assert json.loads(error.detail)["reason_data"] == {"error": "timeout"}
    assert indexer.record_state(alarm.alarm_id, 3, "alarm", "held for 30 s", None, _seconds(31))
    fired = indexer.get_alarm(alarm.alarm_id, project=None)
    assert (fired.state, fired.pending_state, fired.pending_since, fired.state_timestamp) == (
        "alarm", None, None, _seconds(31))


def test_record_state_refuses_a_stale_version(indexer: Indexer, make_alarm) -> None:
    alarm = indexer.create_alarm(make_alarm(), now=T0)
    indexer.update_alarm(alarm.alarm_id, {"name": "changed"}, project=None)
    assert not indexer.record_state(alarm.alarm_id, 1, "alarm", "r", None, _seconds(1), [("http://x/", PAYLOAD)])
    assert indexer.get_alarm(alarm.alarm_id, project=None).state == "insufficient data"
    assert indexer.claim_notifications(10, 60) == []
    indexer.delete_alarm(alarm.alarm_id, project=None)
    assert not indexer.record_state(alarm.alarm_id, 2, "alarm", "r", None, _seconds(1), [("http://x/", PAYLOAD)])
    assert [c.type for c in indexer.get_alarm_history(alarm.alarm_id, project=None)] == [
        "deletion", "rule change", "creation"]


def _assert_one_transition(indexer: Indexer, alarm_id: uuid.UUID, wins: list[bool]) -> None:
    assert sorted(wins) == [False] * (len(wins) - 1) + [True]
    assert indexer.get_alarm(alarm_id, project=None).version == 2
    transitions = indexer.get_alarm_history(alarm_id, [("type", "eq", "state transition")], project=None)
    assert len(transitions) == 1
    assert len(indexer.claim_notifications(100, 60)) == 1


def test_concurrent_evaluators_threads(indexer: Indexer, db_url: str, make_alarm) -> None:
    """Evaluators that read the same version race to record the same transition: one wins, once."""
    alarm = indexer.create_alarm(make_alarm())
    instances = [Indexer(db_url) for _ in range(4)]
    barrier = threading.Barrier(len(instances))
    wins: list[bool] = []

    def evaluate(idx: Indexer) -> None:
        barrier.wait()
        wins.append(idx.record_state(alarm.alarm_id, 1, "alarm", "breach", {"count": 1}, T0,
                                     [("http://receiver/", PAYLOAD)]))

    threads = [threading.Thread(target=evaluate, args=(idx,)) for idx in instances]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    try:
        assert len(wins) == len(instances)
        _assert_one_transition(indexer, alarm.alarm_id, wins)
    finally:
        for idx in instances:
            idx.dispose()


EVALUATOR = """
import datetime, sys, time, uuid
from telescale.indexer import Indexer
idx = Indexer(sys.argv[1])
idx.get_alarm(uuid.UUID(sys.argv[2]), project=None)  # connected before the start line
while time.time() < float(sys.argv[3]):
    time.sleep(0.001)
won = idx.record_state(uuid.UUID(sys.argv[2]), 1, "alarm", "breach", None, datetime.datetime.now(datetime.UTC),
                       [("http://receiver/", {"current": "alarm"})])
print(won)
idx.dispose()
"""


def test_concurrent_evaluators_processes(indexer: Indexer, db_url: str, make_alarm) -> None:
    alarm = indexer.create_alarm(make_alarm())
    start = time.time() + 3
    procs = [
        subprocess.Popen([sys.executable, "-c", EVALUATOR, db_url, str(alarm.alarm_id), str(start)],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        for _ in range(3)
    ]
    outputs = [p.communicate(timeout=120) for p in procs]
    assert all(p.returncode == 0 for p in procs), [err for _, err in outputs]
    _assert_one_transition(indexer, alarm.alarm_id, [out.strip() == "True" for out, _ in outputs])


def test_mark_evaluated_and_due_alarms(indexer: Indexer, make_alarm) -> None:
    never = indexer.create_alarm(make_alarm(name="never"))
    default = indexer.create_alarm(make_alarm(name="default"))
    fast = indexer.create_alarm(make_alarm(name="fast", evaluation_interval=1.0))
    slow = indexer.create_alarm(make_alarm(name="slow", evaluation_interval=100.0))
    indexer.create_alarm(make_alarm(name="disabled", enabled=False))
    indexer.create_alarm(make_alarm(name="event", type="event", rule={"event_type": "compute.*"}))
    indexer.mark_evaluated([default.alarm_id, fast.alarm_id], _seconds(0))
    indexer.mark_evaluated([slow.alarm_id], _seconds(-50))
    assert indexer.get_alarm(fast.alarm_id, project=None).version == 1

    def due(at: float, limit: int | None = None) -> list[str]:
        return [a.name for a in indexer.due_alarms(_seconds(at), 10.0, limit)]

    assert due(0.5) == ["never"]
    assert due(1.0) == ["never", "fast"]
    assert due(9.9) == ["never", "fast"]
    assert due(10)[0] == "never" and sorted(due(10)[1:]) == ["default", "fast"]  # the longest waiting first
    assert "slow" not in due(49.9)
    assert due(50)[:2] == ["never", "slow"] and sorted(due(50)[2:]) == ["default", "fast"]
    assert due(10, limit=1) == ["never"]
    subsecond = indexer.create_alarm(make_alarm(name="subsecond", evaluation_interval=1.5))
    indexer.mark_evaluated([subsecond.alarm_id], _seconds(0.25))
    assert "subsecond" not in due(1.749999) and "subsecond" in due(1.75)
    indexer.mark_evaluated([never.alarm_id], _seconds(10))
    assert "never" not in due(10)


def test_alarm_metrics(indexer: Indexer, make_alarm) -> None:
    a = indexer.create_alarm(make_alarm(name="a"))
    b = indexer.create_alarm(make_alarm(name="b"))
    off = indexer.create_alarm(make_alarm(name="off", enabled=False))
    m1, m2, m3 = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    assert indexer.set_alarm_metrics(a.alarm_id, [m1, m2])
    assert indexer.set_alarm_metrics(b.alarm_id, [m2])
    assert indexer.set_alarm_metrics(off.alarm_id, [m1])
    assert indexer.alarms_reading([m1]) == [a.alarm_id]
    assert indexer.alarms_reading([m2, m3]) == sorted([a.alarm_id, b.alarm_id])
    assert indexer.set_alarm_metrics(a.alarm_id, [m3])
    assert indexer.alarms_reading([m1, m2]) == [b.alarm_id]
    assert indexer.alarms_reading([m3]) == [a.alarm_id]
    assert indexer.alarms_reading([]) == []
    indexer.delete_alarm(a.alarm_id, project=None)
    assert indexer.alarms_reading([m3]) == []
    assert not indexer.set_alarm_metrics(a.alarm_id, [m1])


def test_event_alarms_and_alarms_by_id(indexer: Indexer, make_alarm) -> None:
    rule = {"event_type": "compute.instance.*", "query": []}
    e1 = indexer.create_alarm(make_alarm(type="event", rule=rule))
    e2 = indexer.create_alarm(make_alarm(type="event", rule=rule, project_id="project-b"))
    indexer.create_alarm(make_alarm(type="event", rule=rule, enabled=False))
    threshold = indexer.create_alarm(make_alarm())
    assert sorted(a.alarm_id for a in indexer.event_alarms()) == sorted([e1.alarm_id, e2.alarm_id])
    assert [a.alarm_id for a in indexer.event_alarms("project-b")] == [e2.alarm_id]
    # "" is the project of events that name none: the alarms without a project (basic mode stores None).
    none = indexer.create_alarm(make_alarm(type="event", rule=rule, project_id=None))
    empty = indexer.create_alarm(make_alarm(type="event", rule=rule, project_id=""))
    assert sorted(a.alarm_id for a in indexer.event_alarms("")) == sorted([none.alarm_id, empty.alarm_id])
    found = indexer.alarms_by_id([threshold.alarm_id, e1.alarm_id, uuid.uuid4()])
    assert sorted(a.alarm_id for a in found) == sorted([threshold.alarm_id, e1.alarm_id])
    assert indexer.alarms_by_id([]) == []


def test_due_alarms_reuse_known_records(indexer: Indexer, make_alarm) -> None:
    a = indexer.create_alarm(make_alarm(name="a"))
    b = indexer.create_alarm(make_alarm(name="b"))
    c = indexer.create_alarm(make_alarm(name="c"))
    indexer.mark_evaluated([a.alarm_id], _seconds(0))
    indexer.mark_evaluated([b.alarm_id], _seconds(1))
    indexer.mark_evaluated([c.alarm_id], _seconds(2))
    known = {x.alarm_id: x for x in indexer.due_alarms(_seconds(100), 10.0)}
    assert [x.name for x in known.values()] == ["a", "b", "c"]
    indexer.update_alarm(b.alarm_id, {"name": "b2"}, project=None)
    indexer.delete_alarm(c.alarm_id, project=None)
    d = indexer.create_alarm(make_alarm(name="d"))
    known[a.alarm_id] = dataclasses.replace(known[a.alarm_id], description="cached")
    due = indexer.due_alarms(_seconds(100), 10.0, known=known)
    assert [(x.name, x.description) for x in due] == [("d", ""), ("a", "cached"), ("b2", "")]
    assert due[0] == indexer.get_alarm(d.alarm_id, project=None)
