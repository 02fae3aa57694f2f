"""The OpenStack inventory: Nova's servers as ``instance`` resources, for clouds whose notifications the agent
does not hear (or to catch up with what it missed).

Every ``interval`` the agent owning ``openstack:<region>`` on the ring (one agent per region, however many
have the source enabled) lists the servers with openstacksdk — of all projects when ``all_projects`` (the
credentials need the admin role), with details — and gives one `ResourceUpdate` per server: ``display_name``,
``flavor_id``, ``flavor_name``, ``host``, ``image_ref``, ``server_group`` (the ``metering.server_group``
metadata Heat's autoscaling sets) and ``started_at`` (``launched_at``), under its project and user. The
publisher sends an update only when it differs from the last one the API took. A server listed at the
previous poll and missing now was deleted: its resource is ended (``ended_at`` = now). Since compute API
2.47 a server shows its flavor's name and not its id; the id is then looked up in the flavor list.

What it cannot see: a server created and deleted between two polls, and deletions that happened while
another agent owned the region or before this agent's first poll (the notification listener sees both).
A failed listing is logged and ends nothing.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from telescale.metering.config import OpenStackSource
from telescale.metering.resources import SERVER_GROUP_KEY
from telescale.metering.sample import ResourceUpdate
from telescale.metering.sources import Item, Pollster

LOG = logging.getLogger(__name__)


def server_update(server: Any, flavor_ids: Mapping[str, str]) -> ResourceUpdate:
    """The ``instance`` resource update of one openstacksdk server."""
    flavor = server.flavor or {}
    if original_name := flavor.get("original_name"):  # compute API ≥ 2.47 (openstacksdk puts the name in `id`)
        flavor_name, flavor_id = original_name, flavor_ids.get(original_name)
    else:
        flavor_name, flavor_id = flavor.get("name"), flavor.get("id")
    image = server.image or {}
    found = {"display_name": server.name, "flavor_id": flavor_id, "flavor_name": flavor_name,
             "host": server.compute_host, "image_ref": image.get("id") if isinstance(image, Mapping) else None,
             "server_group": (server.metadata or {}).get(SERVER_GROUP_KEY), "started_at": server.launched_at}
    attributes = {k: str(v) for k, v in found.items() if v not in (None, "")}
    attributes.setdefault("display_name", "")  # required by the instance type, possibly hidden by policy
    attributes.setdefault("flavor_id", "")
    attributes.setdefault("host", "")
    return ResourceUpdate("instance", server.id, attributes, project_id=server.project_id or None,
                          user_id=server.user_id or None)


class OpenStackInventory(Pollster):
    """Polls Nova's server list for the region this agent owns."""

    def __init__(self, config: OpenStackSource, owns: Callable[[str], bool] = lambda key: True,
                 connect: Callable[[], Any] | None = None) -> None:
        self.config = config
        self.owns = owns
        self.interval = config.interval
        self.key = f"openstack:{config.region_name or 'default'}"
        self.name = self.key
        self._connect = connect or self._openstack_connection
        self._connection: Any = None
        self._known: set[str] = set()  # the servers listed at this agent's previous poll

    def _openstack_connection(self) -> Any:
        import openstack

        options: dict[str, Any] = dict(self.config.auth)
        if self.config.region_name:
            options["region_name"] = self.config.region_name
        if self.config.cloud:
            options["cloud"] = self.config.cloud
        return openstack.connect(**options)

    def _list(self) -> list[ResourceUpdate]:
        if self._connection is None:
            self._connection = self._connect()
        compute = self._connection.compute
        servers = list(compute.servers(details=True, all_projects=self.config.all_projects))
        flavor_ids: dict[str, str] = {}
        if any((s.flavor or {}).get("original_name") for s in servers):  # compute API ≥ 2.47: names only
            flavor_ids = {f.name: f.id for f in compute.flavors(details=False)}
        return [server_update(s, flavor_ids) for s in servers]

    async def poll(self) -> Sequence[Item]:
        if not self.owns(self.key):
            self._known.clear()  # when the region comes back, its deletions meanwhile are not ours to guess
            return ()
        try:
            updates = await asyncio.to_thread(self._list)
        except Exception as e:  # the SDK's errors, Keystone's, the network's: try again next interval
            LOG.warning("%s: listing the servers failed (%s: %s); trying again in %g s", self.name,
                        type(e).__name__, e, self.interval)
            self._connection = None
            return ()
        listed = {u.resource_id for u in updates}
        gone = sorted(self._known - listed)
        if gone:
            LOG.info("%s: %d server(s) deleted since the last poll, their instances ended", self.name, len(gone))
        self._known = listed
        return [*updates, *ended(gone, time.time())]


def ended(ids: Iterable[str], now: float) -> list[ResourceUpdate]:
    at = datetime.fromtimestamp(now, UTC).isoformat()
    return [ResourceUpdate("instance", rid, {"ended_at": at}) for rid in ids]
