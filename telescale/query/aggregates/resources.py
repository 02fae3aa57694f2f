"""Dynamic aggregates over the resources a search matched: references, groups, history windows.

The router asks the indexer for the matched resources with only the metrics whose names can match
(:meth:`telescale.indexer.Indexer.search_resource_metrics`, one query); everything here is then pure
apart from reading the series, which happens once for all groups, in parallel threads
(:func:`telescale.query.aggregates.evaluate.read_columns`), before each group is computed with numpy.

Gnocchi's semantics (``gnocchi/rest/aggregates/api.py``), and where we differ on purpose:

* each ``(pattern, method)`` of the operations is matched with fnmatch against the metric names of
  every resource; a metric matched by two patterns is one column here (Gnocchi reads and counts it
  twice);
* ``groupby``: resources are grouped by the values of those attributes, groups ordered by value (None
  last); a group where nothing matched is left out, and if nothing matched anywhere the answer is 404;
* ``use_history``: every revision of a resource contributes over its own time window (the first one
  from the beginning of time, the current one without end), clipped to ``start``/``stop``; the operations
  are evaluated per resource and window, each point weighted by the part of its bucket the window covers,
  and the points of a group that share a timestamp and granularity are combined with the method of the
  outermost ``aggregate`` (:func:`combine_by_time`): ``mean`` a weighted mean, ``sum`` and ``count`` a
  weighted sum, any other method applied to the points whose weight is not zero.  So a group of two
  resources valued 10 and 30 answers 20 for ``mean`` and 30 for ``max``, as without ``use_history``.
  Gnocchi 4.7.1 sums the weighted points whatever the method (its intent: 40 for both), but first merges
  the windows of different resources that start at the same time, so it actually answers the value of
  one resource per group (10 or 30 here, by resource id); an outermost operation other than
  ``aggregate`` keeps Gnocchi's weighted sum.
"""

from __future__ import annotations

import fnmatch
import uuid
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

import numpy as np

from telescale.query.aggregates.evaluate import (
    Measures,
    Reference,
    Result,
    compute,
    pick_granularities,
    read_columns,
)
from telescale.query.aggregates.parser import Aggregation, Node, Ref
from telescale.query.errors import InvalidQuery, NoSuchMetric, NotFound
from telescale.storage.base import StorageDriver
from telescale.timeseries import aggregation

__all__ = [
    "Group",
    "HistoryGroup",
    "NoMetricMatched",
    "NotAggregated",
    "evaluate_groups",
    "evaluate_history",
    "group_resources",
    "match",
    "name_matches",
    "no_metric_message",
]

NS = 1_000_000_000
BATCH_SERIES = 4096  # series read (and held) at once by evaluate_groups


class MetricLike(Protocol):
    id: uuid.UUID
    name: str | None
    archive_policy: Any


class ResourceLike(Protocol):
    """What the indexer's ``MatchedResource`` gives: the resource, its group values, its matched metrics."""

    id: uuid.UUID
    group: tuple[Any, ...]
    metrics: Sequence[Any]
    revision: int
    revision_start: datetime | None
    revision_end: datetime | None


class NoMetricMatched(NoSuchMetric):
    """No resource has a metric matching any reference (Gnocchi's 404 ``NoSuchMetric``)."""

    def __init__(self, patterns: Iterable[str]) -> None:
        self.patterns = sorted(set(patterns))
        self.metrics = list(self.patterns)
        NotFound.__init__(self, no_metric_message(self.patterns))


class NotAggregated(InvalidQuery):
    """``use_history`` needs operations that end in one series per group (HTTP 400)."""


def no_metric_message(patterns: Iterable[str]) -> str:
    """Gnocchi's text: ``Metric ['foobar', 'notexists'] does not exist``."""
    return f"Metric {sorted(set(patterns))!r} does not exist"


def name_matches(name: str | None, pattern: str) -> bool:
    """fnmatch as Gnocchi uses it, but case-sensitive on every platform."""
    return name is not None and fnmatch.fnmatchcase(name, pattern)


def match(resources: Sequence[ResourceLike], patterns: Sequence[Ref]) -> tuple[list[Reference], dict[Ref, list[int]]]:
    """The columns (one per distinct metric and method) and, per ``(pattern, method)``, its columns.

    Order as Gnocchi: resource by resource, then pattern by pattern, then the resource's metrics.
    """
    columns: list[Reference] = []
    index: dict[tuple[uuid.UUID, str], int] = {}
    lookup: dict[Ref, list[int]] = {p: [] for p in patterns}
    for r in resources:
        for pattern, method in patterns:
            for m in r.metrics:
                if not name_matches(m.name, pattern):
                    continue
                key = (m.id, method)
                if key not in index:
                    index[key] = len(columns)
                    columns.append(Reference(m, method, m.name, resource=r.id))
                lookup[(pattern, method)].append(index[key])
    return columns, lookup


