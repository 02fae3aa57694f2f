"""What metric and resource listings share: filter values, sort keys and keyset pagination."""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from telescale.indexer import errors


def as_uuid(field: str, value: Any) -> uuid.UUID:
    if isinstance(value, uuid.UUID):
        return value
    try:
        return uuid.UUID(str(value))
    except ValueError:
        raise errors.InvalidFilter(field, value) from None


def equals(column: sa.ColumnElement[Any], value: Any) -> sa.ColumnElement[bool]:
    """Equality, ``IS NULL`` for None, ``IN`` for a list/tuple/set."""
    if value is None:
        return column.is_(None)
    if isinstance(value, list | tuple | set | frozenset):
        return column.in_(list(value))
    return column == value


_DIRECTIONS = {
    "asc": (False, None),
    "desc": (True, None),
    "asc-nullsfirst": (False, True),
    "asc-nullslast": (False, False),
    "desc-nullsfirst": (True, True),
    "desc-nullslast": (True, False),
}


class SortKey:
    """One ``key:direction`` term. NULLs sort as the largest value unless told otherwise (PostgreSQL's
    default), made explicit so SQLite orders them the same way."""

    def __init__(
        self, key: str, column: sa.ColumnElement[Any], descending: bool, nulls_first: bool, nullable: bool
    ) -> None:
        self.key = key
        self.column = column
        self.descending = descending
        self.nulls_first = nulls_first
        self.nullable = nullable

    def order_by(self) -> sa.ColumnElement[Any]:
        clause = self.column.desc() if self.descending else self.column.asc()
        if self.nullable:
            clause = clause.nulls_first() if self.nulls_first else clause.nulls_last()
        return clause

    def bind(self, value: Any) -> sa.BindParameter[Any]:
        """``value`` as a parameter of the column's type (a bare ``True`` cannot be compared with ``<``)."""
        return sa.bindparam(None, value, type_=self.column.type)

    def equal(self, value: Any) -> sa.ColumnElement[bool]:
        return self.column.is_(None) if value is None else self.column == self.bind(value)

    def after(self, value: Any) -> sa.ColumnElement[bool]:
        """Rows strictly after ``value`` in this key's order."""
        if value is None:
            return self.column.is_not(None) if self.nulls_first else sa.false()
        clause = self.column < self.bind(value) if self.descending else self.column > self.bind(value)
        if self.nullable and not self.nulls_first:
            clause = sa.or_(clause, self.column.is_(None))
        return clause


def parse_sorts(
    sorts: Sequence[str],
    columns: Mapping[str, sa.ColumnElement[Any]],
    nullable: frozenset[str],
    unique_key: str,
) -> list[SortKey]:
    keys: list[SortKey] = []
    seen: set[str] = set()
    for sort in sorts:
        key, _, direction = sort.partition(":")
        key, direction = key.strip(), (direction.strip() or "asc")
        if key not in columns:
            raise errors.InvalidSortKey(key)
        if direction not in _DIRECTIONS:
            raise errors.InvalidSortDirection(key, direction)
        if key in seen:
            continue
        seen.add(key)
        descending, nulls_first = _DIRECTIONS[direction]
        keys.append(
            SortKey(
                key,
                columns[key],
                descending,
                descending if nulls_first is None else nulls_first,
                key in nullable,
            )
        )
    if unique_key not in seen:
        keys.append(SortKey(unique_key, columns[unique_key], False, False, False))
    return keys


def _keyset_after(keys: Sequence[SortKey], values: Mapping[str, Any]) -> sa.ColumnElement[bool]:
    """Rows after the marker row in the (key1, key2, ..., unique) lexicographic order.

    Written so an index on the sort keys can start the next page where the marker is, instead of reading
    the listing from its beginning and filtering (which made page N cost N pages): when every key is
    non-null and sorted the same way (the default resource order ``revision_start, started_at, id``), as
    one row-value comparison ``(k1, k2, id) > (v1, v2, v3)``, which PostgreSQL and SQLite both turn into
    an index range; otherwise as the expanded ``k1 > v1 OR (k1 = v1 AND ...)`` with, when the first key
    is non-null, the redundant bound ``k1 >= v1`` that still lets an index on ``k1`` skip ahead.
    """
    directions = {k.descending for k in keys}
    if len(directions) == 1 and not any(k.nullable or values[k.key] is None for k in keys):
        row = sa.tuple_(*(k.column for k in keys))
        marker = sa.tuple_(*(k.bind(values[k.key]) for k in keys))
        return row < marker if keys[0].descending else row > marker
    terms = []
    for i, key in enumerate(keys):
        terms.append(sa.and_(*(k.equal(values[k.key]) for k in keys[:i]), key.after(values[key.key])))
    clause = sa.or_(*terms)
    first, value = keys[0], values[keys[0].key]
    if first.nullable or value is None:
        return clause
    bound = first.column <= first.bind(value) if first.descending else first.column >= first.bind(value)
    return sa.and_(bound, clause)


def after_marker(
    s: Session, keys: Sequence[SortKey], marker_clause: sa.ColumnElement[bool], marker: Any
) -> sa.ColumnElement[bool]:
    """Rows after the one ``marker_clause`` finds (the last row of the previous page)."""
    marker_row = s.execute(sa.select(*(k.column.label(k.key) for k in keys)).where(marker_clause)).first()
    if marker_row is None:
        raise errors.InvalidMarker(marker)
    return _keyset_after(keys, marker_row._mapping)


def page(query: sa.Select[Any], keys: Sequence[SortKey], limit: int | None) -> sa.Select[Any]:
    """``query`` in the order of ``keys``, at most ``limit`` rows."""
    query = query.order_by(*(k.order_by() for k in keys))
    if limit is not None:
        query = query.limit(limit)
    return query
