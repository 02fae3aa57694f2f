"""The read path as the alarm evaluator calls it, without HTTP: ``Query(indexer, storage)`` over a real
(SQLite) indexer and file storage, measures written by the real processing code.

Projects: P owns ``web`` (and created ``shared``, whose project is Q); Q owns ``db``.  Every resource has a
metric ``cpu`` with one value per minute.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass

import numpy as np
import pytest

from telescale.indexer import Indexer
from telescale.processing.processor import process_metric_measures
from telescale.query import errors
from telescale.query.measures import get_measures
from telescale.query.reader import Query
from telescale.query.scope import UNRESTRICTED, Scope
from telescale.storage.file import FileStorage
from telescale.timeseries import ArchivePolicy, PolicyItem

S = 10**9
G = 60 * S
T0 = 1_735_732_800 * S  # 2025-01-01T12:00:00Z, on a minute
POINTS = 10
POLICY = ArchivePolicy("alarms", 0, (PolicyItem(G, 1440), PolicyItem(300 * S, 288)), ("mean", "max", "rate:mean"))
P = Scope.of_project("p")
Q = Scope.of_project("q")


@dataclass
class World:
    query: Query
    indexer: Indexer
    storage: FileStorage
    resources: dict[str, uuid.UUID]
    metrics: dict[str, uuid.UUID]
    values: dict[str, np.ndarray]


def _write(storage: FileStorage, mid: uuid.UUID, values: np.ndarray) -> None:
    ts = T0 + np.arange(values.size, dtype=np.int64) * G
    process_metric_measures(storage, mid, POLICY, ts, values.astype(float))
    storage.sync()


@pytest.fixture
def world(tmp_path) -> World:
    indexer = Indexer(f"sqlite:///{tmp_path / 'indexer.sqlite'}")
    indexer.upgrade()
    indexer.create_archive_policy(POLICY)
    storage = FileStorage(tmp_path / "storage", fsync=False, read_cache_bytes=1 << 20)
    resources: dict[str, uuid.UUID] = {}
    metrics: dict[str, uuid.UUID] = {}
    values: dict[str, np.ndarray] = {}
    owners = {"web": ("alice:p", "p"), "shared": ("alice:p", "q"), "db": ("bob:q", "q")}
    for i, (name, (creator, project)) in enumerate(owners.items()):
        rid = uuid.uuid4()
        created = indexer.create_resource("generic", rid, f"{name}-host", creator, project_id=project,
                                          metrics={"cpu": {"archive_policy_name": POLICY.name}})
        resources[name] = rid
        metrics[name] = created.metrics["cpu"]
        values[name] = 10.0 * (i + 1) + np.arange(POINTS, dtype=float) ** 2
        _write(storage, metrics[name], values[name])
    for name, creator in (("alone_p", "alice:p"), ("alone_q", "bob:q")):
        mid = uuid.uuid4()
        indexer.create_metric(mid, creator, POLICY.name, name="load")
        metrics[name] = mid
        values[name] = np.full(POINTS, 100.0 if name == "alone_p" else 200.0)
        _write(storage, mid, values[name])
    yield World(Query(indexer, storage), indexer, storage, resources, metrics, values)
    indexer.dispose()


def _times(n: int = POINTS) -> list[int]:
    return (T0 + np.arange(n, dtype=np.int64) * G).tolist()


# --- resource_metric_measures (gnocchi_resources_threshold) --------------------------------------------


def test_resource_metric_measures_reads_one_granularity_of_one_metric(world: World) -> None:
    s = world.query.resource_metric_measures(UNRESTRICTED, "generic", world.resources["web"], "cpu", "mean", G,
                                             T0, T0 + POINTS * G)
    assert s.timestamps.tolist() == _times() and s.values.tolist() == world.values["web"].tolist()
    assert s.metric_ids == (world.metrics["web"],) and s.granularity == G
    # the time range is [floor(start), stop), as Gnocchi's
    s = world.query.resource_metric_measures(UNRESTRICTED, "generic", str(world.resources["web"]), "cpu", "max",
                                             G, T0 + 2 * G + S, T0 + 5 * G)
    assert s.timestamps.tolist() == _times(5)[2:]
    # the id the resource was created with works too
    s = world.query.resource_metric_measures(P, "generic", "web-host", "cpu", "mean", 300 * S, None, None)
    assert s.values.tolist() == [float(world.values["web"][:5].mean()), float(world.values["web"][5:].mean())]


def test_resource_metric_measures_rate_is_the_stored_rate_column(world: World) -> None:
    s = world.query.resource_metric_measures(UNRESTRICTED, "generic", world.resources["db"], "cpu", "rate:mean", G,
                                             None, None)
    (_, ts, want), = get_measures(world.storage, _metric(world, "db"), "rate:mean", granularity=G)
    assert s.values.tolist() == want.tolist() == np.diff(world.values["db"]).tolist()
    assert s.timestamps.tolist() == ts.tolist()


def test_resource_metric_measures_errors_are_typed(world: World) -> None:
    read = world.query.resource_metric_measures
    web = world.resources["web"]
    with pytest.raises(errors.NoSuchResourceType):
        read(UNRESTRICTED, "nope", web, "cpu", "mean", G, None, None)
    with pytest.raises(errors.NoSuchResource):
        read(UNRESTRICTED, "generic", uuid.uuid4(), "cpu", "mean", G, None, None)
    with pytest.raises(errors.NoSuchMetric):
        read(UNRESTRICTED, "generic", web, "memory", "mean", G, None, None)
    with pytest.raises(errors.UnknownAggregationMethod):
        read(UNRESTRICTED, "generic", web, "cpu", "min", G, None, None)
    with pytest.raises(errors.UnknownGranularity):
        read(UNRESTRICTED, "generic", web, "cpu", "mean", 3600 * S, None, None)
    for error in (errors.NoSuchResource, errors.NoSuchMetric, errors.UnknownGranularity):
        assert issubclass(error, errors.QueryError)


def test_resource_metric_measures_scope(world: World) -> None:
    read = world.query.resource_metric_measures
    assert read(P, "generic", world.resources["web"], "cpu", "mean", G, None, None).values.size == POINTS
    assert read(P, "generic", world.resources["shared"], "cpu", "mean", G, None, None).values.size == POINTS
    with pytest.raises(errors.NoSuchResource):  # Q's resource, not created by P: as if it did not exist
        read(P, "generic", world.resources["db"], "cpu", "mean", G, None, None)
    with pytest.raises(errors.NoSuchResource):
        read(P, "generic", "db-host", "cpu", "mean", G, None, None)
    owner_only = Scope.of_project("p", creator=False)
    with pytest.raises(errors.NoSuchResource):
        read(owner_only, "generic", world.resources["shared"], "cpu", "mean", G, None, None)
    assert read(Q, "generic", world.resources["shared"], "cpu", "mean", G, None, None).values.size == POINTS


# --- aggregate_metrics (gnocchi_aggregation_by_metrics_threshold) -------------------------------------


def _metric(world: World, name: str):
    (metric,) = world.indexer.get_metrics([world.metrics[name]])
    return metric


def test_aggregate_metrics_is_the_method_across_the_metrics(world: World) -> None:
    ids = [world.metrics["web"], world.metrics["db"]]
    s = world.query.aggregate_metrics(UNRESTRICTED, ids, "mean", G, T0, T0 + POINTS * G)
    want = (world.values["web"] + world.values["db"]) / 2
    assert s.timestamps.tolist() == _times() and s.values.tolist() == want.tolist()
    assert s.metric_ids == tuple(ids)
    s = world.query.aggregate_metrics(UNRESTRICTED, ids, "max", G, None, None)
    assert s.values.tolist() == np.maximum(world.values["web"], world.values["db"]).tolist()


def test_aggregate_metrics_rate_differentiates_the_aggregate(world: World) -> None:
    """Aodh asks ``(aggregate rate:mean (metric id mean) …)``: the mean's successive differences."""
    ids = [world.metrics["web"], world.metrics["shared"]]
    s = world.query.aggregate_metrics(UNRESTRICTED, ids, "rate:mean", G, None, None)
    mean = (world.values["web"] + world.values["shared"]) / 2
    assert s.values.tolist() == np.diff(mean).tolist() and s.timestamps.tolist() == _times()[1:]


