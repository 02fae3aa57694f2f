"""The indexes resource search and listing rely on (migration 0002), on SQLite and PostgreSQL.

What a user sees: searching and paging stay fast with a million resources, and give the same rows as before
the indexes existed. So: the migration applies and reverts; pages walked with markers give exactly the full
listing in every order (the marker condition is written so an index can start at the marker); on
PostgreSQL ``EXPLAIN`` shows the attribute equality, the type listing and the next page served by indexes.
"""

from __future__ import annotations

import datetime
import re
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
import sqlalchemy as sa
from alembic import command
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory

from telescale.indexer import Indexer
from telescale.indexer.schema import MIGRATIONS_DIR
from telescale.indexer.search import parse_json_filter, parse_string_filter

SERVER = {
    "host": {"type": "string", "required": False, "min_length": 0, "max_length": 255},
    "vcpus": {"type": "number", "required": False, "min": None, "max": None},
    "active": {"type": "bool", "required": False},
}
HEAD = ScriptDirectory(str(MIGRATIONS_DIR)).get_current_head()  # the newest migration, whichever it is
NEW_INDEXES = {
    "resource": {"ix_resource_type_revision_start_started_at_id", "ix_resource_revision_start_started_at_id",
                 "ix_resource_attributes"},
    "resource_history": {"ix_resource_history_type_revision_start_started_at_id", "ix_resource_history_attributes"},
}  # fmt: skip
DEFAULT_SORTS = ["revision_start:asc", "started_at:asc"]  # the API's default resource order
T0 = datetime.datetime(2026, 1, 1, tzinfo=datetime.UTC)


def _indexes(engine: sa.Engine, table: str) -> set[str]:
    return {ix["name"] for ix in sa.inspect(engine).get_indexes(table)}


def _migrate(indexer: Indexer, direction: str, revision: str) -> None:
    with indexer._engine.begin() as conn:
        getattr(command, direction)(indexer._alembic_config(conn), revision)


def _statistics_targets(engine: sa.Engine) -> dict[str, int]:
    """PostgreSQL's per-column statistics target of ``attributes`` (-1: the server default)."""
    if engine.dialect.name != "postgresql":
        return {}
    with engine.connect() as conn:
        rows = conn.exec_driver_sql(
            "SELECT attrelid::regclass::text, attstattarget FROM pg_attribute "
            "WHERE attname = 'attributes' AND attrelid IN ('resource'::regclass, 'resource_history'::regclass)"
        )
        return {table: int(target) for table, target in rows}


def _revision(indexer: Indexer) -> str | None:
    with indexer._engine.connect() as conn:
        return MigrationContext.configure(conn).get_current_revision()


def test_migration_0002_downgrades_and_upgrades(indexer: Indexer) -> None:
    engine = indexer._engine
    assert _revision(indexer) == HEAD
    for table, names in NEW_INDEXES.items():
        assert names <= _indexes(engine, table)
    assert "ix_resource_type" not in _indexes(engine, "resource")  # covered by the (type, ...) index
    postgresql = engine.dialect.name == "postgresql"
    assert _statistics_targets(engine) == ({"resource": 1000, "resource_history": 1000} if postgresql else {})
    rid = uuid.uuid4()
    indexer.create_resource_type("server", SERVER)
    indexer.create_resource("server", rid, "r", "admin", attributes={"host": "h1", "vcpus": 2})

    _migrate(indexer, "downgrade", "0001")
    assert _revision(indexer) == "0001"
    for table, names in NEW_INDEXES.items():
        assert not names & _indexes(engine, table)
    assert "ix_resource_type" in _indexes(engine, "resource")
    assert _statistics_targets(engine) == ({"resource": -1, "resource_history": -1} if postgresql else {})

    _migrate(indexer, "upgrade", "head")
    assert _revision(indexer) == HEAD
    for table, names in NEW_INDEXES.items():
        assert names <= _indexes(engine, table)
    assert _statistics_targets(engine) == ({"resource": 1000, "resource_history": 1000} if postgresql else {})
    # Data survived both ways and is found through the new indexes.
    found = indexer.list_resources("server", filter_node=parse_string_filter('host = "h1"'))
    assert [r.id for r in found] == [rid]


def test_migration_0003_counters_downgrade_and_upgrade(indexer: Indexer) -> None:
    """The counters' rows exist from the upgrade on, so that adding to them is a plain UPDATE."""
    indexer.add_to_counters({"measures_processed": 5})
    _migrate(indexer, "downgrade", "0002")
    assert "counter" not in sa.inspect(indexer._engine).get_table_names()
    _migrate(indexer, "upgrade", "head")
    indexer.add_to_counters({"measures_processed": 2, "measures_dropped_back_window": 1})
    assert indexer.totals() == {"metrics": 0, "measures_processed": 2, "measures_dropped_back_window": 1}


