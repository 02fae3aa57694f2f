"""Measures older than their metric's back window, refused when they are written rather than silently later.

Processing drops a measure older than ``accept_from(policy, last stored timestamp)`` (see
:mod:`telescale.timeseries.update`).  The API applies the same bound when a batch arrives, from the one
small object that holds it (the metric's raw tail, whose timestamps alone are decoded), so that it can
tell the client how many it refused.  Processing may still drop a few more: measures accepted here, for
which newer points of the same metric were processed first.
"""

from __future__ import annotations

import threading
import uuid
from collections import OrderedDict
from collections.abc import Mapping

import numpy as np

from telescale.incoming.base import Columns
from telescale.storage.base import StorageDriver
from telescale.timeseries import ArchivePolicy
from telescale.timeseries.codec import raw_last_timestamp
from telescale.timeseries.update import accept_from

Batch = dict[uuid.UUID, tuple[np.ndarray, np.ndarray]]
_NONE = np.iinfo(np.int64).min  # no bound: every timestamp is at or after it
_UNKNOWN = np.iinfo(np.int64).max  # not remembered: every timestamp is before it (so it gets checked)


def stored_accept_from(storage: StorageDriver, metric_id: uuid.UUID, policy: ArchivePolicy) -> int | None:
    """The oldest timestamp processing still accepts for this metric now; None when nothing is stored."""
    return _accept_from(storage.get_raw(metric_id), policy)


def _accept_from(raw: bytes | None, policy: ArchivePolicy) -> int | None:
    return accept_from(policy, raw_last_timestamp(raw)) if raw else None


class BackWindowGuard:
    """Refuses, at write time, the measures processing would drop; one per API process.

    It remembers the last bound it read for each metric (at most ``max_metrics``, oldest forgotten first).
    A metric's bound only moves forward as newer points are processed, so a batch entirely at or after the
    remembered bound is accepted without reading storage — the steady state of live ingest; if the bound
    has moved meanwhile, processing drops the few stragglers and counts them.  A batch reaching before the
    remembered bound is checked against a fresh read (the policy's back window may have grown).
    """

    def __init__(self, storage: StorageDriver, max_metrics: int = 100_000) -> None:
        self.storage = storage
        self.max_metrics = max_metrics
        self._bounds: OrderedDict[uuid.UUID, int] = OrderedDict()
        self._lock = threading.Lock()

    def _fresh_bounds(self, mids: list[uuid.UUID], policies: Mapping[uuid.UUID, ArchivePolicy]) -> list[int | None]:
        """The bounds of ``mids`` read from storage now (all raw tails in one batch read: on S3 or Redis a
        request per metric, sent together), remembered for next time."""
        bounds = [_accept_from(raw, policies[mid]) for mid, raw in zip(mids, self.storage.get_raws(mids), strict=True)]
        with self._lock:
            for mid, bound in zip(mids, bounds, strict=True):
                if bound is None:  # nothing stored yet is not remembered: the first processing sets a bound
                    continue
                self._bounds[mid] = bound
                self._bounds.move_to_end(mid)
            while len(self._bounds) > self.max_metrics:
                self._bounds.popitem(last=False)
        return bounds

    def split(self, batch: Batch, policies: Mapping[uuid.UUID, ArchivePolicy]) -> tuple[Batch, dict[uuid.UUID, int]]:
        """:meth:`split_columns` of a ``{metric: (timestamps, values)}`` batch (metrics without points kept)."""
        kept, dropped = self.split_columns(Columns.from_mapping(batch), policies)
        out = kept.to_mapping()
        empty = (np.empty(0, np.int64), np.empty(0, np.float64))
        return {mid: out.get(mid, empty) for mid in batch}, dropped

    def split_columns(self, batch: Columns, policies: Mapping[uuid.UUID, ArchivePolicy],
                      ) -> tuple[Columns, dict[uuid.UUID, int]]:
        """The batch without the measures processing would drop, and how many each metric lost (only > 0).

        The steady state costs no numpy call per metric: every run's oldest timestamp comes from one
        ``minimum.reduceat``, the remembered bounds from one locked pass, the refusal from one comparison of
        every point with its metric's bound; storage is read only for runs reaching before what is known.
        """
        if not batch.ids:
            return batch, {}
        starts = np.cumsum(batch.counts) - batch.counts
        oldest = np.minimum.reduceat(batch.timestamps, starts)
        with self._lock:
            known = [self._bounds.get(mid) for mid in batch.ids]
        known_at = np.fromiter((_UNKNOWN if k is None else k for k in known), dtype=np.int64, count=len(known))
        bounds = np.full(len(known), _NONE, dtype=np.int64)
        check = np.flatnonzero(oldest < known_at).tolist()  # unknown, or reaching back: check a fresh bound
        mids = list(dict.fromkeys(batch.ids[k] for k in check))  # a metric may have several runs
        fresh = dict(zip(mids, self._fresh_bounds(mids, policies), strict=True)) if mids else {}
        for k in check:
            cutoff = fresh[batch.ids[k]]
            if cutoff is not None and oldest[k] < cutoff:
                bounds[k] = cutoff
        if not (bounds > _NONE).any():
            return batch, {}
        keep = batch.timestamps >= np.repeat(bounds, batch.counts)
        counts = np.add.reduceat(keep, starts).astype(np.int64)
        dropped: dict[uuid.UUID, int] = {}
        for k in np.flatnonzero(counts < batch.counts).tolist():
            mid = batch.ids[k]
            dropped[mid] = dropped.get(mid, 0) + int(batch.counts[k] - counts[k])
        present = counts > 0
        ids = [mid for mid, p in zip(batch.ids, present.tolist(), strict=True) if p]
        return Columns(ids, counts[present], batch.timestamps[keep], batch.values[keep]), dropped
