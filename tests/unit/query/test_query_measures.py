import uuid
from dataclasses import dataclass

import numpy as np
import pytest

from telescale.query.measures import UnknownAggregationMethod, UnknownGranularity, get_measures
from telescale.storage.file import FileStorage
from telescale.timeseries import POINTS_PER_SPLIT, ArchivePolicy, PolicyItem, RawSeries, Split, compute_update
from telescale.timeseries.split import partition

S = 10**9
T0 = 1_700_000_000 * S // (3600 * S) * (3600 * S)


@dataclass(frozen=True)
class Metric:
    id: uuid.UUID
    archive_policy: ArchivePolicy


class CountingStorage(FileStorage):
    """The real file driver, recording which split keys are read."""

    def __init__(self, root):
        super().__init__(root, fsync=False)
        self.read_keys = []

    def get_splits(self, metric_id, granularity, keys):
        keys = list(keys)
        self.read_keys.append((granularity, keys))
        return super().get_splits(metric_id, granularity, keys)


def _store(storage, metric, ts, vals):
    """Write aggregates the way processing does (kept minimal: no retention)."""
    upd = compute_update(metric.archive_policy, RawSeries.empty(), ts, vals)
    for g, block in upd.blocks.items():
        storage.put_splits(metric.id, g, {k: Split.from_block(p, k).encode() for k, p in partition(block).items()})
    storage.sync()


@pytest.fixture
def data(tmp_path):
    policy = ArchivePolicy("q", 0, (PolicyItem(S, None), PolicyItem(60 * S, None)), ("mean", "count", "rate:sum"))
    metric = Metric(uuid.uuid4(), policy)
    storage = CountingStorage(tmp_path)
    ts = T0 + np.arange(0, 4 * POINTS_PER_SPLIT) * S  # four 1 s splits, one 60 s split
    vals = np.arange(ts.size, dtype=float)
    _store(storage, metric, ts, vals)
    return storage, metric, ts, vals


def test_coarsest_first_and_values(data):
    storage, metric, ts, vals = data
    out = get_measures(storage, metric, "mean")
    assert [g for g, _, _ in out] == [60 * S, S]
    np.testing.assert_array_equal(out[1][1], ts)
    np.testing.assert_array_equal(out[1][2], vals)
    assert out[0][2][0] == vals[:60].mean()
    ((_, _, rate),) = get_measures(storage, metric, "rate:sum", granularity=60 * S)
    assert rate[0] == 59 and rate[1] == 60


def test_reads_only_overlapping_splits(data):
    storage, metric, ts, vals = data
    span = POINTS_PER_SPLIT * S
    start, stop = T0 + span + 10 * S, T0 + 2 * span + 5 * S
    storage.read_keys.clear()
    ((g, got_ts, got_vals),) = get_measures(storage, metric, "count", granularity=S, start=start, stop=stop)
    assert storage.read_keys == [(S, [T0 + span, T0 + 2 * span])]
    assert got_ts[0] == start and got_ts[-1] == stop - S and got_ts.size == span // S - 10 + 5


def test_start_is_floored_to_granularity(data):
    storage, metric, ts, vals = data
    ((_, got_ts, _),) = get_measures(storage, metric, "mean", granularity=60 * S, start=T0 + 90 * S, stop=T0 + 180 * S)
    assert got_ts.tolist() == [T0 + 60 * S, T0 + 120 * S]


def test_unknown_method_and_granularity(data):
    storage, metric, _, _ = data
    with pytest.raises(UnknownAggregationMethod) as e:
        get_measures(storage, metric, "max")
    assert e.value.cause == "Aggregation method does not exist for this metric"
    assert e.value.detail == {"metric": str(metric.id), "aggregation_method": "max"}
    with pytest.raises(UnknownAggregationMethod):
        get_measures(storage, metric, "rate:mean")  # only rate:sum is stored
    with pytest.raises(UnknownGranularity) as e:
        get_measures(storage, metric, "mean", granularity=42 * S)
    assert str(e.value) == f"Aggregation method 'mean' at granularity '42.0' for metric {metric.id} does not exist"


def test_resample_and_calendar(data):
    storage, metric, ts, vals = data
    ((g, rts, rvals),) = get_measures(storage, metric, "count", granularity=S, resample=3600 * S)
    assert g == 3600 * S
    assert rts.tolist() == [T0 + i * 3600 * S for i in range(4)]
    assert rvals.tolist() == [3600.0] * 4
    ((g, cts, cvals),) = get_measures(storage, metric, "count", granularity=60 * S, calendar="Y")
    year = np.datetime64("2023-01-01", "ns").astype(np.int64)
    assert g == 60 * S and cts.tolist() == [year] and cvals.tolist() == [ts.size / 60]


def test_empty_metric(tmp_path):
    policy = ArchivePolicy("q", 0, (PolicyItem(S, None),), ("mean",))
    ((g, ts, vals),) = get_measures(FileStorage(tmp_path), Metric(uuid.uuid4(), policy), "mean")
    assert g == S and ts.size == 0 and vals.size == 0


def test_retention_applied_on_read(tmp_path):
    """Buckets past ``points`` are hidden even while their split still exists."""
    policy = ArchivePolicy("r", 0, (PolicyItem(S, 100),), ("count",))
    metric = Metric(uuid.uuid4(), policy)
    storage = CountingStorage(tmp_path)
    ts = T0 + np.arange(POINTS_PER_SPLIT - 150, POINTS_PER_SPLIT + 50) * S  # straddles two splits
    _store(storage, metric, ts, np.ones(ts.size))
    ((_, got, _),) = get_measures(storage, metric, "count")
    assert got.tolist() == ts[-100:].tolist()
    # A query over the older split alone still honours the cutoff set by the newest point.
    ((_, got, _),) = get_measures(storage, metric, "count", stop=T0 + POINTS_PER_SPLIT * S)
    assert got.tolist() == ts[-100:-50].tolist()
