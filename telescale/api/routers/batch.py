"""`/v1/batch/metrics/measures`: measures for many metrics in one durable write."""

from __future__ import annotations

import uuid

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response

from telescale import indexer as idx
from telescale.api import measures
from telescale.api.access import enforce_metrics, enforce_resource
from telescale.api.auth import Identity, get_identity
from telescale.api.deps import json_body, services, with_body
from telescale.api.errors import bad_request
from telescale.api.ids import resource_uuid
from telescale.api.openapi import doc
from telescale.api.params import parse_bool
from telescale.api.routers.metric import create_metric

router = APIRouter(prefix="/v1/batch", tags=["batch"], **with_body({}))


def _uuid(key: str) -> uuid.UUID | None:
    try:
        return uuid.UUID(key)
    except ValueError:
        return None


@router.post("/metrics/measures", **doc(body="BatchMetricsMeasures", status=202, errors=(403,)))
def post_metrics_measures(request: Request, identity: Identity = Depends(get_identity)) -> Response:
    """Body `{metric_id: [{timestamp, value}, …], …}`; every metric must exist or nothing is written."""
    body = json_body(request)
    if not isinstance(body, dict):
        raise bad_request({"cause": "Invalid input", "reason": "expected a dictionary", "detail": []})
    ids = {key: _uuid(key) for key in body}
    known = {m.id: m for m in services(request).indexer.get_metrics([i for i in ids.values() if i])}
    unknown = sorted(str(i) if i else key for key, i in ids.items() if i not in known)
    if unknown:
        raise bad_request("Unknown metrics: " + ", ".join(unknown))
    enforce_metrics(request, identity, "post measures", list(known.values()))
    keys = list(body)
    parsed = measures.parse_many(list(body.values()), lambda i: f"metric {keys[i]}")
    return measures.store(request, dict(zip(ids.values(), parsed, strict=True)), known.values())


def _split_spec(spec: object) -> tuple[object, dict]:
    """A named metric's entry: a bare list of measures, or `{archive_policy_name?, unit?, measures}`."""
    if isinstance(spec, dict):
        if "measures" not in spec or set(spec) - {"archive_policy_name", "unit", "measures"}:
            raise bad_request({"cause": "Invalid input", "reason": "unexpected measures format", "detail": []})
        return spec["measures"], {k: v for k, v in spec.items() if k != "measures"}
    return spec, {}


@router.post("/resources/metrics/measures", **doc(body="BatchResourcesMeasures", query=("create_metrics",),
                                                  status=202))
def post_resources_metrics_measures(request: Request, identity: Identity = Depends(get_identity)) -> Response:
    """Body `{resource_id: {metric_name: measures | {archive_policy_name?, unit?, measures}}}`.

    With `create_metrics=true`, metrics missing on an existing resource are created (policy by name or by
    rule); resources that do not exist are listed in a 400 "Unknown resources" so that clients such as
    Ceilometer create them and retry.  Nothing is written unless every target is known.
    """
    create = parse_bool(request.query_params.get("create_metrics"), "create_metrics")
    body = json_body(request)
    if not isinstance(body, dict) or not all(isinstance(v, dict) for v in body.values()):
        raise bad_request({"cause": "Invalid input", "reason": "expected a dictionary of dictionaries", "detail": []})
    indexer = services(request).indexer
    targets: list[tuple[idx.Metric, object]] = []
    labels: list[tuple[str, str]] = []
    unknown_metrics: list[str] = []
    unknown_resources: list[dict[str, str]] = []
    for original, named in body.items():
        try:
            rid = resource_uuid(original, identity.creator)
        except ValueError as e:
            raise bad_request({"cause": "Invalid input", "reason": str(e), "detail": [original]}) from None
        resource = indexer.get_resource("generic", rid)
        for name, spec in named.items():
            raw, options = _split_spec(spec)
            mid = resource.metrics.get(name) if resource else None
            metric = indexer.get_metric(mid) if mid else None
            if metric is None and create and resource is not None:
                # Unlike Gnocchi, adding a metric to a resource is a change of that resource.
                enforce_resource(request, identity, "update resource", resource)
                metric = _create_named(request, identity, rid, name, options)
            if metric is None:
                if create and resource is None:
                    entry = {"resource_id": str(rid), "original_resource_id": original}
                    if entry not in unknown_resources:
                        unknown_resources.append(entry)
                else:
                    unknown_metrics.append(f"{rid}/{name}")
                continue
            targets.append((metric, raw))
            labels.append((original, name))
    if unknown_resources:
        raise bad_request({"cause": "Unknown resources", "reason": "Unknown resources", "detail": unknown_resources})
    if unknown_metrics:
        raise bad_request("Unknown metrics: " + ", ".join(sorted(unknown_metrics)))
    enforce_metrics(request, identity, "post measures", [m for m, _ in targets])
    parsed = measures.parse_many([raw for _, raw in targets], lambda i: "resource {} metric {}".format(*labels[i]))
    return measures.store(request, {m.id: p for (m, _), p in zip(targets, parsed, strict=True)},
                          [m for m, _ in targets])


def _create_named(request: Request, identity: Identity, rid: uuid.UUID, name: str, options: dict) -> idx.Metric:
    """Create a metric on a resource; if another request just created it, use that one."""
    try:
        return create_metric(request, identity, {**options, "name": name}, resource_id=rid)
    except Exception:
        resource = services(request).indexer.get_resource("generic", rid)
        mid = resource.metrics.get(name) if resource else None
        metric = services(request).indexer.get_metric(mid) if mid else None
        if metric is None:
            raise
        return metric
