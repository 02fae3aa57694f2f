"""Shared request helpers for routers: the services, URLs, negotiation and pagination."""

from __future__ import annotations

from typing import TYPE_CHECKING
from urllib.parse import quote, urlencode

from fastapi import Request

from telescale.api.errors import ApiError
from telescale.api.jsonio import accepts_json

if TYPE_CHECKING:
    from telescale.service import Services


def services(request: Request) -> Services:
    return request.app.state.services


def base_url(request: Request) -> str:
    """Scheme, host and mount prefix as the client sees them (after proxy headers)."""
    scheme = request.url.scheme
    host = request.headers.get("host") or request.url.netloc
    return f"{scheme}://{host}{request.scope.get('root_path', '')}"


def url_for(request: Request, *parts: str) -> str:
    return base_url(request) + "/" + "/".join(quote(str(p), safe="") for p in parts)


async def require_json_accept(request: Request) -> None:
    """Router dependency: 406 when the client cannot take JSON (async: no thread hop)."""
    if not accepts_json(request):
        raise ApiError(406, "Not Acceptable: only application/json is available")


def next_link(request: Request, marker: str) -> str:
    """A `Link` header value pointing at the page after `marker`, query keys sorted as Gnocchi does."""
    params = [(k, v) for k, v in request.query_params.multi_items() if k != "marker"]
    params.append(("marker", marker))
    params.sort(key=lambda kv: kv[0])
    return f'<{base_url(request)}{request.url.path}?{urlencode(params)}>; rel="next"'


def page_limit(request: Request, raw: str | None) -> int:
    """The page size asked for, capped by api.max_limit; 400 for anything that is not a positive integer."""
    max_limit: int = request.app.state.settings.api.max_limit
    if raw is None:
        return max_limit
    try:
        limit = int(raw)
    except ValueError:
        limit = 0
    if limit <= 0:
        raise ApiError(400, {"cause": "Argument value error", "reason": "Invalid value for limit",
                             "detail": "limit"})
    return min(limit, max_limit)
