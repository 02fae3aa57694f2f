import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from telescale.timeseries.sortedops import isin_sorted, union_sorted, unique_sorted

ints = st.lists(st.integers(-(2**62), 2**62), max_size=60)
small = st.lists(st.integers(-20, 20), max_size=60)  # many repeats and overlaps


def _sorted(xs):
    return np.sort(np.array(xs, dtype=np.int64))


@settings(max_examples=300, deadline=None)
@given(st.one_of(ints, small))
def test_unique_sorted_equals_np_unique(xs):
    a = _sorted(xs)
    got = unique_sorted(a)
    assert got.dtype == np.int64
    assert np.array_equal(got, np.unique(a))


@settings(max_examples=300, deadline=None)
@given(st.one_of(ints, small), st.one_of(ints, small))
def test_isin_sorted_equals_np_isin(xs, ys):
    a = np.array(xs, dtype=np.int64)  # any order
    b = _sorted(ys)
    got = isin_sorted(a, b)
    assert got.dtype == bool and got.shape == a.shape
    assert np.array_equal(got, np.isin(a, b))


@settings(max_examples=300, deadline=None)
@given(st.one_of(ints, small), st.one_of(ints, small))
def test_union_sorted_equals_np_union1d(xs, ys):
    a, b = _sorted(xs), _sorted(ys)
    assert np.array_equal(union_sorted(a, b), np.union1d(a, b))
    assert np.array_equal(union_sorted(b, a), np.union1d(a, b))


def test_disjoint_runs_and_empty():
    a = np.arange(0, 10, dtype=np.int64)
    b = np.arange(20, 25, dtype=np.int64)
    assert np.array_equal(union_sorted(a, b), np.union1d(a, b))
    assert np.array_equal(union_sorted(b, a), np.union1d(a, b))
    e = np.empty(0, dtype=np.int64)
    assert union_sorted(e, e).size == 0
    assert isin_sorted(a, e).tolist() == [False] * 10
    assert isin_sorted(e, a).size == 0
    assert unique_sorted(e).size == 0


def test_unique_sorted_returns_a_copy():
    a = np.array([3], dtype=np.int64)
    u = unique_sorted(a)
    u[0] = 4
    assert a[0] == 3
