"""Autohealing: members that stopped reporting, or whose health query holds too long, are replaced.

A member is judged on its own resource (its ``resource_id``, else its id — the ``process`` driver's
members report under their member id): no measure of ``liveness_metric`` for ``absent_for`` seconds, or
``health_query`` compared with ``threshold`` holding for ``duration`` seconds, makes it unhealthy; a
member the driver reports as failed is unhealthy at once. Members matching an active silence are left
alone. If more members are unhealthy than ``max_unhealthy``, nothing is done and the decision log says so:
that many failures at once is more likely the network or the store than the members (Faythe's fence).
Replacement is an action like any other, so it waits for the in-flight one and is taken over after a crash.
How long a health query has held is kept in memory: after a failover the count starts again.
"""

from __future__ import annotations

import asyncio
import datetime
import logging
import re
import uuid
from collections.abc import Callable, Sequence
from typing import Any

from telescale.indexer.engine import utcnow
from telescale.scaling import readings
from telescale.scaling.model import Action, Decision, Group, Member

LOG = logging.getLogger(__name__)
NS = 1_000_000_000


def silenced(member: Member, patterns: Sequence[str]) -> bool:
    return any(re.search(p, member.name) for p in patterns)


class Healer:
    """``driver_for`` gives a group's member driver, whose ``refresh`` says which members still run."""

    def __init__(self, indexer: Any, engine: Any, query: Any, driver_for: Callable[[Group], Any] | None = None
                 ) -> None:
        self.indexer = indexer
        self.engine = engine
        self.query = query
        self.driver_for = driver_for
        self._holding: dict[uuid.UUID, datetime.datetime] = {}  # member → since when its health query holds

    async def run_once(self, mine: Callable[[list[uuid.UUID]], list[uuid.UUID]]) -> int:
        """Refresh the members of the groups this scaler owns (``mine``: the ring's share of a batch) and heal
        those with healing on; how many members were queued for replacement."""
        groups = await asyncio.to_thread(self.indexer.list_scaling_groups, None)
        candidates = [g for g in groups if not g.paused and g.action is None]
        owned = set(mine([g.id for g in candidates]))
        healed = 0
        for group in candidates:
            if group.id not in owned:
                continue
            members = await asyncio.to_thread(self.indexer.list_scaling_members, group.id)
            if members and self.driver_for is not None:
                members = await self.refresh(group, members)
            if group.healing.enabled and (self.driver_for is None or self.driver_for(group).tracks_members):
                healed += await asyncio.to_thread(self.check, group, members)
        return healed

    async def refresh(self, group: Group, members: list[Member]) -> list[Member]:
        """The members with the status their backend reports now (stored when it changed)."""
        assert self.driver_for is not None
        try:
            fresh = await self.driver_for(group).refresh(group, members)
        except Exception as e:  # an unreachable backend says nothing about the members
            LOG.warning("scaling group %s: cannot refresh its members: %s", group.name, e)
            return members
        if fresh is None:
            return members
        known = {m.id: m for m in members}
        for member in fresh:
            before = known.get(member.id)
            if before is not None and before.status != member.status:
                LOG.warning("scaling group %s: member %s is now %s (was %s)", group.name, member.name, member.status,
                            before.status)
                await asyncio.to_thread(self.indexer.set_member_status, group.id, member.id, member.status)
        return [m for m in fresh if m.id in known]

    def unhealthy(self, group: Group, members: Sequence[Member], now: datetime.datetime
                  ) -> list[tuple[Member, str]]:
        """The unhealthy members and why (a list: a member holds a dict, so it is no dict key)."""
        healing = group.healing
        found: list[tuple[Member, str]] = []
        for member in members:
            if member.status in ("failed", "unhealthy"):
                found.append((member, f"the driver reports it {member.status}"))
                continue
            age = (now - member.created_at).total_seconds() if member.created_at else float("inf")
            rid = member.resource_id or member.id
            if healing.liveness_metric and age > healing.absent_for:
                try:
                    readings.group_value(self.query, group, f"(aggregate mean (metric {healing.liveness_metric} "
                                         "mean))", now=int(now.timestamp() * NS), window=healing.absent_for,
                                         resource_id=rid)
                except readings.NoReading:
                    found.append((member, f"no measure of {healing.liveness_metric} for {healing.absent_for:g} s"))
                    continue
                except (readings.ExpressionError, ValueError) as e:
                    LOG.warning("scaling group %s: liveness of %s: %s", group.name, member.name, e)
            if healing.health_query and healing.threshold is not None:
                why = self._health(group, member, rid, now)
                if why:
                    found.append((member, why))
        return found

    def _health(self, group: Group, member: Member, rid: uuid.UUID, now: datetime.datetime) -> str | None:
        healing = group.healing
        assert healing.health_query is not None and healing.threshold is not None
        try:
            reading = readings.group_value(self.query, group, healing.health_query, now=int(now.timestamp() * NS),
                                           window=max(healing.duration, 300.0), resource_id=rid)
        except (readings.NoReading, readings.ExpressionError, ValueError):
            self._holding.pop(member.id, None)
            return None
        if not readings.compare(reading.value, healing.comparison_operator, healing.threshold):
            self._holding.pop(member.id, None)
            return None
        since = self._holding.setdefault(member.id, now)
        held = (now - since).total_seconds()
        if held < healing.duration:
            return None
        return f"health query {reading.value:g} {healing.comparison_operator} {healing.threshold:g} for {held:.0f} s"

    def check(self, group: Group, members: Sequence[Member] | None = None, now: datetime.datetime | None = None
              ) -> int:
        """Judge the group's members; queue the replacement of the unhealthy ones. How many."""
        now = now or utcnow()
        if group.action is not None:
            return 0
        if members is None:
            members = self.indexer.list_scaling_members(group.id)
        bad = self.unhealthy(group, members, now)
        if not bad:
            return 0
        patterns = [s.pattern for s in self.indexer.list_silences(group.project_id, group_id=group.id,
                                                                  active_at=now)]
        quiet = [m for m, _ in bad if silenced(m, patterns)]
        bad = [(m, why) for m, why in bad if not silenced(m, patterns)]
        if quiet:
            LOG.info("scaling group %s: silenced, not healed: %s", group.name, ", ".join(m.name for m in quiet))
        if not bad:
            return 0
        listing = "; ".join(f"{m.name}: {why}" for m, why in bad)
        limit = group.healing.max_unhealthy
        if len(bad) > limit:
            self.engine.log(group, None, "healing", "guard_rail", f"{len(bad)} members unhealthy, more than "
                            f"max_unhealthy {limit}: nothing replaced ({listing})", now)
            return 0
        for member, _ in bad:
            self.indexer.set_member_status(group.id, member.id, "unhealthy")
        return self._replace(group, [m for m, _ in bad], listing, now)

    def _replace(self, group: Group, members: list[Member], listing: str, now: datetime.datetime) -> int:
        ids = tuple(str(m.id) for m in members)

        def decide(locked: Group, past: Any) -> tuple[Decision, dict[str, Any]]:
            decision = Decision(id=uuid.uuid4(), group_id=locked.id, timestamp=now, source="healing",
                                outcome="heal" if locked.action is None else "none",
                                reason=(f"replacing {listing}" if locked.action is None else
                                        f"an action is in flight; replacing later: {listing}"),
                                size_before=locked.desired_capacity, size_after=locked.desired_capacity,
                                current_size=locked.current_size, blocked_by=None if locked.action is None
                                else "in_flight", inputs={"members": list(ids)}, dry_run=locked.dry_run)
            if locked.action is not None or locked.dry_run:
                return decision, {}
            action = Action(id=uuid.uuid4(), decision_id=decision.id, desired=locked.desired_capacity,
                            previous=locked.desired_capacity, reason=decision.reason, started_at=now, replace=ids,
                            cooldown=0.0)
            return decision, {"action": action}

        _, decision = self.indexer.decide_scaling(group.id, decide, now=now)
        LOG.info("scaling group %s: %s", group.name, decision.reason)
        if decision.outcome == "heal" and self.engine.on_action is not None:
            self.engine.on_action()
        return len(members) if decision.outcome == "heal" else 0