def _sort_key(values: tuple[Any, ...]) -> tuple[Any, ...]:
    # None last, as SQL's ascending order; the type name keeps mixed JSON values comparable.
    return tuple((v is None, type(v).__name__, v) for v in values)


def group_resources(resources: Iterable[ResourceLike]) -> list[tuple[tuple[Any, ...], list[ResourceLike]]]:
    """Resources by their ``group`` values, groups in ascending order of those values (None last)."""
    groups: dict[tuple[Any, ...], list[ResourceLike]] = {}
    for r in resources:
        groups.setdefault(tuple(r.group), []).append(r)
    return sorted(groups.items(), key=lambda kv: _sort_key(kv[0]))


@dataclass
class Group:
    """One group of resources and its result; ``result`` is None when none of its metrics matched."""

    key: tuple[Any, ...]
    resources: list[ResourceLike]
    references: list[Reference] = field(default_factory=list)
    result: Result | None = None


def evaluate_groups(
    storage: StorageDriver,
    tree: Node,
    patterns: Sequence[Ref],
    groups: Sequence[tuple[tuple[Any, ...], list[ResourceLike]]],
    *,
    start: int | None = None,
    stop: int | None = None,
    granularity: int | None = None,
    needed_overlap: float | None = 100.0,
    fill: float | str | None = None,
) -> list[Group]:
    """Compute ``tree`` for every group; groups without a matching metric keep ``result=None``.

    Errors are raised for the first group (in order) that has one, as Gnocchi does, before anything is
    read.  The series are then read in parallel passes of about :data:`BATCH_SERIES` series (whole groups
    at a time), each group computed on its own columns and its series dropped: memory stays bounded
    however many resources matched (Gnocchi holds them all, gnocchi#1111).  Raises
    :class:`NoMetricMatched` when no group matched anything.
    """
    out: list[Group] = []
    plans: list[tuple[Group, dict[Ref, list[int]], list[int]]] = []
    for key, members in groups:
        refs, lookup = match(members, patterns)
        group = Group(key, members, refs)
        out.append(group)
        if not refs:
            continue
        grans = pick_granularities(refs, granularity)
        plans.append((group, lookup, grans))
    if not plans:
        raise NoMetricMatched(p for p, _ in patterns)
    batch: list[tuple[Group, dict[Ref, list[int]], list[int]]] = []
    size = 0
    for i, plan in enumerate(plans):
        batch.append(plan)
        size += len(plan[0].references) * len(plan[2])
        if size >= BATCH_SERIES or i == len(plans) - 1:
            wanted = [(r, g) for group, _, grans in batch for g in grans for r in group.references]
            data = read_columns(storage, wanted, start, stop)
            for group, lookup, grans in batch:
                group.result = compute(tree, group.references, lookup, grans, data, start=start, stop=stop,
                                       needed_overlap=needed_overlap, fill=fill)
            batch, size = [], 0
    return out


# ---------------------------------------------------------------------------------------------------
# use_history


def _ns(value: datetime | None) -> int | None:
    if value is None:
        return None
    return int(round(value.timestamp() * 1_000_000)) * 1000


@dataclass
class Window:
    """Where one resource's revisions in one group contribute: ``[start, stop)``, None for unbounded."""

    resource: ResourceLike
    start: int | None
    stop: int | None
    revisions: list[ResourceLike] = field(default_factory=list)


def history_windows(revisions: Sequence[ResourceLike], start: int | None,
                    stop: int | None) -> list[tuple[tuple[Any, ...], list[Window]]]:
    """Per group (ordered by value), the windows of each resource's revisions in that group.

    A revision covers ``[revision_start, revision_end)``; a resource's first revision reaches back to the
    beginning of time (measures before a resource was created are its first revision's).  Consecutive
    revisions of a resource that land in the same group make one window.  Windows are clipped to
    ``[start, stop)`` and empty ones dropped.
    """
    by_resource: dict[uuid.UUID, list[ResourceLike]] = {}
    for r in revisions:
        by_resource.setdefault(r.id, []).append(r)
    groups: dict[tuple[Any, ...], list[Window]] = {}
    for revs in by_resource.values():
        revs.sort(key=lambda r: (_ns(r.revision_start) or 0, r.revision == -1, r.revision))
        previous: Window | None = None
        previous_key: tuple[Any, ...] | None = None
        for i, r in enumerate(revs):
            lo = None if i == 0 else _ns(r.revision_start)
            hi = _ns(r.revision_end)
            key = tuple(r.group)
            if previous is not None and previous_key == key and previous.stop == lo:
                previous.stop = hi
                previous.revisions.append(r)
                continue
            previous, previous_key = Window(r, lo, hi, [r]), key
            groups.setdefault(key, []).append(previous)
    out = []
    for key, windows in sorted(groups.items(), key=lambda kv: _sort_key(kv[0])):
        clipped = []
        for w in windows:
            lo = w.start if start is None else (start if w.start is None else max(start, w.start))
            hi = w.stop if stop is None else (stop if w.stop is None else min(stop, w.stop))
            if lo is None or hi is None or lo < hi:
                clipped.append(Window(w.resource, lo, hi, w.revisions))
        if clipped:
            out.append((key, clipped))
    return out


