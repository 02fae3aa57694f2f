"""Gnocchi threshold rules: Aodh's look-back window, granularity selection and failure reasons."""

from __future__ import annotations

import numpy as np
import pytest

from telescale.alarming.rules import gnocchi
from telescale.alarming.rules.decision import RuleError
from telescale.timeutil import format_timestamp, parse_timestamp

NS = 1_000_000_000
RULE = {"metric": "cpu", "resource_id": "my_instance", "aggregation_method": "mean", "granularity": 60,
        "evaluation_periods": 5, "threshold": 80.0, "comparison_operator": "gt"}


def test_window_is_granularity_times_periods_plus_one_back_from_now():
    # Aodh's test_simple_alarm_trip: now 12:57, 60 s × (5 + 1) → start 12:51, not aligned further.
    start, stop = gnocchi.evaluation_window(RULE, parse_timestamp("2015-01-26T12:57:00"))
    assert (format_timestamp(start), format_timestamp(stop)) == ("2015-01-26T12:51:00+00:00",
                                                                 "2015-01-26T12:57:00+00:00")


def test_window_adds_the_ingestion_lag():
    # Aodh's test_lag_configuration: 42 s more → 10:38:18.
    start, _ = gnocchi.evaluation_window(RULE, parse_timestamp("2012-07-02T10:45:00"), additional_ingestion_lag=42)
    assert format_timestamp(start) == "2012-07-02T10:38:18+00:00"


def test_window_of_a_coarse_rule():
    rule = {**RULE, "granularity": 300, "evaluation_periods": 4}
    start, _ = gnocchi.evaluation_window(rule, parse_timestamp("2015-01-26T12:57:00"))
    assert format_timestamp(start) == "2015-01-26T12:32:00+00:00"


def test_select_points_keeps_the_rule_granularity_and_the_last_periods():
    ts = np.arange(8, dtype=np.int64) * 60 * NS
    measures = [(3600 * NS, np.array([0], np.int64), np.array([1.0])),
                (300 * NS, np.array([0], np.int64), np.array([2.0])),
                (60 * NS, ts, np.arange(8, dtype=np.float64))]
    timestamps, values = gnocchi.select_points(measures, RULE)
    assert values.tolist() == [3.0, 4.0, 5.0, 6.0, 7.0]
    assert timestamps.tolist() == ts[-5:].tolist()


def test_select_points_without_the_granularity_is_empty():
    timestamps, values = gnocchi.select_points([(300 * NS, np.array([0], np.int64), np.array([2.0]))], RULE)
    assert values.size == 0 and timestamps.size == 0


@pytest.mark.parametrize(("kind", "rule", "failure", "reason"), [
    (gnocchi.RESOURCES, RULE, "metric", "metric cpu for resource my_instance does not exists"),
    (gnocchi.RESOURCES, RULE, "resource", "resource my_instance does not exists"),
    (gnocchi.RESOURCES, RULE, "aggregation", "aggregation mean does not exist for metric cpu of resource my_instance"),
    (gnocchi.BY_METRICS, {"metrics": ["m1", "m2"], "aggregation_method": "max"}, "metric",
     "At least of metrics in ['m1', 'm2'] does not exist"),
    (gnocchi.BY_METRICS, {"metrics": ["m1"], "aggregation_method": "max"}, "aggregation",
     "aggregation max does not exist for at least one metrics in ['m1']"),
    (gnocchi.BY_RESOURCES, {"metric": "cpu", "aggregation_method": "mean"}, "metric", "metric cpu does not exists"),
    (gnocchi.BY_RESOURCES, {"metric": "cpu", "aggregation_method": "mean"}, "aggregation",
     "aggregation mean does not exist for at least one metric of the query"),
])
def test_lookup_failures_use_aodh_words(kind, rule, failure, reason):
    assert gnocchi.lookup_failure_reason(kind, rule, failure) == reason


def test_any_other_failure_says_retrieval_failed():
    assert gnocchi.lookup_failure_reason(gnocchi.RESOURCES, RULE, "error", "boom") == \
        "alarm statistics retrieval failed: boom"


def test_lookup_failure_of_another_rule_type_is_refused():
    with pytest.raises(RuleError, match="type"):
        gnocchi.lookup_failure_reason("event", RULE, "metric")
    with pytest.raises(ValueError, match="failure"):
        gnocchi.lookup_failure_reason(gnocchi.BY_METRICS, RULE, "resource")
