"""The dispatcher's reliability: retries with backoff on 5xx and connection errors, 4xx final, timeouts,
concurrency (a slow receiver never holds up another), and the non-HTTP actions."""

from __future__ import annotations

import asyncio
import logging
import random
import threading
import time
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

import pytest

from telescale.alarming.notifiers import ActionRegistry, DeliveryFailed, Dispatcher
from telescale.alarming.notifiers.dispatcher import MAX_BACKOFF
from tests.notifier_peers import PAYLOAD, MemoryOutbox, Receiver, refused_port, run_once


def _outcomes(outbox: MemoryOutbox, nid: int) -> list[tuple[bool, int | None]]:
    return [(a.ok, a.status) for a in outbox.attempts(nid)]


def test_a_receiver_failing_twice_gets_one_successful_delivery_after_three_attempts() -> None:
    outbox = MemoryOutbox()
    with Receiver((503, 503)) as receiver:
        nid = outbox.add(f"{receiver.url}/hook")
        for _ in range(3):
            assert run_once(outbox) == 1
        assert run_once(outbox) == 0  # delivered: nothing is due any more
        assert receiver.answered == [503, 503, 200]
    assert _outcomes(outbox, nid) == [(False, 503), (False, 503), (True, 200)]
    assert len(outbox.retry_times(nid)) == 2 and outbox.done(nid)
    assert "503 Service Unavailable (will retry)" in (outbox.attempts(nid)[0].error or "")


@pytest.mark.parametrize("status", [400, 401, 403, 404, 410])
def test_a_4xx_is_final(status: int) -> None:
    outbox = MemoryOutbox()
    with Receiver((status,)) as receiver:
        nid = outbox.add(receiver.url)
        run_once(outbox)
        assert run_once(outbox) == 0
        assert len(receiver.requests) == 1
    (attempt,) = outbox.attempts(nid)
    assert (attempt.ok, attempt.status) == (False, status) and "not retried" in (attempt.error or "")
    assert outbox.done(nid)


def test_429_too_many_requests_is_retried() -> None:
    outbox = MemoryOutbox()
    with Receiver((429,)) as receiver:
        nid = outbox.add(receiver.url)
        run_once(outbox)
        run_once(outbox)
    assert _outcomes(outbox, nid) == [(False, 429), (True, 200)]


def test_connection_refused_is_retried_until_the_receiver_is_up() -> None:
    outbox = MemoryOutbox()
    with refused_port() as port:
        nid = outbox.add(f"http://127.0.0.1:{port}/hook")
        run_once(outbox)
        (failed,) = outbox.attempts(nid)
        assert not failed.ok and failed.status is None and f"cannot connect to 127.0.0.1 port {port}" in failed.error
        assert not outbox.done(nid)
        with Receiver(port=port) as receiver:
            run_once(outbox)
            receiver.wait_for(1)
    assert _outcomes(outbox, nid) == [(False, None), (True, 200)]


def test_attempts_stop_at_notifier_max_attempts() -> None:
    outbox = MemoryOutbox()
    with Receiver((500, 502, 504, 500)) as receiver:
        nid = outbox.add(receiver.url)
        for _ in range(3):
            run_once(outbox, max_attempts=3)
        assert run_once(outbox, max_attempts=3) == 0
        assert len(receiver.requests) == 3
    assert _outcomes(outbox, nid) == [(False, 500), (False, 502), (False, 504)]
    assert len(outbox.retry_times(nid)) == 2 and outbox.done(nid)  # the third failure gives up


def test_retries_back_off_exponentially_with_jitter() -> None:
    dispatcher = Dispatcher(MemoryOutbox(), backoff=2.0, rng=random.Random(7))
    for n in range(1, 8):
        base = 2.0 * 2 ** (n - 1)
        assert base <= dispatcher.retry_delay(n) < 1.5 * base
    delays = {Dispatcher(MemoryOutbox(), backoff=2.0, rng=random.Random(seed)).retry_delay(3) for seed in range(5)}
    assert len(delays) == 5  # spread out, so receivers that failed together are not retried together
    assert MAX_BACKOFF <= dispatcher.retry_delay(200) < 1.5 * MAX_BACKOFF