@dataclass
class HistoryGroup:
    key: tuple[Any, ...]
    measures: Measures
    revisions: list[ResourceLike]


def coverage(times: np.ndarray, granularity: int, start: int | None, stop: int | None) -> np.ndarray:
    """The part of each bucket ``[t, t + granularity)`` inside ``[start, stop)`` (1 when unbounded)."""
    lo = times if start is None else np.maximum(times, start)
    hi = times + granularity if stop is None else np.minimum(times + granularity, stop)
    return (hi - lo).astype(np.float64) / granularity


def combine_by_time(parts: Sequence[tuple[int, np.ndarray, np.ndarray, np.ndarray]], method: str | None) -> Measures:
    """Weighted points ``(granularity, times, values, weights)`` of one group, combined per (granularity,
    timestamp) with ``method`` (None: Gnocchi's weighted sum), coarsest granularity first."""
    by_gran: dict[int, list[tuple[np.ndarray, np.ndarray, np.ndarray]]] = {}
    for g, t, v, w in parts:
        by_gran.setdefault(g, []).append((t, v, w))
    out: Measures = []
    for g in sorted(by_gran, reverse=True):
        ts, vs, ws = (np.concatenate(column) for column in zip(*by_gran[g], strict=True))
        covered = ws > 0
        ts, vs, ws = ts[covered], vs[covered], ws[covered]
        if method in (None, "sum", "count", "mean"):
            groups = aggregation.group(ts, vs * ws)
            combined = aggregation.aggregate(groups, "sum")
            if method == "mean":  # same keys in the same order: group() sorts stably by the same timestamps
                combined = combined / aggregation.aggregate(aggregation.group(ts, ws), "sum")
        else:
            groups = aggregation.group(ts, vs)
            combined = aggregation.aggregate(groups, method)
        out.append((g, groups.keys.astype(np.int64), combined))
    return out


def _combining_method(tree: Node) -> str | None:
    """The method that combines a group's resources under ``use_history`` (see the module docstring)."""
    if isinstance(tree, Aggregation) and tree.op == "aggregate" and tree.method in aggregation.AGGREGATORS:
        return tree.method
    return None


def evaluate_history(
    storage: StorageDriver,
    tree: Node,
    patterns: Sequence[Ref],
    revisions: Sequence[ResourceLike],
    *,
    start: int | None = None,
    stop: int | None = None,
    granularity: int | None = None,
    needed_overlap: float | None = 100.0,
    fill: float | str | None = None,
) -> list[HistoryGroup]:
    """``groupby`` with ``use_history``: see the module docstring.  Raises :class:`NoMetricMatched` when
    nothing matched and :class:`NotAggregated` when the operations do not reduce to one series."""
    out: list[HistoryGroup] = []
    matched_any = False
    method = _combining_method(tree)
    for key, windows in history_windows(revisions, start, stop):
        parts: list[tuple[int, np.ndarray, np.ndarray, np.ndarray]] = []
        contributors: list[ResourceLike] = []
        for w in windows:
            refs, lookup = match([w.resource], patterns)
            if not refs:
                continue
            matched_any = True
            grans = pick_granularities(refs, granularity)
            data = read_columns(storage, [(r, g) for g in grans for r in refs], w.start, w.stop)
            result = compute(tree, refs, lookup, grans, data, start=w.start, stop=w.stop,
                             needed_overlap=needed_overlap, fill=fill)
            if not result.aggregated:
                raise NotAggregated("use_history needs operations that aggregate the metrics to one series "
                                    "(e.g. '(aggregate mean (metric cpu mean))')")
            series = result.series.get(None, [])
            for g, t, v in series:
                parts.append((g, t, v, coverage(t, g, w.start, w.stop)))
            if any(t.size for _, t, _ in series):
                contributors.extend(w.revisions)
        measures = combine_by_time(parts, method)
        if any(t.size for _, t, _ in measures):
            out.append(HistoryGroup(key, measures, contributors))
    if not matched_any:
        raise NoMetricMatched(p for p, _ in patterns)
    return out


def results_by_resource(refs: Sequence[Reference], result: Result) -> dict[str, dict[str, dict[str, Measures]]]:
    """A non-aggregated result as Gnocchi nests it: resource id → metric name → method → measures."""
    out: dict[str, dict[str, dict[str, Measures]]] = {}
    for i, ref in enumerate(refs):
        by_name = out.setdefault(str(ref.resource), {}).setdefault(ref.name, {})
        by_name.setdefault(ref.method, []).extend(result.series.get(i, []))
    return out


def metric_ids(resources: Iterable[ResourceLike]) -> Mapping[uuid.UUID, Any]:
    return {m.id: m for r in resources for m in r.metrics}
