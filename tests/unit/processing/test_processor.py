import logging
import os
import uuid

import numpy as np
import pytest

from telescale.coordination import FileSackLocks, LockTimeout
from telescale.incoming.file import FileIncoming
from telescale.processing.processor import process_metric, process_sack
from telescale.processing.worker import Drivers, expunge_deleted_metrics, run_janitor, run_once
from telescale.query.measures import get_measures
from telescale.storage.file import FileStorage
from telescale.timeseries import ArchivePolicy, PolicyItem
from tests.unit.processing.proc_helpers import POLICY, MemoryIndexer, S, numpy_aggregate

T0 = 1_700_000_000 * S


def drain(env):
    total = 0
    for sack in env.incoming.sacks_with_work():
        stats = process_sack(sack, env.incoming, env.storage, env.indexer, env.locks)
        assert stats.locked
        total += stats.measures
    return total


def test_measures_round_trip_matches_numpy(env):
    rng = np.random.default_rng(42)
    metrics = [env.indexer.add(POLICY) for _ in range(6)]
    pushed = {m.id: ([], []) for m in metrics}
    for _ in range(3):  # three API calls, shuffled times, duplicates across calls
        batch = {}
        for m in metrics:
            ts = T0 + rng.integers(0, 3 * 3600, 500) * S + rng.integers(0, S, 500)
            vals = np.round(rng.normal(50, 10, 500), 3)
            batch[m.id] = (ts, vals)
            pushed[m.id][0].append(ts)
            pushed[m.id][1].append(vals)
        env.incoming.add_measures(batch)
    assert drain(env) == 6 * 1500
    assert env.incoming.sacks_with_work() == []
    for m in metrics:
        ts, vals = np.concatenate(pushed[m.id][0]), np.concatenate(pushed[m.id][1])
        for method in ("mean", "max", "count", "last", "median", "rate:mean"):
            got = get_measures(env.storage, m, method)
            assert [g for g, _, _ in got] == [60 * S, S]
            for g, gts, gvals in got:
                ets, evals = numpy_aggregate(ts, vals, g, method, POLICY.item(g).points)
                np.testing.assert_array_equal(gts, ets)
                np.testing.assert_allclose(gvals, evals, rtol=1e-9)


def test_incremental_batches_equal_one_batch(env, tmp_path):
    rng = np.random.default_rng(1)
    m = env.indexer.add(POLICY)
    ts = T0 + np.arange(5000) * S // 3
    vals = rng.random(5000)
    for chunk in np.array_split(np.arange(5000), 7):
        env.incoming.add_measures({m.id: (ts[chunk], vals[chunk])})
        drain(env)
    for method in ("mean", "sum", "rate:mean", "first"):
        (g60, t60, v60), (g1, t1, v1) = get_measures(env.storage, m, method)
        ets, evals = numpy_aggregate(ts, vals, S, method, 7200)
        np.testing.assert_array_equal(t1, ets)
        np.testing.assert_allclose(v1, evals, rtol=1e-9)


def test_one_indexer_call_per_sack(env):
    for _ in range(20):
        m = env.indexer.add(POLICY)
        env.incoming.add_measures({m.id: ([T0], [1.0])})
    sacks = env.incoming.sacks_with_work()
    drain(env)
    assert env.indexer.calls == len(sacks)