@pytest.fixture
def servers(indexer: Indexer) -> Iterator[Indexer]:
    """23 servers (and 2 generic resources) with ties, gaps and nulls in every sortable column; a few
    updated so that history has rows too."""
    indexer.create_resource_type("server", SERVER)
    for i in range(23):
        attributes: dict[str, Any] = {"host": f"h{i % 4}"}
        if i % 5:
            attributes["vcpus"] = [1, 2, 2.0, 4.5][i % 4]
        if i % 3:
            attributes["active"] = i % 2 == 0
        indexer.create_resource(
            "server", uuid.uuid4(), f"s{i}", "admin",
            project_id=None if i % 6 == 0 else f"p{i % 3}",
            started_at=T0 + datetime.timedelta(minutes=i % 7),
            ended_at=None if i % 4 else T0 + datetime.timedelta(hours=1 + i % 3),
            attributes=attributes,
        )  # fmt: skip
    for i in range(2):
        indexer.create_resource("generic", uuid.uuid4(), f"g{i}", "admin", started_at=T0)
    for r in indexer.list_resources("server", filter_node=parse_string_filter('host = "h1"')):
        indexer.update_resource("server", r.id, vcpus=8)
    yield indexer


def _key(history: bool) -> Any:
    return (lambda r: (r.id, r.revision)) if history else (lambda r: r.id)


def _walk(indexer: Indexer, type: str, sorts: list[str], history: bool, limit: int) -> list[Any]:
    pages: list[Any] = []
    marker = None
    while True:
        page = indexer.list_resources(type, sorts=sorts, limit=limit, marker=marker, history=history)
        pages += page
        if len(page) < limit:
            return pages
        marker = f"{page[-1].id}@{page[-1].revision}" if history else str(page[-1].id)


SORTS = [
    DEFAULT_SORTS,
    ["revision_start:desc", "started_at:desc"],
    ["started_at:asc"],
    ["started_at:desc", "project_id:asc"],
    ["ended_at:asc"],
    ["ended_at:desc-nullslast", "started_at:asc"],
    ["vcpus:asc", "host:desc"],
    ["active:desc-nullsfirst"],
    ["project_id:asc-nullsfirst", "id:desc"],
]
#: Every sort on "server"; on "generic" only those without the server type's attributes (it has none).
PAGE_CASES = [("server", s) for s in SORTS] + [
    ("generic", s) for s in SORTS if not any(key.split(":")[0] in SERVER for key in s)]


@pytest.mark.parametrize("type, sorts", PAGE_CASES, ids=lambda v: v if isinstance(v, str) else ",".join(v))
@pytest.mark.parametrize("history", [False, True], ids=["current", "history"])
def test_marker_pages_equal_the_full_listing(servers: Indexer, sorts: list[str], history: bool, type: str) -> None:
    full = servers.list_resources(type, sorts=sorts, history=history)
    assert len(full) == (23 if type == "server" else 25) + (6 if history else 0)
    key = _key(history)
    for limit in (1, 4, 7):
        assert [key(r) for r in _walk(servers, type, sorts, history, limit)] == [key(r) for r in full]


def test_number_equality_matches_integers_and_floats(indexer: Indexer) -> None:
    """``vcpus = 2`` matches a stored 2 and 2.0 on both backends (JSONB containment compares numbers by
    value, as ``json_extract`` does), and not 2.5."""
    indexer.create_resource_type("server", SERVER)
    ids = {}
    for name, vcpus in (("int", 2), ("float", 2.0), ("half", 2.5)):
        ids[name] = indexer.create_resource("server", uuid.uuid4(), name, "admin", attributes={"vcpus": vcpus}).id
    for query in ({"=": {"vcpus": 2}}, {"=": {"vcpus": 2.0}}, {"in": {"vcpus": [2, 7]}}):
        found = {r.id for r in indexer.list_resources("server", filter_node=parse_json_filter(query))}
        assert found == {ids["int"], ids["float"]}, query
    found = {r.id for r in indexer.list_resources("server", filter_node=parse_json_filter({"!=": {"vcpus": 2}}))}
    assert found == {ids["half"]}


# --- PostgreSQL: the plans --------------------------------------------------------------------------


#: The plan tests run on PostgreSQL only (EXPLAIN output is PostgreSQL's).
POSTGRESQL_ONLY = pytest.mark.parametrize("db_url", ["postgresql"], indirect=True)


@pytest.fixture
def pg_servers(servers: Indexer) -> Indexer:
    """The servers plus 2,000 more (and a past revision of each), each with its own host: a table still
    small, where the type matches every row and an attribute equality a handful, as in a real cloud."""
    with servers._engine.begin() as conn:
        conn.exec_driver_sql(
            "INSERT INTO resource (id, type, original_resource_id, creator, started_at, revision_start, attributes) "
            "SELECT gen_random_uuid(), 'server', 'bulk' || n, 'admin', t, t, "
            "jsonb_build_object('host', 'bulk-' || n, 'vcpus', 100 + n, 'active', mod(n, 100) = 0) "
            "FROM generate_series(1, 2000) AS n, LATERAL (SELECT timestamptz '2026-01-02' + n * interval '1 s') AS x(t)"
        )
        conn.exec_driver_sql(
            "INSERT INTO resource_history (id, type, original_resource_id, creator, started_at, revision_start, "
            "revision_end, attributes) SELECT id, type, original_resource_id, creator, started_at, revision_start, "
            "revision_start + interval '1 s', attributes FROM resource WHERE starts_with(original_resource_id, 'bulk')"
        )
        conn.exec_driver_sql("ANALYZE resource")
        conn.exec_driver_sql("ANALYZE resource_history")
    return servers


