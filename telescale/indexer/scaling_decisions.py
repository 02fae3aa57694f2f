"""The decision log, and the one atomic step every decision goes through (:meth:`decide_scaling`).

A decision reads the group and its recent past (recommendations for the stabilisation windows, changes for
the rate limits), decides, and writes the decision with the group's new state; if two of these interleaved
on one group, both could read the same desired capacity and one change would be lost, or both could start
an action. So the whole step runs in one write transaction with the group's row locked (``SELECT … FOR
UPDATE`` on PostgreSQL; on SQLite ``BEGIN IMMEDIATE`` serialises writers already). The log has no foreign
key to the group: the history of a deleted group stays readable, scoped by the project copied into it.
"""

from __future__ import annotations

import dataclasses
import datetime
import uuid
from collections.abc import Callable, Mapping
from typing import Any

import sqlalchemy as sa

from telescale.indexer import errors
from telescale.indexer.engine import IndexerEngine, utcnow
from telescale.indexer.models import ScalingDecisionRow, ScalingGroupRow
from telescale.indexer.scaling_groups import UPDATABLE_GROUP_FIELDS
from telescale.indexer.scaling_rows import (
    check_limit,
    coerce_group_changes,
    decision_record,
    group_scope,
    insert_decision,
    locked_group,
    write_group,
)
from telescale.scaling.model import Decision, Group
from telescale.scaling.policies.gates import Past

D = ScalingDecisionRow
G = ScalingGroupRow
#: Outcomes that changed the desired capacity (what rate limits count).
CHANGE_OUTCOMES = ("scale_out", "scale_in")
#: What a decision may change on its group: the user's settings plus the action and cooldown end.
DECIDABLE_GROUP_FIELDS = UPDATABLE_GROUP_FIELDS | {"action"}

Decide = Callable[[Group, Past], tuple[Decision, Mapping[str, Any]]]


def _past(s: Any, group_id: uuid.UUID, since: datetime.datetime) -> Past:
    rows = s.execute(
        sa.select(D.timestamp, D.outcome, D.recommended, D.size_before, D.size_after)
        .where(D.group_id == group_id, D.timestamp >= since)
        .order_by(D.timestamp, D.id)
    ).all()
    return Past(
        recommendations=[(r.timestamp, r.recommended) for r in rows if r.recommended is not None],
        changes=[(r.timestamp, r.size_before, r.size_after) for r in rows if r.outcome in CHANGE_OUTCOMES],
    )


class ScalingDecisions(IndexerEngine):
    def decide_scaling(
        self,
        group_id: uuid.UUID,
        decide: Decide,
        *,
        past_seconds: float = 3600.0,
        now: datetime.datetime | None = None,
    ) -> tuple[Group, Decision]:
        """Run ``decide(group, past)`` with the group locked and store what it returns, atomically.

        ``past`` holds the group's decisions of the last ``past_seconds`` (oldest first): the recommendations
        and the changes of desired capacity. ``decide`` returns the decision to log and the group fields to
        change (Group field names; ``action`` as a ``model.Action`` or None); the version is bumped. An
        exception from ``decide`` rolls everything back. Returns the group after the change and the decision.
        Raises :class:`NoSuchScalingGroup`, :class:`InvalidScalingValue` (a change of an unknown field, sizes
        out of bounds, a decision of another group)."""
        now = now or utcnow()
        with self._write() as s:
            before = locked_group(s, group_id, None)
            past = _past(s, group_id, now - datetime.timedelta(seconds=past_seconds))
            decision, changes = decide(before, past)
            if decision.group_id != group_id:
                raise errors.InvalidScalingValue(
                    "group_id", f"a decision of group {decision.group_id} cannot be logged for {group_id}"
                )
            unknown = sorted(set(changes) - DECIDABLE_GROUP_FIELDS)
            if unknown:
                raise errors.InvalidScalingValue(unknown[0], "not a field a decision can change")
            after = dataclasses.replace(
                before, **coerce_group_changes(changes), updated_at=now, version=before.version + 1
            )
            insert_decision(s, decision, before.project_id)
            write_group(s, after)
        return after, decision

    def record_decision(self, decision: Decision) -> None:
        """Log a decision that changes nothing (a trigger that did not fire, a signal while paused …)."""
        with self._write() as s:
            project_id = s.scalar(sa.select(G.project_id).where(G.id == decision.group_id))
            if project_id is None and s.scalar(sa.select(G.id).where(G.id == decision.group_id)) is None:
                raise errors.NoSuchScalingGroup(decision.group_id)
            insert_decision(s, decision, project_id)

    def list_decisions(
        self,
        group_id: uuid.UUID,
        project: str | None,
        *,
        start: datetime.datetime | None = None,
        end: datetime.datetime | None = None,
        limit: int = 100,
        marker: uuid.UUID | None = None,
        outcome: str | None = None,
    ) -> list[Decision]:
        """The group's decisions newest first, from ``start`` (included) to ``end`` (excluded), at most
        ``limit``, after ``marker`` (a decision id of this log, else :class:`InvalidMarker`), of one
        ``outcome`` if given. Works for a deleted group. :class:`NoSuchScalingGroup` when the group is not in
        scope and none of its decisions is either (an unknown group, or another project's)."""
        check_limit(limit)
        scope = D.group_id == group_id
        if project is not None:
            scope = sa.and_(scope, D.project_id == project)
        query = sa.select(D.__table__).where(scope)
        if start is not None:
            query = query.where(D.timestamp >= start)
        if end is not None:
            query = query.where(D.timestamp < end)
        if outcome is not None:
            query = query.where(D.outcome == outcome)
        with self._read() as s:
            if marker is not None:
                after = s.execute(sa.select(D.timestamp, D.id).where(scope, D.id == marker)).first()
                if after is None:
                    raise errors.InvalidMarker(marker)
                query = query.where(sa.or_(
                    D.timestamp < after.timestamp, sa.and_(D.timestamp == after.timestamp, D.id < after.id)
                ))
            rows = list(s.execute(query.order_by(D.timestamp.desc(), D.id.desc()).limit(limit)))
            if (not rows and marker is None and s.scalar(sa.select(D.id).where(scope).limit(1)) is None
                    and s.scalar(sa.select(G.id).where(G.id == group_id, group_scope(project))) is None):
                raise errors.NoSuchScalingGroup(group_id, project)
        return [decision_record(row) for row in rows]
