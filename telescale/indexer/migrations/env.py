"""Alembic environment: runs on the connection the Indexer hands over (no alembic.ini at runtime).

For development, ``alembic -x url=sqlite:///dev.db revision --autogenerate`` also works with a Config
whose ``script_location`` points here; then an engine is built from ``-x url=``.
"""

from __future__ import annotations

import logging

import sqlalchemy as sa
from alembic import context

from telescale.indexer.models import Base

LOG = logging.getLogger(__name__)


def _run(connection: sa.Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=Base.metadata,
        # SQLite cannot ALTER most things; batch mode recreates tables for future migrations.
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


def main() -> None:
    connection = context.config.attributes.get("connection")
    if connection is not None:
        _run(connection)
        return
    url = context.get_x_argument(as_dictionary=True).get("url") or context.config.get_main_option("sqlalchemy.url")
    if not url:
        raise RuntimeError("no connection given: pass -x url=... or set sqlalchemy.url")
    engine = sa.create_engine(url)
    try:
        with engine.begin() as conn:
            _run(conn)
    finally:
        engine.dispose()


main()
