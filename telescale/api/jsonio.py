"""JSON in and out: content negotiation, body decoding with limits, and rendering.

Bodies are decoded with orjson straight from bytes.  Responses use the standard library's spacing
(`", "`, `": "`) like Gnocchi, because some clients and the upstream tests match on it; the measure
read path renders with orjson instead (see `fast_json_response`).
"""

from __future__ import annotations

import json
from typing import Any

import orjson
from fastapi import Request
from fastapi.responses import Response

JSON_TYPE = "application/json"


def dumps(body: Any) -> bytes:
    return json.dumps(body, ensure_ascii=False, allow_nan=False, default=_default).encode()


def _default(value: Any) -> Any:
    if hasattr(value, "isoformat"):
        return value.isoformat()
    return str(value)


def json_response(body: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    return Response(dumps(body), status_code=status, media_type=JSON_TYPE, headers=headers)


def fast_json_response(body: Any, status: int = 200) -> Response:
    """Large arrays of numbers: orjson, compact."""
    return Response(orjson.dumps(body), status_code=status, media_type=JSON_TYPE)


def names_json(accept: str | None) -> bool:
    """The client asked for JSON by name: only then do errors and 202s carry Telescale's JSON bodies, since
    Gnocchi answers plain-text errors and empty 202s, and clients that do not ask may depend on that."""
    return bool(accept) and ("application/json" in accept or "+json" in accept)  # type: ignore[operator]


def accepts_json(request: Request) -> bool:
    """True when the Accept header allows JSON (absent, */*, application/*, application/json)."""
    accept = request.headers.get("accept")
    if not accept:
        return True
    for part in accept.split(","):
        media = part.split(";")[0].strip().lower()
        if media in ("*/*", "application/*", JSON_TYPE) or media.endswith("+json"):
            return True
    return False


def is_json_content(request: Request, extra_types: tuple[str, ...] = ()) -> bool:
    ctype = request.headers.get("content-type", "").split(";")[0].strip().lower()
    return ctype == JSON_TYPE or ctype in extra_types
