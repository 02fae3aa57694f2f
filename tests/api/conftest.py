"""The API in process: a fresh app per test on its own data dir, driven through Starlette's TestClient."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from telescale import config, service
from telescale.api.app import create_app
from telescale.drivers import Drivers
from tests.conftest import migrated_sqlite

ADMIN = {"authorization": "basic YWRtaW46"}
USER = {"authorization": "basic Zm9vYmFyOg=="}


def make_client(tmp_path: Path, indexer_url: str = "", overrides: tuple[str, ...] = ()) -> TestClient:
    settings = config.load(environ={}, overrides=[
        f"storage.data_dir={json.dumps(str(tmp_path / 'data'))}",
        f"indexer.url={json.dumps(indexer_url)}",
        "processing.workers=0", *overrides])
    if not indexer_url:  # SQLite in the data dir: start from a copy of a migrated file (upgrade then has nothing to do)
        migrated_sqlite(settings.data_path / "indexer.sqlite", settings.indexer.create_default_archive_policies)
    service.upgrade(settings)
    return TestClient(create_app(settings, Drivers.build(settings)),
                      headers={**ADMIN, "accept": "application/json"})


@pytest.fixture(params=["sqlite", "postgresql"])
def client(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[TestClient]:
    """A client on a fresh server, once on SQLite and once on the real PostgreSQL (a fresh, migrated database)."""
    url = request.getfixturevalue("postgresql_migrated_url") if request.param == "postgresql" else ""
    with make_client(tmp_path, url) as c:
        yield c
        c.app.state.services.close()


@pytest.fixture(params=["sqlite", "postgresql"])
def indexer_url(request: pytest.FixtureRequest) -> str:
    """``indexer.url`` for a fresh server: SQLite (""), then a fresh database on the real PostgreSQL (already
    migrated, as the server's own upgrade would leave it)."""
    return request.getfixturevalue("postgresql_migrated_url") if request.param == "postgresql" else ""
