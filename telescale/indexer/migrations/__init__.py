"""Alembic migrations of the indexer, run in code by :meth:`telescale.indexer.Indexer.upgrade`."""
