"""The SQLAlchemy engine and the short transactions every indexer method runs in.

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
import sqlite3
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy import event, exc
from sqlalchemy.orm import Session, sessionmaker

SQLITE_BUSY_TIMEOUT_MS = 30_000
WRITE_OPTION = "telescale_write"


def utcnow() -> datetime.datetime:
    return datetime.datetime.now(datetime.UTC)


def constraint_text(error: exc.IntegrityError) -> str:
    """Which constraint failed: its name on PostgreSQL, SQLite's message (which names the columns)."""
    diag = getattr(error.orig, "diag", None)
    name = getattr(diag, "constraint_name", None)
    return name or str(error.orig)


def claim_ids(s: Session, query: sa.Select) -> list[Any]:
    """The ids ``query`` selects, locked for this transaction; on PostgreSQL rows another claimer holds are
    skipped rather than waited for (SQLite's writers are serialised anyway)."""
    if s.get_bind().dialect.name == "postgresql":
        query = query.with_for_update(skip_locked=True)
    return list(s.scalars(query))


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


class IndexerEngine:
    """One SQLAlchemy engine (SQLite or PostgreSQL) and its read and write sessions."""

    def __init__(self, url: str) -> None:
        self.url = _engine_url(url)
        self._engine = self._create_engine(self.url)
        self._reader = sessionmaker(self._engine, expire_on_commit=False)
        self._writer = sessionmaker(self._engine.execution_options(**{WRITE_OPTION: True}), expire_on_commit=False)

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
            immediate = connection.get_execution_options().get(WRITE_OPTION, False)
            connection.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")

        return engine

    def dispose(self) -> None:
        """Close every pooled connection (call before forking and at shutdown)."""
        self._engine.dispose()

    @contextlib.contextmanager
    def _read(self) -> Iterator[Session]:
        with self._reader() as session, session.begin():
            yield session

    def _fetch(self, statement: sa.Executable, params: dict[str, Any] | None = None) -> list[sa.Row[Any]]:
        """Rows of one read-only statement on a plain connection: no ORM session (hot paths)."""
        with self._engine.connect() as conn:
            return list(conn.execute(statement, params or {}).all())

    @contextlib.contextmanager
    def _write(self) -> Iterator[Session]:
        with self._writer() as session, session.begin():
            yield session
