import uuid
from dataclasses import dataclass, field

import numpy as np
import pytest

from telescale.coordination import FileSackLocks
from telescale.incoming.file import FileIncoming
from telescale.storage.file import FileStorage
from telescale.timeseries import ArchivePolicy, PolicyItem

S = 10**9


@dataclass(frozen=True)
class FakeMetric:
    id: uuid.UUID
    archive_policy: ArchivePolicy
    status: str = "active"


@dataclass
class MemoryIndexer:
    """Plain in-memory stand-in for the indexer's processing-facing methods (unit tests only)."""

    metrics: dict = field(default_factory=dict)
    counters: dict = field(default_factory=dict)
    calls: int = 0

    def add(self, policy, mid=None):
        m = FakeMetric(mid or uuid.uuid4(), policy)
        self.metrics[m.id] = m
        return m

    def delete(self, mid):
        self.metrics[mid] = FakeMetric(mid, self.metrics[mid].archive_policy, "delete")

    def get_metrics(self, ids):
        self.calls += 1
        return [self.metrics[i] for i in ids if i in self.metrics]

    def add_to_counters(self, increments):
        for name, n in increments.items():
            self.counters[name] = self.counters.get(name, 0) + n

    def trigger_alarms_reading(self, metric_ids):
        self.triggered = [*getattr(self, "triggered", []), *metric_ids]
        return 0

    def list_deleted_metric_ids(self, limit=None):
        return [m.id for m in self.metrics.values() if m.status == "delete"][:limit]

    def expunge_metric(self, mid):
        del self.metrics[mid]


@pytest.fixture
def env(tmp_path):
    class Env:
        incoming = FileIncoming(tmp_path / "incoming", sacks=4)
        storage = FileStorage(tmp_path / "storage")
        locks = FileSackLocks(tmp_path / "locks")
        indexer = MemoryIndexer()

    return Env


POLICY = ArchivePolicy(
    "test",
    0,
    (PolicyItem(S, 7200), PolicyItem(60 * S, None)),
    ("mean", "max", "min", "sum", "count", "last", "first", "median", "rate:mean"),
)


def numpy_aggregate(ts, vals, g, method, points=None):
    """Reference: last value wins for duplicate timestamps, bucket, aggregate, keep ``points``."""
    order = np.argsort(ts, kind="stable")
    ts, vals = ts[order], vals[order]
    keep = np.append(ts[1:] != ts[:-1], True)
    ts, vals = ts[keep], vals[keep]
    if method.startswith("rate:"):
        # counter-reset rule: a drop is a restart from 0, the increase is the new value (never < 0)
        ts, vals = ts[1:], np.where(vals[1:] < vals[:-1], np.maximum(vals[1:], 0.0), np.diff(vals))
        method = method[5:]
    b = ts // g * g
    keys, idx = np.unique(b, return_inverse=True)
    out = []
    for i in range(keys.size):
        v = vals[idx == i]
        out.append(
            {
                "mean": np.mean,
                "max": np.max,
                "min": np.min,
                "sum": np.sum,
                "count": np.size,
                "last": lambda x: x[-1],
                "first": lambda x: x[0],
                "median": np.median,
            }[method](v)
        )
    out = np.array(out, dtype=float)
    if points is not None:
        keep = keys >= keys[-1] - (points - 1) * g
        keys, out = keys[keep], out[keep]
    return keys, out


class LocalDrivers:
    """Picklable ``make_drivers`` for worker processes: file drivers under ``root`` and an in-memory
    indexer knowing ``metric_ids`` (all with ``policy``)."""

    def __init__(self, root, metric_ids, policy, sacks=4):
        self.root, self.metric_ids, self.policy, self.sacks = str(root), list(metric_ids), policy, sacks

    def __call__(self):
        from telescale.processing.worker import Drivers

        indexer = MemoryIndexer()
        for mid in self.metric_ids:
            indexer.add(self.policy, mid)
        return Drivers(
            FileIncoming(f"{self.root}/incoming", sacks=self.sacks),
            FileStorage(f"{self.root}/storage"),
            indexer,
            FileSackLocks(f"{self.root}/locks"),
        )