def test_aggregate_metrics_needs_no_overlap_by_default(world: World) -> None:
    """As Aodh asks (needed_overlap=0): a metric without recent points does not block the others."""
    late = uuid.uuid4()
    world.indexer.create_metric(late, "alice:p", POLICY.name)
    ts = T0 + (POINTS + np.arange(3, dtype=np.int64)) * G
    process_metric_measures(world.storage, late, POLICY, ts, np.array([1.0, 2.0, 3.0]))
    world.storage.sync()
    s = world.query.aggregate_metrics(P, [world.metrics["web"], late], "max", G, T0, None)
    assert s.values.tolist() == [*world.values["web"].tolist(), 1.0, 2.0, 3.0]
    with pytest.raises(errors.InvalidQuery):  # all of them must overlap when asked
        world.query.aggregate_metrics(P, [world.metrics["web"], late], "max", G, T0, None, needed_overlap=100.0)


def test_aggregate_metrics_scope_never_reads_another_projects_metric(world: World) -> None:
    q_metrics = [world.metrics["db"], world.metrics["alone_q"]]
    with pytest.raises(errors.NoSuchMetric) as info:
        world.query.aggregate_metrics(P, [world.metrics["web"], *q_metrics], "mean", G, None, None)
    assert sorted(info.value.metrics) == sorted(str(m) for m in q_metrics)
    # what P created or owns: its resources' metrics, the metric it created alone, the resource it created
    mine = [world.metrics[n] for n in ("web", "shared", "alone_p")]
    s = world.query.aggregate_metrics(P, mine, "max", G, None, None)
    assert s.values.tolist() == np.max([world.values[n] for n in ("web", "shared", "alone_p")], axis=0).tolist()
    assert world.query.visible_metrics(P, [m for m in world.metrics.values()]) == \
        world.indexer.get_metrics(mine)
    with pytest.raises(errors.NoSuchMetric):
        world.query.aggregate_metrics(UNRESTRICTED, [uuid.uuid4()], "mean", G, None, None)


