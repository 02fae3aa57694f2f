"""Resources: create, read, change (keeping past revisions in ``resource_history``) and delete."""

from __future__ import annotations

import datetime
import functools
import uuid
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy import exc
from sqlalchemy.orm import Session

from telescale.indexer import errors
from telescale.indexer.engine import IndexerEngine, constraint_text, utcnow
from telescale.indexer.metrics import add_metric
from telescale.indexer.models import ArchivePolicyRow, MetricRow, ResourceHistoryRow, ResourceRow, ResourceTypeRow
from telescale.indexer.policies import match_rule
from telescale.indexer.query import as_uuid
from telescale.indexer.records import Resource

#: The columns every resource has, sortable and filterable by name.
RESOURCE_BASE_COLUMNS = (
    "id",
    "type",
    "original_resource_id",
    "creator",
    "user_id",
    "project_id",
    "started_at",
    "ended_at",
    "revision_start",
)


def base_fields(source: Any) -> dict[str, Any]:
    """The :data:`RESOURCE_BASE_COLUMNS` of a resource, from an ORM row or a result mapping."""
    get = source.__getitem__ if isinstance(source, Mapping) else functools.partial(getattr, source)
    return {column: get(column) for column in RESOURCE_BASE_COLUMNS}


def _resource(row: ResourceRow) -> Resource:
    return Resource(
        **base_fields(row),
        revision_end=None,
        attributes=dict(row.attributes or {}),
        metrics={m.name: m.id for m in sorted(row.metrics, key=lambda m: m.name or "") if m.name is not None},
    )


@dataclass(frozen=True)
class OpenResource:
    """A resource without ``ended_at`` and the ids of its active metrics (what the janitor's auto-end reads)."""

    id: uuid.UUID
    started_at: datetime.datetime
    metric_ids: frozenset[uuid.UUID]


def _aware(value: datetime.datetime | None) -> datetime.datetime | None:
    """Naive datetimes are taken as UTC; everything is returned in UTC."""
    if value is None:
        return None
    if value.tzinfo is None:
        return value.replace(tzinfo=datetime.UTC)
    return value.astimezone(datetime.UTC)


def _clean(attributes: Mapping[str, Any] | None) -> dict[str, Any]:
    """Attributes as stored: a missing key means null, so SQL NULL is the only null a query meets
    (a JSON ``null`` would be a non-NULL value on PostgreSQL)."""
    return {k: v for k, v in (attributes or {}).items() if v is not None}


def _started_after_ended() -> errors.ResourceValueError:
    return errors.ResourceValueError("started_at", "Start timestamp cannot be after end timestamp")


def delete_resource_rows(s: Session, ids: Sequence[uuid.UUID]) -> None:
    """Before deleting resources: drop their history and mark their metrics deleted (the janitor expunges them)."""
    s.execute(
        sa.update(MetricRow)
        .where(MetricRow.resource_id.in_(list(ids)), MetricRow.status == "active")
        .values(status="delete", resource_id=None)
    )
    s.execute(sa.delete(ResourceHistoryRow).where(ResourceHistoryRow.id.in_(list(ids))))


def _resource_query(type: str, id: uuid.UUID) -> sa.Select[tuple[ResourceRow]]:
    """The resource with this id; with a type other than "generic" it must also be of that type."""
    query = sa.select(ResourceRow).where(ResourceRow.id == id)
    if type != "generic":
        query = query.where(ResourceRow.type == type)
    return query


def _reloaded(s: Session, row: ResourceRow) -> Resource:
    """The record of a resource just written, its metrics read again."""
    s.expire(row, ["metrics"])
    return _resource(row)


def _metric_name_taken(constraint: str) -> bool:
    """Whether the failed constraint is the one keeping metric names unique on a resource."""
    return "uq_metric" in constraint or "metric.resource_id" in constraint


