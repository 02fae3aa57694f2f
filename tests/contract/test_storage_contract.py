"""The storage driver contract: the same tests for every driver of ``telescale.drivers.STORAGE_DRIVERS``.

``file`` runs in ``tmp_path``; ``s3`` on the S3 server at ``TELESCALE_TEST_S3_URL`` (moto's standalone server in
``make services``) in a bucket of its own, emptied and removed afterwards; ``redis`` on the Redis at
``TELESCALE_TEST_REDIS_URL`` under a key prefix of its own, deleted afterwards. An unreachable service skips its
tests on a laptop and fails them when ``CI=true``. ``file`` and ``s3`` drivers are built through the registry
(``build_storage``) from settings as the services build them; ``redis`` takes its key prefix as a constructor
argument, so one test builds it through the registry on the default prefix.

Two driver objects on the same backend stand for two processes (metricd writing, the API reading).
"""

from __future__ import annotations

import os
import socket
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from urllib.parse import urlsplit

import numpy as np
import pytest

from telescale import drivers
from telescale.config import ConfigError, load
from telescale.processing.processor import process_metric_measures
from telescale.query.measures import get_measures
from telescale.storage.base import StorageDriver
from telescale.storage.file import FileStorage
from telescale.timeseries import ArchivePolicy, PolicyItem
from telescale.timeseries.split import split_span
from tests.conftest import redis_client, redis_key_prefix, redis_url, service_unavailable

DEFAULT_S3_URL = "http://127.0.0.1:9000"
S = 10**9
G = 60 * S


def _s3_url() -> str:
    return os.environ.get("TELESCALE_TEST_S3_URL", DEFAULT_S3_URL)



@dataclass
class Backend:
    """One driver's backing store for a test: every driver object it makes sees the same data."""

    name: str
    make: Callable[[bool], StorageDriver]  # read_cache -> a new driver object
    leftovers: Callable[[uuid.UUID], list[str]]  # what is still stored for a metric
    made: list[StorageDriver] = field(default_factory=list)

    def driver(self, read_cache: bool = False) -> StorageDriver:
        storage = self.make(read_cache)
        self.made.append(storage)
        return storage


def _settings(*overrides: str, read_cache: bool):
    return load(environ={}, overrides=[*overrides, f"api.read_cache_mb={16 if read_cache else 0}"])


def _file_backend(tmp_path) -> Iterator[Backend]:
    overrides = ("storage.driver=file", f"storage.data_dir={tmp_path}")

    def leftovers(metric_id: uuid.UUID) -> list[str]:
        root = tmp_path / "storage"
        return [str(p) for p in root.rglob("*") if str(metric_id) in str(p)]

    yield Backend("file", lambda rc: drivers.build_storage(_settings(*overrides, read_cache=rc), read_cache=rc),
                  leftovers)


def _s3_backend() -> Iterator[Backend]:
    import boto3
    from botocore.config import Config
    from botocore.exceptions import BotoCoreError, ClientError

    url = _s3_url()
    client = boto3.client("s3", endpoint_url=url, region_name="us-east-1", aws_access_key_id="testing",
                          aws_secret_access_key="testing",
                          config=Config(connect_timeout=2, retries={"max_attempts": 1}))
    try:
        client.list_buckets()
    except (BotoCoreError, ClientError) as e:
        service_unavailable(f"S3 not reachable at {url}: {e}")
    prefix = f"telescale-test-{uuid.uuid4().hex[:16]}"
    bucket = f"{prefix}-aggregates"
    overrides = ("storage.driver=s3", f"storage.s3_endpoint_url={url}", "storage.s3_region_name=us-east-1",
                 "storage.s3_access_key_id=testing", "storage.s3_secret_access_key=testing",
                 f"storage.s3_bucket_prefix={prefix}", "storage.s3_max_pool_connections=16")

    def leftovers(metric_id: uuid.UUID) -> list[str]:
        listing = client.list_objects_v2(Bucket=bucket, Prefix=f"{metric_id}/")
        return [o["Key"] for o in listing.get("Contents", ())]

    try:
        yield Backend("s3", lambda rc: drivers.build_storage(_settings(*overrides, read_cache=rc), read_cache=rc),
                      leftovers)
    finally:
        try:
            for page in client.get_paginator("list_objects_v2").paginate(Bucket=bucket):
                keys = [{"Key": o["Key"]} for o in page.get("Contents", ())]
                if keys:
                    client.delete_objects(Bucket=bucket, Delete={"Objects": keys})
            client.delete_bucket(Bucket=bucket)
        except ClientError as e:
            if e.response["Error"]["Code"] != "NoSuchBucket":
                raise
        client.close()


