"""`/v1/batch/metrics/measures`: measures for many metrics in one durable write."""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response

from telescale import indexer as idx
from telescale.api import measures
from telescale.api.access import enforce_metrics, enforce_resource
from telescale.api.auth import Identity, get_identity
from telescale.api.deps import services, with_body
from telescale.api.errors import bad_request
from telescale.api.ids import resource_uuid
from telescale.api.measures_body import BY_METRIC, BY_RESOURCE, NamedMeasures, measures_body
from telescale.api.openapi import doc
from telescale.api.params import parse_bool
from telescale.api.routers.metric import create_metric, new_metric

router = APIRouter(prefix="/v1/batch", tags=["batch"], **with_body({}))


def _uuid(key: str) -> uuid.UUID | None:
    try:
        return uuid.UUID(key)
    except ValueError:
        return None


@router.post("/metrics/measures", **doc(body="BatchMetricsMeasures", status=202, errors=(403,)))
def post_metrics_measures(request: Request, identity: Identity = Depends(get_identity)) -> Response:
    """Body `{metric_id: [{timestamp, value}, …], …}`; every metric must exist or nothing is written.

    The metrics are looked up in one query, whatever their number.
    """
    body = measures_body(request, BY_METRIC)
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
    if isinstance(spec, NamedMeasures):
        return spec.measures, spec.options()
    if isinstance(spec, dict):
        if "measures" not in spec or set(spec) - {"archive_policy_name", "unit", "measures"}:
            raise bad_request({"cause": "Invalid input", "reason": "unexpected measures format", "detail": []})
        return spec["measures"], {k: v for k, v in spec.items() if k != "measures"}
    return spec, {}


@dataclass
class _Entry:
    """One named metric of one resource in the body."""

    original: str
    rid: uuid.UUID
    name: str
    raw: object
    options: dict
    metric: idx.Metric | None = None


def _entries(body: object, identity: Identity) -> list[_Entry]:
    """The body's entries, checked for shape before anything is looked up."""
    if not isinstance(body, dict) or not all(isinstance(v, dict) for v in body.values()):
        raise bad_request({"cause": "Invalid input", "reason": "expected a dictionary of dictionaries", "detail": []})
    entries = []
    for original, named in body.items():
        try:
            rid = resource_uuid(original, identity.creator)
        except ValueError as e:
            raise bad_request({"cause": "Invalid input", "reason": str(e), "detail": [original]}) from None
        entries += [_Entry(original, rid, name, *_split_spec(spec)) for name, spec in named.items()]
    return entries


@router.post("/resources/metrics/measures", **doc(body="BatchResourcesMeasures", query=("create_metrics",),
                                                  status=202))
def post_resources_metrics_measures(request: Request, identity: Identity = Depends(get_identity)) -> Response:
    """Body `{resource_id: {metric_name: measures | {archive_policy_name?, unit?, measures}}}`.

    With `create_metrics=true`, metrics missing on an existing resource are created (policy by name or by
    rule), all in one transaction; resources that do not exist are listed in a 400 "Unknown resources" so
    that clients such as Ceilometer create them and retry.  Nothing is written unless every target is
    known.  Every metric named is looked up in one query; the resources only when some metric is missing.
    """
    create = parse_bool(request.query_params.get("create_metrics"), "create_metrics")
    entries = _entries(measures_body(request, BY_RESOURCE), identity)
    indexer = services(request).indexer
    found = indexer.metrics_by_resource_and_name([(e.rid, e.name) for e in entries])
    missing = []
    for e in entries:
        named = found.get((e.rid, e.name))
        e.metric = named.metric if named else None
        if e.metric is None:
            missing.append(e)
    if create and missing:
        resources = indexer.get_resources({e.rid for e in missing})
        _create_missing(request, identity, [e for e in missing if e.rid in resources], resources)
        unknown_resources = list({str(e.rid): {"resource_id": str(e.rid), "original_resource_id": e.original}
                                  for e in missing if e.rid not in resources}.values())
    else:
        unknown_resources = []
    if unknown_resources:
        raise bad_request({"cause": "Unknown resources", "reason": "Unknown resources", "detail": unknown_resources})
    unknown_metrics = sorted(f"{e.rid}/{e.name}" for e in entries if e.metric is None)
    if unknown_metrics:
        raise bad_request("Unknown metrics: " + ", ".join(unknown_metrics))
    targets = [e.metric for e in entries if e.metric is not None]
    enforce_metrics(request, identity, "post measures", targets)
    parsed = measures.parse_many([e.raw for e in entries], lambda i: f"resource {entries[i].original} metric "
                                                                      f"{entries[i].name}")
    return measures.store(request, {m.id: p for m, p in zip(targets, parsed, strict=True)}, targets)


def _create_missing(request: Request, identity: Identity, entries: list[_Entry],
                    resources: dict[uuid.UUID, idx.Resource]) -> None:
    """Create the missing metrics of existing resources in one transaction; if that fails (another request
    created one meanwhile, a resource was just deleted), one by one, each settling its own race."""
    if not entries:
        return
    for rid in dict.fromkeys(e.rid for e in entries):
        # Unlike Gnocchi, adding a metric to a resource is a change of that resource.
        enforce_resource(request, identity, "update resource", resources[rid])
    new = [new_metric(request, identity, {**e.options, "name": e.name}, e.rid) for e in entries]
    try:
        created = services(request).indexer.create_metrics(new)
    except idx.IndexerError:
        created = [_create_named(request, identity, e.rid, e.name, e.options) for e in entries]
    for e, metric in zip(entries, created, strict=True):
        e.metric = metric


def _create_named(request: Request, identity: Identity, rid: uuid.UUID, name: str, options: dict) -> idx.Metric:
    """Create a metric on a resource; if another request just created it, use that one."""
    try:
        return create_metric(request, identity, {**options, "name": name}, resource_id=rid)
    except Exception:
        found = services(request).indexer.metrics_by_resource_and_name([(rid, name)]).get((rid, name))
        if found is None:
            raise
        return found.metric
