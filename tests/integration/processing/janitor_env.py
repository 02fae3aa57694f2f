"""Fixtures of the janitor integration tests: the real indexer on SQLite and on PostgreSQL, file drivers."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from telescale.indexer import Indexer
from telescale.processing.worker import Drivers, file_drivers, run_once

S = 10**9
T0 = 1_700_000_000 * S
HOUR = 3600 * S


@pytest.fixture(params=["sqlite", "postgresql"])
def sql_drivers(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Drivers]:
    """File incoming, storage and locks under ``tmp_path`` and an upgraded indexer with the default policies."""
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'indexer.db'}"
    else:
        url = request.getfixturevalue("postgresql_empty_url")
    indexer = Indexer(url)
    indexer.upgrade()
    incoming, storage, locks = file_drivers(tmp_path / "data", sacks=4)
    try:
        yield Drivers(incoming, storage, indexer, locks)
    finally:
        for d in (incoming, storage, locks):
            d.close()
        indexer.dispose()


def feed(drivers: Drivers, metric_id: uuid.UUID, n: int = 60, start: int = T0, process: bool = True) -> None:
    """``n`` measures one second apart from ``start``; processed unless ``process`` is false."""
    ts = start + np.arange(n, dtype=np.int64) * S
    drivers.incoming.add_measures({metric_id: (ts, np.arange(n, dtype=float))})
    if process:
        run_once(drivers)


def on_disk(drivers: Drivers, metric_id: uuid.UUID) -> list[str]:
    """Every file or directory of the data directory whose path names the metric."""
    root = os.path.dirname(drivers.storage.root)
    return [os.path.join(d, n) for d, dirs, names in os.walk(root) for n in dirs + names if str(metric_id) in n]
