"""Threshold rules: Aodh's judging of a window of points, its reason texts, and the batched form."""

from __future__ import annotations

import math
import operator

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from telescale.alarming.rules import threshold
from telescale.alarming.rules.decision import ALARM, OK, UNKNOWN, RuleError
from telescale.alarming.rules.threshold import ThresholdBatch, compare, decide, decide_batch, judge, judge_batch

NS = 1_000_000_000
RULE = {"comparison_operator": "gt", "threshold": 80.0, "evaluation_periods": 3, "granularity": 60}
T0 = 1_422_276_000 * NS  # 2015-01-26T12:40:00Z


def _times(n: int) -> np.ndarray:
    return T0 + np.arange(n, dtype=np.int64) * 60 * NS


def _decide(values: list[float], current: str, rule: dict = RULE, policy: str = "insufficient_data"):
    return decide(judge(rule, values, _times(len(values))), current, policy)


def test_all_points_breaching_is_alarm_with_aodh_reason():
    d = _decide([81.0, 82.0, 85.0], OK)
    assert d.state == ALARM
    assert d.reason == "Transition to alarm due to 3 samples outside threshold, most recent: 85.0"
    assert d.reason_data == {
        "type": "threshold", "disposition": "outside", "count": 3, "most_recent": 85.0,
        "timestamps": ["2015-01-26T12:40:00+00:00", "2015-01-26T12:41:00+00:00", "2015-01-26T12:42:00+00:00"],
        "values": [81.0, 82.0, 85.0],
    }


def test_no_point_breaching_is_ok_counting_points_inside():
    d = _decide([80.0, 70.0, 60.0], ALARM)
    assert d.state == OK
    assert d.reason == "Transition to ok due to 3 samples inside threshold, most recent: 60.0"
    assert (d.reason_data["disposition"], d.reason_data["count"]) == ("inside", 3)


def test_unchanged_state_is_worded_remaining():
    d = _decide([81.0, 82.0, 85.0], ALARM)
    assert d.state == ALARM
    assert d.reason == "Remaining as alarm due to 3 samples outside threshold, most recent: 85.0"


def test_mixed_points_keep_a_known_state():
    # Aodh's test_equivocal_from_known_state_and_repeat_actions: "Remaining as ok due to 1 samples inside"
    d = _decide([81.0, 90.0, 79.0], OK)
    assert d.state is None
    assert d.reason == "Remaining as ok due to 1 samples inside threshold, most recent: 79.0"
    assert d.reason_data["disposition"] == "inside" and d.reason_data["count"] == 1
    kept = _decide([70.0, 75.0, 81.0], ALARM)
    assert kept.state is None
    assert kept.reason == "Remaining as alarm due to 1 samples outside threshold, most recent: 81.0"


@pytest.mark.parametrize(("values", "trend", "reason"), [
    ([70.0, 75.0, 81.0], ALARM, "Transition to alarm due to 1 samples outside threshold, most recent: 81.0"),
    ([81.0, 90.0, 79.0], OK, "Transition to ok due to 1 samples inside threshold, most recent: 79.0"),
])
def test_mixed_points_from_insufficient_data_follow_the_newest_point(values, trend, reason):
    d = _decide(values, UNKNOWN)
    assert d.state == trend
    assert d.reason == reason


def test_only_the_last_evaluation_periods_points_count():
    # Aodh's test_equivocal_ok_to_alarm: an older point below the threshold must be dropped.
    d = _decide([10.0, 20.0, 81.0, 82.0, 83.0], OK)
    assert d.state == ALARM
    assert d.reason_data["values"] == [81.0, 82.0, 83.0]
    assert d.reason_data["timestamps"][0] == "2015-01-26T12:42:00+00:00"


def test_fewer_points_than_evaluation_periods_is_insufficient_data():
    d = _decide([81.0, 82.0], OK)
    assert d.state == UNKNOWN
    assert d.reason == "3 datapoints are unknown"
    assert d.reason_data["type"] == "threshold"
    assert (d.reason_data["disposition"], d.reason_data["count"], d.reason_data["most_recent"]) == ("unknown", 3, 82.0)


def test_no_point_at_all_names_the_granularity():
    d = _decide([], ALARM)
    assert d.state == UNKNOWN
    assert d.reason == "No datapoint for granularity 60"
    assert (d.reason_data["disposition"], d.reason_data["count"], d.reason_data["most_recent"]) == ("unknown", 3, None)


def test_insufficient_data_again_is_worded_as_aodh_repeats_it():
    d = _decide([], UNKNOWN)
    assert d.state == UNKNOWN
    assert d.reason == "Remaining as insufficient data due to 0 samples outside threshold, most recent: None"
    assert (d.reason_data["disposition"], d.reason_data["count"]) == ("outside", 0)


