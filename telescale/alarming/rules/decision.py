"""What one evaluation of one alarm concludes, whatever its rule type.

Every rule module ends in a :class:`Decision`: the state the rule proposes (or ``None`` to keep the
current one), and Aodh's ``reason`` text and ``reason_data`` for it, worded against the alarm's
current state ("Transition to …" / "Remaining as …") exactly as Aodh's notifications carry them. What
is then committed and notified (``pending_for``, ``repeat_actions``) is decided by
:mod:`telescale.alarming.rules.pending`, the same for every rule type.
"""

from __future__ import annotations

import operator
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

OK = "ok"
ALARM = "alarm"
UNKNOWN = "insufficient data"
STATES = (OK, ALARM, UNKNOWN)

#: Aodh's comparison operators (gnocchi, prometheus and event rules), by name.
COMPARATORS: dict[str, Callable[[Any, Any], bool]] = {
    "lt": operator.lt,
    "le": operator.le,
    "eq": operator.eq,
    "ne": operator.ne,
    "ge": operator.ge,
    "gt": operator.gt,
}


class RuleError(ValueError):
    """A rule that cannot be evaluated as written (an unknown operator, an unparsable query …)."""


@dataclass(frozen=True, slots=True)
class Decision:
    """One rule evaluation's conclusion.

    ``state`` is the proposed state, ``None`` meaning "keep the current state" (mixed points while the
    alarm is ok or alarm, or ``missing_data = keep_state``). ``reason`` / ``reason_data`` are what a
    notification of that outcome carries. ``always_record`` asks for a history entry even when the state
    does not change (Aodh's event alarms with ``repeat_actions``).
    """

    state: str | None
    reason: str
    reason_data: dict[str, Any] = field(default_factory=dict)
    always_record: bool = False


def check_state(state: str) -> str:
    """The state itself, or :class:`RuleError` naming it when it is none of Aodh's three."""
    if state not in STATES:
        raise RuleError(f"state: must be one of {', '.join(STATES)}, got {state!r}")
    return state


def rule_of(alarm: Mapping[str, Any]) -> Mapping[str, Any]:
    """An alarm's rule: Aodh's ``<type>_rule`` object, or ``rule`` as Aodh's storage names it."""
    rule = alarm.get(f"{alarm.get('type')}_rule")
    if rule is None:
        rule = alarm.get("rule")
    if not isinstance(rule, Mapping):
        raise RuleError(f"{alarm.get('type')}_rule: mandatory")
    return rule


def comparator(name: str) -> Callable[[Any, Any], bool]:
    """The Python operator of an Aodh comparison name (``comparison_operator`` / query ``op``)."""
    try:
        return COMPARATORS[name]
    except (KeyError, TypeError):
        raise RuleError(f"comparison_operator: must be one of {', '.join(COMPARATORS)}, got {name!r}") from None
