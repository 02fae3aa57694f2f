"""Alarms: definitions and state, history, the metrics each alarm reads, the notification outbox, quotas.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-01

* ``alarm``: Aodh's fields plus Telescale's (``evaluation_interval``, ``pending_for``, ``missing_data``, the
  pending state, ``trust_id``) and ``version`` for conditional writes. Indexed for a project's listing in
  the default order (``project_id, timestamp``), the admin listing (``timestamp``) and the evaluator's pick
  of due alarms (``enabled, evaluate_timestamp``).
* ``alarm_history``: one row per change, no foreign key (the history of a deleted alarm stays readable);
  ``(alarm_id, timestamp)`` serves an alarm's history newest first, ``timestamp`` its expiry.
* ``alarm_metric``: which metrics an alarm read last time, looked up by metric when processing stores new
  measures; deleted with the alarm.
* ``alarm_notification``: the outbox, written in the transaction of the state change it announces and
  claimed by dispatchers in ``(state, next_attempt_at)`` order.
* ``alarm_quota``: Aodh's per-project quotas.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

JSONType = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")
TS = sa.DateTime(timezone=True)
STATES = "('ok', 'alarm', 'insufficient data')"


def upgrade() -> None:
    op.create_table(
        "alarm",
        sa.Column("alarm_id", sa.Uuid(), nullable=False),
        sa.Column("name", sa.String(255), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("type", sa.String(64), nullable=False),
        sa.Column("enabled", sa.Boolean(), nullable=False),
        sa.Column("severity", sa.String(16), nullable=False),
        sa.Column("state", sa.String(32), nullable=False),
        sa.Column("state_reason", sa.Text(), nullable=False),
        sa.Column("state_timestamp", TS, nullable=False),
        sa.Column("timestamp", TS, nullable=False),
        sa.Column("evaluate_timestamp", TS, nullable=True),
        sa.Column("user_id", sa.String(255), nullable=True),
        sa.Column("project_id", sa.String(255), nullable=True),
        sa.Column("ok_actions", JSONType, nullable=False),
        sa.Column("alarm_actions", JSONType, nullable=False),
        sa.Column("insufficient_data_actions", JSONType, nullable=False),
        sa.Column("repeat_actions", sa.Boolean(), nullable=False),
        sa.Column("time_constraints", JSONType, nullable=False),
        sa.Column("rule", JSONType, nullable=False),
        sa.Column("evaluation_interval", sa.Float(), nullable=True),
        sa.Column("pending_for", sa.Float(), nullable=False, server_default="0"),
        sa.Column("missing_data", sa.String(32), nullable=False, server_default="insufficient_data"),
        sa.Column("pending_state", sa.String(32), nullable=True),
        sa.Column("pending_since", TS, nullable=True),
        sa.Column("trust_id", sa.String(255), nullable=True),
        sa.Column("version", sa.Integer(), nullable=False, server_default="1"),
        sa.PrimaryKeyConstraint("alarm_id", name=op.f("pk_alarm")),
        sa.CheckConstraint(f"state IN {STATES}", name=op.f("ck_alarm_state")),
        sa.CheckConstraint("severity IN ('low', 'moderate', 'critical')", name=op.f("ck_alarm_severity")),
        sa.CheckConstraint(
            "missing_data IN ('insufficient_data', 'ok', 'alarm', 'keep_state')", name=op.f("ck_alarm_missing_data")
        ),
        sa.CheckConstraint(
            f"pending_state IS NULL OR pending_state IN {STATES}", name=op.f("ck_alarm_pending_state")
        ),
    )
    op.create_index("ix_alarm_project_id_timestamp", "alarm", ["project_id", "timestamp"])
    op.create_index("ix_alarm_timestamp", "alarm", ["timestamp"])
    op.create_index("ix_alarm_enabled_evaluate_timestamp", "alarm", ["enabled", "evaluate_timestamp"])

    op.create_table(
        "alarm_history",
        sa.Column("event_id", sa.Uuid(), nullable=False),
        sa.Column("alarm_id", sa.Uuid(), nullable=False),
        sa.Column("type", sa.String(32), nullable=False),
        sa.Column("detail", sa.Text(), nullable=False),
        sa.Column("user_id", sa.String(255), nullable=True),
        sa.Column("project_id", sa.String(255), nullable=True),
        sa.Column("on_behalf_of", sa.String(255), nullable=True),
        sa.Column("severity", sa.String(16), nullable=True),
        sa.Column("timestamp", TS, nullable=False),
        sa.PrimaryKeyConstraint("event_id", name=op.f("pk_alarm_history")),
    )
    op.create_index("ix_alarm_history_alarm_id_timestamp", "alarm_history", ["alarm_id", "timestamp"])
    op.create_index("ix_alarm_history_timestamp", "alarm_history", ["timestamp"])

    op.create_table(
        "alarm_metric",
        sa.Column("alarm_id", sa.Uuid(), nullable=False),
        sa.Column("metric_id", sa.Uuid(), nullable=False),
        sa.PrimaryKeyConstraint("alarm_id", "metric_id", name=op.f("pk_alarm_metric")),
        sa.ForeignKeyConstraint(
            ["alarm_id"], ["alarm.alarm_id"], ondelete="CASCADE", name=op.f("fk_alarm_metric_alarm_id_alarm")
        ),
    )
    op.create_index(op.f("ix_alarm_metric_metric_id"), "alarm_metric", ["metric_id"])

    op.create_table(
        "alarm_notification",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=True),
        sa.Column("alarm_id", sa.Uuid(), nullable=False),
        sa.Column("project_id", sa.String(255), nullable=True),
        sa.Column("action", sa.Text(), nullable=False),
        sa.Column("payload", JSONType, nullable=False),
        sa.Column("created_at", TS, nullable=False),
        sa.Column("next_attempt_at", TS, nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False, server_default="0"),
        sa.Column("state", sa.String(16), nullable=False, server_default="pending"),
        sa.Column("claimed_until", TS, nullable=True),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_alarm_notification")),
        sa.CheckConstraint(
            "state IN ('pending', 'delivered', 'failed')", name=op.f("ck_alarm_notification_state")
        ),
    )
    op.create_index(
        "ix_alarm_notification_state_next_attempt_at", "alarm_notification", ["state", "next_attempt_at"]
    )

    op.create_table(
        "alarm_quota",
        sa.Column("project_id", sa.String(255), nullable=False),
        sa.Column("resource", sa.String(64), nullable=False),
        sa.Column("limit", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("project_id", "resource", name=op.f("pk_alarm_quota")),
    )


def downgrade() -> None:
    op.drop_table("alarm_quota")
    op.drop_table("alarm_notification")
    op.drop_table("alarm_metric")
    op.drop_table("alarm_history")
    op.drop_table("alarm")
