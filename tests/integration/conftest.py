"""Fixtures the integration tests share."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from telescale.storage.file import FileStorage


@pytest.fixture
def storage(tmp_path: Path) -> Iterator[FileStorage]:
    s = FileStorage(tmp_path / "storage")
    try:
        yield s
    finally:
        s.close()
