"""Aggregates over resources, pure parts: matching names, grouping, history windows and their weights."""

from __future__ import annotations

import datetime
import uuid
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pytest

from telescale.query.aggregates import parser
from telescale.query.aggregates import resources as R
from telescale.query.aggregates.operations import UnAggregableTimeseries
from telescale.storage.file import FileStorage
from telescale.timeseries import ArchivePolicy, PolicyItem
from telescale.timeseries.split import Split

NS = 1_000_000_000
G = 60 * NS
T0 = 1_700_000_040 * NS // G * G
POLICY = ArchivePolicy("p", 0, (PolicyItem(G, 1440),), ("mean", "sum", "count"))
COARSE = ArchivePolicy("c", 0, (PolicyItem(5 * G, 100),), ("mean", "sum", "count"))


@dataclass(frozen=True)
class M:
    name: str
    id: uuid.UUID = field(default_factory=uuid.uuid4)
    archive_policy: ArchivePolicy = POLICY


@dataclass(frozen=True)
class Res:
    id: uuid.UUID
    group: tuple[Any, ...] = ()
    metrics: tuple[M, ...] = ()
    revision: int = -1
    revision_start: datetime.datetime | None = None
    revision_end: datetime.datetime | None = None


def _dt(ns: int) -> datetime.datetime:
    return datetime.datetime.fromtimestamp(ns / NS, tz=datetime.UTC)


def test_match_wildcards_once_per_metric_in_gnocchi_order() -> None:
    a = Res(uuid.uuid4(), metrics=(M("cpu.idle"), M("cpu.util"), M("noway")))
    b = Res(uuid.uuid4(), metrics=(M("cpu.util"), M("disk")))
    columns, lookup = R.match([a, b], [("cpu.*", "mean"), ("cpu.util", "mean"), ("*way", "max")])
    assert [(c.name, c.method, c.resource) for c in columns] == [
        ("cpu.idle", "mean", a.id), ("cpu.util", "mean", a.id), ("noway", "max", a.id),
        ("cpu.util", "mean", b.id)]
    # cpu.util of a is matched by two patterns but is one column
    assert lookup[("cpu.*", "mean")] == [0, 1, 3]
    assert lookup[("cpu.util", "mean")] == [1, 3]
    assert lookup[("*way", "max")] == [2]


def test_match_is_case_sensitive_and_brackets_work() -> None:
    r = Res(uuid.uuid4(), metrics=(M("CPU"), M("cpu1"), M("cpu2")))
    columns, _ = R.match([r], [("cpu[1]", "mean"), ("cpu", "mean")])
    assert [c.name for c in columns] == ["cpu1"]


def test_groups_are_ordered_by_value_with_none_last() -> None:
    rs = [Res(uuid.uuid4(), group=(g,)) for g in ("b", None, "a", "b", 3)]
    groups = R.group_resources(rs)
    assert [k for k, _ in groups] == [(3,), ("a",), ("b",), (None,)]
    assert [len(v) for _, v in groups] == [1, 1, 2, 1]


def test_no_metric_message_is_gnocchis() -> None:
    assert str(R.NoMetricMatched(["notexists", "foobar", "foobar"])) == "Metric ['foobar', 'notexists'] does not exist"


