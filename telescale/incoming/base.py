"""The incoming buffer: durable raw measures waiting for metricd, sharded into sacks.

A driver stores batches of raw ``(timestamps int64 ns, values float64)`` per metric. Each metric
belongs to one sack (``metric_id.int % sacks``); metricd claims a sack, reads everything pending in it
with :meth:`IncomingDriver.read_sack`, aggregates, makes the result durable, and only then calls
:meth:`IncomingDriver.ack` with the handle it got, which deletes exactly what was read. Anything added
after the read stays for the next round. A read is bounded (the oldest writes first, up to a driver's limit), so
that a huge backlog is drained in several rounds instead of being loaded into memory at once; the sack then
still has work and is read again. A crash between read and ack replays the same measures,
which the engine merges idempotently.
"""

from __future__ import annotations

import abc
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Self

import numpy as np

if TYPE_CHECKING:
    from telescale.config import Settings

__all__ = ["Columns", "IncomingDriver", "SackBatch", "MeasuresArrays"]

MeasuresArrays = tuple[np.ndarray, np.ndarray]


def _normalise(ts: object, values: object) -> MeasuresArrays:
    t = np.ascontiguousarray(ts, dtype=np.int64).reshape(-1)
    v = np.ascontiguousarray(values, dtype=np.float64).reshape(-1)
    if t.shape != v.shape:
        raise ValueError(f"timestamps and values differ in length ({t.size} != {v.size})")
    return t, v


@dataclass(frozen=True)
class Columns:
    """A batch of measures column-wise: metric ``ids[k]`` has ``counts[k]`` (> 0) points, stored metric after
    metric in ``timestamps`` and ``values``. A metric may have several runs (batches merged by a group commit);
    they are read back in order. Writes of many series (remote_write, OTLP) build this directly: no array per
    metric on the way to disk."""

    ids: list[uuid.UUID]
    counts: np.ndarray  # int64, one per id
    timestamps: np.ndarray  # int64 ns
    values: np.ndarray  # float64

    @classmethod
    def from_mapping(cls, batch: Mapping[uuid.UUID, MeasuresArrays]) -> Columns:
        """Columns of ``{metric: (timestamps, values)}``, metrics without points left out; ValueError when a
        metric's timestamps and values differ in length."""
        arrays = [(mid, *_normalise(ts, vals)) for mid, (ts, vals) in batch.items()]
        arrays = [a for a in arrays if a[1].size]
        if not arrays:
            return cls.empty()
        counts = np.fromiter((a[1].size for a in arrays), dtype=np.int64, count=len(arrays))
        if len(arrays) == 1:
            return cls([arrays[0][0]], counts, arrays[0][1], arrays[0][2])
        return cls([a[0] for a in arrays], counts, np.concatenate([a[1] for a in arrays]),
                   np.concatenate([a[2] for a in arrays]))

    @classmethod
    def empty(cls) -> Columns:
        return cls([], np.empty(0, np.int64), np.empty(0, np.int64), np.empty(0, np.float64))

    @classmethod
    def concat(cls, parts: list[Columns]) -> Columns:
        """One batch holding all of ``parts``, in order."""
        parts = [p for p in parts if p.ids]
        if len(parts) <= 1:
            return parts[0] if parts else cls.empty()
        return cls([mid for p in parts for mid in p.ids], np.concatenate([p.counts for p in parts]),
                   np.concatenate([p.timestamps for p in parts]), np.concatenate([p.values for p in parts]))

    def __len__(self) -> int:
        return int(self.timestamps.size)

    def by_sack(self, sacks: int) -> dict[int, Columns]:
        """The batch cut per sack (``metric.int % sacks``); one stable sort, no loop over points."""
        of_metric = np.fromiter((mid.int % sacks for mid in self.ids), dtype=np.int64, count=len(self.ids))
        if of_metric.size and (of_metric == of_metric[0]).all():
            return {int(of_metric[0]): self}
        metric_order = np.argsort(of_metric, kind="stable")
        point_order = np.argsort(np.repeat(of_metric, self.counts), kind="stable")
        ts, vals, counts = self.timestamps[point_order], self.values[point_order], self.counts[metric_order]
        sorted_sacks = of_metric[metric_order]
        cuts = np.flatnonzero(np.diff(sorted_sacks)) + 1
        bounds = [0, *cuts.tolist(), sorted_sacks.size]
        point_bounds = np.concatenate(([0], np.cumsum(counts)))[bounds].tolist()
        out = {}
        for i in range(len(bounds) - 1):
            a, b = bounds[i], bounds[i + 1]
            pa, pb = point_bounds[i], point_bounds[i + 1]
            out[int(sorted_sacks[a])] = Columns([self.ids[k] for k in metric_order[a:b].tolist()], counts[a:b],
                                                ts[pa:pb], vals[pa:pb])
        return out

    def to_mapping(self) -> dict[uuid.UUID, MeasuresArrays]:
        """``{metric: (timestamps, values)}``, a metric's runs concatenated in order."""
        ends = np.cumsum(self.counts)
        parts: dict[uuid.UUID, list[tuple[int, int]]] = {}
        for mid, a, b in zip(self.ids, (ends - self.counts).tolist(), ends.tolist(), strict=True):
            parts.setdefault(mid, []).append((a, b))
        out = {}
        for mid, runs in parts.items():
            if len(runs) == 1:
                a, b = runs[0]
                out[mid] = (self.timestamps[a:b], self.values[a:b])
            else:
                out[mid] = (np.concatenate([self.timestamps[a:b] for a, b in runs]),
                            np.concatenate([self.values[a:b] for a, b in runs]))
        return out


