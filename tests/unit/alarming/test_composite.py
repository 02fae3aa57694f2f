"""Composite rules: Aodh's lazy and/or over sub-rule states, its unknowns and its reason texts."""

from __future__ import annotations

import pytest

from telescale.alarming.rules.composite import evaluate_composite
from telescale.alarming.rules.decision import ALARM, OK, UNKNOWN, RuleError
from telescale.alarming.rules.threshold import Verdict, judge

ABOVE, BELOW, MIXED_UP, MIXED_DOWN, NONE = [90.0] * 3, [10.0] * 3, [10.0, 90.0, 90.0], [90.0, 10.0, 10.0], []


def _rule(name: str) -> dict:
    return {"type": "gnocchi_resources_threshold", "resource_id": name, "metric": "cpu", "granularity": 60,
            "comparison_operator": "gt", "threshold": 50.0, "evaluation_periods": 3, "aggregation_method": "mean"}


class Leaves:
    """Evaluates sub-rules from canned points (by resource_id), recording the order of evaluation."""

    def __init__(self, **points: list[float]) -> None:
        self.points, self.calls = points, []

    def __call__(self, rule: dict) -> Verdict:
        self.calls.append(rule["resource_id"])
        return judge(rule, self.points[rule["resource_id"]])


def _reason(form: str, verb: str, state: str, rules: str, description: str) -> str:
    return f"Composite rule alarm with composition form: {form} {verb} {state}, due to rules: {rules} {description}"


NESTED = {"or": [_rule("a"), {"and": [_rule("b"), _rule("c")]}]}


def test_all_sub_rules_unknown_is_insufficient_data():
    leaves = Leaves(a=NONE, b=NONE, c=NONE)
    d = evaluate_composite(NESTED, leaves, OK)
    assert d.state == UNKNOWN
    assert d.reason == _reason("(rule1 or (rule2 and rule3))", "transition to", UNKNOWN, "rule1, rule2, rule3",
                               "state evaluated to unknown.")
    assert d.reason_data == {"type": "composite", "composition_form": "(rule1 or (rule2 and rule3))",
                             "causative_rules": {"rule1": _rule("a"), "rule2": _rule("b"), "rule3": _rule("c")}}
    assert leaves.calls == ["a", "b", "c"]


def test_or_alarm_short_circuits():
    leaves = Leaves(a=ABOVE, b=NONE, c=NONE)
    d = evaluate_composite({"or": [_rule("a"), _rule("b"), _rule("c")]}, leaves, UNKNOWN)
    assert d.state == ALARM
    assert d.reason == _reason("(rule1 or rule2 or rule3)", "transition to", ALARM, "rule1", "outside their threshold.")
    assert d.reason_data["causative_rules"] == {"rule1": _rule("a")}
    assert leaves.calls == ["a"]


def test_and_ok_short_circuits():
    leaves = Leaves(a=BELOW, b=NONE, c=NONE)
    d = evaluate_composite({"and": [_rule("a"), _rule("b"), _rule("c")]}, leaves, UNKNOWN)
    assert d.state == OK
    assert d.reason == _reason("(rule1 and rule2 and rule3)", "transition to", OK, "rule1", "inside their threshold.")
    assert leaves.calls == ["a"]


def test_nested_alarm_names_the_breaching_rules():
    # Aodh's test_alarm_full_trip_with_multi_type_rules.
    rule = {"and": [_rule("r2"), _rule("r3"), {"or": [_rule("r1"), _rule("r4"), _rule("r5"), _rule("r6")]}]}
    leaves = Leaves(r2=ABOVE, r3=ABOVE, r1=BELOW, r4=BELOW, r5=BELOW, r6=ABOVE)
    d = evaluate_composite(rule, leaves, OK)
    assert d.state == ALARM
    assert d.reason_data["composition_form"] == "(rule1 and rule2 and (rule3 or rule4 or rule5 or rule6))"
    assert sorted(d.reason_data["causative_rules"]) == ["rule1", "rule2", "rule6"]
    assert d.reason.endswith("due to rules: rule1, rule2, rule6 outside their threshold.")


