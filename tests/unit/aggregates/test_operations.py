"""Operators against straightforward references on small random matrices, and Gnocchi's own values."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from telescale.query.aggregates import operations as ops
from telescale.query.aggregates.operations import Series, UnAggregableTimeseries

NS = 1_000_000_000
S = NS


def ts(*seconds: float) -> np.ndarray:
    return (np.array(seconds, dtype=np.float64) * NS).astype(np.int64)


def col(*values: float) -> np.ndarray:
    return np.array(values, dtype=np.float64)[:, None]


finite = st.floats(-1e6, 1e6, allow_nan=False)
with_holes = st.one_of(finite, st.just(math.nan))


def matrices(min_rows: int = 0):
    return st.tuples(st.integers(min_rows, 12), st.integers(1, 4)).flatmap(
        lambda shape: hnp.arrays(np.float64, shape, elements=with_holes))


def series_of(m: np.ndarray, g: int = S) -> Series:
    return Series(g, np.arange(m.shape[0], dtype=np.int64) * g, m)


def reference_reduce(method: str, row: list[float]) -> float:
    xs = [x for x in row if not math.isnan(x)]
    if method == "count":
        return float(len(xs))
    if method == "sum":
        return math.fsum(xs)
    if not xs:
        return math.nan
    mean = math.fsum(xs) / len(xs)
    if method == "mean":
        return mean
    if method == "min":
        return min(xs)
    if method == "max":
        return max(xs)
    if method == "median":
        s = sorted(xs)
        n = len(s)
        return s[n // 2] if n % 2 else (s[n // 2 - 1] + s[n // 2]) / 2
    var = math.fsum((x - mean) ** 2 for x in xs) / len(xs)  # population, as Gnocchi's nanvar/nanstd
    return var if method == "var" else math.sqrt(var)


BASIC = ["mean", "median", "std", "min", "max", "sum", "var", "count"]


@settings(max_examples=60, deadline=None)
@given(matrices(), st.sampled_from(BASIC))
def test_aggregate_matches_reference(m: np.ndarray, method: str) -> None:
    out = ops.aggregate(method, series_of(m))
    assert out.aggregated and out.values.shape == (m.shape[0], 1)
    expected = [reference_reduce(method, list(row)) for row in m]
    np.testing.assert_allclose(out.values[:, 0], expected, rtol=1e-9, atol=1e-6)


@settings(max_examples=60, deadline=None)
@given(matrices(min_rows=1), st.sampled_from(BASIC), st.integers(1, 5))
def test_rolling_matches_reference(m: np.ndarray, method: str, window: int) -> None:
    s = series_of(m)
    if window > m.shape[0]:
        with pytest.raises(UnAggregableTimeseries, match="is greater than serie length"):
            ops.rolling(method, window, s)
        return
    out = ops.rolling(method, window, s)
    assert list(out.times) == list(s.times[window - 1:])
    for j in range(m.shape[1]):
        expected = [reference_reduce(method, list(m[i - window + 1:i + 1, j])) for i in range(window - 1, len(m))]
        np.testing.assert_allclose(out.values[:, j], expected, rtol=1e-9, atol=1e-6)


@settings(max_examples=40, deadline=None)
@given(matrices(min_rows=1))
def test_rate_variants_differentiate_the_result(m: np.ndarray) -> None:
    plain = ops.aggregate("mean", series_of(m))
    rated = ops.aggregate("rate:mean", series_of(m))
    assert list(rated.times) == list(plain.times[1:])
    np.testing.assert_array_equal(rated.values[:, 0], np.diff(plain.values[:, 0]))


def test_gnocchi_rolling_mean_values() -> None:
    # metric.yaml "rolling-mean"
    s = Series(S, ts(0, 15, 18, 75, 78, 138, 198), col(43.1, 12, 16, 9, 11, -16, -23))
    out = ops.rolling("mean", 2, s)
    assert out.values[:, 0].tolist() == [27.55, 14.0, 12.5, 10.0, -2.5, -19.5]
    assert out.times.tolist() == ts(15, 18, 75, 78, 138, 198).tolist()


def test_gnocchi_aggregate_rate_mean_values() -> None:
    # aggregates-with-metric-ids.yaml "get aggregates rate:mean" at 60 s
    s = Series(60 * S, ts(0, 60, 120), np.array([[43.1, 2.0], [-2.0, 4.5], [10.0, 12.5]]))
    out = ops.aggregate("rate:mean", s)
    np.testing.assert_allclose(out.values[:, 0], [-21.3, 10.0])
    assert out.times.tolist() == ts(60, 120).tolist()


def test_resample_uses_engine_methods_per_metric() -> None:
    # metric.yaml: 1 s points resampled to 60 s
    s = Series(S, ts(57, 72, 75, 132, 135), col(43.1, 12, 16, 9, 11))
    out = ops.resample("mean", 60 * S, s)
    assert out.granularity == 60 * S
    assert out.times.tolist() == ts(0, 60, 120).tolist()
    assert out.values[:, 0].tolist() == [43.1, 14.0, 10.0]
    assert ops.resample("last", 60 * S, s).values[:, 0].tolist() == [43.1, 16.0, 11.0]


def test_resample_keeps_columns_aligned_with_holes() -> None:
    m = np.array([[1.0, 2.0], [np.nan, 4.0], [5.0, np.nan]])
    s = Series(S, ts(0, 1, 70), m)
    out = ops.resample("sum", 60 * S, s)
    assert out.times.tolist() == ts(0, 60).tolist()
    np.testing.assert_array_equal(out.values, [[1.0, 6.0], [5.0, np.nan]])


def test_rateofchange_and_per_second() -> None:
    s = Series(S, ts(0, 15, 18), col(43.1, 12, 16))
    t, v = ops.rateofchange(s.times, s.values)
    assert t.tolist() == ts(15, 18).tolist()
    np.testing.assert_allclose(v[:, 0], [-31.1, 4.0])
    t, v = ops.rateofchangesec(s.times, s.values)
    assert t.tolist() == s.times.tolist()
    assert math.isnan(v[0, 0])
    np.testing.assert_allclose(v[1:, 0], [-31.1 / 15, 4.0 / 3])


BINARY = {
    "+": lambda a, b: a + b, "-": lambda a, b: a - b, "*": lambda a, b: a * b, "/": lambda a, b: a / b,
    "**": lambda a, b: a ** b, "%": lambda a, b: a % b if b else math.nan,
    "<": lambda a, b: float(a < b), ">=": lambda a, b: float(a >= b), "ne": lambda a, b: float(a != b),
    "eq": lambda a, b: float(a == b), "clip_min": max, "clip_max": min, "max": max,
}


@settings(max_examples=60, deadline=None)
@given(st.sampled_from(sorted(BINARY)),
       st.integers(1, 8).flatmap(lambda n: st.tuples(
           hnp.arrays(np.float64, (n, 1), elements=st.floats(0.5, 50)),
           hnp.arrays(np.float64, (n, 1), elements=st.floats(0.5, 50)))))
def test_binary_matches_reference(op: str, pair) -> None:
    a, b = pair
    x, y = series_of(a), series_of(b)
    out = ops.apply(op, [x, y], x)
    assert out.aggregated
    expected = [BINARY[op](p, q) for p, q in zip(a[:, 0], b[:, 0], strict=True)]
    np.testing.assert_allclose(out.values[:, 0], expected, rtol=1e-9)
    assert out.values.dtype == np.float64


def test_binary_with_constant_keeps_series_axis_and_per_metric_result() -> None:
    s = series_of(np.array([[1.0, 2.0], [3.0, 4.0]]), 60 * S)
    const = Series(S, np.empty(0, np.int64), 2.0)
    out = ops.apply("-", [const, s], s)
    assert not out.aggregated and out.granularity == 60 * S
    np.testing.assert_array_equal(out.values, [[1.0, 0.0], [-1.0, -2.0]])


def test_binary_refuses_different_time_axes() -> None:
    a = Series(S, ts(0, 1), col(1, 2))
    b = Series(S, ts(0, 2), col(1, 2))
    with pytest.raises(UnAggregableTimeseries, match="different granularity"):
        ops.apply("+", [a, b], a)


def test_division_by_zero_gives_infinity_without_warning() -> None:
    a = Series(S, ts(0, 1), col(1, 0))
    out = ops.apply("/", [a, Series(S, a.times, 0.0)], a)
    assert out.values[0, 0] == math.inf and math.isnan(out.values[1, 0])


@pytest.mark.parametrize(("op", "fn"), [
    ("abs", abs), ("negative", lambda x: -x), ("cos", math.cos), ("sin", math.sin), ("tan", math.tan),
    ("floor", math.floor), ("ceil", math.ceil),
])
def test_unary(op: str, fn) -> None:
    m = np.array([[-1.5], [0.25], [3.0]])
    out = ops.apply(op, [series_of(m)], series_of(m))
    np.testing.assert_allclose(out.values[:, 0], [fn(x) for x in m[:, 0]])


def test_clip_two_and_three_operands() -> None:
    s = series_of(col(-5, 0, 5, 50))
    three = ops.apply("clip", [s, Series(S, s.times, 0.0), Series(S, s.times, 10.0)], s)
    assert three.values[:, 0].tolist() == [0.0, 0.0, 5.0, 10.0]
    two = ops.apply("clip", [s, Series(S, s.times, 1.0)], s)
    assert two.values[:, 0].tolist() == [1.0, 1.0, 5.0, 50.0]


def test_operators_need_series() -> None:
    const = Series(S, ts(0), 3.0)
    with pytest.raises(UnAggregableTimeseries):
        ops.aggregate("mean", const)
    with pytest.raises(UnAggregableTimeseries):
        ops.apply("rateofchange", [const], const)
