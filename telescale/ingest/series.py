"""Named series of an ingest request to one durable incoming write, creating resources and metrics as needed.

Every ingest protocol ends here: it has turned its body into :class:`SeriesBatch` arrays, and
:func:`write_series` finds or creates each resource (under the caller's id mapping, as Gnocchi does) and each
named metric on it, checks the policy as the `/v1` routes do, then makes all the measures durable in one
write through :func:`telescale.api.measures.store`.  This is the simple version: lookups one resource at a
time (a cached, batched one replaces it without changing the interface).
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from fastapi import Request
from fastapi.responses import Response

from telescale import indexer as idx
from telescale.api import measures
from telescale.api.access import enforce, enforce_metrics, enforce_resource
from telescale.api.auth import Identity
from telescale.api.deps import services
from telescale.api.errors import bad_request
from telescale.api.ids import resource_uuid
from telescale.api.routers.batch import _create_named


@dataclass(frozen=True, slots=True)
class SeriesBatch:
    """The points of one metric of one resource, as decoded from a request."""

    resource_type: str  # must exist
    resource_id: str  # original id; mapped to a UUID with the caller (telescale.api.ids.resource_uuid)
    metric: str  # metric name on that resource
    timestamps: np.ndarray  # int64 ns since the epoch
    values: np.ndarray  # float64
    attributes: Mapping[str, Any] = field(default_factory=dict)  # resource attributes used when creating it
    unit: str | None = None
    archive_policy_name: str | None = None  # None: chosen by archive policy rule, as Gnocchi does


def _resource(request: Request, identity: Identity, batch: SeriesBatch, rid: uuid.UUID) -> idx.Resource:
    """The resource of ``batch``, created (policy permitting) when it does not exist."""
    indexer = services(request).indexer
    resource = indexer.get_resource("generic", rid)
    if resource is None:
        enforce(request, identity, "create resource", {
            "resource_type": batch.resource_type, "id": str(rid), "original_resource_id": batch.resource_id,
            **batch.attributes})
        try:
            resource = indexer.create_resource(batch.resource_type, rid, batch.resource_id, identity.creator,
                                               attributes=dict(batch.attributes))
        except idx.ResourceAlreadyExists:  # created by a concurrent request
            resource = indexer.get_resource("generic", rid)
            assert resource is not None
    if resource.type != batch.resource_type:
        raise bad_request(f"Resource {batch.resource_id} exists with type {resource.type}, "
                          f"not {batch.resource_type}")
    return resource


def write_series(request: Request, identity: Identity, batches: Sequence[SeriesBatch]) -> Response:
    """Find or create every resource and metric (policy-checked as the /v1 routes check them), then one
    durable incoming write through telescale.api.measures.store (back-window guard included); returns
    its 202 Response (a route that must answer otherwise, like OTLP's 200, builds its own answer)."""
    resources: dict[uuid.UUID, idx.Resource] = {}
    metrics: dict[tuple[uuid.UUID, str], idx.Metric] = {}
    points: dict[uuid.UUID, list[tuple[np.ndarray, np.ndarray]]] = {}
    for batch in batches:
        try:
            rid = resource_uuid(batch.resource_id, identity.creator)
        except ValueError as e:
            raise bad_request({"cause": "Invalid input", "reason": str(e), "detail": [batch.resource_id]}) from None
        if rid not in resources:
            resources[rid] = _resource(request, identity, batch, rid)
        metric = metrics.get((rid, batch.metric))
        if metric is None:
            mid = resources[rid].metrics.get(batch.metric)
            metric = services(request).indexer.get_metric(mid) if mid else None
            if metric is None:
                enforce_resource(request, identity, "update resource", resources[rid])
                options = {k: v for k, v in (("unit", batch.unit), ("archive_policy_name", batch.archive_policy_name))
                           if v is not None}
                metric = _create_named(request, identity, rid, batch.metric, options)
            metrics[(rid, batch.metric)] = metric
        points.setdefault(metric.id, []).append((batch.timestamps, batch.values))
    targets = list({m.id: m for m in metrics.values()}.values())
    enforce_metrics(request, identity, "post measures", targets)
    merged = {mid: (np.concatenate([t for t, _ in parts]), np.concatenate([v for _, v in parts]))
              for mid, parts in points.items()}
    return measures.store(request, merged, targets)
