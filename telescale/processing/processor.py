"""metricd's unit of work: drain one sack into storage.

Order of operations (what makes a crash lose nothing):

1. take the sack lock;
2. read everything pending in the sack (``incoming.read_sack``);
3. per metric: merge into the raw tail, recompute the touched buckets, rewrite the touched splits,
   delete expired ones, write the new raw tail;
4. ``storage.sync()``: all of the above is durable;
5. ``incoming.ack(handle)``: forget exactly what was read in 2;
6. release the lock.

A crash anywhere before 5 replays the same measures on the next run; ``compute_update`` recomputes
whole buckets from raw points, so the replay writes the same values.
"""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Protocol

import numpy as np

from telescale.coordination import LockTimeout, SackLocks
from telescale.incoming.base import IncomingDriver
from telescale.storage.base import StorageDriver
from telescale.timeseries import (
    ArchivePolicy,
    CodecError,
    RawSeries,
    Split,
    compute_update,
    expired_split_keys,
    partition,
    retention_cutoff,
)
from telescale.timeseries.split import split_span

LOG = logging.getLogger(__name__)

DEFAULT_REFRESH_TIMEOUT = 10.0  # Gnocchi's operation_timeout


class MetricLike(Protocol):
    id: uuid.UUID
    archive_policy: ArchivePolicy


class MetricSource(Protocol):
    """The part of the indexer processing needs."""

    def get_metrics(self, ids: Iterable[uuid.UUID]) -> list[MetricLike]: ...


@dataclass
class ProcessStats:
    sack: int
    locked: bool = True  # False: another worker holds the sack; nothing was done
    metrics: int = 0  # metrics updated
    measures: int = 0  # measures read from incoming (all metrics, including discarded)
    dropped: int = 0  # refused: older than the back window allows
    discarded: int = 0  # measures of metrics that no longer exist
    failed_metrics: int = 0  # metrics skipped because their stored data is unreadable
    seconds: float = 0.0


def process_metric_measures(
    storage: StorageDriver,
    metric_id: uuid.UUID,
    policy: ArchivePolicy,
    timestamps: np.ndarray,
    values: np.ndarray,
) -> int:
    """Merge one metric's new measures into storage (not yet synced); returns the dropped count."""
    raw = RawSeries.unserialize(storage.get_raw(metric_id))
    upd = compute_update(policy, raw, timestamps, values)
    if upd.dropped:
        LOG.info(
            "Metric %s: %d measures dropped, older than the back window of policy %s",
            metric_id,
            upd.dropped,
            policy.name,
        )
    if not upd.blocks:
        return upd.dropped
    last = upd.last_timestamp
    for item in policy.definition:
        g = item.granularity
        block = upd.blocks.get(g)
        if block is None or len(block) == 0:
            continue
        parts = partition(block)
        cutoff = retention_cutoff(item, last) if last is not None else None
        expired: list[int] = []
        existing: set[int] | None = None
        if cutoff is not None:
            stored = storage.list_split_keys(metric_id, g)
            existing = set(stored)
            expired = expired_split_keys(stored, item, last)
            span = split_span(g)
            parts = {k: p for k, p in parts.items() if k + span > cutoff}
        keys = sorted(parts)
        to_read = keys if existing is None else [k for k in keys if k in existing]
        old = dict(zip(to_read, storage.get_splits(metric_id, g, to_read), strict=True))
        out: dict[int, bytes] = {}
        empty: list[int] = []
        for k in keys:
            data = old.get(k)
            part = parts[k]
            split = Split.decode(data, g, k).merge(part) if data else Split.from_block(part, k)
            if cutoff is not None and k < cutoff:
                split = split.truncate(cutoff)
            if len(split):
                out[k] = split.encode()
            else:
                empty.append(k)
        if out:
            storage.put_splits(metric_id, g, out)
        if expired or empty:
            storage.delete_splits(metric_id, g, expired + empty)
    storage.put_raw(metric_id, upd.raw.serialize())
    return upd.dropped


def _process_locked(
    sack: int,
    incoming: IncomingDriver,
    storage: StorageDriver,
    indexer: MetricSource,
    stats: ProcessStats,
) -> None:
    batch = incoming.read_sack(sack)
    if not batch.measures and batch.handle is None:
        return
    if batch.measures:
        found = {m.id: m for m in indexer.get_metrics(list(batch.measures))}
        for mid, (ts, vals) in batch.measures.items():
            stats.measures += len(ts)
            metric = found.get(mid)
            if metric is None or getattr(metric, "status", "active") == "delete":
                LOG.info("Discarding %d measures of metric %s: it no longer exists", len(ts), mid)
                stats.discarded += len(ts)
                continue
            try:
                stats.dropped += process_metric_measures(storage, mid, metric.archive_policy, ts, vals)
            except (CodecError, ValueError):
                # Unreadable stored data: keeping the measures would wedge the whole sack forever.
                LOG.exception("Metric %s: cannot merge %d measures; they are discarded", mid, len(ts))
                stats.failed_metrics += 1
                continue
            stats.metrics += 1
        storage.sync()
    incoming.ack(batch.handle)


def process_sack(
    sack: int,
    incoming: IncomingDriver,
    storage: StorageDriver,
    indexer: MetricSource,
    locks: SackLocks,
    *,
    timeout: float | None = 0,
) -> ProcessStats:
    """Drain ``sack`` under its lock. ``timeout=0`` (the worker's way) skips a locked sack and
    returns ``locked=False``; a positive ``timeout`` waits that long, then raises :class:`LockTimeout`.
    I/O errors propagate without acking: the measures stay for the next run."""
    stats = ProcessStats(sack)
    started = time.perf_counter()
    if timeout is not None and timeout <= 0:
        if not locks.try_lock(sack):
            stats.locked = False
            return stats
    elif not locks.lock(sack, timeout):
        raise LockTimeout(sack, timeout if timeout is not None else float("inf"))
    try:
        _process_locked(sack, incoming, storage, indexer, stats)
    finally:
        locks.unlock(sack)
    stats.seconds = time.perf_counter() - started
    if stats.measures:
        LOG.debug("Sack %d: %d measures of %d metrics in %.3f s", sack, stats.measures, stats.metrics, stats.seconds)
    return stats


def process_metric(
    metric_id: uuid.UUID,
    incoming: IncomingDriver,
    storage: StorageDriver,
    indexer: MetricSource,
    locks: SackLocks,
    *,
    timeout: float = DEFAULT_REFRESH_TIMEOUT,
) -> ProcessStats | None:
    """``?refresh=true``: make every measure already accepted for the metric visible.

    Processes the metric's whole sack (an incoming file holds several metrics). Returns ``None``
    when nothing was pending. Raises :class:`LockTimeout` after ``timeout`` seconds (answer 503).
    """
    if not incoming.pending_for_metric(metric_id):
        return None
    return process_sack(incoming.sack_for(metric_id), incoming, storage, indexer, locks, timeout=timeout)
