"""Nova's notifications on the real RabbitMQ → the agent's listener → a real Telescale: a published
``compute.instance.create.end`` creates the instance resource, ``delete.end`` ends it. The resource
updates are applied with :func:`apply_to_api` (the publisher's batching is agent-core's part)."""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import Sequence

import httpx

from telescale.metering.notifications import NotificationListener
from telescale.metering.resources_api import apply_to_api
from telescale.metering.sample import ResourceUpdate
from tests import server
from tests.integration.metering.test_notifications_rabbitmq import (
    amqp,  # noqa: F401 (fixture)
    delete_queue,
    publish,
    settings,
    until,
)
from tests.nova_notifications import envelope, legacy_payload, message


def test_create_end_creates_the_instance_and_delete_end_ends_it(amqp, tmp_path):  # noqa: F811
    instance, unseen = str(uuid.uuid4()), str(uuid.uuid4())
    create = message("compute.instance.create.end", legacy_payload(instance_id=instance))
    delete = message("compute.instance.delete.end", legacy_payload(instance_id=instance, state="deleted",
                                                                   deleted_at="2026-03-01T12:00:00Z"))
    s = settings()
    with server.running(tmp_path / "data") as srv, httpx.Client(base_url=srv.url, auth=("admin", ""),
                                                                timeout=30) as client:
        def resource(which: str = instance) -> dict:
            answer = client.get(f"/v1/resource/instance/{which}")
            return answer.json() if answer.status_code == 200 else {}

        async def emit(items: Sequence[object]) -> None:
            updates = [i for i in items if isinstance(i, ResourceUpdate)]
            await asyncio.to_thread(apply_to_api, client, updates)

        async def scenario() -> tuple[dict, dict, dict]:
            listener = NotificationListener(s)
            task = asyncio.create_task(listener.run(emit))
            try:
                await asyncio.wait_for(listener.ready.wait(), 30)
                await publish([("notifications.info", envelope(create))])
                await until(lambda: bool(resource()))
                created = resource()
                await publish([("notifications.info", envelope(delete))])
                await until(lambda: resource().get("ended_at") is not None)
                # the end of an instance whose creation was never seen: created, started when it ended
                payload = legacy_payload(instance_id=unseen, deleted_at="2026-03-01T12:00:00Z")
                await publish([("notifications.info", envelope(message("compute.instance.delete.end", payload)))])
                await until(lambda: bool(resource(unseen)))
                return created, resource(), resource(unseen)
            finally:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task

        try:
            created, ended, only_ended = asyncio.run(scenario())
        finally:
            asyncio.run(delete_queue(s.queue))
    assert created["started_at"].startswith("2026-03-01T10:00:30") and created["ended_at"] is None
    assert (created["server_group"], created["flavor_name"], created["host"]) == ("stack-web", "m1.small",
                                                                                  "compute-1")
    assert ended["ended_at"].startswith("2026-03-01T12:00:00")
    assert only_ended["started_at"] == only_ended["ended_at"] and only_ended["ended_at"].startswith("2026-03-01T12")
