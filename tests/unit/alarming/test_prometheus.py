"""Prometheus rules without a server: reading answers and judging series (the real server is in
tests/integration/test_prometheus_rule.py)."""

from __future__ import annotations

import pytest

from telescale.alarming.rules.decision import ALARM, OK, UNKNOWN, RuleError
from telescale.alarming.rules.prometheus import (
    PrometheusClient,
    PrometheusQueryError,
    Sample,
    judge_samples,
    parse_response,
    rule_query,
)
from telescale.alarming.rules.threshold import decide

NS = 1_000_000_000
RULE = {"query": "up", "threshold": 0.5, "comparison_operator": "gt"}


def _vector(*values: str) -> dict:
    return {"status": "success", "data": {"resultType": "vector", "result": [
        {"metric": {"__name__": "up", "instance": f"i{i}"}, "value": [1700000000.5, v]}
        for i, v in enumerate(values)]}}


def test_a_vector_answer_is_one_sample_per_series():
    samples = parse_response(_vector("1", "NaN"))
    assert [s.labels["instance"] for s in samples] == ["i0", "i1"]
    assert samples[0] == Sample({"__name__": "up", "instance": "i0"}, 1_700_000_000_500_000_000, 1.0)
    assert samples[1].value != samples[1].value  # NaN


def test_a_scalar_answer_is_one_unlabelled_sample():
    body = {"status": "success", "data": {"resultType": "scalar", "result": [1700000000, "3"]}}
    assert parse_response(body) == [Sample({}, 1_700_000_000 * NS, 3.0)]


@pytest.mark.parametrize(("body", "message"), [
    ({"status": "error", "errorType": "bad_data", "error": "parse error"}, "bad_data: parse error"),
    ({"status": "success", "data": {"resultType": "matrix", "result": []}}, "instant vector"),
    ({"status": "success", "data": {"resultType": "vector", "result": [{"metric": {}}]}}, "unreadable"),
    ("nonsense", "an error"),
])
def test_failed_answers_are_query_errors(body, message):
    with pytest.raises(PrometheusQueryError, match=message):
        parse_response(body)


def test_every_series_is_a_point():
    verdict = judge_samples(RULE, parse_response(_vector("1", "1", "1")))
    d = decide(verdict, OK)
    assert d.state == ALARM
    assert d.reason == "Transition to alarm due to 3 samples outside threshold, most recent: 1.0"
    assert d.reason_data["series"][2] == {"__name__": "up", "instance": "i2"}
    assert d.reason_data["values"] == [1.0, 1.0, 1.0]


def test_series_disagreeing_keep_the_state():
    d = decide(judge_samples(RULE, parse_response(_vector("1", "0"))), ALARM)
    assert d.state is None
    assert d.reason == "Remaining as alarm due to 1 samples outside threshold, most recent: 0.0"


def test_an_empty_result_is_insufficient_data():
    d = decide(judge_samples(RULE, []), OK)
    assert (d.state, d.reason) == (UNKNOWN, "datapoints are unknown")
    assert d.reason_data == {"type": "threshold", "disposition": "unknown", "count": 0, "most_recent": None,
                             "values": []}


def test_rule_query_scopes_only_when_asked():
    assert rule_query(RULE) == "up"
    assert rule_query({**RULE, "scope_to_project": "p1"}) == 'up{project="p1"}'
    assert rule_query({**RULE, "scope_to_project": "p1"}, "tenant") == 'up{tenant="p1"}'
    with pytest.raises(RuleError, match="query"):
        rule_query({"threshold": 1})


def test_a_client_needs_an_url():
    with pytest.raises(ValueError, match="prometheus_url"):
        PrometheusClient("")
