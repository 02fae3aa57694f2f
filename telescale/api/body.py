"""Reading a request body as JSON: media type (415), size (413) and syntax (400) checked in that order."""

from __future__ import annotations

from typing import Any

import orjson
from fastapi import Request

from telescale.api.errors import ApiError
from telescale.api.jsonio import is_json_content


async def read_raw(request: Request) -> bytes:
    limit: int = request.app.state.settings.api.max_body_size
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > limit:
        raise ApiError(413, f"Request body is larger than the {limit} bytes allowed")
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise ApiError(413, f"Request body is larger than the {limit} bytes allowed")
        chunks.append(chunk)
    return b"".join(chunks)


def require_json_content(request: Request, extra_types: tuple[str, ...] = ()) -> None:
    """415 when the request does not say its body is JSON."""
    if not is_json_content(request, extra_types):
        raise ApiError(415, "Unsupported Media Type")


def decode_json(raw: bytes) -> Any:
    """A body's bytes as JSON (None when empty); 400 naming the syntax error."""
    try:
        return orjson.loads(raw) if raw else None
    except orjson.JSONDecodeError as e:
        raise ApiError(400, f"Unable to decode body: {e}") from None


async def read_json(request: Request, extra_types: tuple[str, ...] = ()) -> Any:
    """The decoded JSON body; 415 when the request does not say it is JSON."""
    require_json_content(request, extra_types)
    return decode_json(await read_raw(request))
