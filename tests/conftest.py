"""Shared fixtures: throwaway PostgreSQL databases.

``postgresql_url`` gives each test its own fresh database on the server named by
``TELESCALE_TEST_POSTGRESQL_URL`` and drops it afterwards, so tests never see each other's data and
can run in parallel. ``postgresql_empty_url`` is the cheaper variant for suites with many tests: one
database per module whose ``public`` schema is dropped and recreated before each test.
``postgresql_migrated_url`` (and :class:`MigratedTemplates`) give a fresh database as
``Indexer.upgrade()`` leaves an empty one, copied from a template that upgrade built once per session:
copying and dropping one takes ~0.35 s, creating, migrating and dropping one ~1.2 s.  :func:`migrated_sqlite`
does the same for SQLite files (a file copy: ~1 ms instead of ~0.2 s of migrations).
When the server is unreachable the test is skipped on a laptop and fails when ``CI=true``
(CONVENTIONS.md).
"""

from __future__ import annotations

import atexit
import contextlib
import functools
import os
import shutil
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import NoReturn
from urllib.parse import urlsplit, urlunsplit

import pytest

DEFAULT_POSTGRESQL_URL = "postgresql://postgres@127.0.0.1:5432/postgres"


def service_unavailable(reason: str) -> NoReturn:
    """Skip (developer machine) or fail (``CI=true``) because a test service is not reachable."""
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(f"{reason} (CI=true: services must be up)", pytrace=False)
    pytest.skip(reason)


DEFAULT_REDIS_URL = "redis://127.0.0.1:6379/0"


def redis_url() -> str:
    """The test Redis (``TELESCALE_TEST_REDIS_URL``)."""
    return os.environ.get("TELESCALE_TEST_REDIS_URL", DEFAULT_REDIS_URL)


def redis_client():  # -> redis.Redis (imported lazily: unit tests never need it)
    """A client of the test Redis that answered a PING; skips (fails with ``CI=true``) when it does not."""
    import redis

    client = redis.Redis.from_url(redis_url(), socket_connect_timeout=3)
    try:
        client.ping()
    except redis.RedisError as e:
        service_unavailable(f"Redis not reachable at {urlsplit(redis_url()).hostname}: {e}")
    return client


@contextlib.contextmanager
def redis_key_prefix():  # -> Iterator[tuple[redis.Redis, str]]
    """A client of the test Redis and a key prefix no other test uses; every key under it is deleted afterwards."""
    client = redis_client()
    prefix = f"telescale-test-{uuid.uuid4().hex}"
    try:
        yield client, prefix
    finally:
        for key in client.scan_iter(f"{prefix}:*"):
            client.delete(key)
        client.close()


def postgresql_admin_url() -> str:
    """The server URL tests create their databases on (a libpq URI, without a driver suffix)."""
    return os.environ.get("TELESCALE_TEST_POSTGRESQL_URL", DEFAULT_POSTGRESQL_URL)


def _with_database(url: str, dbname: str) -> str:
    parts = urlsplit(url)
    return urlunsplit((parts.scheme, parts.netloc, "/" + dbname, parts.query, parts.fragment))


def _libpq(url: str) -> str:
    """psycopg wants a plain libpq URI: drop any SQLAlchemy ``+driver`` from the scheme."""
    parts = urlsplit(url)
    return urlunsplit(("postgresql", parts.netloc, parts.path, parts.query, parts.fragment))


def create_postgresql_database(prefix: str = "telescale_test") -> tuple[str, str]:
    """Create an empty database; return (its URL, its name). Skips or fails when unreachable."""
    import psycopg

    admin = postgresql_admin_url()
    dbname = f"{prefix}_{uuid.uuid4().hex}"
    try:
        with psycopg.connect(_libpq(admin), autocommit=True, connect_timeout=3) as conn:
            conn.execute(f'CREATE DATABASE "{dbname}"')
    except psycopg.OperationalError as e:
        shown = urlunsplit(urlsplit(admin)._replace(netloc=urlsplit(admin).netloc.rpartition("@")[2]))
        service_unavailable(f"PostgreSQL not reachable at {shown}: {e}".strip())
    return _with_database(admin, dbname), dbname


def _copy_database(template: str, dbname: str) -> None:
    """``CREATE DATABASE dbname TEMPLATE template``: an exact copy (schema, rows, sequences) in ~0.25 s."""
    import psycopg

    with psycopg.connect(_libpq(postgresql_admin_url()), autocommit=True, connect_timeout=3) as conn:
        conn.execute(f'CREATE DATABASE "{dbname}" TEMPLATE "{template}"')


def drop_postgresql_database(dbname: str) -> None:
    import psycopg

    with psycopg.connect(_libpq(postgresql_admin_url()), autocommit=True, connect_timeout=3) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{dbname}" WITH (FORCE)')


