"""The indexer: one object per process wrapping one SQLAlchemy engine (SQLite or PostgreSQL).

Every public method runs in its own short transaction and returns frozen records
(:mod:`telescale.indexer.records`), never ORM objects. On SQLite, writes start with ``BEGIN IMMEDIATE``
so that several processes sharing one WAL file queue on ``busy_timeout`` instead of failing when a read
transaction tries to turn into a write; that also makes the existence checks done before each insert
race-free there. On PostgreSQL the same checks give the friendly error in the common case and the
constraint names map the rare race to the same error.
"""

from __future__ import annotations

import contextlib
import datetime
import fnmatch
import logging
import sqlite3
import time
import uuid
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from sqlalchemy import event, exc
from sqlalchemy.orm import Session, sessionmaker

from telescale.indexer import errors
from telescale.indexer.models import (
    ArchivePolicyRow,
    ArchivePolicyRuleRow,
    MetricRow,
    ResourceHistoryRow,
    ResourceRow,
    ResourceTypeRow,
    UTCDateTime,
)
from telescale.indexer.records import ArchivePolicyRule, Metric, Resource, ResourceType
from telescale.timeseries.policy import ArchivePolicy, PolicyItem, default_archive_policies

LOG = logging.getLogger(__name__)

MIGRATIONS_DIR = Path(__file__).with_name("migrations")
SQLITE_BUSY_TIMEOUT_MS = 30_000
#: pg_advisory_xact_lock key serialising concurrent ``upgrade()`` runs ("tsidx" in ASCII).
_UPGRADE_LOCK_KEY = 0x7473696478
_WRITE_OPTION = "telescale_write"

DEFAULT_RULE = ArchivePolicyRule(name="default", metric_pattern="*", archive_policy_name="low")

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


def _utcnow() -> datetime.datetime:
    return datetime.datetime.now(datetime.UTC)


def _aware(value: datetime.datetime | None) -> datetime.datetime | None:
    """Naive datetimes are taken as UTC; everything is returned in UTC."""
    if value is None:
        return None
    if value.tzinfo is None:
        return value.replace(tzinfo=datetime.UTC)
    return value.astimezone(datetime.UTC)


def _engine_url(url: str) -> sa.URL:
    """``postgresql://`` means psycopg 3 here; everything else is passed to SQLAlchemy as given."""
    parsed = sa.make_url(url)
    if parsed.drivername in ("postgresql", "postgres"):
        parsed = parsed.set(drivername="postgresql+psycopg")
    return parsed


def _enable_wal(cursor: Any, attempts: int = 50) -> None:
    """Switch a SQLite file to WAL once; the switch needs an exclusive lock and SQLite may answer
    "database is locked" at once (without waiting on busy_timeout) while another process holds one."""
    for attempt in range(attempts):
        try:
            if cursor.execute("PRAGMA journal_mode").fetchone()[0] != "wal":
                cursor.execute("PRAGMA journal_mode = WAL")
            return
        except sqlite3.OperationalError as e:
            if "locked" not in str(e) or attempt == attempts - 1:
                raise
            time.sleep(0.05)


def _constraint_text(error: exc.IntegrityError) -> str:
    """Which constraint failed: its name on PostgreSQL, SQLite's message (which names the columns)."""
    diag = getattr(error.orig, "diag", None)
    name = getattr(diag, "constraint_name", None)
    return name or str(error.orig)


# --- record conversion -------------------------------------------------------------------------------


def _definition_to_json(definition: Sequence[PolicyItem]) -> list[dict[str, Any]]:
    return [{"granularity_ns": int(d.granularity), "points": d.points} for d in definition]


def _policy(row: ArchivePolicyRow) -> ArchivePolicy:
    return ArchivePolicy(
        name=row.name,
        back_window=row.back_window,
        definition=tuple(PolicyItem(granularity=d["granularity_ns"], points=d["points"]) for d in row.definition),
        aggregation_methods=tuple(row.aggregation_methods),
    )


def _rule(row: ArchivePolicyRuleRow) -> ArchivePolicyRule:
    return ArchivePolicyRule(
        name=row.name, metric_pattern=row.metric_pattern, archive_policy_name=row.archive_policy_name
    )


class _PolicyCache:
    """Converts each policy row once per call, however many metrics share it."""

    def __init__(self) -> None:
        self._by_name: dict[str, ArchivePolicy] = {}

    def metric(self, row: MetricRow) -> Metric:
        policy = self._by_name.get(row.archive_policy_name)
        if policy is None:
            policy = self._by_name[row.archive_policy_name] = _policy(row.archive_policy)
        return Metric(
            id=row.id,
            archive_policy=policy,
            creator=row.creator,
            name=row.name,
            unit=row.unit,
            resource_id=row.resource_id,
            status=row.status,
        )


def _resource(row: ResourceRow) -> Resource:
    return Resource(
        id=row.id,
        type=row.type,
        original_resource_id=row.original_resource_id,
        creator=row.creator,
        user_id=row.user_id,
        project_id=row.project_id,
        started_at=row.started_at,
        ended_at=row.ended_at,
        revision_start=row.revision_start,
        revision_end=None,
        attributes=dict(row.attributes or {}),
        metrics={m.name: m.id for m in sorted(row.metrics, key=lambda m: m.name or "") if m.name is not None},
    )


def _resource_type(row: ResourceTypeRow) -> ResourceType:
    return ResourceType(name=row.name, attributes={k: dict(v) for k, v in row.attributes.items()}, state=row.state)


