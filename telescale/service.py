"""Process wiring: build the drivers from settings, and run `serve` = API + processing workers.

`telescale serve` runs uvicorn in this process and a supervised pool of processing (metricd) worker
processes beside it, so slow aggregation never stalls the API.  Workers notice when the parent dies and
exit; a worker that dies is restarted.  Every piece of state lives in the indexer, incoming and storage,
so killing anything at any moment loses no accepted measure.
"""

from __future__ import annotations

import json
import logging
import multiprocessing
import os
import signal
import threading
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from telescale import coordination
from telescale.config import Settings
from telescale.incoming.base import IncomingDriver
from telescale.indexer import Indexer
from telescale.storage.base import StorageDriver

LOG = logging.getLogger(__name__)
RESOLVED_SETTINGS_ENV = "TELESCALE_RESOLVED_SETTINGS"
HEARTBEAT_SECONDS = 2.0


def build_incoming(settings: Settings) -> IncomingDriver:
    if settings.incoming.driver != "file":
        raise ValueError(f"incoming.driver {settings.incoming.driver!r} is not available (known: file)")
    from telescale.incoming.file import FileIncoming

    return FileIncoming(settings.data_path / "incoming", sacks=settings.incoming.sacks)


def build_storage(settings: Settings, *, read_cache: bool = True) -> StorageDriver:
    """``read_cache``: keep decoded splits for repeated reads (``api.read_cache_mb``); processing does not read
    through the read path, so its workers go without."""
    if settings.storage.driver != "file":
        raise ValueError(f"storage.driver {settings.storage.driver!r} is not available (known: file)")
    from telescale.storage.file import FileStorage

    cache_bytes = settings.api.read_cache_mb << 20 if read_cache else 0
    return FileStorage(settings.data_path / "storage", read_cache_bytes=cache_bytes)


def build_locks(settings: Settings) -> coordination.SackLocks:
    return coordination.FileSackLocks(settings.data_path / "locks")


def build_drivers(settings: Settings) -> Any:
    """The processing workers' view of the drivers."""
    from telescale.processing.worker import Drivers

    return Drivers(build_incoming(settings), build_storage(settings, read_cache=False), Indexer(settings.indexer_url),
                   build_locks(settings))


def heartbeat_dir(settings: Settings) -> Path:
    return settings.data_path / "processing"


@dataclass
class Services:
    """The drivers one process uses, built once from settings and passed to whoever needs them."""

    settings: Settings
    indexer: Indexer
    incoming: IncomingDriver
    storage: StorageDriver
    locks: coordination.SackLocks

    LockTimeout = coordination.LockTimeout

    @classmethod
    def build(cls, settings: Settings) -> Services:
        settings.data_path.mkdir(parents=True, exist_ok=True)
        return cls(settings, Indexer(settings.indexer_url), build_incoming(settings), build_storage(settings),
                   build_locks(settings))

    def refresh(self, metric_id: uuid.UUID, timeout: float) -> None:
        """Process a metric's pending measures now (the API's `?refresh=true`)."""
        from telescale.processing.processor import process_metric

        if self.incoming.pending_for_metric(metric_id):
            process_metric(metric_id, self.incoming, self.storage, self.indexer, self.locks, timeout=timeout)

    def check_health(self) -> None:
        """Raise when the indexer does not answer a trivial query."""
        self.indexer.list_resource_types()

    def processors(self) -> list[str]:
        """Processing workers that reported in the last few seconds."""
        now = time.time()
        try:
            entries = list(os.scandir(heartbeat_dir(self.settings)))
        except FileNotFoundError:
            return []
        return sorted(e.name for e in entries if now - e.stat().st_mtime < 3 * HEARTBEAT_SECONDS)

    def close(self) -> None:
        self.indexer.dispose()
        self.incoming.close()
        self.storage.close()
        self.locks.close()


def upgrade(settings: Settings) -> None:
    settings.data_path.mkdir(parents=True, exist_ok=True)
    indexer = Indexer(settings.indexer_url)
    try:
        indexer.upgrade(create_default_archive_policies=settings.indexer.create_default_archive_policies)
    finally:
        indexer.dispose()


