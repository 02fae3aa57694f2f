"""Alignment, fill modes and the overlap rule, against straightforward references and Gnocchi's values."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from telescale.query.aggregates import align
from telescale.query.aggregates.operations import UnAggregableTimeseries

grids = st.tuples(st.integers(0, 10), st.integers(1, 4)).flatmap(
    lambda shape: hnp.arrays(np.float64, shape, elements=st.one_of(st.floats(-100, 100), st.just(math.nan))))


def ref_ffill(grid: np.ndarray) -> np.ndarray:
    out = grid.copy()
    for j in range(out.shape[1]):
        last = math.nan
        for i in range(out.shape[0]):
            if math.isnan(out[i, j]):
                out[i, j] = last
            else:
                last = out[i, j]
    return out


def ref_bfill(grid: np.ndarray) -> np.ndarray:
    return ref_ffill(grid[::-1])[::-1]


@settings(max_examples=80, deadline=None)
@given(grids)
def test_fills_match_reference(grid: np.ndarray) -> None:
    np.testing.assert_array_equal(align.apply_fill(grid, "ffill"), ref_ffill(grid))
    np.testing.assert_array_equal(align.apply_fill(grid, "bfill"), ref_bfill(grid))
    np.testing.assert_array_equal(align.apply_fill(grid, "full_ffill"), ref_bfill(ref_ffill(grid)))
    np.testing.assert_array_equal(align.apply_fill(grid, "full_bfill"), ref_ffill(ref_bfill(grid)))
    for mode in ("null", "dropna", None):
        np.testing.assert_array_equal(align.apply_fill(grid, mode), grid)


@settings(max_examples=60, deadline=None)
@given(st.lists(st.dictionaries(st.integers(0, 30), st.floats(-10, 10), max_size=8), min_size=1, max_size=4))
def test_align_places_every_point(series: list[dict[int, float]]) -> None:
    data = [(np.array(sorted(d), dtype=np.int64), np.array([d[k] for k in sorted(d)])) for d in series]
    times, grid = align.align(data, 7.5)
    assert times.tolist() == sorted(set().union(*series))
    for j, d in enumerate(series):
        for i, t in enumerate(times.tolist()):
            assert grid[i, j] == d.get(t, 7.5)


def test_gnocchi_ffill_example() -> None:
    # aggregation.yaml: metric 3 and 4 at 1 s, union of their timestamps
    m3 = (np.array([2, 3, 4]), np.array([19.5, 32.0, 11.3]))
    m4 = (np.array([1, 3, 4, 5]), np.array([1.2, 4.2, 3.0, 4.9]))
    times, grid = align.align([m3, m4], "ffill")
    assert times.tolist() == [1, 2, 3, 4, 5]
    diff = grid[:, 0] - grid[:, 1]
    np.testing.assert_allclose(diff[1:], [18.3, 27.8, 8.3, 6.4])
    assert math.isnan(diff[0])
    _, grid = align.align([m3, m4], "full_bfill")
    np.testing.assert_allclose(grid[:, 0] - grid[:, 1], [18.3, 15.3, 27.8, 8.3, 6.4])


def test_parse_fill() -> None:
    assert align.parse_fill("0") == 0.0
    assert align.parse_fill("-1.5") == -1.5
    for mode in align.FILL_MODES:
        assert align.parse_fill(mode) == mode
    with pytest.raises(ValueError, match="Must be a float, 'dropna', 'null'"):
        align.parse_fill("asdf")


def test_overlap_trims_to_common_span_without_bounds() -> None:
    times = np.arange(6)
    grid = np.array([[1, np.nan], [1, 1], [np.nan, 1], [1, 1], [np.nan, 1], [np.nan, np.nan]], dtype=float)
    # trimmed to rows 1..3, of which 2 overlap
    with pytest.raises(UnAggregableTimeseries, match=r"Less than 100.000000% .* \(66.67%\)"):
        align.check_overlap(times, grid, 100.0, None, None, [])
    t, g = align.check_overlap(times, grid, 50.0, None, None, [])
    assert t.tolist() == [1, 2, 3]
    np.testing.assert_array_equal(g, grid[1:4])


def test_overlap_errors() -> None:
    grid = np.array([[1.0, np.nan], [np.nan, 2.0]])
    with pytest.raises(UnAggregableTimeseries, match="No overlap") as info:
        align.check_overlap(np.arange(2), grid, 100.0, None, None, [["a", "mean"]])
    assert info.value.jsonify() == {"cause": "Metrics cannot be aggregated", "reason": "No overlap",
                                    "detail": [["a", "mean"]]}
    t, _ = align.check_overlap(np.arange(2), grid, 0.0, None, None, [])
    assert t.size == 2
    # bounded by start/stop: nothing is trimmed, so the share is computed over every timestamp
    grid = np.array([[1.0, 1.0], [1.0, np.nan]])
    with pytest.raises(UnAggregableTimeseries, match=r"\(50.00%\)"):
        align.check_overlap(np.arange(2), grid, 100.0, 0, 10, [])
