"""The pipeline's transformers: what each computes from a stream of samples, and the options they refuse."""

from __future__ import annotations

import logging

import pytest
from hypothesis import given
from hypothesis import strategies as st

from telescale.metering.sample import Sample
from telescale.metering.transformers import build
from telescale.metering.transformers.base import SeriesState


def sample(name: str, value: float, t: float, resource: str = "vm-1", kind: str = "cumulative", **kw) -> Sample:
    return Sample(name=name, value=value, timestamp=t, resource_id=resource, kind=kind, **kw)


def values(samples: list[Sample]) -> list[float]:
    return [s.value for s in samples]


def test_rate_first_sample_gives_nothing_then_rates_with_a_reset():
    rate = build({"name": "rate_of_change"})
    assert rate.process([sample("net.bytes", 100, 0)]) == []
    out = rate.process([sample("net.bytes", 300, 10), sample("net.bytes", 900, 20), sample("net.bytes", 50, 30)])
    assert values(out) == [20.0, 60.0, 5.0]  # 50 after a reset: it counted 50 since it restarted
    assert {(s.name, s.kind) for s in out} == {("net.bytes", "gauge")}


def test_rate_of_a_gauge_may_be_negative():
    rate = build({"name": "rate_of_change"})
    out = rate.process([sample("temp", 30, 0, kind="gauge"), sample("temp", 20, 5, kind="gauge")])
    assert values(out) == [-2.0]


def test_rate_drops_out_of_order_and_repeated_samples_without_touching_state(caplog):
    rate = build({"name": "rate_of_change"})
    rate.process([sample("c", 100, 10)])
    with caplog.at_level(logging.WARNING):
        assert rate.process([sample("c", 50, 5), sample("c", 100, 10)]) == []
    assert "not newer than the previous sample" in caplog.text
    assert values(rate.process([sample("c", 200, 20)])) == [10.0]  # from (100, 10), not from the late one


def test_rate_series_are_independent_and_keyed_by_resource_and_name():
    rate = build({"name": "rate_of_change"})
    rate.process([sample("c", 0, 0, "a"), sample("c", 0, 0, "b"), sample("d", 0, 0, "a")])
    out = rate.process([sample("c", 10, 1, "a"), sample("c", 20, 1, "b"), sample("d", 30, 1, "a")])
    assert [(s.series, s.value) for s in out] == [("a/c", 10.0), ("b/c", 20.0), ("a/d", 30.0)]


def test_cpu_util_as_ceilometer_configured_it():
    cpu_util = build({"name": "rate_of_change", "meters": ["cpu"],
                      "target": {"name": "cpu_util", "unit": "%", "type": "gauge", "max": 100},
                      "scale": "100.0 / (10**9 * (resource_metadata.cpu_number or 1))"})
    two_cpus = {"cpu_number": 2}
    cpu_util.process([sample("cpu", 0, 0, attributes=two_cpus), sample("cpu", 0, 0, "one-cpu")])
    out = cpu_util.process([sample("cpu", 10e9, 10, attributes=two_cpus), sample("cpu", 30e9, 10, "one-cpu"),
                            sample("memory", 512, 10, kind="gauge")])
    assert [(s.name, s.resource_id, s.unit, s.value) for s in out] == [
        ("memory", "vm-1", None, 512.0), ("cpu_util", "vm-1", "%", 50.0), ("cpu_util", "one-cpu", "%", 100.0)]


def test_rate_renames_by_regex():
    rate = build({"name": "rate_of_change", "meters": ["disk.*"],
                  "map_from": {"name": r"disk\.(read|write)\.bytes", "unit": "(B)"},
                  "map_to": {"name": r"disk.\1.bytes.rate", "unit": r"\1/s"}})
    rate.process([sample("disk.read.bytes", 0, 0, unit="B"), sample("disk.device", 0, 0, unit="B")])
    out = rate.process([sample("disk.read.bytes", 10, 1, unit="B"), sample("disk.device", 10, 1, unit="B")])
    assert [(s.name, s.unit) for s in out] == [("disk.read.bytes.rate", "B/s"), ("disk.device", "B/s")]


def test_rate_state_is_forgotten_after_forget_after():
    now = [0.0]
    rate = build({"name": "rate_of_change", "forget_after": 60})
    rate.state.clock = lambda: now[0]
    rate.process([sample("c", 0, 0)])
    now[0] = 61
    assert rate.process([sample("c", 10, 61)]) == []  # treated as a first sample again
    assert len(rate.state) == 1


def test_series_state_is_bounded_in_count():
    state: SeriesState[int] = SeriesState(max_series=2)
    for key in "abc":
        state.put(key, 1)
    assert "a" not in state and len(state) == 2


# Counter traces: each step adds to the counter, or restarts it (the new value is what it counted since zero,
# lower than before, so the reset is visible).
steps = st.lists(st.tuples(st.integers(1, 600), st.booleans(), st.integers(0, 10**6)), min_size=1, max_size=40)


