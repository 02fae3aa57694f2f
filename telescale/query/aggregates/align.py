"""Put several series on one time axis, fill the holes, and check how much they overlap.

``fill`` is a number (holes take that value), ``"null"`` (holes stay NaN and are returned as such),
``"dropna"`` (holes stay NaN; NaN and infinite results are dropped from the answer), ``"ffill"`` /
``"bfill"`` (propagate the previous / next value of the same metric), ``"full_ffill"`` /
``"full_bfill"`` (forward then backward, or the reverse, so no hole survives).  ``None`` means no
fill: then ``needed_overlap`` percent of the timestamps must have a value for every metric.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from telescale.query.aggregates.operations import UnAggregableTimeseries

__all__ = [
    "FILL_ERROR",
    "FILL_MODES",
    "DROPPING_FILLS",
    "align",
    "apply_fill",
    "backward_fill",
    "check_overlap",
    "forward_fill",
    "parse_fill",
]

FILL_MODES: tuple[str, ...] = ("null", "dropna", "ffill", "bfill", "full_ffill", "full_bfill")
# With these fills, NaN and infinite results are left out of the answer.
DROPPING_FILLS: frozenset[str] = frozenset(("dropna", "ffill", "bfill", "full_ffill", "full_bfill"))
FILL_ERROR = "Must be a float, 'dropna', 'null', 'ffill', 'bfill', 'full_ffill' or 'full_bfill'"

Fill = float | str | None


def parse_fill(value: Any) -> float | str:
    """A fill mode name or a float; ``ValueError(FILL_ERROR)`` for anything else."""
    if isinstance(value, str) and value in FILL_MODES:
        return value
    if isinstance(value, bool):
        raise ValueError(FILL_ERROR)
    try:
        return float(value)
    except (TypeError, ValueError):
        raise ValueError(FILL_ERROR) from None


def align(series: Sequence[tuple[np.ndarray, np.ndarray]], fill: Fill = None,
          granularity: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Union of the timestamps and a ``(len(times), len(series))`` matrix, holes filled per ``fill``.

    With ``granularity`` (timestamps then are bucket starts) the union is found on the bucket grid in
    linear time instead of by sorting, which matters when thousands of series are aligned; the answer
    is the same either way.
    """
    parts = [np.asarray(ts, dtype=np.int64) for ts, _ in series]
    filler = fill if isinstance(fill, float) else np.nan
    if parts and _same_times(parts, granularity):
        # Every series has the same timestamps (the usual case): no union to compute. Stacked as
        # (series, times) and transposed, the layout Gnocchi reduces over (``val_grid.T``): building it
        # is one copy, and a reduction across metrics then sums in Gnocchi's order.
        times = parts[0]
        grid = np.stack([np.asarray(v, dtype=np.float64) for _, v in series]).T if times.size \
            else np.empty((0, len(series)))
        return times, apply_fill(grid, fill)
    everything = np.concatenate(parts) if parts else np.empty(0, np.int64)
    times, where = _union(everything, granularity)
    by_series = np.full((len(series), times.size), filler, dtype=np.float64)  # same layout as above
    col = np.repeat(np.arange(len(series)), [p.size for p in parts])
    if everything.size:
        by_series[col, where] = np.concatenate([np.asarray(v, dtype=np.float64) for _, v in series])
    return times, apply_fill(by_series.T, fill)


def _same_times(parts: Sequence[np.ndarray], granularity: int | None) -> bool:
    """Whether every (sorted, unique) timestamp array is the same, without comparing them all when possible.

    With ``granularity`` the timestamps are bucket starts (multiples of it), and n of them from ``lo`` to
    ``lo + (n - 1) × granularity`` can only be that whole grid: series without gaps compare by size and
    ends alone, O(series) instead of O(points).
    """
    first = parts[0]
    n = first.size
    if any(p.size != n for p in parts):
        return False
    if n == 0:
        return True
    lo, hi = int(first[0]), int(first[-1])
    if granularity and hi - lo == (n - 1) * granularity and lo % granularity == 0:
        return all(int(p[0]) == lo and int(p[-1]) == hi for p in parts)
    return all(np.array_equal(p, first) for p in parts)


def _union(everything: np.ndarray, granularity: int | None) -> tuple[np.ndarray, np.ndarray]:
    """Sorted unique timestamps and, for each input timestamp, its row in them."""
    if granularity and everything.size:
        lo = int(everything.min())
        offsets = everything - lo
        slots = offsets // granularity
        n_slots = int(slots.max()) + 1
        if n_slots <= 4 * everything.size + 1024 and not (offsets % granularity).any():
            present = np.zeros(n_slots, dtype=bool)
            present[slots] = True
            row_of_slot = np.cumsum(present) - 1
            return lo + np.flatnonzero(present).astype(np.int64) * granularity, row_of_slot[slots]
    times, where = np.unique(everything, return_inverse=True)
    return times, where.ravel()


def forward_fill(grid: np.ndarray) -> np.ndarray:
    """Each NaN takes the last value above it in its column (leading NaN stay)."""
    if grid.size == 0:
        return grid
    mask = np.isnan(grid)
    idx = np.where(~mask, np.arange(grid.shape[0])[:, None], 0)
    np.maximum.accumulate(idx, axis=0, out=idx)
    return np.take_along_axis(grid, idx, axis=0)


def backward_fill(grid: np.ndarray) -> np.ndarray:
    """Each NaN takes the next value below it in its column (trailing NaN stay)."""
    return forward_fill(grid[::-1])[::-1]


def apply_fill(grid: np.ndarray, fill: Fill) -> np.ndarray:
    if fill == "ffill":
        return forward_fill(grid)
    if fill == "bfill":
        return backward_fill(grid)
    if fill == "full_ffill":
        return backward_fill(forward_fill(grid))
    if fill == "full_bfill":
        return forward_fill(backward_fill(grid))
    return grid


def check_overlap(times: np.ndarray, grid: np.ndarray, needed_overlap: float, start: int | None,
                  stop: int | None, references: Any) -> tuple[np.ndarray, np.ndarray]:
    """Without fill: trim to the overlapping span (unless bounded by start/stop) and require enough overlap.

    Raises :class:`UnAggregableTimeseries` ('No overlap', or 'Less than N% of datapoints overlap').
    """
    overlap = np.flatnonzero(~np.isnan(grid).any(axis=1))
    if overlap.size == 0 and needed_overlap > 0:
        raise UnAggregableTimeseries(list(references), "No overlap")
    if times.size:
        if stop is None and overlap.size:
            times, grid = times[:overlap[-1] + 1], grid[:overlap[-1] + 1]
        if start is None and overlap.size:
            times, grid = times[overlap[0]:], grid[overlap[0]:]
        percent = overlap.size * 100.0 / times.size
        if percent < needed_overlap:
            raise UnAggregableTimeseries(
                list(references),
                f"Less than {needed_overlap:f}% of datapoints overlap in this timespan ({percent:.2f}%)")
    return times, grid
