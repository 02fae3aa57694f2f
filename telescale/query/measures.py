"""The read path for one metric: the measures of one method, per granularity, over a time range.

Pure function of (storage, metric): the API, alarms, scaling and PromQL all call
:func:`get_measures`. It lists the split keys of each granularity and reads only the splits whose
span overlaps ``[start, stop)``. Retention is applied on read as well (the oldest split may still
hold buckets past the policy's ``points`` until it expires whole), so answers never depend on when
metricd last ran.
"""

from __future__ import annotations

import uuid
from typing import Protocol

import numpy as np

from telescale.storage.base import StorageDriver
from telescale.timeseries import (
    ArchivePolicy,
    PolicyItem,
    Split,
    calendar_resample,
    retention_cutoff,
)
from telescale.timeseries import (
    resample as resample_series,
)
from telescale.timeseries.policy import seconds_repr
from telescale.timeseries.read import select_parts
from telescale.timeseries.split import split_span

__all__ = [
    "MeasuresQueryError",
    "UnknownAggregationMethod",
    "UnknownGranularity",
    "get_measures",
    "read_series",
]

Measures = list[tuple[int, np.ndarray, np.ndarray]]


class MetricLike(Protocol):
    id: uuid.UUID
    archive_policy: ArchivePolicy


class MeasuresQueryError(LookupError):
    """The request names something the metric's archive policy does not have (HTTP 404)."""


class UnknownAggregationMethod(MeasuresQueryError):
    cause = "Aggregation method does not exist for this metric"

    def __init__(self, metric: MetricLike, method: str) -> None:
        self.metric = metric
        self.method = method
        super().__init__(f"Aggregation method '{method}' for metric {metric.id} does not exist")

    @property
    def detail(self) -> dict:
        return {"metric": str(self.metric.id), "aggregation_method": self.method}


class UnknownGranularity(MeasuresQueryError):
    def __init__(self, metric: MetricLike, granularity: int, method: str = "mean") -> None:
        self.metric = metric
        self.granularity = granularity
        self.method = method
        # Gnocchi's wording, granularity as float seconds ('42.0').
        super().__init__(
            f"Aggregation method '{method}' at granularity '{seconds_repr(granularity)}' "
            f"for metric {metric.id} does not exist"
        )


def validate(metric: MetricLike, method: str, granularity: int | None = None) -> None:
    """Raise the 404-worthy error when the policy lacks the method or the granularity."""
    _check_method(metric.archive_policy, method, metric)
    if granularity is not None and metric.archive_policy.item(int(granularity)) is None:
        raise UnknownGranularity(metric, int(granularity), method)


def _check_method(policy: ArchivePolicy, method: str, metric: MetricLike) -> None:
    # rate:<m> is stored as its own column: it is available only if the policy lists it as such.
    if method not in policy.aggregation_methods:
        raise UnknownAggregationMethod(metric, method)


Part = tuple[np.ndarray, np.ndarray, np.ndarray]  # one split, one method: (timestamps, values) NaN-free, last bucket


def _part(split: Split, method: str) -> Part:
    """What a read keeps of a decoded split: the method's valid points, and the split's last bucket
    (whatever the method: retention counts from the newest bucket of any method)."""
    ts = split.timestamps
    last = ts[-1:].copy()
    col = split.columns.get(method)
    if col is None:
        return np.empty(0, np.int64), np.empty(0, np.float64), last
    ok = ~np.isnan(col)
    if ok.all():
        return ts, col, last
    return ts[ok], col[ok], last


