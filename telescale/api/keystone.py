"""``keystone`` auth mode: keystonemiddleware's auth_token filter in front of the ASGI application.

keystonemiddleware is a WSGI filter; rather than bridging every request body through WSGI, this
middleware hands it only the request line and headers (all a token check reads), in a worker thread
since validation may call Keystone.  If the filter lets the request through, the headers it set
(``X-User-Id``, ``X-Project-Id``, ``X-Roles`` …) and removed (any forged by the client) are carried
into the ASGI request; if it refuses, its own answer (401 with ``WWW-Authenticate``) is sent as is.
``/`` and ``/healthcheck`` stay open, as in Gnocchi's keystone pipeline, and so do the API's description,
``/docs`` and the pre-signed scaling signals (their token is the credential). Options come from the
``[keystone_authtoken]`` settings section, as keystonemiddleware documents them.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from keystonemiddleware import auth_token
from starlette.concurrency import run_in_threadpool
from starlette.types import ASGIApp, Receive, Scope, Send

from telescale.api.openapi import is_public_doc
from telescale.scaling.tokens import SIGNAL_PREFIX

OPEN_PATHS = frozenset({"/", "/healthcheck"})
_PASSED = "telescale.keystone.passed"


def _wsgi_key(name: str) -> str:
    key = name.upper().replace("-", "_")
    return key if key in ("CONTENT_TYPE", "CONTENT_LENGTH") else "HTTP_" + key


def _environ(scope: Scope) -> dict[str, Any]:
    server = scope.get("server") or ("localhost", 80)
    environ: dict[str, Any] = {
        "REQUEST_METHOD": scope["method"], "SCRIPT_NAME": scope.get("root_path", ""), "PATH_INFO": scope["path"],
        "QUERY_STRING": scope.get("query_string", b"").decode("latin-1"), "SERVER_NAME": str(server[0]),
        "SERVER_PORT": str(server[1]), "SERVER_PROTOCOL": "HTTP/" + scope.get("http_version", "1.1"),
        "wsgi.url_scheme": scope.get("scheme", "http"), "wsgi.input": None, "wsgi.errors": None,
    }
    for raw_name, raw_value in scope["headers"]:
        key, value = _wsgi_key(raw_name.decode("latin-1")), raw_value.decode("latin-1")
        environ[key] = f"{environ[key]},{value}" if key in environ else value
    return environ


def carried_headers(original: Iterable[tuple[bytes, bytes]], before: Mapping[str, Any],
                    after: Mapping[str, Any]) -> list[tuple[bytes, bytes]]:
    """The ASGI headers once the filter's removals and additions (``before`` → ``after``) are applied."""
    keys = [(n, v, _wsgi_key(n.decode("latin-1"))) for n, v in original]
    headers = [(n, v) for n, v, key in keys if after.get(key) == before.get(key)]
    for key, value in after.items():
        if key.startswith("HTTP_") and isinstance(value, str) and before.get(key) != value:
            headers.append((key[5:].replace("_", "-").lower().encode("latin-1"), value.encode("latin-1")))
    return headers


class KeystoneMiddleware:
    def __init__(self, app: ASGIApp, conf: Mapping[str, Any]) -> None:
        self.app = app
        self._filter = auth_token.AuthProtocol(self._accept, {k: str(v) for k, v in conf.items()})

    @staticmethod
    def _accept(environ: dict[str, Any], start_response: Any) -> list[bytes]:
        environ[_PASSED] = dict(environ)
        start_response("204 No Content", [])
        return []

    def _check(self, environ: dict[str, Any]) -> tuple[dict[str, Any] | None, tuple[int, list, bytes]]:
        answer: dict[str, Any] = {}

        def start_response(status: str, headers: list, exc_info: Any = None) -> None:
            answer.update(status=int(status.split()[0]), headers=headers)

        body = b"".join(self._filter(environ, start_response))
        return environ.get(_PASSED), (answer.get("status", 500), answer.get("headers", []), body)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path = scope.get("path", "")
        if scope["type"] != "http" or path in OPEN_PATHS or is_public_doc(path) or path.startswith(SIGNAL_PREFIX):
            await self.app(scope, receive, send)
            return
        before = _environ(scope)
        passed, (status, headers, body) = await run_in_threadpool(self._check, dict(before))
        if passed is not None:
            scope = dict(scope, headers=carried_headers(scope["headers"], before, passed))
            await self.app(scope, receive, send)
            return
        await send({"type": "http.response.start", "status": status,
                    "headers": [(k.lower().encode("latin-1"), str(v).encode("latin-1")) for k, v in headers]})
        await send({"type": "http.response.body", "body": body})
