"""Scaling groups and their members: create, read, list, change and delete a group; read and mark members.

A group is visible only within its project (``project`` is the caller's scope, None for an admin): a group
of another project behaves exactly as a missing one. Changes are conditional on ``version`` when asked, so
two users editing one group never silently overwrite each other; the action in flight is not changed here
(decisions and the scaler own it, see :mod:`telescale.indexer.scaling_decisions` and ``scaling_actions``).
"""

from __future__ import annotations

import dataclasses
import uuid
from collections.abc import Mapping
from typing import Any

import sqlalchemy as sa
from sqlalchemy import exc

from telescale.indexer import errors
from telescale.indexer.engine import IndexerEngine, constraint_text, utcnow
from telescale.indexer.models import ScalingGroupRow, ScalingMemberRow
from telescale.indexer.query import equals
from telescale.indexer.scaling_rows import (
    check_limit,
    check_member_status,
    coerce_group_changes,
    group_record,
    group_scope,
    group_values,
    locked_group,
    member_record,
    select_groups,
    write_group,
)
from telescale.scaling.model import Group, Member

G = ScalingGroupRow
M = ScalingMemberRow
#: What :meth:`ScalingGroups.update_scaling_group` may change; the rest is identity, bookkeeping or the action.
UPDATABLE_GROUP_FIELDS = frozenset(f.name for f in dataclasses.fields(Group)) - {
    "id", "project_id", "user_id", "action", "created_at", "updated_at", "version",
}


def _duplicate(e: exc.IntegrityError) -> bool:
    text = constraint_text(e)
    return "uq_scaling_group_project_id_name" in text or "scaling_group.project_id, scaling_group.name" in text


class ScalingGroups(IndexerEngine):
    def create_scaling_group(self, group: Group) -> Group:
        """Store a new group (created and updated now, version 1, no action in flight).

        Raises :class:`ScalingGroupAlreadyExists` when its project has a group of that name, and
        :class:`InvalidScalingValue` for sizes out of bounds."""
        now = utcnow()
        group = dataclasses.replace(group, created_at=now, updated_at=now, version=1, action=None)
        values = group_values(group)
        try:
            with self._write() as s:
                taken = s.scalar(sa.select(G.id).where(equals(G.project_id, group.project_id), G.name == group.name))
                if taken is not None:
                    raise errors.ScalingGroupAlreadyExists(group.name, group.project_id)
                s.execute(sa.insert(G).values(values))
        except exc.IntegrityError as e:
            if _duplicate(e):
                raise errors.ScalingGroupAlreadyExists(group.name, group.project_id) from None
            raise
        return group

    def get_scaling_group(self, group_id: uuid.UUID, project: str | None) -> Group:
        with self._read() as s:
            row = s.execute(select_groups().where(G.id == group_id, group_scope(project))).first()
        if row is None:
            raise errors.NoSuchScalingGroup(group_id, project)
        return group_record(row)

    def list_scaling_groups(
        self,
        project: str | None,
        *,
        limit: int | None = None,
        marker: uuid.UUID | None = None,
        name: str | None = None,
    ) -> list[Group]:
        """The groups in scope, oldest first (``created_at``, then ``id``); the page after ``marker`` (a group
        id in scope, else :class:`InvalidMarker`), at most ``limit``, only those named ``name`` if given."""
        check_limit(limit)
        query = select_groups().where(group_scope(project))
        if name is not None:
            query = query.where(G.name == name)
        with self._read() as s:
            if marker is not None:
                after = s.execute(sa.select(G.created_at, G.id).where(G.id == marker, group_scope(project))).first()
                if after is None:
                    raise errors.InvalidMarker(marker)
                query = query.where(sa.or_(
                    G.created_at > after.created_at, sa.and_(G.created_at == after.created_at, G.id > after.id)
                ))
            query = query.order_by(G.created_at, G.id)
            if limit is not None:
                query = query.limit(limit)
            return [group_record(row) for row in s.execute(query)]

    def update_scaling_group(
        self,
        group_id: uuid.UUID,
        project: str | None,
        changes: Mapping[str, Any],
        *,
        expected_version: int | None = None,
    ) -> Group:
        """Change the given fields (names of :class:`Group` fields in :data:`UPDATABLE_GROUP_FIELDS`; behavior and
        healing as records or JSON objects) and bump the version. Raises :class:`ScalingGroupConflict` if
        ``expected_version`` is given and differs, :class:`ScalingGroupAlreadyExists` on a rename onto a
        taken name, :class:`InvalidScalingValue` for an unknown field or sizes out of bounds."""
        unknown = sorted(set(changes) - UPDATABLE_GROUP_FIELDS)
        if unknown:
            allowed = ", ".join(sorted(UPDATABLE_GROUP_FIELDS))
            raise errors.InvalidScalingValue(unknown[0], f"not a field of a scaling group that can change ({allowed})")
        values = coerce_group_changes(changes)
        try:
            with self._write() as s:
                before = locked_group(s, group_id, project)
                if expected_version is not None and before.version != expected_version:
                    raise errors.ScalingGroupConflict(group_id, expected_version, before.version)
                after = dataclasses.replace(before, **values, updated_at=utcnow(), version=before.version + 1)
                if after.name != before.name:
                    taken = s.scalar(sa.select(G.id).where(
                        equals(G.project_id, after.project_id), G.name == after.name, G.id != group_id
                    ))
                    if taken is not None:
                        raise errors.ScalingGroupAlreadyExists(after.name, after.project_id)
                write_group(s, after)
        except exc.IntegrityError as e:
            if _duplicate(e):
                raise errors.ScalingGroupAlreadyExists(values["name"], project) from None
            raise
        return after

    def delete_scaling_group(self, group_id: uuid.UUID, project: str | None) -> Group:
        """Delete the group with its policies and members; its decision log stays readable. Returns it."""
        with self._write() as s:
            deleted = locked_group(s, group_id, project)
            s.execute(sa.delete(G).where(G.id == group_id))
        return deleted

    def list_scaling_members(self, group_id: uuid.UUID) -> list[Member]:
        """The group's members, oldest first (the scaler's view: not scoped)."""
        with self._read() as s:
            rows = s.execute(sa.select(M.__table__).where(M.group_id == group_id).order_by(M.created_at, M.id))
            return [member_record(row) for row in rows]

    def set_member_status(self, group_id: uuid.UUID, member_id: uuid.UUID, status: str) -> Member:
        """Mark a member ``active``, ``unhealthy`` or ``failed``; returns it. Raises
        :class:`NoSuchScalingMember` when the group has no such member."""
        check_member_status(status)
        with self._write() as s:
            updated = s.execute(
                sa.update(M).where(M.group_id == group_id, M.id == member_id).values(status=status)
            ).rowcount
            if not updated:
                raise errors.NoSuchScalingMember(member_id, group_id)
            row = s.execute(sa.select(M.__table__).where(M.id == member_id)).one()
            return member_record(row)
