"""The read side of aggregates over many series: decoding only the wanted column, decoding from many
threads at once, and aligning thousands of series without sorting their union."""

from __future__ import annotations

import uuid
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest

from telescale.query.aggregates.align import align
from telescale.query.aggregates.evaluate import Reference, read_columns
from telescale.storage.file import FileStorage
from telescale.timeseries import ArchivePolicy, PolicyItem, codec
from telescale.timeseries.split import Split

NS = 1_000_000_000
G = 60 * NS
KEY = 1_700_000_000 * NS // (G * 3600) * (G * 3600)


def _columns(rng: np.random.Generator, n: int, holes: bool) -> dict[str, np.ndarray]:
    """Every column kind the codec has: decimal, float, derived mean, sqrt-ratio std, with or without NaN."""
    count = rng.integers(1, 5, n).astype(float)
    decimal = np.round(rng.normal(50, 10, n), 1)
    cols = {
        "count": count,
        "sum": decimal * count,
        "min": decimal,
        "max": rng.random(n) * 1e6,  # float mode
        "last": np.round(rng.normal(0, 1, n), 3),
        "std": np.sqrt(np.round(rng.random(n), 2)),
        "rate:mean": rng.random(n),
    }
    cols["mean"] = cols["sum"] / cols["count"]
    if holes:
        for name in ("min", "std", "rate:mean"):
            cols[name][rng.random(n) < 0.3] = np.nan
    return cols


@pytest.mark.parametrize("holes", [False, True])
@pytest.mark.parametrize("seed", range(4))
def test_decoding_some_methods_gives_the_full_decode_of_those(holes: bool, seed: int) -> None:
    rng = np.random.default_rng(seed)
    n = 500
    ts = KEY + np.sort(rng.choice(3600, n, replace=False)).astype(np.int64) * G
    data = codec.encode_block(G, KEY, ts, _columns(rng, n, holes))
    full_ts, full = codec.decode_block(data, G, KEY)
    for wanted in (["mean"], ["std"], ["min", "max"], ["rate:mean"], ["count"], ["nothing"], list(full)):
        part_ts, part = codec.decode_block(data, G, KEY, wanted)
        assert np.array_equal(part_ts, full_ts)
        for name in wanted:
            if name in full:
                assert np.array_equal(part[name], full[name], equal_nan=True), name
        assert set(part) <= set(full)
        assert not set(part) - set(wanted) - {"sum", "count"}  # only what was asked and what mean needs


def test_decoding_from_many_threads_at_once_is_correct() -> None:
    rng = np.random.default_rng(1)
    blobs = []
    for _ in range(64):
        ts = KEY + np.arange(1440, dtype=np.int64) * G
        cols = _columns(rng, 1440, False)
        blobs.append((codec.encode_block(G, KEY, ts, cols), cols["mean"]))

    def check(i: int) -> bool:
        data, mean = blobs[i % len(blobs)]
        return bool(np.array_equal(codec.decode_block(data, G, KEY, ["mean"])[1]["mean"], mean))

    with ThreadPoolExecutor(8) as pool:
        assert all(pool.map(check, range(2000)))


def test_read_columns_in_threads_matches_one_thread(tmp_path) -> None:
    storage = FileStorage(tmp_path, fsync=False)
    policy = ArchivePolicy("p", 0, (PolicyItem(G, 1440),), ("mean", "sum", "count", "min", "max"))
    rng = np.random.default_rng(2)
    refs = []
    for _ in range(40):
        mid = uuid.uuid4()
        n = int(rng.integers(10, 1440))
        ts = KEY + np.sort(rng.choice(1440, n, replace=False)).astype(np.int64) * G
        cols = _columns(rng, n, False)
        storage.put_splits(mid, G, {KEY: Split(G, ts, {k: cols[k] for k in policy.aggregation_methods},
                                               key=KEY).encode()})
        metric = type("M", (), {"id": mid, "archive_policy": policy})()
        refs.append(Reference(metric, "mean", str(mid)))
    storage.sync()
    wanted = [(r, G) for r in refs]
    one = read_columns(storage, wanted, None, None, threads=1)
    many = read_columns(storage, wanted, None, None, threads=4)
    assert one.keys() == many.keys()
    for k in one:
        assert np.array_equal(one[k][0], many[k][0]) and np.array_equal(one[k][1], many[k][1])


def _slow_align(series, fill):
    return align(series, fill)  # no granularity: the sorting path


@pytest.mark.parametrize("fill", [None, "null", 0.0, "ffill", "full_bfill"])
@pytest.mark.parametrize("seed", range(5))
def test_align_on_the_bucket_grid_equals_sorting(fill, seed: int) -> None:
    rng = np.random.default_rng(seed)
    series = []
    for _ in range(int(rng.integers(1, 30))):
        n = int(rng.integers(0, 200))
        ts = KEY + np.sort(rng.choice(300, n, replace=False)).astype(np.int64) * G
        series.append((ts, rng.random(n)))
    t1, g1 = align(series, fill, granularity=G)
    t2, g2 = _slow_align(series, fill)
    assert np.array_equal(t1, t2)
    assert np.array_equal(g1, g2, equal_nan=True)


def test_align_identical_timestamps_and_off_grid_timestamps() -> None:
    ts = KEY + np.arange(5, dtype=np.int64) * G
    times, grid = align([(ts, np.arange(5.0)), (ts.copy(), np.arange(5.0) * 2)], None, granularity=G)
    assert np.array_equal(times, ts) and grid[:, 1].tolist() == [0, 2, 4, 6, 8]
    # timestamps off the grid (not bucket starts) fall back to sorting, same answer
    odd = [(np.array([KEY + 7, KEY + G]), np.array([1.0, 2.0])), (np.array([KEY + G]), np.array([3.0]))]
    t1, g1 = align(odd, None, granularity=G)
    t2, g2 = _slow_align(odd, None)
    assert np.array_equal(t1, t2) and np.array_equal(g1, g2, equal_nan=True)
