"""File storage driver.

Layout::

    <root>/<metric uuid>/raw
    <root>/<metric uuid>/<granularity ns>/<split key ns>

Each object is written to a temp file in its final directory, fsynced, then renamed into place, so a
crash never leaves a partial or empty object under a real name. The renames themselves become durable
when :meth:`FileStorage.sync` fsyncs the directories touched since its previous call (one fsync per
directory, however many objects went into it).
"""

from __future__ import annotations

import contextlib
import itertools
import logging
import os
import shutil
import threading
import uuid
from collections.abc import Iterable, Mapping

from telescale.storage.base import StorageDriver

LOG = logging.getLogger(__name__)

_TMP_PREFIX = ".tmp-"


def _fsync_path(path: str) -> None:
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


class FileStorage(StorageDriver):
    def __init__(self, root: str | os.PathLike, *, fsync: bool = True) -> None:
        self.root = os.fspath(root)
        self.fsync = fsync
        os.makedirs(self.root, exist_ok=True)
        self._dirty: set[str] = set()
        self._dirty_lock = threading.Lock()
        self._sync_lock = threading.Lock()
        self._counter = itertools.count()

    # -- paths -------------------------------------------------------------------------------------
    def _metric_dir(self, metric_id: uuid.UUID) -> str:
        return os.path.join(self.root, str(metric_id))

    def _gran_dir(self, metric_id: uuid.UUID, granularity: int) -> str:
        return os.path.join(self.root, str(metric_id), str(int(granularity)))

    # -- primitives --------------------------------------------------------------------------------
    def _ensure_dir(self, path: str) -> None:
        if os.path.isdir(path):
            return
        parent = os.path.dirname(path)
        if parent != self.root:
            self._ensure_dir(parent)
        with contextlib.suppress(FileExistsError):
            os.mkdir(path)
        self._mark_dirty(parent)

    def _mark_dirty(self, directory: str) -> None:
        if self.fsync:
            with self._dirty_lock:
                self._dirty.add(directory)

    def _write(self, directory: str, name: str, data: bytes) -> None:
        tmp = os.path.join(directory, f"{_TMP_PREFIX}{name}-{os.getpid()}-{next(self._counter)}")
        try:
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
        except FileNotFoundError:
            self._ensure_dir(directory)
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
        try:
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view) :]
            if self.fsync:
                os.fsync(fd)
        except BaseException:
            os.close(fd)
            with contextlib.suppress(FileNotFoundError):
                os.unlink(tmp)
            raise
        os.close(fd)
        os.replace(tmp, os.path.join(directory, name))
        self._mark_dirty(directory)

    @staticmethod
    def _read(path: str) -> bytes | None:
        try:
            with open(path, "rb", buffering=0) as f:
                return f.read()
        except (FileNotFoundError, NotADirectoryError):
            return None

    # -- raw ---------------------------------------------------------------------------------------
    def get_raw(self, metric_id: uuid.UUID) -> bytes | None:
        return self._read(os.path.join(self._metric_dir(metric_id), "raw"))

    def put_raw(self, metric_id: uuid.UUID, data: bytes) -> None:
        self._write(self._metric_dir(metric_id), "raw", data)

    # -- splits ------------------------------------------------------------------------------------
    def list_split_keys(self, metric_id: uuid.UUID, granularity: int) -> list[int]:
        try:
            names = os.listdir(self._gran_dir(metric_id, granularity))
        except (FileNotFoundError, NotADirectoryError):
            return []
        return sorted(int(n) for n in names if not n.startswith("."))

    def get_splits(self, metric_id: uuid.UUID, granularity: int, keys: Iterable[int]) -> list[bytes | None]:
        d = self._gran_dir(metric_id, granularity)
        return [self._read(os.path.join(d, str(int(k)))) for k in keys]

    def put_splits(self, metric_id: uuid.UUID, granularity: int, splits: Mapping[int, bytes]) -> None:
        d = self._gran_dir(metric_id, granularity)
        for key, data in splits.items():
            self._write(d, str(int(key)), data)

    def delete_splits(self, metric_id: uuid.UUID, granularity: int, keys: Iterable[int]) -> None:
        d = self._gran_dir(metric_id, granularity)
        deleted = False
        for k in keys:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(os.path.join(d, str(int(k))))
                deleted = True
        if deleted:
            self._mark_dirty(d)

    def delete_metric(self, metric_id: uuid.UUID) -> None:
        d = self._metric_dir(metric_id)
        if not os.path.exists(d):
            return
        # Rename first so a crash mid-delete never leaves a half-deleted metric under its real name.
        trash = os.path.join(
            self.root, f"{_TMP_PREFIX}deleted-{metric_id}-{os.getpid()}-{next(self._counter)}"
        )
        try:
            os.rename(d, trash)
        except FileNotFoundError:
            return
        self._mark_dirty(self.root)
        shutil.rmtree(trash, ignore_errors=True)

    # -- durability --------------------------------------------------------------------------------
    def sync(self) -> None:
        if not self.fsync:
            return
        # Held throughout, so a concurrent caller returns only after the fsyncs that took its dirty
        # directories are done.
        with self._sync_lock:
            with self._dirty_lock:
                dirty, self._dirty = self._dirty, set()
            # Deepest first: a new directory's entries are durable before its parent's entry for it.
            for d in sorted(dirty, key=lambda p: p.count(os.sep), reverse=True):
                with contextlib.suppress(FileNotFoundError):
                    _fsync_path(d)
