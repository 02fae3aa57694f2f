"""Listing alarms and alarm history with Aodh's simple and complex queries, scoped to a project in SQL.

The scope is an explicit argument of every method (a project id, or None for every project): alarms by
their ``project_id``, history by its ``on_behalf_of`` (the alarm's project), so a caller limited to a
project never reads another project's rows whatever its filter says. Pages are keyset pages
(:mod:`telescale.indexer.query`): the marker is the id of the last row of the previous page, looked up
within the scope.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa

from telescale.indexer import errors
from telescale.indexer.alarm_filters import (
    ALARMS,
    HISTORY,
    SimpleFilter,
    Target,
    complex_filter,
    orderby_keys,
    simple_filter,
    sort_keys,
)
from telescale.indexer.alarm_rows import alarm_record, history_record, scope
from telescale.indexer.engine import IndexerEngine
from telescale.indexer.models import AlarmHistoryRow, AlarmRow
from telescale.indexer.query import SortKey, after_marker, page
from telescale.indexer.records import Alarm, AlarmChange


def _check_limit(limit: int | None) -> None:
    if limit is not None and (isinstance(limit, bool) or not isinstance(limit, int) or limit <= 0):
        raise errors.InvalidAlarmQuery("limit", f"Limit should be a positive integer, not {limit!r}")


def _history_scope(project: str | None) -> sa.ColumnElement[bool]:
    return sa.true() if project is None else AlarmHistoryRow.on_behalf_of == project


@dataclass(frozen=True)
class _Listing:
    """What listing one table takes: its query fields, rows, scope and records."""

    target: Target
    table: sa.Table
    scope: Callable[[str | None], sa.ColumnElement[bool]]
    record: Callable[[Any], Any]


_ALARMS = _Listing(ALARMS, AlarmRow.__table__, scope, alarm_record)
_HISTORY = _Listing(HISTORY, AlarmHistoryRow.__table__, _history_scope, history_record)


class AlarmQueries(IndexerEngine):
    def _select(
        self,
        listing: _Listing,
        conditions: Sequence[sa.ColumnElement[bool]],
        keys: Sequence[SortKey],
        limit: int | None,
        marker: Any = None,
    ) -> list[Any]:
        _check_limit(limit)
        with self._read() as s:
            where = list(conditions)
            if marker is not None:
                marker_id = marker if isinstance(marker, uuid.UUID) else _marker_uuid(marker)
                unique = listing.target.fields[listing.target.unique_key].column
                # The marker is found among the rows the caller may see and the filter keeps (as Aodh).
                where.append(after_marker(s, keys, sa.and_(unique == marker_id, *where), marker))
            rows = s.execute(page(sa.select(listing.table).where(*where), keys, limit))
            return [listing.record(row) for row in rows]

    def _complex(
        self,
        listing: _Listing,
        filter: Mapping[str, Any] | None,
        orderby: Sequence[Mapping[str, str]] | None,
        limit: int | None,
        project: str | None,
    ) -> list[Any]:
        conditions = [listing.scope(project)]
        if filter is not None:
            conditions.append(complex_filter(listing.target, filter))
        return self._select(listing, conditions, orderby_keys(listing.target, orderby), limit)

    def list_alarms(
        self,
        filters: Sequence[SimpleFilter] = (),
        sorts: Sequence[str] = (),
        limit: int | None = None,
        marker: uuid.UUID | str | None = None,
        *,
        project: str | None,
    ) -> list[Alarm]:
        """``GET /v2/alarms``: ``filters`` as ``(field, op, value)`` (fields user_id, project_id, type, name,
        enabled, state, severity, timestamp, repeat_actions — ``timestamp`` is the last change of the
        definition — and all_projects, which is left to the caller; ops lt le eq ne ge gt), ``sorts`` as
        ``key:asc|desc`` (default newest definition first), ``marker`` an alarm id."""
        conditions = [scope(project), *simple_filter(ALARMS, filters)]
        return self._select(_ALARMS, conditions, sort_keys(ALARMS, sorts), limit, marker)

    def query_alarms(
        self,
        filter: Mapping[str, Any] | None = None,
        orderby: Sequence[Mapping[str, str]] | None = None,
        limit: int | None = None,
        *,
        project: str | None,
    ) -> list[Alarm]:
        """``POST /v2/query/alarms``: a complex filter tree over any alarm field, ``orderby`` a list of
        ``{field: asc|desc}`` (default newest definition first)."""
        return self._complex(_ALARMS, filter, orderby, limit, project)

    def get_alarm_history(
        self,
        alarm_id: uuid.UUID,
        filters: Sequence[SimpleFilter] = (),
        sorts: Sequence[str] = (),
        limit: int | None = None,
        marker: uuid.UUID | str | None = None,
        *,
        project: str | None,
    ) -> list[AlarmChange]:
        """``GET /v2/alarms/{id}/history``, also for a deleted alarm: ``filters`` on user_id, project_id
        (who made the change), type, severity, timestamp, search_offset (minutes widening the timestamp
        bounds); newest first by default; ``marker`` an event id."""
        conditions = [AlarmHistoryRow.alarm_id == alarm_id, _history_scope(project), *simple_filter(HISTORY, filters)]
        return self._select(_HISTORY, conditions, sort_keys(HISTORY, sorts), limit, marker)

    def query_alarm_history(
        self,
        filter: Mapping[str, Any] | None = None,
        orderby: Sequence[Mapping[str, str]] | None = None,
        limit: int | None = None,
        *,
        project: str | None,
    ) -> list[AlarmChange]:
        """``POST /v2/query/alarms/history``: a complex filter over any history field (newest first)."""
        return self._complex(_HISTORY, filter, orderby, limit, project)


def _marker_uuid(marker: Any) -> uuid.UUID:
    try:
        return uuid.UUID(str(marker))
    except ValueError:
        raise errors.InvalidMarker(marker) from None
