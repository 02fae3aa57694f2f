"""metricd's unit of work: drain sacks into storage, several in one pass (:func:`process_sacks`).

Order of operations (what makes a crash lose nothing):

1. take the lock of each sack of the pass;
2. read everything pending in them (``incoming.read_sack``);
3. per metric: merge into the raw tail, recompute the touched buckets, rewrite the touched splits,
   delete expired ones, write the new raw tail;
4. ``storage.sync()``: all of the above is durable;
5. ``incoming.ack(handle)`` for each sack: forget exactly what was read in 2;
6. release the locks.

A crash anywhere before 5 replays the same measures on the next run; ``compute_update`` recomputes
whole buckets from raw points, so the replay writes the same values.
"""

from __future__ import annotations

import logging
import math
import threading
import time
import uuid
from collections import OrderedDict
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Protocol

import numpy as np

from telescale.coordination import LockTimeout, SackLocks
from telescale.incoming.base import IncomingDriver, SackBatch
from telescale.indexer.counters import MEASURES_DROPPED_BACK_WINDOW, MEASURES_PROCESSED
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

    def add_to_counters(self, increments: Mapping[str, int]) -> None: ...

    def trigger_alarms_reading(self, metric_ids: Iterable[uuid.UUID]) -> int: ...


@dataclass
class ProcessStats:
    sack: int
    locked: bool = True  # False: another worker holds the sack; nothing was done
    metrics: int = 0  # metrics updated
    measures: int = 0  # measures read from incoming (all metrics, including discarded)
    processed: int = 0  # merged into storage
    dropped: int = 0  # refused: older than the back window allows
    discarded: int = 0  # measures of metrics that no longer exist
    failed_metrics: int = 0  # metrics skipped because their stored data is unreadable
    seconds: float = 0.0


class DecodedCache:
    """What this process last wrote or read for an object, decoded, keyed by its exact bytes.

    A metric's raw tail and splits are rewritten by the worker that holds its sack, and usually read
    back by the same worker on its next pass; decoding them again costs as much as the merge. An
    entry is used only when the stored bytes are identical to the bytes it was built from, so a
    write by another process (or a failed sync) just means a miss. Bounded by ``max_bytes`` (LRU).
    """

    def __init__(self, max_bytes: int = 32 * 1024 * 1024) -> None:
        self.max_bytes = max_bytes
        self._items: OrderedDict[tuple, tuple[bytes, object, int]] = OrderedDict()
        self._size = 0
        self._lock = threading.Lock()
        self.hits = 0
        self.misses = 0

    def get(self, key: tuple, data: bytes, decode: Callable[[bytes], object]) -> object:
        with self._lock:
            entry = self._items.get(key)
            if entry is not None and entry[0] == data:
                self._items.move_to_end(key)
                self.hits += 1
                return entry[1]
        self.misses += 1
        value = decode(data)
        self.put(key, data, value)
        return value

    def put(self, key: tuple, data: bytes, value: object) -> None:
        size = len(data) + _nbytes(value)
        with self._lock:
            old = self._items.pop(key, None)
            if old is not None:
                self._size -= old[2]
            if size > self.max_bytes:
                return
            self._items[key] = (data, value, size)
            self._size += size
            while self._size > self.max_bytes:
                _, (_, _, dropped) = self._items.popitem(last=False)
                self._size -= dropped

    def discard_metric(self, metric_id: uuid.UUID) -> None:
        with self._lock:
            for key in [k for k in self._items if k[0] == metric_id]:
                self._size -= self._items.pop(key)[2]

    def clear(self) -> None:
        with self._lock:
            self._items.clear()
            self._size = 0


def _nbytes(value: object) -> int:
    if isinstance(value, RawSeries):
        return int(value.timestamps.nbytes + value.values.nbytes)
    if isinstance(value, Split):
        return int(value.timestamps.nbytes + sum(c.nbytes for c in value.columns.values()))
    return 0


DECODED = DecodedCache()  # per process: each worker process has its own


def process_metric_measures(
    storage: StorageDriver,
    metric_id: uuid.UUID,
    policy: ArchivePolicy,
    timestamps: np.ndarray,
    values: np.ndarray,
) -> int:
    """Merge one metric's new measures into storage (not yet synced); returns the dropped count."""
    raw_data = storage.get_raw(metric_id)
    raw = DECODED.get((metric_id, "raw"), raw_data, RawSeries.unserialize) if raw_data else RawSeries.empty()
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
            if data:
                stored = DECODED.get((metric_id, g, k), data, lambda b, g=g, k=k: Split.decode(b, g, k))
                split = stored.merge(part)
            else:
                split = Split.from_block(part, k)
            if cutoff is not None and k < cutoff:
                split = split.truncate(cutoff)
            if len(split):
                out[k] = encoded = split.encode()
                DECODED.put((metric_id, g, k), encoded, split)
            else:
                empty.append(k)
        if out:
            storage.put_splits(metric_id, g, out)
        if expired or empty:
            storage.delete_splits(metric_id, g, expired + empty)
    raw_data = upd.raw.serialize()
    storage.put_raw(metric_id, raw_data)
    DECODED.put((metric_id, "raw"), raw_data, upd.raw)
    return upd.dropped


#: a pass stops taking more sacks once it has read this many measures (it still takes at least one sack)
PASS_MAX_MEASURES = 4_000_000


