"""Metrics: their archive policy, the resource they are attached to, filtered and paged listings."""

from __future__ import annotations

import functools
import uuid
from collections.abc import Mapping, Sequence
from typing import Any

import orjson
import sqlalchemy as sa
from sqlalchemy import exc
from sqlalchemy.orm import Session

from telescale.indexer import errors
from telescale.indexer.engine import IndexerEngine, constraint_text
from telescale.indexer.models import ArchivePolicyRow, MetricRow, ResourceRow
from telescale.indexer.policies import policy_record
from telescale.indexer.query import after_marker, as_uuid, equals, page, parse_sorts
from telescale.indexer.records import Metric
from telescale.timeseries.policy import ArchivePolicy

#: Columns ``list_metrics`` sorts on (``key:direction``); the last sort key is always the unique id.
_METRIC_SORT_COLUMNS: dict[str, sa.ColumnElement[Any]] = {
    "id": MetricRow.id,
    "name": MetricRow.name,
    "unit": MetricRow.unit,
    "creator": MetricRow.creator,
    "archive_policy_name": MetricRow.archive_policy_name,
    "resource_id": MetricRow.resource_id,
    "status": MetricRow.status,
}
_METRIC_NULLABLE = frozenset({"name", "unit", "creator", "resource_id"})
_METRIC_STR_FILTERS: dict[str, sa.ColumnElement[Any]] = {
    "name": MetricRow.name,
    "unit": MetricRow.unit,
    "creator": MetricRow.creator,
    "archive_policy_name": MetricRow.archive_policy_name,
    "status": MetricRow.status,
}
_METRIC_FILTER_KEYS = frozenset(
    {
        *_METRIC_STR_FILTERS,
        "id",
        "resource_id",
        "user_id",
        "project_id",
        "created_by_user_id",
        "created_by_project_id",
        "visible_to_project_id",
    }
)


_METRIC_COLUMNS = (MetricRow.id, MetricRow.creator, MetricRow.name, MetricRow.unit, MetricRow.resource_id,
                   MetricRow.status)
_POLICY_COLUMNS = (ArchivePolicyRow.name, ArchivePolicyRow.back_window, ArchivePolicyRow.definition,
                   ArchivePolicyRow.aggregation_methods)

#: Built once: SQLAlchemy caches its compiled form, so a lookup costs one round trip and little else.  The
#: policy's JSON columns come as text, decoded only the first time that text is seen (:func:`_policy_from_text`):
#: decoding them again for every row cost more than the rest of the row.
_GET_METRICS = sa.select(
    *_METRIC_COLUMNS, ArchivePolicyRow.name, ArchivePolicyRow.back_window,
    sa.cast(ArchivePolicyRow.definition, sa.Text), sa.cast(ArchivePolicyRow.aggregation_methods, sa.Text),
).join(
    ArchivePolicyRow, ArchivePolicyRow.name == MetricRow.archive_policy_name
).where(MetricRow.id.in_(sa.bindparam("ids", expanding=True)), MetricRow.status == "active")


def _policy(name: str, back_window: int, definition: list[dict[str, Any]], methods: list[str]) -> ArchivePolicy:
    """The policy record for these column values, converted once per distinct value (policies are few)."""
    return _policy_from_key(name, back_window, orjson.dumps(definition), tuple(methods))


@functools.lru_cache(maxsize=256)
def _policy_from_text(name: str, back_window: int, definition: str, methods: str) -> ArchivePolicy:
    return policy_record(ArchivePolicyRow(name=name, back_window=back_window, definition=orjson.loads(definition),
                                          aggregation_methods=orjson.loads(methods)))


@functools.lru_cache(maxsize=256)
def _policy_from_key(name: str, back_window: int, definition: bytes, methods: tuple[str, ...]) -> ArchivePolicy:
    return policy_record(ArchivePolicyRow(name=name, back_window=back_window, definition=orjson.loads(definition),
                                          aggregation_methods=list(methods)))


def _metric_record(row: MetricRow) -> Metric:
    """An ORM metric row as a record; its policy converted once per distinct definition (:func:`_policy`)."""
    p = row.archive_policy
    return Metric(id=row.id, archive_policy=_policy(p.name, p.back_window, p.definition, p.aggregation_methods),
                  creator=row.creator, name=row.name, unit=row.unit, resource_id=row.resource_id, status=row.status)