class Resources(IndexerEngine):
    def create_resource(
        self,
        type: str,
        id: uuid.UUID,
        original_resource_id: str,
        creator: str,
        *,
        user_id: str | None = None,
        project_id: str | None = None,
        started_at: datetime.datetime | None = None,
        ended_at: datetime.datetime | None = None,
        attributes: Mapping[str, Any] | None = None,
        metrics: Mapping[str, uuid.UUID | Mapping[str, Any]] | None = None,
    ) -> Resource:
        """Create a resource and, in the same transaction, attach or create its named metrics.

        ``metrics`` maps a name to an existing metric id (it must be active and have the same creator,
        as in Gnocchi) or to ``{"archive_policy_name"?, "unit"?}`` for a new metric; without a policy
        name the archive policy rules decide (:class:`NoArchivePolicyRuleMatch` if none matches).
        """
        now = utcnow()
        started = _aware(started_at) or now
        ended = _aware(ended_at)
        if ended is not None and started > ended:
            raise _started_after_ended()
        try:
            with self._write() as s:
                if s.get(ResourceTypeRow, type) is None:
                    raise errors.NoSuchResourceType(type)
                if s.get(ResourceRow, id) is not None:
                    raise errors.ResourceAlreadyExists(id)
                row = ResourceRow(
                    id=id,
                    type=type,
                    original_resource_id=original_resource_id,
                    creator=creator,
                    user_id=user_id,
                    project_id=project_id,
                    started_at=started,
                    ended_at=ended,
                    revision_start=now,
                    attributes=_clean(attributes),
                )
                s.add(row)
                s.flush()
                if metrics:
                    self._set_metrics(s, row, metrics)
                return _reloaded(s, row)
        except exc.IntegrityError as e:
            text = constraint_text(e)
            if "pk_resource" in text or "resource.id" in text:
                raise errors.ResourceAlreadyExists(id) from None
            if _metric_name_taken(text):
                raise errors.NamedMetricAlreadyExists(None) from None
            raise

    @staticmethod
    def _set_metrics(s: Session, row: ResourceRow, metrics: Mapping[str, uuid.UUID | Mapping[str, Any]]) -> None:
        """Attach or create the named metrics of ``row`` (see :meth:`create_resource`), then flush."""
        for name, value in metrics.items():
            if isinstance(value, Mapping):
                policy_name = value.get("archive_policy_name")
                if policy_name is None:
                    rule = match_rule(s, name)
                    if rule is None:
                        raise errors.NoArchivePolicyRuleMatch(name)
                    policy_name = rule.archive_policy_name
                if s.get(ArchivePolicyRow, policy_name) is None:
                    raise errors.NoSuchArchivePolicy(policy_name)
                metric_id = value.get("id") or uuid.uuid4()
                add_metric(s, metric_id, row.creator, policy_name, name, value.get("unit"), row.id)
                s.flush()
                continue
            metric_id = as_uuid("metrics", value)
            taken = s.scalar(
                sa.select(MetricRow.id).where(
                    MetricRow.resource_id == row.id, MetricRow.name == name, MetricRow.id != metric_id
                )
            )
            if taken is not None:
                raise errors.NamedMetricAlreadyExists(name)
            result = s.execute(
                sa.update(MetricRow)
                .where(MetricRow.id == metric_id, MetricRow.status == "active", MetricRow.creator == row.creator)
                .values(resource_id=row.id, name=name)
            )
            if result.rowcount == 0:
                raise errors.NoSuchMetric(metric_id)
        s.flush()

    def get_resource(self, type: str, id: uuid.UUID) -> Resource | None:
        """The resource with this id; with a type other than "generic" it must also be of that type.

        Raises :class:`NoSuchResourceType` for an unknown type (Gnocchi answers 404 with that message).
        """
        with self._read() as s:
            if type != "generic" and s.get(ResourceTypeRow, type) is None:
                raise errors.NoSuchResourceType(type)
            row = s.scalar(_resource_query(type, id))
            return None if row is None else _resource(row)

    def update_resource(
        self,
        type: str,
        id: uuid.UUID,
        *,
        create_revision: bool = True,
        metrics: Mapping[str, uuid.UUID | Mapping[str, Any]] | None = None,
        append_metrics: bool = False,
        **fields: Any,
    ) -> Resource:
        """Change a resource; with ``create_revision`` its previous state goes to ``resource_history``.

        ``fields``: ``user_id``, ``project_id``, ``started_at``, ``ended_at`` and type attributes (None
        clears one). ``metrics`` replaces the named metrics (those left out are detached), or adds to
        them with ``append_metrics``.
        """
        now = utcnow()
        try:
            with self._write() as s:
                row = s.scalar(_resource_query(type, id).with_for_update())
                if row is None:
                    raise errors.NoSuchResource(id)
                if create_revision:
                    s.add(
                        ResourceHistoryRow(**base_fields(row), revision_end=now, attributes=dict(row.attributes or {}))
                    )
                    row.revision_start = now
                attributes = dict(row.attributes or {})
                for key, value in fields.items():
                    if key in ("user_id", "project_id"):
                        setattr(row, key, value)
                    elif key in ("started_at", "ended_at"):
                        setattr(row, key, _aware(value))
                    else:
                        attributes[key] = value
                row.attributes = _clean(attributes)
                if row.ended_at is not None and row.started_at > row.ended_at:
                    raise _started_after_ended()
                s.flush()
                if metrics is not None:
                    if not append_metrics:
                        s.execute(
                            sa.update(MetricRow)
                            .where(MetricRow.resource_id == row.id, MetricRow.status == "active")
                            .values(resource_id=None)
                        )
                    self._set_metrics(s, row, metrics)
                return _reloaded(s, row)
        except exc.IntegrityError as e:
            text = constraint_text(e)
            if "started_before_ended" in text or "CHECK" in text:
                raise _started_after_ended() from None
            if _metric_name_taken(text):
                raise errors.NamedMetricAlreadyExists(None) from None
            raise

    def delete_resource(self, id: uuid.UUID) -> None:
        """Delete a resource and its history; its metrics are marked deleted (the janitor expunges them)."""
        with self._write() as s:
            delete_resource_rows(s, [id])
            result = s.execute(sa.delete(ResourceRow).where(ResourceRow.id == id))
            if result.rowcount == 0:
                raise errors.NoSuchResource(id)

    def list_open_resources(self, *, after: uuid.UUID | None = None, limit: int = 1000) -> list[OpenResource]:
        """Resources whose ``ended_at`` is null, by id, those after ``after`` only, at most ``limit``, each
        with the ids of its active metrics (two queries: primary key order, then the metric's
        ``(resource_id, name)`` index)."""
        query = sa.select(ResourceRow.id, ResourceRow.started_at).where(ResourceRow.ended_at.is_(None))
        if after is not None:
            query = query.where(ResourceRow.id > after)
        with self._read() as s:
            rows = s.execute(query.order_by(ResourceRow.id).limit(limit)).all()
            metrics: dict[uuid.UUID, set[uuid.UUID]] = {}
            if rows:
                attached = sa.select(MetricRow.resource_id, MetricRow.id).where(
                    MetricRow.resource_id.in_([r.id for r in rows]), MetricRow.status == "active"
                )
                for resource_id, metric_id in s.execute(attached):
                    metrics.setdefault(resource_id, set()).add(metric_id)
        return [OpenResource(r.id, r.started_at, frozenset(metrics.get(r.id, ()))) for r in rows]

    def end_resource(
        self,
        id: uuid.UUID,
        ended_at: datetime.datetime,
        *,
        metric_ids: Collection[uuid.UUID] | None = None,
    ) -> Resource | None:
        """Set ``ended_at`` of a resource that has none, keeping its previous state in history as a PATCH does.

        ``ended_at`` is raised to ``started_at`` if earlier. With ``metric_ids`` the resource's active
        metrics must still be exactly those (what the caller based its decision on). Returns the changed
        resource, or None when it is gone, already ended or its metrics changed.
        """
        now = utcnow()
        with self._write() as s:
            row = s.scalar(
                sa.select(ResourceRow).where(ResourceRow.id == id, ResourceRow.ended_at.is_(None)).with_for_update()
            )
            if row is None:
                return None
            if metric_ids is not None:
                current = s.scalars(
                    sa.select(MetricRow.id).where(MetricRow.resource_id == id, MetricRow.status == "active")
                )
                if set(current) != set(metric_ids):
                    return None
            s.add(ResourceHistoryRow(**base_fields(row), revision_end=now, attributes=dict(row.attributes or {})))
            row.revision_start = now
            end = _aware(ended_at)
            assert end is not None
            row.ended_at = max(end, row.started_at)
            s.flush()
            return _reloaded(s, row)

    def expire_history(self, before: datetime.datetime, limit: int = 1000) -> int:
        """Delete up to ``limit`` history revisions whose ``revision_end`` is before ``before``; returns how many.

        Revisions are numbered in the order they are written and each gets ``revision_end`` = the time it
        was written, so the oldest revisions by primary key are the oldest by ``revision_end``: the
        ``limit`` lowest revision numbers are read through the primary key (bounded work, no scan, no
        index on ``revision_end`` needed) and those old enough among them are deleted. A revision
        written out of order (clocks of several API hosts apart) is merely deleted a pass later.
        """
        before = _aware(before) or before
        head = (
            sa.select(ResourceHistoryRow.revision, ResourceHistoryRow.revision_end)
            .order_by(ResourceHistoryRow.revision)
            .limit(limit)
        )
        with self._read() as s:
            expired = [revision for revision, end in s.execute(head) if end < before]
        if not expired:
            return 0
        with self._write() as s:
            result = s.execute(
                sa.delete(ResourceHistoryRow).where(
                    ResourceHistoryRow.revision.in_(expired), ResourceHistoryRow.revision_end < before
                )
            )
            return int(result.rowcount or 0)
