"""A slow indexer call never stalls the event loop: while every kind of /v1 request that touches the indexer
sits in a 2 s indexer call, a real uvicorn server (one worker) still answers /healthcheck at once.

Handlers that do SQL or file I/O must be plain ``def`` (run in the thread pool); an ``async def`` one would
hold the only event loop of the worker for the whole call, and every other request would wait behind it.
"""

from __future__ import annotations

import contextlib
import inspect
import json
import socket
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import anyio.to_thread
import httpx
import pytest
import uvicorn
from fastapi.routing import APIRoute

from telescale import config, service
from telescale.api.app import create_app
from telescale.drivers import Drivers
from tests.api.conftest import make_client
from tests.server import free_port

SLOW_S = 2.0
ADMIN = {"authorization": "basic YWRtaW46", "accept": "application/json"}
# Indexer methods made slow: between them, every route below spends 2 s in the indexer.
SLOW_METHODS = ("get_metrics", "list_resources", "delete_resources", "create_metric", "create_resource",
                "update_resource", "create_archive_policy", "create_archive_policy_rule", "create_resource_type",
                "update_resource_type", "update_archive_policy", "search_resource_metrics")


@contextlib.contextmanager
def serve(tmp_path: Path, threads: int | None = None) -> Iterator[tuple[str, Drivers]]:
    """A uvicorn server (one worker, in this process) on a fresh data dir, and its live services; ``threads``
    caps the thread pool the ``def`` handlers run in (default: AnyIO's 40)."""
    settings = config.load(environ={}, overrides=[f"storage.data_dir={json.dumps(str(tmp_path / 'data'))}",
                                                  "processing.workers=0"])
    service.upgrade(settings)
    services = Drivers.build(settings)
    app = create_app(settings, services)

    async def capped(scope: dict, receive: Any, send: Any) -> None:
        if scope["type"] == "lifespan" and threads is not None:
            anyio.to_thread.current_default_thread_limiter().total_tokens = threads
        await app(scope, receive, send)

    port = free_port()
    server = uvicorn.Server(uvicorn.Config(capped, host="127.0.0.1", port=port, workers=1,
                                           lifespan="on" if threads else "off", log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        assert time.monotonic() < deadline and thread.is_alive(), "uvicorn did not start"
        time.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{port}", services
    finally:
        server.should_exit = True
        thread.join(30)
        services.close()


@pytest.fixture
def live(tmp_path: Path) -> Iterator[tuple[str, Drivers]]:
    with serve(tmp_path) as running:
        yield running


class Waiting:
    """The threads currently inside a slow indexer call."""

    def __init__(self) -> None:
        self.threads: set[int] = set()
        self.lock = threading.Lock()

    def slow(self, original: Callable[..., Any]) -> Callable[..., Any]:
        def slow(*args: Any, **kwargs: Any) -> Any:
            with self.lock:
                self.threads.add(threading.get_ident())
            time.sleep(SLOW_S)
            return original(*args, **kwargs)

        return slow

    def wait_for(self, count: int, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while len(self.threads) < count and time.monotonic() < deadline:
            time.sleep(0.01)


def test_slow_indexer_calls_do_not_delay_healthcheck(live, monkeypatch) -> None:
    url, services = live
    with httpx.Client(base_url=url, headers=ADMIN, timeout=30) as c:
        rid, other = str(uuid.uuid4()), str(uuid.uuid4())
        for resource in (rid, other):
            r = c.post("/v1/resource/generic", json={"id": resource,
                                                      "metrics": {"cpu": {"archive_policy_name": "low"}}})
            assert r.status_code == 201, r.text
        mid = r.json()["metrics"]["cpu"]
        assert c.post("/v1/resource_type", json={"name": "box"}).status_code == 201
    measures = [{"timestamp": "2025-01-01T00:00:00Z", "value": 1.0}]
    requests: list[tuple[str, str, dict[str, Any], int]] = [
        ("POST", "/v1/batch/metrics/measures", {"json": {mid: measures}}, 202),
        ("POST", "/v1/batch/resources/metrics/measures", {"json": {other: {"cpu": measures}}}, 202),
        ("POST", f"/v1/metric/{mid}/measures", {"json": measures}, 202),
        ("GET", f"/v1/metric/{mid}/measures", {}, 200),
        ("POST", f"/v1/resource/generic/{other}/metric/cpu/measures", {"json": measures}, 202),
        ("POST", "/v1/metric", {"json": {"archive_policy_name": "low"}}, 201),
        ("POST", "/v1/resource/generic", {"json": {"id": str(uuid.uuid4())}}, 201),
        ("PATCH", f"/v1/resource/generic/{rid}", {"json": {"user_id": "someone"}}, 200),
        ("POST", f"/v1/resource/generic/{other}/metric", {"json": {"mem": {"archive_policy_name": "low"}}}, 200),
        ("POST", "/v1/search/resource/generic", {"json": {"=": {"id": rid}}}, 200),
        ("DELETE", "/v1/resource/generic", {"json": {"=": {"id": str(uuid.uuid4())}}}, 200),
        ("POST", "/v1/archive_policy", {"json": {"name": "slow", "definition": [{"granularity": "1s",
                                                                                "points": 10}]}}, 201),
        ("PATCH", "/v1/archive_policy/low", {"json": {"definition": [{"granularity": "5m", "timespan": "30d"}]}},
         200),
        ("POST", "/v1/archive_policy_rule", {"json": {"name": "r", "metric_pattern": "x*",
                                                      "archive_policy_name": "low"}}, 201),
        ("POST", "/v1/resource_type", {"json": {"name": "slowtype"}}, 201),
        ("PATCH", "/v1/resource_type/box", {"json": [{"op": "add", "path": "/attributes/a",
                                                      "value": {"type": "string", "required": False}}],
                                            "headers": {"content-type": "application/json-patch+json"}}, 200),
        ("POST", "/v1/aggregates", {"json": {"operations": ["metric", mid, "mean"]}}, 200),
        ("POST", "/v1/aggregates", {"json": {"operations": "(metric cpu mean)", "resource_type": "generic",
                                             "search": {"=": {"id": rid}}}}, 200),
        ("POST", "/v1/aggregation/metric", {"json": [mid]}, 200),
        ("POST", "/v1/aggregation/resource/generic/metric/cpu", {"json": {"=": {"id": rid}}}, 200),
        ("POST", f"/v1/search/metric?metric_id={mid}", {"json": {"=": 1}}, 200),
    ]
    waiting = Waiting()
    for name in SLOW_METHODS:
        monkeypatch.setattr(services.indexer, name, waiting.slow(getattr(services.indexer, name)))
    # One client for everything, made beforehand: the server runs in this process, so the client's own work
    # (it shares the GIL) must not be what delays the server.
    client = httpx.Client(base_url=url, timeout=60, limits=httpx.Limits(max_connections=len(requests) + 2))

    def send(spec: tuple[str, str, dict[str, Any], int]) -> tuple[str, int, int, str]:
        method, path, kwargs, expected = spec
        extra = dict(kwargs)
        r = client.request(method, path, headers={**ADMIN, **extra.pop("headers", {})}, **extra)
        return f"{method} {path}", expected, r.status_code, r.text[:200]

    with client, ThreadPoolExecutor(len(requests)) as pool:
        slow = [pool.submit(send, spec) for spec in requests]
        # Each request is served by its own worker thread once handlers run off the event loop; handlers
        # on the loop would all show as one thread, so this waits in vain and the check below fails.
        waiting.wait_for(len(requests), timeout=SLOW_S * 0.75)
        started = time.monotonic()
        health = client.get("/healthcheck")
        waited = time.monotonic() - started
        results = [f.result() for f in slow]
    assert health.status_code == 200
    assert waited < SLOW_S / 2, f"/healthcheck waited {waited:.2f} s behind a slow indexer call"
    assert [(name, got) for name, expected, got, _ in results if got != expected] == [], results


def test_slow_upload_holds_no_worker_thread(tmp_path: Path) -> None:
    """A client that sends a request's headers but its body only later does not hold a handler thread: with
    one thread in the pool, /healthcheck (a ``def`` handler too) still answers at once."""
    with serve(tmp_path, threads=1) as (url, _):
        port = int(url.rsplit(":", 1)[1])
        with socket.create_connection(("127.0.0.1", port)) as slow:
            slow.sendall(b"POST /v1/batch/metrics/measures HTTP/1.1\r\nHost: test\r\n"
                         b"Authorization: basic YWRtaW46\r\nContent-Type: application/json\r\n"
                         b"Content-Length: 2\r\n\r\n")
            time.sleep(0.3)  # the request is routed; its body has not arrived
            started = time.monotonic()
            health = httpx.get(f"{url}/healthcheck", timeout=10)
            waited = time.monotonic() - started
            slow.sendall(b"{}")
            answer = slow.recv(1024)
    assert health.status_code == 200
    assert waited < 1.0, f"/healthcheck waited {waited:.2f} s for the only thread"
    assert answer.startswith(b"HTTP/1.1 202"), answer


def _api_routes(routes: list[Any]) -> Iterator[APIRoute]:
    for route in routes:
        if isinstance(route, APIRoute):
            yield route
        included = getattr(route, "original_router", None)  # routers included as such by recent FastAPI
        if included is not None:
            yield from _api_routes(included.routes)


def test_no_v1_handler_runs_on_the_event_loop(tmp_path: Path) -> None:
    """Every /v1 route is a plain ``def`` (FastAPI runs it in the thread pool)."""
    with make_client(tmp_path) as client:
        routes = [r for r in _api_routes(client.app.routes) if r.path.startswith("/v1")]
        client.app.state.services.close()
    assert routes
    assert sorted(r.path for r in routes if inspect.iscoroutinefunction(r.endpoint)) == []
