"""The notification outbox: claims with leases, outcomes of attempts in history, several dispatchers."""

from __future__ import annotations

import datetime
import json
import subprocess
import sys
import time

import pytest

from telescale.indexer import DeliveryAttempt, Indexer
from telescale.redact import public_url

T0 = datetime.datetime(2026, 3, 1, 12, 0, tzinfo=datetime.UTC)


def _seconds(n: float) -> datetime.datetime:
    return T0 + datetime.timedelta(seconds=n)


@pytest.fixture
def queued(indexer: Indexer, make_alarm):
    """An alarm (with a trust) that fired with two notifications at T0."""
    alarm = indexer.create_alarm(make_alarm(trust_id="trust-42", severity="moderate"), now=T0)
    assert indexer.record_state(alarm.alarm_id, 1, "alarm", "breach", None, T0, [
        ("trust+http://receiver:9/hook", {"current": "alarm", "severity": "moderate"}),
        ("http://user:secret@receiver:9/other?x=1", {"current": "alarm", "severity": "moderate"}),
    ])
    return alarm


def _actions(indexer: Indexer, alarm_id) -> list[dict]:
    changes = indexer.get_alarm_history(alarm_id, [("type", "eq", "action")], sorts=["timestamp:asc"], project=None)
    return [json.loads(c.detail) for c in changes]


def test_claim_leases_rows(indexer: Indexer, queued) -> None:
    first = indexer.claim_notifications(1, 30, now=_seconds(1))
    assert [(n.action, n.trust_id, n.attempts) for n in first] == [("trust+http://receiver:9/hook", "trust-42", 0)]
    second = indexer.claim_notifications(10, 30, now=_seconds(2))
    assert [n.action for n in second] == ["http://user:secret@receiver:9/other?x=1"]
    assert indexer.claim_notifications(10, 30, now=_seconds(30)) == []
    # A dispatcher that died: its lease ends and another one takes the rows.
    assert sorted(n.id for n in indexer.claim_notifications(10, 30, now=_seconds(33))) == sorted(
        n.id for n in first + second)


def test_notifications_wait_for_their_time(indexer: Indexer, queued) -> None:
    assert indexer.claim_notifications(10, 30, now=_seconds(-1)) == []


def test_complete_records_the_attempt(indexer: Indexer, queued) -> None:
    hook, other = indexer.claim_notifications(10, 30, now=_seconds(1))
    ok = DeliveryAttempt(ok=True, status=200, error=None, duration=0.012, url="http://receiver:9/hook")
    assert indexer.complete_notification(hook.id, ok)
    failed = DeliveryAttempt(ok=False, status=400, error="HTTP 400", duration=0.5,
                             url="http://user:secret@receiver:9/other?x=1")
    assert indexer.complete_notification(other.id, failed)
    assert not indexer.complete_notification(hook.id, ok)  # finished already: nothing more recorded
    assert indexer.claim_notifications(10, 30, now=_seconds(100)) == []
    assert _actions(indexer, queued.alarm_id) == [
        {"notification_id": hook.id, "url": "http://receiver:9/hook", "attempt": 1, "result": "delivered",
         "status": 200, "error": None, "duration": 0.012},
        {"notification_id": other.id, "url": "http://receiver:9/other?x=1", "attempt": 1, "result": "failed",
         "status": 400, "error": "HTTP 400", "duration": 0.5},
    ]
    entry = indexer.get_alarm_history(queued.alarm_id, [("type", "eq", "action")], project="project-a")[0]
    assert (entry.on_behalf_of, entry.severity, entry.user_id) == ("project-a", "moderate", None)


