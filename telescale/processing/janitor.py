"""The janitor: what deleting a metric or a resource leaves to do, plus two optional clean-ups.

A pass (:meth:`Janitor.run`, every ``processing.janitor_interval`` seconds in one worker at a time,
under the :data:`JANITOR_LOCK`) does, each with bounded work (``janitor.batch_size``):

1. **Deleted metrics** (``DELETE /v1/metric/{id}``, or their resource deleted alone or by filter with
   ``DELETE /v1/resource/{type}``; the indexer marks them ``status = delete``): the measures still
   waiting in their sack are dropped (the sack is processed, and processing discards the measures of
   metrics that are not active), their raw tail and splits are deleted from storage, and only then
   is their indexer row expunged.
2. **Auto-end** (``janitor.resource_end_after`` > 0): a resource without ``ended_at`` whose metrics'
   newest measure (the last timestamp of each metric's raw tail in storage, so nothing extra is
   recorded) is older than that gets ``ended_at`` = that newest measure, with a history revision as
   a PATCH makes. Metrics that never received a measure do not keep a resource open; a metric with
   measures still waiting to be processed does. A measure arriving later does not reopen it.
   Resources are visited by id, a batch per pass, resuming where the previous pass stopped.
3. **History expiry** (``janitor.history_retention`` > 0): past revisions whose ``revision_end`` is
   older than that are deleted, oldest first.

Why it is safe to run concurrently and to crash at any point: every step is idempotent and ordered so
that what is left after a crash is exactly what the next pass redoes. A metric's data is deleted
(under its sack lock, so no worker writes it meanwhile; a busy sack is left for the next pass) before
its indexer row, so the row — the janitor's to-do list — outlives the data: a crash before the row
is expunged leaves the metric listed and the next pass deletes again what is already gone. The file
storage renames a metric's directory away before removing it, so a crash never leaves half a metric
under its name (the storage housekeeping removes the renamed leftovers). Ending a resource is one
conditional transaction (still open, same metrics) that writes the revision and ``ended_at`` together;
history expiry deletes rows in one statement. Two janitors running at once (the lock lost with a
worker) just find less to do.
"""

from __future__ import annotations

import datetime
import logging
import time
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

from telescale.config import JanitorSettings
from telescale.coordination import SackLocks
from telescale.incoming.base import IncomingDriver
from telescale.processing.processor import DECODED, MetricSource, process_sack
from telescale.storage.base import StorageDriver
from telescale.timeseries import CodecError, RawSeries

if TYPE_CHECKING:
    from telescale.processing.worker import Drivers

LOG = logging.getLogger(__name__)

JANITOR_LOCK = -1  # lock id that serialises janitor runs across workers


class JanitorIndexer(MetricSource, Protocol):
    """What the janitor needs of the indexer (the resource methods only when their setting is on)."""

    def list_deleted_metric_ids(self, limit: int | None = None) -> Iterable[uuid.UUID]: ...

    def expunge_metric(self, metric_id: uuid.UUID) -> Any: ...


@dataclass
class JanitorStats:
    """What one pass did."""

    metrics_expunged: int = 0
    measures_discarded: int = 0  # pending measures of deleted metrics dropped from incoming
    metrics_failed: int = 0  # left for the next pass after an error
    metrics_busy: int = 0  # left for the next pass: their sack was locked
    resources_ended: int = 0
    history_expired: int = 0

    @property
    def did_something(self) -> bool:
        return bool(self.metrics_expunged or self.measures_discarded or self.resources_ended or self.history_expired)


def expunge_deleted_metrics(
    incoming: IncomingDriver,
    storage: StorageDriver,
    indexer: JanitorIndexer,
    locks: SackLocks,
    limit: int | None = None,
    stats: JanitorStats | None = None,
) -> int:
    """Drop the pending measures and stored data of metrics marked deleted, then expunge their rows.

    Works sack by sack: the sack is processed first if it has pending measures (which discards the
    deleted metrics' ones), then, under its lock, the metrics' data is deleted and made durable, and
    finally the indexer rows go. Returns how many metrics were expunged.
    """
    from telescale.indexer.errors import NoSuchMetric  # not at import: workers load the indexer lazily

    stats = stats if stats is not None else JanitorStats()
    by_sack: dict[int, list[uuid.UUID]] = {}
    for mid in indexer.list_deleted_metric_ids(limit=limit):
        by_sack.setdefault(incoming.sack_for(mid), []).append(mid)
    if not by_sack:
        return 0
    with_work = set(incoming.sacks_with_work())
    done = 0
    for sack, mids in sorted(by_sack.items()):
        try:
            if sack in with_work:
                processed = process_sack(sack, incoming, storage, indexer, locks, timeout=0)
                if not processed.locked:
                    stats.metrics_busy += len(mids)
                    continue
                stats.measures_discarded += processed.discarded
            if not locks.try_lock(sack):
                stats.metrics_busy += len(mids)
                continue
            try:
                for mid in mids:
                    storage.delete_metric(mid)
                storage.sync()
            finally:
                locks.unlock(sack)
        except Exception:
            LOG.exception(
                "Janitor: deleting the data of %d metrics of sack %d failed; retried next pass", len(mids), sack
            )
            stats.metrics_failed += len(mids)
            continue
        for mid in mids:
            DECODED.discard_metric(mid)
            try:
                indexer.expunge_metric(mid)
            except NoSuchMetric:
                pass  # another janitor was faster
            except Exception:
                LOG.exception("Janitor: expunging metric %s failed; retried next pass", mid)
                stats.metrics_failed += 1
                continue
            done += 1
    stats.metrics_expunged += done
    return done