def _metric_filters(filters: Mapping[str, Any] | None) -> list[sa.ColumnElement[bool]]:
    filters = dict(filters or {})
    unknown = sorted(set(filters) - _METRIC_FILTER_KEYS)
    if unknown:
        raise errors.InvalidFilter(unknown[0], unknown=True)
    clauses: list[sa.ColumnElement[bool]] = []

    status = filters.pop("status", "active")
    if status is not None:
        clauses.append(equals(MetricRow.status, status))

    for key in ("id", "resource_id"):
        if key not in filters:
            continue
        value = filters.pop(key)
        column = MetricRow.id if key == "id" else MetricRow.resource_id
        if value is None:
            clauses.append(column.is_(None))
        elif isinstance(value, list | tuple | set | frozenset):
            clauses.append(column.in_([as_uuid(key, v) for v in value]))
        else:
            clauses.append(column == as_uuid(key, value))

    # Gnocchi's compatibility with the old user/project API: either one given means the creator
    # is exactly "<user_id or ''>:<project_id or ''>" (ANDed with an explicit creator filter).
    user_id = filters.pop("user_id", None)
    project_id = filters.pop("project_id", None)
    if user_id is not None or project_id is not None:
        clauses.append(MetricRow.creator == f"{user_id or ''}:{project_id or ''}")

    # The derived fields the API returns (creator.partition(":")), matched the same way.
    created_by_user_id = filters.pop("created_by_user_id", None)
    if created_by_user_id is not None:
        clauses.append(
            sa.or_(
                MetricRow.creator == created_by_user_id,
                MetricRow.creator.startswith(f"{created_by_user_id}:", autoescape=True),
            )
        )
    created_by_project_id = filters.pop("created_by_project_id", None)
    if created_by_project_id is not None:
        if created_by_project_id == "":
            clauses.append(sa.or_(MetricRow.creator.not_like("%:%"), MetricRow.creator.endswith(":", autoescape=True)))
        else:
            clauses.append(MetricRow.creator.endswith(f":{created_by_project_id}", autoescape=True))

    # Gnocchi's keystone "list metric" policy: metrics the project created, or attached to a resource
    # that belongs to (or was created by) the project.
    visible_to = filters.pop("visible_to_project_id", None)
    if visible_to is not None:
        owned = MetricRow.creator.endswith(f":{visible_to}", autoescape=True)
        project_resources = sa.select(ResourceRow.id).where(
            sa.or_(
                ResourceRow.project_id == visible_to,
                ResourceRow.creator.endswith(f":{visible_to}", autoescape=True),
            )
        )
        clauses.append(sa.or_(owned, MetricRow.resource_id.in_(project_resources)))

    for key, value in filters.items():
        clauses.append(equals(_METRIC_STR_FILTERS[key], value))
    return clauses


def _check_free(s: Session, id: uuid.UUID, resource_id: uuid.UUID | None, name: str | None) -> None:
    if s.get(MetricRow, id) is not None:
        raise errors.MetricAlreadyExists(id)
    if resource_id is not None and name is not None:
        taken = s.scalar(sa.select(MetricRow.id).where(MetricRow.resource_id == resource_id, MetricRow.name == name))
        if taken is not None:
            raise errors.NamedMetricAlreadyExists(name)


def add_metric(
    s: Session,
    id: uuid.UUID,
    creator: str | None,
    archive_policy_name: str,
    name: str | None,
    unit: str | None,
    resource_id: uuid.UUID | None,
) -> None:
    """Add a new active metric to the session, once its id (and its name on the resource) is free."""
    _check_free(s, id, resource_id, name)
    s.add(
        MetricRow(
            id=id,
            creator=creator,
            archive_policy_name=archive_policy_name,
            name=name,
            unit=unit,
            resource_id=resource_id,
            status="active",
        )
    )


def _metric_integrity_error(
    e: exc.IntegrityError,
    id: uuid.UUID,
    name: str | None,
    archive_policy_name: str,
    resource_id: uuid.UUID | None,
) -> errors.IndexerError:
    text = constraint_text(e)
    if "archive_policy" in text:
        return errors.NoSuchArchivePolicy(archive_policy_name)
    if "fk_metric_resource_id" in text or "FOREIGN KEY" in text:
        return errors.NoSuchResource(resource_id)
    if "resource_id" in text and "name" in text:
        return errors.NamedMetricAlreadyExists(name)
    return errors.MetricAlreadyExists(id)


