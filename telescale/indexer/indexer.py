"""The indexer: one object per process wrapping one SQLAlchemy engine (SQLite or PostgreSQL).

:class:`Indexer` is assembled from one part per concern; see :mod:`telescale.indexer.engine` for the
transactions every method runs in.
"""

from __future__ import annotations

from telescale.indexer.alarm_evaluation import AlarmEvaluation
from telescale.indexer.alarm_outbox import AlarmOutbox
from telescale.indexer.alarm_queries import AlarmQueries
from telescale.indexer.alarm_quotas import AlarmQuotas
from telescale.indexer.alarm_triggers import AlarmTriggers
from telescale.indexer.alarms import Alarms
from telescale.indexer.batch_metrics import BatchMetrics
from telescale.indexer.counters import Counters
from telescale.indexer.metrics import Metrics
from telescale.indexer.named_metrics import NamedMetrics
from telescale.indexer.policies import DEFAULT_RULE, ArchivePolicies
from telescale.indexer.resource_metrics import ResourceMetrics
from telescale.indexer.resource_search import ResourceSearch
from telescale.indexer.resource_types import ResourceTypes
from telescale.indexer.resources import Resources
from telescale.indexer.scaling_actions import ScalingActions
from telescale.indexer.scaling_decisions import ScalingDecisions
from telescale.indexer.scaling_groups import ScalingGroups
from telescale.indexer.scaling_policies import ScalingPolicies
from telescale.indexer.schema import IndexerSchema
from telescale.indexer.silences import Silences

__all__ = ["DEFAULT_RULE", "Indexer"]


class Indexer(IndexerSchema, ArchivePolicies, Metrics, ResourceTypes, Resources, ResourceSearch,
              ResourceMetrics, Counters, Alarms, AlarmQueries, AlarmEvaluation, AlarmOutbox, AlarmQuotas,
              AlarmTriggers, NamedMetrics, BatchMetrics, ScalingGroups, ScalingPolicies, ScalingDecisions,
              ScalingActions, Silences):
    """Archive policies, rules, metrics, resources, alarms and scaling groups in SQL (SQLite by default,
    PostgreSQL to scale out)."""
