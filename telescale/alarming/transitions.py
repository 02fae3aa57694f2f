"""From one alarm's decision to what is committed: settle it, then write state, history and notifications at once.

The evaluator (every rule type evaluated on time or on new measures) and the events intake (``event``
rules, ``POST /v2/events``) both end here, so a transition means the same wherever it comes from: the
decision is settled with the alarm's ``pending_for`` and ``repeat_actions``
(:func:`telescale.alarming.rules.pending.settle`), and if anything is to be written, the alarm's new state,
its history entry and one outbox row per action (Aodh's notification body, :func:`payload`) are committed in
one conditional transaction (``indexer.record_state``): a crash loses both or neither, and of two writers
that read the same version only the first commits.
"""

from __future__ import annotations

import datetime
import enum
import logging
from dataclasses import dataclass
from typing import Any

from telescale.alarming.rules import pending
from telescale.alarming.rules.decision import Decision
from telescale.indexer.records import Alarm
from telescale.timeutil import NS, to_datetime

LOG = logging.getLogger(__name__)


class Written(enum.Enum):
    """What :func:`commit_decision` did."""

    NOTHING = "nothing"  # the decision changes nothing stored: the caller only notes the evaluation time
    COMMITTED = "committed"
    LOST_RACE = "lost race"  # the alarm changed (or went) since it was read: nothing was written


@dataclass(frozen=True)
class Commit:
    """:func:`commit_decision`'s answer: what was written, the settled outcome and how many notifications."""

    written: Written
    outcome: pending.Outcome
    notifications: int = 0

    @property
    def transition(self) -> bool:
        """A committed change of state."""
        return self.written is Written.COMMITTED and self.outcome.changed


def to_ns(value: datetime.datetime | None) -> int | None:
    """A stored time as int64 ns (None stays None)."""
    return None if value is None else int(value.timestamp() * NS)


def payload(alarm: Alarm, previous: str, current: str, reason: str, reason_data: dict[str, Any]) -> dict[str, Any]:
    """Aodh's notification body, exactly its keys."""
    return {"alarm_name": alarm.name, "alarm_id": str(alarm.alarm_id), "severity": alarm.severity,
            "previous": previous, "current": current, "reason": reason, "reason_data": reason_data}


def commit_decision(indexer: Any, alarm: Alarm, decision: Decision, now: int) -> Commit:
    """Settle ``decision`` for ``alarm`` (as read, at its ``version``) at ``now`` (ns) and commit what it
    changes with its notifications in one transaction; nothing is written when it changes nothing."""
    outcome = pending.settle(alarm.state, decision, now=now, repeat_actions=alarm.repeat_actions,
                             pending_for=alarm.pending_for, pending_state=alarm.pending_state,
                             pending_since=to_ns(alarm.pending_since))
    held = (outcome.pending_state, outcome.pending_since) != (alarm.pending_state, to_ns(alarm.pending_since))
    if not (outcome.record or outcome.notify or held):
        return Commit(Written.NOTHING, outcome)
    notes = [(url, payload(alarm, outcome.previous, outcome.state, outcome.reason, outcome.reason_data))
             for url in alarm.actions_for(outcome.state)] if outcome.notify else []
    since = None if outcome.pending_since is None else to_datetime(outcome.pending_since)
    ok = indexer.record_state(
        alarm.alarm_id, alarm.version, outcome.state, outcome.reason, outcome.reason_data, to_datetime(now),
        notifications=notes, history_type="state transition" if outcome.record else None,
        pending=(outcome.pending_state, since) if outcome.pending_state is not None else None)
    if not ok:
        return Commit(Written.LOST_RACE, outcome)
    if outcome.changed:
        LOG.info("alarm %s (%s): %s -> %s: %s", alarm.alarm_id, alarm.name, outcome.previous, outcome.state,
                 outcome.reason)
    return Commit(Written.COMMITTED, outcome, len(notes))
