"""The action in flight of each group, as the scaler sees it: claim, renew, finish, retry or fail it.

An action is the group's in-flight lock: set by a decision, it blocks the next one until it ends. A claim is
a lease, as the alarm outbox's: a scaler that dies mid-action lets the lease lapse and another scaler takes
the action over, so a group never stays stuck "scaling in progress" (Heat's LP 1651084). Every outcome is
conditional on the action's id and its owner: an action replaced by a newer one, or taken over by another
scaler, is left alone by the scaler that lost it (its ``finish``/``retry``/``fail`` does nothing). PostgreSQL
claims with ``FOR UPDATE SKIP LOCKED``; SQLite writers take the database (``BEGIN IMMEDIATE``).
"""

from __future__ import annotations

import dataclasses
import datetime
import uuid
from collections.abc import Sequence

import sqlalchemy as sa
from sqlalchemy.orm import Session

from telescale.indexer import errors
from telescale.indexer.engine import IndexerEngine, claim_ids, utcnow
from telescale.indexer.models import ScalingGroupRow
from telescale.indexer.scaling_rows import (
    action_to_json,
    group_record,
    insert_decision,
    locked_group,
    replace_members,
    select_groups,
    write_group,
)
from telescale.scaling.model import Decision, Group, Member

G = ScalingGroupRow


def _held(group: Group, action_id: uuid.UUID, owner: str) -> bool:
    """Whether ``owner`` still holds this action of the group (not superseded, not taken over)."""
    return group.action is not None and group.action.id == action_id and group.action.owner == owner


def _finish(s: Session, group: Group, decision: Decision, now: datetime.datetime, **changes: object) -> Group:
    if decision.group_id != group.id:
        raise errors.InvalidScalingValue(
            "group_id", f"a decision of group {decision.group_id} ends no action of group {group.id}"
        )
    after = dataclasses.replace(group, action=None, updated_at=now, version=group.version + 1, **changes)
    insert_decision(s, decision, group.project_id)
    write_group(s, after)
    return after


class ScalingActions(IndexerEngine):
    def claim_scaling_actions(
        self, owner: str, now: datetime.datetime, lease_seconds: float, *, limit: int = 20
    ) -> list[Group]:
        """Lease to ``owner`` until ``now + lease_seconds`` up to ``limit`` actions that nobody holds (no
        lease, or a lapsed one) and whose next attempt is due; returns their groups, oldest action first."""
        lease_until = now + datetime.timedelta(seconds=lease_seconds)
        with self._write() as s:
            query = (
                sa.select(G.id)
                .where(G.action.is_not(None),
                       sa.or_(G.action_lease_until.is_(None), G.action_lease_until < now),
                       sa.or_(G.action_next_attempt_at.is_(None), G.action_next_attempt_at <= now))
                .order_by(G.updated_at, G.id)
                .limit(limit)
            )
            ids = claim_ids(s, query)
            if not ids:
                return []
            s.execute(sa.update(G).where(G.id.in_(ids)).values(action_owner=owner, action_lease_until=lease_until))
            rows = s.execute(select_groups().where(G.id.in_(ids)).order_by(G.updated_at, G.id))
            return [group_record(row) for row in rows]

    def renew_action_lease(
        self, group_id: uuid.UUID, action_id: uuid.UUID, owner: str, lease_until: datetime.datetime
    ) -> bool:
        """Extend ``owner``'s lease of the action; False if it lost it (taken over, finished or superseded)."""
        with self._write() as s:
            try:
                group = locked_group(s, group_id, None)
            except errors.NoSuchScalingGroup:
                return False
            if not _held(group, action_id, owner):
                return False
            s.execute(sa.update(G).where(G.id == group_id).values(action_lease_until=lease_until))
            return True

    def finish_scaling_action(
        self,
        group_id: uuid.UUID,
        action_id: uuid.UUID,
        owner: str,
        *,
        decision: Decision,
        current_size: int,
        members: Sequence[Member] | None,
        cooldown_end: datetime.datetime | None,
    ) -> Group:
        """End the action: clear it, set ``current_size`` and ``cooldown_end``, replace the members when
        ``members`` is given, log ``decision``, bump the version — one transaction. If the action was
        superseded or taken over by another owner, nothing changes and the group is returned as it is."""
        now = utcnow()
        with self._write() as s:
            group = locked_group(s, group_id, None)
            if not _held(group, action_id, owner):
                return group
            after = _finish(s, group, decision, now, current_size=current_size, cooldown_end=cooldown_end)
            if members is not None:
                replace_members(s, group_id, list(members), now)
        return after

    def retry_scaling_action(
        self,
        group_id: uuid.UUID,
        action_id: uuid.UUID,
        owner: str,
        *,
        error: str,
        next_attempt_at: datetime.datetime,
    ) -> None:
        """Record a failed attempt (``attempts`` + 1, ``last_error``) and release the lease until
        ``next_attempt_at``; nothing if ``owner`` no longer holds the action."""
        with self._write() as s:
            group = locked_group(s, group_id, None)
            if group.action is None or not _held(group, action_id, owner):
                return
            action = dataclasses.replace(group.action, attempts=group.action.attempts + 1, last_error=error)
            s.execute(sa.update(G).where(G.id == group_id).values(
                action=action_to_json(action), action_owner=None, action_lease_until=None,
                action_next_attempt_at=next_attempt_at,
            ))

    def fail_scaling_action(self, group_id: uuid.UUID, action_id: uuid.UUID, owner: str, *,
                            decision: Decision) -> Group:
        """Give the action up: clear it, set the desired capacity back to the current size (within the
        group's bounds) so that the group is consistent, log ``decision``. Nothing if ``owner`` no longer
        holds the action; returns the group."""
        now = utcnow()
        with self._write() as s:
            group = locked_group(s, group_id, None)
            if not _held(group, action_id, owner):
                return group
            desired = min(max(group.current_size, group.min_size), group.max_size)
            return _finish(s, group, decision, now, desired_capacity=desired)
