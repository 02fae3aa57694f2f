"""Shared request helpers for routers: the services, the read path, bodies, URLs, negotiation and pagination.

Handlers that touch the indexer or storage are plain ``def`` (FastAPI runs them in its thread pool, so a slow
query never stalls the event loop); they read their body with :func:`json_body` / :func:`raw_body`, which
await it on the event loop from the worker thread.  Routers with such handlers add :func:`buffer_body`
(:func:`with_body`), so that a body of declared size is already in memory when the handler takes its thread:
a slow upload then never holds one of the pool's threads.
"""

from __future__ import annotations

import contextlib
from typing import TYPE_CHECKING, Any
from urllib.parse import quote, urlencode

from anyio import from_thread
from fastapi import Depends, Request
from starlette.requests import ClientDisconnect

from telescale.api.body import read_json, read_raw
from telescale.api.errors import ApiError
from telescale.api.jsonio import accepts_json

if TYPE_CHECKING:
    from telescale.drivers import Drivers
    from telescale.query.reader import Query


def services(request: Request) -> Drivers:
    return request.app.state.services


def query(request: Request) -> Query:
    """The app's read path (``Drivers.query``)."""
    return services(request).query


def refresh_timeout(request: Request, refresh: bool) -> float | None:
    """``api.refresh_timeout`` when the request asked for ``refresh``, else None (no refresh)."""
    return request.app.state.settings.api.refresh_timeout if refresh else None


async def buffer_body(request: Request) -> None:
    """Router dependency: read a body of declared, acceptable size on the event loop (Starlette keeps it on the
    request, where :func:`json_body` finds it).  Nothing is checked here, so the handler reports a bad body in
    its own order; a body without a length, or too long, is left to the handler's read."""
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and 0 < int(declared) <= request.app.state.settings.api.max_body_size:
        with contextlib.suppress(ClientDisconnect):
            await request.body()


def with_body(router_options: dict[str, Any]) -> dict[str, Any]:
    """``APIRouter`` options with :func:`buffer_body` added to their dependencies."""
    return {**router_options, "dependencies": [*router_options.get("dependencies", ()), Depends(buffer_body)]}


def json_body(request: Request, extra_types: tuple[str, ...] = ()) -> Any:
    """The JSON body (:func:`telescale.api.body.read_json`) from a ``def`` handler's worker thread."""
    return from_thread.run(read_json, request, extra_types)


def raw_body(request: Request) -> bytes:
    """The raw body (:func:`telescale.api.body.read_raw`) from a ``def`` handler's worker thread."""
    return from_thread.run(read_raw, request)


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