def _read_parts(
    storage: StorageDriver, metric_id: uuid.UUID, g: int, method: str, keys: list[int]
) -> dict[int, Part]:
    """Decoded parts of the splits ``keys`` that exist, through the driver's read cache when it has one:
    one version check per split, and only splits that changed since they were cached are read and decoded."""
    cache = storage.read_cache
    versions = None if cache is None else storage.split_versions(metric_id, g, keys)
    out: dict[int, Part] = {}
    if cache is None or versions is None:
        for k, data in zip(keys, storage.get_splits(metric_id, g, keys), strict=True):
            if data is not None:
                out[k] = _part(Split.decode(data, g, k, (method,)), method)
        return out
    missing: list[int] = []
    for k, version in zip(keys, versions, strict=True):
        if version is None:
            continue  # deleted (expired) since the listing
        hit = cache.get((metric_id, g, k, method), version)
        if hit is None:
            missing.append(k)
        else:
            out[k] = hit  # type: ignore[assignment]
    if missing:
        for k, (version, data) in zip(missing, storage.get_splits_versioned(metric_id, g, missing), strict=True):
            if data is None:
                continue
            part = _part(Split.decode(data, g, k, (method,)), method)
            if version is not None:
                cache.put((metric_id, g, k, method), version, part)
            out[k] = part
    return out


def read_series(
    storage: StorageDriver,
    metric_id: uuid.UUID,
    item: PolicyItem,
    method: str,
    start: int | None = None,
    stop: int | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """``(timestamps, values)`` of one method at one granularity in ``[floor(start), stop)``."""
    g = item.granularity
    keys = storage.list_split_keys(metric_id, g)
    if not keys:
        return np.empty(0, np.int64), np.empty(0, np.float64)
    span = split_span(g)
    lo = None if start is None else (int(start) // g) * g
    wanted = [k for k in keys if (lo is None or k + span > lo) and (stop is None or k < stop)]
    if not wanted:
        return np.empty(0, np.int64), np.empty(0, np.float64)
    newest = keys[-1]
    # Retention: only a split starting before newest + span - timespan can hold expired buckets.
    need_cutoff = item.timespan is not None and wanted[0] < newest + span - item.timespan
    to_read = wanted + ([newest] if need_cutoff and newest not in wanted else [])
    parts = _read_parts(storage, metric_id, g, method, to_read)
    if need_cutoff and parts:
        last = parts[max(parts)][2]
        if last.size:
            cutoff = retention_cutoff(item, int(last[0]))
            if cutoff is not None and (lo is None or cutoff > lo):
                lo = cutoff
    return select_parts([parts[k][:2] for k in wanted if k in parts], lo, stop)


def get_measures(
    storage: StorageDriver,
    metric: MetricLike,
    method: str,
    *,
    granularity: int | None = None,
    start: int | None = None,
    stop: int | None = None,
    resample: int | None = None,
    calendar: str | None = None,
) -> Measures:
    """Measures of ``method`` as ``[(granularity ns, timestamps ns, values)]``, coarsest first.

    ``granularity`` restricts to one granularity of the policy. ``resample`` (ns) re-buckets each
    series with the same method (``rate:`` methods derive again, as in Gnocchi) and reports the
    resample granularity; ``calendar`` (Y/H/Q/M/W) re-buckets to calendar periods and keeps the source
    granularity in the tuple. Raises :class:`UnknownAggregationMethod` / :class:`UnknownGranularity`.
    """
    policy = metric.archive_policy
    validate(metric, method, granularity)
    if granularity is not None:
        item = policy.item(int(granularity))
        if item is None:
            raise UnknownGranularity(metric, int(granularity), method)
        items = [item]
    else:
        items = sorted(policy.definition, key=lambda d: d.granularity, reverse=True)
    out: Measures = []
    for item in items:
        ts, vals = read_series(storage, metric.id, item, method, start, stop)
        g = item.granularity
        if resample is not None:
            ts, vals = resample_series(ts, vals, int(resample), method)
            g = int(resample)
            if start is not None:
                first = int(np.searchsorted(ts, (int(start) // g) * g, side="left"))
                ts, vals = ts[first:], vals[first:]
        elif calendar is not None:
            ts, vals = calendar_resample(ts, vals, calendar, method)
        out.append((g, ts, vals))
    return out
