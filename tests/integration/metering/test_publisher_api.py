"""The agent's publisher against a real `telescale serve` (``tests/server.py``): what it sends and what it
does with the answers. The requests are observed with httpx's event hooks on the publisher's own client,
nothing is stubbed: a refused batch is dropped with the API's message in the log; a resource's attributes
are PATCHed once when they change and never when they do not, also after a restart (the hashes are kept
beside the buffer); a resource update carrying ``ended_at`` ends a resource, or creates one never seen
(started at its end); events go to the events intake."""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from collections.abc import Iterator, Sequence
from pathlib import Path

import httpx
import pytest

from telescale.metering.client import ApiClient
from telescale.metering.config import Api
from telescale.metering.config import Publisher as PublisherConfig
from telescale.metering.publisher import Publisher
from telescale.metering.sample import Event, ResourceUpdate, Sample
from tests import server

ADMIN = ("admin", "")


@pytest.fixture(scope="module")
def api(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with server.running(tmp_path_factory.mktemp("publisher") / "data") as srv:
        yield srv.url


def _send(url: str, buffer_dir: Path, batches: Sequence[Sequence[Sample | ResourceUpdate | Event]],
          **config: object) -> list[tuple[str, str, int]]:
    """A publisher (a new one: a restart) delivers each batch with its own flush; returns (method, path, status)
    of every request it made."""
    seen: list[tuple[str, str, int]] = []

    async def record(response: httpx.Response) -> None:
        seen.append((response.request.method, response.request.url.path, response.status_code))

    async def scenario() -> None:
        client = ApiClient(Api(url=url))
        client.http.event_hooks["response"].append(record)
        publisher = Publisher(PublisherConfig(buffer_dir=buffer_dir, **config), client)  # type: ignore[arg-type]
        for batch in batches:
            await publisher.put(batch)
            await publisher.flush()
        await publisher.close()
        await client.close()

    asyncio.run(scenario())
    return seen


def _sample(rid: str, value: float = 1.0, name: str = "load", **attributes: str) -> Sample:
    return Sample(name, value, time.time(), rid, "host", attributes={"host_name": "h", **attributes})


def _patches(seen: list[tuple[str, str, int]], rid: str) -> int:
    return sum(1 for method, path, _ in seen if method == "PATCH" and path.endswith(rid))


def _resource(url: str, rtype: str, rid: str) -> dict:
    answer = httpx.get(f"{url}/v1/resource/{rtype}/{rid}", auth=ADMIN)
    assert answer.status_code == 200, answer.text
    return answer.json()


def test_a_refused_batch_is_dropped_with_the_apis_message(api: str, tmp_path: Path, caplog) -> None:
    rid = f"host-{uuid.uuid4()}"
    with caplog.at_level(logging.ERROR, "telescale.metering.publisher"):
        seen = _send(api, tmp_path, [[_sample(rid)]], archive_policy="no-such-policy")
        # the next batch is not held up behind it: nothing was buffered
        seen += _send(api, tmp_path, [[_sample(rid, 2.0)]])
    # unknown resource (created, then sent again), refused; the next batch: taken
    assert [s for _, path, s in seen if path.endswith("/measures")] == [400, 400, 202]
    [line] = [r.getMessage() for r in caplog.records]
    assert "the API refused a measures batch (1 samples), dropped it: 400" in line
    assert "no-such-policy" in line  # the API's own words


def test_attributes_are_patched_once_when_they_change_and_never_otherwise_even_after_a_restart(
        api: str, tmp_path: Path) -> None:
    rid = f"host-{uuid.uuid4()}"
    first = _send(api, tmp_path, [[_sample(rid, 1.0)], [_sample(rid, 2.0)]])
    assert ("POST", "/v1/resource/host", 201) in first and _patches(first, rid) == 0
    restarted = _send(api, tmp_path, [[_sample(rid, 3.0)]])  # same attributes, new process
    assert _patches(restarted, rid) == 0
    changed = _send(api, tmp_path, [[_sample(rid, 4.0, host_name="h2")], [_sample(rid, 5.0, host_name="h2")]])
    assert _patches(changed, rid) == 1
    assert _resource(api, "host", rid)["host_name"] == "h2"
    again = _send(api, tmp_path, [[_sample(rid, 6.0, host_name="h2")]])
    assert _patches(again, rid) == 0


def test_resource_updates_create_patch_and_end_resources(api: str, tmp_path: Path) -> None:
    known, unseen = str(uuid.uuid4()), str(uuid.uuid4())
    attributes = {"display_name": "web-1", "flavor_id": "2", "host": "compute-1", "server_group": "stack-web"}
    started = {**attributes, "started_at": "2026-03-01T10:00:30+00:00"}
    ended = {**attributes, "ended_at": "2026-03-01T12:00:00+00:00"}
    seen = _send(api, tmp_path, [[ResourceUpdate("instance", known, started, "p", "u")],
                                 [ResourceUpdate("instance", known, started, "p", "u")],  # no change: nothing sent
                                 [ResourceUpdate("instance", known, ended, "p", "u"),
                                  ResourceUpdate("instance", unseen, ended, "p", "u")]])
    assert _patches(seen, known) == 2  # the 404 that led to its creation, then its end
    created = _resource(api, "instance", known)
    assert (created["started_at"], created["ended_at"]) == ("2026-03-01T10:00:30+00:00", "2026-03-01T12:00:00+00:00")
    assert (created["server_group"], created["project_id"]) == ("stack-web", "p")
    only_ended = _resource(api, "instance", unseen)  # its creation was never seen: started when it ended
    assert only_ended["started_at"] == only_ended["ended_at"] == "2026-03-01T12:00:00+00:00"


def test_events_go_to_the_events_intake(api: str, tmp_path: Path) -> None:
    alarm = httpx.post(f"{api}/v2/alarms", auth=ADMIN, json={
        "name": f"off-{uuid.uuid4()}", "type": "event",
        "event_rule": {"event_type": "compute.instance.power_off.end",
                       "query": [{"field": "traits.instance_id", "op": "eq", "value": "vm-publisher"}]}})
    assert alarm.status_code == 201, alarm.text
    event = Event(str(uuid.uuid4()), "compute.instance.power_off.end", "2026-03-01T10:00:00+00:00",
                  (("instance_id", 1, "vm-publisher"),))
    seen = _send(api, tmp_path, [[event]])
    assert seen == [("POST", "/v2/events", 202)]
    state = httpx.get(f"{api}/v2/alarms/{alarm.json()['alarm_id']}/state", auth=ADMIN)
    assert state.json() == "alarm"
