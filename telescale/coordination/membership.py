"""Group membership: which processes share a kind of work (alarm evaluation, sacks, scaling groups, polling).

``coordination.url`` empty (the embedded default): :class:`EmbeddedCoordinator`, this process is the only
member of every group and owns every key; no server, no thread. Otherwise :class:`ToozCoordinator`
starts the tooz driver the URL names (``redis://``, ``etcd3+http://``, ``zookeeper://``,
``memcached://``, ``file://`` for processes of one host), joins groups, and runs one background thread
that heartbeats and re-reads each joined group's members every ``refresh_interval`` seconds
(``min(1, heartbeat_timeout / 4)``), updating the group's :class:`~telescale.coordination.ring.Partition`.

Takeover times: a member that leaves (``leave``/``stop``, a clean shutdown) is gone from the others' ring
within ``refresh_interval``; one that dies without leaving (SIGKILL, lost host) stops heartbeating and is
dropped once its last heartbeat is ``heartbeat_timeout`` old, so its keys move within
``heartbeat_timeout + refresh_interval`` seconds. A member cut off from the backend owns nothing once its
last successful contact is ``heartbeat_timeout - refresh_interval`` old, before the others can take over.
Views are refreshed independently, so for up to ``refresh_interval`` after a change two members may
disagree; work that must happen once (an alarm transition) also needs a conditional write.

tooz's ``postgresql://`` and ``mysql://`` drivers implement locks only, not group membership, so they are
refused here; use Redis (or etcd, ZooKeeper, memcached).
"""

from __future__ import annotations

import abc
import contextlib
import logging
import os
import re
import secrets
import socket
import threading
import time
import urllib.parse
from collections.abc import Callable
from types import TracebackType
from typing import Any

import tooz
import tooz.coordination

from telescale.config import ConfigError, Settings
from telescale.coordination.ring import DEFAULT_PARTITIONS, Partition

__all__ = ["Coordinator", "EmbeddedCoordinator", "GroupView", "ToozCoordinator", "build_coordinator",
           "make_member_id"]

LOG = logging.getLogger(__name__)


def make_member_id(role: str) -> str:
    """``role:host:pid:random``: unique per process, so two processes on one host are two members, and a
    restarted process (even with a recycled pid, as in containers) is a new one."""
    return f"{role}:{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(4)}"


class Coordinator(abc.ABC):
    """Joins groups on behalf of one process (one member id) and keeps their partitions current."""

    member_id: str

    @abc.abstractmethod
    def join(self, group: str) -> Partition:
        """Join ``group`` (created if needed) and return this member's share of it, kept up to date."""

    @abc.abstractmethod
    def leave(self, group: str) -> None:
        """Leave ``group``: the others take its keys over; the partition owns nothing from now on."""

    @abc.abstractmethod
    def stop(self) -> None:
        """Leave every group and release the backend."""

    def __enter__(self) -> Coordinator:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.stop()


class EmbeddedCoordinator(Coordinator):
    """One process, no server: the only member of every group it joins."""

    def __init__(self, member_id: str, partitions: int = DEFAULT_PARTITIONS) -> None:
        self.member_id = member_id
        self.partitions = partitions
        self._groups: dict[str, Partition] = {}

    def join(self, group: str) -> Partition:
        if group not in self._groups:
            self._groups[group] = Partition(group, self.member_id, (self.member_id,), self.partitions)
        return self._groups[group]

    def leave(self, group: str) -> None:
        partition = self._groups.pop(group, None)
        if partition is not None:
            partition.update(())

    def stop(self) -> None:
        for group in list(self._groups):
            self.leave(group)


def _as_str(member: bytes | str) -> str:
    return member.decode() if isinstance(member, bytes) else member


def _driver_options(url: str, heartbeat_timeout: int) -> dict[str, str]:
    """Options passed to ``tooz.coordination.get_coordinator`` besides those in the URL's query.

    ``timeout`` is the member expiry of every tooz driver with groups (Redis also uses it as socket and lock
    timeout); Redis reads its database from ``?db=``, so ``redis://host:6379/2`` is given ``db=2``.
    """
    parts = urllib.parse.urlsplit(url)
    query = urllib.parse.parse_qs(parts.query)
    options = {"timeout": str(heartbeat_timeout)}
    if parts.scheme == "redis" and parts.hostname and re.fullmatch(r"/\d+", parts.path) and "db" not in query:
        options["db"] = parts.path[1:]
    return options


