"""metricd worker loop (the janitor it runs every ``janitor_interval`` is in :mod:`telescale.processing.janitor`).

Each worker process builds its own drivers (``make_drivers()`` runs in the worker, so it must be
picklable for the spawn start method: a module-level function or a :class:`FileDrivers`). Workers
prefer the sacks they own (their share of the metricd hash ring on ``coordination.url``, else
``sack % workers == worker_index``) and then take any other sack with work that nobody holds, so a dead
worker's sacks keep draining. The sack lock, not the ownership
rule, is what guarantees that a sack is processed by one worker at a time.
"""

from __future__ import annotations

import dataclasses
import logging
import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from telescale.config import JanitorSettings
from telescale.coordination import FileSackLocks
from telescale.drivers import Drivers
from telescale.incoming.file import FileIncoming
from telescale.processing.janitor import (  # noqa: F401 - re-exported: the janitor used to live here
    JANITOR_LOCK,
    Janitor,
    JanitorIndexer,
    expunge_deleted_metrics,
    run_janitor,
)
from telescale.processing.processor import ProcessStats, process_sacks
from telescale.storage.file import FileStorage

LOG = logging.getLogger(__name__)

DEFAULT_DELAY = 0.05  # idle pause between scans (seconds)
DEFAULT_QUIET = 0.05  # a sack is processed once no write has reached it for this long (seconds); 0: at once
DEFAULT_MAX_WAIT = 1.0  # ... or once its oldest pending write has waited this long (seconds)
DEFAULT_JANITOR_INTERVAL = 30.0


def file_drivers(data_dir: str | os.PathLike, sacks: int = 16) -> tuple[FileIncoming, FileStorage, FileSackLocks]:
    """The embedded layout: ``<data_dir>/incoming``, ``<data_dir>/storage``, ``<data_dir>/locks``."""
    d = os.fspath(data_dir)
    return (
        FileIncoming(os.path.join(d, "incoming"), sacks=sacks),
        FileStorage(os.path.join(d, "storage")),
        FileSackLocks(os.path.join(d, "locks")),
    )


class FileDrivers:
    """Picklable ``make_drivers`` for the embedded deployment: file drivers + SQL indexer."""

    def __init__(self, data_dir: str | os.PathLike, indexer_url: str, sacks: int = 16) -> None:
        self.data_dir = os.fspath(data_dir)
        self.indexer_url = indexer_url
        self.sacks = sacks

    def __call__(self) -> Drivers:
        from telescale.indexer import Indexer  # imported in the worker process

        incoming, storage, locks = file_drivers(self.data_dir, self.sacks)
        return Drivers(incoming, storage, Indexer(self.indexer_url), locks)


def _now_iso() -> str:
    return datetime.now(UTC).isoformat()


@dataclass
class WorkerStats:
    """What one worker did since it started; published in its heartbeat for `/v1/status`, so an operator
    sees which workers do the work and whether they fail."""

    pid: int = field(default_factory=os.getpid)
    started_at: str = field(default_factory=_now_iso)
    last_pass_at: str | None = None  # end of the last scan over the sacks
    passes: int = 0
    sacks: int = 0  # sacks drained
    metrics: int = 0  # metrics updated
    measures: int = 0  # measures read from incoming
    dropped: int = 0  # measures refused: older than the archive policy's back window
    discarded: int = 0  # measures of deleted metrics
    errors: int = 0  # failed sack passes, unreadable metrics and janitor failures

    def add(self, sack: ProcessStats) -> None:
        if not sack.locked:
            return
        self.sacks += 1
        self.metrics += sack.metrics
        self.measures += sack.measures
        self.dropped += sack.dropped
        self.discarded += sack.discarded
        self.errors += sack.failed_metrics

    def pass_done(self) -> None:
        self.passes += 1
        self.last_pass_at = _now_iso()

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


