"""Named series → metrics, created when missing, then one durable incoming write.

Every ingest protocol names its series the same way: a resource (type, original id, attributes) and a
metric name on it.  :func:`resolve` turns many such names into metrics with one indexer query per kind
(metrics by (resource, name), then resources by id, then the creations), and remembers the answer for
``ingest.series_cache_ttl`` seconds per process, keyed by the caller: the steady state of a scraper or a
Prometheus sending the same series every few seconds costs no SQL at all.  A metric or resource deleted
meanwhile is noticed when its entry expires (writes sent to it until then are discarded by processing,
as they are for any deleted metric).

Checks are the ``/v1`` routes' own: ``create resource``/``update resource`` when a resource is created or
given new metrics, ``post measures`` on every metric written (decided once per cache entry), the resource
type's attribute schema on creation, archive policy rules when no policy is named.
"""

from __future__ import annotations

import logging
import threading
import time
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import orjson
import voluptuous as vo
from fastapi import Request
from fastapi.responses import Response

from telescale import indexer as idx
from telescale.api import measures
from telescale.api.access import enforce, enforce_metrics, enforce_resource
from telescale.api.auth import Identity
from telescale.api.deps import services
from telescale.api.errors import ApiError, bad_request, conflict
from telescale.api.ids import resource_uuid
from telescale.api.jsonio import json_response, names_json
from telescale.api.schemas import validate
from telescale.incoming.base import Columns
from telescale.indexer.search import parse_json_filter

LOG = logging.getLogger(__name__)

_MAX_METRIC_NAME = 255
_CACHE_MAX = 1_000_000  # entries per process (≈ 300 B each); past it the cache starts again empty


@dataclass(frozen=True, slots=True)
class SeriesKey:
    """What names a series: everything of :class:`SeriesBatch` but its points."""

    resource_type: str
    resource_id: str
    metric: str
    attributes: Mapping[str, Any] = field(default_factory=dict, compare=False, hash=False)
    unit: str | None = field(default=None, compare=False, hash=False)
    archive_policy_name: str | None = field(default=None, compare=False, hash=False)


@dataclass(frozen=True, slots=True)
class SeriesBatch:
    """Points of one named series (see :class:`SeriesKey` for the naming fields)."""

    resource_type: str  # must exist: see ensure_resource_type
    resource_id: str  # original id, mapped to a UUID with the caller as Gnocchi does
    metric: str
    timestamps: np.ndarray  # int64 ns since the epoch
    values: np.ndarray  # float64
    attributes: Mapping[str, Any] = field(default_factory=dict)  # used when the resource is created
    unit: str | None = None
    archive_policy_name: str | None = None  # None: chosen by archive policy rule, as Gnocchi does

    def key(self) -> SeriesKey:
        return SeriesKey(self.resource_type, self.resource_id, self.metric, self.attributes, self.unit,
                         self.archive_policy_name)


class SeriesCache:
    """Per process and per caller: series key → the metric the caller may write to, until it expires."""

    def __init__(self, ttl: float) -> None:
        self.ttl = ttl
        self._metrics: dict[Identity, dict[SeriesKey, tuple[float, idx.Metric]]] = {}
        self._size = 0
        self._types: dict[str, float] = {}
        self._logged: dict[str, float] = {}
        self._lock = threading.Lock()

    def of(self, identity: Identity) -> dict[SeriesKey, tuple[float, idx.Metric]]:
        """The caller's entries (read them with ``entries.get(key)``, then compare the expiry with now)."""
        return self._metrics.get(identity) or {}

    def put_many(self, identity: Identity, found: Mapping[SeriesKey, idx.Metric], now: float) -> None:
        if self.ttl <= 0:
            return
        with self._lock:
            if self._size + len(found) > _CACHE_MAX:
                LOG.info("series cache full (%d entries): starting again empty", self._size)
                self._metrics.clear()
                self._size = 0
            entries = self._metrics.setdefault(identity, {})
            before = len(entries)
            expiry = now + self.ttl
            entries.update((k, (expiry, m)) for k, m in found.items())
            self._size += len(entries) - before

    def type_known(self, name: str, now: float) -> bool:
        return self._types.get(name, 0.0) > now

    def type_seen(self, name: str, now: float) -> None:
        self._types[name] = now + self.ttl

    def should_log(self, what: str, now: float, every: float = 60.0) -> bool:
        """True at most once per ``every`` seconds for ``what``: a steady flow of drops logs a line a minute."""
        if self._logged.get(what, -every) + every > now:
            return False
        self._logged[what] = now
        return True