def test_retention_truncates_and_deletes_old_splits(env):
    policy = ArchivePolicy("short", 0, (PolicyItem(S, 10),), ("mean", "count"))
    m = env.indexer.add(policy)
    ts = T0 + np.arange(0, 3 * 3600 * S, 7 * S // 2)  # three hours, every 3.5 s
    env.incoming.add_measures({m.id: (ts, np.ones(ts.size))})
    drain(env)
    keys = env.storage.list_split_keys(m.id, S)
    assert len(keys) == 1  # earlier splits expired whole
    ((g, got_ts, got_vals),) = get_measures(env.storage, m, "count")
    last = ts[-1] // S * S
    assert got_ts[0] >= last - 9 * S and got_ts[-1] == last
    # Later data moves the cutoff: old buckets disappear from reads too.
    env.incoming.add_measures({m.id: ([ts[-1] + 5 * S], [2.0])})
    drain(env)
    ((_, got_ts, _),) = get_measures(env.storage, m, "count")
    assert got_ts[0] >= last + 5 * S - 9 * S


def test_late_points_inside_and_outside_back_window(env, caplog):
    policy = ArchivePolicy("bw", 1, (PolicyItem(60 * S, None),), ("sum", "count"))
    m = env.indexer.add(policy)
    env.incoming.add_measures({m.id: ([T0 + 3600 * S], [1.0])})
    drain(env)
    caplog.set_level(logging.INFO, "telescale.processing.processor")
    # one bucket back is inside back_window=1; 10 minutes back is not.
    block_start = (T0 + 3600 * S) // (60 * S) * (60 * S)
    env.incoming.add_measures({m.id: ([block_start - 30 * S, T0 + 3000 * S], [5.0, 7.0])})
    stats = [process_sack(s, env.incoming, env.storage, env.indexer, env.locks) for s in env.incoming.sacks_with_work()]
    assert sum(s.dropped for s in stats) == 1
    assert str(m.id) in caplog.text and "dropped" in caplog.text
    ((_, ts, vals),) = get_measures(env.storage, m, "sum")
    assert vals.tolist() == [5.0, 1.0]


def _scenario(tmp, crash, monkeypatch):
    class E:
        incoming = FileIncoming(tmp / "incoming", sacks=4)
        storage = FileStorage(tmp / "storage")
        locks = FileSackLocks(tmp / "locks")
        indexer = MemoryIndexer()

    rng = np.random.default_rng(7)
    metrics = [E.indexer.add(POLICY, uuid.UUID(int=i)) for i in range(8)]
    first = {m.id: (T0 + rng.integers(0, 7200, 300) * S, rng.random(300)) for m in metrics}
    second = {m.id: (T0 + rng.integers(0, 7200, 300) * S, rng.random(300)) for m in metrics}
    E.incoming.add_measures(first)
    drain(E)
    E.incoming.add_measures(second)
    if crash:
        # Storage written and synced, then the process dies before acking every sack.
        with monkeypatch.context() as mp:
            mp.setattr(E.incoming, "ack", lambda handle: None)
            drain(E)
        assert E.incoming.backlog() == (8, 2400)
    drain(E)  # the (restarted) worker replays what was never acked
    assert E.incoming.backlog() == (0, 0)
    return snapshot(E.storage.root)


def test_replay_after_crash_before_ack_is_identical(tmp_path, monkeypatch):
    clean = _scenario(tmp_path / "clean", False, monkeypatch)
    replayed = _scenario(tmp_path / "crashed", True, monkeypatch)
    assert replayed.keys() == clean.keys()
    assert replayed == clean


def snapshot(root):
    out = {}
    for d, _, names in os.walk(root):
        for n in names:
            with open(os.path.join(d, n), "rb") as f:
                out[os.path.relpath(os.path.join(d, n), root)] = f.read()
    return out


def test_measures_of_unknown_or_deleted_metrics_are_discarded(env, caplog):
    caplog.set_level(logging.INFO)
    gone, deleted = uuid.uuid4(), env.indexer.add(POLICY)
    env.indexer.delete(deleted.id)
    env.incoming.add_measures({gone: ([T0], [1.0]), deleted.id: ([T0], [2.0])})
    assert drain(env) == 2
    assert env.incoming.backlog() == (0, 0)
    assert env.storage.get_raw(gone) is None and env.storage.get_raw(deleted.id) is None
    assert f"Discarding 1 measures of metric {gone}" in caplog.text


def test_locked_sack_is_skipped_and_refresh_waits(env, tmp_path):
    m = env.indexer.add(POLICY)
    env.incoming.add_measures({m.id: ([T0], [3.0])})
    sack = env.incoming.sack_for(m.id)
    other = FileSackLocks(tmp_path / "locks")
    assert other.try_lock(sack)
    assert not process_sack(sack, env.incoming, env.storage, env.indexer, env.locks).locked
    with pytest.raises(LockTimeout):
        process_metric(m.id, env.incoming, env.storage, env.indexer, env.locks, timeout=0.05)
    other.unlock(sack)
    stats = process_metric(m.id, env.incoming, env.storage, env.indexer, env.locks, timeout=1)
    assert stats.measures == 1
    assert process_metric(m.id, env.incoming, env.storage, env.indexer, env.locks) is None
    (_, _, v), _ = get_measures(env.storage, m, "mean")
    assert v.tolist() == [3.0]


def test_janitor_expunges_deleted_metrics(env):
    keep, drop = env.indexer.add(POLICY), env.indexer.add(POLICY)
    env.incoming.add_measures({keep.id: ([T0], [1.0]), drop.id: ([T0], [1.0])})
    drain(env)
    env.indexer.delete(drop.id)
    drivers = Drivers(env.incoming, env.storage, env.indexer, env.locks)
    assert run_janitor(drivers) == 1
    assert drop.id not in env.indexer.metrics
    assert env.storage.get_raw(drop.id) is None
    assert env.storage.get_raw(keep.id) is not None
    assert expunge_deleted_metrics(env.incoming, env.storage, env.indexer, env.locks) == 0


def test_run_once_drains_everything(env):
    ms = [env.indexer.add(POLICY) for _ in range(10)]
    env.incoming.add_measures({m.id: ([T0, T0 + S], [1.0, 2.0]) for m in ms})
    drivers = Drivers(env.incoming, env.storage, env.indexer, env.locks)
    assert run_once(drivers, 1, 3) == 20
    assert run_once(drivers, 1, 3) == 0


def test_refresh_processes_every_round_a_bounded_read_leaves(env):
    """A read takes a bounded number of writes, oldest first: refresh goes on until the metric has none left."""
    m, other = env.indexer.add(POLICY), env.indexer.add(POLICY)
    env.incoming.max_read_files = 2
    for i in range(5):
        env.incoming.add_measures({m.id: ([T0 + i * S], [float(i)])})
    env.incoming.add_measures({other.id: ([T0], [1.0])})
    stats = process_metric(m.id, env.incoming, env.storage, env.indexer, env.locks, timeout=5)
    assert stats.measures >= 5 and not env.incoming.pending_for_metric(m.id)
    (_, _, v), _ = get_measures(env.storage, m, "mean")
    assert v.tolist() == [2.0]



def test_refresh_does_not_chase_writes_that_arrive_after_it(env):
    """A metric written to without pause: refresh makes what was accepted before it visible and returns, rather
    than processing round after round until its timeout. Here a new write lands during every round."""
    import time

    m = env.indexer.add(POLICY)
    env.incoming.add_measures({m.id: ([T0], [1.0])})
    read_sack, n = env.incoming.read_sack, [1]

    def read_then_write(sack):
        batch = read_sack(sack)
        env.incoming.add_measures({m.id: ([T0 + n[0] * S], [1.0])})
        n[0] += 1
        return batch

    env.incoming.read_sack = read_then_write
    started = time.monotonic()
    stats = process_metric(m.id, env.incoming, env.storage, env.indexer, env.locks, timeout=3)
    assert time.monotonic() - started < 1.5, f"refresh chased {n[0] - 1} rounds of new writes"
    assert stats is not None and stats.measures == 1 and n[0] == 2