def _process_locked(
    batches: list[SackBatch],
    incoming: IncomingDriver,
    storage: StorageDriver,
    indexer: MetricSource,
    stats: dict[int, ProcessStats],
) -> None:
    """Drain what was read from sacks the caller holds as one pass: one metric lookup, one ``storage.sync()``,
    one counters update and one alarm trigger for all of them, whatever their number."""
    batches = [b for b in batches if b.measures or b.handle is not None]
    if not batches:
        return
    ids = [mid for batch in batches for mid in batch.measures]
    found = {m.id: m for m in indexer.get_metrics(ids)} if ids else {}
    merged: list[uuid.UUID] = []
    for batch in batches:
        st = stats[batch.sack]
        for mid, (ts, vals) in batch.measures.items():
            st.measures += len(ts)
            metric = found.get(mid)
            if metric is None or getattr(metric, "status", "active") == "delete":
                LOG.info("Discarding %d measures of metric %s: it no longer exists", len(ts), mid)
                st.discarded += len(ts)
                continue
            try:
                dropped = process_metric_measures(storage, mid, metric.archive_policy, ts, vals)
            except (CodecError, ValueError):
                # Unreadable stored data: keeping the measures would wedge the whole sack forever.
                LOG.exception("Metric %s: cannot merge %d measures; they are discarded", mid, len(ts))
                st.failed_metrics += 1
                continue
            st.dropped += dropped
            st.processed += len(ts) - dropped
            st.metrics += 1
            merged.append(mid)
    if ids:
        storage.sync()
    for batch in batches:
        incoming.ack(batch.handle)
    # After the acks, once per pass: a crash before them replays the measures, which must not count twice.
    processed = sum(st.processed for st in stats.values())
    dropped = sum(st.dropped for st in stats.values())
    indexer.add_to_counters({MEASURES_PROCESSED: processed, MEASURES_DROPPED_BACK_WINDOW: dropped})
    # The alarms that read these metrics are due now: a breach is evaluated when it is aggregated.
    if merged:
        indexer.trigger_alarms_reading(merged)


def process_sacks(
    sacks: Iterable[int],
    incoming: IncomingDriver,
    storage: StorageDriver,
    indexer: MetricSource,
    locks: SackLocks,
) -> list[ProcessStats]:
    """Drain, in one pass, every sack of ``sacks`` that no other worker holds (a locked one is skipped:
    ``locked=False`` in its stats), taking sacks in the order given until ``PASS_MAX_MEASURES`` have been read.

    A pass costs a few fixed steps whatever it holds (a metric lookup, a sync of storage, counters, alarm
    triggers), so one pass over every sack with work costs much less than one pass per sack. I/O errors
    propagate without acking: the measures stay for the next run."""
    started = time.perf_counter()
    stats: dict[int, ProcessStats] = {}
    held: list[int] = []
    batches: list[SackBatch] = []
    pending = 0
    try:
        for sack in sacks:
            if held and pending >= PASS_MAX_MEASURES:
                break
            if not locks.try_lock(sack):
                stats[sack] = ProcessStats(sack, locked=False)
                continue
            held.append(sack)
            stats[sack] = ProcessStats(sack)
            batches.append(incoming.read_sack(sack))
            pending += batches[-1].measure_count
        if held:
            _process_locked(batches, incoming, storage, indexer, stats)
    finally:
        for sack in held:
            locks.unlock(sack)
    seconds = time.perf_counter() - started
    for sack in held:
        stats[sack].seconds = seconds
    total = sum(st.measures for st in stats.values())
    if total:
        LOG.debug("Sacks %s: %d measures of %d metrics in %.3f s", held, total,
                  sum(st.metrics for st in stats.values()), seconds)
    return list(stats.values())


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
    if timeout is not None and timeout <= 0:
        return process_sacks([sack], incoming, storage, indexer, locks)[0]
    stats = ProcessStats(sack)
    started = time.perf_counter()
    if not locks.lock(sack, timeout):
        raise LockTimeout(sack, timeout if timeout is not None else float("inf"))
    try:
        _process_locked([incoming.read_sack(sack)], incoming, storage, indexer, {sack: stats})
    finally:
        locks.unlock(sack)
    stats.seconds = time.perf_counter() - started
    return stats


def _oldest_write(incoming: IncomingDriver, sack: int) -> float:
    """When the oldest write still pending in ``sack`` arrived (ns); +inf when none is, or the driver cannot tell."""
    times = incoming.work_times().get(sack)
    return math.inf if times is None else times[0]


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
    asked_at = time.time_ns()
    sack = incoming.sack_for(metric_id)
    deadline = time.monotonic() + timeout
    stats = process_sack(sack, incoming, storage, indexer, locks, timeout=timeout)
    # A read is bounded (oldest writes first): behind a large backlog, the metric's newer measures are still
    # pending after one round; go on while writes older than the request are left (not after the writes that
    # came since: a metric written to without pause would hold the request until the timeout) or the time is up.
    while (incoming.pending_for_metric(metric_id) and _oldest_write(incoming, sack) < asked_at
           and (remaining := deadline - time.monotonic()) > 0):
        more = process_sack(sack, incoming, storage, indexer, locks, timeout=remaining)
        for name in ("metrics", "measures", "processed", "dropped", "discarded", "failed_metrics", "seconds"):
            setattr(stats, name, getattr(stats, name) + getattr(more, name))
    return stats