def series_cache(request: Request) -> SeriesCache:
    """The app's cache, made on first use (``ingest.series_cache_ttl`` seconds per entry)."""
    state = request.app.state
    cache = getattr(state, "series_cache", None)
    if cache is None:
        with _CREATE_LOCK:
            cache = getattr(state, "series_cache", None)
            if cache is None:
                ingest = getattr(state.settings, "ingest", None)
                cache = state.series_cache = SeriesCache(getattr(ingest, "series_cache_ttl", 60.0))
    return cache


_CREATE_LOCK = threading.Lock()


def ensure_resource_type(request: Request, identity: Identity, name: str,
                         attributes: Mapping[str, Mapping[str, Any]], *, as_caller: bool = True) -> None:
    """Create resource type ``name`` if it does not exist, as Gnocchi's Prometheus and InfluxDB endpoints do
    on first write: with the caller's right to ``create resource type`` (``as_caller``), or, for the types
    whose definition is Telescale's own (OTLP, collectd), for any caller allowed to write measures."""
    cache = series_cache(request)
    now = time.monotonic()
    if cache.type_known(name, now):
        return
    indexer = services(request).indexer
    try:
        indexer.get_resource_type(name)
    except idx.NoSuchResourceType:
        if as_caller:
            enforce(request, identity, "create resource type", {"name": name, "state": "creating",
                                                                "attributes": dict(attributes)})
        try:
            indexer.create_resource_type(name, attributes)
            LOG.info("created resource type %r for ingest", name)
        except idx.ResourceTypeAlreadyExists:
            pass  # another request won the race
    cache.type_seen(name, now)


def write_series(request: Request, identity: Identity, batches: Sequence[SeriesBatch]) -> Response:
    """Find or create every resource and metric (policy-checked as the /v1 routes check them), then one
    durable incoming write through telescale.api.measures.store (back-window guard included); returns
    its 202 Response (a route that must answer otherwise, like OTLP's 200, builds its own answer)."""
    metrics = resolve(request, identity, [b.key() for b in batches])
    sizes = np.fromiter((b.timestamps.size for b in batches), dtype=np.int64, count=len(batches))
    index = np.repeat(np.arange(len(batches)), sizes)
    timestamps = np.concatenate([b.timestamps for b in batches]) if batches else np.empty(0, np.int64)
    values = np.concatenate([b.values for b in batches]) if batches else np.empty(0, np.float64)
    return write_arrays(request, metrics, index, timestamps, values)


def write_arrays(request: Request, metrics: Sequence[idx.Metric], index: np.ndarray, timestamps: np.ndarray,
                 values: np.ndarray) -> Response:
    """One incoming write of points ``(timestamps[i], values[i])`` for metric ``metrics[index[i]]``.

    Several entries of ``metrics`` may be the same metric (series a protocol maps onto one name): their
    points are written together.  Points are grouped with one stable sort, never a loop per point.
    """
    if not len(metrics):
        return Response(status_code=202, headers={"content-length": "0"})
    unique: dict[uuid.UUID, int] = {}
    position = np.fromiter((unique.setdefault(m.id, len(unique)) for m in metrics), dtype=np.int64,
                           count=len(metrics))
    target = position[index]
    order = np.argsort(target, kind="stable")
    counts = np.bincount(target, minlength=len(unique))
    present = counts > 0
    ids = [mid for mid, p in zip(unique, present.tolist(), strict=True) if p]
    columns = Columns(ids, counts[present].astype(np.int64), timestamps.astype(np.int64, copy=False)[order],
                      values.astype(np.float64, copy=False)[order])
    return measures.store(request, columns, {m.id: m for m in metrics}.values())


