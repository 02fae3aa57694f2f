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

from telescale.storage.base import StorageDriver
from telescale.timeseries import ArchivePolicy
from telescale.timeseries.codec import raw_last_timestamp
from telescale.timeseries.update import accept_from

Batch = dict[uuid.UUID, tuple[np.ndarray, np.ndarray]]


def stored_accept_from(storage: StorageDriver, metric_id: uuid.UUID, policy: ArchivePolicy) -> int | None:
    """The oldest timestamp processing still accepts for this metric now; None when nothing is stored."""
    data = storage.get_raw(metric_id)
    return accept_from(policy, raw_last_timestamp(data)) if data else None


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

    def _bound(self, mid: uuid.UUID, policy: ArchivePolicy, oldest: int) -> int | None:
        with self._lock:
            known = self._bounds.get(mid)
        if known is not None and oldest >= known:
            return known
        bound = stored_accept_from(self.storage, mid, policy)
        if bound is not None:  # nothing stored yet is not remembered: the first processing sets a bound
            with self._lock:
                self._bounds[mid] = bound
                self._bounds.move_to_end(mid)
                while len(self._bounds) > self.max_metrics:
                    self._bounds.popitem(last=False)
        return bound

    def split(self, batch: Batch, policies: Mapping[uuid.UUID, ArchivePolicy]) -> tuple[Batch, dict[uuid.UUID, int]]:
        """The batch without the measures processing would drop, and how many each metric lost (only > 0).

        The steady state costs no numpy call per metric: every metric's oldest timestamp comes from one
        ``minimum.reduceat`` over the concatenated timestamps, and the remembered bounds from one locked pass.
        """
        ids = list(batch)
        arrays = list(batch.values())
        sizes = np.fromiter((ts.size for ts, _ in arrays), dtype=np.int64, count=len(arrays))
        oldest = np.zeros(len(arrays), dtype=np.int64)
        present = sizes > 0
        if present.any():
            starts = (np.cumsum(sizes) - sizes)[present]
            oldest[present] = np.minimum.reduceat(np.concatenate([ts for ts, _ in arrays]), starts)
        with self._lock:
            known = [self._bounds.get(mid) for mid in ids]
        kept: Batch = {}
        dropped: dict[uuid.UUID, int] = {}
        for mid, (ts, values), size, low, bound in zip(ids, arrays, sizes.tolist(), oldest.tolist(), known,
                                                       strict=True):
            if size and (bound is None or low < bound):  # unknown, or reaching back: check a fresh bound
                cutoff = self._bound(mid, policies[mid], low)
                if cutoff is not None and low < cutoff:
                    keep = ts >= cutoff
                    dropped[mid] = int(ts.size - np.count_nonzero(keep))
                    ts, values = ts[keep], values[keep]
            kept[mid] = (ts, values)
        return kept, dropped