def _page_plan(indexer: Indexer, call: Any) -> str:
    """The text of ``EXPLAIN`` for the page query ``call`` sends, with sequential scans off (on a table
    this small a sequential scan is cheapest; on a large one the planner leaves it by itself)."""
    statements: list[tuple[str, Any]] = []

    def record(_conn: Any, _cursor: Any, statement: str, parameters: Any, _context: Any, _many: bool) -> None:
        statements.append((statement, parameters))

    sa.event.listen(indexer._engine, "before_cursor_execute", record)
    try:
        call()
    finally:
        sa.event.remove(indexer._engine, "before_cursor_execute", record)
    statement, parameters = next((s, p) for s, p in statements if "LIMIT" in s and "FROM resource" in s)
    with indexer._engine.connect() as conn:
        conn.exec_driver_sql("SET enable_seqscan = off")
        rows = conn.exec_driver_sql("EXPLAIN " + statement, parameters).scalars().all()
    return "\n".join(rows)


@POSTGRESQL_ONLY
def test_postgresql_attribute_equality_uses_the_gin_index(pg_servers: Indexer) -> None:
    for query in ('host = "h1"', "vcpus = 2", 'host in ["h1", "h2"]', 'host = "h1" and vcpus > 1'):
        node = parse_string_filter(query)
        plan = _page_plan(
            pg_servers,
            lambda node=node: pg_servers.list_resources("server", filter_node=node, limit=10),
        )
        assert "Bitmap Index Scan on ix_resource_attributes" in plan, (query, plan)
        assert "Seq Scan" not in plan, (query, plan)


@POSTGRESQL_ONLY
def test_postgresql_history_attribute_equality_uses_the_gin_indexes(pg_servers: Indexer) -> None:
    node = parse_string_filter('host = "h1"')
    plan = _page_plan(
        pg_servers,
        lambda: pg_servers.list_resources("server", filter_node=node, history=True, limit=10),
    )
    assert "ix_resource_attributes" in plan and "ix_resource_history_attributes" in plan, plan
    assert "Seq Scan" not in plan, plan


@POSTGRESQL_ONLY
def test_postgresql_listing_and_next_page_read_an_order_index(pg_servers: Indexer) -> None:
    """The default order is one index range (``(type, revision_start, started_at, id)``, or without the
    type when, as here, nearly every row has it); the next page starts at the marker inside the index (the
    row comparison is an Index Cond), so page N does not read the N-1 pages before it, and nothing sorts."""
    order_index = re.compile(r"Index Scan using ix_resource_(type_)?revision_start_started_at_id on resource")
    for type in ("server", "generic"):
        first = pg_servers.list_resources(type, sorts=DEFAULT_SORTS, limit=5)
        plan = _page_plan(pg_servers, lambda type=type: pg_servers.list_resources(type, sorts=DEFAULT_SORTS, limit=5))
        assert order_index.search(plan) and "Sort" not in plan, plan
        marker = str(first[-1].id)
        plan = _page_plan(
            pg_servers,
            lambda type=type, marker=marker: pg_servers.list_resources(
                type, sorts=DEFAULT_SORTS, limit=5, marker=marker
            ),
        )
        assert order_index.search(plan) and "Sort" not in plan, plan
        assert re.search(r"Index Cond: .*ROW\(revision_start, started_at, id\) > ROW\(", plan), plan


@pytest.mark.parametrize("host", ["it's", 'say "hi"', "back\\slash", "ünï ☃", "' OR 1=1 --", "per%cent"])
def test_equality_on_awkward_strings(indexer: Indexer, host: str) -> None:
    """On PostgreSQL the containment document is inlined in the SQL (see search.py): quotes, backslashes and
    non-ASCII values must still match exactly themselves."""
    indexer.create_resource_type("server", SERVER)
    rid = indexer.create_resource("server", uuid.uuid4(), "r", "admin", attributes={"host": host}).id
    indexer.create_resource("server", uuid.uuid4(), "other", "admin", attributes={"host": "plain"})
    for query in ({"=": {"host": host}}, {"in": {"host": [host, "nope"]}}):
        assert [r.id for r in indexer.list_resources("server", filter_node=parse_json_filter(query))] == [rid]
    assert len(indexer.list_resources("server", filter_node=parse_json_filter({"!=": {"host": host}}))) == 1


def test_equality_with_a_nul_character_matches_nothing(indexer: Indexer) -> None:
    indexer.create_resource_type("server", SERVER)
    indexer.create_resource("server", uuid.uuid4(), "r", "admin", attributes={"host": "a"})
    assert indexer.list_resources("server", filter_node=parse_json_filter({"=": {"host": "a\x00"}})) == []
    assert len(indexer.list_resources("server", filter_node=parse_json_filter({"!=": {"host": "a\x00"}}))) == 1