def report_dropped(request: Request, response: Response, protocol: str, written: int,
                   dropped: Mapping[str, int]) -> Response:
    """The 202 of :func:`write_series`/:func:`write_arrays`, plus what the protocol itself dropped and why.

    Drops are logged (at most a line a minute per protocol); a client that asks for JSON also gets
    ``{"accepted", "dropped": {reason: count, …}}``, merged with the back-window refusals of the write.
    """
    dropped = {reason: n for reason, n in dropped.items() if n}
    if not dropped:
        return response
    if series_cache(request).should_log(protocol, time.monotonic()):
        LOG.warning("%s: dropped %s (of %d points in one request; logged at most once a minute)", protocol,
                    ", ".join(f"{n} {reason.replace('_', ' ')}" for reason, n in dropped.items()),
                    written + sum(dropped.values()))
    if not names_json(request.headers.get("accept")):
        return response
    body = orjson.loads(response.body) if response.body else {"accepted": written, "dropped": {}}
    return json_response({"accepted": body["accepted"], "dropped": {**body["dropped"], **dropped}}, status=202)


def resolve(request: Request, identity: Identity, keys: Sequence[SeriesKey]) -> list[idx.Metric]:
    """The metric of each key, in order: from the cache, else found or created (one query per kind)."""
    cache = series_cache(request)
    now = time.monotonic()
    get = cache.of(identity).get
    hits = [get(key) for key in keys]
    out = [hit[1] if hit is not None and hit[0] > now else None for hit in hits]
    if None not in out:
        return out  # type: ignore[return-value]
    missing = list(dict.fromkeys(k for k, m in zip(keys, out, strict=True) if m is None))
    found = _find_or_create(request, identity, missing)
    enforce_metrics(request, identity, "post measures", list({m.id: m for m in found.values()}.values()))
    cache.put_many(identity, found, now)
    return [m if m is not None else found[k] for m, k in zip(out, keys, strict=True)]


def _find_or_create(request: Request, identity: Identity, keys: list[SeriesKey]) -> dict[SeriesKey, idx.Metric]:
    indexer = services(request).indexer
    rids = {k.resource_id: _rid(k, identity) for k in keys}
    for k in keys:
        _check_metric_name(k.metric)
    pairs = [(rids[k.resource_id], k.metric) for k in keys]
    named = indexer.metrics_by_resource_and_name(pairs)
    found: dict[SeriesKey, idx.Metric] = {}
    absent: list[SeriesKey] = []
    for k, pair in zip(keys, pairs, strict=True):
        hit = named.get(pair)
        if hit is None:
            absent.append(k)
            continue
        _same_type(k, hit.resource_type, pair[0])
        found[k] = hit.metric
    if absent:
        _create(request, identity, absent, rids)
        created = indexer.metrics_by_resource_and_name([(rids[k.resource_id], k.metric) for k in absent])
        for k in absent:
            hit = created.get((rids[k.resource_id], k.metric))
            if hit is None:  # deleted between its creation and this read: let the client retry
                raise ApiError(503, f"metric {k.metric} of resource {k.resource_id} vanished while being created")
            found[k] = hit.metric
    return found


def _rid(key: SeriesKey, identity: Identity) -> uuid.UUID:
    try:
        return resource_uuid(key.resource_id, identity.creator)
    except ValueError as e:
        raise bad_request({"cause": "Invalid input", "reason": f"resource id {key.resource_id!r}: {e}",
                           "detail": ["resource_id"]}) from None


