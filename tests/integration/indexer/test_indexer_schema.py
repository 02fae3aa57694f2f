"""Schema creation: Alembic upgrade, defaults on an empty database, dialect settings."""

from __future__ import annotations

import threading

import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext

from telescale.indexer import DEFAULT_RULE, Indexer
from telescale.indexer.models import Base
from telescale.timeseries.policy import default_archive_policies


def _by_name(policies):
    return {p.name: p for p in policies}


def test_upgrade_creates_default_policies_and_rule(indexer: Indexer) -> None:
    assert _by_name(indexer.list_archive_policies()) == _by_name(default_archive_policies())
    assert [p.name for p in indexer.list_archive_policies()] == ["bool", "high", "low", "medium"]
    assert indexer.list_archive_policy_rules() == [DEFAULT_RULE]
    assert DEFAULT_RULE.name == "default" and DEFAULT_RULE.metric_pattern == "*"
    assert DEFAULT_RULE.archive_policy_name == "low"
    assert indexer.list_resource_types() == ["generic"]


def test_upgrade_is_idempotent(indexer: Indexer, db_url: str) -> None:
    indexer.upgrade()
    again = Indexer(db_url)
    try:
        again.upgrade()
        again.upgrade(create_default_archive_policies=False)
        assert _by_name(again.list_archive_policies()) == _by_name(default_archive_policies())
        assert again.list_archive_policy_rules() == [DEFAULT_RULE]
        assert again.list_resource_types() == ["generic"]
    finally:
        again.dispose()


def test_upgrade_without_defaults(bare_indexer: Indexer) -> None:
    assert bare_indexer.list_archive_policies() == []
    assert bare_indexer.list_archive_policy_rules() == []
    assert bare_indexer.list_resource_types() == ["generic"]


def test_defaults_only_on_an_empty_database(bare_indexer: Indexer) -> None:
    """A later upgrade of an existing database never brings back policies an admin did not want."""
    bare_indexer.upgrade(create_default_archive_policies=True)
    assert bare_indexer.list_archive_policies() == []
    assert bare_indexer.list_archive_policy_rules() == []


def test_models_match_migrations(indexer: Indexer) -> None:
    with indexer._engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn, opts={"compare_type": True}), Base.metadata)
    assert diff == []


def test_concurrent_upgrades_of_an_empty_database(db_url: str) -> None:
    """Two processes starting at once: one migrates, the other waits and finds the schema at head."""
    indexers = [Indexer(db_url) for _ in range(2)]
    failures: list[BaseException] = []
    barrier = threading.Barrier(len(indexers))

    def run(idx: Indexer) -> None:
        try:
            barrier.wait()
            idx.upgrade()
        except BaseException as e:
            failures.append(e)

    threads = [threading.Thread(target=run, args=(idx,)) for idx in indexers]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    try:
        assert failures == []
        assert len(indexers[0].list_archive_policies()) == len(default_archive_policies())
        assert indexers[1].list_archive_policy_rules() == [DEFAULT_RULE]
    finally:
        for idx in indexers:
            idx.dispose()


def test_dialect_settings(indexer: Indexer, db_url: str) -> None:
    if db_url.startswith("sqlite"):
        with indexer._engine.connect() as conn:
            assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
            assert conn.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
            assert conn.exec_driver_sql("PRAGMA busy_timeout").scalar() >= 1000
    else:
        assert indexer.url.drivername == "postgresql+psycopg"
        with indexer._engine.connect() as conn:
            assert conn.execute(sa.text("SELECT 1")).scalar() == 1


def test_repr_hides_password() -> None:
    idx = Indexer("postgresql://user:secret@127.0.0.1:1/db")
    try:
        assert "secret" not in repr(idx)
        assert idx.url.drivername == "postgresql+psycopg"
    finally:
        idx.dispose()
