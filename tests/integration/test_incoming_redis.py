"""What only the redis incoming driver has (the shared behaviour is in tests/contract): the byte bound of a read,
acks that trim only what their read returned, the sack-count guard, no leftover keys, one transaction per
write, corrupt entries, use after fork. Real Redis at ``TELESCALE_TEST_REDIS_URL``, a key prefix per test."""

from __future__ import annotations

import logging
import multiprocessing
import uuid
from collections.abc import Iterator

import numpy as np
import pytest
import redis

from telescale.incoming.redis import RedisIncoming
from tests.conftest import redis_client, redis_url


@pytest.fixture
def client() -> Iterator[redis.Redis]:
    client = redis_client()
    yield client
    client.close()


@pytest.fixture
def prefix(client: redis.Redis) -> Iterator[str]:
    prefix = f"telescale-test-{uuid.uuid4().hex}"
    yield prefix
    for key in client.scan_iter(f"{prefix}:*"):
        client.delete(key)


def _arr(*ts: int) -> tuple[np.ndarray, np.ndarray]:
    return np.array(ts, dtype=np.int64), np.array(ts, dtype=np.float64)


def _keys(client: redis.Redis, prefix: str) -> set[str]:
    return {k.decode() for k in client.scan_iter(f"{prefix}:*")}


def test_a_read_stops_at_max_read_bytes_but_takes_at_least_one_write(client: redis.Redis, prefix: str) -> None:
    inc = RedisIncoming(redis_url(), sacks=1, prefix=prefix, max_read_bytes=1000)
    m = uuid.uuid4()
    inc.add_measures({m: _arr(*range(100))})  # ~1.6 kB: over the bound alone
    for i in range(10):
        inc.add_measures({m: _arr(1000 + i)})  # ~56 bytes each
    counts = []
    while inc.sacks_with_work():
        batch = inc.read_sack(0)
        counts.append(batch.measure_count)
        inc.ack(batch.handle)
    assert counts[0] == 100 and sum(counts) == 110 and len(counts) == 2
    inc.close()


def test_an_ack_trims_only_entries_still_at_the_head(client: redis.Redis, prefix: str, caplog) -> None:
    """A worker whose lock expired while another took the sack over, or an ack repeated: nothing unread goes."""
    slow, fast = (RedisIncoming(redis_url(), sacks=1, prefix=prefix, max_read_entries=2) for _ in range(2))
    m = uuid.uuid4()
    for i in range(5):
        slow.add_measures({m: _arr(i)})
    stale = slow.read_sack(0)
    first = fast.read_sack(0)
    fast.ack(first.handle)
    caplog.set_level(logging.WARNING)
    slow.ack(stale.handle)  # its entries are gone already
    fast.ack(first.handle)  # twice
    assert "no longer at the head" in caplog.text
    assert fast.backlog_per_metric() == {m: 3}
    rest = fast.read_sack(0)
    assert rest.measures[m][0].tolist() == [2, 3]
    fast.ack(rest.handle)
    assert fast.read_sack(0).measures[m][0].tolist() == [4]


def test_changing_the_sack_count_is_refused_while_measures_wait(client: redis.Redis, prefix: str) -> None:
    two = RedisIncoming(redis_url(), sacks=2, prefix=prefix)
    m = uuid.uuid4()
    two.add_measures({m: _arr(1)})
    four = RedisIncoming(redis_url(), sacks=4, prefix=prefix)
    with pytest.raises(ValueError, match="unprocessed"):
        four.add_measures({m: _arr(2)})
    two.ack(two.read_sack(two.sack_for(m)).handle)
    four.add_measures({m: _arr(2)})
    assert four.backlog_per_metric() == {m: 1}


def test_nothing_is_left_behind_once_drained(client: redis.Redis, prefix: str) -> None:
    inc = RedisIncoming(redis_url(), sacks=3, prefix=prefix)
    metrics = [uuid.uuid4() for _ in range(30)]
    inc.add_measures({m: _arr(i, i + 1) for i, m in enumerate(metrics)})
    inc.add_measures({m: _arr(7) for m in metrics[::2]})
    assert len(_keys(client, prefix)) == 1 + 3 * 3
    for sack in inc.sacks_with_work():
        inc.ack(inc.read_sack(sack).handle)
    assert _keys(client, prefix) == {f"{prefix}:incoming:sacks"}  # no list, no zero count left