def start_driver(url: str, member_id: str, heartbeat_timeout: int, *, groups: bool = True,
                 heart: bool = False) -> tooz.coordination.CoordinationDriver:
    """A started tooz driver for ``url``; ``groups``: refuse a backend without group membership; ``heart``: let
    tooz's own thread heartbeat (which also renews held locks) instead of the caller."""
    scheme = urllib.parse.urlsplit(url).scheme
    try:
        driver = tooz.coordination.get_coordinator(url, member_id.encode(), **_driver_options(url, heartbeat_timeout))
    except Exception as e:  # stevedore: unknown scheme, or the driver's client library is missing
        raise ConfigError(f"coordination.url: no usable tooz driver for {scheme!r}: {e}") from e
    if groups and type(driver).join_group is tooz.coordination.CoordinationDriver.join_group:
        raise ConfigError(f"coordination.url: tooz's {scheme!r} driver has no group membership "
                          "(use redis://, etcd3+http://, zookeeper:// or memcached://)")
    driver.start(start_heart=heart)
    return driver


class ToozCoordinator(Coordinator):
    """Membership through a tooz backend, heartbeaten and re-read by one background thread."""

    def __init__(self, url: str, member_id: str, *, heartbeat_timeout: int = 10,
                 refresh_interval: float | None = None, partitions: int = DEFAULT_PARTITIONS,
                 status: Callable[[], dict[str, Any]] | None = None) -> None:
        """``status``: what this member publishes in each group it joined (its statistics), refreshed with
        every heartbeat, for ``/v1/status`` (:class:`GroupView`)."""
        if heartbeat_timeout < 1:
            raise ConfigError(f"coordination.heartbeat_timeout: must be at least 1 second, got {heartbeat_timeout}")
        self.member_id = member_id
        self.heartbeat_timeout = heartbeat_timeout
        self.refresh_interval = refresh_interval or min(1.0, heartbeat_timeout / 4)
        self.partitions = partitions
        self.status = status
        self._driver = start_driver(url, member_id, heartbeat_timeout)  # our thread beats (see _run)
        self._groups: dict[str, Partition] = {}
        self._mutex = threading.RLock()  # one refresh/join/leave at a time
        self._failing = False
        self._stopping = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"coordination {member_id}", daemon=True)
        self._thread.start()

    def join(self, group: str) -> Partition:
        with self._mutex:
            partition = self._groups.get(group)
            if partition is None:
                started = time.monotonic()
                self._join(group)
                partition = self._groups[group] = Partition(group, self.member_id, (), self.partitions)
                self._refresh_group(group, partition, self._deadline(started))
            return partition

    def leave(self, group: str) -> None:
        with self._mutex:
            partition = self._groups.pop(group, None)
            if partition is None:
                return
            partition.close()
            with contextlib.suppress(tooz.coordination.MemberNotJoined, tooz.coordination.GroupNotCreated):
                self._driver.leave_group(group.encode()).get()

    def stop(self) -> None:
        """Own nothing at once, then leave cleanly unless the backend is out of reach (tooz retries a
        heartbeat for about a minute then; the others drop this member after ``heartbeat_timeout``)."""
        if self._stopping.is_set():
            return
        self._stopping.set()
        for partition in list(self._groups.values()):
            partition.close()
        self._thread.join(self.heartbeat_timeout)
        if self._thread.is_alive():
            LOG.warning("coordination: backend unresponsive, %s stops without leaving; the others drop it "
                        "after %d s", self.member_id, self.heartbeat_timeout)
            return
        with self._mutex:
            self._groups.clear()
            try:
                self._driver.stop()  # leaves the joined groups and deletes the heartbeat
            except Exception:  # tooz passes some client errors through unwrapped
                LOG.warning("coordination: could not leave cleanly; the others drop %s after %d s",
                            self.member_id, self.heartbeat_timeout, exc_info=True)

    def refresh(self) -> None:
        """Heartbeat, then re-read every joined group's members (the thread's job, callable at will)."""
        with self._mutex:
            if self._stopping.is_set():
                return
            started = time.monotonic()
            try:
                self._driver.heartbeat()
                for group, partition in self._groups.items():
                    self._refresh_group(group, partition, self._deadline(started))
                    if self.status is not None:
                        self._driver.update_capabilities(group.encode(), self.status()).get()
            except Exception:
                self._report_failure()
            else:
                if self._failing:
                    LOG.info("coordination: backend reachable again (%s)", self.member_id)
                self._failing = False

    def _deadline(self, contact: float) -> float:
        """Until when a view read after ``contact`` holds: before the others can have dropped this member."""
        return contact + self.heartbeat_timeout - self.refresh_interval

    def _join(self, group: str) -> None:
        # create then join: tooz's join_group_create sleeps a second after creating a group
        with contextlib.suppress(tooz.coordination.GroupAlreadyExist):
            self._driver.create_group(group.encode()).get()
        try:
            self._driver.join_group(group.encode()).get()
        except tooz.coordination.MemberAlreadyExist:
            pass
        except tooz.coordination.GroupNotCreated:  # deleted in between: let tooz retry
            self._driver.join_group_create(group.encode())

    def _refresh_group(self, group: str, partition: Partition, valid_until: float) -> None:
        try:
            members = {_as_str(m) for m in self._driver.get_members(group.encode()).get()}
        except tooz.coordination.GroupNotCreated:
            members = set()
        if self.member_id not in members:  # dropped while silent (paused, cut off): come back
            LOG.warning("coordination: %s was no longer in group %r; joining again", self.member_id, group)
            self._join(group)
            members.add(self.member_id)
        if partition.update(members, valid_until):
            LOG.info("coordination: group %r now has %d members", group, len(members))

    def _report_failure(self) -> None:
        """Log an outage once; the partitions stop owning by themselves at their deadline (``Partition.valid``)."""
        if not self._failing:
            LOG.warning("coordination: backend unreachable (%s); owning nothing once %.1f s pass without it",
                        self.member_id, self.heartbeat_timeout - self.refresh_interval, exc_info=True)
        self._failing = True

    def _run(self) -> None:
        while not self._stopping.wait(self.refresh_interval):
            self.refresh()


