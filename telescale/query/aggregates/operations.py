"""The operators of dynamic aggregates, vectorised over aligned series.

A :class:`Series` holds one granularity of one or more metrics on a common time axis: ``values`` is a
``(len(times), k)`` float64 matrix (NaN where a metric has no point) or, for a constant, a float.
Every operator works on whole matrices with numpy; nothing loops over points.

Cross-metric and rolling reductions use numpy's NaN-ignoring reductions, exactly the semantics
Gnocchi gives them (``std``/``var`` are population statistics there, NaN is "no point").  ``resample``
re-buckets each metric with the storage engine's own resampler, so it offers the engine's methods.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from telescale.query.errors import InvalidQuery
from telescale.query.ufuncs import ARITHMETIC, COMPARISONS
from telescale.timeseries.aggregation import counter_increase
from telescale.timeseries.policy import ALL_METHODS, RATE_PREFIX
from telescale.timeseries.read import resample as engine_resample

__all__ = [
    "AGGREGATE_METHODS",
    "BINARY_OPERATORS",
    "RESAMPLE_METHODS",
    "TERNARY_OPERATORS",
    "UNARY_OPERATORS",
    "UNARY_WITH_TIMESTAMPS",
    "Series",
    "UnAggregableTimeseries",
    "aggregate",
    "apply",
    "resample",
    "rolling",
]

NS = 1_000_000_000


class UnAggregableTimeseries(InvalidQuery):
    """The series cannot be combined as asked (HTTP 400, Gnocchi's "Metrics cannot be aggregated")."""

    def __init__(self, references: Any, reason: str) -> None:
        self.references = references
        self.reason = reason
        super().__init__(reason)

    def jsonify(self) -> dict[str, Any]:
        return {"cause": "Metrics cannot be aggregated", "reason": self.reason, "detail": self.references}


@dataclass(frozen=True)
class Series:
    granularity: int      # ns
    times: np.ndarray     # int64 ns, ascending, unique
    values: Any           # float64 (len(times), k) matrix, or a float for a constant
    aggregated: bool = False

    @property
    def is_constant(self) -> bool:
        return not isinstance(self.values, np.ndarray)


# ---------------------------------------------------------------------------------------------------
# Reductions: over metrics (aggregate) or over a sliding window of time (rolling), NaN meaning "no point"


def _count(values: np.ndarray, axis: int) -> np.ndarray:
    return np.count_nonzero(~np.isnan(values), axis=axis).astype(np.float64)


_REDUCERS: dict[str, Callable[[np.ndarray, int], np.ndarray]] = {
    "mean": lambda v, axis: np.nanmean(v, axis=axis),
    "median": lambda v, axis: np.nanmedian(v, axis=axis),
    "std": lambda v, axis: np.nanstd(v, axis=axis),
    "min": lambda v, axis: np.nanmin(v, axis=axis),
    "max": lambda v, axis: np.nanmax(v, axis=axis),
    "sum": lambda v, axis: np.nansum(v, axis=axis),
    "var": lambda v, axis: np.nanvar(v, axis=axis),
    "count": _count,
}

AGGREGATE_METHODS: tuple[str, ...] = tuple(_REDUCERS) + tuple(RATE_PREFIX + m for m in _REDUCERS)
RESAMPLE_METHODS: tuple[str, ...] = ALL_METHODS


# Without NaN these give the very bits of their nan* twin (same reduction, same order, same count) at a
# fraction of the cost: nanmean/nansum copy the matrix and mask it first. std/var/median are left to the
# nan* versions, whose arithmetic differs from the plain ones in the last bit.
_NO_NAN_REDUCERS: dict[str, Callable[[np.ndarray, int], np.ndarray]] = {
    "mean": lambda v, axis: np.mean(v, axis=axis),
    "sum": lambda v, axis: np.sum(v, axis=axis),
    "min": lambda v, axis: np.min(v, axis=axis),
    "max": lambda v, axis: np.max(v, axis=axis),
}


def reduce(method: str, values: np.ndarray, axis: int) -> np.ndarray:
    """One of :data:`AGGREGATE_METHODS` without its ``rate:`` prefix, along ``axis``, ignoring NaN."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN slices give NaN, as wanted
        if values.size == 0 and method in ("min", "max"):
            shape = list(values.shape)
            del shape[axis]
            return np.full(shape, np.nan)
        fast = _NO_NAN_REDUCERS.get(method)
        if fast is not None and values.size and not np.isnan(values).any():
            return np.asarray(fast(values, axis), dtype=np.float64)
        return np.asarray(_REDUCERS[method](values, axis), dtype=np.float64)


def _split_rate(method: str) -> tuple[bool, str]:
    if method.startswith(RATE_PREFIX):
        return True, method[len(RATE_PREFIX):]
    return False, method


def _need_series(op: str, s: Series) -> None:
    if s.is_constant:
        raise UnAggregableTimeseries([], f"'{op}' needs a time series, not the constant {s.values!r}")


def aggregate(method: str, s: Series) -> Series:
    """Reduce the metrics of ``s`` to one series; ``rate:m`` differentiates the result over time."""
    _need_series("aggregate", s)
    rate, basic = _split_rate(method)
    out = reduce(basic, s.values, axis=1)
    times = s.times
    if rate:
        out = np.diff(out)
        times = times[1:]
    return Series(s.granularity, times, out[:, None], True)


def rolling(method: str, window: int, s: Series, references: Any = ()) -> Series:
    """``method`` over each run of ``window`` consecutive points, stamped with the run's last point."""
    _need_series("rolling", s)
    n = len(s.times)
    if window > n:
        raise UnAggregableTimeseries(list(references),
                                     f"Rolling window '{window}' is greater than serie length '{n}'")
    rate, basic = _split_rate(method)
    windows = sliding_window_view(s.values, window, axis=0)  # (n - window + 1, k, window)
    out = reduce(basic, windows, axis=-1)
    times = s.times[window - 1:]
    if rate:
        out = np.diff(out, axis=0)
        times = times[1:]
    return Series(s.granularity, times, out, s.aggregated)


def resample(method: str, granularity: int, s: Series) -> Series:
    """Re-bucket every metric to ``granularity`` with the engine's resampler (NaN points are absent)."""
    _need_series("resample", s)
    keys = np.unique((s.times // granularity) * granularity)
    out = np.full((keys.size, s.values.shape[1]), np.nan)
    for j in range(s.values.shape[1]):  # one engine call per metric, vectorised over its points
        col = s.values[:, j]
        ok = ~np.isnan(col)
        ts, vals = engine_resample(s.times[ok], col[ok], granularity, method)
        out[np.searchsorted(keys, ts), j] = vals
    return Series(granularity, keys.astype(np.int64), out, s.aggregated)


# ---------------------------------------------------------------------------------------------------
# Element-wise operators


def _clip_min(a: Any, b: Any) -> Any:
    return np.clip(a, b, None)


def _clip_max(a: Any, b: Any) -> Any:
    return np.clip(a, None, b)


BINARY_OPERATORS: dict[str, Callable[[Any, Any], Any]] = {
    **COMPARISONS,
    **ARITHMETIC,
    "clip_min": _clip_min,
    "clip_max": _clip_max,
    "max": np.fmax,
}


def _clip(a: Any, lo: Any, hi: Any = None) -> Any:
    return np.clip(a, lo, hi)


TERNARY_OPERATORS: dict[str, Callable[..., Any]] = {"clip": _clip}

UNARY_OPERATORS: dict[str, Callable[[Any], Any]] = {
    "abs": np.absolute, "absolute": np.absolute,
    "neg": np.negative, "negative": np.negative,
    "cos": np.cos, "sin": np.sin, "tan": np.tan,
    "floor": np.floor, "ceil": np.ceil,
}


# Counter resets. ``rateofchange``/``rateofchangesec`` keep Gnocchi's plain difference: its conformance
# file (aggregates-with-metric-ids.yaml, "get aggregates one metric rateofchange") asserts negative
# values for a gauge that goes down, and nothing in a stored series says it is a counter. Their
# ``counter`` twins apply the engine's counter-reset rule (:func:`counter_increase`: a drop is a restart
# from zero, the increase is the new value, never negative), as ``rate:`` archive-policy methods do.
# Cross-metric ``aggregate``/``rolling`` ``rate:`` stay plain differences too (a mean over several
# counters drops when one of them resets, by less than that counter's value): to sum rates over
# counters, take each counter's increase first, ``(aggregate sum (counterrateofchange (metric ...)))``.


def rateofchange(times: np.ndarray, values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Difference with the previous point, from the second point on (Gnocchi's; negative on a drop)."""
    return times[1:], np.diff(values, axis=0)


def rateofchangesec(times: np.ndarray, values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Change per second since the previous point; the first point has none (NaN)."""
    out = np.full(values.shape, np.nan)
    if len(times) > 1:
        seconds = np.diff(times).astype(np.float64) / NS
        out[1:] = np.diff(values, axis=0) / seconds[:, None]
    return times, out


def counterrateofchange(times: np.ndarray, values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``rateofchange`` of a counter that may reset: the increase since the previous point, never negative."""
    return times[1:], counter_increase(values, axis=0)


def counterrateofchangesec(times: np.ndarray, values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``rateofchangesec`` of a counter that may reset: increase per second, never negative; first is NaN."""
    out = np.full(values.shape, np.nan)
    if len(times) > 1:
        seconds = np.diff(times).astype(np.float64) / NS
        out[1:] = counter_increase(values, axis=0) / seconds[:, None]
    return times, out


UNARY_WITH_TIMESTAMPS: dict[str, Callable[[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray]]] = {
    "rateofchange": rateofchange,
    "rateofchangesec": rateofchangesec,
    "counterrateofchange": counterrateofchange,
    "counterrateofchangesec": counterrateofchangesec,
}


def _as_float(values: Any) -> Any:
    if isinstance(values, np.ndarray):
        return values.astype(np.float64, copy=False)
    return float(values)


def apply(op: str, operands: Sequence[Series], context: Series, labels: Sequence[Any] = (),
          references: Any = ()) -> Series:
    """An element-wise operator over series and constants.

    Series operands must share their time axis and granularity; combining two or more series makes an
    aggregated result.  Constants take the time axis of the series they meet (or ``context``'s).
    """
    if op in UNARY_WITH_TIMESTAMPS:
        (s,) = operands
        _need_series(op, s)
        times, values = UNARY_WITH_TIMESTAMPS[op](s.times, s.values)
        return Series(s.granularity, times, values, s.aggregated)
    series = [s for s in operands if not s.is_constant]
    aggregated = any(s.aggregated for s in operands)
    if len(series) > 1:
        first = series[0]
        for other in series[1:]:
            if other.granularity != first.granularity or not np.array_equal(other.times, first.times):
                shown = " <> ".join(str(x) for x in labels) if labels else op
                raise UnAggregableTimeseries(list(references),
                                             f"Can't compute timeseries with different granularity {shown}")
        widths = {s.values.shape[1] for s in series} - {1}
        if len(widths) > 1:
            raise UnAggregableTimeseries(
                list(references),
                f"Can't compute '{op}' between groups of {' and '.join(str(w) for w in sorted(widths))} metrics")
        aggregated = True
    base = series[0] if series else context
    # Gnocchi takes the time axis of the second operand when only it is a series: same thing here.
    if op in UNARY_OPERATORS:
        fn: Callable[..., Any] = UNARY_OPERATORS[op]
    elif op in BINARY_OPERATORS and len(operands) == 2:
        fn = BINARY_OPERATORS[op]
    elif op in TERNARY_OPERATORS:
        fn = TERNARY_OPERATORS[op]
    else:
        raise ValueError(f"unknown operator {op!r}")
    with np.errstate(all="ignore"):
        values = fn(*(s.values for s in operands))
    return Series(base.granularity, base.times, _as_float(values), aggregated)
