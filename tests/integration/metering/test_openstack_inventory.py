"""The OpenStack inventory pollster against ``tests/openstack_peers.py`` (Keystone v3 and Nova v2.1 as their
API references answer), through the real openstacksdk: servers become ``instance`` resource updates, a
server gone since the last poll is ended, only the agent owning the region polls, and a failing cloud
ends nothing. Then a real `telescale agent` with the source enabled puts them in a real Telescale."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path

import httpx
import pytest

from telescale.metering.config import OpenStackSource
from telescale.metering.pollsters.openstack import OpenStackInventory
from telescale.metering.sample import ResourceUpdate
from tests import server
from tests.agent_peers import agent
from tests.openstack_peers import PROJECT_ID, REGION, OpenStack


@pytest.fixture
def cloud() -> Iterator[OpenStack]:
    with OpenStack() as cloud:
        yield cloud


def _source(cloud: OpenStack, **changes: object) -> OpenStackSource:
    auth = {k: v for k, v in cloud.credentials().items() if k != "region_name"}
    return OpenStackSource(**{"enabled": True, "interval": 1.0, "auth": auth, "region_name": REGION, **changes})


def _poll(inventory: OpenStackInventory) -> list[ResourceUpdate]:
    return list(asyncio.run(inventory.poll()))  # type: ignore[arg-type]


def test_servers_become_instances_and_a_deleted_one_is_ended(cloud: OpenStack) -> None:
    web = cloud.add_server("web-1", "2", {"metering.server_group": "stack-web"})
    db = cloud.add_server("db-1", "1")
    inventory = OpenStackInventory(_source(cloud))
    first = {u.resource_id: u for u in _poll(inventory)}
    assert set(first) == {web.id, db.id}
    assert first[web.id].attributes == {
        "display_name": "web-1", "flavor_id": "2", "flavor_name": "m1.small", "host": "compute-1",
        "image_ref": "6b9c3e8e-59b4-4b8b-9f6a-3b0e1c2d4f5a", "server_group": "stack-web",
        "started_at": first[web.id].attributes["started_at"]}
    assert (first[web.id].project_id, first[web.id].user_id) == (PROJECT_ID, "u-telescale")
    assert "server_group" not in first[db.id].attributes and first[db.id].attributes["flavor_id"] == "1"
    assert any("all_tenants" in r.path for r in cloud.requests if "/servers/detail" in r.path)

    with cloud._state:
        del cloud.servers[db.id]
    before = time.time()
    second = _poll(inventory)
    assert [u.resource_id for u in second] == [web.id, db.id]
    gone = second[-1]
    assert set(gone.attributes) == {"ended_at"}
    assert abs(datetime.fromisoformat(gone.attributes["ended_at"]).timestamp() - before) < 30
    assert [u.resource_id for u in _poll(inventory)] == [web.id]  # ended once


def test_only_the_owner_of_the_region_polls(cloud: OpenStack) -> None:
    cloud.add_server("web-1")
    asked: list[str] = []
    inventory = OpenStackInventory(_source(cloud), owns=lambda key: asked.append(key) or False)
    assert _poll(inventory) == []
    assert asked == [f"openstack:{REGION}"] and not cloud.calls("/compute")


def test_a_failing_listing_ends_nothing(cloud: OpenStack, caplog) -> None:
    web = cloud.add_server("web-1")
    inventory = OpenStackInventory(_source(cloud))
    assert [u.resource_id for u in _poll(inventory)] == [web.id]
    cloud.fail_next.append(("GET", "/compute/v2.1/servers", 503))
    with caplog.at_level(logging.WARNING):
        assert _poll(inventory) == []
    assert f"openstack:{REGION}: listing the servers failed" in caplog.text
    assert [u.resource_id for u in _poll(inventory)] == [web.id]  # nothing was ended meanwhile


def test_a_real_agent_puts_the_inventory_in_telescale(cloud: OpenStack, tmp_path: Path) -> None:
    web = cloud.add_server("web-1", "2", {"metering.server_group": "stack-web"})
    auth = "{" + ", ".join(f'{k}: "{v}"' for k, v in cloud.credentials().items() if k != "region_name") + "}"
    config = f"""
api: {{url: "URL"}}
host: inventory-agent
sources:
  host: {{enabled: false}}
  openstack: {{enabled: true, interval: 1, region_name: {REGION}, auth: {auth}}}
publisher: {{flush_interval: 0.5, buffer_dir: "{tmp_path / 'buffer'}"}}
"""
    with server.running(tmp_path / "data") as srv, httpx.Client(base_url=srv.url, auth=("admin", "")) as c:
        with agent(config.replace("URL", srv.url), tmp_path) as running:
            def found() -> dict:
                r = c.get(f"/v1/resource/instance/{web.id}")
                return r.json() if r.status_code == 200 else {}

            deadline = time.monotonic() + 60
            while not found():
                assert time.monotonic() < deadline, running.log.read_text()[-3000:]
                time.sleep(0.2)
            with cloud._state:
                del cloud.servers[web.id]
            while not found().get("ended_at"):
                assert time.monotonic() < deadline, running.log.read_text()[-3000:]
                time.sleep(0.2)
            assert running.stop() == 0
        resource = found()
    assert (resource["display_name"], resource["server_group"], resource["flavor_name"], resource["host"]) == (
        "web-1", "stack-web", "m1.small", "compute-1")
    assert resource["project_id"] == PROJECT_ID
