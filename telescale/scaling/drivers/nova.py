"""The ``nova`` member driver: each member is a Nova server that Telescale creates and deletes with openstacksdk.

Servers are created from ``flavor``, ``image``, optional ``network`` and ``key_name`` (names or ids), named
``<name_prefix>-<n>`` (the prefix defaults to the group's name) and tagged with the metadata
``metering.server_group`` (the group's name, the label Ceilometer copies into the servers' samples, so their
metrics select them), ``telescale_group`` (the group's id) and ``telescale_member`` (the member's id), plus
``metadata``. The servers of a group are found again by that metadata, so an action retried after a crash
counts the servers the crashed attempt created and does not create them twice. A new server counts once
ACTIVE; one that goes to ERROR is a ``failed`` member (it stays until the scaler removes it, as Heat keeps it).

The connection is the service user's (``[service_credentials]``, see :mod:`telescale.scaling.drivers.cloud`)
or, with ``cloud``, a cloud of ``clouds.yaml``. openstacksdk blocks, so each call runs in a thread; the waits
between two polls do not hold a thread.
"""

from __future__ import annotations

import asyncio
import dataclasses
import datetime
import logging
import time
import uuid
from collections.abc import Callable, Mapping, Sequence
from typing import Any, TypeVar

import openstack
from keystoneauth1 import exceptions as ks_exceptions
from openstack import exceptions as sdk_exceptions
from openstack.compute.v2.server import Server

from telescale.scaling.drivers.base import ActuationFailed, DriverContext, MemberDriver, Resized
from telescale.scaling.drivers.cloud import failure, project_session
from telescale.scaling.drivers.members import is_live, next_index, surplus
from telescale.scaling.drivers.options import Options
from telescale.scaling.model import Group, Member

LOG = logging.getLogger(__name__)

T = TypeVar("T")

#: Nova's server states that mean "it runs, or is on its way to": the member keeps its status.
RUNNING = frozenset({"ACTIVE", "BUILD", "REBUILD", "REBOOT", "HARD_REBOOT", "PASSWORD", "RESIZE", "VERIFY_RESIZE",
                     "REVERT_RESIZE", "MIGRATING"})
#: States where the server exists but does not serve: to be replaced.
STOPPED = frozenset({"SHUTOFF", "SUSPENDED", "PAUSED", "SHELVED", "SHELVED_OFFLOADED", "RESCUE", "UNKNOWN"})
#: Nova's metadata limit on keys and values.
METADATA_LENGTH = 255
#: Ids of servers tagged by hand (no ``telescale_member``) are derived from the server's id.
_FOREIGN = uuid.UUID("8a0f5c8e-46a4-4a53-9b8e-63a8a8c1f1d7")


def member_status(server_status: str | None, known: str | None = None) -> str:
    """A member's status from Nova's: ERROR or gone → failed; stopped → unhealthy; running keeps ``known``."""
    if server_status in RUNNING:
        return known if known in ("active", "unhealthy") else "active"
    if server_status in STOPPED:
        return "unhealthy"
    return "failed"


def _created(server: Server) -> datetime.datetime | None:
    try:
        return datetime.datetime.fromisoformat(str(server.created_at).replace("Z", "+00:00"))
    except ValueError:
        return None


def _address(server: Server) -> str | None:
    for addresses in (server.addresses or {}).values():
        for address in addresses:
            if address.get("addr"):
                return str(address["addr"])
    return None


