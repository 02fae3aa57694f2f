"""Every indexer test runs twice: on a temporary SQLite file and on a fresh PostgreSQL database."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from telescale.indexer import Alarm, Indexer
from tests.conftest import migrated_sqlite


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        # for ``indexer`` or ``bare_indexer``, a copy of the file their upgrade() would make (it then does nothing)
        wants = {"indexer", "bare_indexer"} & set(request.fixturenames)
        if len(wants) == 1:
            return migrated_sqlite(tmp_path / "indexer.db", defaults=wants == {"indexer"})
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


@pytest.fixture
def make_alarm() -> Callable[..., Alarm]:
    """A threshold alarm record with the API's defaults; keyword arguments override any field."""

    def make(**fields: Any) -> Alarm:
        values: dict[str, Any] = {
            "alarm_id": uuid.uuid4(),
            "name": "cpu_high",
            "type": "gnocchi_resources_threshold",
            "rule": {"metric": "cpu", "threshold": 80.0, "comparison_operator": "gt",
                     "aggregation_method": "mean", "resource_id": str(uuid.uuid4()), "resource_type": "instance"},
            "user_id": "user-a",
            "project_id": "project-a",
        }
        values.update(fields)
        return Alarm(**values)

    return make
