"""Deleted metrics (directly, with their resource, with a delete by filter) leave nothing behind after one
janitor pass, on SQLite and PostgreSQL with real files; a crash between the steps is retried."""

from __future__ import annotations

import uuid

import pytest

from telescale.indexer.search import parse_string_filter
from telescale.processing.janitor import Janitor
from telescale.processing.worker import Drivers, run_janitor
from telescale.query.measures import get_measures
from tests.integration.processing.janitor_env import HOUR, T0, feed, on_disk


class Crash(BaseException):
    """Stands for the process dying between two steps."""


def gone(sql_drivers: Drivers, metric_id: uuid.UUID) -> bool:
    """Nothing of the metric in storage, incoming or the indexer (whatever its status)."""
    indexer = sql_drivers.indexer
    return (
        not on_disk(sql_drivers, metric_id)
        and not sql_drivers.incoming.pending_for_metric(metric_id)
        and metric_id not in sql_drivers.incoming.backlog_per_metric()
        and not indexer.list_metrics(filters={"id": metric_id, "status": None})
        and metric_id not in indexer.list_deleted_metric_ids()
    )


def test_deleted_metric(sql_drivers: Drivers) -> None:
    keep = sql_drivers.indexer.create_metric(uuid.uuid4(), "admin", "low")
    drop = sql_drivers.indexer.create_metric(uuid.uuid4(), "admin", "low")
    feed(sql_drivers, keep.id)
    feed(sql_drivers, drop.id)
    feed(sql_drivers, drop.id, start=T0 + HOUR, process=False)  # still waiting in its sack
    assert on_disk(sql_drivers, drop.id)
    assert sql_drivers.incoming.pending_for_metric(drop.id)

    sql_drivers.indexer.delete_metric(drop.id)
    assert sql_drivers.indexer.list_deleted_metric_ids() == [drop.id]
    stats = Janitor().run(sql_drivers)

    assert stats is not None
    assert (stats.metrics_expunged, stats.measures_discarded) == (1, 60)
    assert gone(sql_drivers, drop.id)
    assert on_disk(sql_drivers, keep.id)
    assert [
        len(ts) for _, ts, _ in get_measures(sql_drivers.storage, sql_drivers.indexer.get_metric(keep.id), "mean")
    ] == [1]


def test_metrics_of_a_deleted_resource(sql_drivers: Drivers) -> None:
    res = sql_drivers.indexer.create_resource(
        "generic", uuid.uuid4(), "r", "admin", metrics={"cpu": {"archive_policy_name": "low"}, "mem": {}}
    )
    for mid in res.metrics.values():
        feed(sql_drivers, mid)
    feed(sql_drivers, res.metrics["cpu"], start=T0 + HOUR, process=False)

    sql_drivers.indexer.delete_resource(res.id)
    assert sorted(sql_drivers.indexer.list_deleted_metric_ids()) == sorted(res.metrics.values())
    assert run_janitor(sql_drivers) == 2
    assert all(gone(sql_drivers, mid) for mid in res.metrics.values())


def test_metrics_of_resources_deleted_by_filter(sql_drivers: Drivers) -> None:
    doomed, kept = [], []
    for i in range(4):
        res = sql_drivers.indexer.create_resource(
            "generic", uuid.uuid4(), f"r{i}", "admin", project_id="p0" if i % 2 else "p1", metrics={"cpu": {}}
        )
        feed(sql_drivers, res.metrics["cpu"], start=T0 + i * 60 * 10**9)
        (doomed if i % 2 else kept).append(res.metrics["cpu"])

    assert sql_drivers.indexer.delete_resources("generic", filter_node=parse_string_filter('project_id = "p0"')) == 2
    assert run_janitor(sql_drivers) == 2
    assert all(gone(sql_drivers, mid) for mid in doomed)
    assert all(on_disk(sql_drivers, mid) for mid in kept)
    assert sql_drivers.indexer.get_metrics(kept) != []


def test_crash_after_the_storage_delete(sql_drivers: Drivers, monkeypatch: pytest.MonkeyPatch) -> None:
    drop = sql_drivers.indexer.create_metric(uuid.uuid4(), "admin", "low")
    feed(sql_drivers, drop.id)
    sql_drivers.indexer.delete_metric(drop.id)
    real_delete = sql_drivers.storage.delete_metric

    def delete_then_die(metric_id: uuid.UUID) -> None:
        real_delete(metric_id)
        raise Crash

    monkeypatch.setattr(sql_drivers.storage, "delete_metric", delete_then_die)
    with pytest.raises(Crash):
        Janitor().run(sql_drivers)
    assert not on_disk(sql_drivers, drop.id)
    assert sql_drivers.indexer.list_deleted_metric_ids() == [drop.id]  # still to do

    monkeypatch.setattr(sql_drivers.storage, "delete_metric", real_delete)
    assert run_janitor(sql_drivers) == 1
    assert gone(sql_drivers, drop.id)


def test_crash_before_the_row_is_expunged(sql_drivers: Drivers, monkeypatch: pytest.MonkeyPatch) -> None:
    drop = sql_drivers.indexer.create_metric(uuid.uuid4(), "admin", "low")
    feed(sql_drivers, drop.id)
    sql_drivers.indexer.delete_metric(drop.id)

    def die(metric_id: uuid.UUID) -> None:
        raise Crash

    monkeypatch.setattr(sql_drivers.indexer, "expunge_metric", die)
    with pytest.raises(Crash):
        Janitor().run(sql_drivers)
    assert not on_disk(sql_drivers, drop.id)
    monkeypatch.undo()
    assert run_janitor(sql_drivers) == 1
    assert gone(sql_drivers, drop.id)
