"""Drivers by name, and :class:`Drivers`, the one container of them each process builds from settings.

``incoming.driver`` and ``storage.driver`` become objects here and nowhere else.

Each entry names a class (``module:Class``) that builds itself with ``from_settings(settings)``; the module
is imported only when its driver is chosen, so the embedded default never loads boto3 or a Redis client.
A new driver is one line here and one class implementing :class:`~telescale.incoming.base.IncomingDriver`
or :class:`~telescale.storage.base.StorageDriver`, tested by the shared contract suite (``tests/contract``).
"""

from __future__ import annotations

import functools
import importlib
import uuid
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from telescale.config import ConfigError, Settings
from telescale.coordination.locks import FileSackLocks, LockTimeout, SackLocks, ToozSackLocks
from telescale.coordination.membership import GroupView
from telescale.incoming.base import IncomingDriver
from telescale.storage.base import StorageDriver

if TYPE_CHECKING:
    from telescale.processing.backwindow import BackWindowGuard
    from telescale.query.reader import Query

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


def build_locks(settings: Settings) -> SackLocks:
    """Sack locks: tooz's on ``coordination.url`` (processes on several hosts), else ``flock`` under
    ``<storage.data_dir>/locks`` (processes of one host)."""
    if settings.coordination.url:
        return ToozSackLocks(settings.coordination.url, heartbeat_timeout=settings.coordination.heartbeat_timeout)
    return FileSackLocks(settings.data_path / "locks")


@dataclass
class Drivers:
    """Every driver one process uses (API worker, metricd, evaluator, scaler), built once from settings and
    passed to whoever needs them. Tests build one from drivers of their own (``settings`` stays None)."""

    incoming: IncomingDriver
    storage: StorageDriver
    indexer: Any  # telescale.indexer.Indexer (processing needs only its MetricSource part)
    locks: SackLocks
    settings: Settings | None = None

    LockTimeout = LockTimeout

    @classmethod
    def build(cls, settings: Settings, *, read_cache: bool = True) -> Drivers:
        """``read_cache``: see :func:`build_storage` (the API and evaluators read; metricd does not)."""
        from telescale.indexer import Indexer

        settings.data_path.mkdir(parents=True, exist_ok=True)
        return cls(build_incoming(settings), build_storage(settings, read_cache=read_cache),
                   Indexer(settings.indexer_url), build_locks(settings), settings)

    @functools.cached_property
    def back_window(self) -> BackWindowGuard:
        """The API's check of new measures against each metric's back window (reads storage)."""
        from telescale.processing.backwindow import BackWindowGuard

        return BackWindowGuard(self.storage)

    def refresh(self, metric_id: uuid.UUID, timeout: float) -> None:
        """Process a metric's pending measures now (the API's ``?refresh=true``)."""
        from telescale.processing.processor import process_metric

        if self.incoming.pending_for_metric(metric_id):
            process_metric(metric_id, self.incoming, self.storage, self.indexer, self.locks, timeout=timeout)

    @functools.cached_property
    def query(self) -> Query:
        """The read path over these drivers, shared by the API, the evaluators and the scalers (``?refresh``
        included)."""
        from telescale.query.reader import Query

        return Query(self.indexer, self.storage, self.refresh, locked=(LockTimeout,))

    @functools.cached_property
    def group_view(self) -> GroupView | None:
        """The workers of every host as ``coordination.url`` knows them (``/v1/status``); None without one."""
        if self.settings is None or not self.settings.coordination.url:
            return None
        return GroupView(self.settings.coordination.url, self.settings.coordination.heartbeat_timeout)

    def check_health(self) -> None:
        """Raise when the indexer does not answer a trivial query."""
        self.indexer.list_resource_types()

    def close(self) -> None:
        self.incoming.close()
        self.storage.close()
        self.locks.close()
        if self.__dict__.get("group_view") is not None:
            self.group_view.close()
        close = getattr(self.indexer, "dispose", None) or getattr(self.indexer, "close", None)  # tests' may differ
        if callable(close):
            close()