def test_mixed_sub_rules_follow_their_trend_from_insufficient_data():
    # Aodh's test_unknown_state_with_sub_rules_trending_state.
    d = evaluate_composite(NESTED, Leaves(a=BELOW, b=MIXED_UP, c=MIXED_UP), UNKNOWN)
    assert d.state == ALARM
    assert d.reason == _reason("(rule1 or (rule2 and rule3))", "transition to", ALARM, "rule2, rule3",
                               "outside their threshold.")


def test_mixed_sub_rules_keep_a_known_state():
    # Aodh's test_known_state_with_sub_rules_trending_state: remaining as ok, all three rules named.
    d = evaluate_composite(NESTED, Leaves(a=BELOW, b=MIXED_UP, c=MIXED_UP), OK)
    assert d.state == OK
    assert d.reason == _reason("(rule1 or (rule2 and rule3))", "remaining as", OK, "rule1, rule2, rule3",
                               "inside their threshold.")


def test_mixed_sub_rules_trending_like_the_alarm_keep_it():
    # A mixed sub-rule keeps the alarm's state (as a mixed threshold rule does); Aodh would flip it to ok.
    d = evaluate_composite({"or": [_rule("a"), _rule("b")]}, Leaves(a=MIXED_UP, b=BELOW), ALARM)
    assert d.state == ALARM
    assert d.reason_data["causative_rules"] == {"rule1": _rule("a")}
    d = evaluate_composite({"or": [_rule("a"), _rule("b")]}, Leaves(a=MIXED_DOWN, b=BELOW), ALARM)
    assert d.state == ALARM


def test_or_of_oks_is_ok():
    # Aodh's OtherCompositeTest.test_simple_ok.
    d = evaluate_composite({"or": [_rule("a"), _rule("b")]}, Leaves(a=BELOW, b=BELOW), ALARM)
    assert d.state == OK
    assert d.reason == _reason("(rule1 or rule2)", "transition to", OK, "rule1, rule2", "inside their threshold.")


@pytest.mark.parametrize(("rule", "points"), [
    ({"and": [_rule("a"), _rule("b")]}, {"a": NONE, "b": ABOVE}),  # unknown and alarm
    ({"or": [_rule("a"), _rule("b")]}, {"a": NONE, "b": BELOW}),  # unknown or ok
])
def test_an_unknown_that_decides_is_insufficient_data(rule, points):
    d = evaluate_composite(rule, Leaves(**points), ALARM)
    assert d.state == UNKNOWN
    assert d.reason_data["causative_rules"] == {"rule1": _rule("a")}


def test_insufficient_data_again_is_worded_remaining():
    d = evaluate_composite({"and": [_rule("a"), _rule("b")]}, Leaves(a=NONE, b=ABOVE), UNKNOWN)
    assert d.state == UNKNOWN and "remaining as insufficient data" in d.reason


def test_missing_data_policy_applies_to_an_unknown_composite():
    d = evaluate_composite({"and": [_rule("a"), _rule("b")]}, Leaves(a=NONE, b=ABOVE), ALARM, "ok")
    assert d.state == OK
    assert d.reason == ("Transition to ok due to missing data (composite rule (rule1 and rule2) evaluated to "
                        "unknown)")
    assert d.reason_data["missing_data"] == "ok" and d.reason_data["type"] == "composite"


def test_a_single_leaf_is_its_own_form():
    d = evaluate_composite(_rule("a"), Leaves(a=ABOVE), OK)
    assert (d.state, d.reason_data["composition_form"]) == (ALARM, "rule1")


def test_sub_rules_are_evaluated_once():
    leaves = Leaves(a=MIXED_UP, b=MIXED_UP)
    evaluate_composite({"and": [_rule("a"), _rule("b")]}, leaves, OK)
    assert leaves.calls == ["a", "b"]


@pytest.mark.parametrize("rule", [{"and": []}, {"or": "x"}, {"and": [{"threshold": 1}]}, {"xor": [_rule("a")]}])
def test_malformed_composites_are_refused(rule):
    with pytest.raises(RuleError, match="composite_rule"):
        evaluate_composite(rule, Leaves(a=ABOVE), OK)


def test_a_lookup_failure_verdict_counts_as_unknown():
    d = evaluate_composite({"or": [_rule("a")]}, lambda rule: Verdict.unknown("resource a does not exists", 3), OK)
    assert d.state == UNKNOWN
