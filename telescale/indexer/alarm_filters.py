"""Aodh's two query languages over alarms and alarm history, compiled to SQL.

* The simple query (``q.field``/``q.op``/``q.value`` of ``GET /v2/alarms`` and ``/history``): a list of
  ``(field, op, value)`` with ops ``lt le eq ne ge gt``, all of them ANDed; ``sort`` as ``key:asc|desc``.
* The complex query (``POST /v2/query/alarms[/history]``): a tree of ``{"and"|"or": [...]}``,
  ``{"not": {...}}`` and leaves ``{op: {field: value}}`` with ops ``= != < <= =< > >= => in =~``
  (case-insensitive; ``user``/``project`` stand for ``user_id``/``project_id``); ``orderby`` as a list of
  ``{field: "asc"|"desc"}``.

Values are converted to each field's type first (a wrong one raises :class:`InvalidAlarmQueryValue`
naming the field). ``severity`` orders and compares by meaning (low < moderate < critical), everywhere,
where Aodh does so only on MySQL. ``=~`` is a regular expression search (PostgreSQL ``~``, Python's
``re.search`` on SQLite).
"""

from __future__ import annotations

import datetime
import re
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa

from telescale.indexer import errors
from telescale.indexer.models import ALARM_SEVERITIES, AlarmHistoryRow, AlarmRow
from telescale.indexer.query import SortKey, parse_sorts

#: A simple-query filter: ``(field, op, value)``.
SimpleFilter = tuple[str, str, Any]

_SEVERITY_RANK = {name: rank for rank, name in enumerate(ALARM_SEVERITIES)}
_TRUE = frozenset({"true", "t", "yes", "y", "on", "1"})
_FALSE = frozenset({"false", "f", "no", "n", "off", "0"})


@dataclass(frozen=True)
class Field:
    """A queryable field: its column and the kind of value it holds."""

    column: sa.ColumnElement[Any]
    kind: str  # str | bool | datetime | uuid | number | severity | json
    nullable: bool = False

    def sort_column(self) -> sa.ColumnElement[Any]:
        if self.kind == "severity":
            return sa.case(_SEVERITY_RANK, value=self.column, else_=-1)
        return self.column


@dataclass(frozen=True)
class Target:
    """One queryable table: the fields of each query language, the sort keys, the default order."""

    fields: Mapping[str, Field]
    simple_fields: frozenset[str]
    sort_keys: frozenset[str]
    unique_key: str
    default_sort: tuple[str, ...]
    #: Simple-query fields accepted and left to the caller (``all_projects`` decides the scope, in the API).
    ignored: frozenset[str] = frozenset()

    def sort_columns(self) -> dict[str, sa.ColumnElement[Any]]:
        return {name: self.fields[name].sort_column() for name in self.sort_keys}

    def nullable(self) -> frozenset[str]:
        return frozenset(name for name in self.sort_keys if self.fields[name].nullable)


ALARMS = Target(
    fields={
        "alarm_id": Field(AlarmRow.alarm_id, "uuid"),
        "name": Field(AlarmRow.name, "str"),
        "description": Field(AlarmRow.description, "str"),
        "type": Field(AlarmRow.type, "str"),
        "enabled": Field(AlarmRow.enabled, "bool"),
        "severity": Field(AlarmRow.severity, "severity"),
        "state": Field(AlarmRow.state, "str"),
        "state_reason": Field(AlarmRow.state_reason, "str"),
        "state_timestamp": Field(AlarmRow.state_timestamp, "datetime"),
        "timestamp": Field(AlarmRow.timestamp, "datetime"),
        "evaluate_timestamp": Field(AlarmRow.evaluate_timestamp, "datetime", nullable=True),
        "user_id": Field(AlarmRow.user_id, "str", nullable=True),
        "project_id": Field(AlarmRow.project_id, "str", nullable=True),
        "repeat_actions": Field(AlarmRow.repeat_actions, "bool"),
        "evaluation_interval": Field(AlarmRow.evaluation_interval, "number", nullable=True),
        "pending_for": Field(AlarmRow.pending_for, "number"),
        "missing_data": Field(AlarmRow.missing_data, "str"),
        "ok_actions": Field(AlarmRow.ok_actions, "json"),
        "alarm_actions": Field(AlarmRow.alarm_actions, "json"),
        "insufficient_data_actions": Field(AlarmRow.insufficient_data_actions, "json"),
        "time_constraints": Field(AlarmRow.time_constraints, "json"),
        "rule": Field(AlarmRow.rule, "json"),
    },
    simple_fields=frozenset(
        {"user_id", "project_id", "type", "name", "enabled", "state", "severity", "timestamp", "repeat_actions"}
    ),
    sort_keys=frozenset(
        {"alarm_id", "enabled", "name", "type", "severity", "timestamp", "user_id", "project_id", "state",
         "repeat_actions", "state_timestamp"}
    ),
    unique_key="alarm_id",
    default_sort=("timestamp:desc",),
    ignored=frozenset({"all_projects"}),
)

