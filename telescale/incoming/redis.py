"""Redis incoming driver: the incoming buffer in a Redis server that every process of a deployment shares.

Keys (all under ``<prefix>:incoming<sacks>-<n>``, so that two deployments, or two tests, share one Redis):

``…:data``
    a LIST of the sack's pending writes, oldest at the head: one entry per write that touched the sack,
    holding the sack's share as one section (:mod:`telescale.incoming.sections`, the file driver's format);
``…:times``
    a LIST parallel to ``data`` (same length, same order): per entry its arrival time (ns), its size in bytes
    and a random token, so that :meth:`~RedisIncoming.work_times` and the byte bound of a read never touch
    measure data, and an ack can check that the entries it trims are the ones its read returned;
``…:counts``
    a HASH metric uuid (16 bytes) -> pending points, for ``/v1/status`` and ``?refresh=true``.

Plus ``<prefix>:incoming:sacks``, the sack count in use: a driver with another count refuses to start while
the previous layout still holds measures (they would never be read otherwise).

Writers only append at the tails (RPUSH), all sacks of a write and the counts in one MULTI/EXEC: one round
trip, and a write is all or nothing (Redis checks every queued command before running any, so a refused write,
e.g. out of memory, leaves no trace). Only the holder of a sack's lock reads (LRANGE from the head, a bounded
number of entries and bytes) and acks: a Lua script trims exactly the entries read from the heads of both lists
and takes their points off the counts, atomically; entries appended meanwhile stay. An ack whose entries are no
longer at the head (acked twice, or another worker took the sack after this one's lock expired) trims nothing.

Durability: :meth:`~RedisIncoming.add_columns` returns once Redis has executed the transaction, i.e. the
measures are in Redis's memory. Any Telescale process may crash at any time without losing them: they live in
Redis, and a crash between a read and its ack replays the same measures, which processing merges idempotently.
For them to survive a crash (or restart) of Redis itself, run Redis with ``appendonly yes`` and
``appendfsync always`` (every write is on disk before Redis answers); with ``appendfsync everysec`` up to about
one second of accepted writes may be lost, and with no AOF (RDB snapshots only, or ``--save ""``) everything
since the last snapshot. A replica does not help by itself: replication is asynchronous.

One Redis server (or a primary with replicas) is supported; Redis Cluster is not, as a write spans the keys of
several sacks.
"""

from __future__ import annotations

import logging
import os
import struct
import time
import uuid
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Self

import numpy as np
import redis

from telescale.config import ConfigError
from telescale.incoming.base import Columns, IncomingDriver, MeasuresArrays, SackBatch
from telescale.incoming.sections import CorruptIncomingFile, decode_section, encode_section, join_runs, parse_header

if TYPE_CHECKING:
    from telescale.config import Settings

LOG = logging.getLogger(__name__)

_TIME = struct.Struct("<qQ8s")  # arrival ns | entry bytes | token
DEFAULT_MAX_READ_ENTRIES = 4096
DEFAULT_MAX_READ_BYTES = 64 << 20

# KEYS: data list, times list, counts hash. ARGV: entries read, first and last times entries read, then
# (metric, points) pairs. Trims nothing unless the entries read are still at the head (see module docstring).
_ACK = """
local n = tonumber(ARGV[1])
if redis.call('LINDEX', KEYS[2], 0) ~= ARGV[2] or redis.call('LINDEX', KEYS[2], n - 1) ~= ARGV[3] then
  return 0
end
redis.call('LTRIM', KEYS[1], n, -1)
redis.call('LTRIM', KEYS[2], n, -1)
for i = 4, #ARGV, 2 do
  if redis.call('HINCRBY', KEYS[3], ARGV[i], -tonumber(ARGV[i + 1])) <= 0 then
    redis.call('HDEL', KEYS[3], ARGV[i])
  end
end
return 1
"""


@dataclass(frozen=True)
class _RedisAck:
    sack: int
    entries: int
    first: bytes  # times entries of the first and last entry read
    last: bytes
    counts: dict[bytes, int] = field(default_factory=dict)  # points read per metric


@dataclass(frozen=True)
class _SackKeys:
    data: str
    times: str
    counts: str


