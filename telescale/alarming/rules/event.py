"""Event rules: an event that matches fires the alarm, as Aodh's event evaluator.

An event is Ceilometer's event notification body: ``{message_id, event_type, generated, traits, raw}``
where ``traits`` is ``[[name, type, value], …]`` (type 1 string, 2 integer, 3 float, 4 datetime, or
those names); a list of ``{"name", "type"|"dtype", "value"}`` objects or a plain ``{name: value}`` dict
is read too. ``message_id`` and ``event_type`` are mandatory.

* Scope: an event fires only the alarms of its project, the value of its ``project_id`` or
  ``tenant_id`` trait ("" without one, which only project-less alarms see) — :func:`event_project`.
* Match: ``event_type`` is an fnmatch pattern (case-sensitive); every ``query`` item must hold (and).
  A ``traits.<name>`` field reads that trait and converts the query value to the item's ``type``
  (``string`` by default; ``integer``, ``float``, ``datetime``, ``boolean``); a missing trait or
  values that cannot be compared do not match, except that ``ne`` matches a missing trait (as in
  Aodh). Another field reads the event itself by a dotted path (``event_type``, ``raw.payload.x``),
  which Aodh accepts but fails on at evaluation.
* Decision: a match proposes ``alarm`` (never ``ok``); an alarm already in ``alarm`` without
  ``repeat_actions`` is skipped; with ``repeat_actions`` every match is recorded and notified.
"""

from __future__ import annotations

import datetime
import fnmatch
import json
import logging
from collections.abc import Mapping
from typing import Any

import iso8601

from telescale.alarming.rules.decision import ALARM, UNKNOWN, Decision, RuleError, check_state, comparator, rule_of

LOG = logging.getLogger(__name__)

#: Ceilometer's trait type codes.
TRAIT_TYPES = {0: "none", 1: "string", 2: "integer", 3: "float", 4: "datetime"}
_PROJECT_TRAITS = ("tenant_id", "project_id")


class InvalidEvent(ValueError):
    """An event without ``message_id`` / ``event_type`` or with a trait that cannot be read."""


def traits(event: Mapping[str, Any]) -> dict[str, Any]:
    """The event's traits as ``{name: typed value}`` (datetimes aware, in UTC)."""
    raw = event.get("traits") or []
    if isinstance(raw, Mapping):
        return {str(name): _typed(value, _type_of(value)) for name, value in raw.items()}
    if not isinstance(raw, list | tuple):
        raise InvalidEvent(f"traits: must be a list of [name, type, value], got {raw!r}")
    out: dict[str, Any] = {}
    for trait in raw:
        if isinstance(trait, Mapping):
            name, kind, value = trait.get("name"), trait.get("type", trait.get("dtype")), trait.get("value")
        elif isinstance(trait, list | tuple) and len(trait) == 3:
            name, kind, value = trait
        else:
            raise InvalidEvent(f"traits: each trait must be [name, type, value], got {trait!r}")
        if not isinstance(name, str) or not name:
            raise InvalidEvent(f"traits: each trait's name must be a non-empty string, got {name!r}")
        try:
            out[str(name)] = _typed(value, TRAIT_TYPES.get(kind, kind))
        except (TypeError, ValueError, RuleError) as e:
            raise InvalidEvent(f"traits.{name}: {e}") from None
    return out


def check_event(event: Any) -> None:
    """Raise :class:`InvalidEvent` when the event lacks what Aodh requires."""
    if not event or not isinstance(event, Mapping):
        raise InvalidEvent("event: empty or not an object")
    for key in ("event_type", "message_id"):
        if not event.get(key):
            raise InvalidEvent(f"{key}: mandatory in an event")


def event_project(event: Mapping[str, Any]) -> str:
    """The project whose alarms the event may fire: its ``project_id`` / ``tenant_id`` trait, else ""."""
    project = ""
    for name, value in traits(event).items():
        if name in _PROJECT_TRAITS:
            project = value
    return str(project)


def matches(rule: Mapping[str, Any], event: Mapping[str, Any]) -> bool:
    """Whether the event matches the rule's ``event_type`` pattern and every ``query`` item."""
    check_event(event)
    if not fnmatch.fnmatchcase(str(event["event_type"]), str(rule.get("event_type") or "*")):
        return False
    typed = traits(event)
    return all(_holds(item, event, typed) for item in rule.get("query") or [])


def evaluate_event(
    alarm: Mapping[str, Any], event: Mapping[str, Any], current_state: str | None = None
) -> Decision | None:
    """The decision for an event alarm (``state``, ``repeat_actions``, ``event_rule``) and one
    event of its project; ``None`` when the event does not concern it."""
    check_event(event)
    state = check_state(current_state or alarm.get("state") or UNKNOWN)
    repeat = bool(alarm.get("repeat_actions"))
    if state == ALARM and not repeat:
        return None
    rule = rule_of(alarm)
    if not matches(rule, event):
        return None
    query = json.dumps(rule.get("query") or [], sort_keys=True)
    reason = f"Event <id={event['message_id']},event_type={event['event_type']}> hits the query <query={query}>."
    return Decision(ALARM, reason, {"type": "event", "event": dict(event)}, always_record=repeat)


def _holds(item: Mapping[str, Any], event: Mapping[str, Any], typed: Mapping[str, Any]) -> bool:
    field = str(item.get("field", ""))
    compare = comparator(item.get("op") or "eq")
    kind = item.get("type") or "string"
    try:
        expected = _typed(item.get("value"), kind)
    except (TypeError, ValueError) as e:
        LOG.debug("query %s: value %r is not a %s (%s): no match", field, item.get("value"), kind, e)
        return False
    if field.startswith("traits."):
        actual = typed.get(field.split(".", 1)[1])
    else:
        actual = _path(event, field)
        if actual is not None:
            try:
                actual = _typed(actual, kind)
            except (TypeError, ValueError):
                return False
    try:
        return bool(compare(actual, expected))
    except TypeError:
        return False


def _path(event: Mapping[str, Any], field: str) -> Any:
    value: Any = event
    for part in field.split("."):
        if not isinstance(value, Mapping):
            return None
        value = value.get(part)
    return value


def _typed(value: Any, kind: Any) -> Any:
    """A trait or query value as its type says (Aodh's ``_sanitize_trait_value``, plus booleans)."""
    if kind in ("integer", 2):
        return int(value)
    if kind in ("float", 3):
        return float(value)
    if kind in ("datetime", 4):
        return _datetime(value)
    if kind == "boolean":
        return _boolean(value)
    if kind in ("string", "none", "", 0, 1, None):
        return str(value)
    raise RuleError(f"type: must be one of string, integer, float, datetime, boolean, got {kind!r}")


def _type_of(value: Any) -> str:
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    if isinstance(value, float):
        return "float"
    if isinstance(value, datetime.datetime):
        return "datetime"
    return "string"


def _datetime(value: Any) -> datetime.datetime:
    if isinstance(value, datetime.datetime):
        parsed = value
    else:
        try:
            parsed = iso8601.parse_date(str(value), default_timezone=datetime.UTC)
        except iso8601.ParseError as e:
            raise ValueError(str(e)) from None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=datetime.UTC)
    return parsed.astimezone(datetime.UTC)


def _boolean(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in ("true", "1", "yes", "on", "y", "t"):
        return True
    if text in ("false", "0", "no", "off", "n", "f"):
        return False
    raise ValueError(f"not a boolean: {value!r}")
