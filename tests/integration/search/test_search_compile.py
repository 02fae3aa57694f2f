"""Compiled search filters against real databases: every operator on SQLite and on PostgreSQL."""

from __future__ import annotations

import datetime
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy.dialects import postgresql

from telescale.indexer import models
from telescale.indexer.search import (
    InvalidSearch,
    compile_filter,
    format_datetime_attribute,
    parse_json_filter,
    parse_string_filter,
)

UTC = datetime.UTC
IDS = {
    "r1": uuid.UUID("11111111-1111-4111-8111-111111111111"),
    "r2": uuid.UUID("22222222-2222-4222-8222-222222222222"),
    "r3": uuid.UUID("33333333-3333-4333-8333-333333333333"),
    "r4": uuid.UUID("44444444-4444-4444-8444-444444444444"),
}
NAMES = {v: k for k, v in IDS.items()}
REF_A = "0a7a15ff-aa13-4ac2-897c-9bdf30ce175b"
REF_B = "b01f2588-89dc-46b2-897b-fffae1e10975"
TYPES = {"host": "string", "name": "string", "n": "number", "flag": "bool", "ref": "uuid", "born": "datetime"}
NOW = datetime.datetime(2026, 1, 5, tzinfo=UTC)


def dt(*args: int) -> datetime.datetime:
    return datetime.datetime(*args, tzinfo=UTC)


ROWS: list[dict[str, Any]] = [
    {
        "id": IDS["r1"], "type": "server", "creator": "u1:p1", "user_id": "u1", "project_id": "p1",
        "started_at": dt(2026, 1, 1), "ended_at": dt(2026, 1, 1, 1),
        "attributes": {"host": "compute1", "name": "alpha", "n": 1, "flag": True, "ref": REF_A,
                       "born": format_datetime_attribute("2026-01-01T00:00:00")},
    },
    {
        "id": IDS["r2"], "type": "server", "creator": "u2:p2", "user_id": "u2", "project_id": None,
        "started_at": dt(2026, 1, 2), "ended_at": None,
        "attributes": {"host": "compute2", "name": "beta", "n": 2.5, "flag": False, "ref": REF_B,
                       "born": format_datetime_attribute("2026-02-01T12:00:00+02:00")},
    },
    {
        "id": IDS["r3"], "type": "server", "creator": "u1:p2", "user_id": "u1", "project_id": "p2",
        "started_at": dt(2026, 1, 3), "ended_at": dt(2026, 1, 3, 0, 30),
        "attributes": {"host": "compute1", "name": "alpine", "n": 10},
    },
    {
        "id": IDS["r4"], "type": "generic", "creator": "admin", "user_id": None, "project_id": None,
        "started_at": dt(2026, 1, 4), "ended_at": None, "attributes": {},
    },
]  # fmt: skip


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def engine(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[sa.Engine]:
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path_factory.mktemp('search') / 'search.db'}"
    else:
        url = request.getfixturevalue("postgresql_module_url").replace("postgresql://", "postgresql+psycopg://", 1)
    eng = sa.create_engine(url)
    models.Base.metadata.create_all(eng)
    with eng.begin() as conn:
        for name in ("generic", "server"):
            conn.execute(sa.insert(models.ResourceTypeRow).values(name=name, attributes={}, updated_at=dt(2026, 1, 1)))
        for row in ROWS:
            conn.execute(
                sa.insert(models.ResourceRow).values(
                    original_resource_id=str(row["id"]), revision_start=row["started_at"], **row
                )
            )
        # Two past revisions of r1: host was "old" until 2026-01-01T00:10, then "older" before that.
        for host, start, end in (
            ("older", dt(2026, 1, 1), dt(2026, 1, 1, 0, 5)),
            ("old", dt(2026, 1, 1, 0, 5), dt(2026, 1, 1, 0, 10)),
        ):
            conn.execute(
                sa.insert(models.ResourceHistoryRow).values(
                    id=IDS["r1"], type="server", original_resource_id=str(IDS["r1"]), creator="u1:p1",
                    started_at=dt(2026, 1, 1), revision_start=start, revision_end=end, attributes={"host": host},
                )
            )  # fmt: skip
    yield eng
    eng.dispose()


