"""The metrics of the resources a search matches, by metric name pattern, in one query.

Aggregates over a resource search (``POST /v1/aggregates`` with ``resource_type`` + ``search``, and the
deprecated ``/v1/aggregation/resource/…``) need, for every matched resource, only its group-by values and
the metrics whose names match the operations' references.  Gnocchi loads every resource with every metric
through the ORM and then filters in Python, which is what makes it slow and memory-hungry at a few
thousand resources (gnocchi#1111, #1502).  Here one SELECT joins the filtered resources to their active
metrics whose names can match, so the cost is one round trip and one row per (resource, metric) used.
"""

from __future__ import annotations

import fnmatch
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa

from telescale.indexer import errors
from telescale.indexer.engine import IndexerEngine
from telescale.indexer.models import ArchivePolicyRow, MetricRow, ResourceRow
from telescale.indexer.policies import policy_record
from telescale.indexer.records import Metric
from telescale.indexer.resource_search import (
    _attribute_column,
    _history_selectable,
    _resource_clauses,
    _resource_types,
)
from telescale.indexer.resources import RESOURCE_BASE_COLUMNS

__all__ = ["MatchedResource", "ResourceMetrics", "has_wildcard", "name_matches"]

_MAGIC = frozenset("*?[")


def has_wildcard(pattern: str) -> bool:
    """Whether ``pattern`` uses fnmatch syntax (``*``, ``?``, ``[…]``) rather than naming one metric."""
    return any(c in _MAGIC for c in pattern)


def name_matches(name: str, patterns: Sequence[str]) -> bool:
    """Gnocchi matches metric names with fnmatch; case-sensitively, whatever the platform."""
    return any(fnmatch.fnmatchcase(name, p) for p in patterns)


def _like(pattern: str) -> str | None:
    """``*``/``?`` patterns as a LIKE pattern (escape ``\\``); None when the pattern uses ``[…]``."""
    if "[" in pattern:
        return None
    out = []
    for c in pattern:
        if c in "%_\\":
            out.append("\\" + c)
        elif c == "*":
            out.append("%")
        elif c == "?":
            out.append("_")
        else:
            out.append(c)
    return "".join(out)


def _name_clause(patterns: Sequence[str]) -> sa.ColumnElement[bool] | None:
    """A SQL pre-filter on metric names: exact names, LIKE for ``*``/``?``; None when nothing narrows.

    It may let through more than fnmatch would (LIKE ignores case on SQLite): rows are checked again
    with :func:`name_matches`.
    """
    exact = sorted({p for p in patterns if not has_wildcard(p)})
    clauses: list[sa.ColumnElement[bool]] = [MetricRow.name.in_(exact)] if exact else []
    for p in patterns:
        if has_wildcard(p):
            like = _like(p)
            if like is None:
                return None
            clauses.append(MetricRow.name.like(like, escape="\\"))
    if not clauses:
        return sa.false()
    return sa.or_(*clauses)


@dataclass(frozen=True)
class MatchedResource:
    """One resource (or, with history, one revision of it) and its metrics whose names matched.

    ``group`` holds the raw values of the requested group-by attributes, in the order asked for
    (UUIDs and datetimes as Python objects, type attributes as stored in JSON).
    """

    id: uuid.UUID
    group: tuple[Any, ...]
    metrics: tuple[Metric, ...]
    revision: int = -1
    revision_start: datetime | None = None
    revision_end: datetime | None = None


class ResourceMetrics(IndexerEngine):
    def search_resource_metrics(
        self,
        type: str,
        patterns: Sequence[str],
        *,
        filter_node: Any = None,
        groupby: Sequence[str] = (),
        history: bool = False,
        id_transform: Any = None,
    ) -> list[MatchedResource]:
        """Every resource of ``type`` matching ``filter_node``, with its active metrics matching ``patterns``.

        Resources with no matching metric are included (with no metrics): the deprecated resource
        aggregation answers an empty group for them.  With ``history`` each revision is its own entry
        (the current one has ``revision`` -1 and no ``revision_end``).  The order is by resource id then
        revision start; metrics are sorted by name.  Raises ``NoSuchResourceType``, ``UnknownGroupby``
        for a group-by key that is neither a resource column nor an attribute of the type, and the
        filter's own errors.
        """
        with self._read() as s:
            types = _resource_types(s)
            if type not in types:
                raise errors.NoSuchResourceType(type)
            base: Any = _history_selectable() if history else ResourceRow.__table__
            base_columns = set(RESOURCE_BASE_COLUMNS) | ({"revision_end"} if history else set())
            for key in groupby:
                if key not in base_columns and key not in types[type]:
                    raise errors.UnknownGroupby(key, type)
            # Group-by values straight from SQL: base columns as they are, attributes cast to their type
            # (numbers come back as floats, as Gnocchi's Float columns give them).
            attributes = types[type]
            group_columns = [base.c[k] if k in base_columns
                             else _attribute_column(base.c.attributes, k, attributes[k]["type"]) for k in groupby]
            history_columns = [base.c.revision, base.c.revision_start, base.c.revision_end] if history else []
            on = [MetricRow.resource_id == base.c.id, MetricRow.status == "active"]
            names = _name_clause(patterns)
            if names is not None:
                on.append(names)
            query = (
                sa.select(
                    base.c.id, MetricRow.id, MetricRow.name, MetricRow.archive_policy_name, MetricRow.creator,
                    MetricRow.unit, *history_columns, *group_columns,
                )
                .select_from(base)
                .outerjoin(MetricRow, sa.and_(*on))
                .where(*_resource_clauses(s, type, types, base, filter_node, history=history,
                                          id_transform=id_transform))
                .order_by(base.c.id, *([base.c.revision_start, base.c.revision] if history else []),
                          MetricRow.name)
            )
            rows = s.execute(query).all()
            policies = {row.name: policy_record(row) for row in s.scalars(sa.select(ArchivePolicyRow))}
        first_group = 6 + len(history_columns)
        # Exact names were matched exactly by SQL; only patterns need fnmatch (LIKE ignores case on SQLite).
        recheck = any(has_wildcard(p) for p in patterns)
        out: list[MatchedResource] = []
        key: tuple[Any, ...] | None = None
        metrics: list[Metric] = []
        first: Any = None
        for r in rows:
            this = (r[0], r[6] if history else -1)
            if this != key:
                if key is not None:
                    out.append(_matched(first, metrics, first_group, history))
                key, first, metrics = this, r, []
            metric_id, name = r[1], r[2]
            if metric_id is not None and name is not None and (not recheck or name_matches(name, patterns)):
                metrics.append(Metric(id=metric_id, archive_policy=policies[r[3]], creator=r[4], name=name,
                                      unit=r[5], resource_id=r[0], status="active"))
        if key is not None:
            out.append(_matched(first, metrics, first_group, history))
        return out


def _matched(row: Any, metrics: list[Metric], first_group: int, history: bool) -> MatchedResource:
    return MatchedResource(
        id=row[0],
        group=tuple(row[first_group:]),
        metrics=tuple(metrics),
        revision=int(row[6]) if history else -1,
        revision_start=row[7] if history else None,
        revision_end=row[8] if history else None,
    )