def _redis_backend() -> Iterator[Backend]:

    from telescale.storage.redis import RedisStorage

    with redis_key_prefix() as (client, prefix):

        def leftovers(metric_id: uuid.UUID) -> list[str]:
            return [k.decode() for k in client.scan_iter(f"{prefix}:*{metric_id}*")]

        yield Backend("redis", lambda rc: RedisStorage(redis_url(), prefix=prefix,
                                                       read_cache_bytes=16 << 20 if rc else 0), leftovers)


@pytest.fixture(params=sorted(drivers.STORAGE_DRIVERS))
def backend(request: pytest.FixtureRequest, tmp_path) -> Iterator[Backend]:
    factories = {"file": lambda: _file_backend(tmp_path), "s3": _s3_backend, "redis": _redis_backend}
    assert request.param in factories, f"no contract backend for storage driver {request.param!r}"
    gen = factories[request.param]()
    store = next(gen)
    try:
        yield store
    finally:
        for storage in store.made:
            storage.close()
        gen.close()


@pytest.fixture
def storage(backend: Backend) -> StorageDriver:
    return backend.driver()


# -- raw ---------------------------------------------------------------------------------------------------------
def test_raw_round_trip_and_overwrite(backend: Backend, storage: StorageDriver) -> None:
    m = uuid.uuid4()
    assert storage.get_raw(m) is None
    storage.put_raw(m, b"first")
    assert storage.get_raw(m) == b"first"  # the writer reads its staged write
    storage.put_raw(m, b"second, longer")
    assert storage.get_raw(m) == b"second, longer"
    storage.sync()
    assert storage.get_raw(m) == b"second, longer"
    other = backend.driver()
    assert other.get_raw(m) == b"second, longer"
    storage.put_raw(m, b"3")
    storage.sync()
    assert other.get_raw(m) == b"3" and storage.get_raw(m) == b"3"
    assert other.get_raw(uuid.uuid4()) is None


def test_raws_of_several_metrics_in_one_call(backend: Backend, storage: StorageDriver) -> None:
    """``get_raws`` (the API's back-window check of a whole batch): in the order asked, None where nothing is
    stored, the writer's staged writes included, another process's synced ones too."""
    stored, staged, missing = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    storage.put_raw(stored, b"stored")
    storage.sync()
    storage.put_raw(staged, b"staged")
    assert storage.get_raws([staged, missing, stored, staged]) == [b"staged", None, b"stored", b"staged"]
    assert backend.driver().get_raws([missing, stored]) == [None, b"stored"]
    assert storage.get_raws([]) == []


# -- splits ------------------------------------------------------------------------------------------------------
def test_splits_in_the_order_asked_with_none_for_missing(backend: Backend, storage: StorageDriver) -> None:
    m = uuid.uuid4()
    assert storage.get_splits(m, G, [1, 2]) == [None, None]
    assert storage.get_splits(m, G, []) == []
    storage.put_splits(m, G, {300: b"c", 100: b"a", 200: b"b"})
    storage.put_splits(m, S, {300: b"other granularity"})
    assert storage.get_splits(m, G, [300, 999, 100]) == [b"c", None, b"a"]
    storage.sync()
    other = backend.driver()
    assert other.get_splits(m, G, [300, 999, 100, 200]) == [b"c", None, b"a", b"b"]
    assert other.get_splits(m, S, iter([300, 100])) == [b"other granularity", None]
    assert other.get_splits(uuid.uuid4(), G, [100]) == [None]


def test_list_split_keys_sorted_after_puts_deletes_sync_and_elsewhere(backend: Backend, storage: StorageDriver) -> None:
    m = uuid.uuid4()
    other = backend.driver()
    assert storage.list_split_keys(m, G) == [] and other.list_split_keys(m, G) == []
    keys = [5 * G * 10**4, 3, 10**18, 42, 7]
    storage.put_splits(m, G, {k: str(k).encode() for k in keys})
    storage.put_splits(m, S, {1: b"x"})
    assert storage.list_split_keys(m, G) == sorted(keys)
    storage.sync()
    assert storage.list_split_keys(m, G) == sorted(keys)
    assert other.list_split_keys(m, G) == sorted(keys) and other.list_split_keys(m, S) == [1]
    storage.delete_splits(m, G, [42, 3, 12345])
    storage.put_splits(m, G, {8: b"8"})
    assert storage.list_split_keys(m, G) == [7, 8, 5 * G * 10**4, 10**18]
    storage.sync()
    assert other.list_split_keys(m, G) == [7, 8, 5 * G * 10**4, 10**18]
    assert backend.driver().list_split_keys(m, G) == [7, 8, 5 * G * 10**4, 10**18]
    assert other.list_split_keys(m, 2 * G) == []


