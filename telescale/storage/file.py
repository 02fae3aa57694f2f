"""File storage driver.

Layout::

    <root>/<metric uuid>/raw
    <root>/<metric uuid>/<granularity ns>/<split key ns>

Writes are staged: ``put_*`` writes a temp file next to its final name (``.tmp-…``), and
:meth:`FileStorage.sync` makes the whole batch durable and visible at once — fsync every staged temp
file (in parallel, so the filesystem journal commits them together), rename each over its final
name, then fsync every directory touched. A crash therefore never leaves a partial or empty object
under a real name, and costs one journal commit per batch rather than one per object. Until
``sync()`` the staged objects are visible only through this driver object (reads check the staged
set first); metricd calls ``sync()`` before acking incoming measures.

Because a split is only ever replaced by a rename, never rewritten in place, ``(inode, device, size,
mtime, ctime)`` of its file is a version that changes with its bytes: :meth:`FileStorage.split_versions`
(one ``stat`` per split) lets the read path reuse decoded splits (:mod:`telescale.storage.cache`).
With that cache on, the listing of a granularity's split keys is kept too, keyed by its directory's
``(inode, mtime, ctime)``: every change of a directory's entries (a temp file staged, renamed into place,
a split deleted) updates its mtime. Timestamps are coarse (a clock tick, or a second on some file
systems), so two changes within one tick could share an mtime: a listing is only kept when the
directory's mtime was already ``_SETTLED_NS`` old before the listing started (git's "racily clean"
rule), so any later change necessarily gets a different mtime.
"""

from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import itertools
import logging
import os
import shutil
import threading
import time
import uuid
from collections.abc import Callable, Hashable, Iterable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING, Any, Self

import numpy as np

from telescale.storage.base import StorageDriver
from telescale.storage.cache import SplitCache

LOG = logging.getLogger(__name__)

_TMP_PREFIX = ".tmp-"
_SETTLED_NS = 2_000_000_000  # > the coarsest mtime granularity of the file systems we run on (1 s)
_FSYNC_THREADS = 8
#: From this many staged objects on, a sync flushes the whole file system (syncfs(2)) twice -- before and after
#: the renames -- instead of one fsync per object and per directory: a pass over 2,000 metrics stages 6,000
#: objects, and their 12,000 fsyncs cost ~20 % of the pass's CPU. It also flushes whatever else is dirty on that
#: file system, which is why small syncs keep to their own files.
_SYNCFS_MIN_OBJECTS = 256


def _load_syncfs() -> Callable[[int], int] | None:
    """libc's syncfs (Linux), which Python's os module does not expose; None elsewhere."""
    name = ctypes.util.find_library("c")
    try:
        fn = ctypes.CDLL(name, use_errno=True).syncfs if name else None
    except (OSError, AttributeError):
        return None
    if fn is not None:
        fn.argtypes, fn.restype = [ctypes.c_int], ctypes.c_int
    return fn


_SYNCFS = _load_syncfs()


def _fsync_file(path: str) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _fsync_dir(path: str) -> None:
    with contextlib.suppress(FileNotFoundError):
        fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def _replace(paths: tuple[str, str]) -> None:
    os.replace(*paths)


def _version(st: os.stat_result) -> tuple[int, int, int, int, int]:
    """Identity of one file's bytes: a replaced split is a new inode, with its own times and size."""
    return (st.st_ino, st.st_dev, st.st_size, st.st_mtime_ns, st.st_ctime_ns)


if TYPE_CHECKING:
    from telescale.config import Settings