class RedisIncoming(IncomingDriver):
    """Incoming measures in Redis lists, one per sack (see the module docstring for keys and durability).

    Thread-safe and fork-safe: the only state kept is immutable key names and the client, whose connection
    pool hands each thread its own connection and starts afresh in a forked child.
    """

    def __init__(self, url: str = "", sacks: int = 16, *, prefix: str = "telescale",
                 client: redis.Redis | None = None, max_read_entries: int = DEFAULT_MAX_READ_ENTRIES,
                 max_read_bytes: int = DEFAULT_MAX_READ_BYTES) -> None:
        super().__init__(sacks)
        if client is None:
            if not url:
                raise ValueError("RedisIncoming needs a redis:// URL or a client")
            client = redis.Redis.from_url(url, socket_connect_timeout=5, socket_timeout=60)
            self._owns_client = True
        else:
            self._owns_client = False
        if client.connection_pool.connection_kwargs.get("decode_responses"):
            raise ValueError("RedisIncoming needs a client that returns bytes (decode_responses=False)")
        if max_read_entries < 1 or max_read_bytes < 1:
            raise ValueError("max_read_entries and max_read_bytes must be >= 1")
        self.prefix = prefix
        self.max_read_entries = max_read_entries
        self.max_read_bytes = max_read_bytes  # a read takes at least one entry, however large
        self._client = client
        self._ack_script = client.register_script(_ACK)
        self._keys = [self._keys_of(self.sacks, n) for n in range(self.sacks)]
        self._marker = f"{prefix}:incoming:sacks"
        self._layout_checked = False

    @classmethod
    def from_settings(cls, settings: Settings) -> Self:
        """``incoming.redis_url`` with ``incoming.sacks`` sacks, keys under ``incoming.redis_prefix``."""
        if not settings.incoming.redis_url:
            raise ConfigError('incoming.driver "redis" needs incoming.redis_url (redis://[:password@]host:port/db)')
        return cls(settings.incoming.redis_url, sacks=settings.incoming.sacks, prefix=settings.incoming.redis_prefix)

    def _keys_of(self, sacks: int, sack: int) -> _SackKeys:
        base = f"{self.prefix}:incoming{sacks}-{sack}"
        return _SackKeys(f"{base}:data", f"{base}:times", f"{base}:counts")

    def _check_layout(self) -> None:
        """Refuse another sack count while the previous layout holds measures; record ours otherwise. Done on
        first use rather than in the constructor, so that building the driver needs no Redis."""
        if self._layout_checked:
            return
        previous = self._client.get(self._marker)
        if previous is None or int(previous) != self.sacks:
            if previous is not None:
                old = int(previous)
                with self._client.pipeline(transaction=False) as pipe:
                    for n in range(old):
                        pipe.llen(self._keys_of(old, n).times)
                    if any(pipe.execute()):
                        raise ValueError(f"Redis {self.prefix}:incoming holds unprocessed measures in {old} sacks; "
                                         f"process them before changing the sack count to {self.sacks}")
            self._client.set(self._marker, self.sacks)
        self._layout_checked = True

    # -- write -------------------------------------------------------------------------------------
    def add_columns(self, columns: Columns) -> None:
        """One MULTI/EXEC for every sack touched: returns once Redis has applied all of it (raises otherwise)."""
        if not len(columns):
            return
        self._check_layout()
        now, token = time.time_ns(), os.urandom(8)
        with self._client.pipeline(transaction=True) as pipe:
            for sack, part in columns.by_sack(self.sacks).items():
                keys = self._keys[sack]
                entry = b"".join(encode_section(part))
                pipe.rpush(keys.data, entry)
                pipe.rpush(keys.times, _TIME.pack(now, len(entry), token))
                points: dict[bytes, int] = {}
                for mid, count in zip(part.ids, part.counts.tolist(), strict=True):
                    if count:
                        points[mid.bytes] = points.get(mid.bytes, 0) + count
                for mid_bytes, count in points.items():
                    pipe.hincrby(keys.counts, mid_bytes, count)
            pipe.execute()

    # -- read --------------------------------------------------------------------------------------
    def sacks_with_work(self) -> list[int]:
        """One pipelined LLEN per sack: one round trip, no data read."""
        with self._client.pipeline(transaction=False) as pipe:
            for keys in self._keys:
                pipe.llen(keys.times)
            return [sack for sack, n in enumerate(pipe.execute()) if n]

    def work_times(self) -> dict[int, tuple[int, int] | None]:
        """Arrival times of each sack's first and last pending entries (two LINDEX per sack, one round trip)."""
        with self._client.pipeline(transaction=False) as pipe:
            for keys in self._keys:
                pipe.lindex(keys.times, 0)
                pipe.lindex(keys.times, -1)
            ends = pipe.execute()
        out: dict[int, tuple[int, int] | None] = {}
        for sack in range(self.sacks):
            first, last = ends[2 * sack], ends[2 * sack + 1]
            if first is not None and last is not None:
                out[sack] = (_TIME.unpack(first)[0], _TIME.unpack(last)[0])
        return out

    def read_sack(self, sack: int) -> SackBatch:
        """The oldest pending entries of ``sack``: at most ``max_read_entries``, and no more than
        ``max_read_bytes`` (but at least one entry). Call it holding the sack's lock."""
        self._check_layout()
        keys = self._keys[sack]
        times = self._client.lrange(keys.times, 0, self.max_read_entries - 1)
        if not times:
            return SackBatch(sack=sack)
        sizes = np.fromiter((_TIME.unpack(t)[1] for t in times), dtype=np.int64, count=len(times))
        take = max(1, int(np.searchsorted(np.cumsum(sizes), self.max_read_bytes, side="right")))
        entries = self._client.lrange(keys.data, 0, take - 1)
        if len(entries) != take:  # only possible if someone else edited the keys
            raise RuntimeError(f"Redis incoming sack {sack}: {keys.data} and {keys.times} differ in length")
        parts: dict[bytes, list[MeasuresArrays]] = {}
        points: dict[bytes, int] = {}
        for i, entry in enumerate(entries):
            try:
                decoded = decode_section(entry)
            except CorruptIncomingFile as exc:
                LOG.error("Corrupt entry %d of Redis incoming sack %s (%s); its measures are dropped at the ack",
                          i, keys.data, exc)
                self._count_corrupt(entry, points)
                continue
            for mid, ts, vals in decoded:
                if ts.size:
                    parts.setdefault(mid, []).append((ts, vals))
                    points[mid] = points.get(mid, 0) + int(ts.size)
        handle = _RedisAck(sack, take, times[0], times[take - 1], points)
        return SackBatch(sack=sack, measures=join_runs(parts), handle=handle)

    @staticmethod
    def _count_corrupt(entry: bytes, points: dict[bytes, int]) -> None:
        """Take a corrupt entry's points off the counts too, when its header can still be read."""
        try:
            ids, counts, _ = parse_header(entry)
        except CorruptIncomingFile:
            return
        for mid, count in zip(ids, counts.tolist(), strict=True):
            points[mid] = points.get(mid, 0) + count

    def ack(self, handle: object) -> None:
        """Trim what the read returned and take it off the counts, atomically (a Lua script)."""
        if handle is None:
            return
        if not isinstance(handle, _RedisAck):
            raise TypeError(f"not a RedisIncoming handle: {handle!r}")
        keys = self._keys[handle.sack]
        args: list[bytes | int] = [handle.entries, handle.first, handle.last]
        for mid, count in handle.counts.items():
            args += [mid, count]
        if not self._ack_script(keys=[keys.data, keys.times, keys.counts], args=args):
            LOG.warning("Redis incoming sack %d: the %d entries to ack are no longer at the head of %s (acked "
                        "already, or by another worker); nothing trimmed", handle.sack, handle.entries, keys.data)

    def backlog_per_metric(self) -> dict[uuid.UUID, int]:
        """From the count hashes (one HGETALL per sack, one round trip)."""
        with self._client.pipeline(transaction=False) as pipe:
            for keys in self._keys:
                pipe.hgetall(keys.counts)
            hashes = pipe.execute()
        return {uuid.UUID(bytes=mid): int(n) for h in hashes for mid, n in h.items() if int(n) > 0}

    def pending_for_metric(self, metric_id: uuid.UUID) -> bool:
        count = self._client.hget(self._keys[self.sack_for(metric_id)].counts, metric_id.bytes)
        return count is not None and int(count) > 0

    def close(self) -> None:
        """Disconnect the pool of a client this driver made (a client passed in belongs to its owner)."""
        if self._owns_client:
            self._client.connection_pool.disconnect()
