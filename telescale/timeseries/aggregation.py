"""Vectorised aggregation methods over grouped values.

Every method takes a :class:`Groups` (values laid out contiguously per group, input order kept inside
a group) and returns one float64 per group, NaN where the method has no value (std of one point).
The same table serves per-metric bucketing and, later, cross-metric aggregation in the query layer.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from telescale.timeseries.policy import RATE_PREFIX
from telescale.timeseries.sortedops import isin_sorted


@dataclass(frozen=True)
class Groups:
    """Values grouped by key: group i is ``values[starts[i]:starts[i] + counts[i]]``."""

    keys: np.ndarray    # unique group keys, ascending
    starts: np.ndarray  # int64 index of each group's first value
    counts: np.ndarray  # int64 size of each group (>= 1)
    values: np.ndarray  # float64, grouped, stable (input order inside a group)

    @property
    def index(self) -> np.ndarray:
        """Group number of every value (for bincount-style reductions)."""
        return np.repeat(np.arange(self.keys.size), self.counts)


def group(keys: np.ndarray, values: np.ndarray) -> Groups:
    """Group ``values`` by ``keys``; a stable sort keeps time order inside each group."""
    keys = np.asarray(keys)
    values = np.asarray(values, dtype=np.float64)
    if keys.size and np.any(keys[1:] < keys[:-1]):
        order = np.argsort(keys, kind="stable")
        keys, values = keys[order], values[order]
    if keys.size == 0:
        empty = np.empty(0, dtype=np.int64)
        return Groups(keys[:0], empty, empty, values[:0])
    is_start = np.empty(keys.size, dtype=bool)
    is_start[0] = True
    np.not_equal(keys[1:], keys[:-1], out=is_start[1:])
    starts = np.flatnonzero(is_start)
    counts = np.diff(np.append(starts, keys.size))
    return Groups(keys[starts], starts.astype(np.int64), counts.astype(np.int64), values)


def bucket(timestamps: np.ndarray, granularity: int) -> np.ndarray:
    """Start of the bucket of each timestamp (floor, also before the epoch)."""
    ts = np.asarray(timestamps, dtype=np.int64)
    return (ts // granularity) * granularity


def _sum(g: Groups) -> np.ndarray:
    # bincount accumulates sequentially in input order, like Gnocchi, so sums are bit-identical.
    return np.bincount(g.index, weights=g.values, minlength=g.keys.size)


def _mean(g: Groups) -> np.ndarray:
    # Defined as sum / count so the codec can rebuild it exactly instead of storing it.
    return _sum(g) / g.counts


def _count(g: Groups) -> np.ndarray:
    return g.counts.astype(np.float64)


def _min(g: Groups) -> np.ndarray:
    if g.keys.size == 0:
        return np.empty(0)
    return np.minimum.reduceat(g.values, g.starts)


def _max(g: Groups) -> np.ndarray:
    if g.keys.size == 0:
        return np.empty(0)
    return np.maximum.reduceat(g.values, g.starts)


def _first(g: Groups) -> np.ndarray:
    return g.values[g.starts]


def _last(g: Groups) -> np.ndarray:
    return g.values[g.starts + g.counts - 1]


def _std(g: Groups) -> np.ndarray:
    """Sample standard deviation (ddof=1, two-pass); NaN for a single point as Gnocchi omits it."""
    idx = g.index
    mean = _mean(g)
    sq = np.square(g.values - mean[idx])
    ssd = np.bincount(idx, weights=sq, minlength=g.keys.size)
    out = np.full(g.keys.size, np.nan)
    many = g.counts > 1
    out[many] = np.sqrt(ssd[many] / (g.counts[many] - 1))
    return out


def _sorted_within(g: Groups) -> np.ndarray:
    """Values sorted by (group, value); groups stay contiguous at the same starts."""
    order = np.lexsort((g.values, g.index))
    return g.values[order]


def quantile(g: Groups, q: float) -> np.ndarray:
    """Linear-interpolated q-th percentile per group (numpy's default 'linear' definition)."""
    if g.keys.size == 0:
        return np.empty(0)
    s = _sorted_within(g)
    # position within each group, not within the whole array: the rounding must not depend on where
    # the group happens to sit, or re-aggregating the same bucket could give a different last bit
    pos = (g.counts - 1) * (q / 100.0)
    lo = np.floor(pos)
    hi = np.ceil(pos)
    # weights written as distances to the neighbours: same rounding as Gnocchi's results
    low, high = s[g.starts + lo.astype(np.int64)], s[g.starts + hi.astype(np.int64)]
    out = low * (hi - pos) + high * (pos - lo)
    exact = lo == hi
    out[exact] = low[exact]
    return out


def _median(g: Groups) -> np.ndarray:
    if g.keys.size == 0:
        return np.empty(0)
    s = _sorted_within(g)
    half = g.counts // 2
    upper = g.starts + half
    lower = upper - 1 + (g.counts % 2)
    return (s[lower] + s[upper]) / 2.0


Aggregator = Callable[[Groups], np.ndarray]

AGGREGATORS: dict[str, Aggregator] = {
    "mean": _mean,
    "sum": _sum,
    "count": _count,
    "min": _min,
    "max": _max,
    "first": _first,
    "last": _last,
    "std": _std,
    "median": _median,
}
for _i in range(1, 100):
    AGGREGATORS[f"{_i}pct"] = (lambda q: (lambda g: quantile(g, q)))(float(_i))


def aggregate(g: Groups, method: str) -> np.ndarray:
    """Apply one basic method (no ``rate:``) to every group."""
    try:
        fn = AGGREGATORS[method]
    except KeyError:
        raise ValueError(f"Unknown aggregation method `{method}'") from None
    return fn(g)


def counter_increase(values: np.ndarray, axis: int = 0) -> np.ndarray:
    """Increase between consecutive values of a counter that may reset, along ``axis``.

    The counter-reset rule (Prometheus' ``rate()``/``increase()`` rule): a value lower than the one
    before means the counter restarted from zero in between, so what it counted over that interval is
    the new value itself, not the (negative) difference. A counter is never negative, so a reset
    to a value below zero counts as no increase. The result is therefore never negative: Gnocchi
    answered a reset with a large negative rate (gnocchi #1, #1044, #1079), which Aodh and
    autoscaling read as "the load went away". NaN stays NaN (comparisons with NaN are false).
    One length shorter than ``values`` along ``axis``; whole-array numpy, no loop over points.
    """
    vals = np.asarray(values, dtype=np.float64)
    later: list[slice] = [slice(None)] * vals.ndim
    earlier = list(later)
    later[axis], earlier[axis] = slice(1, None), slice(None, -1)
    cur, prev = vals[tuple(later)], vals[tuple(earlier)]
    # cur >= prev gives a difference >= +0.0 in IEEE arithmetic; a reset gives max(cur, 0), +0.0 at worst
    return np.where(cur < prev, np.where(cur > 0.0, cur, 0.0), cur - prev)


def derive(timestamps: np.ndarray, values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Increases between consecutive points, stamped with the later point: what ``rate:`` aggregates.

    As Gnocchi, ``rate:<m>`` applies ``<m>`` to the per-interval changes falling in each bucket
    (``rate:sum`` is the bucket's total increase, ``rate:mean`` the mean per-interval increase,
    ``rate:last`` the last interval's), but the changes follow :func:`counter_increase`, so a counter
    reset never yields a negative rate. The raw tail keeps the point before the oldest bucket still
    open (see ``update.compute_update``), so a reset falling exactly between two batches, or a late
    point inside the back window, is differenced against the same neighbour as if the measures had
    arrived together and in order.
    """
    ts = np.asarray(timestamps, dtype=np.int64)
    vals = np.asarray(values, dtype=np.float64)
    return ts[1:], counter_increase(vals)


def split_method(method: str) -> tuple[bool, str]:
    """``rate:mean`` -> (True, "mean"); ``mean`` -> (False, "mean")."""
    if method.startswith(RATE_PREFIX):
        return True, method[len(RATE_PREFIX):]
    return False, method


def aggregate_series(
    timestamps: np.ndarray,
    values: np.ndarray,
    granularity: int,
    methods: tuple[str, ...] | list[str],
    only: np.ndarray | None = None,
) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """Bucket a sorted unique series and compute ``methods`` (``rate:`` included) per bucket.

    ``only`` restricts the output to those bucket starts (sorted, unique); rows where a method has
    no value are NaN. Returns (bucket starts, {method: values}).
    """
    ts = np.asarray(timestamps, dtype=np.int64)
    vals = np.asarray(values, dtype=np.float64)
    keys = bucket(ts, granularity)
    if only is not None:
        out_keys = np.asarray(only, dtype=np.int64)
        m = isin_sorted(keys, out_keys)
        g = group(keys[m], vals[m])
    else:
        g = group(keys, vals)
        out_keys = g.keys.astype(np.int64)
    columns: dict[str, np.ndarray] = {}
    basic = [m for m in methods if not m.startswith(RATE_PREFIX)]
    rated = [m for m in methods if m.startswith(RATE_PREFIX)]
    pos = np.searchsorted(out_keys, g.keys)
    for m in basic:
        col = np.full(out_keys.size, np.nan)
        col[pos] = aggregate(g, m)
        columns[m] = col
    if rated:
        dts, dvals = derive(ts, vals)
        dkeys = bucket(dts, granularity)
        sel = isin_sorted(dkeys, out_keys)
        dg = group(dkeys[sel], dvals[sel])
        dpos = np.searchsorted(out_keys, dg.keys)
        for m in rated:
            col = np.full(out_keys.size, np.nan)
            col[dpos] = aggregate(dg, m[len(RATE_PREFIX):])
            columns[m] = col
    return out_keys, columns
