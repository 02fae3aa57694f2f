"""Evaluation end to end over a fake read path: granularity choice, fills, per-metric vs aggregated output."""

from __future__ import annotations

import math
import uuid
from dataclasses import dataclass

import numpy as np
import pytest

from telescale.query.aggregates import evaluate as ev
from telescale.query.aggregates import parser
from telescale.query.aggregates.operations import UnAggregableTimeseries
from telescale.timeseries import ArchivePolicy, PolicyItem

S = 1_000_000_000
T0 = 1_425_652_380 * S  # 2015-03-06T14:33:00


@dataclass
class FakeMetric:
    id: uuid.UUID
    archive_policy: ArchivePolicy


@pytest.fixture
def store(monkeypatch):
    series: dict[tuple[uuid.UUID, str, int], list[tuple[int, float]]] = {}
    reads: list[tuple] = []

    def get_measures(storage, metric, method, *, granularity=None, start=None, stop=None, **_):
        reads.append((metric.id, method, granularity))
        pts = [(t, v) for t, v in series.get((metric.id, method, granularity), [])
               if (start is None or t >= (start // granularity) * granularity) and (stop is None or t < stop)]
        return [(granularity, np.array([t for t, _ in pts], dtype=np.int64), np.array([v for _, v in pts]))]

    monkeypatch.setattr(ev.query, "get_measures", get_measures)
    return series, reads


COOKIES = ArchivePolicy("cookies", 0, (PolicyItem(S), PolicyItem(60 * S)), ("mean", "max"))
CAKE = ArchivePolicy("cake", 0, (PolicyItem(5 * S),), ("mean",))


def setup(store, values: dict[str, list[tuple[int, float]]], policy=COOKIES):
    series, _ = store
    metrics = {}
    for name, pts in values.items():
        m = FakeMetric(uuid.uuid4(), policy)
        series[(m.id, "mean", S)] = [(T0 + t * S, v) for t, v in pts]
        series[(m.id, "mean", 60 * S)] = [(T0 + (t // 60) * 60 * S, v) for t, v in pts]  # crude, one per minute
        metrics[name] = m
    return metrics


def run(metrics, operations, **kwargs):
    tree = parser.parse(operations)
    refs = parser.references(tree)
    cols = [ev.Reference(metrics[m], method, m) for m, method in refs]
    lookup = {r: [i] for i, r in enumerate(refs)}
    return ev.evaluate(None, tree, cols, lookup, **kwargs), cols


def values(result, key):
    return [(g // S, [int((t - T0) // S) for t in ts.tolist()], vs.tolist()) for g, ts, vs in result.series[key]]


def test_per_metric_results_coarsest_first_and_each_series_read_once(store) -> None:
    metrics = setup(store, {"a": [(57, 43.1), (72, 12.0)], "b": [(57, 2.0), (72, 4.0)]})
    result, _ = run(metrics, "(+ (metric (a mean) (b mean)) 2)", fill="dropna")
    assert not result.aggregated
    assert values(result, 0) == [(60, [0, 60], [45.1, 14.0]), (1, [57, 72], [45.1, 14.0])]
    assert values(result, 1) == [(60, [0, 60], [4.0, 6.0]), (1, [57, 72], [4.0, 6.0])]
    _, reads = store
    assert sorted(reads, key=str) == sorted({(m.id, "mean", g) for m in metrics.values() for g in (S, 60 * S)},
                                            key=str)


def test_two_metric_nodes_make_an_aggregated_result(store) -> None:
    metrics = setup(store, {"a": [(57, 43.1), (72, 12.0)], "b": [(57, 2.0), (72, 4.0)]})
    result, _ = run(metrics, "(- (metric a mean) (metric b mean))", granularity=S, fill="dropna")
    assert result.aggregated
    assert values(result, None) == [(1, [57, 72], [41.1, 8.0])]


def test_dropna_removes_holes_and_infinities_null_keeps_them(store) -> None:
    metrics = setup(store, {"a": [(1, 1.0), (2, 0.0)], "b": [(2, 5.0), (3, 6.0)]})
    result, _ = run(metrics, "(/ (aggregate sum (metric (a mean) (b mean))) (metric a mean))", granularity=S,
                    fill="dropna")
    assert values(result, None) == [(1, [1], [1.0])]
    result, _ = run(metrics, "(/ (aggregate sum (metric (a mean) (b mean))) (metric a mean))", granularity=S,
                    fill="null")
    (_, ts, vs), = values(result, None)
    assert ts == [1, 2, 3] and vs[0] == 1.0 and vs[1] == math.inf and math.isnan(vs[2])


def test_numeric_fill(store) -> None:
    metrics = setup(store, {"a": [(1, 1.0)], "b": [(2, 5.0)]})
    result, _ = run(metrics, "(aggregate mean (metric (a mean) (b mean)))", granularity=S, fill=0.0)
    assert values(result, None) == [(1, [1, 2], [0.5, 2.5])]


def test_needed_overlap_without_fill(store) -> None:
    metrics = setup(store, {"a": [(1, 1.0), (2, 1.0)], "b": [(2, 5.0), (3, 6.0)]})
    result, _ = run(metrics, "(aggregate mean (metric (a mean) (b mean)))", granularity=S, needed_overlap=100.0)
    assert values(result, None) == [(1, [2], [3.0])]
    with pytest.raises(UnAggregableTimeseries, match="Less than"):
        run(metrics, "(aggregate mean (metric (a mean) (b mean)))", granularity=S, needed_overlap=100.0,
            start=T0, stop=T0 + 10 * S)


def test_granularity_errors(store) -> None:
    metrics = setup(store, {"a": [(1, 1.0)]})
    metrics.update(setup(store, {"c": [(1, 1.0)]}, policy=CAKE))
    with pytest.raises(UnAggregableTimeseries, match="No granularity match") as info:
        run(metrics, "(metric (a mean) (c mean))")
    assert info.value.references == [["a", "mean"], ["c", "mean"]]
    with pytest.raises(UnAggregableTimeseries, match="Granularities are missing") as info:
        run(metrics, "(metric a mean)", granularity=123 * S)
    assert info.value.references == [["a", "mean", 123.0]]
    with pytest.raises(ev.AggregationDoesNotExist):
        run(metrics, "(metric a min)")


def test_rolling_window_too_long(store) -> None:
    metrics = setup(store, {"a": [(1, 1.0)]})
    with pytest.raises(UnAggregableTimeseries, match="Rolling window '3' is greater than serie length '1'"):
        run(metrics, "(rolling mean 3 (metric a mean))", granularity=S, fill="dropna")
