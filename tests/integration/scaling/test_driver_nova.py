"""The nova driver (openstacksdk) against the local OpenStack stand-in: create, wait, delete, ERROR, recovery."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from telescale.config import Settings
from telescale.scaling.drivers import ActuationFailed, DriverContext, MemberDriver, build_driver
from telescale.scaling.model import Group
from tests.openstack_peers import OpenStack


@pytest.fixture
def cloud() -> Iterator[OpenStack]:
    with OpenStack(build_delay=0.3) as cloud:
        yield cloud


def make_group() -> Group:
    return Group(id=uuid.uuid4(), name="web", project_id=None, user_id=None, min_size=0, max_size=10,
                 desired_capacity=0, current_size=0, cooldown=0.0, member_driver={"type": "nova"})


def driver(tmp_path: Path, cloud: OpenStack, **options: Any) -> MemberDriver:
    settings = Settings()
    settings.service_credentials = cloud.credentials()
    spec = {"type": "nova", "flavor": "m1.small", "image": "cirros-0.6.2", "network": "private",
            "metadata": {"role": "frontend"}, "poll_interval": 0.05, **options}
    return build_driver(spec, DriverContext(settings=settings, state_dir=tmp_path, api_url="http://127.0.0.1:8041"))


def test_scale_out_creates_tagged_servers_and_waits_until_active(tmp_path: Path, cloud: OpenStack) -> None:
    group = make_group()

    async def go() -> None:
        nova = driver(tmp_path, cloud, key_name="ops")
        resized = await nova.resize(group, [], 2, [], "load above target")
        await nova.aclose()
        assert resized.current_size == 2 and resized.members is not None
        servers = {s.id: s for s in cloud.group_servers(group.id)}
        assert [m.name for m in resized.members] == ["web-1", "web-2"]
        for member in resized.members:
            server = servers[member.ref]
            assert server.name == member.name and server.key_name == "ops"
            assert server.metadata == {"role": "frontend", "metering.server_group": "web",
                                       "telescale_group": str(group.id), "telescale_member": str(member.id)}
            assert server.networks == [{"uuid": "a87cc70a-3e15-4acf-8205-9b711a3531b7"}]
            assert member.status == "active" and member.data == {"address": server.address,
                                                                 "server_status": "ACTIVE"}
        creates = [r.json()["server"] for r in cloud.requests if r.method == "POST" and r.path.endswith("/servers")]
        assert [(c["flavorRef"], c["imageRef"]) for c in creates] == [
            ("2", "6b9c3e8e-59b4-4b8b-9f6a-3b0e1c2d4f5a")] * 2

    asyncio.run(go())


def test_a_retried_resize_counts_the_servers_already_created(tmp_path: Path, cloud: OpenStack) -> None:
    group = make_group()

    async def go() -> None:
        first = await driver(tmp_path, cloud).resize(group, [], 2, [], "scale out")
        again = await driver(tmp_path, cloud).resize(group, [], 2, [], "scale out")  # after a scaler crash
        assert first.members is not None and again.members is not None
        assert {(m.id, m.ref) for m in again.members} == {(m.id, m.ref) for m in first.members}

    asyncio.run(go())
    assert len([r for r in cloud.requests if r.method == "POST" and r.path.endswith("/servers")]) == 2


def test_scale_in_deletes_the_servers_named(tmp_path: Path, cloud: OpenStack) -> None:
    group = make_group()

    async def go() -> None:
        nova = driver(tmp_path, cloud)
        started = await nova.resize(group, [], 3, [], "scale out")
        assert started.members is not None
        victim = started.members[0]
        resized = await nova.resize(group, started.members, 2, [victim], "load fell")
        assert resized.current_size == 2 and resized.members is not None
        assert [m.name for m in resized.members] == ["web-2", "web-3"]
        assert victim.ref in cloud.deleted and victim.ref not in cloud.servers
        deletes = [r.path for r in cloud.requests if r.method == "DELETE"]
        assert deletes == [f"/compute/v2.1/servers/{victim.ref}"]

    asyncio.run(go())


def test_a_server_in_error_is_a_failed_member(tmp_path: Path, cloud: OpenStack) -> None:
    group = make_group()

    async def go() -> None:
        resized = await driver(tmp_path, cloud, flavor="broken").resize(group, [], 1, [], "scale out")
        assert resized.current_size == 0 and resized.members is not None
        (member,) = resized.members
        assert member.status == "failed" and member.data["server_status"] == "ERROR"
        assert "No valid host" in member.data["fault"]

    asyncio.run(go())


def test_refresh_sees_deleted_servers_and_replace_creates_a_new_one(tmp_path: Path, cloud: OpenStack) -> None:
    group = make_group()

    async def go() -> None:
        nova = driver(tmp_path, cloud)
        started = await nova.resize(group, [], 2, [], "scale out")
        assert started.members is not None
        lost = started.members[0]
        del cloud.servers[lost.ref]  # deleted behind Telescale's back
        refreshed = await nova.refresh(group, started.members)
        assert refreshed is not None and [(m.name, m.status) for m in refreshed] == [
            ("web-1", "failed"), ("web-2", "active")]
        replaced = await nova.resize(group, refreshed, 2, [lost], "web-1 vanished")  # autohealing's replacement
        assert replaced.current_size == 2 and replaced.members is not None
        assert [m.name for m in replaced.members] == ["web-2", "web-3"]

    asyncio.run(go())


def test_an_unknown_flavor_is_final(tmp_path: Path, cloud: OpenStack) -> None:
    async def go() -> None:
        with pytest.raises(ActuationFailed) as failed:
            await driver(tmp_path, cloud, flavor="m9.huge").resize(make_group(), [], 1, [], "scale out")
        assert not failed.value.retry and "m9.huge" in str(failed.value)

    asyncio.run(go())
    assert not cloud.servers


def test_a_nova_outage_may_be_retried(tmp_path: Path, cloud: OpenStack) -> None:
    cloud.fail_next.append(("POST", "/compute/v2.1/servers", 503))

    async def go() -> None:
        with pytest.raises(ActuationFailed) as failed:
            await driver(tmp_path, cloud).resize(make_group(), [], 1, [], "scale out")
        assert failed.value.retry and "503" in str(failed.value)

    asyncio.run(go())


def test_without_a_network_nova_allocates_one(tmp_path: Path, cloud: OpenStack) -> None:
    async def go() -> None:
        resized = await driver(tmp_path, cloud, network=None).resize(make_group(), [], 1, [], "scale out")
        assert resized.current_size == 1

    asyncio.run(go())
    (create,) = [r for r in cloud.requests if r.method == "POST" and r.path.endswith("/servers")]
    assert create.json()["server"]["networks"] == "auto"  # required since microversion 2.37
    assert create.header("openstack-api-version").startswith("compute 2.")


def test_a_clouds_yaml_cloud_can_be_used(tmp_path: Path, cloud: OpenStack, monkeypatch: pytest.MonkeyPatch) -> None:
    credentials = cloud.credentials()
    clouds = tmp_path / "clouds.yaml"
    clouds.write_text(
        "clouds:\n  lab:\n    region_name: RegionOne\n    identity_api_version: 3\n    auth:\n" + "".join(
            f"      {key}: {credentials[key]}\n" for key in ("auth_url", "username", "password", "project_name",
                                                          "user_domain_id", "project_domain_id")))
    monkeypatch.setenv("OS_CLIENT_CONFIG_FILE", str(clouds))
    settings = Settings()  # no service_credentials: the cloud's own
    nova = build_driver({"type": "nova", "flavor": "m1.tiny", "image": "cirros-0.6.2", "cloud": "lab",
                         "poll_interval": 0.05}, DriverContext(settings, tmp_path, "http://127.0.0.1:8041"))
    group = make_group()

    async def go() -> None:
        resized = await nova.resize(group, [], 1, [], "scale out")
        await nova.aclose()
        assert resized.current_size == 1

    asyncio.run(go())
    assert [s.flavor["name"] for s in cloud.group_servers(group.id)] == ["m1.tiny"]


def test_refused_credentials_are_final(tmp_path: Path, cloud: OpenStack) -> None:
    settings = Settings()
    settings.service_credentials = cloud.credentials(password="wrong")
    nova = build_driver({"type": "nova", "flavor": "m1.tiny", "image": "cirros-0.6.2"},
                        DriverContext(settings, tmp_path, "http://127.0.0.1:8041"))

    async def go() -> None:
        with pytest.raises(ActuationFailed) as failed:
            await nova.resize(make_group(), [], 1, [], "scale out")
        assert not failed.value.retry and "401" in str(failed.value)

    asyncio.run(go())