def test_aggregate_metrics_method_errors(world: World) -> None:
    ids = [world.metrics["web"], world.metrics["db"]]
    with pytest.raises(errors.UnknownAggregationMethod):
        world.query.aggregate_metrics(UNRESTRICTED, ids, "min", G, None, None)
    with pytest.raises(errors.UnknownGranularity):
        world.query.aggregate_metrics(UNRESTRICTED, ids, "mean", 7 * S, None, None)
    with pytest.raises(errors.InvalidQuery):  # not a method that combines series
        world.query.aggregate_metrics(UNRESTRICTED, ids, "last", G, None, None)


# --- aggregate_resources (gnocchi_aggregation_by_resources_threshold) --------------------------------


def test_aggregate_resources_over_a_search(world: World) -> None:
    query = world.query
    everything = query.aggregate_resources(UNRESTRICTED, "generic", {}, "cpu", "mean", G, None, None)
    want = (world.values["web"] + world.values["shared"] + world.values["db"]) / 3
    assert np.allclose(everything.values, want)
    assert sorted(everything.metric_ids) == sorted(world.metrics[n] for n in ("web", "shared", "db"))
    by_json = query.aggregate_resources(UNRESTRICTED, "generic", {"=": {"project_id": "q"}}, "cpu", "max", G,
                                        None, None)
    by_text = query.aggregate_resources(UNRESTRICTED, "generic", 'project_id = "q"', "cpu", "max", G, None, None)
    assert by_json.values.tolist() == by_text.values.tolist() == \
        np.maximum(world.values["shared"], world.values["db"]).tolist()


def test_aggregate_resources_scope_narrows_the_search(world: World) -> None:
    query = world.query
    mine = query.aggregate_resources(P, "generic", {}, "cpu", "mean", G, None, None)
    assert sorted(mine.metric_ids) == sorted([world.metrics["web"], world.metrics["shared"]])
    assert mine.values.tolist() == ((world.values["web"] + world.values["shared"]) / 2).tolist()
    theirs = query.aggregate_resources(Q, "generic", {}, "cpu", "mean", G, None, None)
    assert sorted(theirs.metric_ids) == sorted([world.metrics["shared"], world.metrics["db"]])
    with pytest.raises(errors.NoSuchMetric):  # P's scope and a filter on Q's own resource: nothing matches
        query.aggregate_resources(P, "generic", {"=": {"id": str(world.resources["db"])}}, "cpu", "mean", G,
                                  None, None)


def test_aggregate_resources_errors(world: World) -> None:
    query = world.query
    with pytest.raises(errors.NoSuchMetric):
        query.aggregate_resources(UNRESTRICTED, "generic", {}, "memory", "mean", G, None, None)
    with pytest.raises(errors.InvalidFilter):
        query.aggregate_resources(UNRESTRICTED, "generic", {"=": {"nothing": 1}}, "cpu", "mean", G, None, None)
    with pytest.raises(errors.InvalidFilter):
        query.aggregate_resources(UNRESTRICTED, "generic", "id = ", "cpu", "mean", G, None, None)
    with pytest.raises(errors.NoSuchResourceType):
        query.aggregate_resources(UNRESTRICTED, "nope", {}, "cpu", "mean", G, None, None)


# --- read_many ------------------------------------------------------------------------------------------


def test_read_many_equals_one_read_per_series(world: World) -> None:
    metrics = world.indexer.get_metrics(list(world.metrics.values()))
    for start, stop in ((None, None), (T0 + 3 * G, T0 + 7 * G), (T0 + 30 * S, None)):
        many = world.query.read_many(metrics, "mean", G, start, stop)
        for metric, (ts, values) in zip(metrics, many, strict=True):
            (_, want_ts, want), = get_measures(world.storage, metric, "mean", granularity=G, start=start, stop=stop)
            assert ts.tolist() == want_ts.tolist() and values.tolist() == want.tolist()
    with pytest.raises(errors.UnknownAggregationMethod):
        world.query.read_many(metrics, "min", G, None, None)