def app_factory() -> Any:
    """uvicorn entry point for API worker processes: settings arrive resolved in the environment."""
    from telescale.api.app import create_app
    from telescale.config import Settings as _Settings

    settings = settings_from_json(os.environ[RESOLVED_SETTINGS_ENV])
    assert isinstance(settings, _Settings)
    return create_app(settings, Services.build(settings))


def settings_from_json(text: str) -> Settings:
    from telescale import config

    data = json.loads(text)
    overrides = [f"{section}.{key}={json.dumps(value)}" for section, values in data.items()
                 for key, value in values.items()]
    return config.load(environ={}, overrides=overrides)


def _worker_main(settings_json: str, index: int, count: int, parent: int) -> None:
    """Entry point of one processing worker process."""
    from telescale.processing.worker import run_worker

    settings = settings_from_json(settings_json)
    configure_logging(settings)
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    name = f"metricd-{os.uname().nodename}-{index}"
    beat = heartbeat_dir(settings) / name
    beat.parent.mkdir(parents=True, exist_ok=True)

    def alive() -> None:
        while not stop.wait(HEARTBEAT_SECONDS / 2):
            if os.getppid() != parent:
                LOG.warning("%s: parent process %d is gone, stopping", name, parent)
                stop.set()
                return
            beat.touch()

    beat.touch()
    threading.Thread(target=alive, daemon=True).start()
    try:
        run_worker(index, count, lambda: build_drivers(settings), stop, settings.processing.delay,
                   janitor_interval=settings.processing.janitor_interval, janitor_settings=settings.janitor)
    finally:
        beat.unlink(missing_ok=True)


class WorkerPool:
    """Keeps `processing.workers` processing processes running until stopped."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.count = settings.processing.workers
        self.ctx = multiprocessing.get_context("spawn")
        self.procs: list[multiprocessing.process.BaseProcess | None] = [None] * self.count
        self.stopping = threading.Event()
        self.thread = threading.Thread(target=self._supervise, name="worker-supervisor", daemon=True)

    def _spawn(self, index: int) -> None:
        settings_json = json.dumps(self.settings.to_dict())
        proc = self.ctx.Process(target=_worker_main, args=(settings_json, index, self.count, os.getpid()),
                                name=f"telescale-metricd-{index}", daemon=True)
        proc.start()
        self.procs[index] = proc
        LOG.info("started processing worker %d (pid %d)", index, proc.pid)

    def start(self) -> None:
        for i in range(self.count):
            self._spawn(i)
        self.thread.start()

    def _supervise(self) -> None:
        while not self.stopping.wait(1.0):
            for i, proc in enumerate(self.procs):
                if proc is not None and not proc.is_alive():
                    LOG.warning("processing worker %d exited with %s; restarting it", i, proc.exitcode)
                    self._spawn(i)

    def stop(self, timeout: float = 10.0) -> None:
        self.stopping.set()
        for proc in self.procs:
            if proc is not None and proc.is_alive():
                proc.terminate()
        deadline = time.monotonic() + timeout
        for proc in self.procs:
            if proc is not None:
                proc.join(max(0.0, deadline - time.monotonic()))
                if proc.is_alive():
                    proc.kill()


def configure_logging(settings: Settings) -> None:
    logging.basicConfig(level=settings.logging.level.upper(),
                        format="%(asctime)s %(process)d %(levelname)s %(name)s: %(message)s")


def serve(settings: Settings) -> None:
    """API on api.host:api.port plus the processing workers, until SIGINT/SIGTERM."""
    import uvicorn

    configure_logging(settings)
    upgrade(settings)
    LOG.info("data in %s, indexer %s", settings.data_path, settings.indexer_url.split("@")[-1])
    pool = WorkerPool(settings)
    if settings.processing.workers > 0:
        pool.start()
    try:
        if settings.api.workers > 1:
            os.environ[RESOLVED_SETTINGS_ENV] = json.dumps(settings.to_dict())
            uvicorn.run("telescale.service:app_factory", factory=True, host=settings.api.host,
                        port=settings.api.port, workers=settings.api.workers, log_level="warning",
                        access_log=False)
        else:
            from telescale.api.app import create_app

            services = Services.build(settings)
            uvicorn.run(create_app(settings, services), host=settings.api.host, port=settings.api.port,
                        log_level="warning", access_log=False)
    finally:
        pool.stop()