def test_delete_splits(backend: Backend, storage: StorageDriver) -> None:
    m = uuid.uuid4()
    other = backend.driver()
    storage.put_splits(m, G, {1: b"1", 2: b"2", 3: b"3"})
    storage.sync()
    storage.delete_splits(m, G, [2, 404])
    storage.delete_splits(m, G, [])
    assert storage.get_splits(m, G, [1, 2, 3]) == [b"1", None, b"3"]
    assert storage.list_split_keys(m, G) == [1, 3]
    storage.sync()
    assert other.get_splits(m, G, [1, 2, 3]) == [b"1", None, b"3"]
    assert other.list_split_keys(m, G) == [1, 3]
    # put then delete, and delete then put again, within one pass
    storage.put_splits(m, G, {4: b"4"})
    storage.delete_splits(m, G, [4, 1])
    storage.put_splits(m, G, {1: b"1 again"})
    assert storage.list_split_keys(m, G) == [1, 3]
    storage.sync()
    assert other.list_split_keys(m, G) == [1, 3]
    assert other.get_splits(m, G, [1, 4]) == [b"1 again", None]
    # every split gone: the granularity lists nothing
    storage.delete_splits(m, G, [1, 3])
    storage.sync()
    assert other.list_split_keys(m, G) == [] and other.get_splits(m, G, [1, 3]) == [None, None]


def test_delete_metric_is_complete_and_idempotent(backend: Backend, storage: StorageDriver) -> None:
    m, kept = uuid.uuid4(), uuid.uuid4()
    for metric in (m, kept):
        storage.put_raw(metric, b"raw")
        storage.put_splits(metric, G, {1: b"a", 2: b"b"})
        storage.put_splits(metric, S, {1: b"c"})
    storage.sync()
    assert backend.leftovers(m)
    other = backend.driver()
    other.delete_metric(m)  # the janitor: another process
    assert backend.leftovers(m) == []
    for reader in (storage, other, backend.driver()):
        assert reader.get_raw(m) is None
        assert reader.list_split_keys(m, G) == [] and reader.list_split_keys(m, S) == []
        assert reader.get_splits(m, G, [1, 2]) == [None, None]
    other.delete_metric(m)
    other.delete_metric(uuid.uuid4())  # never stored
    # the other metric is untouched
    assert other.get_raw(kept) == b"raw" and other.get_splits(kept, G, [1, 2]) == [b"a", b"b"]
    assert other.list_split_keys(kept, S) == [1]
    # staged writes of a metric deleted before sync() never appear
    storage.put_raw(m, b"late")
    storage.put_splits(m, G, {9: b"late"})
    storage.delete_metric(m)
    storage.sync()
    assert backend.leftovers(m) == []
    assert backend.driver().get_raw(m) is None and backend.driver().list_split_keys(m, G) == []


def test_writes_visible_to_another_driver_after_sync(backend: Backend, storage: StorageDriver) -> None:
    reader = backend.driver()
    m = uuid.uuid4()
    storage.put_raw(m, b"v1")
    storage.put_splits(m, G, {10: b"s1"})
    storage.sync()
    assert reader.get_raw(m) == b"v1" and reader.list_split_keys(m, G) == [10]
    storage.put_raw(m, b"v2")
    storage.put_splits(m, G, {10: b"s2", 20: b"t"})
    storage.delete_splits(m, G, [])
    storage.sync()
    assert reader.get_raw(m) == b"v2"
    assert reader.list_split_keys(m, G) == [10, 20]
    assert reader.get_splits(m, G, [10, 20]) == [b"s2", b"t"]