def test_coverage_of_buckets_by_a_window() -> None:
    times = np.array([0, G, 2 * G], dtype=np.int64)
    assert R.coverage(times, G, None, None).tolist() == [1, 1, 1]
    assert R.coverage(times, G, G // 2, 2 * G + G // 4).tolist() == [0.5, 1, 0.25]


def test_history_windows_merge_revisions_of_a_group_and_clip() -> None:
    rid = uuid.uuid4()
    revs = [
        Res(rid, ("x",), revision=1, revision_start=_dt(T0), revision_end=_dt(T0 + 10 * G)),
        Res(rid, ("x",), revision=2, revision_start=_dt(T0 + 10 * G), revision_end=_dt(T0 + 20 * G)),
        Res(rid, ("y",), revision=-1, revision_start=_dt(T0 + 20 * G), revision_end=None),
    ]
    windows = R.history_windows(revs, None, None)
    assert [(k, [(w.start, w.stop) for w in ws]) for k, ws in windows] == [
        (("x",), [(None, T0 + 20 * G)]),  # the first revision reaches back to the beginning of time
        (("y",), [(T0 + 20 * G, None)]),
    ]
    clipped = R.history_windows(revs, T0 + 25 * G, T0 + 30 * G)
    assert [(k, [(w.start, w.stop) for w in ws]) for k, ws in clipped] == [(("y",), [(T0 + 25 * G, T0 + 30 * G)])]


def _store(storage: FileStorage, metric: M, values: dict[int, float]) -> None:
    ts = np.array(sorted(values), dtype=np.int64)
    v = np.array([values[t] for t in ts.tolist()])
    key = T0 // (G * 3600) * (G * 3600)
    storage.put_splits(metric.id, G, {key: Split(G, ts, {"mean": v, "sum": v, "count": np.ones(v.size)},
                                                 key=key).encode()})


@pytest.mark.parametrize("batch", [1, 4096])
def test_evaluate_groups_reads_once_and_computes_each_group(tmp_path, monkeypatch, batch: int) -> None:
    monkeypatch.setattr(R, "BATCH_SERIES", batch)  # one group per read pass, or all at once: same answer
    storage = FileStorage(tmp_path, fsync=False)
    resources = []
    for i, group in enumerate(["a", "a", "b"]):
        m = M("cpu")
        _store(storage, m, {T0: 10.0 * (i + 1), T0 + G: 20.0 * (i + 1)})
        resources.append(Res(uuid.uuid4(), (group,), (m,)))
    resources.append(Res(uuid.uuid4(), ("c",), (M("disk"),)))
    storage.sync()
    tree = parser.parse("(aggregate mean (metric cpu mean))")
    groups = R.evaluate_groups(storage, tree, parser.references(tree), R.group_resources(resources), fill="dropna")
    assert [g.key for g in groups] == [("a",), ("b",), ("c",)]
    assert groups[2].result is None  # nothing matched in group c
    (_, _, a), = groups[0].result.series[None]
    (_, _, b), = groups[1].result.series[None]
    assert a.tolist() == [15.0, 30.0] and b.tolist() == [30.0, 60.0]


def test_evaluate_groups_errors_and_no_match(tmp_path) -> None:
    storage = FileStorage(tmp_path, fsync=False)
    tree = parser.parse("(aggregate mean (metric cpu mean))")
    refs = parser.references(tree)
    with pytest.raises(R.NoMetricMatched):
        R.evaluate_groups(storage, tree, refs, [((), [Res(uuid.uuid4(), (), (M("disk"),))])])
    mixed = [Res(uuid.uuid4(), (), (M("cpu"),)), Res(uuid.uuid4(), (), (M("cpu", archive_policy=COARSE),))]
    with pytest.raises(UnAggregableTimeseries, match="No granularity match"):
        R.evaluate_groups(storage, tree, refs, [((), mixed)])


def test_history_weights_points_by_window(tmp_path) -> None:
    storage = FileStorage(tmp_path, fsync=False)
    m1, m2 = M("cpu"), M("cpu")
    _store(storage, m1, {T0: 10.0, T0 + G: 20.0, T0 + 2 * G: 30.0})
    _store(storage, m2, {T0 + G: 5.0})
    storage.sync()
    r1, r2 = uuid.uuid4(), uuid.uuid4()
    half = T0 + G + G // 2
    revisions = [
        # r1 is in group "a" until the middle of the second bucket, then in group "b"
        Res(r1, ("a",), (m1,), revision=1, revision_start=_dt(T0 - G), revision_end=_dt(half)),
        Res(r1, ("b",), (m1,), revision=-1, revision_start=_dt(half)),
        Res(r2, ("a",), (m2,), revision=-1, revision_start=_dt(T0 - G)),
    ]
    tree = parser.parse("(aggregate mean (metric cpu mean))")
    out = R.evaluate_history(storage, tree, parser.references(tree), revisions, fill="dropna")
    assert [g.key for g in out] == [("a",), ("b",)]
    (_, ta, va), = out[0].measures
    (_, tb, vb), = out[1].measures
    # a weighted mean: r1 counts half in the second bucket of "a" and half in that of "b"
    assert ta.tolist() == [T0, T0 + G] and va.tolist() == [10.0, (20.0 * 0.5 + 5.0) / 1.5]
    assert tb.tolist() == [T0 + G, T0 + 2 * G] and vb.tolist() == [20.0, 30.0]
    tree = parser.parse("(aggregate sum (metric cpu mean))")
    (_, _, va), = R.evaluate_history(storage, tree, parser.references(tree), revisions, fill="dropna")[0].measures
    assert va.tolist() == [10.0, 20.0 * 0.5 + 5.0]
    with pytest.raises(R.NotAggregated):
        R.evaluate_history(storage, parser.parse("(metric cpu mean)"), [("cpu", "mean")], revisions)


@pytest.mark.parametrize(("operations", "expected"), [
    ("(aggregate mean (metric cpu mean))", 20.0),
    ("(aggregate max (metric cpu mean))", 30.0),
    ("(aggregate min (metric cpu mean))", 10.0),
    ("(aggregate sum (metric cpu mean))", 40.0),
    ("(* 1 (aggregate mean (metric cpu mean)))", 40.0),  # no outer aggregate: Gnocchi's weighted sum
])
def test_history_combines_a_group_with_the_outer_aggregate_method(tmp_path, operations: str, expected: float) -> None:
    """Two resources of one group valued 10 and 30 over a whole bucket: as without use_history."""
    storage = FileStorage(tmp_path, fsync=False)
    m1, m2 = M("cpu"), M("cpu")
    _store(storage, m1, {T0: 10.0})
    _store(storage, m2, {T0: 30.0})
    storage.sync()
    revisions = [Res(uuid.uuid4(), ("a",), (m,), revision=-1, revision_start=_dt(T0 - G)) for m in (m1, m2)]
    tree = parser.parse(operations)
    (group,) = R.evaluate_history(storage, tree, parser.references(tree), revisions, fill="dropna")
    (_, times, values), = group.measures
    assert times.tolist() == [T0] and values.tolist() == [expected]