class Metrics(IndexerEngine):
    def create_metric(
        self,
        id: uuid.UUID,
        creator: str,
        archive_policy_name: str,
        name: str | None = None,
        unit: str | None = None,
        resource_id: uuid.UUID | None = None,
    ) -> Metric:
        try:
            with self._write() as s:
                policy_row = s.get(ArchivePolicyRow, archive_policy_name)
                if policy_row is None:
                    raise errors.NoSuchArchivePolicy(archive_policy_name)
                if resource_id is not None and s.get(ResourceRow, resource_id) is None:
                    raise errors.NoSuchResource(resource_id)
                add_metric(s, id, creator, archive_policy_name, name, unit, resource_id)
                policy = policy_record(policy_row)
        except exc.IntegrityError as e:
            raise _metric_integrity_error(e, id, name, archive_policy_name, resource_id) from None
        return Metric(
            id=id,
            archive_policy=policy,
            creator=creator,
            name=name,
            unit=unit,
            resource_id=resource_id,
            status="active",
        )

    def get_metric(self, id: uuid.UUID) -> Metric | None:
        """The active metric with this id, with its archive policy (one query)."""
        metrics = self.get_metrics([id])
        return metrics[0] if metrics else None

    def get_metrics(self, ids: Sequence[uuid.UUID]) -> list[Metric]:
        """Active metrics among ``ids`` in one query, in the order asked; unknown ids are left out.

        The hot path of every measures read and write: one Core SELECT joined with the policy (no ORM
        objects), the policy converted once per distinct definition (:func:`_policy_from_text`).
        """
        wanted = list(dict.fromkeys(ids))
        if not wanted:
            return []
        by_id = {}
        for mid, creator, name, unit, resource_id, status, *policy in self._fetch(_GET_METRICS, {"ids": wanted}):
            by_id[mid] = Metric(id=mid, archive_policy=_policy_from_text(*policy), creator=creator, name=name,
                                unit=unit, resource_id=resource_id, status=status)
        return [by_id[i] for i in wanted if i in by_id]

    def list_metrics(
        self,
        *,
        filters: Mapping[str, Any] | None = None,
        sorts: Sequence[str] = (),
        limit: int | None = None,
        marker: uuid.UUID | str | None = None,
    ) -> list[Metric]:
        """Metrics matching every filter, sorted, one page at a time.

        ``filters``: equality on id, name, unit, creator, archive_policy_name, resource_id, status (a
        list means IN, None means IS NULL). ``status`` defaults to "active"; ``status=None`` lists all.
        ``user_id``/``project_id`` follow Gnocchi's metric list: if either is given the creator must be
        exactly ``"<user_id>:<project_id>"`` (missing half empty). ``created_by_user_id`` /
        ``created_by_project_id`` match the halves of the creator instead. ``visible_to_project_id``
        is Gnocchi's keystone list filter for a non-admin: created by that project, or attached to a
        resource whose project_id is (or which was created by) that project.

        ``sorts``: ``"key[:asc|desc[-nullsfirst|-nullslast]]"``, then id ascending to break ties.
        ``marker``: the id of the last metric of the previous page (keyset pagination, any sort).
        """
        keys = parse_sorts(sorts, _METRIC_SORT_COLUMNS, _METRIC_NULLABLE, "id")
        clauses = _metric_filters(filters)
        with self._read() as s:
            if marker is not None:
                try:
                    marker_id = marker if isinstance(marker, uuid.UUID) else uuid.UUID(str(marker))
                except ValueError:
                    raise errors.InvalidMarker(marker) from None
                clauses.append(after_marker(s, keys, MetricRow.id == marker_id, marker))
            query = page(sa.select(MetricRow).where(*clauses), keys, limit)
            return [_metric_record(row) for row in s.scalars(query)]

    def delete_metric(self, id: uuid.UUID) -> None:
        """Mark the metric deleted; the janitor expunges its data, then :meth:`expunge_metric` the row.

        It is detached from its resource at once (as in Gnocchi) so its name can be reused there.
        """
        with self._write() as s:
            result = s.execute(
                sa.update(MetricRow)
                .where(MetricRow.id == id, MetricRow.status == "active")
                .values(status="delete", resource_id=None)
            )
            if result.rowcount == 0:
                raise errors.NoSuchMetric(id)

    def list_deleted_metric_ids(self, limit: int | None = None) -> list[uuid.UUID]:
        """Ids of the metrics marked deleted (waiting for the janitor), by id, at most ``limit`` of them."""
        query = sa.select(MetricRow.id).where(MetricRow.status == "delete").order_by(MetricRow.id)
        if limit is not None:
            query = query.limit(limit)
        with self._read() as s:
            return list(s.scalars(query))

    def expunge_metric(self, id: uuid.UUID) -> None:
        """Remove the metric row for good (whatever its status)."""
        with self._write() as s:
            result = s.execute(sa.delete(MetricRow).where(MetricRow.id == id))
            if result.rowcount == 0:
                raise errors.NoSuchMetric(id)
