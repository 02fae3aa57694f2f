"""The janitor with real file drivers and an in-memory indexer: deleted metrics, auto-end, history expiry."""

from __future__ import annotations

import datetime
import logging
import os
import threading
import uuid
from dataclasses import dataclass, field

import numpy as np
import pytest

from telescale import config
from telescale.config import JanitorSettings
from telescale.processing.janitor import (
    JANITOR_LOCK,
    Janitor,
    JanitorStats,
    expunge_deleted_metrics,
    last_measure,
    run_janitor,
)
from telescale.processing.worker import Drivers, run_once, run_worker
from telescale.storage.file import FileStorage
from tests.unit.processing.proc_helpers import POLICY, MemoryIndexer

S = 10**9
T0 = 1_700_000_000 * S
HOUR = 3600 * S


class Crash(BaseException):
    """Stands for the process dying: nothing catches it."""


def drivers_of(env) -> Drivers:
    return Drivers(env.incoming, env.storage, env.indexer, env.locks)


def on_disk(storage: FileStorage, metric_id: uuid.UUID) -> bool:
    return any(str(metric_id) in name for name in os.listdir(storage.root))


def feed(env, metric, n: int = 100, start: int = T0) -> None:
    ts = start + np.arange(n, dtype=np.int64) * S
    env.incoming.add_measures({metric.id: (ts, np.arange(n, dtype=float))})


# -- deleted metrics ---------------------------------------------------------------------------------


def test_deleted_metric_leaves_nothing_after_one_pass(env):
    keep, drop = env.indexer.add(POLICY), env.indexer.add(POLICY)
    feed(env, keep)
    feed(env, drop)
    assert run_once(drivers_of(env)) == 200
    feed(env, drop, start=T0 + 1000 * S)  # pending (unprocessed) measures of the doomed metric
    feed(env, keep, start=T0 + 1000 * S)
    env.indexer.delete(drop.id)

    stats = Janitor().run(drivers_of(env))

    assert stats is not None
    assert stats.metrics_expunged == 1
    assert stats.measures_discarded == 100
    assert drop.id not in env.indexer.metrics
    assert not on_disk(env.storage, drop.id)
    assert not env.incoming.pending_for_metric(drop.id)
    assert drop.id not in env.incoming.backlog_per_metric()
    # The other metric's data is intact (its pending measures of the drained sack were processed).
    assert env.storage.get_raw(keep.id) is not None
    run_once(drivers_of(env))
    assert last_measure(env.storage, keep.id) == T0 + 1099 * S


def test_deleted_metric_without_any_data(env):
    drop = env.indexer.add(POLICY)
    env.indexer.delete(drop.id)
    assert run_janitor(drivers_of(env)) == 1
    assert env.indexer.metrics == {}


def test_crash_after_the_storage_delete_is_retried_next_pass(env, monkeypatch):
    drop = env.indexer.add(POLICY)
    feed(env, drop)
    run_once(drivers_of(env))
    env.indexer.delete(drop.id)

    real_delete = env.storage.delete_metric

    def delete_then_die(metric_id):
        real_delete(metric_id)
        raise Crash

    monkeypatch.setattr(env.storage, "delete_metric", delete_then_die)
    with pytest.raises(Crash):
        Janitor().run(drivers_of(env))
    # Data gone, row still there: the row is the to-do list.
    assert not on_disk(env.storage, drop.id)
    assert env.indexer.list_deleted_metric_ids() == [drop.id]
    # Locks held by a dead process are released by the kernel; here the finally blocks did it.
    assert env.locks.try_lock(JANITOR_LOCK)
    env.locks.unlock(JANITOR_LOCK)

    monkeypatch.setattr(env.storage, "delete_metric", real_delete)
    assert Janitor().run(drivers_of(env)).metrics_expunged == 1
    assert env.indexer.metrics == {}


