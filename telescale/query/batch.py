"""Reading many series at once: the one implementation every read of stored aggregates goes through.

A *series* is one method of one metric at one granularity (an :class:`Entry`), in ``[floor(start), stop)``.
:func:`read_series_batch` reads any number of them in three passes instead of one call chain per series:

1. **plan** (one loop, no decoding): list each series' split keys, keep those whose span overlaps the
   range (plus the newest split when retention may cut the oldest one), and, when the driver keeps a read
   cache (:mod:`telescale.storage.cache`), look each split up by its version;
2. **fetch** the splits the cache could not answer, a metric at a time, and decode only the methods asked
   for — in a few threads when there are many, since file reads and zstd release the GIL;
3. **cut** each series to ``lo <= t < stop`` (``lo`` = the later of ``floor(start)`` and the retention
   cutoff computed from the series' newest bucket): a binary search only where a bound falls inside a
   split, so a whole split is kept as the array it is, without a copy when the caller allows it.

Retention is applied on read as well (the oldest split may still hold buckets past the policy's
``points`` until it expires whole), so answers never depend on when metricd last ran.  Arrays returned
are new (never views of cached, shared arrays) unless the caller asks for views (``copy=False``).
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np

from telescale.storage.base import StorageDriver
from telescale.timeseries import PolicyItem, Split, retention_cutoff
from telescale.timeseries.split import split_span

__all__ = ["Column", "Entry", "read_series_batch"]

Column = tuple[np.ndarray, np.ndarray]  # (timestamps ns int64, values float64), NaN-free, ascending
Part = tuple[np.ndarray, np.ndarray, np.ndarray]  # one decoded split, one method: (ts, values) NaN-free, last bucket
READ_THREADS = 2  # I/O and zstd release the GIL; decoding does not: more threads only contend
PARALLEL_FROM = 16  # fewer splits to fetch than this are fetched in the calling thread
_EMPTY_TS = np.empty(0, np.int64)
_EMPTY_V = np.empty(0, np.float64)


@dataclass(frozen=True)
class Entry:
    """One series to read: a metric's ``method`` at the granularity of ``item`` (its policy item)."""

    metric_id: uuid.UUID
    item: PolicyItem
    method: str


def _part(split: Split, method: str) -> Part:
    """What a read keeps of a decoded split: the method's valid points, and the split's last bucket
    (whatever the method: retention counts from the newest bucket of any method)."""
    ts = split.timestamps
    last = ts[-1:].copy()
    col = split.columns.get(method)
    if col is None:
        return _EMPTY_TS, _EMPTY_V, last
    ok = ~np.isnan(col)
    if ok.all():
        return ts, col, last
    return ts[ok], col[ok], last


@dataclass
class _Plan:
    """One series during a batch read: the keys wanted, and the parts found so far by key."""

    entry: Entry
    lo: int | None
    wanted: list[int]
    newest: int | None  # the newest split key, when retention may cut into the wanted range
    parts: dict[int, Part]


