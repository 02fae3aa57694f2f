"""The notification listener against the real RabbitMQ (``TELESCALE_TEST_AMQP_URL``): oslo-format Nova
notifications published on exchange ``nova`` with routing key ``notifications.info`` come out as the
instance's resource updates, samples and events; messages are acknowledged only once the pipeline took
them, undecodable ones are rejected, a failing pipeline gets the message again. Each test has its own
queue and instance ids, so tests sharing the broker do not see each other's results."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import time
import uuid
from collections.abc import Awaitable, Callable, Sequence
from typing import Any
from urllib.parse import urlsplit

import aio_pika
import pytest

from telescale.metering.notifications import NotificationListener, NotificationSettings
from telescale.metering.sample import Event, ResourceUpdate, Sample
from tests.conftest import service_unavailable
from tests.nova_notifications import envelope, legacy_payload, message, versioned_payload

AMQP_URL = os.environ.get("TELESCALE_TEST_AMQP_URL", "amqp://guest:guest@127.0.0.1:5672/")
Item = Sample | ResourceUpdate | Event


async def _reachable() -> str | None:
    deadline = time.monotonic() + 20  # `make services` may have just started the broker
    while True:
        try:
            connection = await aio_pika.connect(AMQP_URL, timeout=3)
        except Exception as e:
            if time.monotonic() > deadline:
                return f"{type(e).__name__}: {e}"
            await asyncio.sleep(1)
        else:
            await connection.close()
            return None


@pytest.fixture
def amqp() -> str:
    error = asyncio.run(_reachable())
    if error:
        service_unavailable(f"RabbitMQ not reachable at {urlsplit(AMQP_URL).hostname}: {error}")
    return AMQP_URL


def settings(**overrides: Any) -> NotificationSettings:
    queue = f"telescale-test-{uuid.uuid4().hex}"
    return NotificationSettings.from_mapping({"url": AMQP_URL, "queue": queue, "exchanges": ["nova"],
                                              "batch_timeout": 0.05, "queue_expires": 300, **overrides})


async def publish(bodies: Sequence[tuple[str, bytes]], exchange: str = "nova") -> None:
    connection = await aio_pika.connect(AMQP_URL)
    async with connection:
        channel = await connection.channel()
        target = await channel.get_exchange(exchange)
        for routing_key, body in bodies:
            await target.publish(aio_pika.Message(body, content_type="application/json"), routing_key=routing_key)


async def ready_messages(queue: str) -> int:
    connection = await aio_pika.connect(AMQP_URL)
    async with connection:
        channel = await connection.channel()
        return (await channel.declare_queue(queue, passive=True)).declaration_result.message_count


async def delete_queue(queue: str) -> None:
    connection = await aio_pika.connect(AMQP_URL)
    async with connection:
        with contextlib.suppress(Exception):
            await (await connection.channel()).queue_delete(queue)


async def until(condition: Callable[[], bool], within: float = 20.0) -> None:
    deadline = time.monotonic() + within
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        await asyncio.sleep(0.02)


class Running:
    """A listener task whose emit collects the items (or runs ``hook`` first)."""

    def __init__(self, s: NotificationSettings, hook: Callable[[Sequence[Item]], Awaitable[None]] | None = None):
        self.listener = NotificationListener(s)
        self.items: list[Item] = []
        self.hook = hook

    async def emit(self, items: Sequence[Item]) -> None:
        if self.hook is not None:
            await self.hook(items)
        self.items.extend(items)

    async def __aenter__(self) -> Running:
        self.task = asyncio.create_task(self.listener.run(self.emit))
        await asyncio.wait_for(self.listener.ready.wait(), 30)
        return self

    async def __aexit__(self, *exc: object) -> None:
        self.task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self.task

    def of(self, instance: str) -> list[Item]:
        return [i for i in self.items if getattr(i, "resource_id", None) == instance]


def test_instance_created_then_ended_from_legacy_and_versioned_notifications(amqp, caplog):
    legacy_id, versioned_id = str(uuid.uuid4()), str(uuid.uuid4())
    create = message("compute.instance.create.end", legacy_payload(instance_id=legacy_id))
    delete = message("compute.instance.delete.end", legacy_payload(instance_id=legacy_id, state="deleted",
                                                                   deleted_at="2026-03-01T12:00:00Z"))
    versioned = message("instance.create.end", versioned_payload(uuid=versioned_id), versioned=True)
    s = settings()

    async def scenario() -> Running:
        async with Running(s) as running:
            await publish([("notifications.info", envelope(create)), ("notifications.info", b"not json"),
                           ("notifications.info", envelope(delete)),
                           ("versioned_notifications.info", envelope(versioned)),
                           ("notifications.error", envelope(message("compute.instance.create.error", {})))])
            events = {create["message_id"], delete["message_id"], versioned["message_id"]}
            await until(lambda: events <= {i.message_id for i in running.items if isinstance(i, Event)})
            await asyncio.sleep(0.2)  # let the acks go out
            assert await ready_messages(s.queue) == 0  # acked, and the bad one rejected (not requeued)
        return running

    try:
        with caplog.at_level(logging.WARNING):
            running = asyncio.run(scenario())
    finally:
        asyncio.run(delete_queue(s.queue))
    updates = [i for i in running.of(legacy_id) if isinstance(i, ResourceUpdate)]
    assert [(u.resource_type, "started_at" in u.attributes, "ended_at" in u.attributes) for u in updates] == [
        ("instance", True, False), ("instance", False, True)]
    assert updates[0].attributes["server_group"] == "stack-web"
    assert updates[1].attributes["ended_at"] == "2026-03-01T12:00:00+00:00"
    samples = [(i.name, i.value) for i in running.of(legacy_id) if isinstance(i, Sample)]
    assert ("memory", 2048.0) in samples and len(samples) == 8  # 4 meters × create and delete
    versioned_update = next(i for i in running.of(versioned_id) if isinstance(i, ResourceUpdate))
    assert versioned_update.attributes["flavor_name"] == "m1.small"
    assert not any(isinstance(i, Event) and i.event_type.endswith(".error") for i in running.items)  # not bound
    assert "rejected message" in caplog.text and "not JSON" in caplog.text


def test_a_message_is_acked_only_after_the_pipeline_took_it_and_requeued_when_it_failed(amqp, caplog):
    instance = str(uuid.uuid4())
    create = message("compute.instance.create.end", legacy_payload(instance_id=instance))
    s = settings()
    calls = []

    async def stuck(items: Sequence[Item]) -> None:
        await asyncio.sleep(3600)

    async def fails_once(items: Sequence[Item]) -> None:
        calls.append(len(items))
        if len(calls) == 1:
            raise RuntimeError("publisher exploded")

    async def scenario() -> Running:
        async with Running(s, stuck):
            await publish([("notifications.info", envelope(create))])
            await asyncio.sleep(0.5)  # taken, never acknowledged: the pipeline has not returned
        assert await ready_messages(s.queue) == 1  # the agent stopped: the message is back in the queue
        async with Running(s, fails_once) as running:
            await until(lambda: bool(running.items))
        return running

    try:
        with caplog.at_level(logging.WARNING):
            running = asyncio.run(scenario())
        assert asyncio.run(ready_messages(s.queue)) == 0
    finally:
        asyncio.run(delete_queue(s.queue))
    assert len(calls) == 2 and "the pipeline failed on 1 message(s); 1 requeued, 0 rejected" in caplog.text
    assert {i.message_id for i in running.items if isinstance(i, Event)} == {create["message_id"]}
    assert "publisher exploded" in caplog.text


def test_an_unreachable_broker_is_retried_with_a_log_line(caplog):
    s = NotificationSettings.from_mapping({"url": "amqp://guest:guest@127.0.0.1:9/", "reconnect_max": 1})

    async def scenario() -> int:
        listener = NotificationListener(s)
        task = asyncio.create_task(listener.run(lambda items: asyncio.sleep(0)))
        await asyncio.sleep(2.5)
        assert not task.done()
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        return listener.connections

    with caplog.at_level(logging.WARNING):
        assert asyncio.run(scenario()) == 0
    assert caplog.text.count("127.0.0.1:9/ unreachable or gone") >= 2  # tried again, password not logged
    assert "guest:guest" not in caplog.text


def test_a_message_the_pipeline_always_fails_on_is_rejected_after_three_attempts(amqp, caplog):
    create = message("compute.instance.create.end", legacy_payload(instance_id=str(uuid.uuid4())))
    s = settings()

    async def always_fails(items: Sequence[Item]) -> None:
        raise RuntimeError("publisher exploded")

    async def scenario() -> None:
        async with Running(s, always_fails):
            await publish([("notifications.info", envelope(create))])
            await until(lambda: "1 rejected after 3 attempts" in caplog.text)
            await asyncio.sleep(0.2)
            assert await ready_messages(s.queue) == 0

    try:
        with caplog.at_level(logging.WARNING):
            asyncio.run(scenario())
    finally:
        asyncio.run(delete_queue(s.queue))
    assert create["message_id"] in caplog.text