def reset_postgresql_database(url: str) -> None:
    """Empty a database in a few milliseconds (CREATE + DROP DATABASE costs about a second)."""
    import psycopg

    with psycopg.connect(_libpq(url), autocommit=True, connect_timeout=3) as conn:
        conn.execute("DROP SCHEMA public CASCADE")
        conn.execute("CREATE SCHEMA public")


@pytest.fixture
def postgresql_url() -> Iterator[str]:
    """URL (``postgresql://...``) of a fresh, empty database, dropped after the test."""
    url, dbname = create_postgresql_database()
    try:
        yield url
    finally:
        drop_postgresql_database(dbname)


@pytest.fixture(scope="module")
def postgresql_module_url() -> Iterator[str]:
    """One throwaway database for a whole test module; pair it with :func:`reset_postgresql_database`
    (or the ``postgresql_empty_url`` fixture) to give each test an empty schema cheaply."""
    url, dbname = create_postgresql_database()
    try:
        yield url
    finally:
        drop_postgresql_database(dbname)


@pytest.fixture
def postgresql_empty_url(postgresql_module_url: str) -> str:
    """URL of the module's database with its ``public`` schema emptied for this test."""
    reset_postgresql_database(postgresql_module_url)
    return postgresql_module_url


class MigratedTemplates:
    """Template databases, one per ``create_default_archive_policies``: each an empty database that
    ``Indexer.upgrade`` migrated (so upgrade's fresh-database path still runs on PostgreSQL every session),
    built on first use; tests get copies of them."""

    def __init__(self) -> None:
        self.names: dict[bool, str] = {}

    def _template(self, defaults: bool) -> str:
        from telescale.indexer import Indexer

        if defaults not in self.names:
            url, dbname = create_postgresql_database("telescale_template")
            self.names[defaults] = dbname
            indexer = Indexer(url)
            try:
                indexer.upgrade(create_default_archive_policies=defaults)
            finally:
                indexer.dispose()  # a template must have no open connection while it is copied
        return self.names[defaults]

    @contextlib.contextmanager
    def copy(self, defaults: bool = True) -> Iterator[str]:
        """URL of a fresh database exactly as ``Indexer.upgrade(create_default_archive_policies=defaults)``
        leaves an empty one, dropped on exit."""
        dbname = f"telescale_test_{uuid.uuid4().hex}"
        _copy_database(self._template(defaults), dbname)
        try:
            yield _with_database(postgresql_admin_url(), dbname)
        finally:
            drop_postgresql_database(dbname)

    def drop(self) -> None:
        for dbname in self.names.values():
            drop_postgresql_database(dbname)


@pytest.fixture(scope="session")
def postgresql_templates() -> Iterator[MigratedTemplates]:
    """The session's migrated template databases, dropped at its end."""
    templates = MigratedTemplates()
    try:
        yield templates
    finally:
        templates.drop()


@pytest.fixture
def postgresql_migrated_url(postgresql_templates: MigratedTemplates) -> Iterator[str]:
    """URL of a fresh database holding the newest schema with Gnocchi's default policies, as `telescale upgrade`
    leaves an empty one; dropped after the test."""
    with postgresql_templates.copy() as url:
        yield url


@functools.cache
def _sqlite_template(defaults: bool) -> Path:
    """A SQLite file that ``Indexer.upgrade(create_default_archive_policies=defaults)`` made of an empty one
    (so upgrade's fresh-database path runs every session), removed when the test process exits."""
    from telescale.indexer import Indexer

    folder = Path(tempfile.mkdtemp(prefix="telescale-sqlite-template-"))
    atexit.register(shutil.rmtree, folder, True)
    path = folder / "indexer.sqlite"
    indexer = Indexer(f"sqlite:///{path}")
    try:
        indexer.upgrade(create_default_archive_policies=defaults)
    finally:
        indexer.dispose()  # the last connection's close folds the WAL into the file
    assert not path.with_name(path.name + "-wal").exists(), "the template's WAL was not checkpointed"
    return path


def migrated_sqlite(path: Path, defaults: bool = True) -> str:
    """Put at ``path`` a byte-for-byte copy of the SQLite file ``Indexer.upgrade(defaults)`` makes of an empty
    one, and return its URL: the state the migrations would leave, without running them for every test."""
    path.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(_sqlite_template(defaults), path)
    return f"sqlite:///{path}"


def _hypothesis_profiles() -> None:
    """CI replays the same examples every run (a failure there is reproducible); laptops explore."""
    from hypothesis import settings

    settings.register_profile("ci", derandomize=True, print_blob=True)
    if os.environ.get("CI", "").lower() == "true":
        settings.load_profile("ci")


_hypothesis_profiles()
