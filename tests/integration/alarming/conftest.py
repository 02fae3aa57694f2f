"""Alarming tests run on the indexer fixtures of the indexer tests: SQLite and a fresh PostgreSQL database."""

from tests.integration.indexer.conftest import db_url, indexer  # noqa: F401 - fixtures, used by name
