"""Delivery end to end from the settings: one dispatcher loop, many receivers at once (a uvicorn one that
fails twice, fast, slow, dead, refusing, behind a Keystone trust) and every attempt reported."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Iterator

import pytest
import uvicorn

from telescale import config
from telescale.alarming.notifiers import Dispatcher
from tests.notifier_peers import Keystone, MemoryOutbox, Receiver, refused_port
from tests.server import free_port

TRUST = "d2f0c6b1a9e84f3b8f7e6a5d4c3b2a19"


class FlakyApp:
    """An ASGI receiver: 503 for the first two POSTs, 200 after; it keeps connections alive."""

    def __init__(self) -> None:
        self.statuses: list[int] = []
        self.bodies: list[bytes] = []

    async def __call__(self, scope, receive, send) -> None:  # noqa: ANN001 (the ASGI signature)
        if scope["type"] != "http":
            return
        body, more = b"", True
        while more:
            message = await receive()
            body, more = body + message.get("body", b""), message.get("more_body", False)
        status = 503 if len(self.statuses) < 2 else 200
        self.statuses.append(status)
        self.bodies.append(body)
        await send({"type": "http.response.start", "status": status, "headers": [(b"content-length", b"0")]})
        await send({"type": "http.response.body", "body": b""})


@pytest.fixture
def flaky() -> Iterator[tuple[FlakyApp, str]]:
    app, port = FlakyApp(), free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="off"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.01)
    assert server.started, "uvicorn receiver did not start"
    yield app, f"http://127.0.0.1:{port}"
    server.should_exit = True
    thread.join(10)


def _outcomes(outbox: MemoryOutbox, nid: int) -> list[tuple[bool, int | None]]:
    return [(a.ok, a.status) for a in outbox.attempts(nid)]


def test_one_loop_delivers_to_every_kind_of_receiver(flaky: tuple[FlakyApp, str]) -> None:
    app, flaky_url = flaky
    outbox, stop = MemoryOutbox(), threading.Event()
    with Keystone({"aodh": "pw"}, {TRUST}) as keystone, Receiver() as fast, Receiver(hold=True) as slow, \
            Receiver((404,)) as missing, Receiver() as trusted, refused_port() as dead_port:
        settings = config.load(environ={}, overrides=[
            "alarming.webhook_allowed_networks=['127.0.0.0/8']", "alarming.notifier_timeout=2.0",
            "alarming.notifier_backoff=0.05", "alarming.notifier_max_attempts=3",
            f"service_credentials.auth_url={keystone.url}/v3", "service_credentials.username=aodh",
            "service_credentials.password=pw"])
        ids = {
            "slow": outbox.add(f"{slow.url}/slow"),
            "flaky": outbox.add(f"{flaky_url}/flaky"),
            "fast": outbox.add(f"{fast.url}/fast"),
            "dead": outbox.add(f"http://127.0.0.1:{dead_port}/dead"),
            "missing": outbox.add(f"{missing.url}/missing"),
            "trusted": outbox.add(trusted.url.replace("http://", "trust+http://") + "/signal", trust_id=TRUST),
            "log": outbox.add("log://"),
            "internal": outbox.add("telescale://scaling/policy-1"),
        }
        dispatcher = Dispatcher.from_settings(outbox, settings, poll_interval=0.05)
        worker = threading.Thread(target=asyncio.run, args=(dispatcher.run(stop),))
        worker.start()
        deadline = time.monotonic() + 60
        while not outbox.settled() and time.monotonic() < deadline:
            time.sleep(0.05)
        stop.set()
        worker.join(20)
        assert not worker.is_alive() and outbox.settled()
        slow.release()

        assert _outcomes(outbox, ids["flaky"]) == [(False, 503), (False, 503), (True, 200)]
        assert app.statuses == [503, 503, 200] and len(set(app.bodies)) == 1  # exactly one successful delivery
        assert _outcomes(outbox, ids["fast"]) == [(True, 200)] and len(fast.requests) == 1
        assert [a.error for a in outbox.attempts(ids["slow"])] == ["not delivered within 2 s "
                                                                  "(alarming.notifier_timeout)"] * 3
        assert len(slow.requests) == 3
        dead = outbox.attempts(ids["dead"])
        assert len(dead) == 3 and all("cannot connect" in (a.error or "") for a in dead)
        assert _outcomes(outbox, ids["missing"]) == [(False, 404)] and len(missing.requests) == 1
        assert _outcomes(outbox, ids["trusted"]) == [(True, 200)]
        assert trusted.requests[0].header("x-auth-token") in keystone.issued
        assert _outcomes(outbox, ids["log"]) == [(True, None)]
        assert outbox.attempts(ids["internal"])[0].error.startswith("no handler for internal actions")
    # All were claimed together and delivered side by side: everything but the slow receiver's retries was
    # reported before its first attempt timed out.
    assert outbox.claims[0] == list(ids.values())
    first_slow = outbox.reports.index(ids["slow"])
    assert {ids["fast"], ids["missing"], ids["trusted"], ids["log"]} <= set(outbox.reports[:first_slow])


def test_the_allow_list_setting_reaches_the_dispatcher() -> None:
    outbox = MemoryOutbox()
    with Receiver() as receiver:
        refused = outbox.add(receiver.url)
        settings = config.load(environ={}, overrides=["alarming.notifier_backoff=0"])

        async def once() -> None:
            async with Dispatcher.from_settings(outbox, settings) as dispatcher:
                await dispatcher.run_once()

        asyncio.run(once())
        assert receiver.requests == []
    assert "127.0.0.1 is a loopback address" in (outbox.attempts(refused)[0].error or "")
