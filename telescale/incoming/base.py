"""The incoming buffer: durable raw measures waiting for metricd, sharded into sacks.

A driver stores batches of raw ``(timestamps int64 ns, values float64)`` per metric. Each metric
belongs to one sack (``metric_id.int % sacks``); metricd claims a sack, reads everything pending in it
with :meth:`IncomingDriver.read_sack`, aggregates, makes the result durable, and only then calls
:meth:`IncomingDriver.ack` with the handle it got, which deletes exactly what was read. Anything added
after the read stays for the next round. A crash between read and ack replays the same measures,
which the engine merges idempotently.
"""

from __future__ import annotations

import abc
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np

__all__ = ["IncomingDriver", "SackBatch", "MeasuresArrays"]

MeasuresArrays = tuple[np.ndarray, np.ndarray]


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
    """Interface of an incoming driver (file today; Redis later)."""

    def __init__(self, sacks: int = 16) -> None:
        if sacks < 1:
            raise ValueError("sacks must be >= 1")
        self.sacks = int(sacks)

    def sack_for(self, metric_id: uuid.UUID) -> int:
        return metric_id.int % self.sacks

    @staticmethod
    def _normalise(ts: object, values: object) -> MeasuresArrays:
        t = np.ascontiguousarray(ts, dtype=np.int64).reshape(-1)
        v = np.ascontiguousarray(values, dtype=np.float64).reshape(-1)
        if t.shape != v.shape:
            raise ValueError(f"timestamps and values differ in length ({t.size} != {v.size})")
        return t, v

    def group_by_sack(self, batch: Mapping[uuid.UUID, MeasuresArrays]) -> dict[int, dict[uuid.UUID, MeasuresArrays]]:
        groups: dict[int, dict[uuid.UUID, MeasuresArrays]] = {}
        for mid, (ts, vals) in batch.items():
            t, v = self._normalise(ts, vals)
            if t.size == 0:
                continue
            groups.setdefault(self.sack_for(mid), {})[mid] = (t, v)
        return groups

    @abc.abstractmethod
    def add_measures(self, batch: Mapping[uuid.UUID, MeasuresArrays]) -> None:
        """Durably store new measures; returns only once they survive a crash."""

    @abc.abstractmethod
    def sacks_with_work(self) -> list[int]:
        """Sacks that have pending measures (cheap: no data is read)."""

    def work_times(self) -> dict[int, tuple[int, int] | None]:
        """Sacks with pending measures -> when (ns since the epoch) their oldest and newest pending writes
        arrived, or None when the driver cannot tell (processing then takes the sack at once)."""
        return {sack: None for sack in self.sacks_with_work()}

    @abc.abstractmethod
    def read_sack(self, sack: int) -> SackBatch:
        """Everything pending in ``sack`` now, per metric, plus the handle to ack it."""

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

    def pending_measures(self, sack: int) -> int:
        """Measures waiting in ``sack`` (what a processing pass would read from it)."""
        return sum(n for mid, n in self.backlog_per_metric().items() if self.sack_for(mid) == sack)

    @abc.abstractmethod
    def pending_for_metric(self, metric_id: uuid.UUID) -> bool:
        """Whether any measure of ``metric_id`` waits to be processed."""

    def close(self) -> None:  # noqa: B027 - optional hook
        """Release resources (connections); the file driver holds none."""
