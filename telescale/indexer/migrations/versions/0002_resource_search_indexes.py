"""Indexes for resource search and listing at scale (a million resources of one type).

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-23

What each index serves, and why it is here rather than created per resource type:

* ``resource (type, revision_start, started_at, id)``: listing a type in the API's default order
  (``revision_start``, ``started_at``, then ``id`` to break ties) is one ordered index range, and the next
  page (keyset, see :mod:`telescale.indexer.query`) starts inside that range. It replaces the index on
  ``type`` alone, which it covers (``type = X`` and the foreign key's checks use its first column).
* ``resource (revision_start, started_at, id)``: the same order for ``generic``, which lists every type.
* ``resource_history (type, revision_start, started_at, id)``: the same for ``history=true`` listings,
  and the foreign key to ``resource_type``, which otherwise reads all of history when a type is deleted.
  (``resource_history (id, revision_end)`` from 0001 serves one resource's history and its deletion.)
* PostgreSQL only: a GIN ``jsonb_path_ops`` index on ``attributes`` of both tables. Attribute ``=``,
  ``!=`` and ``in`` compile to JSONB containment (``attributes @> '{"host": "x"}'``, see
  :mod:`telescale.indexer.search`), which this one index serves for every attribute of every type, so a
  new resource type or attribute needs no DDL. ``jsonb_path_ops`` rather than the default ``jsonb_ops``:
  about a third of the size and faster for ``@>``, the only JSONB operator the search uses. SQLite has no
  GIN; there ``json_extract`` reads the attributes of the rows the other conditions leave.
* PostgreSQL only: statistics target 1000 (default 100) on ``attributes``. A search is a ``LIMIT`` in the
  listing order, so the planner chooses between the GIN index (then sort the matches) and walking the
  order index until enough rows match; it estimates ``@>`` from a histogram of whole attribute documents,
  and with 100 of them a value held by 100 resources out of a million that happens to be in one is taken
  for 1% of the table: measured, 1.1% of host searches then walked the order index (500 ms instead of
  1 ms). With 1000 none did; the cost is ANALYZE sampling 300,000 rows (8 s per million resources, done
  by autovacuum in the background) and about 0.4 ms more planning per search.

Ranges and ``like`` on an attribute are not indexed by default: that needs one btree expression index per
attribute (``CREATE INDEX CONCURRENTLY ... ON resource ((attributes ->> 'name'))``, the exact expressions
are in :mod:`telescale.indexer.search`), which is the DDL per type this schema avoids; an operator who
searches one attribute by range or prefix often can create it outside the request path (README).

These are plain ``CREATE INDEX`` (they run inside the upgrade transaction); on a large existing
PostgreSQL database they block writes to ``resource`` while they build (tens of seconds per million rows).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

_ORDER = ["revision_start", "started_at", "id"]
#: Histogram size of ``attributes`` on PostgreSQL (see above).
ATTRIBUTES_STATISTICS = 1000


def upgrade() -> None:
    op.create_index("ix_resource_type_revision_start_started_at_id", "resource", ["type", *_ORDER])
    op.create_index("ix_resource_revision_start_started_at_id", "resource", _ORDER)
    op.drop_index("ix_resource_type", table_name="resource")
    op.create_index("ix_resource_history_type_revision_start_started_at_id", "resource_history", ["type", *_ORDER])
    postgresql = op.get_bind().dialect.name == "postgresql"
    for table in ("resource", "resource_history"):
        op.create_index(
            f"ix_{table}_attributes",
            table,
            ["attributes"],
            postgresql_using="gin",
            postgresql_ops={"attributes": "jsonb_path_ops"},
            sqlite_where=sa.text("0"),  # no GIN on SQLite: an empty index keeps one schema (see models.py)
        )
        if postgresql:
            op.execute(f"ALTER TABLE {table} ALTER COLUMN attributes SET STATISTICS {ATTRIBUTES_STATISTICS}")


def downgrade() -> None:
    postgresql = op.get_bind().dialect.name == "postgresql"
    for table in ("resource", "resource_history"):
        op.drop_index(f"ix_{table}_attributes", table_name=table)
        if postgresql:
            op.execute(f"ALTER TABLE {table} ALTER COLUMN attributes SET STATISTICS -1")
    op.drop_index("ix_resource_history_type_revision_start_started_at_id", table_name="resource_history")
    op.create_index("ix_resource_type", "resource", ["type"])
    op.drop_index("ix_resource_revision_start_started_at_id", table_name="resource")
    op.drop_index("ix_resource_type_revision_start_started_at_id", table_name="resource")
