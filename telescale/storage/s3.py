"""S3 storage driver (AWS S3, Ceph RGW, MinIO … through boto3; nothing here is specific to one server).

Objects, in the bucket ``<storage.s3_bucket_prefix>-aggregates``::

    <metric uuid>/raw                         the raw tail
    <metric uuid>/<granularity ns>/<key ns>   one split
    <metric uuid>/index                       JSON: the split keys of each granularity, with each split's version

Why an index: a LIST per metric and granularity on every pass and every read is slow and, on AWS, billed at ten
times a GET. The index answers :meth:`S3Storage.list_split_keys` and :meth:`S3Storage.split_versions` with one
GET per metric. A split's version is a hash of its bytes (:func:`~telescale.storage.base.content_version`), so a
reader that fetched the bytes knows their version exactly, whatever raced with it.

Only the metricd worker holding a metric's sack writes its objects (the janitor may delete the whole metric),
so an index is read, changed and written back by one writer at a time without conditional requests.

Writes are staged, as in the file driver: ``put_*`` sends the object's PUT at once through a thread pool (boto3
clients are thread-safe; ``storage.s3_max_pool_connections`` bounds both) and keeps the bytes so this driver
object reads back what it wrote; ``delete_splits`` only takes the keys out of the index. :meth:`S3Storage.sync`
then (1) waits for every PUT, (2) writes the changed indexes, (3) deletes the removed objects. A reader therefore
never finds an index entry whose object is not there yet (a missing object reads as ``None`` anyway). A crash
between (1) and (2) leaves new bytes under an old index: the replayed pass rewrites them; one between (2) and (3)
leaves unlisted objects, which only :meth:`S3Storage.delete_metric` (a LIST by prefix) removes.

Once this object has written anything (it is then a metricd worker's), the indexes it loads are kept until the
next ``sync()``: processing lists each granularity of a metric in turn, then writes them, with one GET of the index
per metric and pass; no one else writes that metric during the pass (its sack is locked). An object that never
wrote (the API's, the evaluators') loads the index afresh on every call, so it sees every write another process
made durable.
"""

from __future__ import annotations

import json
import logging
import threading
import uuid
from collections.abc import Callable, Hashable, Iterable, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor, wait
from typing import TYPE_CHECKING, Any, Self, TypeVar

import boto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

from telescale.storage.base import ContentVersions, content_version
from telescale.storage.cache import SplitCache

if TYPE_CHECKING:
    from telescale.config import Settings

__all__ = ["S3Storage", "S3StorageError"]

LOG = logging.getLogger(__name__)

_INDEX_FORMAT = 1
_DELETE_BATCH = 1000  # most keys one DeleteObjects request takes
_NOT_FOUND = frozenset({"404", "NoSuchKey", "NoSuchBucket", "NotFound"})

T = TypeVar("T")
Index = dict[int, dict[int, str]]  # granularity -> {split key -> version}


class S3StorageError(RuntimeError):
    """An S3 request failed (endpoint unreachable, access denied, …); the message names the object."""


def _error_code(e: ClientError) -> str:
    return str(e.response.get("Error", {}).get("Code", ""))


def _encode_index(index: Index) -> bytes:
    doc = {
        "format": _INDEX_FORMAT,
        "splits": {str(g): {str(k): v for k, v in sorted(keys.items())} for g, keys in sorted(index.items()) if keys},
    }
    return json.dumps(doc, separators=(",", ":")).encode()


def _decode_index(data: bytes, where: str) -> Index:
    try:
        doc = json.loads(data)
        if doc.get("format") != _INDEX_FORMAT:
            raise ValueError(f"unknown format {doc.get('format')!r}")
        return {int(g): {int(k): str(v) for k, v in keys.items()} for g, keys in doc["splits"].items()}
    except (ValueError, TypeError, KeyError, AttributeError) as e:
        raise S3StorageError(f"{where}: unreadable index: {e}") from e


