"""The points of some metrics whose values satisfy a condition (``POST /v1/search/metric``).

Each metric is searched at its own policy's granularities (or those asked for), coarsest first; every
series is read in one batch, then the predicate (:mod:`telescale.query.value_search`) keeps the points.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from telescale.query.availability import lacks
from telescale.query.batch import Entry, read_series_batch
from telescale.query.errors import NoSuchAggregation
from telescale.query.value_search import Predicate
from telescale.storage.base import StorageDriver
from telescale.timeseries import PolicyItem

__all__ = ["Plan", "plan", "search"]

Plan = list[tuple[Any, list[PolicyItem]]]
Found = list[tuple[Any, list[tuple[int, np.ndarray, np.ndarray]]]]


def plan(metrics: Sequence[Any], method: str, granularities: Sequence[int] | None) -> Plan:
    """The policy items to read for each metric; :class:`NoSuchAggregation` naming the first granularity
    at which a metric lacks the method or the granularity."""
    out: Plan = []
    for metric in metrics:
        policy = metric.archive_policy
        wanted = granularities or sorted(policy.granularities, reverse=True)
        for g in wanted:
            if lacks(metric, method, g) is not None:
                raise NoSuchAggregation(metric, method, g)
        out.append((metric, [item for g in wanted if (item := policy.item(g)) is not None]))
    return out


def search(storage: StorageDriver, planned: Plan, method: str, predicate: Predicate, start: int | None,
           stop: int | None) -> Found:
    """Each metric with its ``(granularity, timestamps, values)`` of the points the predicate keeps."""
    entries = [Entry(metric.id, item, method) for metric, items in planned for item in items]
    columns = iter(read_series_batch(storage, entries, start, stop, copy=False))
    out: Found = []
    for metric, items in planned:
        out.append((metric, [(item.granularity, *predicate.select(*next(columns))) for item in items]))
    return out
