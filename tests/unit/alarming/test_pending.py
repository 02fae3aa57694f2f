"""pending_for (Prometheus' `for`) and repeat_actions: what is committed and notified."""

from __future__ import annotations

from telescale.alarming.rules.decision import ALARM, OK, UNKNOWN, Decision
from telescale.alarming.rules.pending import PendingStep, advance, settle, should_notify

NS = 1_000_000_000
T = 1_700_000_000 * NS
TO_ALARM = Decision(ALARM, "Transition to alarm due to 3 samples outside threshold, most recent: 90.0",
                    {"type": "threshold", "disposition": "outside", "count": 3, "most_recent": 90.0})
STAY_OK = Decision(OK, "Remaining as ok due to 3 samples inside threshold, most recent: 1.0",
                   {"type": "threshold", "disposition": "inside", "count": 3, "most_recent": 1.0})
KEEP = Decision(None, "Remaining as ok due to 1 samples inside threshold, most recent: 1.0", {"count": 1})


def test_without_pending_for_a_change_commits_at_once():
    assert advance(OK, None, None, ALARM, T, 0) == PendingStep(ALARM, None, None)


def test_a_change_waits_pending_for_from_its_first_proposal():
    first = advance(OK, None, None, ALARM, T, 60)
    assert first == PendingStep(None, ALARM, T)
    second = advance(OK, first.pending_state, first.pending_since, ALARM, T + 59 * NS, 60)
    assert second == PendingStep(None, ALARM, T)
    third = advance(OK, second.pending_state, second.pending_since, ALARM, T + 60 * NS, 60)
    assert third == PendingStep(ALARM, None, None)


def test_another_proposal_starts_over():
    step = advance(OK, ALARM, T, UNKNOWN, T + 50 * NS, 60)
    assert step == PendingStep(None, UNKNOWN, T + 50 * NS)
    step = advance(OK, step.pending_state, step.pending_since, ALARM, T + 70 * NS, 60)
    assert step == PendingStep(None, ALARM, T + 70 * NS)


def test_proposing_the_current_state_or_keep_clears_pending():
    assert advance(OK, ALARM, T, OK, T + 10 * NS, 60) == PendingStep(None, None, None)
    assert advance(OK, ALARM, T, None, T + 10 * NS, 60) == PendingStep(None, None, None)


def test_settle_commits_and_notifies_a_change():
    out = settle(OK, TO_ALARM, now=T)
    assert (out.state, out.previous, out.changed, out.record, out.notify) == (ALARM, OK, True, True, True)
    assert out.reason == TO_ALARM.reason and out.reason_data == TO_ALARM.reason_data


def test_unchanged_state_is_silent_without_repeat_actions():
    out = settle(OK, STAY_OK, now=T)
    assert (out.state, out.changed, out.record, out.notify) == (OK, False, False, False)


def test_repeat_actions_renotify_every_unchanged_evaluation():
    out = settle(OK, STAY_OK, now=T, repeat_actions=True)
    assert (out.changed, out.notify, out.reason) == (False, True, STAY_OK.reason)
    kept = settle(OK, KEEP, now=T, repeat_actions=True)
    assert (kept.state, kept.notify, kept.reason) == (OK, True, KEEP.reason)


def test_repeat_actions_include_insufficient_data():
    again = Decision(UNKNOWN, "Remaining as insufficient data due to 0 samples outside threshold, most recent: None")
    out = settle(UNKNOWN, again, now=T, repeat_actions=True)
    assert (out.state, out.changed, out.notify) == (UNKNOWN, False, True)
    assert not settle(UNKNOWN, again, now=T).notify


def test_a_held_change_says_it_is_pending():
    out = settle(OK, TO_ALARM, now=T + 20 * NS, repeat_actions=True, pending_for=60,
                 pending_state=ALARM, pending_since=T)
    assert (out.state, out.changed, out.notify) == (OK, False, True)
    assert (out.pending_state, out.pending_since) == (ALARM, T)
    assert out.reason == f"Remaining as ok, alarm pending for 20 of 60 s: {TO_ALARM.reason}"
    assert out.reason_data["pending"] == {"state": ALARM, "since": "2023-11-14T22:13:20+00:00", "for": 60}
    assert out.reason_data["count"] == 3


def test_a_held_change_commits_when_due():
    out = settle(OK, TO_ALARM, now=T + 60 * NS, pending_for=60, pending_state=ALARM, pending_since=T)
    assert (out.state, out.changed, out.notify, out.pending_state) == (ALARM, True, True, None)
    assert out.reason == TO_ALARM.reason


def test_always_record_asks_for_history_without_a_change():
    event = Decision(ALARM, "Event <id=1,event_type=x> hits the query <query=[]>.", always_record=True)
    out = settle(ALARM, event, now=T, repeat_actions=True)
    assert (out.changed, out.record, out.notify) == (False, True, True)


def test_should_notify():
    assert should_notify(OK, ALARM, False)
    assert not should_notify(OK, OK, False)
    assert should_notify(OK, OK, True)