def test_failed_expunge_is_retried_next_pass(env, monkeypatch):
    drop = env.indexer.add(POLICY)
    feed(env, drop)
    run_once(drivers_of(env))
    env.indexer.delete(drop.id)
    monkeypatch.setattr(env.indexer, "expunge_metric", lambda mid: (_ for _ in ()).throw(OSError("db down")))
    stats = Janitor().run(drivers_of(env))
    assert (stats.metrics_expunged, stats.metrics_failed) == (0, 1)
    assert not on_disk(env.storage, drop.id)
    monkeypatch.undo()
    assert run_janitor(drivers_of(env)) == 1
    assert env.indexer.metrics == {}


def test_busy_sack_is_left_for_the_next_pass(env):
    drop = env.indexer.add(POLICY)
    feed(env, drop)
    run_once(drivers_of(env))
    env.indexer.delete(drop.id)
    sack = env.incoming.sack_for(drop.id)
    assert env.locks.try_lock(sack)
    other = type(env.locks)(env.locks.root)  # another worker's view of the same locks
    try:
        stats = Janitor().run(Drivers(env.incoming, env.storage, env.indexer, other))
    finally:
        env.locks.unlock(sack)
    assert (stats.metrics_expunged, stats.metrics_busy) == (0, 1)
    assert on_disk(env.storage, drop.id)
    assert run_janitor(drivers_of(env)) == 1
    assert not on_disk(env.storage, drop.id)


def test_batch_size_bounds_the_metrics_expunged_per_pass(env):
    ms = [env.indexer.add(POLICY) for _ in range(5)]
    for m in ms:
        env.indexer.delete(m.id)
    janitor = Janitor(JanitorSettings(batch_size=2))
    assert [janitor.run(drivers_of(env)).metrics_expunged for _ in range(4)] == [2, 2, 1, 0]
    assert expunge_deleted_metrics(env.incoming, env.storage, env.indexer, env.locks) == 0


def test_one_janitor_at_a_time(env):
    drop = env.indexer.add(POLICY)
    env.indexer.delete(drop.id)
    other = type(env.locks)(env.locks.root)
    assert other.try_lock(JANITOR_LOCK)
    try:
        assert Janitor().run(drivers_of(env)) is None
        assert run_janitor(drivers_of(env)) == 0
    finally:
        other.unlock(JANITOR_LOCK)
    assert run_janitor(drivers_of(env)) == 1


def test_pass_is_logged_at_info_only_when_it_did_something(env, caplog):
    caplog.set_level(logging.INFO, logger="telescale.processing.janitor")
    Janitor().run(drivers_of(env))
    assert not [r for r in caplog.records if r.levelno >= logging.INFO]
    drop = env.indexer.add(POLICY)
    env.indexer.delete(drop.id)
    Janitor().run(drivers_of(env))
    assert any("1 deleted metrics expunged" in r.getMessage() for r in caplog.records)


def test_worker_runs_the_janitor(env):
    drop = env.indexer.add(POLICY)
    env.indexer.delete(drop.id)
    stop = threading.Event()
    done = threading.Event()
    real = env.indexer.expunge_metric

    def expunge(mid):
        real(mid)
        done.set()

    env.indexer.expunge_metric = expunge
    drivers = drivers_of(env)
    thread = threading.Thread(
        target=run_worker,
        args=(0, 1, lambda: drivers, stop),
        kwargs={"delay": 0.01, "janitor_interval": 0.0, "janitor_settings": JanitorSettings()},
    )
    thread.start()
    try:
        assert done.wait(10)
    finally:
        stop.set()
        thread.join(10)
    assert env.indexer.metrics == {}


# -- auto-end ------------------------------------------------------------------------------------------


@dataclass
class FakeResource:
    id: uuid.UUID
    started_at: datetime.datetime
    metric_ids: frozenset
    ended_at: datetime.datetime | None = None