def test_split_versions_follow_the_bytes(backend: Backend, storage: StorageDriver) -> None:
    reader = backend.driver(read_cache=True)
    m = uuid.uuid4()
    storage.put_splits(m, G, {1: b"one", 2: b"two"})
    storage.sync()

    def check(driver: StorageDriver, keys: list[int]) -> list:
        versions = driver.split_versions(m, G, keys)
        pairs = driver.get_splits_versioned(m, G, keys)
        assert [data for _, data in pairs] == driver.get_splits(m, G, keys)
        if versions is None:
            return [None] * len(keys)
        assert len(versions) == len(keys)
        for version, (got, data) in zip(versions, pairs, strict=True):
            assert (version is None) == (data is None)
            assert got is None or got == version
        return versions

    v1, v2, missing = check(reader, [1, 2, 3])
    assert missing is None
    assert check(reader, [1, 2, 3]) == [v1, v2, None]  # stable while nothing changes
    storage.put_splits(m, G, {1: b"ONE"})
    storage.sync()
    w1, w2 = check(reader, [1, 2])
    if v1 is not None:
        assert w1 != v1 and w2 == v2
    storage.delete_splits(m, G, [2])
    storage.sync()
    w1_again, gone = check(reader, [1, 2])
    assert gone is None and w1_again == w1
    check(storage, [1, 2])


def test_large_objects(backend: Backend, storage: StorageDriver) -> None:
    rng = np.random.default_rng(7)
    big_raw = rng.bytes(5 << 20)
    big_split = rng.bytes(3 << 20)
    m = uuid.uuid4()
    storage.put_raw(m, big_raw)
    storage.put_splits(m, G, {0: big_split, G: b"small"})
    assert storage.get_raw(m) == big_raw
    storage.sync()
    other = backend.driver()
    assert other.get_raw(m) == big_raw
    assert other.get_splits(m, G, [G, 0]) == [b"small", big_split]


def test_many_metrics(backend: Backend, storage: StorageDriver) -> None:
    metrics = [uuid.uuid4() for _ in range(50)]
    for i, m in enumerate(metrics):
        storage.put_raw(m, f"raw {i}".encode())
        storage.put_splits(m, G, {k: f"{i}/{k}".encode() for k in range(i % 3 + 1)})
    storage.sync()
    other = backend.driver()
    for i, m in enumerate(metrics):
        assert other.get_raw(m) == f"raw {i}".encode()
        keys = other.list_split_keys(m, G)
        assert keys == list(range(i % 3 + 1))
        assert other.get_splits(m, G, keys) == [f"{i}/{k}".encode() for k in keys]


# -- processing and reads end to end ----------------------------------------------------------------------------
@dataclass(frozen=True)
class Metric:
    id: uuid.UUID
    archive_policy: ArchivePolicy


POLICY = ArchivePolicy("contract", 0, (PolicyItem(G, 1440), PolicyItem(300 * S, None)),
                       ("mean", "max", "count", "sum"))
T0 = split_span(G) * 1000  # on a split boundary of the 60 s granularity
SPAN_S = split_span(G) // S


def _batches() -> list[tuple[np.ndarray, np.ndarray]]:
    """Measures in seconds after T0: a first split, a rewrite of its last point, the next split, then a much later
    one that expires the first ones (split deletions)."""
    rng = np.random.default_rng(3)
    return [
        (np.arange(0, 7200, 30), np.round(rng.normal(10, 3, 240), 2)),
        (np.array([7170, 7200]), np.array([99.0, 1.5])),
        (np.arange(SPAN_S, SPAN_S + 3600, 60), np.round(rng.normal(0, 1, 60), 2)),
        (np.arange(3 * SPAN_S, 3 * SPAN_S + 600, 20), np.arange(30, dtype=float)),
    ]


def test_processing_then_query_matches_the_file_driver(backend: Backend, storage: StorageDriver, tmp_path) -> None:
    reference = FileStorage(tmp_path / "reference", fsync=False)
    cached_reader = backend.driver(read_cache=True)
    plain_reader = backend.driver()
    ref_metric, metric = Metric(uuid.uuid4(), POLICY), Metric(uuid.uuid4(), POLICY)
    try:
        for ts_s, vals in _batches():
            ts = (T0 + ts_s * S).astype(np.int64)
            process_metric_measures(reference, ref_metric.id, POLICY, ts, vals)
            reference.sync()
            process_metric_measures(storage, metric.id, POLICY, ts, vals)
            storage.sync()
            for method in ("mean", "max", "count", "sum"):
                want = get_measures(reference, ref_metric, method)
                for reader in (cached_reader, plain_reader):
                    got = get_measures(reader, metric, method)
                    assert [g for g, _, _ in got] == [g for g, _, _ in want]
                    for (_, ts_got, v_got), (_, ts_want, v_want) in zip(got, want, strict=True):
                        np.testing.assert_array_equal(ts_got, ts_want)
                        np.testing.assert_array_equal(v_got, v_want)
        assert storage.get_raw(metric.id) == reference.get_raw(ref_metric.id)
        for item in POLICY.definition:
            g = item.granularity
            assert plain_reader.list_split_keys(metric.id, g) == reference.list_split_keys(ref_metric.id, g)
        assert reference.list_split_keys(ref_metric.id, G)[0] >= T0 + SPAN_S * S  # the first split expired
    finally:
        reference.close()