def build_coordinator(settings: Settings, member_id_prefix: str,
                      status: Callable[[], dict[str, Any]] | None = None) -> Coordinator:
    """The coordinator ``coordination.url`` asks for, with a member id unique to this process; ``status``:
    see :class:`ToozCoordinator`."""
    member_id = make_member_id(member_id_prefix)
    url = settings.coordination.url
    if not url:
        return EmbeddedCoordinator(member_id)
    return ToozCoordinator(url, member_id, heartbeat_timeout=settings.coordination.heartbeat_timeout, status=status)


class GroupView:
    """The live members of groups and what each published (its statistics), read without joining: the API's
    ``/v1/status`` on ``coordination.url``, where workers of every host appear."""

    def __init__(self, url: str, heartbeat_timeout: int = 10) -> None:
        self._driver = start_driver(url, make_member_id("status"), heartbeat_timeout, heart=True)
        self._mutex = threading.Lock()

    def members(self, group: str) -> dict[str, dict[str, Any]]:
        """Live member id -> its published statistics ({} before its first heartbeat), sorted by id."""
        with self._mutex:
            try:
                ids = sorted(_as_str(m) for m in self._driver.get_members(group.encode()).get())
            except tooz.coordination.GroupNotCreated:
                return {}
            found: dict[str, dict[str, Any]] = {}
            for member in ids:
                try:
                    published = self._driver.get_member_capabilities(group.encode(), member.encode()).get()
                except (tooz.coordination.MemberNotJoined, tooz.coordination.GroupNotCreated):
                    continue  # left meanwhile
                found[member] = published if isinstance(published, dict) else {}
            return found

    def close(self) -> None:
        with contextlib.suppress(Exception):
            self._driver.stop()
