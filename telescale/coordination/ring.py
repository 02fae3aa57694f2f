"""A group's share of the work: which keys this member owns on a consistent hash ring of the members.

The ring is tooz's :class:`tooz.hashring.HashRing` (md5, ``partitions`` points per member), so every
process that sees the same members maps every key to the same owner whatever its hash seed, and a member
joining or leaving only moves the keys of the ring arcs it gains or gives up. Lookups are vectorised: the
ring's points are read once per membership version into a sorted ``uint64`` array (the top 64 bits of
tooz's 128-bit md5 positions) and a batch of keys is placed with one ``numpy.searchsorted``; each key's
md5 is computed once per process and cached, so filtering the same 10,000 alarm ids every cycle costs a
few dictionary look-ups per key. The owner found is tooz's own unless a key's top 64 bits equal a ring
point's (odds about 2**-64 per key and point).

A :class:`Partition` also carries a validity deadline that its coordinator pushes forward after each
successful contact with the backend: past it (the backend has been unreachable for nearly the
heartbeat timeout, after which the other members drop this one and take its keys) it owns nothing, so a
member cut off from the others stops working before they take over.
"""

from __future__ import annotations

import hashlib
import itertools
import math
import threading
import time
from collections.abc import Collection, Hashable, Iterable, Sequence
from dataclasses import dataclass
from typing import TypeVar

import numpy as np
from tooz import hashring

__all__ = ["DEFAULT_PARTITIONS", "Partition"]

#: Ring points per member (tooz's default is 32; Aodh's ring uses 100 for an even spread).
DEFAULT_PARTITIONS = 100
#: Cached key hashes per partition; the cache is emptied when it grows past this (a new key set).
MAX_CACHED_HASHES = 1 << 18

K = TypeVar("K", bound=Hashable)


def key_hash(key: Hashable) -> int:
    """The top 64 bits of the md5 tooz's ring places ``str(key)`` with (as :class:`tooz.partitioner.Partitioner`)."""
    return int.from_bytes(hashlib.md5(str(key).encode(), usedforsecurity=False).digest()[:8], "big")


@dataclass(frozen=True)
class _Ring:
    """One membership version's ring as arrays: sorted point positions and the owning member's index."""

    version: int
    members: frozenset[str]
    points: np.ndarray  # uint64, sorted
    owners: np.ndarray  # intp index into ``names``
    names: tuple[str, ...]
    me: int  # index of this member in ``names``; -1 when it is not a member

    @classmethod
    def build(cls, version: int, members: frozenset[str], member_id: str, partitions: int) -> _Ring:
        names = tuple(sorted(members))
        if not names:
            empty = np.empty(0, dtype=np.uint64)
            return cls(version, members, empty, np.empty(0, dtype=np.intp), names, -1)
        ring = hashring.HashRing(names, partitions=partitions)
        # tooz keeps the sorted 128-bit positions in ``_partitions`` and their node in ``_ring``; reading
        # them once per version is what lets a batch be placed in one searchsorted instead of per key.
        positions = ring._partitions
        index = {name: i for i, name in enumerate(names)}
        points = np.fromiter((p >> 64 for p in positions), dtype=np.uint64, count=len(positions))
        owners = np.fromiter((index[ring._ring[p]] for p in positions), dtype=np.intp, count=len(positions))
        return cls(version, members, points, owners, names, index.get(member_id, -1))

    def owner_indexes(self, hashes: np.ndarray) -> np.ndarray:
        """The member index owning each hash: the first point after it, wrapping round (tooz's bisect)."""
        at = np.searchsorted(self.points, hashes, side="right")
        at[at == len(self.points)] = 0
        return self.owners[at]


class Partition:
    """This member's share of one group's keys; its coordinator updates the members as they change."""

    def __init__(self, group: str, member_id: str, members: Collection[str] = (),
                 partitions: int = DEFAULT_PARTITIONS) -> None:
        self.group = group
        self.member_id = member_id
        self.partitions = partitions
        self._versions = itertools.count(1)
        self._mutex = threading.Lock()
        self._hashes: dict[Hashable, int] = {}
        self._valid_until = math.inf
        self._closed = False
        self._ring = _Ring.build(next(self._versions), frozenset(members), member_id, partitions)

    def __repr__(self) -> str:
        return f"<Partition {self.group!r} {self.member_id!r}: {len(self.members)} members, v{self.version}>"

    @property
    def members(self) -> frozenset[str]:
        """The group's live members as last seen (includes this one while it is joined)."""
        return self._ring.members

    @property
    def version(self) -> int:
        """Grows by one each time the members change: a caller caching work per ownership compares it."""
        return self._ring.version

    @property
    def valid(self) -> bool:
        """False once the backend has been out of reach long enough that others may have taken over."""
        return time.monotonic() <= self._valid_until

    def update(self, members: Collection[str], valid_until: float = math.inf) -> bool:
        """Set the members seen (called by the coordinator) and how long (``time.monotonic()``) the view
        holds; return whether the ring changed."""
        members = frozenset(members)
        with self._mutex:
            if self._closed:
                return False
            self._valid_until = valid_until
            if members == self._ring.members:
                return False
            self._ring = _Ring.build(next(self._versions), members, self.member_id, self.partitions)
            return True

    def close(self) -> None:
        """Own nothing from now on, whatever the coordinator still reports (the member left the group)."""
        self.update(())
        self._closed = True

    def owner(self, key: Hashable) -> str | None:
        """The member the ring gives ``key`` to (``None`` with no members)."""
        ring = self._ring
        if not ring.names:
            return None
        return ring.names[int(ring.owner_indexes(np.array([self._hash(key)], dtype=np.uint64))[0])]

    def owns(self, key: Hashable) -> bool:
        """Whether this member should handle ``key`` now."""
        return bool(self.mask((key,))[0])

    def mask(self, keys: Sequence[Hashable]) -> np.ndarray:
        """One boolean per key: owned by this member now."""
        ring = self._ring
        if ring.me < 0 or not self.valid:
            return np.zeros(len(keys), dtype=bool)
        if len(ring.names) == 1:
            return np.ones(len(keys), dtype=bool)
        hashes = np.fromiter(map(self._hash, keys), dtype=np.uint64, count=len(keys))
        return ring.owner_indexes(hashes) == ring.me

    def mine(self, keys: Iterable[K]) -> list[K]:
        """The keys this member owns, in their order (one vectorised ring look-up for the batch)."""
        keys = keys if isinstance(keys, Sequence) else list(keys)
        return list(itertools.compress(keys, self.mask(keys).tolist()))

    def _hash(self, key: Hashable) -> int:
        found = self._hashes.get(key)
        if found is None:
            if len(self._hashes) >= MAX_CACHED_HASHES:
                self._hashes.clear()
            found = self._hashes[key] = key_hash(key)
        return found
