"""The events intake: each event fires the matching ``event`` alarms of its project, committed at once.

Events arrive in the body Aodh's listener takes from Ceilometer (``POST /v2/events`` today; the collection
agent will feed the same function): ``{message_id, event_type, generated, traits, raw}``. They are
checked first, all of them (:func:`read_events`), so a bad one in a batch changes nothing. Then, per event
in order, the enabled event alarms of its project are matched (:mod:`telescale.alarming.rules.event`):
a match is settled and committed with its notifications exactly as the evaluator commits a transition
(:mod:`telescale.alarming.transitions`), so the dispatcher of any evaluator process delivers them.

* An alarm outside all of its ``time_constraints`` is not evaluated, as the evaluator does (Aodh's event
  listener ignores them).
* An alarm that another writer changed between the read and the commit is read again and judged again,
  so two concurrent events fire an alarm without ``repeat_actions`` once.
"""

from __future__ import annotations

import datetime
import logging
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import iso8601

from telescale.alarming import transitions
from telescale.alarming.rules.event import InvalidEvent, evaluate_event, traits
from telescale.alarming.rules.time_constraints import within_time_constraints
from telescale.indexer.records import Alarm

LOG = logging.getLogger(__name__)
ATTEMPTS = 3  # reads of one alarm per event when concurrent writers keep changing it

@dataclass(frozen=True)
class EventOutcome:
    """What one event did: the project it was matched in ("" = alarms without a project) and the alarms it
    fired (a committed transition, or a repeated notification with ``repeat_actions``)."""

    message_id: str
    project_id: str
    fired: tuple[uuid.UUID, ...]


def read_events(body: Any) -> list[dict[str, Any]]:
    """The events of a request body (one event or a list of them), each checked; :class:`InvalidEvent`
    names the first bad field, prefixed with ``events[i].`` in a list."""
    if isinstance(body, list):
        for i, event in enumerate(body):
            _check(event, f"events[{i}]")
        return list(body)
    _check(body, "")
    return [body]


def _check(event: Any, where: str) -> None:
    def named(field: str) -> str:
        return f"{where}.{field}" if where else field

    if not isinstance(event, Mapping) or not event:
        raise InvalidEvent(f"{where or 'event'}: must be an object with message_id and event_type, got {event!r}")
    for key in ("event_type", "message_id"):
        if not isinstance(event.get(key), str) or not event[key]:
            raise InvalidEvent(f"{named(key)}: mandatory, a non-empty string (got {event.get(key)!r})")
    generated = event.get("generated")
    if generated is not None:
        try:
            iso8601.parse_date(generated, default_timezone=datetime.UTC)
        except (iso8601.ParseError, TypeError) as e:
            raise InvalidEvent(f"{named('generated')}: not an ISO 8601 timestamp ({e})") from None
    nul = _nul_at(event)
    if nul is not None:
        raise InvalidEvent(f"{named(nul)}: must not contain NUL characters")
    try:
        traits(event)
    except InvalidEvent as e:
        raise InvalidEvent(named(str(e))) from None


def _nul_at(value: Any, path: str = "") -> str | None:
    """The path of the first string (key or value) holding a NUL character, which no database stores."""
    if isinstance(value, str):
        return path if "\x00" in value else None
    if isinstance(value, Mapping):
        for key, item in value.items():
            here = f"{path}.{key}" if path else str(key)
            if "\x00" in str(key):
                return here.replace("\x00", "\\x00")
            found = _nul_at(item, here)
            if found is not None:
                return found
    elif isinstance(value, list):
        for i, item in enumerate(value):
            found = _nul_at(item, f"{path}[{i}]")
            if found is not None:
                return found
    return None


def fire(indexer: Any, event: Mapping[str, Any], project: str, now: int) -> EventOutcome:
    """Match one checked ``event`` against the enabled event alarms of ``project`` ("" = those without a
    project) at ``now`` (ns) and commit every alarm it fires."""
    fired: list[uuid.UUID] = []
    for alarm in indexer.event_alarms(project):
        if fire_alarm(indexer, alarm, event, now):
            fired.append(alarm.alarm_id)
    return EventOutcome(str(event["message_id"]), project, tuple(fired))


def fire_alarm(indexer: Any, alarm: Alarm, event: Mapping[str, Any], now: int) -> bool:
    """Judge one checked event against ``alarm`` (as read) and commit what it fires; True when it fired.
    When a concurrent writer changed the alarm first, it is read again and judged again."""
    current: Alarm | None = alarm
    for _ in range(ATTEMPTS):
        if current is None or not current.enabled or current.type != "event" or \
                current.project_id != alarm.project_id:
            return False
        if not within_time_constraints(current.time_constraints, now):
            return False
        decision = evaluate_event({"type": "event", "state": current.state, "repeat_actions": current.repeat_actions,
                                   "event_rule": current.rule}, event)
        if decision is None:
            return False
        commit = transitions.commit_decision(indexer, current, decision, now)
        if commit.written is not transitions.Written.LOST_RACE:
            return commit.written is transitions.Written.COMMITTED
        found = indexer.alarms_by_id([current.alarm_id])
        current = found[0] if found else None
    LOG.warning("alarm %s kept changing while event %s was committed: not fired", alarm.alarm_id,
                event.get("message_id"))
    return False
