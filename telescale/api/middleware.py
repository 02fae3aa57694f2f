"""ASGI middleware: proxy headers, CORS and repeated slashes.

Proxy headers: behind a load balancer the URLs we return (Location, Link, version links) must use the
address the client used.  RFC 7239 `Forwarded` wins over `X-Forwarded-Proto/Host/Prefix`.

CORS follows oslo.middleware's behaviour that Gnocchi deploys: a request from an origin that is not
allowed passes through untouched (no CORS headers at all), and a preflight from an allowed origin
answers with exactly the method it asked for.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from starlette.datastructures import Headers, MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

_SLASHES = re.compile("/{2,}")
_RAW_SLASHES = re.compile(b"/{2,}")
CORS_METHODS = ("GET", "PUT", "POST", "DELETE", "PATCH", "HEAD", "OPTIONS")
CORS_EXPOSE = ("Location", "Link", "ETag", "Last-Modified", "Content-Length")


def _parse_forwarded(value: str) -> dict[str, str]:
    """The first element of a `Forwarded` header as a dict of lower-cased keys."""
    first = value.split(",")[0]
    pairs: dict[str, str] = {}
    for part in first.split(";"):
        key, sep, val = part.partition("=")
        if sep:
            pairs[key.strip().lower()] = val.strip().strip('"')
    return pairs


class ProxyHeadersMiddleware:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            headers = Headers(scope=scope)
            forwarded = _parse_forwarded(headers.get("forwarded", ""))
            proto = forwarded.get("proto") or headers.get("x-forwarded-proto")
            host = forwarded.get("host") or headers.get("x-forwarded-host")
            prefix = headers.get("x-forwarded-prefix")
            if proto or host or prefix:
                scope = dict(scope)
                if proto in ("http", "https"):
                    scope["scheme"] = proto
                if host:
                    raw = [(k, v) for k, v in scope["headers"] if k != b"host"]
                    raw.append((b"host", host.encode("latin-1")))
                    scope["headers"] = raw
                if prefix:
                    scope["root_path"] = prefix.rstrip("/")
        await self.app(scope, receive, send)


class SlashesMiddleware:
    """Treat runs of slashes in the path as one (``/v1/archive_policy//low``), as Gnocchi's router does.

    gnocchiclient 7.2 builds some URLs with a doubled slash; without this they would be 404s.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and "//" in scope["path"]:
            scope = dict(scope, path=_SLASHES.sub("/", scope["path"]))
            if scope.get("raw_path"):
                scope["raw_path"] = _RAW_SLASHES.sub(b"/", scope["raw_path"])
        await self.app(scope, receive, send)


class CORSMiddleware:
    def __init__(self, app: ASGIApp, allowed_origins: Sequence[str]) -> None:
        self.app = app
        self.allowed = set(allowed_origins)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = Headers(scope=scope)
        origin = headers.get("origin")
        allowed = bool(origin) and ("*" in self.allowed or origin in self.allowed)
        requested = headers.get("access-control-request-method")
        if scope["method"] == "OPTIONS" and requested and origin:
            await self._preflight(origin if allowed else None, requested, headers, send)
            return
        if not allowed:
            await self.app(scope, receive, send)
            return

        async def send_with_cors(message: Message) -> None:
            if message["type"] == "http.response.start":
                out = MutableHeaders(scope=message)
                out["Access-Control-Allow-Origin"] = origin
                out["Access-Control-Expose-Headers"] = ", ".join(CORS_EXPOSE)
                out.add_vary_header("Origin")
            await send(message)

        await self.app(scope, receive, send_with_cors)

    async def _preflight(self, origin: str | None, requested: str, headers: Headers, send: Send) -> None:
        """Answer a preflight; an origin that is not allowed gets a plain 200 without CORS headers."""
        out: list[tuple[bytes, bytes]] = [(b"content-length", b"0"), (b"vary", b"Origin")]
        if origin and requested.upper() in CORS_METHODS:
            out += [
                (b"access-control-allow-origin", origin.encode()),
                (b"access-control-allow-methods", requested.upper().encode()),
            ]
            asked = headers.get("access-control-request-headers")
            if asked:
                out.append((b"access-control-allow-headers", asked.encode()))
        await send({"type": "http.response.start", "status": 200, "headers": out})
        await send({"type": "http.response.body", "body": b""})
