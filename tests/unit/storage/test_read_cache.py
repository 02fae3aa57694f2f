"""The read path's cache of decoded splits: bounded, versioned by the split file, wired to `api.read_cache_mb`."""

import time
import uuid

import numpy as np
import pytest

from telescale import config
from telescale.drivers import build_storage
from telescale.storage.cache import SplitCache
from telescale.storage.file import FileStorage

G = 60 * 10**9


def _arrays(n: int) -> tuple[np.ndarray, np.ndarray]:
    return np.arange(n, dtype=np.int64), np.arange(n, dtype=np.float64)


def test_get_answers_only_the_same_version():
    cache = SplitCache(1 << 20)
    cache.put("k", ("v", 1), _arrays(10))
    assert cache.get("k", ("v", 1)) is not None
    assert cache.get("k", ("v", 2)) is None
    assert cache.get("other", ("v", 1)) is None
    cache.put("k", ("v", 2), _arrays(5))  # a newer version replaces the entry
    assert len(cache) == 1
    assert cache.get("k", ("v", 1)) is None
    assert cache.get("k", ("v", 2))[0].size == 5


def test_bounded_in_bytes_least_recently_used_goes_first():
    one = sum(a.nbytes for a in _arrays(1000))
    cache = SplitCache(3 * one + 1000)
    for k in "abc":
        cache.put(k, 1, _arrays(1000))
    assert cache.get("a", 1) is not None  # a is now the most recently used
    cache.put("d", 1, _arrays(1000))
    assert cache.get("b", 1) is None
    assert all(cache.get(k, 1) is not None for k in "acd")
    assert cache.size_bytes <= cache.max_bytes
    cache.put("huge", 1, _arrays(100_000))  # larger than the whole cache: not kept, nothing evicted
    assert cache.get("huge", 1) is None and len(cache) == 3


def test_cached_arrays_are_read_only():
    cache = SplitCache(1 << 20)
    cache.put("k", 1, _arrays(3))
    ts, _ = cache.get("k", 1)
    with pytest.raises(ValueError):
        ts[0] = 5


def test_file_versions_change_when_a_split_is_replaced(tmp_path):
    st = FileStorage(tmp_path, fsync=False)
    mid = uuid.uuid4()
    assert st.split_versions(mid, G, [0]) == [None]
    st.put_splits(mid, G, {0: b"same size"})
    staged = st.split_versions(mid, G, [0])[0]
    assert staged is not None  # this driver object sees its own staged write
    assert st.get_splits_versioned(mid, G, [0]) == [(staged, b"same size")]
    st.sync()
    v1 = st.split_versions(mid, G, [0])[0]
    assert st.get_splits_versioned(mid, G, [0]) == [(v1, b"same size")]
    st.put_splits(mid, G, {0: b"SAME SIZE"})  # same length, same second: still a new version
    st.sync()
    v2 = st.split_versions(mid, G, [0])[0]
    assert v2 != v1
    assert FileStorage(tmp_path).split_versions(mid, G, [0, 1]) == [v2, None]
    assert FileStorage(tmp_path).get_splits_versioned(mid, G, [0, 1]) == [(v2, b"SAME SIZE"), (None, None)]


def test_setting_sizes_the_cache(tmp_path):
    on = config.load(environ={}, overrides=[f"storage.data_dir={tmp_path}"])
    assert on.api.read_cache_mb == 256
    storage = build_storage(on)
    assert storage.read_cache is not None and storage.read_cache.max_bytes == 256 << 20
    small = build_storage(config.load(environ={}, overrides=[f"storage.data_dir={tmp_path}", "api.read_cache_mb=8"]))
    assert small.read_cache.max_bytes == 8 << 20
    off = build_storage(config.load(environ={"TELESCALE_API__READ_CACHE_MB": "0"},
                                    overrides=[f"storage.data_dir={tmp_path}"]))
    assert off.read_cache is None
    with pytest.raises(config.ConfigError):
        config.load(environ={}, overrides=["api.read_cache_mb=-1"])


def test_listing_kept_only_for_settled_directories_and_renewed_on_change(tmp_path, monkeypatch):
    later = [0]
    real = time.time_ns
    monkeypatch.setattr(time, "time_ns", lambda: real() + later[0])

    def _age(_d: str, seconds: float) -> None:  # as if the next reads came ``seconds`` later
        later[0] = int(seconds * 1e9)

    writer = FileStorage(tmp_path, fsync=False)
    reader = FileStorage(tmp_path, read_cache_bytes=1 << 20)
    mid = uuid.uuid4()
    assert reader.list_split_keys(mid, G) == []
    writer.put_splits(mid, G, {0: b"a"})
    writer.sync()
    d = writer._gran_dir(mid, G)
    assert reader.list_split_keys(mid, G) == [0]
    assert len(reader.read_cache) == 0  # just changed: a change in the same clock tick would go unseen
    _age(d, 10)
    assert reader.list_split_keys(mid, G) == [0]
    assert len(reader.read_cache) == 1
    assert reader.list_split_keys(mid, G) == [0] and reader.read_cache.hits == 1
    writer.put_splits(mid, G, {5: b"b"})  # a new split: the directory changes, the listing is read again
    writer.sync()
    assert reader.list_split_keys(mid, G) == [0, 5]
    _age(d, 20)
    assert reader.list_split_keys(mid, G) == [0, 5]
    writer.delete_splits(mid, G, [0])
    assert reader.list_split_keys(mid, G) == [5]
    writer.delete_metric(mid)
    assert reader.list_split_keys(mid, G) == []


def test_processing_workers_go_without(tmp_path):
    from telescale.drivers import Drivers

    drivers = Drivers.build(config.load(environ={}, overrides=[f"storage.data_dir={tmp_path}"]), read_cache=False)
    assert drivers.storage.read_cache is None