def _plan(storage: StorageDriver, entry: Entry, start: int | None, stop: int | None) -> _Plan:
    g = entry.item.granularity
    lo = None if start is None else (int(start) // g) * g
    keys = storage.list_split_keys(entry.metric_id, g)
    if not keys:
        return _Plan(entry, lo, [], None, {})
    span = split_span(g)
    wanted = [k for k in keys if (lo is None or k + span > lo) and (stop is None or k < stop)]
    newest = keys[-1]
    timespan = entry.item.timespan
    # Retention: only a split starting before newest + span - timespan can hold expired buckets.
    need_cutoff = bool(wanted) and timespan is not None and wanted[0] < newest + span - timespan
    return _Plan(entry, lo, wanted, newest if need_cutoff else None, {})


def _to_read(plan: _Plan) -> list[int]:
    keys = plan.wanted
    if plan.newest is not None and plan.newest not in keys:
        keys = [*keys, plan.newest]
    return keys


def _lookup_cache(storage: StorageDriver, plan: _Plan, keys: list[int]) -> list[int] | None:
    """Fill ``plan.parts`` from the read cache; the keys still to fetch (None: no cache for this driver)."""
    cache = storage.read_cache
    if cache is None or not keys:
        return None if cache is None else []
    entry = plan.entry
    g = entry.item.granularity
    versions = storage.split_versions(entry.metric_id, g, keys)
    if versions is None:
        return None
    missing: list[int] = []
    for k, version in zip(keys, versions, strict=True):
        if version is None:
            continue  # deleted (expired) since the listing
        hit = cache.get((entry.metric_id, g, k, entry.method), version)
        if hit is None:
            missing.append(k)
        else:
            plan.parts[k] = hit  # type: ignore[assignment]
    return missing


def _fetch(storage: StorageDriver, plan: _Plan, keys: list[int], cached: bool) -> None:
    """Read and decode ``keys`` of one series into ``plan.parts`` (filed in the cache when ``cached``)."""
    entry = plan.entry
    g = entry.item.granularity
    method = entry.method
    if cached:
        cache = storage.read_cache
        assert cache is not None
        for k, (version, data) in zip(keys, storage.get_splits_versioned(entry.metric_id, g, keys), strict=True):
            if data is None:
                continue
            part = _part(Split.decode(data, g, k, (method,)), method)
            if version is not None:
                cache.put((entry.metric_id, g, k, method), version, part)
            plan.parts[k] = part
        return
    for k, data in zip(keys, storage.get_splits(entry.metric_id, g, keys), strict=True):
        if data is not None:
            plan.parts[k] = _part(Split.decode(data, g, k, (method,)), method)


def _fetch_all(storage: StorageDriver, work: list[tuple[_Plan, list[int], bool]], threads: int) -> None:
    total = sum(len(keys) for _, keys, _ in work)
    if threads <= 1 or total < PARALLEL_FROM:
        for plan, keys, cached in work:
            _fetch(storage, plan, keys, cached)
        return
    step = max(1, len(work) // (threads * 4))  # a few chunks per thread: one future per series costs more
    chunks = [work[i:i + step] for i in range(0, len(work), step)]

    def fetch_chunk(chunk: list[tuple[_Plan, list[int], bool]]) -> None:
        for plan, keys, cached in chunk:
            _fetch(storage, plan, keys, cached)

    with ThreadPoolExecutor(max_workers=min(threads, len(chunks))) as pool:
        list(pool.map(fetch_chunk, chunks))


def _bounds(plan: _Plan) -> int | None:
    """The first timestamp kept: ``floor(start)``, or the retention cutoff when that is later."""
    lo = plan.lo
    if plan.newest is not None and plan.parts:
        last = plan.parts[max(plan.parts)][2]
        if last.size:
            cutoff = retention_cutoff(plan.entry.item, int(last[0]))
            if cutoff is not None and (lo is None or cutoff > lo):
                lo = cutoff
    return lo


def _cut(plan: _Plan, stop: int | None, copy: bool) -> Column:
    """One series cut to ``[lo, stop)``: two binary searches at most per split, only where a bound falls
    inside it; the parts of several splits are concatenated (a new array)."""
    lo = _bounds(plan)
    if len(plan.wanted) == 1 and len(plan.parts) == 1:  # the usual case: one split, read or cached
        part = plan.parts.get(plan.wanted[0])
        if part is not None and part[0].size and (lo is None or part[0][0] >= lo) and (
                stop is None or part[0][-1] < stop):
            return (part[0].copy(), part[1].copy()) if copy else (part[0], part[1])
    ts_parts: list[np.ndarray] = []
    v_parts: list[np.ndarray] = []
    for k in plan.wanted:
        part = plan.parts.get(k)
        if part is None:
            continue
        ts, values = part[0], part[1]
        if not ts.size:
            continue
        i = 0 if lo is None or ts[0] >= lo else int(np.searchsorted(ts, lo, side="left"))
        j = ts.size if stop is None or ts[-1] < stop else int(np.searchsorted(ts, stop, side="left"))
        if j > i:
            ts_parts.append(ts[i:j])
            v_parts.append(values[i:j])
    if not ts_parts:
        return _EMPTY_TS.copy(), _EMPTY_V.copy()
    if len(ts_parts) == 1:
        return (ts_parts[0].copy(), v_parts[0].copy()) if copy else (ts_parts[0], v_parts[0])
    return np.concatenate(ts_parts), np.concatenate(v_parts)


def read_series_batch(storage: StorageDriver, entries: Sequence[Entry], start: int | None = None,
                      stop: int | None = None, *, threads: int = READ_THREADS, copy: bool = True) -> list[Column]:
    """``(timestamps, values)`` of each entry in ``[floor(start, granularity), stop)``, in the order given.

    Series without data, or without the method in their splits, come back empty; entries must name a
    granularity of the metric's policy (callers check with :mod:`telescale.query.availability`).  With
    ``copy`` False a series may be a read-only view of a cached array (for callers that only read it, such
    as the aggregates, which stack every series into one matrix anyway).
    """
    plans = [_plan(storage, e, start, stop) for e in entries]
    work: list[tuple[_Plan, list[int], bool]] = []
    for plan in plans:
        keys = _to_read(plan)
        if not keys:
            continue
        missing = _lookup_cache(storage, plan, keys)
        if missing is None:
            work.append((plan, keys, False))
        elif missing:
            work.append((plan, missing, True))
    if work:
        _fetch_all(storage, work, threads)
    return [_cut(plan, stop, copy) for plan in plans]