def test_retry_then_deliver(indexer: Indexer, queued) -> None:
    hook = indexer.claim_notifications(1, 30, now=_seconds(1))[0]
    refused = DeliveryAttempt(ok=False, status=None, error="connection refused", duration=0.001,
                              url="http://receiver:9/hook")
    assert indexer.retry_notification(hook.id, refused, _seconds(5))
    again = [n for n in indexer.claim_notifications(10, 30, now=_seconds(4)) if n.id == hook.id]
    assert again == []
    [retried] = [n for n in indexer.claim_notifications(10, 30, now=_seconds(5)) if n.id == hook.id]
    assert retried.attempts == 1
    unavailable = DeliveryAttempt(ok=False, status=503, error="HTTP 503", duration=0.2, url=refused.url)
    assert indexer.retry_notification(hook.id, unavailable, _seconds(7))
    [last] = [n for n in indexer.claim_notifications(10, 30, now=_seconds(7)) if n.id == hook.id]
    assert last.attempts == 2
    assert indexer.complete_notification(hook.id, DeliveryAttempt(True, 204, None, 0.01, refused.url))
    results = [(a["attempt"], a["result"], a["status"]) for a in _actions(indexer, queued.alarm_id)]
    assert results == [(1, "retrying", None), (2, "retrying", 503), (3, "delivered", 204)]
    assert _actions(indexer, queued.alarm_id)[0]["next_attempt_at"] == _seconds(5).isoformat()


def test_notifications_outlive_their_alarm(indexer: Indexer, queued) -> None:
    indexer.delete_alarm(queued.alarm_id, project=None)
    claimed = indexer.claim_notifications(10, 30, now=_seconds(1))
    assert len(claimed) == 2 and all(n.trust_id is None for n in claimed)
    assert indexer.complete_notification(claimed[0].id, DeliveryAttempt(True, 200, None, 0.1, claimed[0].action))
    assert _actions(indexer, queued.alarm_id)[0]["result"] == "delivered"


def test_delete_finished_notifications(indexer: Indexer, queued) -> None:
    hook, other = indexer.claim_notifications(10, 30, now=_seconds(1))
    indexer.complete_notification(hook.id, DeliveryAttempt(True, 200, None, 0.1, hook.action))
    assert indexer.delete_finished_notifications(T0) == 0
    assert indexer.delete_finished_notifications(_seconds(1)) == 1
    assert [n.id for n in indexer.claim_notifications(10, 30, now=_seconds(60))] == [other.id]


def test_history_urls_lose_their_credentials() -> None:
    assert public_url("trust+https://trust-id:delete@host:8000/p?q=1") == "trust+https://host:8000/p?q=1"
    assert public_url("http://host/p") == "http://host/p"
    assert public_url("log://") == "log://"


DISPATCHER = """
import sys, time
from telescale.indexer import Indexer
idx = Indexer(sys.argv[1])
idx.claim_notifications(0, 1)  # connected before the start line
while time.time() < float(sys.argv[2]):
    time.sleep(0.001)
claimed = []
while True:
    batch = idx.claim_notifications(3, 600)
    if not batch:
        break
    claimed.extend(n.id for n in batch)
print(" ".join(map(str, claimed)))
idx.dispose()
"""


def test_dispatchers_never_share_a_row(indexer: Indexer, db_url: str, make_alarm) -> None:
    alarm = indexer.create_alarm(make_alarm())
    notifications = [(f"http://receiver/{i}", {"i": i}) for i in range(150)]
    assert indexer.record_state(alarm.alarm_id, 1, "alarm", "breach", None, T0, notifications)
    start = time.time() + 3
    procs = [subprocess.Popen([sys.executable, "-c", DISPATCHER, db_url, str(start)], stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True) for _ in range(3)]
    outputs = [p.communicate(timeout=120) for p in procs]
    assert all(p.returncode == 0 for p in procs), [err for _, err in outputs]
    claimed = [[int(i) for i in out.split()] for out, _ in outputs]
    every = [i for ids in claimed for i in ids]
    assert len(every) == len(set(every)) == 150


def test_trust_ids_stay_out_of_reprs(indexer: Indexer, queued) -> None:
    claimed = indexer.claim_notifications(10, 30, now=_seconds(1))
    assert claimed[0].trust_id == "trust-42" and "trust-42" not in repr(claimed)
    assert "trust-42" not in repr(indexer.get_alarm(queued.alarm_id, project=None))