# -- the registry -------------------------------------------------------------------------------------------------
def test_unknown_storage_driver_is_a_config_error_listing_the_known_ones() -> None:
    settings = load(environ={}, overrides=["storage.driver=tape"])
    with pytest.raises(ConfigError) as info:
        drivers.build_storage(settings)
    message = str(info.value)
    assert "'tape'" in message and "storage.driver" in message
    for name in drivers.STORAGE_DRIVERS:
        assert name in message


def test_redis_driver_through_the_registry() -> None:

    with pytest.raises(ConfigError, match="storage.redis_url"):
        drivers.build_storage(load(environ={}, overrides=["storage.driver=redis"]))
    redis_client().close()
    settings = load(environ={}, overrides=["storage.driver=redis", f"storage.redis_url={redis_url()}",
                                           "api.read_cache_mb=1"])
    storage = drivers.build_storage(settings)
    m = uuid.uuid4()
    try:
        assert storage.read_cache is not None and type(storage).__name__ == "RedisStorage"
        storage.put_raw(m, b"raw")
        storage.put_splits(m, G, {1: b"x"})
        storage.sync()
        assert drivers.build_storage(settings, read_cache=False).get_splits(m, G, [1]) == [b"x"]
    finally:
        storage.delete_metric(m)
        storage.close()


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_s3_unreachable_endpoint_is_a_clear_error() -> None:
    from telescale.storage.s3 import S3Storage, S3StorageError

    url = f"http://127.0.0.1:{_closed_port()}"
    with pytest.raises(S3StorageError, match=rf"telescale-aggregates.*{urlsplit(url).port}"):
        S3Storage(endpoint_url=url, access_key_id="testing", secret_access_key="testing",
                  region_name="us-east-1", max_attempts=1, connect_timeout=1)


def test_s3_failed_put_fails_sync() -> None:
    """A PUT that fails (here: the bucket removed underneath) makes sync() raise, and nothing is silently dropped."""
    from telescale.storage.s3 import S3StorageError

    gen = _s3_backend()
    backend = next(gen)
    try:
        storage = backend.driver()
        m = uuid.uuid4()
        storage.put_raw(m, b"ok")
        storage.sync()
        bucket = storage.bucket  # type: ignore[attr-defined]
        client = storage._client  # type: ignore[attr-defined]
        client.delete_object(Bucket=bucket, Key=f"{m}/raw")
        client.delete_bucket(Bucket=bucket)
        storage.put_raw(m, b"lost?")
        with pytest.raises(S3StorageError, match="NoSuchBucket"):
            storage.sync()
        storage.close()
    finally:
        gen.close()


def test_s3_processing_and_reads_never_list() -> None:
    """The per-metric index answers listings: a processing pass GETs it once per metric and writes it once, and reads
    never LIST."""
    gen = _s3_backend()
    backend = next(gen)
    try:
        writer, reader = backend.driver(), backend.driver(read_cache=True)
        calls: list[str] = []
        for driver in (writer, reader):
            driver._client.meta.events.register(  # type: ignore[attr-defined]
                "before-parameter-build.s3",
                lambda params, model, **kw: calls.append(f"{model.name} {params.get('Key', '')}"))
        metric = Metric(uuid.uuid4(), POLICY)
        for i, (ts_s, vals) in enumerate(_batches()):
            calls.clear()
            process_metric_measures(writer, metric.id, POLICY, (T0 + ts_s * S).astype(np.int64), vals)
            writer.sync()
            # the very first pass of a driver object lists before it has written anything
            assert calls.count(f"GetObject {metric.id}/index") == (2 if i == 0 else 1), calls
            assert calls.count(f"PutObject {metric.id}/index") == 1, calls
            calls.clear()
            get_measures(reader, metric, "mean")
            get_measures(reader, metric, "mean")
            assert not [c for c in calls if c.startswith("List")]
        writer.close()
        reader.close()
    finally:
        gen.close()
