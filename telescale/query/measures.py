"""The read path for one metric: the measures of one method, per granularity, over a time range.

Pure function of (storage, metric): the API, alarms, scaling and PromQL all call
:func:`get_measures`. Reads go through the batched reader (:mod:`telescale.query.batch`), which reads only
the splits whose span overlaps ``[start, stop)`` and applies retention on read.
"""

from __future__ import annotations

import uuid
from typing import Protocol

import numpy as np

from telescale.query.availability import require
from telescale.query.batch import Entry, read_series_batch
from telescale.query.errors import MeasuresQueryError, UnknownAggregationMethod, UnknownGranularity
from telescale.storage.base import StorageDriver
from telescale.timeseries import ArchivePolicy, calendar_resample
from telescale.timeseries import resample as resample_series

__all__ = [
    "MeasuresQueryError",
    "UnknownAggregationMethod",
    "UnknownGranularity",
    "get_measures",
    "validate",
]

Measures = list[tuple[int, np.ndarray, np.ndarray]]


class MetricLike(Protocol):
    id: uuid.UUID
    archive_policy: ArchivePolicy


def validate(metric: MetricLike, method: str, granularity: int | None = None) -> None:
    """Raise the 404-worthy error when the policy lacks the method or the granularity."""
    require(metric, method, granularity)


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
    require(metric, method, granularity)
    items = sorted((d for d in metric.archive_policy.definition
                    if granularity is None or d.granularity == int(granularity)),
                   key=lambda d: d.granularity, reverse=True)
    columns = read_series_batch(storage, [Entry(metric.id, item, method) for item in items], start, stop)
    out: Measures = []
    for item, (ts, vals) in zip(items, columns, strict=True):
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
