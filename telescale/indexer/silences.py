"""Autohealing silences: while one matches a member's name, autohealing leaves that member alone.

A silence belongs to a project and applies to one group (``group_id``) or to every group of its project
(``group_id`` NULL), until ``expires_at``; a silence of another project behaves exactly as a missing one.
Expired silences are kept (the API can show them) and simply stop applying.
"""

from __future__ import annotations

import dataclasses
import datetime
import re
import uuid

import sqlalchemy as sa

from telescale.indexer import errors
from telescale.indexer.engine import IndexerEngine, utcnow
from telescale.indexer.models import ScalingGroupRow, SilenceRow
from telescale.indexer.query import equals
from telescale.indexer.scaling_rows import group_scope
from telescale.scaling.model import Silence

S = SilenceRow
G = ScalingGroupRow


def _scope(project: str | None) -> sa.ColumnElement[bool]:
    return sa.true() if project is None else S.project_id == project


def _record(row: sa.Row[object]) -> Silence:
    return Silence(**{f.name: getattr(row, f.name) for f in dataclasses.fields(Silence)})


def _check(silence: Silence) -> None:
    try:
        re.compile(silence.pattern)
    except (re.error, TypeError) as e:
        raise errors.InvalidScalingValue("pattern", f"{silence.pattern!r} is not a regular expression ({e})") from None
    if not isinstance(silence.expires_at, datetime.datetime) or silence.expires_at.tzinfo is None:
        raise errors.InvalidScalingValue("expires_at", "an expiry is a date and time with a timezone")


class Silences(IndexerEngine):
    def create_silence(self, silence: Silence) -> Silence:
        """Store a silence (created now unless ``created_at`` is given). A ``group_id`` must name a group of
        the silence's project (:class:`NoSuchScalingGroup`); a bad ``pattern`` or naive ``expires_at`` raises
        :class:`InvalidScalingValue`."""
        _check(silence)
        silence = dataclasses.replace(silence, created_at=silence.created_at or utcnow())
        with self._write() as s:
            if silence.group_id is not None and s.scalar(
                sa.select(G.id).where(G.id == silence.group_id, equals(G.project_id, silence.project_id))
            ) is None:
                raise errors.NoSuchScalingGroup(silence.group_id, silence.project_id)
            s.execute(sa.insert(S).values({f.name: getattr(silence, f.name) for f in dataclasses.fields(Silence)}))
        return silence

    def get_silence(self, silence_id: uuid.UUID, project: str | None) -> Silence:
        with self._read() as s:
            row = s.execute(sa.select(S.__table__).where(S.id == silence_id, _scope(project))).first()
        if row is None:
            raise errors.NoSuchSilence(silence_id, project)
        return _record(row)

    def list_silences(
        self,
        project: str | None,
        *,
        group_id: uuid.UUID | None = None,
        active_at: datetime.datetime | None = None,
    ) -> list[Silence]:
        """Silences in scope, oldest first. With ``group_id``: those that apply to that group's members (its
        own and its project's group-wide ones; :class:`NoSuchScalingGroup` if the group is not in scope).
        With ``active_at``: only those not expired at that time."""
        query = sa.select(S.__table__).where(_scope(project))
        if active_at is not None:
            query = query.where(S.expires_at > active_at)
        with self._read() as s:
            if group_id is not None:
                group = s.execute(sa.select(G.project_id).where(G.id == group_id, group_scope(project))).first()
                if group is None:
                    raise errors.NoSuchScalingGroup(group_id, project)
                query = query.where(sa.or_(
                    S.group_id == group_id, sa.and_(S.group_id.is_(None), equals(S.project_id, group.project_id))
                ))
            return [_record(row) for row in s.execute(query.order_by(S.created_at, S.id))]

    def delete_silence(self, silence_id: uuid.UUID, project: str | None) -> Silence:
        """Delete the silence; returns it."""
        with self._write() as s:
            row = s.execute(sa.select(S.__table__).where(S.id == silence_id, _scope(project))).first()
            if row is None:
                raise errors.NoSuchSilence(silence_id, project)
            s.execute(sa.delete(S).where(S.id == silence_id))
        return _record(row)
