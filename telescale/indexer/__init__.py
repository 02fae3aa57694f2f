"""The indexer: archive policies and rules, metrics, resource types and resources in SQL.

SQLite (WAL) is the embedded default, PostgreSQL (psycopg 3) the scale-out choice; one model and one
Alembic history serve both. See :mod:`telescale.indexer.models` for why resources need no DDL per type.
"""

from telescale.indexer.errors import (
    ArchivePolicyAlreadyExists,
    ArchivePolicyInUse,
    ArchivePolicyRuleAlreadyExists,
    IndexerError,
    InvalidFilter,
    InvalidMarker,
    InvalidPagination,
    InvalidSortDirection,
    InvalidSortKey,
    MetricAlreadyExists,
    NamedMetricAlreadyExists,
    NoArchivePolicyRuleMatch,
    NoSuchArchivePolicy,
    NoSuchArchivePolicyRule,
    NoSuchMetric,
    NoSuchResource,
    NoSuchResourceType,
    ResourceAlreadyExists,
    ResourceAttributeError,
    ResourceTypeAlreadyExists,
    ResourceTypeInUse,
    ResourceValueError,
    UnknownGroupby,
    UnsupportedArchivePolicyRuleChange,
)
from telescale.indexer.indexer import DEFAULT_RULE, Indexer
from telescale.indexer.records import ArchivePolicyRule, Metric, Resource, ResourceType, split_creator

__all__ = [
    "DEFAULT_RULE",
    "ArchivePolicyAlreadyExists",
    "ArchivePolicyInUse",
    "ArchivePolicyRule",
    "ArchivePolicyRuleAlreadyExists",
    "Indexer",
    "IndexerError",
    "InvalidFilter",
    "InvalidMarker",
    "InvalidPagination",
    "InvalidSortDirection",
    "InvalidSortKey",
    "Metric",
    "MetricAlreadyExists",
    "NamedMetricAlreadyExists",
    "NoArchivePolicyRuleMatch",
    "NoSuchArchivePolicy",
    "NoSuchArchivePolicyRule",
    "NoSuchMetric",
    "NoSuchResource",
    "NoSuchResourceType",
    "Resource",
    "ResourceAlreadyExists",
    "ResourceAttributeError",
    "ResourceType",
    "ResourceTypeAlreadyExists",
    "ResourceTypeInUse",
    "ResourceValueError",
    "UnknownGroupby",
    "UnsupportedArchivePolicyRuleChange",
    "split_creator",
]