def test_the_next_attempt_is_scheduled_after_the_backoff() -> None:
    outbox = MemoryOutbox()
    with Receiver((503,)) as receiver:
        nid = outbox.add(receiver.url)
        before = datetime.now(UTC)
        run_once(outbox, backoff=30.0)
        assert run_once(outbox, backoff=30.0) == 0  # not due yet
        receiver.wait_for(1)
    (at,) = outbox.retry_times(nid)
    assert 30 <= (at - before).total_seconds() < 46


def test_a_receiver_slower_than_the_timeout_fails_the_attempt_and_is_retried() -> None:
    outbox = MemoryOutbox()
    with Receiver(hold=True) as receiver:
        nid = outbox.add(receiver.url)
        run_once(outbox, timeout=0.3)
    (attempt,) = outbox.attempts(nid)
    assert not attempt.ok and "within 0.3 s" in (attempt.error or "")
    assert not outbox.done(nid) and len(outbox.retry_times(nid)) == 1


def test_a_slow_receiver_does_not_hold_up_a_fast_one() -> None:
    outbox = MemoryOutbox()
    with Receiver(hold=True) as slow, Receiver() as fast:
        slow_id = outbox.add(slow.url)  # claimed first
        fast_id = outbox.add(fast.url)
        worker = threading.Thread(target=run_once, args=(outbox,), kwargs={"timeout": 60.0})
        worker.start()
        slow.wait_for(1)
        deadline = time.monotonic() + 20
        while not outbox.done(fast_id) and time.monotonic() < deadline:
            time.sleep(0.01)
        assert outbox.done(fast_id) and _outcomes(outbox, fast_id) == [(True, 200)]
        assert slow.answered == [] and not outbox.done(slow_id)  # still waiting on the slow one
        slow.release()
        worker.join(20)
    assert outbox.claims[0] == [slow_id, fast_id]  # both were claimed and delivered side by side
    assert _outcomes(outbox, slow_id) == [(True, 200)]


def test_log_actions_are_logged_at_info(caplog: pytest.LogCaptureFixture) -> None:
    outbox = MemoryOutbox()
    nid = outbox.add("log://")
    with caplog.at_level(logging.INFO, logger="telescale.alarming.notifiers.log"):
        run_once(outbox)
    (attempt,) = outbox.attempts(nid)
    assert (attempt.ok, attempt.status, attempt.url) == (True, None, "log://")
    (record,) = [r for r in caplog.records if r.name == "telescale.alarming.notifiers.log"]
    assert record.levelno == logging.INFO
    message = record.getMessage()
    assert all(part in message for part in ("cpu_hi", "low", "from ok to alarm", PAYLOAD["reason"]))


def test_internal_actions_go_to_the_registered_handler() -> None:
    calls: list[tuple[str, Mapping[str, Any]]] = []

    async def scale(target: str, body: Mapping[str, Any]) -> None:
        calls.append((target, body))

    actions = ActionRegistry()
    actions.register("scaling", scale)
    outbox = MemoryOutbox()
    nid = outbox.add("telescale://scaling/5d0a7c1e-policy")
    run_once(outbox, actions=actions)
    (attempt,) = outbox.attempts(nid)
    assert attempt.ok and attempt.url == "telescale://scaling/5d0a7c1e-policy"
    ((target, body),) = calls
    assert target == "5d0a7c1e-policy" and body["current"] == "alarm" and body["alarm_name"] == "cpu_hi"


def test_an_internal_action_without_a_handler_fails_clearly() -> None:
    outbox = MemoryOutbox()
    nid = outbox.add("telescale://scaling/p1")
    run_once(outbox)
    (attempt,) = outbox.attempts(nid)
    assert not attempt.ok and outbox.done(nid)
    assert attempt.error == "no handler for internal actions of kind 'scaling' in this process (registered: none)"


