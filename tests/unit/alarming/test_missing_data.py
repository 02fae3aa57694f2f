"""The missing_data policy: what an alarm whose rule sees too few points becomes."""

from __future__ import annotations

import pytest

from telescale.alarming.rules import missing_data
from telescale.alarming.rules.decision import ALARM, OK, UNKNOWN, RuleError
from telescale.alarming.rules.threshold import decide, judge

RULE = {"comparison_operator": "gt", "threshold": 80.0, "evaluation_periods": 3, "granularity": 60}


def _decide(current: str, policy: str, values=(81.0,)):
    return decide(judge(RULE, list(values)), current, policy)


def test_default_is_aodh_insufficient_data():
    d = _decide(OK, missing_data.DEFAULT)
    assert (d.state, d.reason) == (UNKNOWN, "3 datapoints are unknown")
    assert "missing_data" not in d.reason_data


@pytest.mark.parametrize(("policy", "current", "state", "reason"), [
    ("ok", ALARM, OK, "Transition to ok due to missing data (3 datapoints are unknown)"),
    ("ok", OK, OK, "Remaining as ok due to missing data (3 datapoints are unknown)"),
    ("alarm", OK, ALARM, "Transition to alarm due to missing data (3 datapoints are unknown)"),
    ("alarm", UNKNOWN, ALARM, "Transition to alarm due to missing data (3 datapoints are unknown)"),
    ("keep_state", ALARM, None, "Remaining as alarm due to missing data (3 datapoints are unknown)"),
    ("keep_state", UNKNOWN, None, "Remaining as insufficient data due to missing data (3 datapoints are unknown)"),
])
def test_each_policy_maps_missing_data(policy, current, state, reason):
    d = _decide(current, policy)
    assert (d.state, d.reason) == (state, reason)
    assert d.reason_data["disposition"] == "unknown"
    assert d.reason_data["count"] == 3 and d.reason_data["most_recent"] == 81.0
    assert d.reason_data["missing_data"] == policy


def test_no_point_keeps_the_granularity_cause():
    d = _decide(OK, "alarm", values=())
    assert d.reason == "Transition to alarm due to missing data (No datapoint for granularity 60)"


def test_policy_does_not_touch_sufficient_data():
    d = _decide(OK, "alarm", values=(1.0, 2.0, 3.0))
    assert d.state == OK and "missing_data" not in d.reason_data


def test_unknown_policy_is_refused_naming_the_field():
    with pytest.raises(RuleError, match="missing_data"):
        _decide(OK, "breaching")
