"""Autoscaling: scaling groups, their policies and members, the decision log, autohealing silences.

Revision ID: 0005
Revises: 0004
Create Date: 2027-01-15

* ``scaling_group``: the group's bounds, sizes and settings (behaviour, healing, member driver as JSON), the
  one action in flight (JSON) with its owner, lease and next attempt as columns for the scaler's claim, and
  ``version`` for conditional writes. A name is unique per project; the checks keep
  ``0 <= min_size <= desired_capacity <= max_size``.
* ``scaling_policy``: deleted with its group; ``token_hash`` (unique) finds the policy of a signal URL;
  ``next_evaluation_at`` (indexed) is the scaler's pick of due policies.
* ``scaling_member``: deleted with its group.
* ``scaling_decision``: no foreign key (the log of a deleted group stays readable); ``(group_id, timestamp)``
  serves a group's history and the recent past every decision reads.
* ``silence``: ``expires_at`` indexed for the active ones.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

JSONType = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")
TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "scaling_group",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("name", sa.String(255), nullable=False),
        sa.Column("project_id", sa.String(255), nullable=True),
        sa.Column("user_id", sa.String(255), nullable=True),
        sa.Column("min_size", sa.Integer(), nullable=False),
        sa.Column("max_size", sa.Integer(), nullable=False),
        sa.Column("desired_capacity", sa.Integer(), nullable=False),
        sa.Column("current_size", sa.Integer(), nullable=False),
        sa.Column("cooldown", sa.Float(), nullable=False),
        sa.Column("cooldown_end", TS, nullable=True),
        sa.Column("member_driver", JSONType, nullable=False),
        sa.Column("member_resource_type", sa.String(255), nullable=True),
        sa.Column("member_query", sa.Text(), nullable=True),
        sa.Column("paused", sa.Boolean(), nullable=False),
        sa.Column("dry_run", sa.Boolean(), nullable=False),
        sa.Column("behavior", JSONType, nullable=False),
        sa.Column("healing", JSONType, nullable=False),
        sa.Column("action", JSONType, nullable=True),
        sa.Column("action_owner", sa.String(255), nullable=True),
        sa.Column("action_lease_until", TS, nullable=True),
        sa.Column("action_next_attempt_at", TS, nullable=True),
        sa.Column("created_at", TS, nullable=False),
        sa.Column("updated_at", TS, nullable=False),
        sa.Column("version", sa.Integer(), nullable=False, server_default="1"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_scaling_group")),
        sa.UniqueConstraint("project_id", "name", name=op.f("uq_scaling_group_project_id_name")),
        sa.CheckConstraint("0 <= min_size AND min_size <= max_size", name=op.f("ck_scaling_group_size_bounds")),
        sa.CheckConstraint("desired_capacity >= 0", name=op.f("ck_scaling_group_desired_capacity")),
        sa.CheckConstraint("current_size >= 0", name=op.f("ck_scaling_group_current_size")),
    )
    op.create_index("ix_scaling_group_created_at_id", "scaling_group", ["created_at", "id"])

    op.create_table(
        "scaling_policy",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("group_id", sa.Uuid(), nullable=False),
        sa.Column("name", sa.String(255), nullable=False),
        sa.Column("type", sa.String(32), nullable=False),
        sa.Column("spec", JSONType, nullable=False),
        sa.Column("trigger", JSONType, nullable=True),
        sa.Column("enabled", sa.Boolean(), nullable=False),
        sa.Column("token_hash", sa.String(64), nullable=True),
        sa.Column("state", JSONType, nullable=False),
        sa.Column("next_evaluation_at", TS, nullable=True),
        sa.Column("created_at", TS, nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_scaling_policy")),
        sa.ForeignKeyConstraint(
            ["group_id"], ["scaling_group.id"], ondelete="CASCADE",
            name=op.f("fk_scaling_policy_group_id_scaling_group"),
        ),
        sa.UniqueConstraint("group_id", "name", name=op.f("uq_scaling_policy_group_id_name")),
        sa.UniqueConstraint("token_hash", name=op.f("uq_scaling_policy_token_hash")),
    )
    op.create_index(op.f("ix_scaling_policy_next_evaluation_at"), "scaling_policy", ["next_evaluation_at"])

    op.create_table(
        "scaling_member",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("group_id", sa.Uuid(), nullable=False),
        sa.Column("name", sa.String(255), nullable=False),
        sa.Column("ref", sa.Text(), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("resource_id", sa.Uuid(), nullable=True),
        sa.Column("created_at", TS, nullable=False),
        sa.Column("data", JSONType, nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_scaling_member")),
        sa.ForeignKeyConstraint(
            ["group_id"], ["scaling_group.id"], ondelete="CASCADE",
            name=op.f("fk_scaling_member_group_id_scaling_group"),
        ),
    )
    op.create_index(op.f("ix_scaling_member_group_id"), "scaling_member", ["group_id"])

    op.create_table(
        "scaling_decision",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("group_id", sa.Uuid(), nullable=False),
        sa.Column("project_id", sa.String(255), nullable=True),
        sa.Column("timestamp", TS, nullable=False),
        sa.Column("source", sa.String(32), nullable=False),
        sa.Column("outcome", sa.String(16), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("size_before", sa.Integer(), nullable=False),
        sa.Column("size_after", sa.Integer(), nullable=False),
        sa.Column("current_size", sa.Integer(), nullable=False),
        sa.Column("policy_id", sa.Uuid(), nullable=True),
        sa.Column("recommended", sa.Integer(), nullable=True),
        sa.Column("rule", sa.Text(), nullable=False),
        sa.Column("blocked_by", sa.String(32), nullable=True),
        sa.Column("inputs", JSONType, nullable=False),
        sa.Column("dry_run", sa.Boolean(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_scaling_decision")),
    )
    op.create_index("ix_scaling_decision_group_id_timestamp", "scaling_decision", ["group_id", "timestamp"])

    op.create_table(
        "silence",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("project_id", sa.String(255), nullable=True),
        sa.Column("group_id", sa.Uuid(), nullable=True),
        sa.Column("pattern", sa.Text(), nullable=False),
        sa.Column("comment", sa.Text(), nullable=False),
        sa.Column("created_by", sa.String(255), nullable=True),
        sa.Column("created_at", TS, nullable=False),
        sa.Column("expires_at", TS, nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_silence")),
    )
    op.create_index(op.f("ix_silence_project_id"), "silence", ["project_id"])
    op.create_index(op.f("ix_silence_expires_at"), "silence", ["expires_at"])


def downgrade() -> None:
    op.drop_table("silence")
    op.drop_table("scaling_decision")
    op.drop_table("scaling_member")
    op.drop_table("scaling_policy")
    op.drop_table("scaling_group")
