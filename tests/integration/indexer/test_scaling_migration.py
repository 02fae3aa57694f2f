"""Migration 0005 (scaling) applies and reverts on SQLite and PostgreSQL, and the constraints it creates
hold even for a writer that bypasses the indexer's checks."""

from __future__ import annotations

import uuid

import pytest
import sqlalchemy as sa
from alembic import command

from telescale.indexer import Indexer
from telescale.indexer.models import ScalingGroupRow
from telescale.indexer.scaling_rows import group_values
from tests.integration.indexer.scaling_records import at, group, step_policy

TABLES = {"scaling_group", "scaling_policy", "scaling_member", "scaling_decision", "silence"}


def _migrate(indexer: Indexer, direction: str, revision: str) -> None:
    with indexer._engine.begin() as conn:
        getattr(command, direction)(indexer._alembic_config(conn), revision)


def _tables(indexer: Indexer) -> set[str]:
    return set(sa.inspect(indexer._engine).get_table_names())


def test_downgrade_and_upgrade(indexer: Indexer) -> None:
    assert _tables(indexer) >= TABLES
    assert "ix_scaling_policy_next_evaluation_at" in {
        ix["name"] for ix in sa.inspect(indexer._engine).get_indexes("scaling_policy")}
    g = indexer.create_scaling_group(group())
    indexer.create_scaling_policy(step_policy(g.id), None)

    _migrate(indexer, "downgrade", "0004")
    assert not TABLES & _tables(indexer)
    assert "alarm" in _tables(indexer)

    _migrate(indexer, "upgrade", "head")
    assert _tables(indexer) >= TABLES
    assert indexer.list_scaling_groups(None) == []
    again = indexer.create_scaling_group(group())
    assert indexer.get_scaling_group(again.id, None) == again


@pytest.mark.parametrize("sizes", [
    {"min_size": 3, "max_size": 2, "desired_capacity": 2},
    {"min_size": -1, "max_size": 2, "desired_capacity": 1},
    {"min_size": 1, "max_size": 2, "desired_capacity": -1},
    {"current_size": -1},
])  # fmt: skip
def test_checks_hold_without_the_indexer(indexer: Indexer, sizes: dict) -> None:
    values = group_values(group(created_at=at(0), updated_at=at(0)))
    values.update(sizes, id=uuid.uuid4())
    with pytest.raises(sa.exc.IntegrityError), indexer._engine.begin() as conn:
        conn.execute(sa.insert(ScalingGroupRow).values(values))


def test_policies_need_their_group(indexer: Indexer) -> None:
    with pytest.raises(sa.exc.IntegrityError), indexer._engine.begin() as conn:
        conn.execute(sa.text(
            "INSERT INTO scaling_policy (id, group_id, name, type, spec, enabled, state, created_at) "
            "VALUES (:id, :g, 'p', 'step', '{}', true, '{}', :t)"
        ), {"id": _db_uuid(indexer, uuid.uuid4()), "g": _db_uuid(indexer, uuid.uuid4()), "t": at(0)})


def _db_uuid(indexer: Indexer, value: uuid.UUID) -> str:
    return str(value) if indexer._engine.dialect.name == "postgresql" else value.hex
