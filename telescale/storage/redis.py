"""Redis storage driver: every metric's raw tail and splits in Redis (``storage.redis_url``).

Keys (``prefix`` defaults to ``telescale``; the ``{metric}`` hash tag keeps a metric's keys in one cluster slot)::

    <prefix>:storage:{<metric>}:raw                a string: the raw tail
    <prefix>:storage:{<metric>}:splits:<g>         a hash: split key -> split bytes (HKEYS lists a granularity)
    <prefix>:storage:{<metric>}:versions:<g>       a hash: split key -> content_version(bytes)
    <prefix>:storage:{<metric>}:granularities      a set: the granularities above, so delete_metric needs no SCAN

A split's version is a hash of its bytes (:func:`~telescale.storage.base.content_version`), written in the same
transaction as the bytes: :meth:`RedisStorage.split_versions` is one HMGET of short strings, and a reader that
fetched the bytes computes their version itself, so the read cache never files bytes under another version.

Writes are staged in this object (its own reads see them) and :meth:`RedisStorage.sync` sends them as MULTI/EXEC
transactions (one per ~16 MB of payload, so one huge pass does not stall the server), each metric's changes within
one transaction.

Durability: ``sync()`` returning means Redis has applied the writes, not that they survive a crash; metricd acks
incoming measures right after it, so what Redis then loses is lost for good. Configure the server accordingly:

- ``appendonly yes`` with ``appendfsync always``: every transaction is fsynced before EXEC replies; nothing acked
  is lost, at the cost of one fsync per sync() (metricd syncs once per pass, so this is usually affordable).
- ``appendonly yes`` with ``appendfsync everysec`` (Redis' default once AOF is on): the AOF is written before the
  reply, so a crash of the Redis process loses nothing, but a crash of the machine (kernel, power) loses up to
  about the last second or two of acked writes.
- RDB snapshots alone (``save …``) lose everything since the last snapshot; ``save ""`` with ``appendonly no``
  (as the test services run) keeps nothing across a restart.
- ``maxmemory-policy noeviction``: any evicting policy would silently drop splits when memory runs out.
Replication is asynchronous: a failover to a replica may lose the last acked writes as well.
"""

from __future__ import annotations

import threading
import uuid
from collections.abc import Hashable, Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, Self

import redis

from telescale.config import ConfigError
from telescale.storage.base import ContentVersions, content_version
from telescale.storage.cache import SplitCache

if TYPE_CHECKING:
    from telescale.config import Settings

__all__ = ["RedisStorage"]

_TRANSACTION_BYTES = 16 << 20  # payload after which sync() starts another MULTI/EXEC


