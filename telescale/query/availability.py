"""Whether a metric's archive policy computes a method at a granularity: the one check every read makes.

Each caller keeps Gnocchi's order and wording of its own endpoint (which of several missing things it
names first, which status and text), but the question itself is answered only here, by :func:`lacks`.
A ``rate:<m>`` method is stored as its own column, so it is available only when the policy lists it.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from typing import Protocol

from telescale.query.errors import MeasuresQueryError, UnknownAggregationMethod, UnknownGranularity
from telescale.timeseries import ArchivePolicy

__all__ = ["common_granularities", "lacks", "require"]


class MetricLike(Protocol):
    id: uuid.UUID
    archive_policy: ArchivePolicy


def lacks(metric: MetricLike, method: str | None, granularity: int | None = None) -> MeasuresQueryError | None:
    """What the metric's policy lacks to serve ``method`` at ``granularity``: the method first, then the
    granularity; None when it has both.  ``method`` None checks the granularity alone, ``granularity`` None
    the method alone."""
    policy = metric.archive_policy
    if method is not None and method not in policy.aggregation_methods:
        return UnknownAggregationMethod(metric, method)
    if granularity is not None and int(granularity) not in policy.granularities:
        return UnknownGranularity(metric, int(granularity), method or "mean")
    return None


def require(metric: MetricLike, method: str | None, granularity: int | None = None) -> None:
    """Raise what :func:`lacks` finds."""
    missing = lacks(metric, method, granularity)
    if missing is not None:
        raise missing


def common_granularities(metrics: Iterable[MetricLike]) -> list[int]:
    """The granularities every one of ``metrics`` has, coarsest first (empty when none is shared)."""
    common: set[int] | None = None
    for m in metrics:
        have = set(m.archive_policy.granularities)
        common = have if common is None else common & have
    return sorted(common or (), reverse=True)
