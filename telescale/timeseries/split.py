"""Columnar aggregated blocks, their partition into splits, and retention.

One split holds every method of one granularity for ``POINTS_PER_SPLIT`` consecutive buckets, so a
write touches one object per (granularity, split key) rather than one per method as in Gnocchi.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass, field

import numpy as np

from telescale.timeseries import codec
from telescale.timeseries.policy import PolicyItem
from telescale.timeseries.sortedops import isin_sorted, union_sorted

POINTS_PER_SPLIT: int = 3600


@dataclass
class AggregatedBlock:
    """Every method of one granularity over a set of buckets; NaN means no value."""

    granularity: int
    timestamps: np.ndarray
    columns: dict[str, np.ndarray] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.timestamps = np.asarray(self.timestamps, dtype=np.int64)
        self.columns = {k: np.asarray(v, dtype=np.float64) for k, v in self.columns.items()}

    def __len__(self) -> int:
        return int(self.timestamps.size)

    def take(self, sel: np.ndarray | slice) -> AggregatedBlock:
        """Rows selected by a slice, mask or index array."""
        return AggregatedBlock(
            self.granularity, self.timestamps[sel], {k: v[sel] for k, v in self.columns.items()}
        )

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, AggregatedBlock) or other.granularity != self.granularity:
            return False
        if not np.array_equal(self.timestamps, other.timestamps) or set(self.columns) != set(other.columns):
            return False
        return all(
            np.array_equal(v, other.columns[k], equal_nan=True) for k, v in self.columns.items()
        )


def split_key(timestamp: int | np.ndarray, granularity: int) -> int | np.ndarray:
    """Start of the split that holds the bucket of ``timestamp``."""
    span = granularity * POINTS_PER_SPLIT
    if isinstance(timestamp, np.ndarray):
        return (timestamp.astype(np.int64) // span) * span
    return (int(timestamp) // span) * span


def split_span(granularity: int) -> int:
    """Time covered by one split of this granularity."""
    return granularity * POINTS_PER_SPLIT


def partition(block: AggregatedBlock) -> dict[int, AggregatedBlock]:
    """Cut a block (sorted timestamps) along split boundaries: split key -> rows in it."""
    if len(block) == 0:
        return {}
    keys = split_key(block.timestamps, block.granularity)
    if keys[0] == keys[-1]:  # the usual case: one split
        return {int(keys[0]): block}
    starts = np.flatnonzero(np.concatenate(([True], keys[1:] != keys[:-1])))  # keys are sorted
    uniq = keys[starts]
    ends = np.append(starts[1:], keys.size)
    return {int(k): block.take(slice(int(s), int(e))) for k, s, e in zip(uniq, starts, ends, strict=True)}


@dataclass(eq=False)
class Split(AggregatedBlock):
    """The stored unit: one granularity, one split key, all method columns."""

    key: int = 0
    #: the encoding choices of this split's last encoding (see :class:`codec.Choice`), shared by the splits
    #: merged or truncated from it, so that rewriting a split does not search every column's encoding again
    hints: codec.Hints | None = field(default=None, compare=False, repr=False)

    @classmethod
    def from_block(cls, block: AggregatedBlock, key: int) -> Split:
        return cls(block.granularity, block.timestamps, dict(block.columns), key=int(key))

    @classmethod
    def empty(cls, granularity: int, key: int, methods: tuple[str, ...] | list[str] = ()) -> Split:
        return cls(granularity, np.empty(0, dtype=np.int64), {m: np.empty(0) for m in methods}, key=key)

    def merge(self, update: AggregatedBlock) -> Split:
        """Overlay ``update``: its buckets replace ours whole (all columns); columns are unioned."""
        if update.granularity != self.granularity:
            raise ValueError("cannot merge blocks of different granularities")
        ts = union_sorted(self.timestamps, update.timestamps)
        mine = np.searchsorted(ts, self.timestamps)
        theirs = np.searchsorted(ts, update.timestamps)
        replaced = isin_sorted(self.timestamps, update.timestamps)
        columns: dict[str, np.ndarray] = {}
        for name in sorted(set(self.columns) | set(update.columns)):
            col = np.full(ts.size, np.nan)
            if name in self.columns:
                keep = ~replaced
                col[mine[keep]] = self.columns[name][keep]
            if name in update.columns:
                col[theirs] = update.columns[name]
            columns[name] = col
        return Split(self.granularity, ts, columns, key=self.key, hints=self.hints)

    def truncate(self, oldest: int) -> Split:
        """Drop buckets older than ``oldest``."""
        start = int(np.searchsorted(self.timestamps, oldest, side="left"))
        return Split(
            self.granularity, self.timestamps[start:],
            {k: v[start:] for k, v in self.columns.items()}, key=self.key, hints=self.hints,
        )

    def encode(self) -> bytes:
        if self.hints is None:
            self.hints = {}
        return codec.encode_block(self.granularity, self.key, self.timestamps, self.columns, self.hints)

    @classmethod
    def decode(cls, data: bytes, granularity: int, key: int, methods: Collection[str] | None = None) -> Split:
        """``methods``: decode only these columns (reads that want one method skip the others' work)."""
        ts, columns = codec.decode_block(data, granularity, key, methods)
        return cls(granularity, ts, columns, key=key)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Split) and other.key == self.key and AggregatedBlock.__eq__(self, other)


def retention_cutoff(item: PolicyItem, last_timestamp: int) -> int | None:
    """First bucket start to keep: ``points`` buckets ending with the newest one (Gnocchi's truncate)."""
    if item.points is None:
        return None
    newest = (int(last_timestamp) // item.granularity) * item.granularity
    return newest - (item.points - 1) * item.granularity


def expired_split_keys(keys: list[int], item: PolicyItem, last_timestamp: int) -> list[int]:
    """Split keys whose every bucket is older than the retention cutoff (delete them)."""
    cutoff = retention_cutoff(item, last_timestamp)
    if cutoff is None:
        return []
    span = split_span(item.granularity)
    return [k for k in keys if k + span <= cutoff]
