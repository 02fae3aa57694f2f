"""Group commit: every caller returns only after a commit that carried its batch, errors reach them all."""

from __future__ import annotations

import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest

from telescale.incoming.base import Columns
from telescale.incoming.group_commit import GroupCommit, merge

M1, M2 = uuid.uuid4(), uuid.uuid4()


def _batch(mid: uuid.UUID, *ts: int) -> Columns:
    return Columns.from_mapping({mid: (np.array(ts, dtype=np.int64), np.array(ts, dtype=np.float64) * 10)})


def test_merge_keeps_arrival_order_per_metric() -> None:
    merged = merge([_batch(M1, 3, 1), _batch(M2, 5), _batch(M1, 2)]).to_mapping()
    assert merged[M1][0].tolist() == [3, 1, 2] and merged[M1][1].tolist() == [30.0, 10.0, 20.0]
    assert merged[M2][0].tolist() == [5]


def test_callers_queued_behind_a_slow_commit_share_the_next_one() -> None:
    commits: list[Columns] = []
    release = threading.Event()

    def commit(batch: Columns) -> None:
        if not commits:
            release.wait(5)  # the first commit is slow: everything else queues behind it
        commits.append(batch)

    gc = GroupCommit(commit)
    done: list[int] = []

    def call(i: int) -> None:
        gc.submit(_batch(M1, i))
        done.append(i)

    with ThreadPoolExecutor(8) as pool:
        first = pool.submit(call, 0)
        time.sleep(0.05)
        rest = [pool.submit(call, i) for i in range(1, 8)]
        time.sleep(0.2)
        assert done == []  # nobody returns before the commit carrying their batch
        release.set()
        for f in [first, *rest]:
            f.result(5)
    assert len(commits) == 2  # the first alone, then the seven that queued meanwhile together
    assert sorted(commits[1].to_mapping()[M1][0].tolist()) == list(range(1, 8))
    assert sorted(done) == list(range(8))


def test_a_failed_commit_raises_in_every_caller_it_carried() -> None:
    release = threading.Event()
    calls = 0

    def commit(batch: Columns) -> None:
        nonlocal calls
        calls += 1
        if calls == 1:
            release.wait(5)
            return
        raise OSError("disk full")

    gc = GroupCommit(commit)
    with ThreadPoolExecutor(4) as pool:
        ok = pool.submit(gc.submit, _batch(M1, 0))
        time.sleep(0.05)
        failing = [pool.submit(gc.submit, _batch(M1, i)) for i in (1, 2, 3)]
        time.sleep(0.1)
        release.set()
        ok.result(5)
        for f in failing:
            with pytest.raises(OSError, match="disk full"):
                f.result(5)
    with pytest.raises(OSError):
        gc.submit(_batch(M2, 9))