def test_a_failing_internal_handler_is_retried_unless_it_says_final() -> None:
    async def broken(target: str, body: Mapping[str, Any]) -> None:
        raise RuntimeError("scaler busy")

    async def unknown(target: str, body: Mapping[str, Any]) -> None:
        raise DeliveryFailed(f"no scaling policy {target}", retry=False)

    actions = ActionRegistry()
    actions.register("scaling", broken)
    actions.register("gone", unknown)
    outbox = MemoryOutbox()
    busy, gone = outbox.add("telescale://scaling/p1"), outbox.add("telescale://gone/p2")
    run_once(outbox, actions=actions)
    assert "RuntimeError: scaler busy" in (outbox.attempts(busy)[0].error or "") and not outbox.done(busy)
    assert outbox.attempts(gone)[0].error == "no scaling policy p2" and outbox.done(gone)


def test_an_unsupported_scheme_fails_for_good() -> None:
    outbox = MemoryOutbox()
    nid = outbox.add("zaqar://?queue_name=alarms")
    run_once(outbox)
    assert outbox.attempts(nid)[0].error == "unsupported action scheme 'zaqar'" and outbox.done(nid)


def test_loopback_is_refused_unless_the_setting_allows_it() -> None:
    outbox = MemoryOutbox()
    with Receiver() as receiver:
        refused = outbox.add(receiver.url)
        run_once(outbox, allowed_networks=[])
        assert receiver.requests == []
        allowed = outbox.add(receiver.url)
        run_once(outbox, allowed_networks=["127.0.0.0/8"])
        receiver.wait_for(1)
    assert "127.0.0.1 is a loopback address" in (outbox.attempts(refused)[0].error or "") and outbox.done(refused)
    assert outbox.attempts(allowed)[0].ok


def test_run_delivers_what_becomes_due_until_stopped() -> None:
    outbox, stop = MemoryOutbox(), threading.Event()
    dispatcher = Dispatcher(outbox, allowed_networks=["127.0.0.0/8"], backoff=0.0, concurrency=2,
                            poll_interval=30.0)
    with Receiver((503,)) as receiver:
        worker = threading.Thread(target=asyncio.run, args=(dispatcher.run(stop),))
        worker.start()
        ids = [outbox.add(f"{receiver.url}/{i}") for i in range(5)]  # more than the two slots
        deadline = time.monotonic() + 20
        while not outbox.settled() and time.monotonic() < deadline:
            dispatcher.wake()  # new rows: the evaluator wakes the loop instead of waiting for the poll
            time.sleep(0.05)
        stop.set()
        worker.join(20)
        assert not worker.is_alive()
    assert all(outbox.attempts(i)[-1].ok for i in ids)
    assert sorted(_outcomes(outbox, i) for i in ids) == [[(False, 503), (True, 200)]] + [[(True, 200)]] * 4
    assert len(receiver.requests) == 6 and {r.path for r in receiver.requests} == {f"/{i}" for i in range(5)}
    assert max(len(c) for c in outbox.claims) <= 2


class _ClaimFailsOnce(MemoryOutbox):
    """The indexer being briefly unreachable: the first claim raises."""

    def __init__(self) -> None:
        super().__init__()
        self.failures = 0

    def claim_notifications(self, limit: int, lease_seconds: float):
        if not self.failures:
            self.failures += 1
            raise ConnectionError("indexer down")
        return super().claim_notifications(limit, lease_seconds)


def test_run_survives_an_outbox_error_and_stops_on_an_asyncio_event() -> None:
    outbox = _ClaimFailsOnce()

    async def scenario(receiver: Receiver) -> None:
        stop = asyncio.Event()
        dispatcher = Dispatcher(outbox, allowed_networks=["127.0.0.0/8"], poll_interval=0.02)
        loop = asyncio.create_task(dispatcher.run(stop))
        nid = outbox.add(receiver.url)
        while not outbox.done(nid):
            await asyncio.sleep(0.01)
        stop.set()
        await asyncio.wait_for(loop, 20)

    with Receiver() as receiver:
        asyncio.run(asyncio.wait_for(scenario(receiver), 30))
        receiver.wait_for(1)
    assert outbox.failures == 1
