"""What scaling reads from the store: one number for a group (target tracking, aggregates triggers) and the
latest time each member reported (liveness), always in process through :mod:`telescale.query`.

An expression is an ``/v1/aggregates`` operations string evaluated over the group's member resources
(``member_resource_type`` + ``member_query``) in the group's project; it must reduce the members to one
series (``(aggregate mean (metric cpu mean))``), whose newest value within the window is the reading.
"""

from __future__ import annotations

import math
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from telescale.query import errors as qe
from telescale.query.aggregates import parser
from telescale.query.reader import Query, ResourceSearch, parse_filter
from telescale.query.scope import UNRESTRICTED, Scope, narrow
from telescale.scaling.model import Group

NS = 1_000_000_000


class ExpressionError(ValueError):
    """An expression that can never be evaluated (bad syntax, no metric, not one series)."""


class NoReading(Exception):
    """Nothing to read yet (no member, no measure in the window): say why in the decision log."""


@dataclass(frozen=True)
class Reading:
    value: float
    at: int  # ns, the timestamp of the point read
    members: int  # resources that matched the member query
    granularity: int  # ns


def check_expression(operations: str) -> parser.Node:
    """Parse ``operations`` as the aggregates API does; :class:`ExpressionError` with the parser's words."""
    try:
        tree = parser.parse(operations)
    except (parser.OperationsSyntaxError, parser.OperationsError) as e:
        raise ExpressionError(f"invalid operations {operations!r}: {e}") from None
    if not parser.references(tree):
        raise ExpressionError(f"operations {operations!r} read no metric: add (metric <name> <method>)")
    return tree


def check_member_query(query: str | None) -> None:
    """The ``/v1`` search syntax (``server_group = 'web'``); ValueError with the parser's message."""
    if query:
        try:
            parse_filter(query)
        except qe.InvalidFilter as e:
            raise ValueError(f"member_query: {e}") from None


def group_scope(group: Group) -> Scope:
    """A group reads the resources of its own project (an admin's group without project: all of them)."""
    return UNRESTRICTED if group.project_id is None else Scope.of_project(group.project_id)


def _search(group: Group, extra: Mapping[str, Any] | None = None) -> ResourceSearch:
    if not group.member_resource_type:
        raise ExpressionError("the group has no member_resource_type: it cannot read its members' metrics")
    parsed = parse_filter(group.member_query) if group.member_query else None
    return ResourceSearch(group.member_resource_type, narrow(parsed, dict(extra) if extra else None))


def group_value(query: Query, group: Group, operations: str, *, now: int, window: float,
                granularity: float | None = None, resource_id: uuid.UUID | None = None) -> Reading:
    """The newest value of ``operations`` over the group's members (or over one member, ``resource_id``)."""
    tree = check_expression(operations)
    refs = parser.references(tree)
    search = _search(group, {"=": {"id": str(resource_id)}} if resource_id else None)
    resources = query.search_resources(group_scope(group), search, [p for p, _ in refs])
    if not resources:
        raise NoReading("no member resource matches the member query")
    try:
        groups = query.resource_aggregates(
            group_scope(group), search, tree, refs, start=now - int(window * NS), stop=now,
            granularity=int(granularity * NS) if granularity else None, needed_overlap=0.0, fill=None)
    except qe.NoSuchMetric as e:
        raise NoReading(f"no member has the metric: {e}") from None
    result = groups[0].result if groups else None
    if result is None:
        raise NoReading("no member has the metrics the expression reads")
    if not result.aggregated:
        raise ExpressionError(f"operations {operations!r} give one series per metric; reduce the members to "
                              "one with (aggregate <method> …)")
    return _newest(result.series.get(None, []), len(resources))


def _newest(measures: Sequence[tuple[int, np.ndarray, np.ndarray]], members: int) -> Reading:
    """The newest finite point of the finest granularity that has one."""
    for granularity, stamps, values in sorted(measures, key=lambda m: m[0]):
        finite = np.flatnonzero(np.isfinite(values))
        if finite.size:
            i = int(finite[-1])
            return Reading(float(values[i]), int(stamps[i]), members, int(granularity))
    raise NoReading("no measure in the window")


def compare(value: float, operator: str, threshold: float) -> bool:
    """Aodh's comparison operators."""
    if math.isnan(value):
        return False
    return {"gt": value > threshold, "ge": value >= threshold, "lt": value < threshold,
            "le": value <= threshold, "eq": value == threshold, "ne": value != threshold}[operator]


COMPARISON_OPERATORS = ("gt", "ge", "lt", "le", "eq", "ne")
