"""Evaluation end to end over real file storage: granularity choice, fills, per-metric vs aggregated output."""

from __future__ import annotations

import math
import uuid
from dataclasses import dataclass

import numpy as np
import pytest

from telescale.query.aggregates import evaluate as ev
from telescale.query.aggregates import parser
from telescale.query.aggregates.operations import UnAggregableTimeseries
from telescale.storage.file import FileStorage
from telescale.timeseries import ArchivePolicy, PolicyItem, Split
from telescale.timeseries.split import split_key

S = 1_000_000_000
T0 = 1_425_652_380 * S  # 2015-03-06T14:33:00


@dataclass
class FakeMetric:
    id: uuid.UUID
    archive_policy: ArchivePolicy
    storage: FileStorage


class CountingStorage(FileStorage):
    """File storage that records which series are listed: one listing per series read."""

    def __init__(self, root) -> None:
        super().__init__(root, fsync=False, read_cache_bytes=1 << 20)
        self.reads: list[tuple[uuid.UUID, int]] = []

    def list_split_keys(self, metric_id: uuid.UUID, granularity: int) -> list[int]:
        self.reads.append((metric_id, granularity))
        return super().list_split_keys(metric_id, granularity)


@pytest.fixture
def store(tmp_path):
    return CountingStorage(tmp_path)


def _write(storage: FileStorage, metric_id: uuid.UUID, granularity: int, points: dict[int, float]) -> None:
    ts = np.array(sorted(points), dtype=np.int64)
    keys = split_key(ts, granularity)
    for key in np.unique(keys).tolist():
        t = ts[keys == key]
        v = np.array([points[x] for x in t.tolist()])
        storage.put_splits(metric_id, granularity, {key: Split(granularity, t, {"mean": v}, key=key).encode()})
    storage.sync()


COOKIES = ArchivePolicy("cookies", 0, (PolicyItem(S), PolicyItem(60 * S)), ("mean", "max"))
CAKE = ArchivePolicy("cake", 0, (PolicyItem(5 * S),), ("mean",))


def setup(store, values: dict[str, list[tuple[int, float]]], policy=COOKIES):
    metrics = {}
    for name, pts in values.items():
        m = FakeMetric(uuid.uuid4(), policy, store)
        for g in policy.granularities:  # crude: the last point of each bucket
            _write(store, m.id, g, {T0 + (t * S // g) * g: v for t, v in pts})
        metrics[name] = m
    return metrics


def run(metrics, operations, **kwargs):
    tree = parser.parse(operations)
    refs = parser.references(tree)
    cols = [ev.Reference(metrics[m], method, m) for m, method in refs]
    lookup = {r: [i] for i, r in enumerate(refs)}
    storage = next(iter(metrics.values())).storage
    return ev.evaluate(storage, tree, cols, lookup, **kwargs), cols


def values(result, key):
    return [(g // S, [int((t - T0) // S) for t in ts.tolist()], vs.tolist()) for g, ts, vs in result.series[key]]


def test_per_metric_results_coarsest_first_and_each_series_read_once(store) -> None:
    metrics = setup(store, {"a": [(57, 43.1), (72, 12.0)], "b": [(57, 2.0), (72, 4.0)]})
    result, _ = run(metrics, "(+ (metric (a mean) (b mean)) 2)", fill="dropna")
    assert not result.aggregated
    assert values(result, 0) == [(60, [0, 60], [45.1, 14.0]), (1, [57, 72], [45.1, 14.0])]
    assert values(result, 1) == [(60, [0, 60], [4.0, 6.0]), (1, [57, 72], [4.0, 6.0])]
    assert sorted(store.reads, key=str) == sorted({(m.id, g) for m in metrics.values() for g in (S, 60 * S)},
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