HISTORY = Target(
    fields={
        "event_id": Field(AlarmHistoryRow.event_id, "uuid"),
        "alarm_id": Field(AlarmHistoryRow.alarm_id, "uuid"),
        "type": Field(AlarmHistoryRow.type, "str"),
        "detail": Field(AlarmHistoryRow.detail, "str"),
        "user_id": Field(AlarmHistoryRow.user_id, "str", nullable=True),
        "project_id": Field(AlarmHistoryRow.project_id, "str", nullable=True),
        "on_behalf_of": Field(AlarmHistoryRow.on_behalf_of, "str", nullable=True),
        "severity": Field(AlarmHistoryRow.severity, "severity", nullable=True),
        "timestamp": Field(AlarmHistoryRow.timestamp, "datetime"),
    },
    simple_fields=frozenset({"user_id", "project_id", "type", "severity", "timestamp", "search_offset"}),
    sort_keys=frozenset({"event_id", "alarm_id", "on_behalf_of", "project_id", "user_id", "type", "timestamp",
                         "severity"}),
    unique_key="event_id",
    default_sort=("timestamp:desc",),
)

_SIMPLE_OPS = {"lt": "<", "le": "<=", "eq": "=", "ne": "!=", "ge": ">=", "gt": ">"}
_COMPLEX_OPS = {"=": "=", "!=": "!=", "<": "<", "<=": "<=", "=<": "<=", ">": ">", ">=": ">=", "=>": ">=",
                "in": "in", "=~": "=~"}
_ALIASES = {"user": "user_id", "project": "project_id"}
_ORDERING = frozenset({"<", "<=", ">", ">="})
_COMPARE: dict[str, Callable[[Any, Any], sa.ColumnElement[bool]]] = {
    "=": lambda c, v: c == v,
    "!=": lambda c, v: c != v,
    "<": lambda c, v: c < v,
    "<=": lambda c, v: c <= v,
    ">": lambda c, v: c > v,
    ">=": lambda c, v: c >= v,
}


def _as_bool(name: str, value: Any) -> bool:
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in _TRUE:
        return True
    if text in _FALSE:
        return False
    raise errors.InvalidAlarmQueryValue(name, value, "a boolean")


def parse_time(name: str, value: Any) -> datetime.datetime:
    """An ISO 8601 time (naive: UTC) or a datetime, as an aware UTC datetime."""
    if isinstance(value, datetime.datetime):
        parsed = value
    else:
        try:
            parsed = datetime.datetime.fromisoformat(str(value).strip())
        except ValueError:
            raise errors.InvalidAlarmQueryValue(name, value, "an ISO 8601 timestamp") from None
    if parsed.tzinfo is None:
        return parsed.replace(tzinfo=datetime.UTC)
    return parsed.astimezone(datetime.UTC)


def _as_number(name: str, value: Any) -> float:
    try:
        if isinstance(value, bool):
            raise ValueError
        return float(value)
    except (TypeError, ValueError):
        raise errors.InvalidAlarmQueryValue(name, value, "a number") from None


def _as_uuid(value: Any) -> uuid.UUID | None:
    if isinstance(value, uuid.UUID):
        return value
    try:
        return uuid.UUID(str(value))
    except ValueError:
        return None


def _convert(name: str, field: Field, value: Any) -> Any:
    if field.kind == "bool":
        return _as_bool(name, value)
    if field.kind == "datetime":
        return parse_time(name, value)
    if field.kind == "number":
        return _as_number(name, value)
    if isinstance(value, dict | list):
        raise errors.InvalidAlarmQueryValue(name, value, "a single value")
    return str(value).lower() if isinstance(value, bool) else str(value)


def compare(name: str, field: Field, op: str, value: Any) -> sa.ColumnElement[bool]:
    """``field op value`` in SQL, ``op`` one of ``= != < <= > >= in =~``."""
    if field.kind == "json":
        raise errors.UnsupportedAlarmQueryOperator(name, op)
    if op == "in":
        if not isinstance(value, list | tuple) or not value:
            raise errors.InvalidAlarmQueryValue(name, value, "a non-empty list")
        return sa.or_(*(compare(name, field, "=", item) for item in value))
    if op == "=~":
        if field.kind not in ("str", "severity"):
            raise errors.UnsupportedAlarmQueryOperator(name, op)
        pattern = str(value)
        try:
            re.compile(pattern)
        except re.error:
            raise errors.InvalidAlarmQueryValue(name, value, "a regular expression") from None
        return field.column.regexp_match(pattern)
    if field.kind == "uuid":
        return _compare_uuid(name, field, op, value)
    if field.kind == "severity" and op in _ORDERING:
        if value not in _SEVERITY_RANK:
            raise errors.InvalidAlarmQueryValue(name, value, f"one of {', '.join(ALARM_SEVERITIES)}")
        return _COMPARE[op](field.sort_column(), _SEVERITY_RANK[value])
    return _COMPARE[op](field.column, sa.bindparam(None, _convert(name, field, value), type_=field.column.type))


