"""Composite rules: nested ``{"and" | "or": [sub-rule, …]}`` over threshold sub-rules, as Aodh.

The leaves are numbered ``rule1``, ``rule2`` … depth first, and evaluated lazily through a callback
(the evaluator reads their data), each at most once:

1. The alarm expression is tried, then its dual (an ``and`` of alarms is an ``or`` of oks), with
   Python's short-circuit: ``rule1 or rule2`` in alarm never evaluates ``rule2``. A sub-rule whose
   points are mixed counts as neither state yet.
2. If neither holds, every leaf is evaluated and each mixed one takes a state: its trend when the
   composite alarm is in *insufficient data*, else the composite's current state (as a mixed
   threshold rule keeps its state; Aodh instead counts it as the opposite of its trend, which can
   move an alarm to ``ok`` while its newest point breaches), and both expressions are tried again.
3. Still neither (an unknown sub-rule decides): *insufficient data*, under the alarm's ``missing_data``
   policy.

Reason text and ``reason_data`` (``composition_form``, ``causative_rules``: the leaves in the new state)
are Aodh's.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

from telescale.alarming.rules import missing_data as missing
from telescale.alarming.rules.decision import ALARM, OK, UNKNOWN, Decision, RuleError, check_state

_DESCRIPTION = {ALARM: "outside their threshold.", OK: "inside their threshold.",
                UNKNOWN: "state evaluated to unknown."}


class LeafResult(Protocol):
    """What evaluating a sub-rule tells: a threshold :class:`~telescale.alarming.rules.threshold.Verdict`."""

    state: str | None  # ok | alarm | insufficient data, None when its points are mixed
    trending: str | None  # the newest point's state when mixed


@dataclass(eq=False)
class _Leaf:
    name: str
    rule: Mapping[str, Any]
    evaluate: Callable[[Mapping[str, Any]], LeafResult]
    state: str | None = None
    trending: str | None = None
    evaluated: bool = False

    def settle(self) -> None:
        if not self.evaluated:
            result = self.evaluate(self.rule)
            self.state, self.trending, self.evaluated = result.state, result.trending, True

    def holds(self, state: str) -> bool:
        self.settle()
        return self.state == state


@dataclass(eq=False)
class _Node:
    """An ``and`` / ``or`` over children; ``holds(state)`` follows the dual for ``ok``."""

    op: str
    children: list[_Node | _Leaf] = field(default_factory=list)

    def holds(self, state: str) -> bool:
        conjunction = (self.op == "and") == (state == ALARM)
        test = all if conjunction else any
        return test(child.holds(state) for child in self.children)

    def __str__(self) -> str:
        return "(" + f" {self.op} ".join(child.name if isinstance(child, _Leaf) else str(child)
                                         for child in self.children) + ")"


def _parse(rule: Any, evaluate: Callable[[Mapping[str, Any]], LeafResult], leaves: list[_Leaf]) -> _Node | _Leaf:
    """The expression tree of a composite rule; leaves are appended to ``leaves`` in Aodh's numbering."""
    if isinstance(rule, Mapping) and len(rule) == 1 and next(iter(rule)) in ("and", "or"):
        op = next(iter(rule))
        children = rule[op]
        if not isinstance(children, list) or not children:
            raise RuleError(f"composite_rule.{op}: must be a non-empty list of rules")
        return _Node(op, [_parse(child, evaluate, leaves) for child in children])
    if not isinstance(rule, Mapping) or "type" not in rule:
        raise RuleError(f"composite_rule: a sub-rule must be an 'and' / 'or' or have a 'type', got {rule!r}")
    leaf = _Leaf(f"rule{len(leaves) + 1}", rule, evaluate)
    leaves.append(leaf)
    return leaf


def evaluate_composite(
    rule: Mapping[str, Any],
    evaluate_leaf: Callable[[Mapping[str, Any]], LeafResult],
    current_state: str,
    missing_data: str = missing.DEFAULT,
) -> Decision:
    """The decision for a composite alarm in ``current_state``; ``evaluate_leaf(sub_rule)`` reads and judges
    one sub-rule (an exception from it is an evaluation error: no state change)."""
    check_state(current_state)
    leaves: list[_Leaf] = []
    tree = _parse(rule, evaluate_leaf, leaves)
    decided = _first_true(tree)
    if decided is None:
        for leaf in leaves:
            leaf.settle()
            if leaf.state is None:
                leaf.state = leaf.trending if current_state == UNKNOWN else current_state
        decided = _first_true(tree)
    if decided is not None:
        return _decision(decided, current_state, tree, leaves)
    aodh = _decision(UNKNOWN, current_state, tree, leaves)
    cause = f"composite rule {tree} evaluated to unknown"
    return missing.resolve(missing_data, current_state, aodh, cause, aodh.reason_data)


def _first_true(tree: _Node | _Leaf) -> str | None:
    if tree.holds(ALARM):
        return ALARM
    if tree.holds(OK):
        return OK
    return None


def _decision(state: str, current_state: str, tree: _Node | _Leaf, leaves: list[_Leaf]) -> Decision:
    form = tree.name if isinstance(tree, _Leaf) else str(tree)
    causes = {leaf.name: leaf.rule for leaf in leaves if leaf.state == state}
    verb = "transition to" if state != current_state else "remaining as"
    reason = (f"Composite rule alarm with composition form: {form} {verb} {state}, due to rules: "
              f"{', '.join(sorted(causes))} {_DESCRIPTION[state]}")
    return Decision(state, reason, {"type": "composite", "composition_form": form, "causative_rules": causes})