def _sorted_rules(rows: Sequence[ArchivePolicyRuleRow]) -> list[ArchivePolicyRule]:
    """Gnocchi's order: metric_pattern descending, then name ascending.

    Sorted in Python (code-point order) rather than SQL so the precedence does not depend on the
    database collation: the same rules match the same metrics on SQLite and on PostgreSQL.
    """
    rules = sorted((_rule(r) for r in rows), key=lambda r: r.name)
    return sorted(rules, key=lambda r: r.metric_pattern, reverse=True)


def _clean(attributes: Mapping[str, Any] | None) -> dict[str, Any]:
    """Attributes as stored: a missing key means null, so SQL NULL is the only null a query meets
    (a JSON ``null`` would be a non-NULL value on PostgreSQL)."""
    return {k: v for k, v in (attributes or {}).items() if v is not None}


#: The columns every resource has, sortable and filterable by name.
_RESOURCE_BASE_COLUMNS = (
    "id",
    "type",
    "original_resource_id",
    "creator",
    "user_id",
    "project_id",
    "started_at",
    "ended_at",
    "revision_start",
)
_RESOURCE_NULLABLE = frozenset({"creator", "user_id", "project_id", "ended_at", "revision_end"})


def _attribute_column(column: sa.ColumnElement[Any], name: str, kind: str) -> sa.ColumnElement[Any]:
    """One attribute of the JSON column, cast to what its type compares as."""
    element = column[name]
    if kind == "number":
        return element.as_float()
    if kind == "bool":
        return element.as_boolean()
    return element.as_string()


# --- filters and keyset pagination --------------------------------------------------------------------


def _as_uuid(field: str, value: Any) -> uuid.UUID:
    if isinstance(value, uuid.UUID):
        return value
    try:
        return uuid.UUID(str(value))
    except ValueError:
        raise errors.InvalidFilter(field, value) from None


def _equals(column: sa.ColumnElement[Any], value: Any) -> sa.ColumnElement[bool]:
    """Equality, ``IS NULL`` for None, ``IN`` for a list/tuple/set."""
    if value is None:
        return column.is_(None)
    if isinstance(value, list | tuple | set | frozenset):
        return column.in_(list(value))
    return column == value


def _metric_filters(filters: Mapping[str, Any] | None) -> list[sa.ColumnElement[bool]]:
    filters = dict(filters or {})
    unknown = sorted(set(filters) - _METRIC_FILTER_KEYS)
    if unknown:
        raise errors.InvalidFilter(unknown[0], unknown=True)
    clauses: list[sa.ColumnElement[bool]] = []

    status = filters.pop("status", "active")
    if status is not None:
        clauses.append(_equals(MetricRow.status, status))

    for key in ("id", "resource_id"):
        if key not in filters:
            continue
        value = filters.pop(key)
        column = MetricRow.id if key == "id" else MetricRow.resource_id
        if value is None:
            clauses.append(column.is_(None))
        elif isinstance(value, list | tuple | set | frozenset):
            clauses.append(column.in_([_as_uuid(key, v) for v in value]))
        else:
            clauses.append(column == _as_uuid(key, value))

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
        clauses.append(_equals(_METRIC_STR_FILTERS[key], value))
    return clauses


_DIRECTIONS = {
    "asc": (False, None),
    "desc": (True, None),
    "asc-nullsfirst": (False, True),
    "asc-nullslast": (False, False),
    "desc-nullsfirst": (True, True),
    "desc-nullslast": (True, False),
}


class _SortKey:
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

    def equal(self, value: Any) -> sa.ColumnElement[bool]:
        return self.column.is_(None) if value is None else self.column == value

    def after(self, value: Any) -> sa.ColumnElement[bool]:
        """Rows strictly after ``value`` in this key's order."""
        if value is None:
            return self.column.is_not(None) if self.nulls_first else sa.false()
        clause = self.column < value if self.descending else self.column > value
        if self.nullable and not self.nulls_first:
            clause = sa.or_(clause, self.column.is_(None))
        return clause


def _parse_sorts(
    sorts: Sequence[str],
    columns: Mapping[str, sa.ColumnElement[Any]],
    nullable: frozenset[str],
    unique_key: str,
) -> list[_SortKey]:
    keys: list[_SortKey] = []
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
            _SortKey(
                key,
                columns[key],
                descending,
                descending if nulls_first is None else nulls_first,
                key in nullable,
            )
        )
    if unique_key not in seen:
        keys.append(_SortKey(unique_key, columns[unique_key], False, False, False))
    return keys


def _keyset_after(keys: Sequence[_SortKey], values: Mapping[str, Any]) -> sa.ColumnElement[bool]:
    """Rows after the marker row in the (key1, key2, ..., unique) lexicographic order."""
    terms = []
    for i, key in enumerate(keys):
        terms.append(sa.and_(*(k.equal(values[k.key]) for k in keys[:i]), key.after(values[key.key])))
    return sa.or_(*terms)


# --- the indexer --------------------------------------------------------------------------------------


