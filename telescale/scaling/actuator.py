"""Carrying out the action a decision queued: claim it with a lease, call the member driver, record the end.

The action row is the in-flight lock. Its holder renews the lease while the driver works; if the holder
dies, the lease lapses and another scaler takes the same action over, and since drivers converge on a
desired capacity rather than apply a delta, doing it twice does not double the change. Retryable failures
back off; the last one fails the action, sets the desired capacity back to what runs, and frees the group,
so it is never left stuck in progress (Heat's LP 1651084).
"""

from __future__ import annotations

import asyncio
import datetime
import json
import logging
import random
import uuid
from collections.abc import Callable, Sequence
from typing import Any

from telescale.indexer.engine import utcnow
from telescale.scaling.drivers import ActuationFailed, DriverContext, MemberDriver, Resized, build_driver
from telescale.scaling.model import Action, Decision, Group, Member
from telescale.scaling.policies import choose_victims

LOG = logging.getLogger(__name__)
LEASE_SECONDS = 30.0
MAX_ATTEMPTS = 6
BACKOFF = 2.0  # seconds before the first retry of an action, doubled each time (with jitter)


def members_to_remove(members: Sequence[Member], desired: int) -> list[Member]:
    """Failed members always go; then, to come down to ``desired``, unhealthy ones first, then the oldest."""
    failed = [m for m in members if m.status == "failed"]
    live = [m for m in members if m.status != "failed"]
    return failed + choose_victims(live, max(0, len(live) - desired))


def _completed(group: Group, action: Action, resized: Resized, now: datetime.datetime) -> Decision:
    acknowledged = resized.current_size
    how = f"replaced {len(action.replace)} member(s)" if action.replace else \
        f"desired capacity {action.desired} reached"
    reason = f"{how}; {acknowledged} running or acknowledged (after {action.attempts + 1} attempt(s))"
    return Decision(id=uuid.uuid4(), group_id=group.id, timestamp=now, source="actuator",
                    outcome="healed" if action.replace else "completed", reason=reason,
                    size_before=action.previous, size_after=action.desired, current_size=acknowledged,
                    inputs={"action_id": str(action.id), "decision_id": str(action.decision_id)})


def _failed(group: Group, action: Action, error: str, now: datetime.datetime) -> Decision:
    return Decision(id=uuid.uuid4(), group_id=group.id, timestamp=now, source="actuator", outcome="failed",
                    reason=f"giving up after {action.attempts + 1} attempt(s): {error}; the desired capacity goes "
                           f"back to the {group.current_size} member(s) running",
                    size_before=action.desired, size_after=group.current_size, current_size=group.current_size,
                    blocked_by="error", inputs={"action_id": str(action.id), "error": error})


class Actuator:
    """Claims due actions and runs them, each under a renewed lease."""

    def __init__(self, indexer: Any, context: DriverContext, owner: str, *,
                 on_change: Callable[[Group], None] | None = None,
                 lease_seconds: float = LEASE_SECONDS, max_attempts: int = MAX_ATTEMPTS,
                 backoff: float = BACKOFF) -> None:
        self.indexer = indexer
        self.context = context
        self.owner = owner
        self.on_change = on_change  # e.g. export the group's sizes as measures
        self.lease_seconds = lease_seconds
        self.max_attempts = max_attempts
        self.backoff = backoff
        self._drivers: dict[uuid.UUID, tuple[str, MemberDriver]] = {}

    async def aclose(self) -> None:
        drivers, self._drivers = self._drivers, {}
        for _, driver in drivers.values():
            await driver.aclose()

    def driver(self, group: Group) -> MemberDriver:
        """One driver per group, rebuilt when the group's driver options change."""
        key = json.dumps(group.member_driver, sort_keys=True, default=str)
        known = self._drivers.get(group.id)
        if known is None or known[0] != key:
            self._drivers[group.id] = (key, build_driver(group.member_driver, self.context))
        return self._drivers[group.id][1]

    async def run_once(self, now: datetime.datetime | None = None) -> int:
        """Claim due actions and carry them out; how many were run. Any scaler may run any action: the lease,
        not the hash ring, keeps two from running the same one."""
        now = now or utcnow()
        claimed = await asyncio.to_thread(self.indexer.claim_scaling_actions, self.owner, now, self.lease_seconds)
        await asyncio.gather(*(self.carry_out(g) for g in claimed))
        return len(claimed)

    async def carry_out(self, group: Group) -> None:
        action = group.action
        assert action is not None
        renewing = asyncio.create_task(self._renew(group.id, action.id))
        try:
            resized = await self._act(group, action)
        except ActuationFailed as e:
            await self._failed_attempt(group, action, str(e), e.retry)
        except Exception as e:  # a bug or an unexpected backend answer: logged, retried like a 5xx
            LOG.exception("scaling group %s: action %s failed", group.name, action.id)
            await self._failed_attempt(group, action, f"{type(e).__name__}: {e}", True)
        else:
            now = utcnow()
            cooldown = action.cooldown if action.cooldown is not None else group.cooldown
            end = now + datetime.timedelta(seconds=cooldown)
            if group.cooldown_end is not None and group.cooldown_end > end:
                end = group.cooldown_end
            decision = _completed(group, action, resized, now)
            done = await asyncio.to_thread(
                self.indexer.finish_scaling_action, group.id, action.id, self.owner, decision=decision,
                current_size=resized.current_size, members=resized.members, cooldown_end=end)
            LOG.info("scaling group %s: %s", group.name, decision.reason)
            if self.on_change is not None:
                self.on_change(done)
        finally:
            renewing.cancel()

    async def _act(self, group: Group, action: Action) -> Resized:
        driver = self.driver(group)
        members = await asyncio.to_thread(self.indexer.list_scaling_members, group.id)
        if action.replace:
            # one resize to the same capacity without the members being replaced (and any failed one): the
            # driver starts as many new ones, so the group converges on its size whatever was already done
            doomed = [m for m in members if str(m.id) in action.replace or m.status == "failed"]
            return await driver.resize(group, members, action.desired, doomed, action.reason)
        remove = members_to_remove(members, action.desired) if driver.tracks_members else []
        return await driver.resize(group, members, action.desired, remove, action.reason)

    async def _failed_attempt(self, group: Group, action: Action, error: str, retry: bool) -> None:
        now = utcnow()
        if retry and action.attempts + 1 < self.max_attempts:
            delay = self.backoff * 2 ** action.attempts * random.uniform(0.8, 1.2)
            LOG.warning("scaling group %s: attempt %d of %d failed (%s); again in %.1f s", group.name,
                        action.attempts + 1, self.max_attempts, error, delay)
            await asyncio.to_thread(self.indexer.retry_scaling_action, group.id, action.id, self.owner, error=error,
                                    next_attempt_at=now + datetime.timedelta(seconds=delay))
            return
        decision = _failed(group, action, error, now)
        LOG.error("scaling group %s: %s", group.name, decision.reason)
        done = await asyncio.to_thread(self.indexer.fail_scaling_action, group.id, action.id, self.owner,
                                       decision=decision)
        if self.on_change is not None:
            self.on_change(done)

    async def _renew(self, group_id: uuid.UUID, action_id: uuid.UUID) -> None:
        while True:
            await asyncio.sleep(self.lease_seconds / 3)
            until = utcnow() + datetime.timedelta(seconds=self.lease_seconds)
            kept = await asyncio.to_thread(self.indexer.renew_action_lease, group_id, action_id, self.owner, until)
            if not kept:
                LOG.warning("scaling group %s: lost the lease of action %s", group_id, action_id)
                return
