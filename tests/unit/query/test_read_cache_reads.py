"""Reads through the decoded-split cache answer exactly what an uncached read does while processing
rewrites, adds and expires splits (processing and the API hold separate driver objects, as in production)."""

import uuid
from dataclasses import dataclass

import numpy as np
import pytest

from telescale.processing.processor import process_metric_measures
from telescale.query.measures import get_measures
from telescale.storage.file import FileStorage
from telescale.timeseries import ArchivePolicy, PolicyItem
from telescale.timeseries.split import split_span

S = 10**9
G = 60 * S
T0 = split_span(G) * 1000  # on a split boundary of the 60 s granularity


@dataclass(frozen=True)
class Metric:
    id: uuid.UUID
    archive_policy: ArchivePolicy


POLICY = ArchivePolicy("c", 0, (PolicyItem(G, 1440), PolicyItem(300 * S, None)), ("mean", "max", "count", "std"))


@pytest.fixture
def env(tmp_path):
    writer = FileStorage(tmp_path, fsync=False)
    cached = FileStorage(tmp_path, read_cache_bytes=64 << 20)
    plain = FileStorage(tmp_path)
    metric = Metric(uuid.uuid4(), POLICY)

    def process(ts_s: np.ndarray, vals: np.ndarray) -> None:
        process_metric_measures(writer, metric.id, POLICY, (T0 + ts_s * S).astype(np.int64), vals.astype(float))
        writer.sync()

    def check(method: str = "mean", **kw) -> list:
        got = get_measures(cached, metric, method, **kw)
        want = get_measures(plain, metric, method, **kw)
        assert [g for g, _, _ in got] == [g for g, _, _ in want]
        for (_, ts, v), (_, wts, wv) in zip(got, want, strict=True):
            np.testing.assert_array_equal(ts, wts)
            np.testing.assert_array_equal(v, wv)
        return got

    return cached, metric, process, check


def test_repeated_reads_hit_the_cache_and_answer_the_same(env):
    cached, metric, process, check = env
    process(np.arange(0, 1440 * 60, 60), np.round(np.sin(np.arange(1440)), 1))
    first = check()
    assert cached.read_cache.hits == 0 and len(cached.read_cache) == 2  # one split per granularity
    for method in ("mean", "max", "std"):
        check(method)
        check(method, start=T0 + 600 * S, stop=T0 + 7200 * S)
    assert cached.read_cache.hits >= 4
    again = check()
    np.testing.assert_array_equal(again[1][2], first[1][2])
    # answers are copies: changing one does not change the cache
    again[1][2][:] = -1
    np.testing.assert_array_equal(check()[1][2], first[1][2])


def test_split_rewritten_by_processing_is_read_again(env):
    cached, metric, process, check = env
    process(np.arange(0, 600, 60), np.full(10, 1.0))
    (_, _, c5), (_, ts, v) = check()
    assert v.tolist() == [1.0] * 10
    # The newest point again with another value of as many digits: the split file is replaced by one
    # of the same size, within the same second.
    process(np.array([540]), np.array([2.0]))
    (_, _, c5), (_, ts, v) = check()
    assert v.tolist() == [1.0] * 9 + [2.0]
    # More points in the same split.
    process(np.arange(600, 1200, 60), np.full(10, 3.0))
    (_, _, c5), (_, ts, v) = check()
    assert ts.size == 20 and v[-1] == 3.0
    assert check("count", granularity=300 * S)[0][2].tolist() == [5.0] * 4


def test_new_split_and_expired_split(env):
    cached, metric, process, check = env
    process(np.arange(0, 600, 60), np.full(10, 1.0))
    check()
    # The next 60 s split appears: a read after processing sees it at once.
    span_s = split_span(G) // S
    process(np.arange(span_s, span_s + 600, 60), np.full(10, 5.0))
    (_, ts, v), = check(granularity=G, start=T0 + (span_s - 60) * S)
    assert v.tolist() == [5.0] * 10
    # Retention of 1,440 points: the first split has expired (deleted by processing, or cut on read).
    (_, ts, v), = check(granularity=G)
    assert ts.min() >= T0 + span_s * S - 1440 * G
    # A much later split makes the previous ones expire and be deleted.
    process(np.arange(3 * span_s, 3 * span_s + 600, 60), np.full(10, 7.0))
    (_, ts, v), = check(granularity=G)
    assert v.tolist() == [7.0] * 10


def test_metric_deleted_and_cache_off(env, tmp_path):
    cached, metric, process, check = env
    process(np.arange(0, 600, 60), np.full(10, 1.0))
    check()
    FileStorage(tmp_path).delete_metric(metric.id)
    assert all(ts.size == 0 for _, ts, _ in check())
    off = FileStorage(tmp_path, read_cache_bytes=0)
    assert off.read_cache is None