@dataclass
class SackBatch:
    """Everything pending in one sack at read time.

    ``measures`` maps each metric to its concatenated ``(timestamps, values)`` in arrival order
    (not sorted, not deduplicated). ``handle`` is opaque; pass it to :meth:`IncomingDriver.ack`.
    """

    sack: int
    measures: dict[uuid.UUID, MeasuresArrays] = field(default_factory=dict)
    handle: object = None

    @property
    def measure_count(self) -> int:
        return sum(len(ts) for ts, _ in self.measures.values())

    def __bool__(self) -> bool:
        return bool(self.measures)


class IncomingDriver(abc.ABC):
    """Interface of an incoming driver (``file``, ``redis``: :mod:`telescale.drivers` builds them by name)."""

    def __init__(self, sacks: int = 16) -> None:
        if sacks < 1:
            raise ValueError("sacks must be >= 1")
        self.sacks = int(sacks)

    @classmethod
    @abc.abstractmethod
    def from_settings(cls, settings: Settings) -> Self:
        """The driver as ``incoming.*`` settings describe it."""

    def sack_for(self, metric_id: uuid.UUID) -> int:
        return metric_id.int % self.sacks

    def add_measures(self, batch: Mapping[uuid.UUID, MeasuresArrays]) -> None:
        """Durably store new measures ``{metric: (timestamps, values)}``; returns only once they survive a crash."""
        self.add_columns(Columns.from_mapping(batch))

    @abc.abstractmethod
    def add_columns(self, columns: Columns) -> None:
        """Durably store a batch given column-wise; returns only once it survives a crash."""

    @abc.abstractmethod
    def sacks_with_work(self) -> list[int]:
        """Sacks that have pending measures (cheap: no data is read)."""

    def work_times(self) -> dict[int, tuple[int, int] | None]:
        """Sacks with pending measures -> when (ns since the epoch) their oldest and newest pending writes
        arrived, or None when the driver cannot tell (processing then takes the sack at once)."""
        return {sack: None for sack in self.sacks_with_work()}

    @abc.abstractmethod
    def read_sack(self, sack: int) -> SackBatch:
        """What is pending in ``sack`` now, oldest writes first, at most the driver's read limit (at least one
        write), per metric, plus the handle to ack it."""

    @abc.abstractmethod
    def ack(self, handle: object) -> None:
        """Forget exactly what the read that produced ``handle`` returned."""

    @abc.abstractmethod
    def backlog_per_metric(self) -> dict[uuid.UUID, int]:
        """Pending measure count per metric (for /v1/status?details=true)."""

    def backlog(self) -> tuple[int, int]:
        """``(metrics with pending measures, pending measures)`` for /v1/status."""
        per = self.backlog_per_metric()
        return len(per), int(sum(per.values()))

    @abc.abstractmethod
    def pending_for_metric(self, metric_id: uuid.UUID) -> bool:
        """Whether any measure of ``metric_id`` waits to be processed."""

    def housekeeping(self, max_age: float = 3600.0) -> int:
        """Remove what writers that died mid-write left behind, older than ``max_age`` seconds (the janitor calls
        it); returns how many. Drivers whose writes are atomic leave nothing: 0."""
        return 0

    def close(self) -> None:  # noqa: B027 - optional hook
        """Release resources (connections); the file driver holds none."""
