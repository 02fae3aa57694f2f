"""Real worker processes (spawn) draining one incoming directory."""

import multiprocessing
import os
import pathlib
import signal
import time
import uuid

import numpy as np
import pytest

from telescale.processing.worker import run_worker
from telescale.query.measures import get_measures
from telescale.timeseries import ArchivePolicy, PolicyItem
from tests.unit.processing.proc_helpers import FakeMetric, LocalDrivers, S

POLICY = ArchivePolicy("mp", 0, (PolicyItem(S, None), PolicyItem(60 * S, None)), ("sum", "count"))
T0 = 1_600_000_000 * S


@pytest.fixture
def ctx(monkeypatch):
    # Spawned children import this test package by name: make the repository root importable.
    monkeypatch.syspath_prepend(str(pathlib.Path(__file__).resolve().parents[3]))
    return multiprocessing.get_context("spawn")


def _push_rounds(drivers, metric_ids, rounds, per_round, first_round=0):
    pushed = 0
    for r in range(first_round, first_round + rounds):
        ts = T0 + (r * per_round + np.arange(per_round)) * S
        drivers.incoming.add_measures({m: (ts, np.full(per_round, float(i + 1))) for i, m in enumerate(metric_ids)})
        pushed += per_round
    return pushed


def _wait_drained(incoming, procs, timeout=40):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if incoming.backlog() == (0, 0):
            return
        assert any(p.is_alive() for p in procs), "every worker died"
        time.sleep(0.05)
    raise AssertionError(f"backlog not drained: {incoming.backlog()}")


def _check(drivers, metric_ids, points_per_metric):
    for i, mid in enumerate(metric_ids):
        m = FakeMetric(mid, POLICY)
        (_, _, c60), (_, t1, c1) = get_measures(drivers.storage, m, "count")
        assert c1.size == points_per_metric and c1.sum() == points_per_metric
        assert c60.sum() == points_per_metric
        (_, _, s60), _ = get_measures(drivers.storage, m, "sum")
        assert s60.sum() == points_per_metric * (i + 1)


def _start(ctx, index, workers, make, stop):
    p = ctx.Process(target=run_worker, args=(index, workers, make, stop), kwargs={"delay": 0.01})
    p.start()
    return p


def test_two_workers_drain_concurrently_exactly_once(tmp_path, ctx):
    metric_ids = [uuid.uuid4() for _ in range(24)]
    make = LocalDrivers(tmp_path, metric_ids, POLICY)
    drivers = make()
    total = _push_rounds(drivers, metric_ids, rounds=10, per_round=300)
    stop = ctx.Event()
    procs = [_start(ctx, i, 2, make, stop) for i in range(2)]
    try:
        total += _push_rounds(drivers, metric_ids, rounds=10, per_round=300, first_round=10)  # while running
        _wait_drained(drivers.incoming, procs)
    finally:
        stop.set()
        for p in procs:
            p.join(20)
    assert all(p.exitcode == 0 for p in procs)
    _check(drivers, metric_ids, total)


def test_killed_worker_loses_nothing(tmp_path, ctx):
    metric_ids = [uuid.uuid4() for _ in range(40)]
    make = LocalDrivers(tmp_path, metric_ids, POLICY, sacks=8)
    drivers = make()
    total = _push_rounds(drivers, metric_ids, rounds=6, per_round=5000)
    _, pending = drivers.incoming.backlog()
    stop = ctx.Event()
    victim = _start(ctx, 0, 2, make, stop)
    survivor = None
    try:
        deadline = time.monotonic() + 30
        while drivers.incoming.backlog()[1] == pending and time.monotonic() < deadline:
            time.sleep(0.005)
        os.kill(victim.pid, signal.SIGKILL)  # mid-run: some sacks done, others in flight
        victim.join(10)
        assert drivers.incoming.backlog()[1] > 0, "the victim finished everything before being killed"
        survivor = _start(ctx, 1, 2, make, stop)
        _wait_drained(drivers.incoming, [survivor])
    finally:
        stop.set()
        for p in (victim, survivor):
            if p is not None:
                p.join(20)
    assert victim.exitcode == -signal.SIGKILL and survivor.exitcode == 0
    _check(drivers, metric_ids, total)
