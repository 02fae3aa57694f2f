"""From a rule's decision to what is committed and notified: ``pending_for`` and ``repeat_actions``.

``pending_for`` works like Prometheus' ``for``: a proposed state other than the current one is only
committed once every evaluation has proposed it for ``pending_for`` seconds, counted from the first
evaluation that proposed it; any other proposal (another state, the current state, or "keep") starts
over. ``0`` (the default) commits at once, as Aodh.

``repeat_actions`` is Aodh's: an unchanged state is notified again on every evaluation (insufficient
data included); a change is always notified. Times are int64 nanoseconds since the epoch.
"""

from __future__ import annotations

from typing import Any, NamedTuple

from telescale.alarming.rules.decision import Decision, check_state
from telescale.timeutil import NS, format_timestamp


class PendingStep(NamedTuple):
    """:func:`advance`'s answer: the state to commit now (``None``: none) and the pending pair to store."""

    commit: str | None
    pending_state: str | None
    pending_since: int | None


class Outcome(NamedTuple):
    """One evaluation's effect on an alarm, for the evaluator to write.

    ``changed``: store ``state`` and a history entry; ``record``: a history entry even though the state
    is unchanged (Aodh's event alarms with ``repeat_actions``); ``notify``: queue a notification with
    ``reason`` / ``reason_data``, ``previous`` being the state before.
    """

    state: str
    previous: str
    changed: bool
    record: bool
    notify: bool
    reason: str
    reason_data: dict[str, Any]
    pending_state: str | None
    pending_since: int | None


def advance(
    current: str,
    pending_state: str | None,
    pending_since: int | None,
    proposed: str | None,
    now: int,
    pending_for: float,
) -> PendingStep:
    """Let ``proposed`` through once it has been proposed for ``pending_for`` seconds in a row."""
    if proposed is None or proposed == current:
        return PendingStep(None, None, None)
    since = pending_since if pending_state == proposed and pending_since is not None else now
    if now - since >= pending_for * NS:
        return PendingStep(proposed, None, None)
    return PendingStep(None, proposed, since)


def should_notify(previous: str, state: str, repeat_actions: bool) -> bool:
    """Aodh's ``_refresh``: notify every change, and every unchanged evaluation with ``repeat_actions``."""
    return previous != state or bool(repeat_actions)


def settle(
    current: str,
    decision: Decision,
    *,
    now: int,
    repeat_actions: bool = False,
    pending_for: float = 0.0,
    pending_state: str | None = None,
    pending_since: int | None = None,
) -> Outcome:
    """Combine a decision with the alarm's pending pair and ``repeat_actions`` into its :class:`Outcome`."""
    check_state(current)
    step = advance(current, pending_state, pending_since, decision.state, now, pending_for)
    state = step.commit or current
    changed = state != current
    if changed or decision.state in (None, current):
        reason, reason_data = decision.reason, decision.reason_data
    else:
        reason, reason_data = _held(current, decision, step, now, pending_for)
    return Outcome(
        state=state,
        previous=current,
        changed=changed,
        record=changed or decision.always_record,
        notify=should_notify(current, state, repeat_actions),
        reason=reason,
        reason_data=reason_data,
        pending_state=step.pending_state,
        pending_since=step.pending_since,
    )


def _held(current: str, decision: Decision, step: PendingStep, now: int, pending_for: float) -> tuple[str, dict]:
    """The words for a state held back by ``pending_for`` (only notified with ``repeat_actions``)."""
    since = step.pending_since if step.pending_since is not None else now
    elapsed = (now - since) / NS
    reason = (f"Remaining as {current}, {decision.state} pending for {elapsed:g} of {pending_for:g} s: "
              f"{decision.reason}")
    pending = {"state": decision.state, "since": format_timestamp(since), "for": pending_for}
    return reason, {**decision.reason_data, "pending": pending}