class FileStorage(StorageDriver):
    def __init__(self, root: str | os.PathLike, *, fsync: bool = True, read_cache_bytes: int = 0) -> None:
        """``read_cache_bytes``: size of the decoded-split cache of the read path (0 = none)."""
        self.root = os.fspath(root)
        self._prefix = os.path.join(self.root, "")  # root with one trailing separator
        self.fsync = fsync
        self.read_cache = SplitCache(read_cache_bytes) if read_cache_bytes > 0 else None
        os.makedirs(self.root, exist_ok=True)
        self._staged: dict[str, dict[str, str]] = {}  # directory -> {final name: temp path}
        self._new_dirs: set[str] = set()  # parents of directories created since the last sync
        self._lock = threading.RLock()
        self._counter = itertools.count()
        self._pool: ThreadPoolExecutor | None = None

    @classmethod
    def from_settings(cls, settings: Settings, *, read_cache_bytes: int = 0) -> Self:
        """``<storage.data_dir>/storage``."""
        return cls(settings.data_path / "storage", read_cache_bytes=read_cache_bytes)

    # -- paths -------------------------------------------------------------------------------------
    def _metric_dir(self, metric_id: uuid.UUID) -> str:
        return os.path.join(self.root, str(metric_id))

    def _gran_dir(self, metric_id: uuid.UUID, granularity: int) -> str:
        # plain concatenation: reads build this path once per series, and os.path.join costs more than the stat
        return f"{self._prefix}{metric_id}{os.sep}{int(granularity)}"

    # -- primitives --------------------------------------------------------------------------------
    def _ensure_dir(self, path: str) -> None:
        if os.path.isdir(path):
            return
        parent = os.path.dirname(path)
        if parent != self.root:
            self._ensure_dir(parent)
        with contextlib.suppress(FileExistsError):
            os.mkdir(path)
        with self._lock:
            self._new_dirs.add(parent)

    def _stage(self, path: str, data: bytes) -> None:
        directory, name = os.path.split(path)
        tmp = os.path.join(directory, f"{_TMP_PREFIX}{name}-{os.getpid()}-{next(self._counter)}")
        try:
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
        except FileNotFoundError:
            self._ensure_dir(directory)
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
        try:
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view) :]
        except BaseException:
            os.close(fd)
            with contextlib.suppress(FileNotFoundError):
                os.unlink(tmp)
            raise
        os.close(fd)
        with self._lock:
            entries = self._staged.setdefault(directory, {})
            previous = entries.pop(name, None)
            entries[name] = tmp
        if previous is not None:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(previous)

    def _read(self, path: str) -> bytes | None:
        directory, name = os.path.split(path)
        with self._lock:
            staged = self._staged.get(directory, {}).get(name)
        if staged is not None:
            try:
                with open(staged, "rb", buffering=0) as f:
                    return f.read()
            except FileNotFoundError:
                pass  # a concurrent sync() renamed it into place meanwhile
        try:
            with open(path, "rb", buffering=0) as f:
                return f.read()
        except (FileNotFoundError, NotADirectoryError):
            return None

    def _candidates(self, directory: str, name: str) -> list[str]:
        """Paths to try, in order, for an object: its staged temp file (visible to this driver object
        only, until ``sync()`` renames it into place), then its real name."""
        path = f"{directory}{os.sep}{name}"
        if not self._staged:  # the API's drivers never stage: skip the lock
            return [path]
        with self._lock:
            staged = self._staged.get(directory, {}).get(name)
        return [path] if staged is None else [staged, path]

    def _stat_version(self, directory: str, name: str) -> Hashable | None:
        for path in self._candidates(directory, name):
            try:
                return _version(os.stat(path))
            except (FileNotFoundError, NotADirectoryError):
                continue  # a staged file renamed into place meanwhile, or no such object
        return None

    def _read_versioned(self, directory: str, name: str) -> tuple[Hashable | None, bytes | None]:
        for path in self._candidates(directory, name):
            try:
                with open(path, "rb", buffering=0) as f:
                    # fstat of the descriptor read from: the version of exactly these bytes
                    return _version(os.fstat(f.fileno())), f.read()
            except (FileNotFoundError, NotADirectoryError):
                continue
        return None, None

    def _unstage(self, directory: str, names: Iterable[str] | None = None) -> None:
        with self._lock:
            entries = self._staged.get(directory)
            if not entries:
                return
            if names is None:
                tmps = list(entries.values())
                entries.clear()
            else:
                tmps = [entries.pop(n) for n in names if n in entries]
        for tmp in tmps:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(tmp)

    # -- raw ---------------------------------------------------------------------------------------
    def get_raw(self, metric_id: uuid.UUID) -> bytes | None:
        return self._read(os.path.join(self._metric_dir(metric_id), "raw"))

    def put_raw(self, metric_id: uuid.UUID, data: bytes) -> None:
        self._stage(os.path.join(self._metric_dir(metric_id), "raw"), data)

    # -- splits ------------------------------------------------------------------------------------
    def list_split_keys(self, metric_id: uuid.UUID, granularity: int) -> list[int]:
        d = self._gran_dir(metric_id, granularity)
        keys = self._listing(d)
        if self._staged:
            with self._lock:
                staged = self._staged.get(d)
                if staged:
                    return sorted(set(keys).union(int(n) for n in staged))
        return keys

    def _listing(self, d: str) -> list[int]:
        """Sorted split keys on disk in ``d``; through the read cache when there is one (see the module
        docstring for why a cached listing can be trusted)."""
        cache = self.read_cache
        if cache is None:
            return self._listdir(d)
        began = time.time_ns()
        try:
            st = os.stat(d)
        except (FileNotFoundError, NotADirectoryError):
            return []
        version = (st.st_ino, st.st_dev, st.st_mtime_ns, st.st_ctime_ns)
        hit = cache.get(("listing", d), version)
        if hit is not None:
            return hit[0].tolist()
        keys = self._listdir(d)
        if max(st.st_mtime_ns, st.st_ctime_ns) < began - _SETTLED_NS:
            cache.put(("listing", d), version, (np.array(keys, dtype=np.int64),))
        return keys

    @staticmethod
    def _listdir(d: str) -> list[int]:
        try:
            return sorted(int(n) for n in os.listdir(d) if not n.startswith("."))
        except (FileNotFoundError, NotADirectoryError):
            return []

    def get_splits(self, metric_id: uuid.UUID, granularity: int, keys: Iterable[int]) -> list[bytes | None]:
        d = self._gran_dir(metric_id, granularity)
        return [self._read(os.path.join(d, str(int(k)))) for k in keys]

    def split_versions(
        self, metric_id: uuid.UUID, granularity: int, keys: Sequence[int]
    ) -> list[Hashable | None]:
        d = self._gran_dir(metric_id, granularity)
        return [self._stat_version(d, str(int(k))) for k in keys]

    def get_splits_versioned(
        self, metric_id: uuid.UUID, granularity: int, keys: Sequence[int]
    ) -> list[tuple[Hashable | None, bytes | None]]:
        d = self._gran_dir(metric_id, granularity)
        return [self._read_versioned(d, str(int(k))) for k in keys]

    def put_splits(self, metric_id: uuid.UUID, granularity: int, splits: Mapping[int, bytes]) -> None:
        d = self._gran_dir(metric_id, granularity)
        for key, data in splits.items():
            self._stage(os.path.join(d, str(int(key))), data)

    def delete_splits(self, metric_id: uuid.UUID, granularity: int, keys: Iterable[int]) -> None:
        d = self._gran_dir(metric_id, granularity)
        names = [str(int(k)) for k in keys]
        self._unstage(d, names)
        for n in names:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(os.path.join(d, n))
        # A deletion that is lost in a crash only resurrects expired data; no fsync needed.

    def delete_metric(self, metric_id: uuid.UUID) -> None:
        d = self._metric_dir(metric_id)
        with self._lock:
            dirs = [k for k in self._staged if k == d or k.startswith(d + os.sep)]
        for k in dirs:
            self._unstage(k)
        if not os.path.exists(d):
            return
        # Rename first so a crash mid-delete never leaves a half-deleted metric under its real name.
        trash = os.path.join(self.root, f"{_TMP_PREFIX}deleted-{metric_id}-{os.getpid()}-{next(self._counter)}")
        try:
            os.rename(d, trash)
        except FileNotFoundError:
            return
        if self.fsync:
            _fsync_dir(self.root)
        shutil.rmtree(trash, ignore_errors=True)

    # -- durability --------------------------------------------------------------------------------
    def _map(self, fn: Callable[[Any], None], items: Sequence[Any]) -> None:
        if len(items) <= 2:
            for it in items:
                fn(it)
            return
        if self._pool is None:
            self._pool = ThreadPoolExecutor(_FSYNC_THREADS, thread_name_prefix="storage-fsync")
        # One task per thread, each a slice of the items: a future per item costs more CPU than its syscall.
        chunks = [items[i::_FSYNC_THREADS] for i in range(min(_FSYNC_THREADS, len(items)))]
        list(self._pool.map(lambda chunk: [fn(it) for it in chunk], chunks))

    def _syncfs(self) -> None:
        assert _SYNCFS is not None
        fd = os.open(self.root, os.O_RDONLY | os.O_DIRECTORY)
        try:
            if _SYNCFS(fd) != 0:
                err = ctypes.get_errno()
                raise OSError(err, f"syncfs({self.root}): {os.strerror(err)}")
        finally:
            os.close(fd)

    def sync(self) -> None:
        """Make every staged write durable, then visible under its real name."""
        with self._lock:
            staged, self._staged = self._staged, {}
            new_dirs, self._new_dirs = self._new_dirs, set()
        if not staged and not new_dirs:
            return
        staged = {d: e for d, e in staged.items() if e}
        tmps = [tmp for e in staged.values() for tmp in e.values()]
        whole_fs = self.fsync and _SYNCFS is not None and len(tmps) >= _SYNCFS_MIN_OBJECTS
        if whole_fs:
            self._syncfs()  # every staged byte on disk before any of it gets its real name
        elif self.fsync:
            self._map(_fsync_file, tmps)
        # Renames wait on the file system journal too: issued together from the pool, they share its commits.
        self._map(_replace, [(tmp, os.path.join(d, name)) for d, e in staged.items() for name, tmp in e.items()])
        if whole_fs:
            self._syncfs()  # the renames and the new directories
        elif self.fsync:
            dirs = set(staged) | new_dirs
            # Entries of new directories first, then the directories holding those entries.
            by_depth: dict[int, list[str]] = {}
            for d in dirs:
                by_depth.setdefault(d.count(os.sep), []).append(d)
            for depth in sorted(by_depth, reverse=True):
                self._map(_fsync_dir, by_depth[depth])

    def housekeeping(self, max_age: float = 3600.0, *, deep: bool = False) -> int:
        """Remove half-deleted metrics (and with ``deep``, walking every metric, temp files) left by a
        process that died; returns how many."""
        cutoff = time.time() - max_age
        removed = 0
        walk = os.walk(self.root) if deep else [(self.root, os.listdir(self.root), [])]
        for d, dirnames, names in walk:
            for n in list(names) + list(dirnames):
                if not n.startswith(_TMP_PREFIX):
                    continue
                p = os.path.join(d, n)
                try:
                    if os.lstat(p).st_mtime >= cutoff:
                        continue
                    if os.path.isdir(p):
                        shutil.rmtree(p, ignore_errors=True)
                    else:
                        os.unlink(p)
                    removed += 1
                except FileNotFoundError:
                    continue
        return removed

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True)
            self._pool = None