@dataclass
class ResourceIndexer(MemoryIndexer):
    """The in-memory indexer plus the resource calls of the auto-end and history jobs."""

    resources: dict = field(default_factory=dict)
    revisions: list = field(default_factory=list)  # (resource id, revision_end)
    listed: list = field(default_factory=list)

    def add_resource(self, *metrics, started_at=datetime.datetime(2020, 1, 1, tzinfo=datetime.UTC)):
        res = FakeResource(uuid.uuid4(), started_at, frozenset(m.id for m in metrics))
        self.resources[res.id] = res
        return res

    def list_open_resources(self, *, after=None, limit=1000):
        rows = sorted((r for r in self.resources.values() if r.ended_at is None), key=lambda r: r.id)
        rows = [r for r in rows if after is None or r.id > after][:limit]
        self.listed.append([r.id for r in rows])
        return rows

    def end_resource(self, id, ended_at, *, metric_ids=None):
        res = self.resources.get(id)
        if res is None or res.ended_at is not None or (metric_ids is not None and res.metric_ids != metric_ids):
            return None
        self.revisions.append((id, datetime.datetime.now(datetime.UTC)))
        res.ended_at = max(ended_at, res.started_at)
        return res

    def expire_history(self, before, limit=1000):
        old = [r for r in self.revisions if r[1] < before][:limit]
        self.revisions = [r for r in self.revisions if r not in old]
        return len(old)


@pytest.fixture
def renv(env):
    env.indexer = ResourceIndexer()
    return env