class SackPacer:
    """Processes a sack once the writes to it pause, so that a burst is merged in one pass rather than in many.

    A pass over a metric costs much the same whether it merges 2 new points or 2,000 (its touched splits and
    raw tail are rewritten whole), and it competes for the CPU with the API that is taking the burst. So a
    sack is due once no write has reached it for ``quiet`` seconds -- at once for an occasional write (an
    alarm's metric), after the burst for a busy one -- or once its oldest pending write has waited
    ``max_wait`` seconds, which bounds the wait under sustained ingest. ``quiet`` 0: every sack with work is
    due on every scan.
    """

    def __init__(self, quiet: float = DEFAULT_QUIET, max_wait: float = DEFAULT_MAX_WAIT) -> None:
        self.quiet_ns = int(quiet * 1e9)
        self.max_wait_ns = int(max_wait * 1e9)
        self.next_due_ns: int | None = None  # the earliest a sack found not due becomes due (see due())

    def due(self, times: tuple[int, int] | None, now_ns: int) -> bool:
        """Whether a sack whose pending writes arrived between ``times`` (oldest, newest; None: unknown) is due;
        when not, lowers :attr:`next_due_ns` to when it will be (if no write comes meanwhile)."""
        if times is None or self.quiet_ns <= 0:
            return True
        oldest, newest = times
        since_last = now_ns - newest
        if since_last >= self.quiet_ns or since_last < 0 or now_ns - oldest >= self.max_wait_ns:
            return True
        at = min(newest + self.quiet_ns, oldest + self.max_wait_ns)
        self.next_due_ns = at if self.next_due_ns is None else min(self.next_due_ns, at)
        return False

    def pause(self, delay: float, now_ns: int) -> float:
        """How long an idle worker sleeps: ``delay``, or less when a waiting sack becomes due sooner."""
        if self.next_due_ns is None:
            return delay
        return max(0.0, min(delay, (self.next_due_ns - now_ns) / 1e9))


def run_once(drivers: Drivers, worker_index: int = 0, workers: int = 1, stop_event: Any = None,
             stats: WorkerStats | None = None, pacer: SackPacer | None = None,
             owns: Callable[[list[int]], list[int]] | None = None) -> int:
    """One scan: process every sack with work that this worker can lock (and, with a ``pacer``, that is
    due), its own sacks in one pass and then the others in another (see :func:`process_sacks`); returns
    measures read. Its own: ``owns(sacks)`` (its share of the hash ring of every metricd on
    ``coordination.url``), else ``sack % workers == worker_index`` (the workers of one ``serve``)."""
    stats = stats if stats is not None else WorkerStats()
    total = 0
    if pacer is None:
        due = drivers.incoming.sacks_with_work()
    else:
        pacer.next_due_ns = None
        now_ns = time.time_ns()
        due = [s for s, times in drivers.incoming.work_times().items() if pacer.due(times, now_ns)]
    mine = set(owns(due)) if owns is not None else {s for s in due if s % workers == worker_index}
    for group in ([s for s in due if s in mine], [s for s in due if s not in mine]):
        while group and not (stop_event is not None and stop_event.is_set()):
            try:
                results = process_sacks(group, drivers.incoming, drivers.storage, drivers.indexer, drivers.locks)
            except Exception:
                LOG.exception("metricd worker %d: processing sacks %s failed; will retry", worker_index, group)
                stats.errors += 1
                break
            for sack_stats in results:
                stats.add(sack_stats)
                total += sack_stats.measures
            tried = {r.sack for r in results}
            group = [s for s in group if s not in tried]  # left for another pass: the first one was full
    stats.pass_done()
    return total


def run_worker(
    worker_index: int,
    workers: int,
    make_drivers: Callable[[], Drivers],
    stop_event: Any,
    delay: float = DEFAULT_DELAY,
    janitor_interval: float | None = DEFAULT_JANITOR_INTERVAL,
    janitor_settings: JanitorSettings | None = None,
    stats: WorkerStats | None = None,
    quiet: float = DEFAULT_QUIET,
    max_wait: float = DEFAULT_MAX_WAIT,
    owns: Callable[[list[int]], list[int]] | None = None,
) -> None:
    """Process sacks until ``stop_event`` (threading or multiprocessing Event) is set, each once its writes
    pause for ``quiet`` seconds or its oldest waited ``max_wait`` seconds (see :class:`SackPacer`); every
    ``janitor_interval`` seconds (None: never) run a janitor pass unless another worker's is running.
    ``stats`` accumulates what was done (the caller publishes it)."""
    stats = stats if stats is not None else WorkerStats()
    pacer = SackPacer(quiet, max_wait)
    drivers = make_drivers()
    janitor = Janitor(janitor_settings)
    LOG.info("metricd worker %d/%d started (pid %d)", worker_index, workers, os.getpid())
    next_janitor = time.monotonic() + (janitor_interval or 0)
    try:
        while not stop_event.is_set():
            try:
                processed = run_once(drivers, worker_index, workers, stop_event, stats, pacer, owns)
            except Exception:
                LOG.exception("metricd worker %d: processing failed; retrying", worker_index)
                stats.errors += 1
                processed = 0
            if janitor_interval is not None and time.monotonic() >= next_janitor:
                next_janitor = time.monotonic() + janitor_interval
                try:
                    janitor.run(drivers)
                except Exception:
                    LOG.exception("metricd worker %d: janitor failed", worker_index)
                    stats.errors += 1
            if not processed:
                stop_event.wait(pacer.pause(delay, time.time_ns()))
    finally:
        drivers.close()
        LOG.info("metricd worker %d stopped", worker_index)
