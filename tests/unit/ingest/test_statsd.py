"""The statsd line grammar and what a flush interval of samples adds up to."""

from __future__ import annotations

import pytest

from telescale.ingest.statsd import Aggregator, Sample, StatsdLineError, parse_line


@pytest.mark.parametrize(("line", "sample"), [
    ("hits:1|c", Sample("hits", "c", 1.0)),
    ("hits:2|c|@0.1", Sample("hits", "c", 2.0, rate=0.1)),
    ("temp:-3.5|g", Sample("temp", "g", -3.5, relative=True)),
    ("temp:21|g", Sample("temp", "g", 21.0)),
    ("db.query:12.5|ms|@0.5|#table:users,primary", Sample('db.query{primary="",table="users"}', "ms", 12.5,
                                                          rate=0.5)),
    ("users:alice|s", Sample("users", "s", float("nan"), member="alice")),
    ("a:b:c:4|c", Sample("a:b:c", "c", 4.0)),
    ("path/to:1|c|#route:/x", Sample('path_to{route="%2Fx"}', "c", 1.0)),
])
def test_lines_parse_to_samples(line: str, sample: Sample) -> None:
    parsed = parse_line(line)
    if sample.kind == "s":
        assert (parsed.name, parsed.kind, parsed.member) == (sample.name, "s", sample.member)
    else:
        assert parsed == sample


@pytest.mark.parametrize(("line", "says"), [
    ("hits", "expected <name>:<value>|<type>"),
    (":1|c", "expected <name>:<value>|<type>"),
    ("hits:1", "unknown type ''"),
    ("hits:1|h", "unknown type 'h'"),
    ("hits:x|c", "value 'x' is not a number"),
    ("hits:nan|g", "not a finite number"),
    ("hits:1|c|@2", "not in (0, 1]"),
    ("hits:1|c|@0", "not in (0, 1]"),
    ("hits:1|c|@x", "sample rate 'x' is not a number"),
    ("hits:1|c|T123", "unknown section 'T123'"),
    ("hits:1|c|#:v", "empty tag"),
    ("hi\x00ts:1|c", "NUL"),
    ("x" * 300 + ":1|c", "longer than 255"),
])
def test_malformed_lines_say_what_is_wrong(line: str, says: str) -> None:
    with pytest.raises(StatsdLineError) as e:
        parse_line(line)
    assert says in str(e.value)


def add(aggregator: Aggregator, *lines: str) -> None:
    for line in lines:
        aggregator.add(parse_line(line))


def test_counters_sum_over_the_interval_divided_by_their_sample_rate_then_start_over() -> None:
    agg = Aggregator()
    add(agg, "hits:1|c", "hits:2|c", "hits:1|c|@0.25", "misses:-1|c")
    assert agg.flush() == {"hits": 7.0, "misses": -1.0}
    assert agg.flush() == {}


def test_gauges_keep_the_last_value_and_relative_changes_apply_to_it_across_flushes() -> None:
    agg = Aggregator()
    add(agg, "temp:20|g", "temp:21|g", "level:+5|g")
    assert agg.flush() == {"temp": 21.0, "level": 5.0}
    assert agg.flush() == {}
    add(agg, "temp:-1.5|g", "temp:+0.5|g")
    assert agg.flush() == {"temp": 20.0}


def test_timers_give_mean_min_max_and_the_count_of_samples_they_stand_for() -> None:
    agg = Aggregator()
    add(agg, "rt:10|ms", "rt:30|ms|@0.5", "rt:20|ms")
    assert agg.flush() == {"rt.mean": 20.0, "rt.min": 10.0, "rt.max": 30.0, "rt.count": 4.0}


def test_sets_count_distinct_values_per_interval() -> None:
    agg = Aggregator()
    add(agg, "users:alice|s", "users:bob|s", "users:alice|s", "users:1|s")
    assert agg.flush() == {"users": 3.0}
    add(agg, "users:alice|s")
    assert agg.flush() == {"users": 1.0}