def last_measure(storage: StorageDriver, metric_id: uuid.UUID) -> int | None:
    """Timestamp (ns) of the newest processed measure of a metric: the end of its raw tail, which
    processing always keeps (None: no measure yet, or unreadable)."""
    data = storage.get_raw(metric_id)
    if not data:
        return None
    try:
        return RawSeries.unserialize(data).last
    except CodecError:
        LOG.warning("Janitor: raw tail of metric %s is unreadable; ignored for auto-end", metric_id)
        return None


class Janitor:
    """Runs janitor passes; keeps where the auto-end scan of resources is to resume."""

    def __init__(self, settings: JanitorSettings | None = None) -> None:
        self.settings = settings if settings is not None else JanitorSettings()
        self.resume_after: uuid.UUID | None = None

    @property
    def batch_size(self) -> int:
        return max(1, int(self.settings.batch_size))

    def run(self, drivers: Drivers, now_ns: int | None = None) -> JanitorStats | None:
        """One pass; None when another worker's janitor holds the lock."""
        if not drivers.locks.try_lock(JANITOR_LOCK):
            return None
        try:
            return self.run_locked(drivers, time.time_ns() if now_ns is None else now_ns)
        finally:
            drivers.locks.unlock(JANITOR_LOCK)

    def run_locked(self, drivers: Drivers, now_ns: int) -> JanitorStats:
        stats = JanitorStats()
        steps = (
            (
                "deleted metrics",
                lambda: expunge_deleted_metrics(
                    drivers.incoming, drivers.storage, drivers.indexer, drivers.locks, self.batch_size, stats
                ),
            ),
            ("auto-end", lambda: self.end_idle_resources(drivers, now_ns, stats)),
            ("history expiry", lambda: self.expire_history(drivers.indexer, now_ns, stats)),
            ("housekeeping", lambda: self.housekeeping(drivers)),
        )
        for name, step in steps:
            try:
                step()
            except Exception:  # one failing job must not stop the others; all are retried next pass
                LOG.exception("Janitor: %s failed; retried next pass", name)
        if stats.did_something:
            LOG.info(
                "Janitor: %d deleted metrics expunged (%d pending measures dropped, %d busy, %d failed), "
                "%d resources ended, %d history revisions expired",
                stats.metrics_expunged,
                stats.measures_discarded,
                stats.metrics_busy,
                stats.metrics_failed,
                stats.resources_ended,
                stats.history_expired,
            )
        return stats

    def end_idle_resources(self, drivers: Drivers, now_ns: int, stats: JanitorStats) -> int:
        """Set ``ended_at`` on the next batch of open resources whose metrics stopped receiving measures."""
        after = self.settings.resource_end_after
        if after <= 0:
            return 0
        cutoff = now_ns - int(after * 1e9)
        budget = self.batch_size  # metrics whose raw tail is read this pass
        resources = drivers.indexer.list_open_resources(after=self.resume_after, limit=budget)
        candidates: list[tuple[Any, int]] = []
        checked = examined = 0
        for res in resources:
            if checked >= budget:
                break
            examined += 1
            checked += len(res.metric_ids)
            newest = _newest([last_measure(drivers.storage, mid) for mid in res.metric_ids])
            if newest is not None and newest < cutoff:
                candidates.append((res, newest))
        # Resume after the last resource examined; start over once the end was reached.
        done = examined == len(resources) and len(resources) < budget
        self.resume_after = None if done or not examined else resources[examined - 1].id
        if not candidates:
            return 0
        pending = set(drivers.incoming.backlog_per_metric())
        ended = 0
        for res, newest in candidates:
            if pending.intersection(res.metric_ids):
                continue
            if drivers.indexer.end_resource(res.id, _datetime(newest), metric_ids=res.metric_ids) is not None:
                ended += 1
        stats.resources_ended += ended
        return ended

    def expire_history(self, indexer: Any, now_ns: int, stats: JanitorStats) -> int:
        """Delete a batch of history revisions older than ``janitor.history_retention``."""
        retention = self.settings.history_retention
        if retention <= 0:
            return 0
        expired = indexer.expire_history(_datetime(now_ns - int(retention * 1e9)), limit=self.batch_size)
        stats.history_expired += expired
        return expired

    @staticmethod
    def housekeeping(drivers: Drivers) -> None:
        """Leftovers of processes that died mid-write or mid-delete (temp files, renamed metric dirs)."""
        drivers.incoming.housekeeping()
        drivers.storage.housekeeping()


_EPOCH = datetime.datetime(1970, 1, 1, tzinfo=datetime.UTC)


def _datetime(ns: int) -> datetime.datetime:
    """Exact UTC datetime of an int64 ns timestamp, rounded up to the microsecond (never before it)."""
    return _EPOCH + datetime.timedelta(microseconds=-(-ns // 1000))


def _newest(lasts: Sequence[int | None]) -> int | None:
    known = [t for t in lasts if t is not None]
    return max(known) if known else None


def run_janitor(drivers: Drivers, settings: JanitorSettings | None = None, now_ns: int | None = None) -> int:
    """One janitor pass with these settings (a fresh :class:`Janitor`); returns how many deleted metrics
    were expunged (0 when another worker's janitor is running)."""
    stats = Janitor(settings).run(drivers, now_ns)
    return stats.metrics_expunged if stats is not None else 0