def test_auto_end_sets_ended_at_to_the_newest_measure(renv):
    env = renv
    a, b, silent = env.indexer.add(POLICY), env.indexer.add(POLICY), env.indexer.add(POLICY)
    feed(env, a, n=10)  # last measure T0 + 9 s
    feed(env, b, n=20)  # last measure T0 + 19 s: the resource's newest
    run_once(drivers_of(env))
    res = env.indexer.add_resource(a, b, silent)  # a metric that never got a measure does not keep it open
    janitor = Janitor(JanitorSettings(resource_end_after=3600))

    assert janitor.run(drivers_of(env), now_ns=T0 + 19 * S + HOUR).resources_ended == 0  # not yet: exactly 1 h
    assert res.ended_at is None
    stats = janitor.run(drivers_of(env), now_ns=T0 + 20 * S + HOUR)
    assert stats.resources_ended == 1
    assert res.ended_at == datetime.datetime.fromtimestamp(T0 // S + 19, datetime.UTC)
    assert len(env.indexer.revisions) == 1
    assert janitor.run(drivers_of(env), now_ns=T0 + 2 * HOUR).resources_ended == 0  # already ended


def test_auto_end_keeps_resources_open(renv):
    env = renv
    recent, old, waiting = env.indexer.add(POLICY), env.indexer.add(POLICY), env.indexer.add(POLICY)
    feed(env, recent, start=T0 + 10 * HOUR)
    feed(env, old)
    feed(env, waiting)
    run_once(drivers_of(env))
    feed(env, waiting, start=T0 + 10 * HOUR)  # newer measures not processed yet
    mixed = env.indexer.add_resource(recent, old)
    pending = env.indexer.add_resource(waiting)
    empty = env.indexer.add_resource(env.indexer.add(POLICY))
    bare = env.indexer.add_resource()
    stats = Janitor(JanitorSettings(resource_end_after=3600)).run(drivers_of(env), now_ns=T0 + 10 * HOUR + 60 * S)
    assert stats.resources_ended == 0
    assert [r.ended_at for r in (mixed, pending, empty, bare)] == [None] * 4


def test_auto_end_is_off_by_default(renv):
    env = renv
    m = env.indexer.add(POLICY)
    feed(env, m)
    run_once(drivers_of(env))
    res = env.indexer.add_resource(m)
    Janitor().run(drivers_of(env), now_ns=T0 + 1000 * HOUR)
    assert res.ended_at is None
    assert env.indexer.listed == []


def test_auto_end_visits_resources_in_batches_and_wraps_around(renv):
    env = renv
    ms = [env.indexer.add(POLICY) for _ in range(5)]
    env.incoming.add_measures({m.id: ([T0], [1.0]) for m in ms})
    run_once(drivers_of(env))
    resources = sorted((env.indexer.add_resource(m) for m in ms), key=lambda r: r.id)
    janitor = Janitor(JanitorSettings(resource_end_after=60, batch_size=2))
    far = T0 + 100 * HOUR
    assert [janitor.run(drivers_of(env), now_ns=far).resources_ended for _ in range(3)] == [2, 2, 1]
    assert all(r.ended_at is not None for r in resources)
    assert env.indexer.listed[:3] == [[r.id for r in resources[:2]], [r.id for r in resources[2:4]], [resources[4].id]]
    janitor.run(drivers_of(env), now_ns=far)
    assert env.indexer.listed[3] == []  # wrapped around: starts again from the first id


def test_auto_end_budget_counts_metrics(renv):
    env = renv
    ms = [env.indexer.add(POLICY) for _ in range(4)]
    env.incoming.add_measures({m.id: ([T0], [1.0]) for m in ms})
    run_once(drivers_of(env))
    big = env.indexer.add_resource(*ms[:3])
    small = env.indexer.add_resource(ms[3])
    first, second = sorted((big, small), key=lambda r: r.id)
    janitor = Janitor(JanitorSettings(resource_end_after=60, batch_size=2))
    janitor.run(drivers_of(env), now_ns=T0 + HOUR)
    if first is big:  # 3 metrics read: over the budget of 2, so the small one waits for the next pass
        assert (big.ended_at is not None, small.ended_at) == (True, None)
    else:
        assert big.ended_at is not None and small.ended_at is not None
    janitor.run(drivers_of(env), now_ns=T0 + HOUR)
    assert second.ended_at is not None


# -- history expiry --------------------------------------------------------------------------------------


def test_history_expiry_in_batches(renv):
    env = renv
    now = datetime.datetime.now(datetime.UTC)
    rid = uuid.uuid4()
    env.indexer.revisions = [(rid, now - datetime.timedelta(days=d)) for d in (40, 35, 31, 20, 1)]
    janitor = Janitor(JanitorSettings(history_retention=30 * 86400, batch_size=2))
    now_ns = int(now.timestamp()) * S
    assert janitor.run(drivers_of(env), now_ns=now_ns).history_expired == 2
    assert janitor.run(drivers_of(env), now_ns=now_ns).history_expired == 1
    assert janitor.run(drivers_of(env), now_ns=now_ns).history_expired == 0
    assert len(env.indexer.revisions) == 2


def test_history_is_kept_by_default(renv):
    env = renv
    env.indexer.revisions = [(uuid.uuid4(), datetime.datetime(2000, 1, 1, tzinfo=datetime.UTC))]
    assert Janitor().run(drivers_of(env)) == JanitorStats()
    assert len(env.indexer.revisions) == 1


def test_a_failing_job_does_not_stop_the_others(renv, monkeypatch, caplog):
    env = renv
    drop = env.indexer.add(POLICY)
    env.indexer.delete(drop.id)
    env.indexer.revisions = [(uuid.uuid4(), datetime.datetime(2000, 1, 1, tzinfo=datetime.UTC))]
    monkeypatch.setattr(env.indexer, "list_open_resources", lambda **kw: (_ for _ in ()).throw(OSError("db")))
    stats = Janitor(JanitorSettings(resource_end_after=60, history_retention=60)).run(drivers_of(env))
    assert (stats.metrics_expunged, stats.history_expired) == (1, 1)
    assert any("auto-end failed" in r.getMessage() for r in caplog.records)


# -- settings ------------------------------------------------------------------------------------------


def test_janitor_settings():
    s = config.load(environ={})
    assert (s.janitor.resource_end_after, s.janitor.history_retention, s.janitor.batch_size) == (0, 0, 1000)
    assert s.processing.janitor_interval == 30.0
    s = config.load(
        environ={"TELESCALE_JANITOR__HISTORY_RETENTION": "86400"},
        overrides=["janitor.resource_end_after=3600", "processing.janitor_interval=5"],
    )
    assert (s.janitor.resource_end_after, s.janitor.history_retention, s.processing.janitor_interval) == (
        3600.0,
        86400.0,
        5.0,
    )
    with pytest.raises(config.ConfigError, match="janitor.batch_size"):
        config.load(environ={}, overrides=["janitor.batch_size=lots"])
