"""The write-time back-window check reads a metric's raw tail only when a batch could be too old."""

from __future__ import annotations

import uuid

import numpy as np

from telescale.processing.backwindow import BackWindowGuard
from telescale.processing.processor import process_metric_measures
from telescale.storage.file import FileStorage
from telescale.timeseries.policy import ArchivePolicy, PolicyItem

MIN = 60 * 10**9
POLICY = ArchivePolicy("bw", 1, (PolicyItem(MIN, 1440),), ("mean",))


class CountingStorage(FileStorage):
    """The real file storage, counting raw-tail reads."""

    reads = 0

    def get_raw(self, metric_id):  # type: ignore[no-untyped-def]
        self.reads += 1
        return super().get_raw(metric_id)


def _batch(mid: uuid.UUID, *minutes: int) -> dict:
    ts = np.array(minutes, dtype=np.int64) * MIN
    return {mid: (ts, np.ones(ts.size))}


def test_bounds_are_remembered_and_rechecked_only_for_older_batches(tmp_path) -> None:
    storage = CountingStorage(tmp_path, fsync=False)
    guard = BackWindowGuard(storage)
    mid = uuid.uuid4()
    kept, dropped = guard.split(_batch(mid, 0, 5), {mid: POLICY})  # nothing stored yet: all accepted
    assert dropped == {} and (kept[mid][0] // MIN).tolist() == [0, 5]
    ts, values = _batch(mid, 0, 5)[mid]
    process_metric_measures(storage, mid, POLICY, ts, values)
    storage.sync()
    reads = storage.reads
    kept, dropped = guard.split(_batch(mid, 1, 3, 4, 6), {mid: POLICY})  # bound: 12:04 (one block back)
    assert dropped == {mid: 2} and (kept[mid][0] // MIN).tolist() == [4, 6]
    assert storage.reads == reads + 1
    assert guard.split(_batch(mid, 4, 7), {mid: POLICY})[1] == {}  # at or after the bound: no read
    assert storage.reads == reads + 1
    assert guard.split(_batch(mid, 2), {mid: POLICY})[1] == {mid: 1}  # before it: checked afresh
    assert storage.reads == reads + 2


def test_each_metric_of_a_batch_gets_its_own_bound(tmp_path) -> None:
    """Many metrics in one batch (checked together): empty ones, unsorted ones, one reaching too far back."""
    storage = FileStorage(tmp_path, fsync=False)
    guard = BackWindowGuard(storage)
    old, fresh, empty, new = (uuid.uuid4() for _ in range(4))
    for mid in (old, fresh):
        ts, values = _batch(mid, 0, 5)[mid]
        process_metric_measures(storage, mid, POLICY, ts, values)
    storage.sync()
    batch = {**_batch(old, 9, 1, 6, 2), **_batch(empty), **_batch(fresh, 8, 4), **_batch(new, 0)}
    kept, dropped = guard.split(batch, dict.fromkeys(batch, POLICY))
    assert dropped == {old: 2}
    assert {mid: (ts // MIN).tolist() for mid, (ts, _) in kept.items()} == {
        old: [9, 6], empty: [], fresh: [8, 4], new: [0]}
