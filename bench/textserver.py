"""A plain-text HTTP server on a free loopback port, answering GETs from a function: the exporters that the
agent benchmark and the agent tests scrape."""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

EXPOSITION = "text/plain; version=0.0.4"  # Prometheus' text exposition format


def text_server(answer: Callable[[str], tuple[int, bytes]], content_type: str = EXPOSITION) -> ThreadingHTTPServer:
    """A server (not yet serving: run its ``serve_forever`` in a thread) whose GET of a path answers
    ``answer(path)`` = (status, body)."""

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 — http.server's name
            status, body = answer(self.path)
            with contextlib.suppress(OSError):  # a scraper that stopped mid-request
                self.send_response(status)
                self.send_header("Content-Type", content_type)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    return ThreadingHTTPServer(("127.0.0.1", 0), Handler)
