"""Drivers by name: the one place where ``incoming.driver`` and ``storage.driver`` become objects.

Each entry names a class (``module:Class``) that builds itself with ``from_settings(settings)``; the module
is imported only when its driver is chosen, so the embedded default never loads boto3 or a Redis client.
A new driver is one line here and one class implementing :class:`~telescale.incoming.base.IncomingDriver`
or :class:`~telescale.storage.base.StorageDriver`, tested by the shared contract suite (``tests/contract``).
"""

from __future__ import annotations

import importlib
from typing import Any

from telescale.config import ConfigError, Settings
from telescale.incoming.base import IncomingDriver
from telescale.storage.base import StorageDriver

INCOMING_DRIVERS: dict[str, str] = {
    "file": "telescale.incoming.file:FileIncoming",
    "redis": "telescale.incoming.redis:RedisIncoming",
}
STORAGE_DRIVERS: dict[str, str] = {
    "file": "telescale.storage.file:FileStorage",
    "s3": "telescale.storage.s3:S3Storage",
    "redis": "telescale.storage.redis:RedisStorage",
}


def _driver_class(setting: str, table: dict[str, str], name: str) -> Any:
    target = table.get(name)
    if target is None:
        raise ConfigError(f"{setting} {name!r} is not a driver (known: {', '.join(sorted(table))})")
    module, _, attr = target.partition(":")
    return getattr(importlib.import_module(module), attr)


def build_incoming(settings: Settings) -> IncomingDriver:
    """The incoming driver ``incoming.driver`` names, from its settings."""
    cls = _driver_class("incoming.driver", INCOMING_DRIVERS, settings.incoming.driver)
    driver = cls.from_settings(settings)
    assert isinstance(driver, IncomingDriver)
    return driver


def build_storage(settings: Settings, *, read_cache: bool = True) -> StorageDriver:
    """The storage driver ``storage.driver`` names. ``read_cache``: keep decoded splits for repeated reads
    (``api.read_cache_mb``); processing does not read through the read path, so its workers go without."""
    cls = _driver_class("storage.driver", STORAGE_DRIVERS, settings.storage.driver)
    driver = cls.from_settings(settings, read_cache_bytes=settings.api.read_cache_mb << 20 if read_cache else 0)
    assert isinstance(driver, StorageDriver)
    return driver