class RedisStorage(ContentVersions):
    """Splits and raw tails in Redis; see the module docstring for the keys and for persistence settings."""

    def __init__(
        self,
        url: str | None = None,
        *,
        prefix: str = "telescale",
        client: redis.Redis | None = None,
        read_cache_bytes: int = 0,
    ) -> None:
        """``url``: redis://[:password@]host:port/db (or an existing ``client``); ``prefix``: of every key name, so
        deployments and tests can share one Redis."""
        if client is None:
            if not url:
                raise ConfigError("RedisStorage needs a Redis URL")
            client = redis.Redis.from_url(url)
        self._redis: Any = client
        self.prefix = prefix
        self._base = f"{prefix}:storage:"
        self.read_cache = SplitCache(read_cache_bytes) if read_cache_bytes > 0 else None
        self._lock = threading.Lock()
        self._raw: dict[uuid.UUID, bytes] = {}  # staged since the last sync()
        self._splits: dict[tuple[uuid.UUID, int], dict[int, bytes | None]] = {}  # None: deleted

    @classmethod
    def from_settings(cls, settings: Settings, *, read_cache_bytes: int = 0) -> Self:
        """``storage.redis_url`` (required)."""
        url = settings.storage.redis_url
        if not url:
            raise ConfigError("storage.redis_url must be set when storage.driver is 'redis'")
        return cls(url, prefix=settings.storage.redis_prefix, read_cache_bytes=read_cache_bytes)

    # -- names -------------------------------------------------------------------------------------
    def _key(self, metric_id: uuid.UUID, suffix: str) -> str:
        return f"{self._base}{{{metric_id}}}:{suffix}"

    def _splits_key(self, metric_id: uuid.UUID, granularity: int) -> str:
        return self._key(metric_id, f"splits:{int(granularity)}")

    def _versions_key(self, metric_id: uuid.UUID, granularity: int) -> str:
        return self._key(metric_id, f"versions:{int(granularity)}")

    def _staged(self, metric_id: uuid.UUID, granularity: int) -> dict[int, bytes | None]:
        """A copy of the staged changes of one granularity (empty when none)."""
        if not self._splits:
            return {}
        with self._lock:
            return dict(self._splits.get((metric_id, int(granularity)), {}))

    # -- raw ---------------------------------------------------------------------------------------
    def get_raw(self, metric_id: uuid.UUID) -> bytes | None:
        with self._lock:
            staged = self._raw.get(metric_id)
        if staged is not None:
            return staged
        return self._redis.get(self._key(metric_id, "raw"))

    def get_raws(self, metric_ids: Sequence[uuid.UUID]) -> list[bytes | None]:
        with self._lock:
            staged = [self._raw.get(mid) for mid in metric_ids]
        missing = [mid for mid, data in zip(metric_ids, staged, strict=True) if data is None]
        stored = iter(self._redis.mget([self._key(mid, "raw") for mid in missing]) if missing else ())
        return [data if data is not None else next(stored) for data in staged]

    def put_raw(self, metric_id: uuid.UUID, data: bytes) -> None:
        with self._lock:
            self._raw[metric_id] = bytes(data)

    # -- splits ------------------------------------------------------------------------------------
    def list_split_keys(self, metric_id: uuid.UUID, granularity: int) -> list[int]:
        keys = {int(k) for k in self._redis.hkeys(self._splits_key(metric_id, granularity))}
        for k, data in self._staged(metric_id, granularity).items():
            if data is None:
                keys.discard(k)
            else:
                keys.add(k)
        return sorted(keys)

    def get_splits(self, metric_id: uuid.UUID, granularity: int, keys: Iterable[int]) -> list[bytes | None]:
        keys = [int(k) for k in keys]
        if not keys:
            return []
        staged = self._staged(metric_id, granularity)
        fetch = [k for k in keys if k not in staged]
        found = dict(zip(fetch, self._redis.hmget(self._splits_key(metric_id, granularity), fetch), strict=True)) \
            if fetch else {}
        return [staged[k] if k in staged else found[k] for k in keys]

    def split_versions(
        self, metric_id: uuid.UUID, granularity: int, keys: Sequence[int]
    ) -> list[Hashable | None]:
        keys = [int(k) for k in keys]
        if not keys:
            return []
        staged = self._staged(metric_id, granularity)
        fetch = [k for k in keys if k not in staged]
        found = dict(zip(fetch, self._redis.hmget(self._versions_key(metric_id, granularity), fetch), strict=True)) \
            if fetch else {}
        out: list[Hashable | None] = []
        for k in keys:
            if k in staged:
                data = staged[k]
                out.append(None if data is None else content_version(data))
            else:
                v = found[k]
                out.append(None if v is None else v.decode())
        return out

    def put_splits(self, metric_id: uuid.UUID, granularity: int, splits: Mapping[int, bytes]) -> None:
        if not splits:
            return
        with self._lock:
            staged = self._splits.setdefault((metric_id, int(granularity)), {})
            for k, data in splits.items():
                staged[int(k)] = bytes(data)

    def delete_splits(self, metric_id: uuid.UUID, granularity: int, keys: Iterable[int]) -> None:
        keys = [int(k) for k in keys]
        if not keys:
            return
        with self._lock:
            staged = self._splits.setdefault((metric_id, int(granularity)), {})
            for k in keys:
                staged[k] = None

    def delete_metric(self, metric_id: uuid.UUID) -> None:
        """All of the metric's keys in one transaction (its granularity set watched, so none is missed)."""
        with self._lock:
            self._raw.pop(metric_id, None)
            for key in [key for key in self._splits if key[0] == metric_id]:
                del self._splits[key]
        grans_key = self._key(metric_id, "granularities")

        def delete(pipe: Any) -> None:
            grans = [int(g) for g in pipe.smembers(grans_key)]
            pipe.multi()
            pipe.delete(self._key(metric_id, "raw"), grans_key,
                        *[self._splits_key(metric_id, g) for g in grans],
                        *[self._versions_key(metric_id, g) for g in grans])

        self._redis.transaction(delete, grans_key)

    # -- durability --------------------------------------------------------------------------------
    def sync(self) -> None:
        """Send every staged write (MULTI/EXEC, a metric's changes never split over two transactions)."""
        with self._lock:
            raw, self._raw = self._raw, {}
            splits, self._splits = self._splits, {}
        if not raw and not splits:
            return
        by_metric: dict[uuid.UUID, list[tuple[int, dict[int, bytes | None]]]] = {}
        for (m, g), changes in splits.items():
            by_metric.setdefault(m, []).append((g, changes))
        pipe = self._redis.pipeline(transaction=True)
        size = 0
        for m in raw.keys() | by_metric.keys():
            data = raw.get(m)
            if data is not None:
                pipe.set(self._key(m, "raw"), data)
                size += len(data)
            for g, changes in by_metric.get(m, ()):
                puts = {k: v for k, v in changes.items() if v is not None}
                dels = [k for k, v in changes.items() if v is None]
                if puts:
                    pipe.hset(self._splits_key(m, g), mapping=puts)
                    pipe.hset(self._versions_key(m, g), mapping={k: content_version(v) for k, v in puts.items()})
                    pipe.sadd(self._key(m, "granularities"), g)
                    size += sum(len(v) for v in puts.values())
                if dels:
                    pipe.hdel(self._splits_key(m, g), *dels)
                    pipe.hdel(self._versions_key(m, g), *dels)
            if size >= _TRANSACTION_BYTES:
                pipe.execute()
                size = 0
        if len(pipe):
            pipe.execute()

    def close(self) -> None:
        self._redis.close()
