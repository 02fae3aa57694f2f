"""Gnocchi's deprecated cross-metric aggregation (``/v1/aggregation/metric`` and ``/v1/aggregation/resource``).

The measures of one metric, or ``reaggregation`` of the ``aggregation`` series of several metrics, at the
granularities they all have.  The checks come first, in Gnocchi's order (:func:`check`), so that a caller
may refresh pending measures only for a question that can be answered; :func:`compute` then reads.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from telescale.query.aggregates.evaluate import Reference, Result, evaluate
from telescale.query.aggregates.operations import AGGREGATE_METHODS, UnAggregableTimeseries
from telescale.query.aggregates.parser import Aggregation, MetricNode, Node
from telescale.query.availability import common_granularities, lacks, require
from telescale.query.errors import CalendarNeedsOneMetric, InvalidQuery, InvalidReaggregation, NoSuchAggregation
from telescale.query.measures import get_measures
from telescale.storage.base import StorageDriver

__all__ = ["CrossMetricArgs", "check", "compute"]


@dataclass(frozen=True)
class CrossMetricArgs:
    """The arguments of a cross-metric aggregation (times and granularities in ns; ``resample`` ns or None,
    ``calendar`` one of Y/H/Q/M/W or None)."""

    start: int | None = None
    stop: int | None = None
    granularity: int | None = None
    needed_overlap: float | None = None
    fill: float | str | None = None
    aggregation: str = "mean"
    reaggregation: str | None = None
    resample: int | None = None
    calendar: str | None = None


def _first_granularity(metric: Any) -> int:
    return metric.archive_policy.definition[0].granularity


def check(metrics: Sequence[Any], args: CrossMetricArgs) -> list[int]:
    """The granularities to read, coarsest first, after Gnocchi's checks in its order.

    Raises :class:`UnAggregableTimeseries` (no shared granularity), :class:`NoSuchAggregation` (a
    granularity, or for several metrics the method, missing), :class:`UnknownAggregationMethod` (one
    metric without the method), :class:`CalendarNeedsOneMetric`, :class:`InvalidReaggregation`.
    """
    aggregation = args.aggregation
    if args.granularity is None:
        grans = common_granularities(metrics)
        if not grans:
            raise UnAggregableTimeseries([[str(m.id), aggregation] for m in metrics], "No granularity match")
    else:
        grans = [int(args.granularity)]
    for m in metrics:
        for g in grans:
            if lacks(m, None, g) is not None:
                raise NoSuchAggregation(m, aggregation, g)
    if len(metrics) == 1:
        require(metrics[0], aggregation)
        return grans
    if args.calendar is not None:
        raise CalendarNeedsOneMetric()
    for m in metrics:  # before judging reaggregation, as Gnocchi does
        if lacks(m, aggregation) is not None:
            raise NoSuchAggregation(m, aggregation, _first_granularity(m))
    reaggregation = args.reaggregation or aggregation
    if reaggregation not in AGGREGATE_METHODS:
        raise InvalidReaggregation(reaggregation, AGGREGATE_METHODS)
    return grans


def compute(storage: StorageDriver, metrics: Sequence[Any], grans: Sequence[int], args: CrossMetricArgs) -> Result:
    """What :func:`check` allowed: one aggregated series per granularity (labelled with the calendar unit
    instead of the granularity when one was asked, as Gnocchi does)."""
    if len(metrics) == 1:
        series: list[tuple[Any, Any, Any]] = []
        try:
            for g in grans:
                series.extend(get_measures(storage, metrics[0], args.aggregation, granularity=g, start=args.start,
                                           stop=args.stop, resample=args.resample, calendar=args.calendar))
        except ValueError as e:  # rate: with a calendar resample
            raise InvalidQuery(str(e)) from None
        if args.calendar is not None:
            series = [(args.calendar, ts, v) for _, ts, v in series]
        return Result(True, {None: series})
    aggregation = args.aggregation
    refs = [Reference(m, aggregation, str(m.id)) for m in metrics]
    node: Node = MetricNode(tuple((r.name, aggregation) for r in refs))
    if args.resample is not None:
        node = Aggregation("resample", aggregation, node, granularity=args.resample)
    tree = Aggregation("aggregate", args.reaggregation or aggregation, node)
    lookup = {(r.name, aggregation): [i] for i, r in enumerate(refs)}
    return evaluate(storage, tree, refs, lookup, start=args.start, stop=args.stop, granularity=args.granularity,
                    needed_overlap=100.0 if args.needed_overlap is None else args.needed_overlap, fill=args.fill)