def search(engine: sa.Engine, query: str | dict[str, Any], table: Any = None, **kwargs: Any) -> set[str]:
    node = parse_json_filter(query) if isinstance(query, dict) else parse_string_filter(query)
    table = models.ResourceRow.__table__ if table is None else table
    clause = compile_filter(node, table, TYPES, dialect_name=engine.dialect.name, now=NOW, **kwargs)
    with engine.connect() as conn:
        return {NAMES[i] for i in conn.scalars(sa.select(table.c.id).where(clause))}


CASES: list[tuple[str | dict[str, Any], set[str]]] = [
    # strings in the JSON column
    ('host = "compute1"', {"r1", "r3"}),
    ("host = compute1", {"r1", "r3"}),
    ('host eq "compute1"', {"r1", "r3"}),
    ('host != "compute1"', {"r2", "r4"}),
    ('not host = "compute1"', {"r2", "r4"}),
    ("host = null", {"r4"}),
    ("host != null", {"r1", "r2", "r3"}),
    ("not host = null", {"r1", "r2", "r3"}),
    ('host in ["compute2", "nope"]', {"r2"}),
    ('not host in ["compute2"]', {"r1", "r3", "r4"}),
    ('host in ["compute2", null]', {"r2", "r4"}),
    ('not host in ["compute2", null]', {"r1", "r3"}),
    ('host > "compute1"', {"r2"}),
    ('not host > "compute1"', {"r1", "r3", "r4"}),
    ('name like "al%"', {"r1", "r3"}),
    ('not name like "al%"', {"r2", "r4"}),
    ('name like "_eta"', {"r2"}),
    # numbers
    ("n = 1", {"r1"}),
    ("n = 1.0", {"r1"}),
    ("n = 2.5", {"r2"}),
    ({"=": {"n": "10"}}, {"r3"}),
    ("n > 2", {"r2", "r3"}),
    ("n > 9", {"r3"}),
    ("n >= 2.5", {"r2", "r3"}),
    ("n < 10", {"r1", "r2"}),
    ("n ≤ 10", {"r1", "r2", "r3"}),
    ("not n > 2", {"r1", "r4"}),
    ("n in [1, 10]", {"r1", "r3"}),
    ("n != 1", {"r2", "r3", "r4"}),
    ("n = null", {"r4"}),
    # booleans
    ("flag = true", {"r1"}),
    ("flag = false", {"r2"}),
    ("flag != true", {"r2", "r3", "r4"}),
    ("flag = null", {"r3", "r4"}),
    ({"=": {"flag": "False"}}, {"r2"}),
    ("flag in [true, false]", {"r1", "r2"}),
    # uuids, normalised
    (f"ref = {REF_A}", {"r1"}),
    (f"ref = {REF_A.upper().replace('-', '')}", {"r1"}),
    (f'ref in ["{REF_A}", "{REF_B.upper()}"]', {"r1", "r2"}),
    (f"ref != {REF_A}", {"r2", "r3", "r4"}),
    # datetimes, normalised to UTC
    ('born < "2026-01-15"', {"r1"}),
    ('born = "2026-02-01T12:00:00+02:00"', {"r2"}),
    ('born = "2026-02-01T10:00:00Z"', {"r2"}),
    ('born >= "2026-01-01T00:00:00Z"', {"r1", "r2"}),
    ('born > "2025-12-31T23:00:00-02:00"', {"r2"}),
    ("born = null", {"r3", "r4"}),
    # base columns
    ("project_id = p1", {"r1"}),
    ("project_id != p1", {"r2", "r3", "r4"}),
    ("project_id = null", {"r2", "r4"}),
    ("user_id = null", {"r4"}),
    ('creator like "u1%"', {"r1", "r3"}),
    ("type = server", {"r1", "r2", "r3"}),
    ("type ne server", {"r4"}),
    (f"id = {IDS['r1']}", {"r1"}),
    (f"id in [{IDS['r1']}, {IDS['r2']}]", {"r1", "r2"}),
    (f"not id in [{IDS['r1']}, {IDS['r2']}]", {"r3", "r4"}),
    (f"id > {IDS['r2']}", {"r3", "r4"}),
    ("ended_at = null", {"r2", "r4"}),
    ('host = "compute1" and (ended_at = null or ended_at < "2026-01-02")', {"r1"}),
    ('started_at >= "2026-01-03"', {"r3", "r4"}),
    ('started_at < "2026-01-02T00:00:00+01:00"', {"r1"}),
    ('not ended_at < "2026-01-02"', {"r2", "r3", "r4"}),
    ({"eq": {"started_at": "2026-01-04"}}, {"r4"}),
    # creator halves
    ("created_by_user_id = u1", {"r1", "r3"}),
    ("created_by_user_id = admin", {"r4"}),
    ("created_by_project_id = p2", {"r2", "r3"}),
    ("created_by_project_id != p2", {"r1", "r4"}),
    ("created_by_user_id in [u2, admin]", {"r2", "r4"}),
    ('created_by_user_id like "u%"', {"r1", "r2", "r3"}),
    ("not created_by_user_id = u1", {"r2", "r4"}),
    # lifespan: coalesce(ended_at, now) - started_at, now = 2026-01-05
    ('lifespan = "1 hour"', {"r1"}),
    ('lifespan < "1 hour"', {"r3"}),
    ("lifespan <= 3600", {"r1", "r3"}),
    ('lifespan > "2 days"', {"r2"}),
    ('not lifespan > "2 days"', {"r1", "r3", "r4"}),
    # combinations
    ({"and": [{"=": {"host": "compute1"}}, {"not": {"=": {"n": 1}}}]}, {"r3"}),
    ('not (host = "compute1" or flag = false)', {"r4"}),
    ('not (host = "compute1" and n < 5)', {"r2", "r3", "r4"}),
    ("n > 100 or type = generic", {"r4"}),
    ({}, {"r1", "r2", "r3", "r4"}),
    ({"not": {}}, set()),
]


