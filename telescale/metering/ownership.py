"""Which agent handles which resource, so several agents fed the same sources produce everything once.

Agents join the tooz group ``telescale-agents`` of ``coordination.url`` (Redis, etcd, ZooKeeper …) as
member ``agent:<agent name>``, and the consistent hash ring of :mod:`telescale.coordination` gives each
key to one of them. The pipeline calls :meth:`Ownership.keep` on what its shared sources (the notification
listener) produced before any transformer, so an agent keeps state only for what it owns and sees every
sample of it: rates and deltas are right with any number of agents, which Ceilometer's transformers never
were.

* **The key is the resource id**, not the series: a sample is placed by ``resource_id`` (the same key as
  :attr:`ResourceUpdate.series`), so every series of a resource lands on the same agent. That keeps the
  ``arithmetic`` transformer (``$(memory.usage) / $(memory)`` of one resource) and the publisher's
  "patch a resource only when its attributes change" memory right too, and still spreads the work
  since there are many resources. An :class:`Event` is placed by its ``message_id`` (every agent
  listening to the same notifications forwards each event once).
* **Targets are owned whole**: a scraper or inventory pollster asks :meth:`Ownership.owns_target` before
  each poll and keeps everything the poll gives (the pipeline does not place it again). A scrape target's
  key is ``job@instance``, the resource id of all its samples, so owning the target and owning its
  resource are the same answer of the ring. The host's own pollsters are not placed at all: only this
  agent sees its host.
* **Agent names must be unique** (the default is the host name). A restarted agent comes back under the
  same member id and takes its own share back at once, instead of the ring moving twice.
* **Embedded default** (``coordination.url`` empty): one member, owns everything; no server.
* **When membership changes**, a resource's series move to their new owner without their transformer
  state (nothing is handed over; "we build no distributed system of our own"). The new owner's first
  sample of a moved series is a first sample: ``rate_of_change`` and ``delta`` give nothing for it, so
  **one output per moved series is lost at each move**, and the next one is right. The previous owner
  stops receiving the series, and its state for it is forgotten after the transformer's
  ``forget_after``; if the series comes back before that, its first rate spans the whole absence, which
  is the true average rate over it (unless the counter was also reset meanwhile, when it is an
  underestimate). While two agents' views of the members disagree (at most ``refresh_interval``, about
  a second), a sample may be kept by both or by neither; one cut off from the backend owns nothing from
  just before the others take over (see :mod:`telescale.coordination.membership`).
"""

from __future__ import annotations

import itertools
import logging
import time
from collections.abc import Sequence
from typing import TypeVar

from telescale.coordination import Coordinator, EmbeddedCoordinator, Partition, ToozCoordinator
from telescale.metering.sample import Event, ResourceUpdate, Sample

__all__ = ["GROUP", "Ownership", "build_ownership"]

LOG = logging.getLogger(__name__)
GROUP = "telescale-agents"
Item = TypeVar("Item", bound=Sample | ResourceUpdate | Event)


def placement_key(item: Sample | ResourceUpdate | Event) -> str:
    """What the ring places: the resource for samples and resource updates, the message for events."""
    return item.message_id if isinstance(item, Event) else item.resource_id


class Ownership:
    """This agent's share of the resources, kept current by its coordinator's background thread."""

    def __init__(self, partition: Partition, coordinator: Coordinator | None = None) -> None:
        self.partition = partition
        self.coordinator = coordinator
        self._warned = 0.0

    @property
    def members(self) -> frozenset[str]:
        return self.partition.members

    @property
    def version(self) -> int:
        """Grows each time the members change."""
        return self.partition.version

    def keep(self, items: Sequence[Item]) -> list[Item]:
        """The items this agent owns, in their order (one vectorised ring look-up for the batch)."""
        if not items:
            return []
        mask = self.partition.mask([placement_key(i) for i in items])
        if not mask.any() and not self.partition.valid:
            self._warn_invalid(len(items))
        return list(itertools.compress(items, mask.tolist()))

    def owns_target(self, key: str) -> bool:
        """Whether this agent scrapes or polls ``key`` (a target URL, an inventory name …)."""
        return self.partition.owns(key)

    def close(self) -> None:
        """Leave the group: the others take this agent's share within their refresh interval."""
        if self.coordinator is not None:
            self.coordinator.stop()

    def _warn_invalid(self, count: int) -> None:
        now = time.monotonic()
        if now - self._warned >= 60:
            LOG.warning("ownership: coordination backend out of reach, this agent owns nothing and passes on "
                        "none of %d item(s); the other agents handle them", count)
            self._warned = now


def build_ownership(coordination_url: str, agent_name: str, *, heartbeat_timeout: int = 10,
                    group: str = GROUP) -> Ownership:
    """The agent's ownership: everything with an empty URL, its share of ``group`` otherwise."""
    if not agent_name:
        raise ValueError("agent name: must not be empty (it is the agent's member id on the ring)")
    member_id = f"agent:{agent_name}"
    coordinator: Coordinator
    if not coordination_url:
        coordinator = EmbeddedCoordinator(member_id)
    else:
        coordinator = ToozCoordinator(coordination_url, member_id, heartbeat_timeout=heartbeat_timeout)
    partition = coordinator.join(group)
    LOG.info("ownership: %s in group %r with %d member(s)", member_id, group, len(partition.members))
    return Ownership(partition, coordinator)
