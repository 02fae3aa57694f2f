"""Running totals shared by every process: measures processed and dropped as older than the back window.

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-01

One row per counter, created here at 0, so that every increment is a plain ``UPDATE … SET value = value +
:n`` (atomic on both dialects, no upsert, no lost update between API workers, metricd workers or hosts).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

COUNTERS = ("measures_processed", "measures_dropped_back_window")


def upgrade() -> None:
    counter = op.create_table(
        "counter",
        sa.Column("name", sa.String(64), nullable=False),
        sa.Column("value", sa.BigInteger(), server_default="0", nullable=False),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_counter")),
    )
    op.bulk_insert(counter, [{"name": name, "value": 0} for name in COUNTERS])


def downgrade() -> None:
    op.drop_table("counter")