@pytest.mark.parametrize(("query", "expected"), CASES, ids=[str(q) for q, _ in CASES])
def test_operator(engine: sa.Engine, query: str | dict[str, Any], expected: set[str]) -> None:
    assert search(engine, query) == expected


def test_history_revision_columns(engine: sa.Engine) -> None:
    table = models.ResourceHistoryRow.__table__
    assert search(engine, 'revision_end <= "2026-01-01T00:05:00"', table, history=True) == {"r1"}
    assert search(engine, 'host = "old" and revision_start >= "2026-01-01T00:05"', table, history=True) == {"r1"}
    assert search(engine, 'host = "older" and revision_end > "2026-01-01T00:05"', table, history=True) == set()
    with pytest.raises(InvalidSearch, match="has no revision_end attribute"):
        search(engine, 'revision_end <= "2026-01-01"')


def test_id_transform(engine: sa.Engine) -> None:
    with pytest.raises(InvalidSearch, match="Invalid value: `cd9eef' for field `id'"):
        search(engine, {"=": {"id": "cd9eef"}})
    assert search(engine, {"=": {"id": "r3-original"}}, resource_id=lambda v: IDS["r3"]) == {"r3"}


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ("nope = 1", "Resource type generic has no nope attribute"),
        ("ref = 12", "Invalid value: `12' for field `ref'"),
        ('n > "many"', "Invalid value: `many' for field `n'"),
        ("flag = 3", "Invalid value: `3' for field `flag'"),
        ('born < "yesterday-ish"', "Invalid value: `yesterday-ish' for field `born'"),
        ('started_at like "2014%"', "Invalid value: `2014%' for field `started_at'"),
        ('n like "1%"', "Invalid value: `1%' for field `n'"),
        ("created_by_user_id > u1", "Invalid value: `u1' for field `created_by_user_id'"),
        ('lifespan > "soon"', "Invalid value: `soon' for field `lifespan'"),
        ("id in [notauuid]", "Invalid value: `notauuid' for field `id'"),
    ],
)
def test_invalid_values(engine: sa.Engine, query: str, message: str) -> None:
    with pytest.raises(InvalidSearch) as info:
        search(engine, query)
    assert str(info.value) == message
    assert info.value.kind == "query"


def test_unknown_attribute_names_the_type() -> None:
    node = parse_string_filter("nope = 1")
    with pytest.raises(InvalidSearch, match="Resource type server has no nope attribute"):
        compile_filter(node, models.ResourceRow, TYPES, dialect_name="sqlite", resource_type="server")


def test_postgresql_equality_uses_containment_and_literal_keys() -> None:
    node = parse_string_filter('host = "a" and not n in [1, 2] and name like "x%" and n > 3')
    clause = compile_filter(node, models.ResourceRow.__table__, TYPES, dialect_name="postgresql")
    sql = str(clause.compile(dialect=postgresql.dialect(), compile_kwargs={"render_postcompile": True}))
    assert sql.count("resource.attributes @>") == 3
    assert "resource.attributes ->> 'name'" in sql
    assert "CAST(resource.attributes ->> 'n' AS DOUBLE PRECISION) > " in sql
