"""Measures older than their metric's back window, refused when they are written rather than silently later.

Processing drops a measure older than ``accept_from(policy, last stored timestamp)`` (see
:mod:`telescale.timeseries.update`).  The API applies the same bound when a batch arrives, from the one
small object that holds it (the metric's raw tail, whose timestamps alone are decoded), so that it can
tell the client how many it refused.  Processing may still drop a few more: measures accepted here, for
which newer points of the same metric were processed first.
"""

from __future__ import annotations

import uuid
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


def drop_older_than_back_window(storage: StorageDriver, batch: Batch, policies: Mapping[uuid.UUID, ArchivePolicy]
                                ) -> tuple[Batch, dict[uuid.UUID, int]]:
    """The batch without the measures processing would drop, and how many each metric lost (only those > 0)."""
    kept: Batch = {}
    dropped: dict[uuid.UUID, int] = {}
    for mid, (ts, values) in batch.items():
        cutoff = stored_accept_from(storage, mid, policies[mid]) if ts.size else None
        if cutoff is None or ts.min() >= cutoff:
            kept[mid] = (ts, values)
            continue
        keep = ts >= cutoff
        dropped[mid] = int(ts.size - np.count_nonzero(keep))
        kept[mid] = (ts[keep], values[keep])
    return kept, dropped
