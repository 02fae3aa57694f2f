"""Coordination: who does which share of the work, and who holds which sack.

* ``membership`` — group membership from ``coordination.url`` (tooz; embedded default: one member, no
  server): :func:`build_coordinator`, :class:`Coordinator`.
* ``ring`` — a group's consistent hash ring and this member's share of the keys: :class:`Partition`
  (``owns(key)``, ``mine(keys)``), used for alarms (evaluator), sacks (metricd), scaling groups and polling.
* ``locks`` — per-sack locks: ``flock`` between the processes of one machine (:class:`FileSackLocks`), tooz's
  on ``coordination.url`` between hosts (:class:`ToozSackLocks`).
"""

from telescale.coordination.locks import FileSackLocks, LockTimeout, SackLocks, ToozSackLocks
from telescale.coordination.membership import (
    Coordinator,
    EmbeddedCoordinator,
    GroupView,
    ToozCoordinator,
    build_coordinator,
    make_member_id,
)
from telescale.coordination.ring import DEFAULT_PARTITIONS, Partition

__all__ = [
    "DEFAULT_PARTITIONS",
    "Coordinator",
    "EmbeddedCoordinator",
    "FileSackLocks",
    "GroupView",
    "LockTimeout",
    "Partition",
    "SackLocks",
    "ToozCoordinator",
    "ToozSackLocks",
    "build_coordinator",
    "make_member_id",
]
