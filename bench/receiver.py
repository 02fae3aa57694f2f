"""A webhook receiver on loopback that records when each alarm notification arrived (for alarm benchmarks)."""

from __future__ import annotations

import http.server
import json
import queue
import threading
import time
from dataclasses import dataclass

from bench import common


@dataclass(frozen=True)
class Delivery:
    at: float  # time.time() when the request was read
    body: dict


class Receiver:
    """``with Receiver() as r:`` → ``r.url``; ``r.wait(predicate, timeout)`` returns the first matching delivery."""

    def __init__(self) -> None:
        self.deliveries: queue.Queue[Delivery] = queue.Queue()
        received = self.deliveries

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 - http.server's naming
                raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                at = time.time()
                try:
                    body = json.loads(raw or b"{}")
                except ValueError:
                    body = {"raw": raw.decode(errors="replace")}
                received.put(Delivery(at, body))
                self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: object) -> None:
                pass

        self.server = http.server.ThreadingHTTPServer((common.LOOPBACK, 0), Handler)
        self.url = f"http://{common.LOOPBACK}:{self.server.server_address[1]}/hook"
        self.thread = threading.Thread(target=self.server.serve_forever, name="receiver", daemon=True)

    def __enter__(self) -> Receiver:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()

    def wait(self, predicate, timeout_s: float) -> Delivery | None:
        """The first delivery (from now on, earlier ones are dropped) for which ``predicate(body)`` holds."""
        deadline = time.monotonic() + timeout_s
        while (left := deadline - time.monotonic()) > 0:
            try:
                d = self.deliveries.get(timeout=left)
            except queue.Empty:
                return None
            if predicate(d.body):
                return d
        return None

    def drain(self) -> None:
        while True:
            try:
                self.deliveries.get_nowait()
            except queue.Empty:
                return
