"""Two evaluator processes sharing the real PostgreSQL indexer and the real Redis (tooz) never both fire the
same transition: the hash ring splits the alarms between them, and when their shares overlap (as they
briefly do while membership changes) the conditional state write lets exactly one of them commit it."""

from __future__ import annotations

import json
import multiprocessing
import os
import uuid
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from telescale.indexer import Alarm, Indexer
from telescale.processing.processor import process_metric_measures
from telescale.storage.file import FileStorage
from tests.conftest import service_unavailable

NS = 1_000_000_000
MINUTE = 60 * NS
NOW = 1_767_225_600 * NS
ALARMS = 60
PHASES = 4  # breach, recover, breach, recover: one transition per alarm per phase
REDIS_URL = os.environ.get("TELESCALE_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")


def _redis_or_fail() -> None:
    import redis

    try:
        redis.Redis.from_url(REDIS_URL, socket_connect_timeout=2).ping()
    except redis.RedisError as e:
        service_unavailable(f"Redis at {REDIS_URL}: {e}")


def _evaluator_process(indexer_url: str, storage_dir: str, group: str, barrier: Any, results: Any, name: str) -> None:
    """Join ``group`` on Redis; even phases: one cycle on its own share of the ring; odd phases: one cycle as
    if it owned every alarm, at the same instant as the other process (their shares overlap entirely)."""
    from telescale.alarming.evaluator import Evaluator
    from telescale.config import AlarmingSettings
    from telescale.coordination import ToozCoordinator
    from telescale.query.reader import Query

    indexer = Indexer(indexer_url)
    storage = FileStorage(storage_dir)
    coordinator = ToozCoordinator(REDIS_URL, f"test-{name}-{os.getpid()}", heartbeat_timeout=5)
    partition = coordinator.join(group)
    barrier.wait(60)  # both members joined
    coordinator.refresh()
    barrier.wait(60)
    shared = Evaluator(indexer, Query(indexer, storage), AlarmingSettings(evaluation_interval=30), owns=partition.mine)
    everything = Evaluator(indexer, Query(indexer, storage), AlarmingSettings(evaluation_interval=30))
    try:
        for phase in range(PHASES):
            barrier.wait(60)  # the data of this phase is written
            now = NOW + (phase * 2 + 1) * 60 * NS
            stats = (shared if phase % 2 == 0 else everything).cycle(now)
            results.put((name, phase, stats.due, stats.transitions, stats.lost_races))
            barrier.wait(60)
    finally:
        coordinator.stop()
        storage.close()
        indexer.dispose()


@pytest.mark.timeout(240)
def test_two_evaluators_never_both_fire_a_transition(postgresql_empty_url: str, tmp_path: Path) -> None:
    _redis_or_fail()
    indexer = Indexer(postgresql_empty_url)
    indexer.upgrade()
    storage = FileStorage(tmp_path / "storage")
    metrics, alarms = [], []
    for i in range(ALARMS):
        rid = uuid.uuid4()
        resource = indexer.create_resource("generic", rid, str(rid), "admin",
                                           metrics={"cpu": {"archive_policy_name": "medium"}})
        metrics.append(resource.metrics["cpu"])
        alarms.append(indexer.create_alarm(Alarm(
            alarm_id=uuid.uuid4(), name=f"a{i}", type="gnocchi_resources_threshold", user_id="u", project_id="p",
            alarm_actions=("http://receiver.invalid/alarm",), ok_actions=("http://receiver.invalid/ok",),
            rule={"metric": "cpu", "resource_id": str(rid), "resource_type": "generic", "aggregation_method": "mean",
                  "granularity": 60, "evaluation_periods": 1, "threshold": 50.0, "comparison_operator": "gt"})))
    ctx = multiprocessing.get_context("spawn")
    barrier = ctx.Barrier(3)
    results = ctx.Queue()
    group = f"alarm_evaluator-test-{uuid.uuid4().hex[:8]}"
    procs = [ctx.Process(target=_evaluator_process, args=(postgresql_empty_url, str(tmp_path / "storage"), group,
                                                           barrier, results, name)) for name in ("e1", "e2")]
    for p in procs:
        p.start()
    try:
        barrier.wait(60)
        barrier.wait(60)
        for phase in range(PHASES):
            value = 90.0 if phase % 2 == 0 else 10.0
            at = NOW + phase * 2 * 60 * NS
            for metric_id in metrics:
                m = indexer.get_metrics([metric_id])[0]
                process_metric_measures(storage, m.id, m.archive_policy, np.array([at], np.int64),
                                        np.array([value]))
            storage.sync()  # durable and visible to the other processes, as processing does before its ack
            barrier.wait(60)
            barrier.wait(60)
        rows = [results.get(timeout=30) for _ in range(2 * PHASES)]
    finally:
        for p in procs:
            p.join(60)
            if p.is_alive():
                p.kill()
    for phase in range(PHASES):
        phase_rows = [r for r in rows if r[1] == phase]
        if phase % 2 == 0:  # the ring split the due alarms, each to exactly one of the two processes
            assert sum(r[2] for r in phase_rows) == ALARMS
            assert all(0 < r[2] < ALARMS for r in phase_rows)
        # Every alarm changed state once in this phase, fired by exactly one process, even when both
        # evaluated it at the same instant.
        assert sum(r[3] for r in phase_rows) == ALARMS, phase_rows
    for alarm in alarms:
        history = indexer.get_alarm_history(alarm.alarm_id, project=None)
        states = [json.loads(h.detail)["state"] for h in history if h.type == "state transition"]
        assert sorted(states) == sorted(["alarm", "ok", "alarm", "ok"]), states
    claimed = indexer.claim_notifications(10 * ALARMS * PHASES, 60.0)
    assert len(claimed) == ALARMS * PHASES  # one notification per transition, never two
    storage.close()
    indexer.dispose()
