"""Pure evaluation of every alarm rule type: points → state, Aodh's reason and ``reason_data``.

No I/O here except the Prometheus client. The evaluator reads the data and commits; these modules say
what it means:

* ``decision`` — the :class:`Decision` record every rule ends in, the states, the comparators.
* ``threshold`` — judging a window of points (batched, vectorised) and deciding, as Aodh's threshold
  evaluator; ``gnocchi`` — the window a gnocchi rule reads and Aodh's words when the read fails.
* ``prometheus`` — the instant-query client and rule; ``promql_scope`` — project scoping of a query.
* ``composite``, ``event`` — Aodh's composite and event rules.
* ``missing_data`` — what missing data means per alarm; ``pending`` — ``pending_for`` and
  ``repeat_actions``: what gets committed and notified; ``time_constraints`` — when to evaluate at all.
"""

from telescale.alarming.rules.decision import ALARM, OK, STATES, UNKNOWN, Decision, RuleError, rule_of

__all__ = ["ALARM", "OK", "STATES", "UNKNOWN", "Decision", "RuleError", "rule_of"]