class NovaDriver(MemberDriver):
    kind = "nova"
    tracks_members = True

    def __init__(self, options: Mapping[str, Any], context: DriverContext) -> None:
        super().__init__(options, context)
        self.credentials = dict(context.settings.service_credentials)
        self._conn: openstack.connection.Connection | None = None
        self._refs: dict[str, str] = {}  # "flavor"/"image"/"network" → the id found for the option's name

    @classmethod
    def validate(cls, options: Mapping[str, Any]) -> dict[str, Any]:
        read = Options(cls.kind, options, ("flavor", "image", "network", "key_name", "name_prefix", "metadata",
                                           "cloud", "wait_timeout", "poll_interval", "timeout"))
        read.string("flavor", required=True)
        read.string("image", required=True)
        read.string("network")
        read.string("key_name")
        read.string("name_prefix")
        read.string_map("metadata", max_length=METADATA_LENGTH)
        read.string("cloud")
        read.number("wait_timeout", 600.0, above=True)
        read.number("poll_interval", 2.0, above=True)
        read.number("timeout", 30.0, above=True)
        return read.out

    # -- openstacksdk, in threads -------------------------------------------------------------------------------

    def _connection(self) -> openstack.connection.Connection:
        if self._conn is None:
            if self.options["cloud"]:
                try:
                    self._conn = openstack.connect(cloud=self.options["cloud"], api_timeout=self.options["timeout"])
                except sdk_exceptions.ConfigException as e:
                    raise ActuationFailed(f"clouds.yaml: {e}", retry=False) from None
            else:
                session = project_session(self.credentials, self.options["timeout"])
                self._conn = openstack.connection.Connection(
                    session=session, region_name=self.credentials.get("region_name"),
                    interface=self.credentials.get("interface", "public"))
        return self._conn

    async def _call(self, what: str, function: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """One openstacksdk call in a thread, its errors as ``ActuationFailed`` naming ``what`` it was doing."""
        def run() -> T:
            return function(self._connection(), *args, **kwargs)

        try:
            return await asyncio.to_thread(run)
        except ActuationFailed:
            raise
        except sdk_exceptions.ResourceNotFound as e:
            raise ActuationFailed(f"{what}: {e.details or e.message}", retry=False) from None
        except sdk_exceptions.HttpException as e:
            status = e.status_code
            retry = status is None or status >= 500 or status in (409, 429)
            raise ActuationFailed(f"{what}: Nova answered {status}: {e.details or e.message}", retry=retry) from None
        except ks_exceptions.ClientException as e:
            raise failure(f"OpenStack ({what})", e) from None
        except sdk_exceptions.SDKException as e:
            raise ActuationFailed(f"{what}: {e}", retry=True) from None

    async def _ref(self, option: str) -> str | None:
        """The id of the flavor / image / network the option names (looked up once)."""
        name = self.options[option]
        if name is None:
            return None
        if option not in self._refs:
            finders: dict[str, Callable[[Any], Any]] = {
                "flavor": lambda c: c.compute.find_flavor(name, ignore_missing=False),
                "image": lambda c: c.image.find_image(name, ignore_missing=False),
                "network": lambda c: c.network.find_network(name, ignore_missing=False),
            }
            found = await self._call(f"finding the {option} {name!r}", finders[option])
            self._refs[option] = found.id
        return self._refs[option]

    async def _servers(self, group: Group) -> dict[str, Server]:
        """The group's servers (by id), found by their ``telescale_group`` metadata."""
        gid = str(group.id)

        def listing(conn: openstack.connection.Connection) -> dict[str, Server]:
            return {s.id: s for s in conn.compute.servers(details=True)
                    if (s.metadata or {}).get("telescale_group") == gid}

        return await self._call("listing the group's servers", listing)

    # -- members ----------------------------------------------------------------------------------------------

    def _member(self, group: Group, server: Server, known: Member | None = None) -> Member:
        data: dict[str, Any] = {"address": _address(server), "server_status": server.status}
        if server.status == "ERROR" and isinstance(server.fault, Mapping) and server.fault.get("message"):
            data["fault"] = str(server.fault["message"])[:500]
        if known is not None:
            return dataclasses.replace(known, status=member_status(server.status, known.status), data=data)
        try:
            member_id = uuid.UUID((server.metadata or {}).get("telescale_member", ""))
        except ValueError:
            member_id = uuid.uuid5(_FOREIGN, server.id)
        return Member(id=member_id, group_id=group.id, name=server.name, ref=server.id,
                      status=member_status(server.status), created_at=_created(server), data=data)

    def _merge(self, group: Group, members: Sequence[Member], servers: Mapping[str, Server]) -> list[Member]:
        """The scaler's members as Nova sees them (gone → failed), then the group's servers it does not know."""
        unseen = dict(servers)
        current = []
        for member in members:
            server = unseen.pop(member.ref, None)
            if server is None:
                current.append(member if member.status == "failed" else dataclasses.replace(member, status="failed"))
            else:
                current.append(self._member(group, server, member))
        current.extend(self._member(group, server) for server in unseen.values())
        return current

    async def refresh(self, group: Group, members: Sequence[Member]) -> tuple[Member, ...] | None:
        return tuple(self._merge(group, members, await self._servers(group)))

    async def resize(self, group: Group, members: Sequence[Member], desired: int, remove: Sequence[Member],
                     reason: str) -> Resized:
        servers = await self._servers(group)
        gone = {m.id for m in remove}
        await self._delete(group, [m.ref for m in remove if m.ref in servers])
        current = [m for m in self._merge(group, members, servers) if m.id not in gone]
        extra = surplus(current, desired)
        if extra:
            LOG.warning("group %s: %d servers beyond %d were not named for removal; deleting %s", group.id,
                        len(extra), desired, ", ".join(m.name for m in extra))
            await self._delete(group, [m.ref for m in extra])
            dropped = {m.id for m in extra}
            current = [m for m in current if m.id not in dropped]
        missing = desired - sum(1 for m in current if is_live(m))
        if missing > 0:
            current.extend(await self._create(group, current, missing, reason))
        current = await self._wait_built(group, current)
        return Resized(current_size=sum(1 for m in current if is_live(m)), members=tuple(current))

    async def _create(self, group: Group, current: list[Member], count: int, reason: str) -> list[Member]:
        flavor, image, network = await self._ref("flavor"), await self._ref("image"), await self._ref("network")
        prefix = self.options["name_prefix"] or group.name
        first = next_index(prefix, current)
        created = []
        for index in range(first, first + count):
            member_id = uuid.uuid4()
            attrs = {"name": f"{prefix}-{index}", "flavor_id": flavor, "image_id": image,
                     "networks": [{"uuid": network}] if network else "auto",
                     "metadata": {**self.options["metadata"], "metering.server_group": group.name[:METADATA_LENGTH],
                                  "telescale_group": str(group.id), "telescale_member": str(member_id)}}
            if self.options["key_name"]:
                attrs["key_name"] = self.options["key_name"]
            server = await self._call(f"creating server {attrs['name']}",
                                      lambda c, attrs=attrs: c.compute.create_server(**attrs))
            LOG.info("group %s: created server %s (%s): %s", group.id, attrs["name"], server.id, reason)
            created.append(Member(id=member_id, group_id=group.id, name=attrs["name"], ref=server.id,
                                  status="active", created_at=datetime.datetime.now(datetime.UTC),
                                  data={"address": None, "server_status": "BUILD"}))
        return created

    async def _wait_built(self, group: Group, current: list[Member]) -> list[Member]:
        """Poll the servers still being built until each is ACTIVE (or not running: ERROR → failed)."""
        deadline = time.monotonic() + self.options["wait_timeout"]
        while True:
            building = {m.ref for m in current if is_live(m) and m.data.get("server_status") != "ACTIVE"
                        and m.data.get("server_status") in RUNNING}
            if not building:
                return current
            if time.monotonic() >= deadline:
                raise ActuationFailed(f"{len(building)} servers not ACTIVE after {self.options['wait_timeout']:g} s",
                                      retry=True)
            await asyncio.sleep(self.options["poll_interval"])
            current = self._merge(group, current, await self._servers(group))

    async def _delete(self, group: Group, refs: Sequence[str]) -> None:
        """Delete the servers and wait until Nova no longer lists them."""
        if not refs:
            return
        for ref in refs:
            await self._call(f"deleting server {ref}", lambda c, ref=ref: c.compute.delete_server(ref))
        LOG.info("group %s: deleting servers %s", group.id, ", ".join(refs))
        deadline = time.monotonic() + self.options["wait_timeout"]
        while True:
            left = set(refs) & set(await self._servers(group))
            if not left:
                return
            if time.monotonic() >= deadline:
                raise ActuationFailed(f"servers {', '.join(sorted(left))} still listed "
                                      f"{self.options['wait_timeout']:g} s after their deletion", retry=True)
            await asyncio.sleep(self.options["poll_interval"])

    async def aclose(self) -> None:
        if self._conn is not None:
            conn, self._conn = self._conn, None
            await asyncio.to_thread(conn.close)
