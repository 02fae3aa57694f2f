"""Vectorised aggregation equals a naive pure-Python reference for every method."""

import math
import statistics

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from telescale.timeseries import ALL_METHODS, aggregate, aggregate_series, group
from telescale.timeseries.update import dedupe_last


def ref_percentile(vals, q):
    s = sorted(vals)
    pos = (len(s) - 1) * q / 100.0
    lo, hi = math.floor(pos), math.ceil(pos)
    if lo == hi:
        return s[lo]
    return s[lo] + (s[hi] - s[lo]) * (pos - lo)


def ref_method(name, vals):
    if name == "mean":
        return math.fsum(vals) / len(vals)
    if name == "sum":
        return math.fsum(vals)
    if name == "count":
        return float(len(vals))
    if name == "min":
        return min(vals)
    if name == "max":
        return max(vals)
    if name == "first":
        return vals[0]
    if name == "last":
        return vals[-1]
    if name == "std":
        return statistics.stdev(vals) if len(vals) > 1 else math.nan
    if name == "median":
        return statistics.median(vals)
    return ref_percentile(vals, float(name[:-3]))


def ref_series(ts, vals, g, method):
    """Naive: dict of bucket -> list, then the method on each list."""
    pts = sorted(dict(zip(ts, vals, strict=True)).items())
    if method.startswith("rate:"):
        method = method[5:]
        # counter-reset rule: a drop means a restart from 0, so the increase is the new value (never < 0)
        pts = [(pts[i][0], pts[i][1] - pts[i - 1][1] if pts[i][1] >= pts[i - 1][1] else max(pts[i][1], 0.0))
               for i in range(1, len(pts))]
    buckets: dict[int, list[float]] = {}
    for t, v in pts:
        buckets.setdefault((t // g) * g, []).append(v)
    return {k: ref_method(method, vs) for k, vs in buckets.items()}


def close(a, b):
    if math.isnan(b):
        return math.isnan(a)
    return math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-9)


values = st.floats(min_value=-1e6, max_value=1e6, allow_nan=False).map(lambda x: round(x, 3))
series = st.lists(st.tuples(st.integers(-50, 400), values), min_size=1, max_size=80)
some_methods = st.lists(st.sampled_from(ALL_METHODS), min_size=1, max_size=8, unique=True)


@settings(max_examples=150, deadline=None)
@given(series, st.sampled_from([1, 3, 10, 60]), some_methods)
def test_aggregate_series_matches_reference(points, g, methods):
    ts = np.array([p[0] for p in points], dtype=np.int64)
    vals = np.array([p[1] for p in points])
    ts_u, vals_u = dedupe_last(ts, vals)
    keys, columns = aggregate_series(ts_u, vals_u, g, methods)
    for m in methods:
        ref = ref_series(ts.tolist(), vals.tolist(), g, m)
        got = {int(k): float(v) for k, v in zip(keys, columns[m], strict=True) if not math.isnan(v)}
        want = {k: v for k, v in ref.items() if not math.isnan(v)}
        assert set(got) == set(want), m
        for k in want:
            assert close(got[k], want[k]), (m, k, got[k], want[k])


@settings(max_examples=100, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 20), values), min_size=1, max_size=60))
def test_group_unsorted_keys_keeps_input_order(pairs):
    keys = np.array([k for k, _ in pairs])
    vals = np.array([v for _, v in pairs])
    g = group(keys, vals)
    ref: dict[int, list[float]] = {}
    for k, v in pairs:
        ref.setdefault(k, []).append(v)
    assert g.keys.tolist() == sorted(ref)
    for m in ("first", "last", "count", "min", "max", "median", "90pct", "mean"):
        out = aggregate(g, m)
        for k, v in zip(g.keys.tolist(), out, strict=True):
            assert close(float(v), ref_method(m, ref[k])), m


def test_known_values():
    g = group(np.array([0, 0, 0, 0, 1]), np.array([4.0, 1.0, 3.0, 2.0, 7.0]))
    assert aggregate(g, "median").tolist() == [2.5, 7.0]
    assert aggregate(g, "first").tolist() == [4.0, 7.0]
    assert aggregate(g, "last").tolist() == [2.0, 7.0]
    assert aggregate(g, "count").tolist() == [4.0, 1.0]
    std = aggregate(g, "std")
    assert std[0] == pytest.approx(statistics.stdev([4, 1, 3, 2])) and math.isnan(std[1])
    assert aggregate(g, "50pct").tolist() == [2.5, 7.0]
    assert aggregate(g, "1pct")[0] == pytest.approx(1.03)
    assert aggregate(g, "mean").tolist() == [2.5, 7.0]
    with pytest.raises(ValueError):
        aggregate(g, "wtf")


def test_empty():
    keys, cols = aggregate_series(np.empty(0, dtype=np.int64), np.empty(0), 10, ("mean", "rate:max", "90pct"))
    assert keys.size == 0 and all(c.size == 0 for c in cols.values())


def test_mean_is_sum_over_count_exactly():
    rng = np.random.default_rng(3)
    ts = np.sort(rng.choice(100000, 5000, replace=False))
    vals = rng.normal(size=5000)
    _, cols = aggregate_series(ts, vals, 60, ("mean", "sum", "count"))
    assert np.array_equal(cols["mean"], cols["sum"] / cols["count"])