def _check_metric_name(name: str) -> None:
    if not name or "/" in name or len(name) > _MAX_METRIC_NAME:
        why = "is empty" if not name else ("contains '/'" if "/" in name else f"is longer than {_MAX_METRIC_NAME}")
        raise bad_request({"cause": "Invalid input", "reason": f"metric name {name[:300]!r} {why}",
                           "detail": ["metric"]})


def _same_type(key: SeriesKey, actual: str, rid: uuid.UUID) -> None:
    """A resource id already used by a resource of another type is a conflict (as in Gnocchi)."""
    if actual != key.resource_type and key.resource_type != "generic":
        raise conflict({"cause": "Resource already exists",
                        "reason": f"Resource {rid} already exists with type {actual}, not {key.resource_type}",
                        "detail": str(rid)})


def _create(request: Request, identity: Identity, keys: list[SeriesKey], rids: Mapping[str, uuid.UUID]) -> None:
    """Create the missing metrics: on new resources in one transaction each, else appended to theirs."""
    indexer = services(request).indexer
    by_resource: dict[tuple[str, str], list[SeriesKey]] = {}
    for k in keys:
        by_resource.setdefault((k.resource_type, k.resource_id), []).append(k)
    ids = sorted({str(rids[rid]) for _, rid in by_resource})
    listed = indexer.list_resources("generic", filter_node=parse_json_filter({"in": {"id": ids}}))
    existing = {r.id: r for r in listed}
    for (_, original), wanted in by_resource.items():
        rid = rids[original]
        specs = {k.metric: _metric_spec(k) for k in wanted}
        try:
            resource = existing.get(rid)
            if resource is None:
                resource = _create_resource(request, identity, wanted[0], rid, specs)
                if resource is not None:
                    continue
                resource = indexer.get_resource("generic", rid)  # created meanwhile by another request
                if resource is None:
                    raise ApiError(503, f"resource {original} vanished while being created")
            _same_type(wanted[0], resource.type, rid)
            enforce_resource(request, identity, "update resource", resource)
            todo = {name: spec for name, spec in specs.items() if name not in resource.metrics}
            if todo:
                indexer.update_resource(resource.type, rid, create_revision=False, metrics=todo, append_metrics=True)
        except idx.NamedMetricAlreadyExists:
            continue  # created by a concurrent request: the caller reads it back
        except idx.NoArchivePolicyRuleMatch as e:
            raise bad_request("No archive policy name specified and no archive policy rule found matching "
                              f"the metric name {e.metric_name}") from None
        except (idx.NoSuchArchivePolicy, idx.NoSuchResourceType, idx.ResourceValueError) as e:
            raise bad_request(str(e)) from None


def _metric_spec(key: SeriesKey) -> dict[str, Any]:
    spec: dict[str, Any] = {}
    if key.archive_policy_name is not None:
        spec["archive_policy_name"] = key.archive_policy_name
    if key.unit is not None:
        spec["unit"] = key.unit
    return spec


def _create_resource(request: Request, identity: Identity, key: SeriesKey, rid: uuid.UUID,
                     specs: dict[str, dict[str, Any]]) -> idx.Resource | None:
    """The new resource, or None if one with this id appeared meanwhile."""
    from telescale.api.routers.resource_type import attributes_schema  # the routes' own attribute checks

    indexer = services(request).indexer
    rtype = indexer.get_resource_type(key.resource_type)
    attributes = validate(vo.Schema(attributes_schema(rtype.attributes)), dict(key.attributes))
    enforce(request, identity, "create resource", {
        "resource_type": key.resource_type, "id": str(rid), "original_resource_id": key.resource_id,
        "creator": identity.creator, **attributes})
    try:
        return indexer.create_resource(key.resource_type, rid, key.resource_id, identity.creator,
                                       attributes=attributes, metrics=specs)
    except idx.ResourceAlreadyExists:
        return None

