"""Storage of aggregated splits and each metric's raw (unaggregated) tail.

Objects are opaque bytes addressed by ``(metric, granularity ns, split key ns)`` for splits and by
``metric`` for the raw tail; encoding belongs to ``telescale.timeseries``. Every ``put_*`` is atomic
(a reader sees the old or the new object, never a partial one). :meth:`StorageDriver.sync` makes every
write done since the previous call durable; metricd calls it before acking incoming measures.
"""

from __future__ import annotations

import abc
import hashlib
import uuid
from collections.abc import Hashable, Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Self

from telescale.storage.cache import SplitCache

if TYPE_CHECKING:
    from telescale.config import Settings

__all__ = ["SplitCache", "StorageDriver", "content_version"]


def content_version(data: bytes) -> str:
    """A version derived from the bytes themselves (64-bit BLAKE2b, hex), for drivers whose objects have no
    cheap identity of their own: computed on the bytes a read got, it is exactly their version whatever
    raced with the read, and any change of the bytes changes it."""
    return hashlib.blake2b(data, digest_size=8).hexdigest()


class StorageDriver(abc.ABC):
    """Interface of a storage driver (``file``, ``s3``, ``redis``: :mod:`telescale.drivers` builds them by name).

    ``read_cache``: decoded split columns kept by the read path (:mod:`telescale.query.measures`) for
    drivers that can tell a split's version cheaply (:meth:`split_versions`); ``None`` = no cache.
    """

    read_cache: SplitCache | None = None

    @classmethod
    @abc.abstractmethod
    def from_settings(cls, settings: Settings, *, read_cache_bytes: int = 0) -> Self:
        """The driver as ``storage.*`` settings describe it; ``read_cache_bytes``: size of :attr:`read_cache`
        (0 = none)."""

    @abc.abstractmethod
    def get_raw(self, metric_id: uuid.UUID) -> bytes | None: ...

    @abc.abstractmethod
    def put_raw(self, metric_id: uuid.UUID, data: bytes) -> None: ...

    def get_raws(self, metric_ids: Sequence[uuid.UUID]) -> list[bytes | None]:
        """:meth:`get_raw` of several metrics, in their order; drivers over a network fetch them together."""
        return [self.get_raw(mid) for mid in metric_ids]

    @abc.abstractmethod
    def list_split_keys(self, metric_id: uuid.UUID, granularity: int) -> list[int]:
        """Sorted split keys stored for (metric, granularity)."""

    @abc.abstractmethod
    def get_splits(self, metric_id: uuid.UUID, granularity: int, keys: Iterable[int]) -> list[bytes | None]:
        """The stored bytes for each key (``None`` where absent), in the order of ``keys``."""

    def split_versions(
        self, metric_id: uuid.UUID, granularity: int, keys: Sequence[int]
    ) -> list[Hashable | None] | None:
        """A version for each key (``None`` where absent) that changes whenever the split's bytes do,
        cheaper to get than the bytes; ``None`` when the driver cannot tell (then nothing is cached)."""
        return None

    def get_splits_versioned(
        self, metric_id: uuid.UUID, granularity: int, keys: Sequence[int]
    ) -> list[tuple[Hashable | None, bytes | None]]:
        """``(version, bytes)`` for each key, the version being that of exactly these bytes (``None``
        when unknown: not cacheable), as :meth:`split_versions` would report it."""
        return [(None, data) for data in self.get_splits(metric_id, granularity, keys)]

    @abc.abstractmethod
    def put_splits(self, metric_id: uuid.UUID, granularity: int, splits: Mapping[int, bytes]) -> None: ...

    @abc.abstractmethod
    def delete_splits(self, metric_id: uuid.UUID, granularity: int, keys: Iterable[int]) -> None: ...

    @abc.abstractmethod
    def delete_metric(self, metric_id: uuid.UUID) -> None:
        """Remove everything stored for the metric (idempotent)."""

    def sync(self) -> None:  # noqa: B027 - drivers whose writes are durable on return need nothing
        """Make every write done through this object since the last call durable."""

    def housekeeping(self, max_age: float = 3600.0) -> int:
        """Remove what writers that died mid-write left behind, older than ``max_age`` seconds (the janitor calls
        it); returns how many. Drivers whose writes are atomic leave nothing: 0."""
        return 0

    def close(self) -> None:  # noqa: B027
        """Release resources."""


class ContentVersions(StorageDriver):
    """For drivers whose split versions are :func:`content_version` of the bytes: the version of what was read
    is computed from it, so the read cache can never hold bytes under another version."""

    def get_splits_versioned(
        self, metric_id: uuid.UUID, granularity: int, keys: Sequence[int]
    ) -> list[tuple[Hashable | None, bytes | None]]:
        return [(None if data is None else content_version(data), data)
                for data in self.get_splits(metric_id, granularity, keys)]
