"""Telescale's ``missing_data`` policy: what an alarm becomes when its rule cannot see enough data.

Aodh always moves such an alarm to *insufficient data* (so a metric outage fires every alarm's
``insufficient_data_actions``). The policy lets an alarm say instead that missing data means ``ok``
(quiet metrics), ``alarm`` (a heartbeat that stopped) or ``keep_state`` (ride out gaps).
The default, ``insufficient_data``, is Aodh's behaviour, text included.
"""

from __future__ import annotations

from typing import Any

from telescale.alarming.rules.decision import ALARM, OK, Decision, RuleError

INSUFFICIENT_DATA = "insufficient_data"
KEEP_STATE = "keep_state"
POLICIES = (INSUFFICIENT_DATA, OK, ALARM, KEEP_STATE)
DEFAULT = INSUFFICIENT_DATA


def check_policy(policy: str) -> str:
    """The policy itself, or :class:`RuleError` naming the field when it is not one of :data:`POLICIES`."""
    if policy not in POLICIES:
        raise RuleError(f"missing_data: must be one of {', '.join(POLICIES)}, got {policy!r}")
    return policy


def resolve(
    policy: str,
    current_state: str,
    aodh: Decision,
    cause: str,
    reason_data: dict[str, Any],
) -> Decision:
    """The decision for missing data under ``policy``.

    ``aodh`` is what Aodh itself decides (used as is for the default policy); ``cause`` says why the
    data is missing ("3 datapoints are unknown") and ``reason_data`` is Aodh's *unknown* reason data,
    both reused in the other policies' texts so a notification still tells what was missing.
    """
    check_policy(policy)
    if policy == INSUFFICIENT_DATA:
        return aodh
    state = current_state if policy == KEEP_STATE else policy
    verb = "Remaining as" if state == current_state else "Transition to"
    return Decision(
        state=None if policy == KEEP_STATE else state,
        reason=f"{verb} {state} due to missing data ({cause})",
        reason_data={**reason_data, "missing_data": policy},
    )


__all__ = ["DEFAULT", "INSUFFICIENT_DATA", "KEEP_STATE", "POLICIES", "check_policy", "resolve"]
