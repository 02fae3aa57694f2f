"""The per-process cache of decoded raw tails and splits: a pure speed-up, keyed by exact bytes."""

import os
import uuid

import numpy as np

from telescale.coordination import FileSackLocks
from telescale.incoming.file import FileIncoming
from telescale.processing import processor
from telescale.processing.processor import DecodedCache, process_sack
from telescale.storage.file import FileStorage
from telescale.timeseries import RawSeries
from tests.unit.processing.proc_helpers import POLICY, MemoryIndexer, S


def test_hit_only_on_identical_bytes():
    cache = DecodedCache()
    calls = []

    def decode(b):
        calls.append(b)
        return RawSeries(np.array([len(b)]), np.array([1.0]))

    a = cache.get(("m", "raw"), b"abc", decode)
    assert cache.get(("m", "raw"), b"abc", decode) is a  # same bytes: no decode
    b = cache.get(("m", "raw"), b"abd", decode)  # written by someone else: decoded again
    assert b is not a and calls == [b"abc", b"abd"]
    assert (cache.hits, cache.misses) == (1, 2)


def test_lru_stays_under_its_budget():
    cache = DecodedCache(max_bytes=10_000)
    for i in range(50):
        cache.put(("m", i), bytes(100), RawSeries(np.arange(100), np.zeros(100)))  # 1,700 bytes each
    assert cache._size <= 10_000
    assert ("m", 49) in cache._items and ("m", 0) not in cache._items
    cache.put(("big",), bytes(20_000), None)  # larger than the budget: not kept
    assert ("big",) not in cache._items
    cache.discard_metric("m")
    assert cache._size == 0


def _run(root, clear_each_pass):
    incoming = FileIncoming(os.path.join(root, "in"), sacks=2)
    storage = FileStorage(os.path.join(root, "st"), fsync=False)
    locks = FileSackLocks(os.path.join(root, "locks"))
    indexer = MemoryIndexer()
    ids = [indexer.add(POLICY, uuid.UUID(int=i + 1)).id for i in range(3)]
    rng = np.random.default_rng(7)
    for p in range(12):
        if clear_each_pass:
            processor.DECODED.clear()
        # in order, out of order inside the window, and repeated timestamps
        ts = (p * 500 + rng.integers(-400, 500, 80)) * S
        incoming.add_measures({m: (ts, np.round(rng.normal(10, 3, ts.size), 1)) for m in ids})
        for sack in incoming.sacks_with_work():
            process_sack(sack, incoming, storage, indexer, locks)
    files = {}
    for d, _, names in os.walk(storage.root):
        for n in names:
            with open(os.path.join(d, n), "rb") as f:
                files[os.path.relpath(os.path.join(d, n), storage.root)] = f.read()
    return files


def test_warm_cache_writes_the_same_bytes_as_cold(tmp_path):
    processor.DECODED.clear()
    hits = processor.DECODED.hits
    warm = _run(str(tmp_path / "warm"), clear_each_pass=False)
    assert processor.DECODED.hits > hits  # the cache was used
    cold = _run(str(tmp_path / "cold"), clear_each_pass=True)
    assert warm == cold and len(warm) > 3