def test_a_write_is_one_transaction_whatever_the_sacks(client: redis.Redis, prefix: str, monkeypatch) -> None:
    inc = RedisIncoming(redis_url(), sacks=8, prefix=prefix)
    inc.sacks_with_work()
    inc.add_measures({uuid.uuid4(): _arr(0)})  # the sack-count marker is recorded on the first write
    calls = []
    real = redis.Redis.pipeline
    monkeypatch.setattr(redis.Redis, "pipeline", lambda self, transaction=True, **kw: calls.append(transaction)
                        or real(self, transaction, **kw))
    metrics = [uuid.uuid4() for _ in range(64)]
    inc.add_measures({m: _arr(1) for m in metrics})
    assert calls == [True]
    assert len(inc.sacks_with_work()) == 8


def test_a_corrupt_entry_is_dropped_and_the_rest_processed(client: redis.Redis, prefix: str, caplog) -> None:
    inc = RedisIncoming(redis_url(), sacks=1, prefix=prefix)
    m = uuid.uuid4()
    inc.add_measures({m: _arr(1)})
    client.rpush(f"{prefix}:incoming1-0:data", b"garbage")
    client.rpush(f"{prefix}:incoming1-0:times", client.lindex(f"{prefix}:incoming1-0:times", 0))
    inc.add_measures({m: _arr(2)})
    batch = inc.read_sack(0)
    assert batch.measures[m][0].tolist() == [1, 2]
    assert "Corrupt entry 1" in caplog.text
    inc.ack(batch.handle)
    assert inc.sacks_with_work() == [] and inc.backlog() == (0, 0)


def _write_in_child(inc: RedisIncoming, m: uuid.UUID) -> None:
    inc.add_measures({m: _arr(2)})


def test_usable_after_fork(client: redis.Redis, prefix: str) -> None:
    inc = RedisIncoming(redis_url(), sacks=2, prefix=prefix)
    m = uuid.uuid4()
    inc.add_measures({m: _arr(1)})  # the parent holds a pooled connection
    child = multiprocessing.get_context("fork").Process(target=_write_in_child, args=(inc, m))
    child.start()
    child.join(30)
    assert child.exitcode == 0
    inc.add_measures({m: _arr(3)})
    batch = inc.read_sack(inc.sack_for(m))
    assert batch.measures[m][0].tolist() == [1, 2, 3]
    inc.ack(batch.handle)
    inc.close()


def test_processing_drains_redis_sacks_into_storage(client: redis.Redis, prefix: str, tmp_path) -> None:
    """metricd's loop on the redis driver: bounded reads, one pass per round, every measure aggregated once."""
    from telescale.coordination import FileSackLocks
    from telescale.processing.processor import process_metric, process_sacks
    from telescale.query.measures import get_measures
    from telescale.storage.file import FileStorage
    from tests.unit.processing.proc_helpers import POLICY, MemoryIndexer, S

    t0 = 1_700_000_040 * S
    inc = RedisIncoming(redis_url(), sacks=2, prefix=prefix, max_read_entries=3)
    storage, locks, indexer = FileStorage(tmp_path / "storage"), FileSackLocks(tmp_path / "locks"), MemoryIndexer()
    metrics = [indexer.add(POLICY) for _ in range(4)]
    for i in range(10):
        inc.add_measures({m.id: ([t0 + i * S], [float(i + k)]) for k, m in enumerate(metrics)})
    stats = process_metric(metrics[0].id, inc, storage, indexer, locks, timeout=5)
    assert stats is not None and not inc.pending_for_metric(metrics[0].id)
    for _ in range(20):
        if not inc.sacks_with_work():
            break
        process_sacks(inc.sacks_with_work(), inc, storage, indexer, locks)
    assert inc.backlog() == (0, 0)
    for k, m in enumerate(metrics):
        (_, _, v), _ = get_measures(storage, m, "mean")
        assert v.tolist() == [4.5 + k]
    inc.close()
