"""Read-side helpers: select a method from splits, resample to a coarser or calendar grid."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from telescale.timeseries.aggregation import aggregate, aggregate_series, group, split_method
from telescale.timeseries.split import Split

CALENDAR_UNITS: tuple[str, ...] = ("Y", "H", "Q", "M", "W")


def select(
    splits: Sequence[Split], method: str, start: int | None = None, stop: int | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """(timestamps, values) of ``method`` in ``[floor(start, granularity), stop)``, NaN dropped.

    Like Gnocchi, ``start`` is rounded down to the granularity so the bucket containing it is
    returned; ``stop`` is exclusive. Splits may come in any order but must share a granularity.
    """
    parts_ts: list[np.ndarray] = []
    parts_v: list[np.ndarray] = []
    for s in sorted(splits, key=lambda s: s.key):
        if method not in s.columns:
            continue
        ts, vals = s.timestamps, s.columns[method]
        lo = 0
        hi = ts.size
        if start is not None:
            lo = int(np.searchsorted(ts, (start // s.granularity) * s.granularity, side="left"))
        if stop is not None:
            hi = int(np.searchsorted(ts, stop, side="left"))
        if hi <= lo:
            continue
        ts, vals = ts[lo:hi], vals[lo:hi]
        ok = ~np.isnan(vals)
        parts_ts.append(ts[ok])
        parts_v.append(vals[ok])
    if not parts_ts:
        return np.empty(0, dtype=np.int64), np.empty(0, dtype=np.float64)
    return np.concatenate(parts_ts).astype(np.int64), np.concatenate(parts_v)


def select_parts(
    parts: Sequence[tuple[np.ndarray, np.ndarray]], start: int | None = None, stop: int | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """(timestamps, values) in ``[start, stop)`` of NaN-free ``(timestamps, values)`` parts given in time
    order (one per split, as the read path keeps them); always new arrays, never views of the parts
    (which may be shared, read-only cache entries). ``start`` is used as is (callers floor it)."""
    out_ts: list[np.ndarray] = []
    out_v: list[np.ndarray] = []
    for ts, vals in parts:
        lo = 0 if start is None else int(np.searchsorted(ts, start, side="left"))
        hi = ts.size if stop is None else int(np.searchsorted(ts, stop, side="left"))
        if hi > lo:
            out_ts.append(ts[lo:hi])
            out_v.append(vals[lo:hi])
    if not out_ts:
        return np.empty(0, dtype=np.int64), np.empty(0, dtype=np.float64)
    if len(out_ts) == 1:
        return out_ts[0].astype(np.int64, copy=True), out_v[0].copy()
    return np.concatenate(out_ts).astype(np.int64, copy=False), np.concatenate(out_v)


def resample(
    timestamps: np.ndarray, values: np.ndarray, granularity: int, method: str
) -> tuple[np.ndarray, np.ndarray]:
    """Re-bucket an aggregated series to a coarser ``granularity`` with ``method`` (rate: allowed)."""
    keys, columns = aggregate_series(timestamps, values, granularity, (method,))
    col = columns[method]
    ok = ~np.isnan(col)
    return keys[ok], col[ok]


def _calendar_keys(timestamps: np.ndarray, unit: str) -> np.ndarray:
    """Period start (ns) of each timestamp for a calendar unit; weeks start on Sunday."""
    dt = np.asarray(timestamps, dtype=np.int64).astype("datetime64[ns]")
    if unit == "Y":
        out = dt.astype("datetime64[Y]")
    elif unit in ("H", "Q", "M"):
        months = dt.astype("datetime64[M]").astype(np.int64)  # months since 1970-01
        step = {"H": 6, "Q": 3, "M": 1}[unit]
        out = ((months // step) * step).astype("datetime64[M]")
    elif unit == "W":
        days = dt.astype("datetime64[D]").astype(np.int64)
        # 1970-01-01 was a Thursday: shift so that Sunday starts the week.
        out = (((days + 4) // 7) * 7 - 4).astype("datetime64[D]")
    else:
        raise ValueError(f"Unknown calendar unit {unit!r}, expected one of {CALENDAR_UNITS}")
    return out.astype("datetime64[ns]").astype(np.int64)


def calendar_resample(
    timestamps: np.ndarray, values: np.ndarray, unit: str, method: str
) -> tuple[np.ndarray, np.ndarray]:
    """Re-bucket to calendar periods: Y year, H half-year, Q quarter, M month, W week (from Sunday).

    ``rate:`` is refused as in Gnocchi (calendar periods have no fixed length).
    """
    is_rate, basic = split_method(method)
    if is_rate:
        raise ValueError("Cannot derive aggregates on calendar granularities.")
    keys = _calendar_keys(timestamps, unit)
    g = group(keys, np.asarray(values, dtype=np.float64))
    out = aggregate(g, basic)
    ok = ~np.isnan(out)
    return g.keys[ok].astype(np.int64), out[ok]
