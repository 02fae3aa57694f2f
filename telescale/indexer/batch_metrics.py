"""Many resources and many new metrics at once: what a batch of measures for many resources needs.

Ceilometer's publisher sends one ``POST /v1/batch/resources/metrics/measures?create_metrics=true`` per batch of
samples, naming hundreds of resources.  Their metrics are found by name in one query
(:meth:`~telescale.indexer.named_metrics.NamedMetrics.metrics_by_resource_and_name`); the resources of the
pairs not found are read together here, and the metrics to create are created in one transaction.
"""

from __future__ import annotations

import uuid
from collections.abc import Collection, Sequence
from dataclasses import dataclass

import sqlalchemy as sa
from sqlalchemy import exc
from sqlalchemy.orm import Session

from telescale.indexer import errors
from telescale.indexer.engine import IndexerEngine
from telescale.indexer.metrics import _metric_integrity_error
from telescale.indexer.models import ArchivePolicyRow, MetricRow, ResourceRow
from telescale.indexer.policies import policy_record
from telescale.indexer.records import Metric, Resource
from telescale.indexer.resources import _resource

__all__ = ["BatchMetrics", "NewMetric"]

_CHUNK = 500  # (resource id, name) pairs per statement, as in named_metrics


@dataclass(frozen=True)
class NewMetric:
    """A metric to create: what :meth:`Metrics.create_metric` takes, as one value."""

    id: uuid.UUID
    creator: str | None
    archive_policy_name: str
    name: str | None = None
    unit: str | None = None
    resource_id: uuid.UUID | None = None


class BatchMetrics(IndexerEngine):
    def get_resources(self, ids: Collection[uuid.UUID]) -> dict[uuid.UUID, Resource]:
        """The resources (any type) among ``ids``, by id: one query, plus one for all their metrics."""
        if not ids:
            return {}
        with self._read() as s:
            rows = s.scalars(sa.select(ResourceRow).where(ResourceRow.id.in_(list(ids))))
            return {row.id: _resource(row) for row in rows}

    def create_metrics(self, new: Sequence[NewMetric]) -> list[Metric]:
        """Create every metric of ``new`` in one transaction, or none.

        Raises what :meth:`Metrics.create_metric` raises for the first metric that cannot be created
        (unknown policy or resource, a name already taken on its resource).
        """
        if not new:
            return []
        try:
            with self._write() as s:
                policies = {row.name: row for row in s.scalars(sa.select(ArchivePolicyRow).where(
                    ArchivePolicyRow.name.in_({m.archive_policy_name for m in new})))}
                _check_new(s, new, policies)
                s.add_all(MetricRow(id=m.id, creator=m.creator, archive_policy_name=m.archive_policy_name, name=m.name,
                                    unit=m.unit, resource_id=m.resource_id, status="active") for m in new)
                records = {name: policy_record(row) for name, row in policies.items()}
        except exc.IntegrityError as e:
            first = new[0]
            raise _metric_integrity_error(e, first.id, first.name, first.archive_policy_name,
                                          first.resource_id) from None
        return [Metric(id=m.id, archive_policy=records[m.archive_policy_name], creator=m.creator, name=m.name,
                       unit=m.unit, resource_id=m.resource_id, status="active") for m in new]


def _check_new(s: Session, new: Sequence[NewMetric], policies: dict[str, ArchivePolicyRow]) -> None:
    """The friendly errors, in one query per kind: unknown policy, unknown resource, name taken."""
    for m in new:
        if m.archive_policy_name not in policies:
            raise errors.NoSuchArchivePolicy(m.archive_policy_name)
    resource_ids = {m.resource_id for m in new if m.resource_id is not None}
    found = set(s.scalars(sa.select(ResourceRow.id).where(ResourceRow.id.in_(resource_ids)))) if resource_ids else set()
    for m in new:
        if m.resource_id is not None and m.resource_id not in found:
            raise errors.NoSuchResource(m.resource_id)
    named = [(m.resource_id, m.name) for m in new if m.resource_id is not None and m.name is not None]
    for start in range(0, len(named), _CHUNK):
        taken = s.scalars(sa.select(MetricRow.name).where(
            sa.tuple_(MetricRow.resource_id, MetricRow.name).in_(named[start:start + _CHUNK]))).first()
        if taken is not None:
            raise errors.NamedMetricAlreadyExists(taken)
