"""Evaluate an operations tree: read each referenced series once, align, fill, then walk the tree.

Pure apart from the reads, which go through the batched read path (:mod:`telescale.query.batch`): every
series of every granularity in one batch.  One pass per granularity, coarsest first, as Gnocchi.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from telescale.query.aggregates import operations as ops
from telescale.query.aggregates.align import DROPPING_FILLS, align, check_overlap
from telescale.query.aggregates.operations import Series, UnAggregableTimeseries
from telescale.query.aggregates.parser import Aggregation, Apply, Constant, MetricNode, Node, Ref
from telescale.query.availability import common_granularities, lacks, require
from telescale.query.batch import READ_THREADS, Column, Entry, read_series_batch
from telescale.query.errors import NotFound
from telescale.query.measures import MetricLike
from telescale.storage.base import StorageDriver

__all__ = ["AggregationDoesNotExist", "Reference", "Result", "compute", "evaluate", "pick_granularities",
           "read_columns", "read_key"]

NS = 1_000_000_000
Measures = list[tuple[int, np.ndarray, np.ndarray]]
ReadKey = tuple[uuid.UUID, str, int]  # (metric id, method, granularity ns)


class AggregationDoesNotExist(NotFound):
    """A reference names a method its metric's archive policy does not compute (HTTP 404)."""

    def __init__(self, reference: Reference) -> None:
        self.reference = reference
        super().__init__(f"Aggregation method '{reference.method}' does not exist for metric {reference.metric.id}")


@dataclass(frozen=True)
class Reference:
    """One column of the computation: a metric, the stored method read from it, and its output name."""

    metric: MetricLike
    method: str
    name: str
    resource: Any = field(default=None, compare=False)

    @property
    def lookup_key(self) -> list[str]:
        return [self.name, self.method]


@dataclass
class Result:
    """``aggregated``: one series under ``series[None]``; otherwise ``series[i]`` for reference i."""

    aggregated: bool
    series: dict[int | None, Measures]


def pick_granularities(refs: Sequence[Reference], granularity: int | None) -> list[int]:
    """The granularities to compute, coarsest first; Gnocchi's errors when they do not all exist."""
    if granularity is None:
        grans = common_granularities(r.metric for r in refs)
        if not grans:
            raise UnAggregableTimeseries([r.lookup_key for r in refs], "No granularity match")
    else:
        grans = [int(granularity)]
    missing: list[list[Any]] = []
    for r in refs:
        if lacks(r.metric, r.method) is not None:
            raise AggregationDoesNotExist(r)
        absent = [g for g in grans if lacks(r.metric, None, g) is not None]
        if absent:
            missing.append([r.name, r.method, absent[0] / NS])
    if missing:
        raise UnAggregableTimeseries(missing, "Granularities are missing")
    return grans


def read_key(ref: Reference, granularity: int) -> ReadKey:
    """What one read fetches: the same metric, method and granularity read once however often referenced."""
    return (ref.metric.id, ref.method, int(granularity))


def read_columns(storage: StorageDriver, wanted: Iterable[tuple[Reference, int]], start: int | None,
                 stop: int | None, *, threads: int = READ_THREADS) -> dict[ReadKey, Column]:
    """Read every ``(reference, granularity)`` once, all in one batch (:func:`read_series_batch`).

    Raises the policy's error (:mod:`telescale.query.availability`) for a series it does not compute.
    """
    todo: dict[ReadKey, Entry] = {}
    for ref, g in wanted:
        key = read_key(ref, g)
        if key not in todo:
            item = ref.metric.archive_policy.item(int(g))
            if item is None or ref.method not in ref.metric.archive_policy.aggregation_methods:
                require(ref.metric, ref.method, g)  # raises what is missing
            assert item is not None
            todo[key] = Entry(ref.metric.id, item, ref.method)
    columns = read_series_batch(storage, list(todo.values()), start, stop, threads=threads, copy=False)
    return dict(zip(todo, columns, strict=True))