@given(first=st.integers(0, 10**6), steps=steps, cut=st.integers(0, 40))
def test_rate_with_resets_integrates_to_what_was_counted(first, steps, cut):
    trace, counted, t, v = [sample("c", first, 0.0)], 0, 0.0, first
    for dt, restart, amount in steps:
        t += dt
        if restart and amount < v:
            v = amount
        else:
            v += amount
        counted += amount
        trace.append(sample("c", v, t))
    rate = build({"name": "rate_of_change"})
    out = rate.process(trace[:cut]) + rate.process(trace[cut:])  # any batching gives the same result
    assert len(out) == len(steps)
    assert all(s.value >= 0 for s in out)
    dts = [b.timestamp - a.timestamp for a, b in zip(trace, trace[1:], strict=False)]
    assert sum(s.value * dt for s, dt in zip(out, dts, strict=True)) == pytest.approx(counted)


def test_delta_and_growth_only():
    delta = build({"name": "delta"})
    growth = build({"name": "delta", "growth_only": True, "target": {"name": "grown"}})
    trace = [sample("g", 5, 0, kind="gauge"), sample("g", 8, 1, kind="gauge"), sample("g", 2, 2, kind="gauge")]
    assert [(s.value, s.kind) for s in delta.process(trace)] == [(3.0, "delta"), (-6.0, "delta")]
    assert [(s.name, s.value) for s in growth.process(trace)] == [("grown", 3.0)]


def test_unit_conversion_by_expression_and_by_factor():
    to_bytes = build({"name": "unit_conversion", "meters": ["memory"], "scale": "volume * 1024 * 1024",
                      "target": {"unit": "B"}})
    halve = build({"name": "unit_conversion", "scale": 0.5, "target": {"name": "half"}})
    out = to_bytes.process([sample("memory", 2, 0, unit="MB"), sample("vcpus", 2, 0)])
    assert [(s.name, s.value, s.unit) for s in out] == [("vcpus", 2.0, None), ("memory", 2 * 2**20, "B")]
    assert [(s.name, s.value) for s in halve.process([sample("x", 3, 0)])] == [("half", 1.5)]


def test_arithmetic_per_resource_once_all_meters_are_known(caplog):
    util = build({"name": "arithmetic", "expr": "100 * $(memory.usage) / $(memory)",
                  "target": {"name": "memory.util", "unit": "%"}})
    first = [sample("memory.usage", 256, 10, "a", "gauge"), sample("memory", 1024, 5, "b", "gauge")]
    assert util.process(first) == first  # inputs pass through; nobody has both yet
    out = util.process([sample("memory", 1024, 11, "a", "gauge"), sample("memory", 0, 12, "b", "gauge"),
                        sample("memory.usage", 512, 12, "b", "gauge")])
    derived = [s for s in out if s.name == "memory.util"]
    assert [(s.resource_id, s.value, s.unit, s.timestamp) for s in derived] == [("a", 25.0, "%", 11)]
    assert "division by zero" in caplog.text  # b: memory 0, no sample but a log line
    out = util.process([sample("memory.usage", 768, 20, "a", "gauge")])
    assert [s.value for s in out if s.name == "memory.util"] == [75.0]  # memory still known for a


def test_batch_releases_by_size_by_age_and_on_flush():
    now = [0.0]
    batch = build({"name": "batch", "size": 3, "interval": 10})
    batch.clock = lambda: now[0]
    assert batch.process([sample("a", 1, 0), sample("a", 2, 1)]) == []
    assert values(batch.process([sample("a", 3, 2)])) == [1, 2, 3]
    assert batch.process([sample("a", 4, 3)]) == []
    now[0] = 10
    assert values(batch.process([])) == [4]
    batch.process([sample("a", 5, 4)])
    assert values(batch.flush()) == [5] and batch.flush() == []
    assert build({"name": "accumulator"}).process([sample("a", 1, 0)]) == []


@pytest.mark.parametrize(("config", "message"), [
    ({"name": "rate"}, "name: must be one of rate_of_change"),
    ("rate_of_change", "must be a mapping"),
    ({"name": "rate_of_change", "scal": 2}, "unknown option 'scal'"),
    ({"name": "rate_of_change", "scale": "1 +* 2"}, "scale: column 4"),
    ({"name": "rate_of_change", "scale": "eval('1')"}, "scale: column 1: the call eval()"),
    ({"name": "rate_of_change", "target": {"type": "counter"}}, "target.type: must be one of gauge"),
    ({"name": "rate_of_change", "target": {"maxi": 1}}, "target.maxi: unknown"),
    ({"name": "rate_of_change", "map_from": "cpu"}, "map_to: map_from and map_to go together"),
    ({"name": "rate_of_change", "map_from": "(", "map_to": "x"}, "map_from.name: not a regular expression"),
    ({"name": "delta", "growth_only": "yes"}, "growth_only: must be true or false"),
    ({"name": "delta", "meters": []}, "meters: must be a non-empty list"),
    ({"name": "unit_conversion", "scale": "1 / 0"}, "scale:.*division by zero"),
    ({"name": "arithmetic", "target": {"name": "x"}}, "expr: mandatory"),
    ({"name": "arithmetic", "expr": "1 + 2", "target": {"name": "x"}}, "expr: names no meter"),
    ({"name": "arithmetic", "expr": "$(a) + $b"}, r"expr: column 8: '\$' must start"),
    ({"name": "arithmetic", "expr": "$(a)"}, "target.name: mandatory"),
    ({"name": "batch", "size": 0}, "size: must be at least 1"),
    ({"name": "batch", "interval": -1}, "interval: must be positive"),
    ({"name": "rate_of_change", "forget_after": 0}, "forget_after: must be positive"),
])
def test_bad_options_are_named(config, message):
    with pytest.raises(ValueError, match=message):
        build(config)
