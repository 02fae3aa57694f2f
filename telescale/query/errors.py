"""Typed errors of the read path: what a caller asked cannot be answered as asked.

Every error here is a :class:`QueryError`, so a caller (the API, the alarm evaluator) tells a wrong or
unanswerable question apart from a failure of the store (``OSError``, a database error), which is never
one of these.  :class:`NotFound` errors name something that does not exist or that the caller's scope does
not see (the two are not told apart, so a scope never reveals what it hides); :class:`InvalidQuery` errors
are questions that cannot be computed.  The API maps each to Gnocchi's status and wording.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from typing import Any, Protocol

from telescale.timeseries.policy import seconds_repr

__all__ = [
    "CalendarNeedsOneMetric",
    "InvalidFilter",
    "InvalidMetricReference",
    "InvalidQuery",
    "InvalidReaggregation",
    "MeasuresQueryError",
    "NoSuchAggregation",
    "NoSuchMetric",
    "NoSuchResource",
    "NoSuchResourceType",
    "NotFound",
    "QueryError",
    "RefreshTimeout",
    "UnknownGroupby",
    "UnknownAggregationMethod",
    "UnknownGranularity",
]


class MetricLike(Protocol):
    id: uuid.UUID


class QueryError(Exception):
    """The question cannot be answered as asked (as opposed to a failure of the store)."""


class NotFound(QueryError, LookupError):
    """Something named does not exist, or is not visible in the caller's scope (HTTP 404)."""


class InvalidQuery(QueryError, ValueError):
    """The question is well-formed but cannot be computed (HTTP 400)."""


class NoSuchResourceType(NotFound):
    def __init__(self, name: str) -> None:
        self.name = name
        super().__init__(f"Resource type {name} does not exist")


class NoSuchResource(NotFound):
    def __init__(self, resource_id: Any) -> None:
        self.resource_id = resource_id
        super().__init__(f"Resource {resource_id} does not exist")


class NoSuchMetric(NotFound):
    """``metrics``: the ids or names asked for that do not exist (or are not visible), as given."""

    def __init__(self, metrics: Iterable[Any]) -> None:
        self.metrics = list(metrics)
        shown = self.metrics[0] if len(self.metrics) == 1 else self.metrics
        super().__init__(f"Metric {shown} does not exist")


class MeasuresQueryError(NotFound):
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


class NoSuchAggregation(MeasuresQueryError):
    """Gnocchi's cross-metric 404: ``method`` at ``granularity`` for one of the metrics (the granularity is
    the one missing, or the policy's first when the method is what is missing)."""

    def __init__(self, metric: MetricLike, method: str, granularity: int) -> None:
        self.metric = metric
        self.method = method
        self.granularity = granularity
        super().__init__(f"Aggregation method '{method}' at granularity '{seconds_repr(granularity)}' "
                         f"for metric {metric.id} does not exist")


class InvalidMetricReference(InvalidQuery):
    """A metric reference of the operations that is not a metric id."""

    def __init__(self, reason: str, references: list[list[str]]) -> None:
        self.reason = reason
        self.references = references
        super().__init__(reason)


class InvalidFilter(InvalidQuery):
    """A resource search the indexer refuses; ``cause`` is the indexer's own error (its wording)."""

    def __init__(self, cause: Exception) -> None:
        self.cause = cause
        super().__init__(str(cause))


class UnknownGroupby(InvalidQuery):
    """A group-by key the resource type does not have; ``cause`` is the indexer's error (``hint`` names it)."""

    def __init__(self, cause: Exception) -> None:
        self.cause = cause
        self.hint: str | None = getattr(cause, "hint", None)
        super().__init__(str(cause))


class CalendarNeedsOneMetric(InvalidQuery):
    def __init__(self) -> None:
        super().__init__("Calendar resampling is only available for a single metric")


class InvalidReaggregation(InvalidQuery):
    def __init__(self, method: str, allowed: Iterable[str]) -> None:
        self.method = method
        super().__init__(f"Invalid aggregation method '{method}', expected one of {', '.join(allowed)}")


class RefreshTimeout(TimeoutError):
    """Pending measures of a metric could not be processed in time: its sack stayed locked (HTTP 503)."""

    def __init__(self, metric_id: Any) -> None:
        self.metric_id = metric_id
        super().__init__(f"Unable to refresh metric: {metric_id}. Metric is locked. Please try again.")
