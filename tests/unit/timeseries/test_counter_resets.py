"""Counter resets: ``rate:`` methods and ``counterrateofchange`` never report a negative rate.

The rule (``telescale.timeseries.aggregation.counter_increase``): a value lower than the previous one
means the counter restarted from zero, so the increase over that interval is the new value itself
(0 if it is negative). It must hold within a batch, across a batch boundary (the raw tail keeps the
point before) and whatever the order measures arrive in inside the back window.
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from telescale.query.aggregates.operations import (
    counterrateofchange,
    counterrateofchangesec,
    rateofchange,
)
from telescale.timeseries import ArchivePolicy, PolicyItem, RawSeries, Split, compute_update, partition, select
from telescale.timeseries.aggregation import aggregate_series, counter_increase, derive
from telescale.timeseries.read import resample

RATES = ("rate:mean", "rate:sum", "rate:last", "rate:first", "rate:max", "rate:min", "rate:median",
         "rate:count", "rate:std", "rate:90pct")
POLICY = ArchivePolicy("counter", 0, (PolicyItem(10), PolicyItem(60)), RATES)


def run_batches(policy: ArchivePolicy, batches: list[list[tuple[int, float]]]) -> dict:
    """Feed batches through compute_update into an in-memory split store; return it."""
    store: dict = {}
    raw = RawSeries.empty()
    for b in batches:
        u = compute_update(policy, raw, np.array([t for t, _ in b], dtype=np.int64),
                           np.array([v for _, v in b], dtype=float))
        assert u.dropped == 0
        raw = u.raw
        for g, blk in u.blocks.items():
            for key, part in partition(blk).items():
                cur = store.get((g, key)) or Split.empty(g, key)
                store[(g, key)] = Split.decode(cur.merge(part).encode(), g, key)
    return store


def stored(store: dict, g: int, method: str) -> dict[int, float]:
    ts, vals = select([s for (gg, _), s in store.items() if gg == g], method)
    return dict(zip(ts.tolist(), vals.tolist(), strict=True))


# --- the rule itself ------------------------------------------------------------------------------

def test_counter_increase_rule() -> None:
    vals = np.array([10.0, 15.0, 15.0, 3.0, 7.0, 0.0, 2.0, -4.0, 1.0])
    #                  +5    +0   reset→3  +4  reset→0 +2  reset→0 (not a counter value) +5
    assert counter_increase(vals).tolist() == [5.0, 0.0, 3.0, 4.0, 0.0, 2.0, 0.0, 5.0]
    assert counter_increase(np.array([])).size == 0
    assert counter_increase(np.array([7.0])).size == 0
    # never -0.0 either: JSON would show "-0.0"
    assert not np.signbit(counter_increase(np.array([5.0, -0.0, 3.0, 3.0]))).any()


def test_counter_increase_on_matrix_columns_and_nan() -> None:
    grid = np.array([[1.0, 100.0], [4.0, np.nan], [2.0, 50.0], [6.0, 60.0]])
    out = counter_increase(grid, axis=0)
    assert out[:, 0].tolist() == [3.0, 2.0, 4.0]
    assert np.isnan(out[0, 1]) and np.isnan(out[1, 1]) and out[2, 1] == 10.0


def test_derive_is_stamped_with_the_later_point() -> None:
    ts, d = derive(np.array([0, 10, 20]), np.array([5.0, 1.0, 4.0]))
    assert ts.tolist() == [10, 20] and d.tolist() == [1.0, 3.0]


# --- archive-policy rate: methods --------------------------------------------------------------------

# 10 s buckets; the counter resets at t=30 (90 -> 4) and at t=61 (14 -> 2)
SERIES = [(0, 50.0), (10, 70.0), (20, 90.0), (30, 4.0), (40, 10.0), (50, 14.0), (61, 2.0), (70, 5.0)]
EXPECTED_10 = {10: 20.0, 20: 20.0, 30: 4.0, 40: 6.0, 50: 4.0, 60: 2.0, 70: 3.0}


def test_single_batch_several_resets() -> None:
    store = run_batches(POLICY, [SERIES])
    for m in ("rate:mean", "rate:sum", "rate:last", "rate:max", "rate:min", "rate:first"):
        assert stored(store, 10, m) == EXPECTED_10, m
    # 60 s: [0, 60) holds increases 20, 20, 4, 6, 4; [60, 120) holds 2, 3
    assert stored(store, 60, "rate:sum") == {0: 54.0, 60: 5.0}
    assert stored(store, 60, "rate:mean") == {0: 54.0 / 5, 60: 2.5}
    assert stored(store, 60, "rate:last") == {0: 4.0, 60: 3.0}
    assert stored(store, 60, "rate:min") == {0: 4.0, 60: 2.0}
    assert stored(store, 60, "rate:max") == {0: 20.0, 60: 3.0}
    assert stored(store, 60, "rate:count") == {0: 5.0, 60: 2.0}


@pytest.mark.parametrize("cut", range(1, len(SERIES)))
def test_reset_at_a_batch_boundary(cut: int) -> None:
    """Every cut, including exactly between 90 and the reset to 4: same answer as one batch."""
    one = run_batches(POLICY, [SERIES])
    two = run_batches(POLICY, [SERIES[:cut], SERIES[cut:]])
    for g in (10, 60):
        for m in RATES:
            a, b = stored(one, g, m), stored(two, g, m)
            assert a.keys() == b.keys(), (g, m)
            np.testing.assert_allclose(list(b.values()), list(a.values()), rtol=1e-12, err_msg=f"{g} {m}")


def test_late_reset_point_inside_back_window() -> None:
    """A late, lower value is a reset for its own interval and the next one is differenced against it."""
    policy = ArchivePolicy("late", 1, (PolicyItem(10),), ("rate:sum", "rate:last"))
    store = run_batches(policy, [[(0, 10.0), (10, 20.0), (30, 40.0)], [(20, 3.0)]])
    # in order: 10 -> 20 (+10) -> 3 (reset, +3) -> 40 (+37)
    assert stored(store, 10, "rate:sum") == {10: 10.0, 20: 3.0, 30: 37.0}
    in_order = run_batches(policy, [[(0, 10.0), (10, 20.0), (20, 3.0), (30, 40.0)]])
    assert stored(in_order, 10, "rate:sum") == stored(store, 10, "rate:sum")


def test_gauge_going_down_is_read_as_a_reset() -> None:
    """The price of the rule: rate: on a decreasing gauge reports the new value, not a negative change."""
    keys, cols = aggregate_series(np.array([0, 10]), np.array([80.0, 20.0]), 10, ("rate:last",))
    assert keys.tolist() == [0, 10] and np.isnan(cols["rate:last"][0]) and cols["rate:last"][1] == 20.0


def test_resample_of_a_rate_is_never_negative() -> None:
    """GET ?aggregation=rate:…&resample= derives again (as Gnocchi); the rule applies there too."""
    ts = np.array([0, 10, 20, 30]) * 1_000_000_000
    _, v = resample(ts, np.array([5.0, 9.0, 1.0, 2.0]), 20 * 1_000_000_000, "rate:sum")
    assert (v >= 0).all()


# --- aggregates operators ----------------------------------------------------------------------------

def test_rateofchange_keeps_gnocchis_difference_and_the_counter_twin_does_not_go_negative() -> None:
    times = np.array([0, 60, 120, 180]) * 1_000_000_000
    grid = np.array([[100.0], [160.0], [30.0], [90.0]])
    assert rateofchange(times, grid)[1][:, 0].tolist() == [60.0, -130.0, 60.0]
    t, v = counterrateofchange(times, grid)
    assert t.tolist() == times[1:].tolist() and v[:, 0].tolist() == [60.0, 30.0, 60.0]
    t, v = counterrateofchangesec(times, grid)
    assert t.tolist() == times.tolist() and np.isnan(v[0, 0]) and v[1:, 0].tolist() == [1.0, 0.5, 1.0]


# --- properties ----------------------------------------------------------------------------------------

def counters(min_size: int = 1, max_size: int = 80):
    """Monotonic counters with resets: increments >= 0, and now and then a restart from a small value."""
    step = st.one_of(st.tuples(st.just(False), st.floats(0, 1e6, allow_nan=False)),
                     st.tuples(st.just(True), st.floats(0, 1e3, allow_nan=False)))

    def build(steps: list[tuple[bool, float]]) -> list[float]:
        out: list[float] = []
        for reset, x in steps:
            out.append(x if reset or not out else out[-1] + x)
        return out

    return st.lists(step, min_size=min_size, max_size=max_size).map(build)


@settings(max_examples=150, deadline=None)
@given(counters(), st.lists(st.integers(1, 15), min_size=len(RATES), max_size=len(RATES)))
def test_no_rate_is_ever_negative(values: list[float], gaps: list[int]) -> None:
    ts = np.cumsum([gaps[i % len(gaps)] for i in range(len(values))]).astype(np.int64)
    vals = np.array(values)
    d = counter_increase(vals)
    assert (d >= 0).all() and not np.signbit(d).any()
    for g in (1, 7, 30):
        _, cols = aggregate_series(ts, vals, g, RATES)
        for m, c in cols.items():
            ok = c[~np.isnan(c)]
            assert (ok >= 0).all(), (g, m, ok)
    _, v = counterrateofchange(ts, vals[:, None])
    assert (v >= 0).all()
    _, v = counterrateofchangesec(ts * 1_000_000_000, vals[:, None])
    assert (v[1:] >= 0).all()


@settings(max_examples=60, deadline=None)
@given(counters(min_size=2, max_size=60), st.lists(st.integers(1, 20), min_size=1, max_size=6), st.randoms())
def test_batches_in_any_order_inside_back_window_equal_one_batch(values: list[float], cuts: list[int],
                                                                 rnd) -> None:
    policy = ArchivePolicy("p", 1000, (PolicyItem(5), PolicyItem(30)), ("rate:sum", "rate:mean", "rate:last"))
    points = [(i * 3, v) for i, v in enumerate(values)]
    batches, i = [], 0
    for n in cuts + [len(points)]:
        batches.append(points[i:i + n])
        i += n
        if i >= len(points):
            break
    rnd.shuffle(batches)
    got = run_batches(policy, batches)
    want = run_batches(policy, [points])
    for g in (5, 30):
        for m in policy.aggregation_methods:
            a, b = stored(want, g, m), stored(got, g, m)
            assert a.keys() == b.keys()
            np.testing.assert_allclose(list(b.values()), list(a.values()), rtol=1e-9, atol=1e-6)
            assert all(x >= 0 for x in b.values())
