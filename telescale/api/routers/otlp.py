"""`/v1/otlp/v1/metrics`: OpenTelemetry's OTLP/HTTP metrics export (an exporter's endpoint is `…/v1/otlp`).

Answers as the OTLP specification says: 200 with an `ExportMetricsServiceResponse` in the request's encoding,
its `partial_success` counting the points that were refused and why; 400 for a body that does not decode,
415 for another media type or content encoding.  The mapping to resources and metrics is
:mod:`telescale.ingest.otlp`'s.
"""

from __future__ import annotations

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response

from telescale.api.auth import Identity, get_identity
from telescale.api.deps import raw_body, with_body
from telescale.api.errors import ApiError
from telescale.api.openapi import doc
from telescale.api.openapi_otlp import binary_too
from telescale.ingest import otlp, resource_types
from telescale.ingest.series import ensure_resource_type, write_series

router = APIRouter(prefix="/v1/otlp", tags=["ingest"], **with_body({}))


@router.post("/v1/metrics", **binary_too(doc(body="OtlpMetricsRequest", returns="OtlpMetricsResponse")))
def post_metrics(request: Request, identity: Identity = Depends(get_identity)) -> Response:
    """Store every data point of an OTLP metrics export (see :mod:`telescale.ingest.otlp` for the mapping)."""
    try:
        media = otlp.media_type(request.headers.get("content-type"))
        message = otlp.decode(raw_body(request), media, request.headers.get("content-encoding"),
                              request.app.state.settings.api.max_body_size)
    except otlp.OtlpError as e:
        raise ApiError(e.status, str(e)) from None
    decoded = otlp.to_series(message)
    if decoded.batches:
        ensure_resource_type(request, identity, resource_types.OTLP, resource_types.OTLP_ATTRIBUTES,
                             as_caller=False)
        write_series(request, identity, decoded.batches)
    return Response(otlp.encode_response(media, decoded.rejected, decoded.message), media_type=media)
