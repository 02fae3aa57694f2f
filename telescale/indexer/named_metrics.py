"""Many resources' metrics by name in one query: what thousands of ``gnocchi_resources_threshold`` alarms read.

One evaluation cycle names thousands of ``(resource id, metric name)`` pairs; looking each up as the API does
(the resource, then its metrics) costs two queries per alarm, so they are resolved together here, with the
fields a caller needs to check its scope.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass

import sqlalchemy as sa

from telescale.indexer.engine import IndexerEngine
from telescale.indexer.metrics import _METRIC_COLUMNS, _POLICY_COLUMNS, _policy
from telescale.indexer.models import ArchivePolicyRow, MetricRow, ResourceRow
from telescale.indexer.records import Metric, split_creator

_CHUNK = 500  # pairs per statement (two parameters each)


@dataclass(frozen=True)
class NamedMetric:
    """A resource's metric found by name, with what scoping and type checks need of the resource."""

    metric: Metric
    resource_type: str
    project_id: str | None
    created_by_project_id: str | None


_SELECT = sa.select(*_METRIC_COLUMNS, *_POLICY_COLUMNS, ResourceRow.type, ResourceRow.project_id,
                    ResourceRow.creator).join(
    ArchivePolicyRow, ArchivePolicyRow.name == MetricRow.archive_policy_name
).join(ResourceRow, ResourceRow.id == MetricRow.resource_id).where(MetricRow.status == "active")


class NamedMetrics(IndexerEngine):
    def metrics_by_resource_and_name(self, pairs: Sequence[tuple[uuid.UUID, str]]
                                     ) -> dict[tuple[uuid.UUID, str], NamedMetric]:
        """The active metric named ``name`` of resource ``id`` for each pair that has one."""
        wanted = list(dict.fromkeys(pairs))
        found: dict[tuple[uuid.UUID, str], NamedMetric] = {}
        for start in range(0, len(wanted), _CHUNK):
            chunk = wanted[start:start + _CHUNK]
            query = _SELECT.where(sa.tuple_(MetricRow.resource_id, MetricRow.name).in_(chunk))
            for mid, creator, name, unit, resource_id, status, *rest in self._fetch(query):
                *policy, rtype, project_id, resource_creator = rest
                metric = Metric(id=mid, archive_policy=_policy(*policy), creator=creator, name=name, unit=unit,
                                resource_id=resource_id, status=status)
                found[(resource_id, name)] = NamedMetric(metric, rtype, project_id,
                                                         split_creator(resource_creator)[1])
        return found
