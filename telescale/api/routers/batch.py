"""`/v1/batch/metrics/measures`: measures for many metrics in one durable write."""

from __future__ import annotations

import uuid

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response

from telescale.api import measures
from telescale.api.auth import Identity, get_identity, require_creator_or_admin
from telescale.api.body import read_json
from telescale.api.deps import services
from telescale.api.errors import bad_request

router = APIRouter(prefix="/v1/batch", tags=["batch"])


def _uuid(key: str) -> uuid.UUID | None:
    try:
        return uuid.UUID(key)
    except ValueError:
        return None


@router.post("/metrics/measures", status_code=202)
async def post_metrics_measures(request: Request, identity: Identity = Depends(get_identity)) -> Response:
    """Body `{metric_id: [{timestamp, value}, …], …}`; every metric must exist or nothing is written."""
    body = await read_json(request)
    if not isinstance(body, dict):
        raise bad_request({"cause": "Invalid input", "reason": "expected a dictionary", "detail": []})
    ids = {key: _uuid(key) for key in body}
    known = {m.id: m for m in services(request).indexer.get_metrics([i for i in ids.values() if i])}
    unknown = sorted(str(i) if i else key for key, i in ids.items() if i not in known)
    if unknown:
        raise bad_request("Unknown metrics: " + ", ".join(unknown))
    batch = {}
    for key, mid in ids.items():
        require_creator_or_admin(identity, known[mid].creator)
        batch[mid] = measures.parse_measures(body[key])
    return await measures.store(request, batch)