class S3Storage(ContentVersions):
    """Splits and raw tails in one S3 bucket; see the module docstring for the layout and the write order."""

    def __init__(
        self,
        bucket_prefix: str = "telescale",
        *,
        bucket: str | None = None,
        endpoint_url: str | None = None,
        region_name: str | None = None,
        access_key_id: str | None = None,
        secret_access_key: str | None = None,
        max_pool_connections: int = 50,
        read_cache_bytes: int = 0,
        connect_timeout: float = 10.0,
        read_timeout: float = 60.0,
        max_attempts: int = 5,
        create_bucket: bool = True,
    ) -> None:
        """``bucket`` overrides ``<bucket_prefix>-aggregates``; ``None`` for any of the endpoint, region and
        credentials lets boto3 find them (environment, ``~/.aws``, instance profile)."""
        self.bucket = bucket or f"{bucket_prefix}-aggregates"
        self.endpoint_url = endpoint_url or None
        self.read_cache = SplitCache(read_cache_bytes) if read_cache_bytes > 0 else None
        self._threads = max(1, int(max_pool_connections))
        config = Config(
            max_pool_connections=self._threads,
            connect_timeout=connect_timeout,
            read_timeout=read_timeout,
            retries={"max_attempts": max_attempts, "mode": "standard"},
            # servers other than AWS are usually reached by address: bucket in the path, not in the host name
            s3={"addressing_style": "path" if self.endpoint_url else "auto"},
        )
        try:
            self._client: Any = boto3.session.Session().client(
                "s3",
                endpoint_url=self.endpoint_url,
                region_name=region_name or None,
                aws_access_key_id=access_key_id or None,
                aws_secret_access_key=secret_access_key or None,
                config=config,
            )
        except (BotoCoreError, ValueError) as e:
            raise S3StorageError(f"S3 client for {self.endpoint_url or 'AWS'}: {e}") from e
        self._lock = threading.RLock()
        self._pool: ThreadPoolExecutor | None = None
        # staged since the last sync()
        self._puts: dict[str, bytes] = {}  # object -> the bytes it has for this driver object
        self._last: dict[str, Future[None]] = {}  # object -> its latest PUT (the next one waits for it)
        self._pending: dict[Future[None], str] = {}  # every PUT not yet waited for by sync(), -> its object
        self._deletes: set[str] = set()
        self._indexes: dict[uuid.UUID, Index] = {}  # indexes loaded or changed since the last sync()
        self._dirty: set[uuid.UUID] = set()  # ... of which changed
        self._writer = False  # has staged a write: keeps the indexes it loads until sync()
        if create_bucket:
            self._ensure_bucket()

    @classmethod
    def from_settings(cls, settings: Settings, *, read_cache_bytes: int = 0) -> Self:
        """``storage.s3_*``; empty strings leave the endpoint, region and credentials to boto3."""
        s = settings.storage
        return cls(
            s.s3_bucket_prefix,
            endpoint_url=s.s3_endpoint_url or None,
            region_name=s.s3_region_name or None,
            access_key_id=s.s3_access_key_id or None,
            secret_access_key=s.s3_secret_access_key or None,
            max_pool_connections=s.s3_max_pool_connections,
            read_cache_bytes=read_cache_bytes,
        )

    # -- requests ----------------------------------------------------------------------------------
    def _where(self, key: str = "") -> str:
        return f"s3://{self.bucket}/{key} at {self.endpoint_url or 'AWS'}"

    def _call(self, what: str, key: str, fn: Callable[..., T], **kwargs: Any) -> T:
        try:
            return fn(Bucket=self.bucket, **kwargs)
        except ClientError as e:
            raise S3StorageError(f"S3 {what} {self._where(key)}: {e}") from e
        except BotoCoreError as e:
            raise S3StorageError(f"S3 {what} {self._where(key)}: {e}") from e

    def _ensure_bucket(self) -> None:
        """Create the bucket unless it exists (in the client's region: AWS wants it named, except us-east-1)."""
        try:
            self._client.head_bucket(Bucket=self.bucket)
            return
        except ClientError as e:
            if _error_code(e) not in _NOT_FOUND:
                raise S3StorageError(f"S3 HEAD bucket {self._where()}: {e}") from e
        except BotoCoreError as e:
            raise S3StorageError(f"S3 HEAD bucket {self._where()}: {e}") from e
        kwargs: dict[str, Any] = {}
        region = self._client.meta.region_name
        if region and region not in ("us-east-1", "aws-global"):
            kwargs["CreateBucketConfiguration"] = {"LocationConstraint": region}
        try:
            self._client.create_bucket(Bucket=self.bucket, **kwargs)
            LOG.info("Created bucket %s", self._where())
        except ClientError as e:
            code = _error_code(e)
            if code == "BucketAlreadyOwnedByYou":
                return  # another process created it meanwhile
            if code == "BucketAlreadyExists":
                raise S3StorageError(
                    f"S3 bucket {self.bucket!r} belongs to another account: choose another storage.s3_bucket_prefix"
                ) from e
            raise S3StorageError(f"S3 CREATE bucket {self._where()}: {e}") from e
        except BotoCoreError as e:
            raise S3StorageError(f"S3 CREATE bucket {self._where()}: {e}") from e

    def _get(self, key: str) -> bytes | None:
        try:
            response = self._client.get_object(Bucket=self.bucket, Key=key)
            return response["Body"].read()
        except ClientError as e:
            if _error_code(e) == "NoSuchKey" or _error_code(e) == "404":
                return None
            raise S3StorageError(f"S3 GET {self._where(key)}: {e}") from e
        except BotoCoreError as e:
            raise S3StorageError(f"S3 GET {self._where(key)}: {e}") from e

    def _put(self, key: str, data: bytes) -> None:
        self._call("PUT", key, self._client.put_object, Key=key, Body=data)

    def _delete_batch(self, keys: list[str]) -> None:
        response = self._call(
            "DELETE", keys[0], self._client.delete_objects,
            Delete={"Objects": [{"Key": k} for k in keys], "Quiet": True},
        )
        errors = [e for e in response.get("Errors", []) if e.get("Code") not in _NOT_FOUND]
        if errors:
            first = errors[0]
            raise S3StorageError(
                f"S3 DELETE {self._where(first.get('Key', ''))}: {first.get('Code')}: {first.get('Message')}"
                f" ({len(errors)} of {len(keys)} objects not deleted)"
            )

    def _delete(self, keys: Iterable[str]) -> None:
        keys = sorted(keys)
        self._map(self._delete_batch, [keys[i:i + _DELETE_BATCH] for i in range(0, len(keys), _DELETE_BATCH)])

    def _executor(self) -> ThreadPoolExecutor:
        with self._lock:
            if self._pool is None:
                self._pool = ThreadPoolExecutor(self._threads, thread_name_prefix="storage-s3")
            return self._pool

    def _map(self, fn: Callable[[Any], T], items: Sequence[Any]) -> list[T]:
        """``fn`` over ``items``, in the pool when there is more than one; the first error is raised."""
        if len(items) <= 1:
            return [fn(it) for it in items]
        return list(self._executor().map(fn, items))

    # -- names -------------------------------------------------------------------------------------
    @staticmethod
    def _raw_key(metric_id: uuid.UUID) -> str:
        return f"{metric_id}/raw"

    @staticmethod
    def _index_key(metric_id: uuid.UUID) -> str:
        return f"{metric_id}/index"

    @staticmethod
    def _split_key(metric_id: uuid.UUID, granularity: int, key: int) -> str:
        return f"{metric_id}/{int(granularity)}/{int(key)}"

    # -- staging -----------------------------------------------------------------------------------
    def _stage_put(self, key: str, data: bytes) -> None:
        """Send the PUT now, after any earlier PUT of the same object (so the last one written wins)."""
        pool = self._executor()
        with self._lock:
            self._writer = True
            future = pool.submit(self._put_after, self._last.get(key), key, data)
            self._puts[key] = data
            self._last[key] = future
            self._pending[future] = key
            self._deletes.discard(key)

    def _put_after(self, previous: Future[None] | None, key: str, data: bytes) -> None:
        if previous is not None:
            wait([previous])  # its error, if any, is reported by sync()
        self._put(key, data)

    def _index(self, metric_id: uuid.UUID, *, for_write: bool = False) -> Index:
        """The metric's index: this pass's copy if there is one, else as stored (kept for the rest of the pass
        when writing; see the module docstring)."""
        with self._lock:
            index = self._indexes.get(metric_id)
            if index is not None:
                return index
        key = self._index_key(metric_id)
        data = self._get(key)
        index = {} if data is None else _decode_index(data, self._where(key))
        with self._lock:
            if for_write or self._writer:
                return self._indexes.setdefault(metric_id, index)
        return index

    def _read(self, key: str) -> bytes | None:
        with self._lock:
            staged = self._puts.get(key)
            if staged is not None:
                return staged
            if key in self._deletes:
                return None
        return self._get(key)

    # -- raw ---------------------------------------------------------------------------------------
    def get_raw(self, metric_id: uuid.UUID) -> bytes | None:
        return self._read(self._raw_key(metric_id))

    def get_raws(self, metric_ids: Sequence[uuid.UUID]) -> list[bytes | None]:
        return self._map(self._read, [self._raw_key(mid) for mid in metric_ids])

    def put_raw(self, metric_id: uuid.UUID, data: bytes) -> None:
        self._stage_put(self._raw_key(metric_id), bytes(data))

    # -- splits ------------------------------------------------------------------------------------
    def list_split_keys(self, metric_id: uuid.UUID, granularity: int) -> list[int]:
        return sorted(self._index(metric_id).get(int(granularity), ()))

    def get_splits(self, metric_id: uuid.UUID, granularity: int, keys: Iterable[int]) -> list[bytes | None]:
        names = [self._split_key(metric_id, granularity, k) for k in keys]
        return self._map(self._read, names)

    def split_versions(
        self, metric_id: uuid.UUID, granularity: int, keys: Sequence[int]
    ) -> list[Hashable | None]:
        versions = self._index(metric_id).get(int(granularity), {})
        return [versions.get(int(k)) for k in keys]

    def put_splits(self, metric_id: uuid.UUID, granularity: int, splits: Mapping[int, bytes]) -> None:
        if not splits:
            return
        g = int(granularity)
        index = self._index(metric_id, for_write=True)
        for key, data in splits.items():
            self._stage_put(self._split_key(metric_id, g, key), bytes(data))
        with self._lock:
            versions = index.setdefault(g, {})
            for key, data in splits.items():
                versions[int(key)] = content_version(data)
            self._dirty.add(metric_id)

    def delete_splits(self, metric_id: uuid.UUID, granularity: int, keys: Iterable[int]) -> None:
        keys = [int(k) for k in keys]
        if not keys:
            return
        g = int(granularity)
        index = self._index(metric_id, for_write=True)
        with self._lock:
            self._writer = True
            versions = index.get(g, {})
            for k in keys:
                versions.pop(k, None)
                name = self._split_key(metric_id, g, k)
                self._puts.pop(name, None)  # a PUT in flight is waited for by sync() before the delete
                self._deletes.add(name)
            self._dirty.add(metric_id)

    def delete_metric(self, metric_id: uuid.UUID) -> None:
        """Index first (readers see no split from then on), then every object under ``<metric>/``."""
        prefix = f"{metric_id}/"
        with self._lock:
            self._indexes.pop(metric_id, None)
            self._dirty.discard(metric_id)
            for staged in (self._puts, self._last):
                for name in [n for n in staged if n.startswith(prefix)]:
                    del staged[name]
            self._deletes = {n for n in self._deletes if not n.startswith(prefix)}
            in_flight = [f for f, n in self._pending.items() if n.startswith(prefix)]
            for f in in_flight:
                del self._pending[f]
        wait(in_flight)  # their errors do not matter: the objects are going
        self._call("DELETE", self._index_key(metric_id), self._client.delete_object, Key=self._index_key(metric_id))
        names: list[str] = []
        paginator = self._client.get_paginator("list_objects_v2")
        try:
            for page in paginator.paginate(Bucket=self.bucket, Prefix=prefix):
                names.extend(obj["Key"] for obj in page.get("Contents", ()))
        except (ClientError, BotoCoreError) as e:
            raise S3StorageError(f"S3 LIST {self._where(prefix)}: {e}") from e
        if names:
            self._delete(names)

    # -- durability --------------------------------------------------------------------------------
    def sync(self) -> None:
        """Every staged PUT done, then the changed indexes written, then the removed objects deleted."""
        errors: list[BaseException] = []
        while True:
            with self._lock:
                pending = list(self._pending)
                if not pending:
                    break
            wait(pending)
            with self._lock:
                for f in pending:
                    self._pending.pop(f, None)
                    if f.exception() is not None:
                        errors.append(f.exception())  # type: ignore[arg-type]
        with self._lock:
            indexes = {m: self._indexes[m] for m in self._dirty if m in self._indexes}
            deletes = self._deletes
            self._puts, self._last, self._deletes, self._indexes, self._dirty = {}, {}, set(), {}, set()
        if errors:
            # No index is written, so readers keep the previous splits; the caller does not ack, and the next pass
            # replays the measures (a raw tail that did get written already holds them: the replay merges the same).
            raise S3StorageError(f"{len(errors)} staged PUT(s) failed; first: {errors[0]}") from errors[0]
        self._map(lambda item: self._put(self._index_key(item[0]), _encode_index(item[1])), list(indexes.items()))
        if deletes:
            self._delete(deletes)

    def close(self) -> None:
        with self._lock:
            pool, self._pool = self._pool, None
        if pool is not None:
            pool.shutdown(wait=True)
        close = getattr(self._client, "close", None)
        if close is not None:
            close()
