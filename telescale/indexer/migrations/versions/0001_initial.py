"""Initial schema: archive policies and rules, resource types, resources (+ history), metrics.

Revision ID: 0001
Revises:
Create Date: 2025-11-23
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

JSONType = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")
TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "archive_policy",
        sa.Column("name", sa.String(255), nullable=False),
        sa.Column("back_window", sa.Integer(), nullable=False),
        sa.Column("definition", JSONType, nullable=False),
        sa.Column("aggregation_methods", JSONType, nullable=False),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_archive_policy")),
    )
    op.create_table(
        "archive_policy_rule",
        sa.Column("name", sa.String(255), nullable=False),
        sa.Column("archive_policy_name", sa.String(255), nullable=False),
        sa.Column("metric_pattern", sa.String(255), nullable=False),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_archive_policy_rule")),
        sa.ForeignKeyConstraint(
            ["archive_policy_name"],
            ["archive_policy.name"],
            ondelete="RESTRICT",
            name=op.f("fk_archive_policy_rule_archive_policy_name_archive_policy"),
        ),
    )
    op.create_index(op.f("ix_archive_policy_rule_archive_policy_name"), "archive_policy_rule", ["archive_policy_name"])
    op.create_table(
        "resource_type",
        sa.Column("name", sa.String(255), nullable=False),
        sa.Column("attributes", JSONType, nullable=False),
        sa.Column("state", sa.String(32), nullable=False, server_default="active"),
        sa.Column("updated_at", TS, nullable=False),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_resource_type")),
    )
    op.create_table(
        "resource",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("type", sa.String(255), nullable=False),
        sa.Column("original_resource_id", sa.String(289), nullable=False),
        sa.Column("creator", sa.String(255), nullable=True),
        sa.Column("user_id", sa.String(255), nullable=True),
        sa.Column("project_id", sa.String(255), nullable=True),
        sa.Column("started_at", TS, nullable=False),
        sa.Column("ended_at", TS, nullable=True),
        sa.Column("revision_start", TS, nullable=False),
        sa.Column("attributes", JSONType, nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_resource")),
        sa.ForeignKeyConstraint(
            ["type"], ["resource_type.name"], ondelete="RESTRICT", name=op.f("fk_resource_type_resource_type")
        ),
        sa.CheckConstraint("started_at <= ended_at", name=op.f("ck_resource_started_before_ended")),
    )
    for column in (
        "type",
        "original_resource_id",
        "creator",
        "user_id",
        "project_id",
        "started_at",
        "ended_at",
    ):
        op.create_index(op.f(f"ix_resource_{column}"), "resource", [column])
    op.create_table(
        "resource_history",
        sa.Column("revision", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=True),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("type", sa.String(255), nullable=False),
        sa.Column("original_resource_id", sa.String(289), nullable=False),
        sa.Column("creator", sa.String(255), nullable=True),
        sa.Column("user_id", sa.String(255), nullable=True),
        sa.Column("project_id", sa.String(255), nullable=True),
        sa.Column("started_at", TS, nullable=False),
        sa.Column("ended_at", TS, nullable=True),
        sa.Column("revision_start", TS, nullable=False),
        sa.Column("revision_end", TS, nullable=False),
        sa.Column("attributes", JSONType, nullable=False),
        sa.PrimaryKeyConstraint("revision", name=op.f("pk_resource_history")),
        sa.ForeignKeyConstraint(
            ["id"], ["resource.id"], ondelete="CASCADE", name=op.f("fk_resource_history_id_resource")
        ),
        sa.ForeignKeyConstraint(
            ["type"],
            ["resource_type.name"],
            ondelete="RESTRICT",
            name=op.f("fk_resource_history_type_resource_type"),
        ),
        sa.CheckConstraint("started_at <= ended_at", name=op.f("ck_resource_history_started_before_ended")),
    )
    op.create_index(op.f("ix_resource_history_id_revision_end"), "resource_history", ["id", "revision_end"])
    op.create_table(
        "metric",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("archive_policy_name", sa.String(255), nullable=False),
        sa.Column("creator", sa.String(255), nullable=True),
        sa.Column("resource_id", sa.Uuid(), nullable=True),
        sa.Column("name", sa.String(255), nullable=True),
        sa.Column("unit", sa.String(31), nullable=True),
        sa.Column("status", sa.String(16), nullable=False, server_default="active"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_metric")),
        sa.ForeignKeyConstraint(
            ["archive_policy_name"],
            ["archive_policy.name"],
            ondelete="RESTRICT",
            name=op.f("fk_metric_archive_policy_name_archive_policy"),
        ),
        sa.ForeignKeyConstraint(
            ["resource_id"], ["resource.id"], ondelete="SET NULL", name=op.f("fk_metric_resource_id_resource")
        ),
        sa.UniqueConstraint("resource_id", "name", name=op.f("uq_metric_resource_id_name")),
        sa.CheckConstraint("status IN ('active', 'delete')", name=op.f("ck_metric_status")),
    )
    for column in ("archive_policy_name", "creator", "name", "status"):
        op.create_index(op.f(f"ix_metric_{column}"), "metric", [column])


def downgrade() -> None:
    op.drop_table("metric")
    op.drop_table("resource_history")
    op.drop_table("resource")
    op.drop_table("resource_type")
    op.drop_table("archive_policy_rule")
    op.drop_table("archive_policy")