def test_a_lookup_failure_verdict_carries_its_reason():
    d = decide(threshold.Verdict.unknown("resource r1 does not exists", 3), OK)
    assert (d.state, d.reason) == (UNKNOWN, "resource r1 does not exists")
    assert d.reason_data == {"type": "threshold", "disposition": "unknown", "count": 3, "most_recent": None,
                             "values": []}


@pytest.mark.parametrize("op", ["lt", "le", "eq", "ne", "ge", "gt"])
def test_each_operator_compares_value_to_threshold(op):
    values = [1.0, 2.0, 3.0, math.nan]
    expected = [getattr(operator, op)(v, 2.0) for v in values]
    assert compare(values, op, 2.0).tolist() == expected


def test_default_operator_is_eq_and_evaluation_periods_one():
    d = _decide([5.0], OK, {"threshold": 5})
    assert d.state == ALARM


@pytest.mark.parametrize(("rule", "field"), [
    ({**RULE, "comparison_operator": "gte"}, "comparison_operator"),
    ({**RULE, "evaluation_periods": 0}, "evaluation_periods"),
    ({"comparison_operator": "gt"}, "threshold"),
])
def test_bad_rules_name_the_field(rule, field):
    with pytest.raises(RuleError, match=field):
        judge(rule, [1.0])


def test_unknown_current_state_is_refused():
    with pytest.raises(RuleError, match="state"):
        decide(judge(RULE, [1.0, 2.0, 3.0]), "firing")


def _aodh_reference(rule: dict, values: list[float], current: str) -> tuple[str | None, str]:
    """Aodh's algorithm written plainly, point by point: the oracle for the vectorised batch."""
    periods = rule["evaluation_periods"]
    stats = values[-periods:]
    if len(stats) < periods:
        if current != UNKNOWN:
            return UNKNOWN, ("No datapoint for granularity 60" if not stats else f"{periods} datapoints are unknown")
        return UNKNOWN, f"Remaining as {UNKNOWN} due to 0 samples outside threshold, most recent: " \
                        f"{stats[-1] if stats else None}"
    op = getattr(operator, rule["comparison_operator"])
    compared = [op(v, rule["threshold"]) for v in stats]
    outside = sum(compared)
    if all(compared) or not any(compared):
        state = ALARM if all(compared) else OK
    elif current == UNKNOWN:
        state = ALARM if compared[-1] else OK
    else:
        state = None
    shown = state or current
    disposition, count = ("inside", len(stats) - outside) if shown == OK else ("outside", outside)
    verb = "Transition to" if shown != current else "Remaining as"
    return state, f"{verb} {shown} due to {count} samples {disposition} threshold, most recent: {stats[-1]}"


_rules = st.fixed_dictionaries({
    "comparison_operator": st.sampled_from(["lt", "le", "eq", "ne", "ge", "gt"]),
    "threshold": st.sampled_from([0.0, 1.0, 2.0]),
    "evaluation_periods": st.integers(1, 5),
    "granularity": st.just(60),
})
_alarms = st.tuples(_rules, st.lists(st.sampled_from([0.0, 1.0, 2.0, 3.0]), max_size=7),
                    st.sampled_from([OK, ALARM, UNKNOWN]))


@settings(max_examples=200, deadline=None)
@given(st.lists(_alarms, min_size=1, max_size=12))
def test_batch_decides_as_aodh_for_every_alarm(alarms):
    rules = [rule for rule, _, _ in alarms]
    batch = ThresholdBatch.pack(rules, [(_times(len(values)), np.array(values)) for _, values, _ in alarms])
    decisions = decide_batch(judge_batch(batch), [c for _, _, c in alarms], ["insufficient_data"] * len(alarms))
    for (rule, values, current), decision in zip(alarms, decisions, strict=True):
        assert (decision.state, decision.reason) == _aodh_reference(rule, values, current)


def test_batch_codes_are_vectorised_per_alarm():
    rules = [RULE, RULE, RULE, {**RULE, "evaluation_periods": 1}]
    points = [[81, 82, 83], [1, 2, 3], [1, 90, 2], [5, 99]]
    batch = ThresholdBatch.pack(rules, [(_times(len(p)), np.array(p, float)) for p in points])
    verdicts = judge_batch(batch)
    assert verdicts.states.tolist() == [1, 0, -1, 1]
    assert verdicts.outside.tolist() == [3, 0, 1, 1]
    assert verdicts.considered.tolist() == [3, 3, 3, 1]
    assert verdicts.verdict(2).trending == OK


def test_batch_refuses_a_matrix_narrower_than_a_rule():
    batch = ThresholdBatch([RULE], np.zeros((1, 2)), np.zeros((1, 2), np.int64), np.array([2]))
    with pytest.raises(ValueError, match="needs 3"):
        judge_batch(batch)