def _compare_uuid(name: str, field: Field, op: str, value: Any) -> sa.ColumnElement[bool]:
    """A value that is not a UUID equals no id (as in Aodh, where ids are text), but cannot be ordered."""
    parsed = _as_uuid(value)
    if parsed is None:
        if op in _ORDERING:
            raise errors.InvalidAlarmQueryValue(name, value, "a UUID")
        return sa.false() if op == "=" else sa.true()
    return _COMPARE[op](field.column, parsed)


def simple_filter(target: Target, filters: Sequence[SimpleFilter]) -> list[sa.ColumnElement[bool]]:
    """The SQL conditions of a simple query. ``search_offset`` (minutes, history only) widens the
    ``timestamp`` bounds as Aodh does: lower bounds move back, upper bounds forward."""
    offset = datetime.timedelta()
    has_time = False
    for name, op, value in filters:
        if name == "search_offset" and name in target.simple_fields:
            if op != "eq":
                raise errors.UnsupportedAlarmQueryOperator(name, op)
            offset = datetime.timedelta(minutes=_as_number(name, value))
        has_time = has_time or name == "timestamp"
    if offset and not has_time:
        raise errors.InvalidAlarmQuery("search_offset", "search_offset cannot be used without timestamp")
    clauses = []
    for name, op, value in filters:
        if name in target.ignored or name == "search_offset":
            continue
        if name not in target.simple_fields:
            raise errors.UnknownAlarmQueryField(name, target.simple_fields | target.ignored)
        if op not in _SIMPLE_OPS:
            raise errors.UnsupportedAlarmQueryOperator(name, op)
        field = target.fields[name]
        if name == "timestamp" and offset:
            shift = -offset if op in ("gt", "ge") else offset if op in ("lt", "le") else datetime.timedelta()
            value = parse_time(name, value) + shift
        clauses.append(compare(name, field, _SIMPLE_OPS[op], value))
    return clauses


def _single(node: Any, what: str) -> tuple[str, Any]:
    if not isinstance(node, Mapping) or len(node) != 1:
        raise errors.InvalidAlarmQuery("filter", f"{what} must be an object with exactly one key: {node!r}")
    key, value = next(iter(node.items()))
    return str(key), value


def complex_filter(target: Target, tree: Mapping[str, Any]) -> sa.ColumnElement[bool]:
    """The SQL condition of a complex-query filter tree."""
    op, operand = _single(tree, "a filter expression")
    op = op.lower()
    if op in ("and", "or"):
        if not isinstance(operand, list) or len(operand) < 2:
            raise errors.InvalidAlarmQuery("filter", f"{op!r} takes a list of at least two expressions")
        clauses = [complex_filter(target, node) for node in operand]
        return sa.and_(*clauses) if op == "and" else sa.or_(*clauses)
    if op == "not":
        return sa.not_(complex_filter(target, operand))
    if op not in _COMPLEX_OPS:
        raise errors.InvalidAlarmQuery("filter", f"Unknown operator {op!r}")
    name, value = _single(operand, f"the operand of {op!r}")
    name = _ALIASES.get(name, name)
    if name not in target.fields:
        raise errors.UnknownAlarmQueryField(name, set(target.fields) | set(_ALIASES))
    return compare(name, target.fields[name], _COMPLEX_OPS[op], value)


def sort_keys(target: Target, sorts: Sequence[str]) -> list[SortKey]:
    """``key[:asc|desc]`` terms (default: the target's), ending with the unique key so pages are stable."""
    return parse_sorts(list(sorts) or list(target.default_sort), target.sort_columns(), target.nullable(),
                       target.unique_key)


def orderby_keys(target: Target, orderby: Sequence[Mapping[str, str]] | None) -> list[SortKey]:
    """A complex query's ``[{field: "asc"|"desc"}, ...]`` as sort keys."""
    sorts = []
    for item in orderby or ():
        name, direction = _single(item, "an orderby item")
        sorts.append(f"{_ALIASES.get(name, name)}:{str(direction).lower()}")
    return sort_keys(target, sorts)