class _Walker:
    def __init__(self, lookup: Mapping[Ref, Sequence[int]], keys: list[list[str]], base: Series) -> None:
        self.lookup = lookup
        self.keys = keys
        self.base = base

    def walk(self, node: Node) -> Series:
        b = self.base
        if isinstance(node, Constant):
            return Series(b.granularity, b.times, node.value, False)
        if isinstance(node, MetricNode):
            idx = sorted({i for r in node.refs for i in self.lookup.get(r, ())})
            if idx == list(range(b.values.shape[1])):  # every column in order: no copy of the whole grid
                return Series(b.granularity, b.times, b.values, False)
            return Series(b.granularity, b.times, b.values[:, idx], False)
        if isinstance(node, Aggregation):
            child = self.walk(node.operand)
            if node.op == "aggregate":
                return ops.aggregate(node.method, child)
            if node.op == "rolling":
                return ops.rolling(node.method, node.window or 1, child, self.keys)
            return ops.resample(node.method, node.granularity or child.granularity, child)
        if isinstance(node, Apply):
            children = [self.walk(o) for o in node.operands]
            return ops.apply(node.op, children, b, labels=[_show(o) for o in node.operands],
                             references=self.keys)
        raise TypeError(f"not an operations node: {node!r}")


def _show(node: Node) -> str:
    """A node as Gnocchi prints it in messages (the nested list)."""
    if isinstance(node, Constant):
        return repr(node.value)
    if isinstance(node, MetricNode):
        return repr(["metric", *[list(r) for r in node.refs]])
    if isinstance(node, Aggregation):
        extra = [node.window] if node.op == "rolling" else [node.granularity / NS] if node.op == "resample" else []
        return f"['{node.op}', '{node.method}', {', '.join(repr(x) for x in extra)}{', ' if extra else ''}" \
               f"{_show(node.operand)}]"
    return f"['{node.op}', {', '.join(_show(o) for o in node.operands)}]"


def _keep(values: np.ndarray, fill: Any) -> np.ndarray | None:
    if fill in DROPPING_FILLS:
        return np.isfinite(values)
    return None


def evaluate(
    storage: StorageDriver,
    tree: Node,
    refs: Sequence[Reference],
    lookup: Mapping[Ref, Sequence[int]],
    *,
    start: int | None = None,
    stop: int | None = None,
    granularity: int | None = None,
    needed_overlap: float | None = 100.0,
    fill: float | str | None = None,
) -> Result:
    """Compute ``tree`` over ``refs``; ``lookup`` maps each ``(metric, method)`` of the tree to columns.

    Raises :class:`UnAggregableTimeseries` (400) and :class:`AggregationDoesNotExist` (404).
    """
    grans = pick_granularities(refs, granularity)
    data = read_columns(storage, [(r, g) for g in grans for r in refs], start, stop)
    return compute(tree, refs, lookup, grans, data, start=start, stop=stop, needed_overlap=needed_overlap,
                   fill=fill)


def compute(
    tree: Node,
    refs: Sequence[Reference],
    lookup: Mapping[Ref, Sequence[int]],
    grans: Sequence[int],
    data: Mapping[ReadKey, Column],
    *,
    start: int | None = None,
    stop: int | None = None,
    needed_overlap: float | None = 100.0,
    fill: float | str | None = None,
) -> Result:
    """:func:`evaluate` once the series are read (``data`` from :func:`read_columns`): pure numpy.

    Kept apart so that many groups of references can share one parallel read of all their series.
    """
    keys = [r.lookup_key for r in refs]
    per_gran: list[Series] = []
    for g in grans:
        times, grid = align([data[read_key(r, g)] for r in refs], fill, granularity=g)
        if fill is None:
            times, grid = check_overlap(times, grid, 100.0 if needed_overlap is None else needed_overlap,
                                        start, stop, keys)
        per_gran.append(_Walker(lookup, keys, Series(g, times, grid)).walk(tree))
    aggregated = any(s.aggregated for s in per_gran)
    out: dict[int | None, Measures] = {}
    for s in per_gran:
        values = s.values if isinstance(s.values, np.ndarray) else np.full((len(s.times), 1), s.values)
        columns = [None] if aggregated else list(range(values.shape[1]))
        for j, key in enumerate(columns):
            col = values[:, j] if values.shape[1] else np.empty(len(s.times))
            keep = _keep(col, fill)
            t = s.times if keep is None else s.times[keep]
            v = col if keep is None else col[keep]
            out.setdefault(key, []).append((s.granularity, t, v))
    return Result(aggregated, out)
