"""`/v1/silence`: autohealing leaves alone the members whose name matches an active silence (until it
expires), e.g. during planned maintenance."""

from __future__ import annotations

import uuid

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response

from telescale.api.auth import Identity, get_identity
from telescale.api.deps import json_body, url_for, with_body
from telescale.api.errors import bad_request, not_found
from telescale.api.jsonio import json_response
from telescale.api.openapi import JSON_ONLY, doc
from telescale.api.routers.scaling_group import caller_project, indexer, load_group
from telescale.indexer import errors
from telescale.indexer.engine import utcnow
from telescale.scaling.definitions import build_silence
from telescale.scaling.views import silence_view

router = APIRouter(prefix="/v1/silence", tags=["scaling groups"], **with_body(JSON_ONLY))


def _id(silence_id: str) -> uuid.UUID:
    try:
        return uuid.UUID(silence_id)
    except ValueError:
        raise not_found(f"Silence {silence_id} does not exist") from None


@router.post("", **doc(body="SilenceCreate", status=201, returns="Silence", headers=("Location",), errors=(404,)))
def create_silence(request: Request, identity: Identity = Depends(get_identity)) -> Response:
    try:
        silence = build_silence(json_body(request), project_id=identity.project, created_by=identity.user,
                                now=utcnow())
    except ValueError as e:
        raise bad_request(str(e)) from None
    if silence.group_id is not None:
        load_group(request, identity, str(silence.group_id))  # 404 unless the caller sees the group
    silence = indexer(request).create_silence(silence)
    return json_response(silence_view(silence), status=201,
                         headers={"Location": url_for(request, "v1", "silence", str(silence.id))})


@router.get("", **doc(returns="SilenceList"))
def list_silences(request: Request, identity: Identity = Depends(get_identity)) -> Response:
    """The silences still in force."""
    silences = indexer(request).list_silences(caller_project(identity), active_at=utcnow())
    return json_response([silence_view(s) for s in silences])


@router.get("/{silence_id}", **doc(returns="Silence", errors=(404,)))
def get_silence(silence_id: str, request: Request, identity: Identity = Depends(get_identity)) -> Response:
    try:
        return json_response(silence_view(indexer(request).get_silence(_id(silence_id), caller_project(identity))))
    except errors.NoSuchSilence:
        raise not_found(f"Silence {silence_id} does not exist") from None


@router.delete("/{silence_id}", **doc(status=204, errors=(404,)))
def delete_silence(silence_id: str, request: Request, identity: Identity = Depends(get_identity)) -> Response:
    try:
        indexer(request).delete_silence(_id(silence_id), caller_project(identity))
    except errors.NoSuchSilence:
        raise not_found(f"Silence {silence_id} does not exist") from None
    return Response(status_code=204)
