"""Every indexer test runs twice: on a temporary SQLite file and on a fresh PostgreSQL database."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from telescale.indexer import Indexer


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'indexer.db'}"
    # A database per module, emptied before each test: same isolation, a fraction of the time.
    return request.getfixturevalue("postgresql_empty_url")


@pytest.fixture
def indexer(db_url: str) -> Iterator[Indexer]:
    """An upgraded indexer with Gnocchi's default policies and rule."""
    idx = Indexer(db_url)
    idx.upgrade()
    try:
        yield idx
    finally:
        idx.dispose()


@pytest.fixture
def bare_indexer(db_url: str) -> Iterator[Indexer]:
    """An upgraded indexer without any archive policy or rule."""
    idx = Indexer(db_url)
    idx.upgrade(create_default_archive_policies=False)
    try:
        yield idx
    finally:
        idx.dispose()
