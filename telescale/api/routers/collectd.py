"""`/v1/collectd`: collectd's `write_http` plugin (`Format "JSON"`) posts its value lists here.

One resource of type `collectd` per host; the mapping is :mod:`telescale.ingest.collectd`'s.  A body that is
not collectd's JSON is refused whole with a 400 naming the value list and field at fault.
"""

from __future__ import annotations

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response

from telescale.api.auth import Identity, get_identity
from telescale.api.deps import json_body, with_body
from telescale.api.errors import bad_request
from telescale.api.openapi import doc
from telescale.ingest import collectd, resource_types
from telescale.ingest.series import ensure_resource_type, write_series

router = APIRouter(prefix="/v1/collectd", tags=["ingest"], **with_body({}))


@router.post("", **doc(body="CollectdValues", status=202))
def post_values(request: Request, identity: Identity = Depends(get_identity)) -> Response:
    """Store the values of every value list, creating the host's resource and its metrics as needed."""
    try:
        batches = collectd.to_series(json_body(request))
    except collectd.CollectdError as e:
        raise bad_request({"cause": "Invalid input", "reason": str(e), "detail": []}) from None
    if not batches:
        return Response(status_code=202, headers={"content-length": "0"})
    ensure_resource_type(request, identity, resource_types.COLLECTD, resource_types.COLLECTD_ATTRIBUTES,
                             as_caller=False)
    return write_series(request, identity, batches)