class Indexer:
    """Archive policies, rules, metrics and resources in SQL (SQLite by default, PostgreSQL to scale out)."""

    def __init__(self, url: str) -> None:
        self.url = _engine_url(url)
        self._engine = self._create_engine(self.url)
        self._reader = sessionmaker(self._engine, expire_on_commit=False)
        self._writer = sessionmaker(self._engine.execution_options(**{_WRITE_OPTION: True}), expire_on_commit=False)

    def __repr__(self) -> str:
        return f"Indexer({self.url.render_as_string(hide_password=True)})"

    @staticmethod
    def _create_engine(url: sa.URL) -> sa.Engine:
        if url.get_backend_name() != "sqlite":
            return sa.create_engine(url, pool_pre_ping=True)

        memory = url.database in (None, "", ":memory:")
        kwargs: dict[str, Any] = {}
        if memory:
            # One shared connection, or every checkout would see a different empty database.
            kwargs["poolclass"] = sa.pool.StaticPool
            kwargs["connect_args"] = {"check_same_thread": False}
        else:
            Path(url.database).parent.mkdir(parents=True, exist_ok=True)
        engine = sa.create_engine(url, **kwargs)

        @event.listens_for(engine, "connect")
        def _on_connect(dbapi_connection: Any, _record: Any) -> None:
            # Let SQLAlchemy's "begin" event below issue BEGIN itself (pysqlite's own implicit
            # transactions start too late and always as DEFERRED).
            dbapi_connection.isolation_level = None
            cursor = dbapi_connection.cursor()
            try:
                cursor.execute(f"PRAGMA busy_timeout = {SQLITE_BUSY_TIMEOUT_MS}")
                if not memory:
                    _enable_wal(cursor)
                    cursor.execute("PRAGMA synchronous = NORMAL")
                cursor.execute("PRAGMA foreign_keys = ON")
            finally:
                cursor.close()

        @event.listens_for(engine, "begin")
        def _on_begin(connection: sa.Connection) -> None:
            immediate = connection.get_execution_options().get(_WRITE_OPTION, False)
            connection.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")

        return engine

    def dispose(self) -> None:
        """Close every pooled connection (call before forking and at shutdown)."""
        self._engine.dispose()

    @contextlib.contextmanager
    def _read(self) -> Iterator[Session]:
        with self._reader() as session, session.begin():
            yield session

    @contextlib.contextmanager
    def _write(self) -> Iterator[Session]:
        with self._writer() as session, session.begin():
            yield session

    # --- schema ---------------------------------------------------------------------------------------

    def _alembic_config(self, connection: sa.Connection) -> Config:
        cfg = Config()
        cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
        cfg.attributes["connection"] = connection
        return cfg

    def upgrade(self, create_default_archive_policies: bool = True) -> None:
        """Migrate to the newest schema; on an empty database also create Gnocchi's defaults.

        Runs in one transaction (and, on PostgreSQL, under an advisory lock), so two processes
        starting at once neither race on the DDL nor create the defaults twice.
        """
        with self._engine.execution_options(**{_WRITE_OPTION: True}).begin() as conn:
            if conn.dialect.name == "postgresql":
                conn.execute(sa.text("SELECT pg_advisory_xact_lock(:key)"), {"key": _UPGRADE_LOCK_KEY})
            current = MigrationContext.configure(conn).get_current_revision()
            command.upgrade(self._alembic_config(conn), "head")
            if current is None:
                LOG.info("Created the indexer schema in %r", self)
                if create_default_archive_policies:
                    self._insert_defaults(conn)
            exists = conn.execute(sa.select(ResourceTypeRow.name).where(ResourceTypeRow.name == "generic")).first()
            if exists is None:
                conn.execute(
                    sa.insert(ResourceTypeRow).values(
                        name="generic", attributes={}, state="active", updated_at=_utcnow()
                    )
                )

    @staticmethod
    def _insert_defaults(conn: sa.Connection) -> None:
        policies = default_archive_policies()
        conn.execute(
            sa.insert(ArchivePolicyRow),
            [
                {
                    "name": p.name,
                    "back_window": p.back_window,
                    "definition": _definition_to_json(p.definition),
                    "aggregation_methods": list(p.aggregation_methods),
                }
                for p in policies
            ],
        )
        if any(p.name == DEFAULT_RULE.archive_policy_name for p in policies):
            conn.execute(
                sa.insert(ArchivePolicyRuleRow).values(
                    name=DEFAULT_RULE.name,
                    metric_pattern=DEFAULT_RULE.metric_pattern,
                    archive_policy_name=DEFAULT_RULE.archive_policy_name,
                )
            )

    # --- archive policies -----------------------------------------------------------------------------

    def create_archive_policy(self, policy: ArchivePolicy) -> ArchivePolicy:
        try:
            with self._write() as s:
                if s.get(ArchivePolicyRow, policy.name) is not None:
                    raise errors.ArchivePolicyAlreadyExists(policy.name)
                s.add(
                    ArchivePolicyRow(
                        name=policy.name,
                        back_window=policy.back_window,
                        definition=_definition_to_json(policy.definition),
                        aggregation_methods=list(policy.aggregation_methods),
                    )
                )
        except exc.IntegrityError:
            raise errors.ArchivePolicyAlreadyExists(policy.name) from None
        return policy

    def get_archive_policy(self, name: str) -> ArchivePolicy | None:
        with self._read() as s:
            row = s.get(ArchivePolicyRow, name)
            return None if row is None else _policy(row)

    def list_archive_policies(self) -> list[ArchivePolicy]:
        with self._read() as s:
            return [_policy(r) for r in s.scalars(sa.select(ArchivePolicyRow).order_by(ArchivePolicyRow.name))]

    def update_archive_policy(
        self, name: str, definition: Sequence[PolicyItem], *, back_window: int | None = None
    ) -> ArchivePolicy:
        """Replace the definition (the caller checked the granularities did not change)."""
        values: dict[str, Any] = {"definition": _definition_to_json(definition)}
        if back_window is not None:
            values["back_window"] = back_window
        with self._write() as s:
            result = s.execute(sa.update(ArchivePolicyRow).where(ArchivePolicyRow.name == name).values(**values))
            if result.rowcount == 0:
                raise errors.NoSuchArchivePolicy(name)
            row = s.get(ArchivePolicyRow, name, populate_existing=True)
            assert row is not None
            return _policy(row)

    def delete_archive_policy(self, name: str) -> None:
        """Refused while any metric (even one waiting for the janitor) or any rule still uses it.

        Like Gnocchi (its foreign keys are ON DELETE RESTRICT): a deleted metric keeps its policy
        until it is expunged, because the janitor needs the definition to find the data to remove.
        """
        try:
            with self._write() as s:
                used = s.scalar(
                    sa.select(
                        sa.or_(
                            sa.exists().where(MetricRow.archive_policy_name == name),
                            sa.exists().where(ArchivePolicyRuleRow.archive_policy_name == name),
                        )
                    )
                )
                if used:
                    raise errors.ArchivePolicyInUse(name)
                result = s.execute(sa.delete(ArchivePolicyRow).where(ArchivePolicyRow.name == name))
                if result.rowcount == 0:
                    raise errors.NoSuchArchivePolicy(name)
        except exc.IntegrityError:
            raise errors.ArchivePolicyInUse(name) from None

    # --- archive policy rules -------------------------------------------------------------------------

    def create_archive_policy_rule(self, name: str, metric_pattern: str, archive_policy_name: str) -> ArchivePolicyRule:
        try:
            with self._write() as s:
                if s.get(ArchivePolicyRow, archive_policy_name) is None:
                    raise errors.NoSuchArchivePolicy(archive_policy_name)
                if s.get(ArchivePolicyRuleRow, name) is not None:
                    raise errors.ArchivePolicyRuleAlreadyExists(name)
                s.add(
                    ArchivePolicyRuleRow(
                        name=name, metric_pattern=metric_pattern, archive_policy_name=archive_policy_name
                    )
                )
        except exc.IntegrityError as e:
            if "archive_policy_name" in _constraint_text(e) or "FOREIGN KEY" in _constraint_text(e):
                raise errors.NoSuchArchivePolicy(archive_policy_name) from None
            raise errors.ArchivePolicyRuleAlreadyExists(name) from None
        return ArchivePolicyRule(name=name, metric_pattern=metric_pattern, archive_policy_name=archive_policy_name)

    def get_archive_policy_rule(self, name: str) -> ArchivePolicyRule | None:
        with self._read() as s:
            row = s.get(ArchivePolicyRuleRow, name)
            return None if row is None else _rule(row)

    def list_archive_policy_rules(self) -> list[ArchivePolicyRule]:
        """In Gnocchi's precedence order: metric_pattern descending, then name ascending."""
        with self._read() as s:
            return _sorted_rules(s.scalars(sa.select(ArchivePolicyRuleRow)).all())

    def rename_archive_policy_rule(self, name: str, new_name: str) -> ArchivePolicyRule:
        """Only the name of a rule can change (as in Gnocchi)."""
        try:
            with self._write() as s:
                row = s.get(ArchivePolicyRuleRow, name)
                if row is None:
                    raise errors.NoSuchArchivePolicyRule(name)
                if new_name == name:
                    return _rule(row)
                if s.get(ArchivePolicyRuleRow, new_name) is not None:
                    raise errors.UnsupportedArchivePolicyRuleChange(name, new_name)
                s.execute(
                    sa.update(ArchivePolicyRuleRow).where(ArchivePolicyRuleRow.name == name).values(name=new_name)
                )
                return ArchivePolicyRule(
                    name=new_name,
                    metric_pattern=row.metric_pattern,
                    archive_policy_name=row.archive_policy_name,
                )
        except exc.IntegrityError:
            raise errors.UnsupportedArchivePolicyRuleChange(name, new_name) from None

    def delete_archive_policy_rule(self, name: str) -> None:
        with self._write() as s:
            result = s.execute(sa.delete(ArchivePolicyRuleRow).where(ArchivePolicyRuleRow.name == name))
            if result.rowcount == 0:
                raise errors.NoSuchArchivePolicyRule(name)

    @staticmethod
    def _match_rule(s: Session, metric_name: str | None) -> ArchivePolicyRule | None:
        for rule in _sorted_rules(s.scalars(sa.select(ArchivePolicyRuleRow)).all()):
            if fnmatch.fnmatchcase(metric_name or "", rule.metric_pattern):
                return rule
        return None

    def match_archive_policy_rule(self, metric_name: str | None) -> ArchivePolicyRule | None:
        """The first rule, in :meth:`list_archive_policy_rules` order, whose fnmatch pattern matches.

        Matching is case-sensitive on every platform; an unnamed metric is matched as "".
        """
        with self._read() as s:
            return self._match_rule(s, metric_name)

    # --- metrics --------------------------------------------------------------------------------------

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
                self._check_free(s, id, resource_id, name)
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
                policy = _policy(policy_row)
        except exc.IntegrityError as e:
            raise self._metric_integrity_error(e, id, name, archive_policy_name, resource_id) from None
        return Metric(
            id=id,
            archive_policy=policy,
            creator=creator,
            name=name,
            unit=unit,
            resource_id=resource_id,
            status="active",
        )

    @staticmethod
    def _check_free(s: Session, id: uuid.UUID, resource_id: uuid.UUID | None, name: str | None) -> None:
        if s.get(MetricRow, id) is not None:
            raise errors.MetricAlreadyExists(id)
        if resource_id is not None and name is not None:
            taken = s.scalar(
                sa.select(MetricRow.id).where(MetricRow.resource_id == resource_id, MetricRow.name == name)
            )
            if taken is not None:
                raise errors.NamedMetricAlreadyExists(name)

    @staticmethod
    def _metric_integrity_error(
        e: exc.IntegrityError,
        id: uuid.UUID,
        name: str | None,
        archive_policy_name: str,
        resource_id: uuid.UUID | None,
    ) -> errors.IndexerError:
        text = _constraint_text(e)
        if "archive_policy" in text:
            return errors.NoSuchArchivePolicy(archive_policy_name)
        if "fk_metric_resource_id" in text or "FOREIGN KEY" in text:
            return errors.NoSuchResource(resource_id)
        if "resource_id" in text and "name" in text:
            return errors.NamedMetricAlreadyExists(name)
        return errors.MetricAlreadyExists(id)

    def get_metric(self, id: uuid.UUID) -> Metric | None:
        """The active metric with this id, with its archive policy (one query)."""
        metrics = self.get_metrics([id])
        return metrics[0] if metrics else None

    def get_metrics(self, ids: Sequence[uuid.UUID]) -> list[Metric]:
        """Active metrics among ``ids`` in one query, in the order asked; unknown ids are left out."""
        wanted = list(dict.fromkeys(ids))
        if not wanted:
            return []
        cache = _PolicyCache()
        with self._read() as s:
            rows = s.scalars(sa.select(MetricRow).where(MetricRow.id.in_(wanted), MetricRow.status == "active")).all()
            by_id = {row.id: cache.metric(row) for row in rows}
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
        keys = _parse_sorts(sorts, _METRIC_SORT_COLUMNS, _METRIC_NULLABLE, "id")
        clauses = _metric_filters(filters)
        cache = _PolicyCache()
        with self._read() as s:
            if marker is not None:
                try:
                    marker_id = marker if isinstance(marker, uuid.UUID) else uuid.UUID(str(marker))
                except ValueError:
                    raise errors.InvalidMarker(marker) from None
                marker_row = s.execute(
                    sa.select(*(k.column.label(k.key) for k in keys)).where(MetricRow.id == marker_id)
                ).first()
                if marker_row is None:
                    raise errors.InvalidMarker(marker)
                clauses.append(_keyset_after(keys, marker_row._mapping))
            query = sa.select(MetricRow).where(*clauses).order_by(*(k.order_by() for k in keys))
            if limit is not None:
                query = query.limit(limit)
            return [cache.metric(row) for row in s.scalars(query)]

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

    def list_deleted_metric_ids(self) -> list[uuid.UUID]:
        with self._read() as s:
            return list(s.scalars(sa.select(MetricRow.id).where(MetricRow.status == "delete").order_by(MetricRow.id)))

    def expunge_metric(self, id: uuid.UUID) -> None:
        """Remove the metric row for good (whatever its status)."""
        with self._write() as s:
            result = s.execute(sa.delete(MetricRow).where(MetricRow.id == id))
            if result.rowcount == 0:
                raise errors.NoSuchMetric(id)

    # --- resources ------------------------------------------------------------------------------------

    def list_resource_types(self) -> list[str]:
        with self._read() as s:
            return list(s.scalars(sa.select(ResourceTypeRow.name).order_by(ResourceTypeRow.name)))

    def list_resource_type_records(self) -> list[ResourceType]:
        """Every resource type with its attribute schema, by name."""
        with self._read() as s:
            return [_resource_type(r) for r in s.scalars(sa.select(ResourceTypeRow).order_by(ResourceTypeRow.name))]

    def get_resource_type(self, name: str) -> ResourceType:
        with self._read() as s:
            row = s.get(ResourceTypeRow, name)
            if row is None:
                raise errors.NoSuchResourceType(name)
            return _resource_type(row)

    def create_resource_type(self, name: str, attributes: Mapping[str, Mapping[str, Any]]) -> ResourceType:
        """A new type: one row holding the attribute schema (no DDL, see :mod:`telescale.indexer.models`)."""
        definition = {k: dict(v) for k, v in attributes.items()}
        try:
            with self._write() as s:
                if s.get(ResourceTypeRow, name) is not None:
                    raise errors.ResourceTypeAlreadyExists(name)
                s.add(ResourceTypeRow(name=name, attributes=definition, state="active", updated_at=_utcnow()))
        except exc.IntegrityError:
            raise errors.ResourceTypeAlreadyExists(name) from None
        return ResourceType(name=name, attributes=definition, state="active")

    def update_resource_type(
        self,
        name: str,
        *,
        add_attributes: Mapping[str, Mapping[str, Any]] | None = None,
        del_attributes: Sequence[str] = (),
        fill: Mapping[str, Any] | None = None,
    ) -> ResourceType:
        """Add (or redefine) and remove attributes of a type, in one transaction.

        ``fill`` gives, per attribute, the value set on every existing resource (current and past
        revisions) that has none, as Gnocchi's ``options.fill`` does; a removed attribute is dropped from
        every resource of the type so that adding it again starts empty. Both rewrite the JSON of each
        resource of the type; no DDL is needed.
        """
        fill = {k: v for k, v in (fill or {}).items() if v is not None}
        removed = [a for a in del_attributes if a not in (add_attributes or {})]
        with self._write() as s:
            row = s.get(ResourceTypeRow, name, with_for_update=True)
            if row is None:
                raise errors.NoSuchResourceType(name)
            definition = {k: dict(v) for k, v in row.attributes.items()}
            for attr in del_attributes:
                definition.pop(attr, None)
            for attr, spec in (add_attributes or {}).items():
                definition[attr] = dict(spec)
            row.attributes = definition
            row.updated_at = _utcnow()
            if fill or removed:
                for model in (ResourceRow, ResourceHistoryRow):
                    key = model.id if model is ResourceRow else model.revision
                    for pk, attrs in s.execute(sa.select(key, model.attributes).where(model.type == name)):
                        new = {k: v for k, v in (attrs or {}).items() if k not in removed}
                        for attr, value in fill.items():
                            if new.get(attr) is None:
                                new[attr] = value
                        if new != attrs:
                            s.execute(sa.update(model).where(key == pk).values(attributes=new))
            return _resource_type(row)

    def delete_resource_type(self, name: str) -> None:
        """Refused while any resource (or past revision) has this type; ``generic`` cannot go."""
        try:
            with self._write() as s:
                if s.get(ResourceTypeRow, name) is None:
                    raise errors.NoSuchResourceType(name)
                used = s.scalar(
                    sa.select(
                        sa.or_(
                            sa.exists().where(ResourceRow.type == name),
                            sa.exists().where(ResourceHistoryRow.type == name),
                        )
                    )
                )
                if used or name == "generic":
                    raise errors.ResourceTypeInUse(name)
                s.execute(sa.delete(ResourceTypeRow).where(ResourceTypeRow.name == name))
        except exc.IntegrityError:
            raise errors.ResourceTypeInUse(name) from None

    def create_resource(
        self,
        type: str,
        id: uuid.UUID,
        original_resource_id: str,
        creator: str,
        *,
        user_id: str | None = None,
        project_id: str | None = None,
        started_at: datetime.datetime | None = None,
        ended_at: datetime.datetime | None = None,
        attributes: Mapping[str, Any] | None = None,
        metrics: Mapping[str, uuid.UUID | Mapping[str, Any]] | None = None,
    ) -> Resource:
        """Create a resource and, in the same transaction, attach or create its named metrics.

        ``metrics`` maps a name to an existing metric id (it must be active and have the same creator,
        as in Gnocchi) or to ``{"archive_policy_name"?, "unit"?}`` for a new metric; without a policy
        name the archive policy rules decide (:class:`NoArchivePolicyRuleMatch` if none matches).
        """
        now = _utcnow()
        started = _aware(started_at) or now
        ended = _aware(ended_at)
        if ended is not None and started > ended:
            raise errors.ResourceValueError("started_at", "Start timestamp cannot be after end timestamp")
        try:
            with self._write() as s:
                if s.get(ResourceTypeRow, type) is None:
                    raise errors.NoSuchResourceType(type)
                if s.get(ResourceRow, id) is not None:
                    raise errors.ResourceAlreadyExists(id)
                row = ResourceRow(
                    id=id,
                    type=type,
                    original_resource_id=original_resource_id,
                    creator=creator,
                    user_id=user_id,
                    project_id=project_id,
                    started_at=started,
                    ended_at=ended,
                    revision_start=now,
                    attributes=_clean(attributes),
                )
                s.add(row)
                s.flush()
                if metrics:
                    self._set_metrics(s, row, metrics)
                    s.flush()
                s.expire(row, ["metrics"])
                return _resource(row)
        except exc.IntegrityError as e:
            text = _constraint_text(e)
            if "pk_resource" in text or "resource.id" in text:
                raise errors.ResourceAlreadyExists(id) from None
            if "uq_metric" in text or "metric.resource_id" in text:
                raise errors.NamedMetricAlreadyExists(None) from None
            raise

    def _set_metrics(self, s: Session, row: ResourceRow, metrics: Mapping[str, uuid.UUID | Mapping[str, Any]]) -> None:
        for name, value in metrics.items():
            if isinstance(value, Mapping):
                policy_name = value.get("archive_policy_name")
                if policy_name is None:
                    rule = self._match_rule(s, name)
                    if rule is None:
                        raise errors.NoArchivePolicyRuleMatch(name)
                    policy_name = rule.archive_policy_name
                if s.get(ArchivePolicyRow, policy_name) is None:
                    raise errors.NoSuchArchivePolicy(policy_name)
                metric_id = value.get("id") or uuid.uuid4()
                self._check_free(s, metric_id, row.id, name)
                s.add(
                    MetricRow(
                        id=metric_id,
                        creator=row.creator,
                        archive_policy_name=policy_name,
                        name=name,
                        unit=value.get("unit"),
                        resource_id=row.id,
                        status="active",
                    )
                )
                s.flush()
                continue
            metric_id = _as_uuid("metrics", value)
            taken = s.scalar(
                sa.select(MetricRow.id).where(
                    MetricRow.resource_id == row.id, MetricRow.name == name, MetricRow.id != metric_id
                )
            )
            if taken is not None:
                raise errors.NamedMetricAlreadyExists(name)
            result = s.execute(
                sa.update(MetricRow)
                .where(MetricRow.id == metric_id, MetricRow.status == "active", MetricRow.creator == row.creator)
                .values(resource_id=row.id, name=name)
            )
            if result.rowcount == 0:
                raise errors.NoSuchMetric(metric_id)

    def get_resource(self, type: str, id: uuid.UUID) -> Resource | None:
        """The resource with this id; with a type other than "generic" it must also be of that type.

        Raises :class:`NoSuchResourceType` for an unknown type (Gnocchi answers 404 with that message).
        """
        with self._read() as s:
            if type != "generic" and s.get(ResourceTypeRow, type) is None:
                raise errors.NoSuchResourceType(type)
            query = sa.select(ResourceRow).where(ResourceRow.id == id)
            if type != "generic":
                query = query.where(ResourceRow.type == type)
            row = s.scalar(query)
            return None if row is None else _resource(row)

    def _resource_types(self, s: Session) -> dict[str, dict[str, dict[str, Any]]]:
        return {r.name: r.attributes for r in s.scalars(sa.select(ResourceTypeRow))}

    def _load_metrics(self, s: Session, ids: Sequence[uuid.UUID]) -> dict[uuid.UUID, dict[str, uuid.UUID]]:
        by_resource: dict[uuid.UUID, dict[str, uuid.UUID]] = {}
        if not ids:
            return by_resource
        rows = s.execute(
            sa.select(MetricRow.resource_id, MetricRow.name, MetricRow.id)
            .where(MetricRow.resource_id.in_(list(set(ids))), MetricRow.status == "active")
            .order_by(MetricRow.name)
        )
        for resource_id, name, metric_id in rows:
            if name is not None:
                by_resource.setdefault(resource_id, {})[name] = metric_id
        return by_resource

    def update_resource(
        self,
        type: str,
        id: uuid.UUID,
        *,
        create_revision: bool = True,
        metrics: Mapping[str, uuid.UUID | Mapping[str, Any]] | None = None,
        append_metrics: bool = False,
        **fields: Any,
    ) -> Resource:
        """Change a resource; with ``create_revision`` its previous state goes to ``resource_history``.

        ``fields``: ``user_id``, ``project_id``, ``started_at``, ``ended_at`` and type attributes (None
        clears one). ``metrics`` replaces the named metrics (those left out are detached), or adds to
        them with ``append_metrics``.
        """
        now = _utcnow()
        try:
            with self._write() as s:
                query = sa.select(ResourceRow).where(ResourceRow.id == id)
                if type != "generic":
                    query = query.where(ResourceRow.type == type)
                row = s.scalar(query.with_for_update())
                if row is None:
                    raise errors.NoSuchResource(id)
                if create_revision:
                    s.add(
                        ResourceHistoryRow(
                            id=row.id,
                            type=row.type,
                            original_resource_id=row.original_resource_id,
                            creator=row.creator,
                            user_id=row.user_id,
                            project_id=row.project_id,
                            started_at=row.started_at,
                            ended_at=row.ended_at,
                            revision_start=row.revision_start,
                            revision_end=now,
                            attributes=dict(row.attributes or {}),
                        )
                    )
                    row.revision_start = now
                attributes = dict(row.attributes or {})
                for key, value in fields.items():
                    if key in ("user_id", "project_id"):
                        setattr(row, key, value)
                    elif key in ("started_at", "ended_at"):
                        setattr(row, key, _aware(value))
                    else:
                        attributes[key] = value
                row.attributes = _clean(attributes)
                if row.ended_at is not None and row.started_at > row.ended_at:
                    raise errors.ResourceValueError("started_at", "Start timestamp cannot be after end timestamp")
                s.flush()
                if metrics is not None:
                    if not append_metrics:
                        s.execute(
                            sa.update(MetricRow)
                            .where(MetricRow.resource_id == row.id, MetricRow.status == "active")
                            .values(resource_id=None)
                        )
                    self._set_metrics(s, row, metrics)
                    s.flush()
                s.expire(row, ["metrics"])
                return _resource(row)
        except exc.IntegrityError as e:
            text = _constraint_text(e)
            if "started_before_ended" in text or "CHECK" in text:
                raise errors.ResourceValueError("started_at", "Start timestamp cannot be after end timestamp") from None
            if "uq_metric" in text or "metric.resource_id" in text:
                raise errors.NamedMetricAlreadyExists(None) from None
            raise

    def delete_resource(self, id: uuid.UUID) -> None:
        """Delete a resource and its history; its metrics are marked deleted (the janitor expunges them)."""
        with self._write() as s:
            self._delete_resources(s, [id])
            result = s.execute(sa.delete(ResourceRow).where(ResourceRow.id == id))
            if result.rowcount == 0:
                raise errors.NoSuchResource(id)

    @staticmethod
    def _delete_resources(s: Session, ids: Sequence[uuid.UUID]) -> None:
        s.execute(
            sa.update(MetricRow)
            .where(MetricRow.resource_id.in_(list(ids)), MetricRow.status == "active")
            .values(status="delete", resource_id=None)
        )
        s.execute(sa.delete(ResourceHistoryRow).where(ResourceHistoryRow.id.in_(list(ids))))

    def delete_resources(self, type: str, *, filter_node: Any = None, id_transform: Any = None) -> int:
        """Delete every resource of ``type`` (any type for "generic") matching the filter; returns how many."""
        with self._write() as s:
            types = self._resource_types(s)
            if type not in types:
                raise errors.NoSuchResourceType(type)
            base = ResourceRow.__table__
            clauses = self._resource_clauses(
                s, type, types, base, filter_node, history=False, id_transform=id_transform
            )
            ids = list(s.scalars(sa.select(base.c.id).where(*clauses)))
            for start in range(0, len(ids), 500):
                chunk = ids[start : start + 500]
                self._delete_resources(s, chunk)
                s.execute(sa.delete(ResourceRow).where(ResourceRow.id.in_(chunk)))
            return len(ids)

    @staticmethod
    def _history_selectable() -> sa.Subquery:
        current = ResourceRow.__table__
        past = ResourceHistoryRow.__table__
        columns = [*_RESOURCE_BASE_COLUMNS, "attributes"]
        return sa.union_all(
            sa.select(
                *(current.c[c] for c in columns),
                sa.type_coerce(sa.null(), UTCDateTime()).label("revision_end"),
                sa.literal(-1, sa.BigInteger).label("revision"),
            ),
            sa.select(
                *(past.c[c] for c in columns),
                past.c.revision_end,
                sa.cast(past.c.revision, sa.BigInteger).label("revision"),
            ),
        ).subquery("resource_revisions")

    def _resource_clauses(
        self,
        s: Session,
        type: str,
        types: Mapping[str, Mapping[str, Mapping[str, Any]]],
        base: Any,
        filter_node: Any,
        *,
        history: bool,
        id_transform: Any = None,
    ) -> list[sa.ColumnElement[bool]]:
        clauses: list[sa.ColumnElement[bool]] = []
        if type != "generic":
            clauses.append(base.c.type == type)
        if filter_node is not None:
            from telescale.indexer import search  # the filter language (optional until it lands)

            attribute_types = {k: v["type"] for k, v in types.get(type, {}).items()}
            clauses.append(
                search.compile_filter(
                    filter_node,
                    base,
                    attribute_types,
                    dialect_name=s.get_bind().dialect.name,
                    history=history,
                    resource_type=type,
                    resource_id=id_transform,
                )
            )
        return clauses

    def list_resources(
        self,
        type: str = "generic",
        *,
        resource_id: uuid.UUID | None = None,
        filter_node: Any = None,
        history: bool = False,
        sorts: Sequence[str] = (),
        limit: int | None = None,
        marker: str | None = None,
        details: bool = False,
        id_transform: Any = None,
    ) -> list[Resource]:
        """Resources of ``type`` (every type for "generic"), one keyset page at a time.

        ``filter_node`` is a parsed filter of :mod:`telescale.indexer.search`, compiled here against the
        table queried (the resources, or with ``history`` the union of current and past revisions, each
        past one with its ``revision_end`` and ``revision``). ``sorts`` take base columns and the type's
        attributes (``revision_end`` too with history), then id (and revision) break ties. ``marker`` is
        the id of the last row of the previous page, ``id@revision`` with history (current: ``@-1``).
        With ``details`` resources listed as "generic" carry their own type's attributes; otherwise a
        generic listing carries none. ``id_transform`` maps a non-UUID ``id`` in the filter to the stored
        id (Gnocchi's uuid5 with the caller as creator).
        """
        with self._read() as s:
            types = self._resource_types(s)
            if type not in types:
                raise errors.NoSuchResourceType(type)
            base: Any = self._history_selectable() if history else ResourceRow.__table__
            columns: dict[str, sa.ColumnElement[Any]] = {c: base.c[c] for c in _RESOURCE_BASE_COLUMNS}
            if history:
                columns["revision_end"] = base.c.revision_end
                columns["revision"] = base.c.revision
            attribute_names = set()
            for attr, spec in types[type].items():
                if attr not in columns:
                    columns[attr] = _attribute_column(base.c.attributes, attr, spec["type"])
                    attribute_names.add(attr)
            nullable = _RESOURCE_NULLABLE | attribute_names
            for sort in sorts:
                key = sort.partition(":")[0].strip()
                if key not in columns and key not in ("revision_end", "revision"):
                    raise errors.InvalidSortKey(key)
            if history:
                keys = _parse_sorts([*sorts, "id:asc"], columns, frozenset(nullable), "revision")
            else:
                keys = _parse_sorts(sorts, columns, frozenset(nullable), "id")
            clauses = self._resource_clauses(
                s, type, types, base, filter_node, history=history, id_transform=id_transform
            )
            if resource_id is not None:
                clauses.append(base.c.id == resource_id)
            if marker is not None:
                marker_clause = self._marker_clause(base, marker, history)
                marker_row = s.execute(
                    sa.select(*(k.column.label(k.key) for k in keys)).where(marker_clause)
                ).first()
                if marker_row is None:
                    raise errors.InvalidMarker(marker)
                clauses.append(_keyset_after(keys, marker_row._mapping))
            query = sa.select(base).where(*clauses).order_by(*(k.order_by() for k in keys))
            if limit is not None:
                query = query.limit(limit)
            rows = s.execute(query).mappings().all()
            metrics = self._load_metrics(s, [r["id"] for r in rows])
        resources = []
        for r in rows:
            attributes = dict(r["attributes"] or {}) if (type != "generic" or details) else {}
            resources.append(
                Resource(
                    id=r["id"],
                    type=r["type"],
                    original_resource_id=r["original_resource_id"],
                    creator=r["creator"],
                    user_id=r["user_id"],
                    project_id=r["project_id"],
                    started_at=r["started_at"],
                    ended_at=r["ended_at"],
                    revision_start=r["revision_start"],
                    revision_end=r["revision_end"] if history else None,
                    attributes=attributes,
                    metrics=dict(metrics.get(r["id"], {})),
                    revision=int(r["revision"]) if history else -1,
                )
            )
        return resources

    @staticmethod
    def _marker_clause(base: Any, marker: str, history: bool) -> sa.ColumnElement[bool]:
        try:
            if history:
                rid, _, rev = marker.rpartition("@")
                return sa.and_(base.c.id == uuid.UUID(rid), base.c.revision == int(rev))
            return base.c.id == uuid.UUID(marker)
        except ValueError:
            raise errors.InvalidMarker(marker) from None
