"""The one read path, as an object built from the drivers: what the API, the alarm evaluator and scaling call.

``Query(indexer, storage, refresh)`` answers every read of stored measures in process (never over HTTP):
the measures of a metric, dynamic aggregates over metric ids or over a resource search, Gnocchi's
cross-metric aggregation, value searches, and the entry points the alarm evaluator uses
(:meth:`Query.resource_metric_measures`, :meth:`Query.aggregate_metrics`, :meth:`Query.aggregate_resources`,
:meth:`Query.read_many`).  Every read takes the caller's :class:`~telescale.query.scope.Scope`, a plain
value: nothing here knows about HTTP requests, identities or policy files.  What a scope does not see is
reported as not existing.  Errors are the typed :mod:`telescale.query.errors` (all :class:`QueryError`), so
a caller tells a wrong question from a failing store.

``rate:<m>`` in the evaluator's entry points, as Aodh's Gnocchi evaluator asks for it: for one resource's
metric (``gnocchi_resources_threshold``) it is the stored ``rate:<m>`` column, which the metric's policy
must list; across metrics (``gnocchi_aggregation_by_metrics_threshold`` / ``…_by_resources_threshold``,
Aodh ≥ 14 sends ``(aggregate rate:<m> (metric … <m>))``) each metric's ``<m>`` series is read and the
``<m>`` across metrics is differentiated over time (the difference between consecutive points).
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from telescale import indexer as idx
from telescale.indexer import search as search_language
from telescale.query import cross_metric as cross
from telescale.query import metric_search
from telescale.query.aggregates import resources as agg_resources
from telescale.query.aggregates.evaluate import Reference, Result, evaluate
from telescale.query.aggregates.operations import AGGREGATE_METHODS
from telescale.query.aggregates.parser import Aggregation, MetricNode, Node, Ref
from telescale.query.aggregates.references import MetricReferences, metric_columns, parse_metric_ids
from telescale.query.availability import require
from telescale.query.batch import Column, Entry, read_series_batch
from telescale.query.errors import (
    InvalidFilter,
    InvalidReaggregation,
    NoSuchMetric,
    NoSuchResource,
    NoSuchResourceType,
    RefreshTimeout,
    UnknownGroupby,
)
from telescale.query.measures import Measures, get_measures
from telescale.query.scope import Scope
from telescale.query.value_search import Predicate
from telescale.storage.base import StorageDriver
from telescale.timeseries.policy import RATE_PREFIX

__all__ = ["Query", "ResourceSearch", "Series"]

Refresher = Callable[[uuid.UUID, float], None]


@dataclass(frozen=True)
class Series:
    """One series answered to the evaluator: ``timestamps`` (int64 ns) and ``values`` (float64), and the
    metrics read to compute it (so that new measures of any of them can trigger the alarm again)."""

    timestamps: np.ndarray
    values: np.ndarray
    metric_ids: tuple[uuid.UUID, ...]
    granularity: int


@dataclass(frozen=True)
class ResourceSearch:
    """Which resources a read covers: the type, a parsed filter (None: all), the grouping, and whether each
    past revision counts (``history``).  ``id_transform`` maps a non-UUID ``id`` in the filter to the
    stored id (Gnocchi's uuid5 with the caller as creator)."""

    type: str
    filter: Any = None
    groupby: tuple[str, ...] = ()
    history: bool = False
    id_transform: Callable[[str], uuid.UUID] | None = field(default=None, compare=False)


def parse_filter(value: Any) -> Any:
    """A search filter given as Gnocchi's JSON dict or its string form (None: every resource)."""
    try:
        if value is None:
            return None
        if isinstance(value, str):
            return search_language.parse_string_filter(value)
        return search_language.parse_json_filter(value)
    except search_language.InvalidSearch as e:
        raise InvalidFilter(e) from None


class Query:
    """Reads for one process, over its drivers; thread-safe (the drivers are)."""

    def __init__(self, indexer: idx.Indexer, storage: StorageDriver, refresh: Refresher | None = None,
                 locked: tuple[type[BaseException], ...] = ()) -> None:
        """``refresh(metric_id, timeout)`` processes a metric's pending measures now (``Drivers.refresh``);
        it raises one of ``locked`` when the metric's sack stays locked (reported as :class:`RefreshTimeout`)."""
        self.indexer = indexer
        self.storage = storage
        self._refresh = refresh
        self._locked = locked

    # -----------------------------------------------------------------------------------------------
    # Lookups and scope

    def find_metrics(self, ids: Sequence[uuid.UUID]) -> list[idx.Metric]:
        """The active metrics among ``ids``, in the order asked, whatever the scope: for callers that check
        access themselves and must tell "does not exist" from "forbidden" (the API, as Gnocchi)."""
        return self.indexer.get_metrics(list(ids))

    def invisible(self, scope: Scope, metrics: Iterable[Any]) -> list[Any]:
        """Those of ``metrics`` the scope does not see (see :mod:`telescale.query.scope`): at most one
        indexer query, only for metrics the project did not create itself."""
        if not scope.restricted:
            return []
        rest = [m for m in metrics if idx.split_creator(m.creator)[1] != scope.project]
        attached = sorted({str(m.resource_id) for m in rest if m.resource_id is not None})
        seen: set[uuid.UUID] = set()
        if attached:
            owners = Scope.of_project(scope.project or "")  # a metric's resource: either clause
            node = owners.narrow(search_language.parse_json_filter({"in": {"id": attached}}))
            seen = {r.id for r in self.indexer.list_resources("generic", filter_node=node)}
        return [m for m in rest if m.resource_id not in seen]

    def check_visible(self, scope: Scope, metrics: Iterable[Any]) -> None:
        """:class:`NoSuchMetric` naming the metrics the scope does not see."""
        hidden = self.invisible(scope, metrics)
        if hidden:
            raise NoSuchMetric([str(m.id) for m in hidden])

    def visible_metrics(self, scope: Scope, ids: Sequence[uuid.UUID]) -> list[idx.Metric]:
        """The active metrics among ``ids`` that the scope sees, in the order asked."""
        metrics = self.find_metrics(ids)
        hidden = {m.id for m in self.invisible(scope, metrics)}
        return [m for m in metrics if m.id not in hidden]

    def search_resources(self, scope: Scope, search: ResourceSearch, patterns: Sequence[str]) -> list[Any]:
        """The resources of ``search`` the scope sees, each with its active metrics whose names match one of
        ``patterns`` (fnmatch); with ``history`` one entry per revision."""
        try:
            return self.indexer.search_resource_metrics(
                search.type, patterns, filter_node=scope.narrow(search.filter), groupby=list(search.groupby),
                history=search.history, id_transform=search.id_transform)
        except idx.NoSuchResourceType:
            raise NoSuchResourceType(search.type) from None
        except idx.UnknownGroupby as e:
            raise UnknownGroupby(e) from None
        except (search_language.InvalidSearch, idx.InvalidFilter, idx.ResourceAttributeError) as e:
            raise InvalidFilter(e) from None

    def list_resources(self, scope: Scope, search: ResourceSearch) -> list[idx.Resource]:
        """The resources (revisions with ``history``) of ``search`` the scope sees, whole: for showing them."""
        return self.indexer.list_resources(search.type, filter_node=scope.narrow(search.filter),
                                           history=search.history, id_transform=search.id_transform)

    def refresh(self, metric_ids: Iterable[uuid.UUID], timeout: float) -> None:
        """Process the pending measures of these metrics now (nothing without a refresher); raises
        :class:`RefreshTimeout` naming the first metric whose sack stayed locked."""
        if self._refresh is None:
            return
        for mid in dict.fromkeys(metric_ids):
            try:
                self._refresh(mid, timeout)
            except self._locked:
                raise RefreshTimeout(mid) from None

    # -----------------------------------------------------------------------------------------------
    # The API's reads

    def measures(self, scope: Scope, metric: Any, method: str, *, granularity: int | None = None,
                 start: int | None = None, stop: int | None = None, resample: int | None = None,
                 calendar: str | None = None, refresh_timeout: float | None = None) -> Measures:
        """:func:`telescale.query.measures.get_measures` of a metric the scope sees."""
        self.check_visible(scope, [metric])
        require(metric, method, granularity)
        if refresh_timeout is not None:
            self.refresh([metric.id], refresh_timeout)
        return get_measures(self.storage, metric, method, granularity=granularity, start=start, stop=stop,
                            resample=resample, calendar=calendar)

    def metric_references(self, refs: Sequence[Ref]) -> MetricReferences:
        """The columns of an operations tree over metric ids, whatever the scope (for callers that check
        access themselves, like :meth:`find_metrics`): :class:`InvalidMetricReference` for a reference
        that is not a UUID, :class:`NoSuchMetric` listing the ids that do not exist."""
        ids = parse_metric_ids(refs)
        return metric_columns(refs, ids, {m.id: m for m in self.find_metrics(list(dict.fromkeys(ids)))})

    def aggregates(self, scope: Scope, tree: Node, refs: MetricReferences, *, refresh_timeout: float | None = None,
                   **options: Any) -> Result:
        """``tree`` over metric ids (``options``: start, stop, granularity, needed_overlap, fill)."""
        self.check_visible(scope, refs.metrics)
        if refresh_timeout is not None:
            self.refresh((m.id for m in refs.metrics), refresh_timeout)
        return evaluate(self.storage, tree, refs.columns, refs.lookup, **options)

    def resource_aggregates(self, scope: Scope, search: ResourceSearch, tree: Node, patterns: Sequence[Ref], *,
                            refresh_timeout: float | None = None, **options: Any
                            ) -> list[agg_resources.Group] | list[agg_resources.HistoryGroup]:
        """``tree`` over the resources of ``search``: one group, one per group-by value, or with history one
        per group over each revision's window (see :mod:`telescale.query.aggregates.resources`)."""
        resources = self.search_resources(scope, search, [p for p, _ in patterns])
        if refresh_timeout is not None:
            self.refresh(agg_resources.metric_ids(resources), refresh_timeout)
        if search.history and search.groupby:
            return agg_resources.evaluate_history(self.storage, tree, patterns, resources, **options)
        groups = agg_resources.group_resources(resources) if search.groupby else [((), list(resources))]
        return agg_resources.evaluate_groups(self.storage, tree, patterns, groups, **options)

    def cross_metric(self, scope: Scope, metrics: Sequence[Any], args: cross.CrossMetricArgs, *,
                     refresh_timeout: float | None = None) -> Result | None:
        """Gnocchi's cross-metric aggregation of ``metrics`` (None when there are none)."""
        if not metrics:
            return None
        self.check_visible(scope, metrics)
        grans = cross.check(metrics, args)
        if refresh_timeout is not None:
            self.refresh((m.id for m in metrics), refresh_timeout)
        return cross.compute(self.storage, metrics, grans, args)

    def search_values(self, scope: Scope, metrics: Sequence[Any], method: str, granularities: Sequence[int] | None,
                      predicate: Predicate, *, start: int | None = None, stop: int | None = None,
                      refresh_timeout: float | None = None) -> metric_search.Found:
        """The points of each metric (at its granularities, or those given) that ``predicate`` keeps."""
        self.check_visible(scope, metrics)
        planned = metric_search.plan(metrics, method, granularities)
        if refresh_timeout is not None:
            self.refresh((m.id for m in metrics), refresh_timeout)
        return metric_search.search(self.storage, planned, method, predicate, start, stop)

    # -----------------------------------------------------------------------------------------------
    # The alarm evaluator's reads

    def read_many(self, metrics: Sequence[Any], method: str, granularity: int, start: int | None,
                  stop: int | None) -> list[Column]:
        """``(timestamps, values)`` of ``method`` at ``granularity`` for each metric, in one batched read.

        The metrics come from a scoped lookup (:meth:`visible_metrics`); raises
        :class:`UnknownAggregationMethod` / :class:`UnknownGranularity` for one whose policy lacks them.
        """
        entries = []
        for m in metrics:
            require(m, method, granularity)
            item = m.archive_policy.item(int(granularity))
            entries.append(Entry(m.id, item, method))
        return read_series_batch(self.storage, entries, start, stop)

    def resource_metric_measures(self, scope: Scope, resource_type: str, resource_id: uuid.UUID | str,
                                 metric_name: str, method: str, granularity: int, start: int | None,
                                 stop: int | None) -> Series:
        """The measures of one resource's metric (Aodh's ``gnocchi_resources_threshold``).

        ``resource_id``: the resource's UUID, or the id the client gave it (``original_resource_id``).
        Raises :class:`NoSuchResourceType`, :class:`NoSuchResource`, :class:`NoSuchMetric`,
        :class:`UnknownAggregationMethod`, :class:`UnknownGranularity`.
        """
        resource = self._resource(scope, resource_type, resource_id)
        mid = resource.metrics.get(metric_name)
        metrics = self.find_metrics([mid]) if mid is not None else []
        if not metrics:
            raise NoSuchMetric([metric_name])
        (ts, values), = self.read_many(metrics, method, granularity, start, stop)
        return Series(ts, values, (metrics[0].id,), int(granularity))

    def aggregate_metrics(self, scope: Scope, metric_ids: Sequence[uuid.UUID], method: str, granularity: int,
                          start: int | None, stop: int | None, needed_overlap: float = 0.0) -> Series:
        """``aggregate <method>`` across the metrics (Aodh's ``gnocchi_aggregation_by_metrics_threshold``).

        Raises :class:`NoSuchMetric` listing the ids that do not exist or are not visible, and the errors of
        :meth:`read_many`; see the module docstring for ``rate:``.
        """
        ids = [uuid.UUID(str(i)) for i in metric_ids]
        metrics = self.visible_metrics(scope, ids)
        found = {m.id for m in metrics}
        missing = [str(i) for i in dict.fromkeys(ids) if i not in found]
        if missing:
            raise NoSuchMetric(missing)
        return self._aggregate(metrics, method, granularity, start, stop, needed_overlap)

    def aggregate_resources(self, scope: Scope, resource_type: str, search: dict[str, Any] | str | None,
                            metric_name: str, method: str, granularity: int, start: int | None, stop: int | None,
                            needed_overlap: float = 0.0) -> Series:
        """``aggregate <method>`` across the metric ``metric_name`` (a pattern, as in ``(metric cpu mean)``)
        of the resources ``search`` finds (Aodh's ``gnocchi_aggregation_by_resources_threshold``).

        Raises :class:`NoSuchResourceType`, :class:`InvalidFilter`, :class:`NoSuchMetric` when no resource
        has the metric, and the errors of :meth:`read_many`.
        """
        matched = self.search_resources(scope, ResourceSearch(resource_type, parse_filter(search)), [metric_name])
        metrics = list({m.id: m for r in matched for m in r.metrics}.values())
        if not metrics:
            raise NoSuchMetric([metric_name])
        return self._aggregate(metrics, method, granularity, start, stop, needed_overlap)

    def _aggregate(self, metrics: Sequence[Any], method: str, granularity: int, start: int | None,
                   stop: int | None, needed_overlap: float) -> Series:
        """``(aggregate method (metric m1 base) (metric m2 base) …)`` at one granularity, points without
        a value left out; ``base`` is ``method`` without ``rate:``."""
        if method not in AGGREGATE_METHODS:
            raise InvalidReaggregation(method, AGGREGATE_METHODS)
        base = method.removeprefix(RATE_PREFIX)
        for m in metrics:
            require(m, base, granularity)
        refs = [Reference(m, base, str(m.id)) for m in metrics]
        tree = Aggregation("aggregate", method, MetricNode(tuple((r.name, base) for r in refs)))
        lookup = {(r.name, base): [i] for i, r in enumerate(refs)}
        result = evaluate(self.storage, tree, refs, lookup, start=start, stop=stop, granularity=int(granularity),
                          needed_overlap=needed_overlap, fill=None)
        (_, ts, values), = result.series[None]
        keep = ~np.isnan(values)
        return Series(ts[keep], values[keep], tuple(m.id for m in metrics), int(granularity))

    def _resource(self, scope: Scope, resource_type: str, resource_id: uuid.UUID | str) -> idx.Resource:
        """The resource of this type the scope sees, by UUID or by the id its creator gave."""
        try:
            rid = resource_id if isinstance(resource_id, uuid.UUID) else uuid.UUID(str(resource_id))
        except ValueError:
            rid = None
        try:
            if rid is not None:
                found = self.indexer.get_resource(resource_type, rid)
                resources = [found] if found is not None else []
            else:
                by_name = search_language.parse_json_filter({"=": {"original_resource_id": str(resource_id)}})
                resources = self.indexer.list_resources(resource_type, filter_node=by_name, limit=2)
        except idx.NoSuchResourceType:
            raise NoSuchResourceType(resource_type) from None
        visible = [r for r in resources if scope.sees_resource(r.project_id, r.created_by_project_id)]
        if len(visible) != 1:
            raise NoSuchResource(resource_id)
        return visible[0]

