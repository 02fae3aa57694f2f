"""Merging a batch of new measures into a metric: the heart of processing.

``compute_update`` is a pure function of (policy, stored raw tail, batch). Every bucket it reports is
recomputed from all raw points in it, never incrementally, so replaying a batch after a crash writes
the same values again.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from telescale.timeseries.aggregation import aggregate_series, bucket
from telescale.timeseries.policy import ArchivePolicy
from telescale.timeseries.raw import RawSeries
from telescale.timeseries.sortedops import unique_sorted
from telescale.timeseries.split import AggregatedBlock


@dataclass
class Update:
    raw: RawSeries                       # the tail to persist
    blocks: dict[int, AggregatedBlock]   # granularity -> recomputed buckets (all policy methods)
    dropped: int                         # measures refused: older than the back window allows
    last_timestamp: int | None           # newest raw timestamp after the merge


def dedupe_last(timestamps: np.ndarray, values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Sort by time; for a repeated timestamp the last one given wins (as in Gnocchi)."""
    ts = np.asarray(timestamps, dtype=np.int64).ravel()
    vals = np.asarray(values, dtype=np.float64).ravel()
    if ts.shape != vals.shape:
        raise ValueError("timestamps and values must have the same length")
    if ts.size == 0:
        return ts, vals
    order = np.argsort(ts, kind="stable")
    ts, vals = ts[order], vals[order]
    last_of_run = np.empty(ts.size, dtype=bool)
    last_of_run[-1] = True
    np.not_equal(ts[1:], ts[:-1], out=last_of_run[:-1])
    return ts[last_of_run], vals[last_of_run]


def accept_from(policy: ArchivePolicy, last_timestamp: int | None) -> int | None:
    """Oldest timestamp still accepted after ``last_timestamp``: floor to the coarsest block minus
    ``back_window`` blocks. None (nothing stored yet) accepts everything."""
    if last_timestamp is None:
        return None
    block = policy.max_block_size
    return (last_timestamp // block) * block - policy.back_window * block


def keep_from(policy: ArchivePolicy, last_timestamp: int) -> int:
    """Oldest raw timestamp to keep: the start of every bucket that can still receive points.

    The acceptance cutoff may fall inside a bucket of a granularity that does not divide the
    coarsest one; keeping from that bucket's start lets it be recomputed whole.
    """
    cutoff = accept_from(policy, last_timestamp)
    assert cutoff is not None
    return min((cutoff // g) * g for g in policy.granularities)


def compute_update(
    policy: ArchivePolicy, raw: RawSeries, timestamps: np.ndarray, values: np.ndarray
) -> Update:
    """Merge a batch into the raw tail and recompute every bucket the batch touches."""
    new_ts, new_vals = dedupe_last(timestamps, values)
    n_given = new_ts.size
    cutoff = accept_from(policy, raw.last)
    if cutoff is not None:
        start = int(np.searchsorted(new_ts, cutoff, side="left"))
        new_ts, new_vals = new_ts[start:], new_vals[start:]
    dropped = n_given - int(new_ts.size)

    if new_ts.size == 0:
        return Update(raw=raw, blocks={}, dropped=dropped, last_timestamp=raw.last)

    # Merge: new values replace stored ones at equal timestamps.
    all_ts = np.concatenate((raw.timestamps, new_ts))
    all_vals = np.concatenate((raw.values, new_vals))
    merged_ts, merged_vals = dedupe_last(all_ts, all_vals)
    last = int(merged_ts[-1])

    methods = policy.aggregation_methods
    has_rate = policy.has_rate
    if has_rate:
        # A new point also changes the difference stamped on the point after it.
        succ = np.searchsorted(merged_ts, new_ts, side="right")
        succ_ts = merged_ts[succ[succ < merged_ts.size]]
    blocks: dict[int, AggregatedBlock] = {}
    for g in policy.granularities:
        touched = bucket(new_ts, g)  # sorted: new_ts is
        if has_rate:
            # succ_ts is sorted too; merging the two runs keeps it a cheap stable sort
            touched = np.sort(np.concatenate((touched, bucket(succ_ts, g))), kind="stable")
        touched = unique_sorted(touched)
        keys, columns = aggregate_series(merged_ts, merged_vals, g, methods, only=touched)
        blocks[g] = AggregatedBlock(g, keys, columns)

    # Truncate the tail; rate: keeps the one point before so the oldest bucket still has its first diff.
    first_kept = keep_from(policy, last)
    start = int(np.searchsorted(merged_ts, first_kept, side="left"))
    if has_rate and start > 0:
        start -= 1
    new_raw = RawSeries(merged_ts[start:], merged_vals[start:])
    return Update(raw=new_raw, blocks=blocks, dropped=dropped, last_timestamp=last)
