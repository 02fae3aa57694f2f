"""A counting HTTP proxy for an S3 endpoint: forwards every request (method, path, query, headers, body) to the
real server and counts them by kind, so a bench can say how many S3 requests a piece of work cost.

Kinds (path-style addressing, ``/<bucket>[/<key>]``, which Telescale uses with an endpoint URL): ``GET``,
``PUT``, ``HEAD``, ``DELETE`` of an object; ``LIST`` (a GET of the bucket itself: ListObjects); ``DELETE`` also
counts a multi-object delete (``POST /<bucket>?delete``, one request); bucket-level HEAD/PUT/DELETE count as
``HEAD``/``PUT``/``DELETE``; anything else is ``OTHER``. ``bytes_up`` / ``bytes_down`` are the request and
response bodies.

    with CountingProxy("http://127.0.0.1:9000") as proxy:
        ... storage.s3_endpoint_url = proxy.url ...
        before = proxy.counts(); ...; after = proxy.counts()
"""

from __future__ import annotations

import contextlib
import socket
import threading
import urllib.parse
from collections import Counter
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Self

import httpx

KINDS = ("GET", "PUT", "HEAD", "DELETE", "LIST", "OTHER")
# Not forwarded either way: they describe one hop, not the request (the body is re-framed with a length).
_HOP = frozenset({"connection", "keep-alive", "proxy-connection", "transfer-encoding", "te", "trailer", "upgrade",
                  "expect", "content-length"})
_RESPONSE_OWN = _HOP | {"server", "date"}  # http.server writes its own


def kind_of(method: str, target: str) -> str:
    """The kind a request counts as (see the module docstring)."""
    parts = urllib.parse.urlsplit(target)
    key = parts.path.lstrip("/").partition("/")[2]
    query = urllib.parse.parse_qs(parts.query, keep_blank_values=True)
    if method == "POST" and "delete" in query:
        return "DELETE"
    if not key and method == "GET":
        return "LIST"
    return method if method in KINDS else "OTHER"


class CountingProxy:
    """A threaded HTTP server on a free loopback port forwarding to ``upstream``, counting what it forwards."""

    def __init__(self, upstream: str, host: str = "127.0.0.1") -> None:
        self.upstream = upstream.rstrip("/")
        self._counts: Counter[str] = Counter()
        self._lock = threading.Lock()
        self._client = httpx.Client(base_url=self.upstream, timeout=httpx.Timeout(60.0, connect=5.0),
                                    limits=httpx.Limits(max_connections=200, max_keepalive_connections=50))
        self._server = ThreadingHTTPServer((host, 0), self._handler_class())
        self._server.daemon_threads = True
        self.url = f"http://{host}:{self._server.server_address[1]}"
        self._thread = threading.Thread(target=self._server.serve_forever, name="s3-counting-proxy", daemon=True)

    def __enter__(self) -> Self:
        self._thread.start()
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()

    def close(self) -> None:
        """Stop serving and close the upstream connections."""
        with contextlib.suppress(Exception):
            self._server.shutdown()
        self._server.server_close()
        self._client.close()

    def counts(self) -> dict[str, int]:
        """A copy of the counters so far: every kind, ``total``, ``bytes_up``, ``bytes_down``."""
        with self._lock:
            out = {k: self._counts[k] for k in KINDS}
            out["total"] = sum(out.values())
            out["bytes_up"] = self._counts["bytes_up"]
            out["bytes_down"] = self._counts["bytes_down"]
        return out

    def _count(self, kind: str, up: int, down: int) -> None:
        with self._lock:
            self._counts[kind] += 1
            self._counts["bytes_up"] += up
            self._counts["bytes_down"] += down

    def _handler_class(self) -> type[BaseHTTPRequestHandler]:
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"  # keep-alive, and "Expect: 100-continue" answered before the body

            def setup(self) -> None:
                super().setup()
                # headers and body go out in two writes: without this, Nagle + delayed ACK add ~40 ms a response
                self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

            def log_message(self, format: str, *args: object) -> None:  # noqa: A002 - the base class's name
                pass

            def _body(self) -> bytes:
                if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
                    out = bytearray()
                    while True:
                        size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
                        if size == 0:
                            while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                                pass  # trailers
                            return bytes(out)
                        out += self.rfile.read(size)
                        self.rfile.readline()
                length = int(self.headers.get("Content-Length") or 0)
                return self.rfile.read(length) if length else b""

            def _forward(self) -> None:
                body = self._body()
                headers = [(k, v) for k, v in self.headers.items() if k.lower() not in _HOP]
                try:
                    req = proxy._client.build_request(self.command, self.path, headers=headers, content=body)
                    resp = proxy._client.send(req, stream=True)
                    try:
                        data = b"".join(resp.iter_raw())
                    finally:
                        resp.close()
                except httpx.HTTPError as e:
                    msg = f"counting proxy: upstream {proxy.upstream} failed: {e}".encode()
                    self.send_response(502)
                    self.send_header("Content-Type", "text/plain")
                    self.send_header("Content-Length", str(len(msg)))
                    self.end_headers()
                    self.wfile.write(msg)
                    return
                proxy._count(kind_of(self.command, self.path), len(body), len(data))
                self.send_response(resp.status_code)
                for k, v in resp.headers.multi_items():
                    if k.lower() not in _RESPONSE_OWN:
                        self.send_header(k, v)
                if self.command == "HEAD":  # no body: the length is the object's, as upstream said
                    if "content-length" in resp.headers:
                        self.send_header("Content-Length", resp.headers["content-length"])
                else:
                    self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                if self.command != "HEAD" and data:
                    self.wfile.write(data)

            do_GET = do_PUT = do_HEAD = do_DELETE = do_POST = _forward  # noqa: N815 - http.server's names

        return Handler
