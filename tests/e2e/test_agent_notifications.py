"""Nova's notifications on the real RabbitMQ → a real `telescale agent` → a real Telescale.

The test publishes oslo-format notifications on exchange ``nova`` as Nova does: the legacy
``compute.instance.create.end``/``delete.end`` (routing key ``notifications.info``) for one instance,
the versioned ``instance.create.end``/``instance.delete.end`` (``versioned_notifications.info``) for
another, and a lone ``delete.end`` of an instance whose creation was never seen. Through ``/v1`` each
instance is created (``started_at``, flavor, ``server_group`` from ``metering.server_group``) then ended,
the meters of meters.yaml (``memory``, ``vcpus``) are stored, and through ``/v2`` the events reached the
events intake: an ``event`` alarm on ``compute.instance.create.end`` goes to ``alarm``. The agent has a
queue of its own, named for this run.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest

from tests import server
from tests.agent_peers import agent
from tests.integration.metering.test_notifications_rabbitmq import (
    AMQP_URL,
    amqp,  # noqa: F401 (fixture)
    delete_queue,
    publish,
)
from tests.nova_notifications import PROJECT, envelope, legacy_payload, message, versioned_payload

ADMIN = {"x-user-id": "admin", "x-project-id": "p-admin", "x-roles": "admin"}
MEMBER = {"x-user-id": "u-ops", "x-project-id": PROJECT, "x-roles": "member"}


def _config(api: str, queue: str, workdir: Path) -> str:
    return f"""
api: {{url: "{api}", auth: {{mode: noauth, user_id: ceilometer, project_id: p-service, roles: admin}}}}
host: agent-notifications-e2e
sources: {{host: {{enabled: false}}}}
notifications: {{url: "{AMQP_URL}", queue: {queue}, exchanges: [nova], batch_timeout: 0.05, queue_expires: 300}}
publisher: {{flush_interval: 0.5, buffer_dir: "{workdir / 'buffer'}", max_backoff: 2}}
"""


def _wait(predicate, timeout: float, what: str):  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while not (found := predicate()):
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.2)
    return found


def _now(offset: float = 0.0) -> str:
    return datetime.fromtimestamp(time.time() + offset, UTC).isoformat(sep=" ")


@pytest.mark.timeout(300)
def test_a_real_agent_creates_ends_and_meters_instances_and_forwards_the_events(amqp, tmp_path: Path):  # noqa: F811
    legacy, versioned, unseen = (str(uuid.uuid4()) for _ in range(3))
    queue = f"telescale-test-{uuid.uuid4().hex}"
    ended = "2026-03-01T12:00:00Z"
    with server.running(tmp_path / "data", ("api.auth_mode=noauth",)) as srv, \
            httpx.Client(base_url=srv.url, timeout=30) as c:

        def resource(rid: str) -> dict:
            answer = c.get(f"/v1/resource/instance/{rid}", headers=ADMIN)
            return answer.json() if answer.status_code == 200 else {}

        r = c.post("/v2/alarms", headers=MEMBER, json={
            "name": "created", "type": "event", "event_rule": {
                "event_type": "compute.instance.create.end",
                "query": [{"field": "traits.instance_id", "op": "eq", "value": legacy}]}})
        assert r.status_code == 201, r.text
        alarm = r.json()["alarm_id"]
        try:
            with agent(_config(srv.url, queue, tmp_path), tmp_path) as running:
                _wait(lambda: "notifications: consuming queue" in running.log.read_text(), 60, "the agent's queue")
                asyncio.run(publish([
                    ("notifications.info", envelope(message(
                        "compute.instance.create.end", legacy_payload(instance_id=legacy), timestamp=_now(-60)))),
                    ("versioned_notifications.info", envelope(message(
                        "instance.create.end", versioned_payload(uuid=versioned), versioned=True,
                        timestamp=_now(-60))))]))
                created = {rid: _wait(lambda rid=rid: resource(rid), 60, f"instance {rid}")
                           for rid in (legacy, versioned)}
                asyncio.run(publish([
                    ("notifications.info", envelope(message(
                        "compute.instance.delete.end", legacy_payload(instance_id=legacy, state="deleted",
                                                                      deleted_at=ended), timestamp=_now()))),
                    ("versioned_notifications.info", envelope(message(
                        "instance.delete.end", versioned_payload(uuid=versioned, state="deleted", deleted_at=ended),
                        versioned=True, timestamp=_now()))),
                    ("notifications.info", envelope(message(
                        "compute.instance.delete.end", legacy_payload(instance_id=unseen, deleted_at=ended),
                        timestamp=_now())))]))
                finished = {rid: _wait(lambda rid=rid: (found := resource(rid)).get("ended_at") and found, 60,
                                       f"the end of {rid}") for rid in (legacy, versioned, unseen)}
                state = c.get(f"/v2/alarms/{alarm}/state", headers=MEMBER).json()
                memory = c.get(f"/v1/resource/instance/{legacy}/metric/memory/measures", headers=ADMIN,
                               params={"refresh": "true"})
                assert running.stop() == 0
            log = running.log.read_text()
        finally:
            asyncio.run(delete_queue(queue))

    for rid in (legacy, versioned):
        assert created[rid]["started_at"].startswith("2026-03-01T10:00:30"), created[rid]
        assert created[rid]["ended_at"] is None
        assert (created[rid]["server_group"], created[rid]["flavor_name"], created[rid]["flavor_id"],
                created[rid]["host"]) == ("stack-web", "m1.small", "2", "compute-1")
        assert created[rid]["project_id"] == PROJECT
        assert finished[rid]["ended_at"].startswith("2026-03-01T12:00:00")
        assert {"memory", "vcpus", "disk.root.size"} <= set(finished[rid]["metrics"])
    # the end of an instance whose creation was never seen: created, started when it ended
    assert finished[unseen]["started_at"] == finished[unseen]["ended_at"]
    assert state == "alarm"
    assert memory.status_code == 200, memory.text
    assert {row[2] for row in memory.json()} == {2048.0}
    assert "Traceback" not in log and "the API refused" not in log, log[-3000:]
    assert "0 refused, 0 buffered, 0 dropped" in log, log[-3000:]
