"""File incoming driver: one directory per sack, one file per group commit, linked into every sack it feeds.

A group commit writes one file holding a section per sack it touches, and hard-links it under the same
name into each of those sacks' directories: a sack sees the file, reads its own section and acks by
unlinking its link; the data goes when the last link does. One file created and one data fsync per
commit, whatever the number of sacks (on a virtual disk, creating and syncing a file per sack cost more
than the rest of a write request).

File format, version 2 (little endian)::

    magic "TSIN" | uint32 version (2) | uint64 s          16 bytes
    s x (uint32 sack | uint32 0 | uint64 offset | uint64 length)
    at each offset: that sack's section, in the version 1 format

Version 1 is one sack's section alone (see :mod:`telescale.incoming.sections`, shared with the redis driver);
still read, so that measures a previous release accepted are processed.

A file appears atomically (temp file, fsync, links into the sack directories, fsync of those directories)
and is immutable afterwards; names sort by arrival time. Temp files start with a dot and are never read.
"""

from __future__ import annotations

import contextlib
import itertools
import logging
import os
import struct
import threading
import time
import uuid
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Self

import numpy as np

from telescale.incoming.base import Columns, IncomingDriver, MeasuresArrays, SackBatch
from telescale.incoming.group_commit import GroupCommit
from telescale.incoming.sections import HEADER as _HEADER
from telescale.incoming.sections import MAGIC as _MAGIC
from telescale.incoming.sections import VERSION as _VERSION
from telescale.incoming.sections import CorruptIncomingFile, decode_section, encode_section, join_runs

if TYPE_CHECKING:
    from telescale.config import Settings

LOG = logging.getLogger(__name__)

_VERSION_LINKED = 2  # sections of several sacks
_SECTION = struct.Struct("<IIQQ")
_TMP_PREFIX = ".tmp-"
_MARKER = "sacks"
_IO_THREADS = 8


@dataclass(frozen=True)
class _FileAck:
    sack: int
    paths: tuple[str, ...]


def _fsync_dir(path: str) -> None:
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _unlink(path: str) -> None:
    with contextlib.suppress(FileNotFoundError):
        os.unlink(path)


def _write_all(fd: int, buffers: list) -> None:
    views = [memoryview(b).cast("B") for b in buffers if len(memoryview(b).cast("B"))]
    while views:
        written = os.writev(fd, views[:1024])
        while written and views:
            n = len(views[0])
            if written >= n:
                written -= n
                views.pop(0)
            else:
                views[0] = views[0][written:]
                written = 0


def encode_linked(groups: Mapping[int, Columns]) -> list:
    """Buffers (for writev) of one version 2 file: a section per sack of ``groups``."""
    sections = [(sack, encode_section(columns)) for sack, columns in sorted(groups.items())]
    offset = _HEADER.size + _SECTION.size * len(sections)
    table = []
    for sack, buffers in sections:
        length = sum(memoryview(b).nbytes for b in buffers)
        table.append(_SECTION.pack(sack, 0, offset, length))
        offset += length
    return [_HEADER.pack(_MAGIC, _VERSION_LINKED, len(sections)), b"".join(table),
            *(b for _, buffers in sections for b in buffers)]


def _section_of(f: Any, sack: int, head: bytes) -> tuple[int, int | None]:
    """``(offset, length)`` of ``sack``'s section in the open file whose first bytes are ``head`` (length
    None: to the end, a version 1 file)."""
    if len(head) < _HEADER.size:
        raise CorruptIncomingFile("short header")
    magic, version, n = _HEADER.unpack_from(head, 0)
    if magic != _MAGIC or version not in (_VERSION, _VERSION_LINKED):
        raise CorruptIncomingFile(f"bad magic/version {magic!r}/{version}")
    if version == _VERSION:
        return 0, None
    table = os.pread(f.fileno(), _SECTION.size * n, _HEADER.size)
    if len(table) < _SECTION.size * n:
        raise CorruptIncomingFile("truncated section table")
    for i in range(n):
        section_sack, _, offset, length = _SECTION.unpack_from(table, _SECTION.size * i)
        if section_sack == sack:
            return offset, length
    raise CorruptIncomingFile(f"no section for sack {sack}")


def _read_header(path: str, sack: int) -> tuple[list[bytes], list[int]] | None:
    """A pending file's metric ids and point counts in ``sack``; None when it is gone (acked meanwhile),
    short or corrupt (processing moves it aside)."""
    try:
        with open(path, "rb") as f:
            offset, _ = _section_of(f, sack, f.read(_HEADER.size))
            head = os.pread(f.fileno(), _HEADER.size, offset)
            if len(head) < _HEADER.size:
                return None
            _, _, n = _HEADER.unpack(head)
            rest = os.pread(f.fileno(), 24 * n, offset + _HEADER.size)
    except (FileNotFoundError, CorruptIncomingFile):
        return None
    if len(rest) < 24 * n:
        return None
    counts = np.frombuffer(rest, dtype="<u8", count=n, offset=16 * n).tolist()
    return [rest[16 * i : 16 * (i + 1)] for i in range(n)], counts


class FileIncoming(IncomingDriver):
    """Incoming measures as immutable files under ``<root>/incoming<sacks>-<n>/``."""

    def __init__(self, root: str | os.PathLike, sacks: int = 16, *, fsync: bool = True,
                 max_read_files: int = 4096) -> None:
        super().__init__(sacks)
        if max_read_files < 1:
            raise ValueError("max_read_files must be >= 1")
        self.root = os.fspath(root)
        self.fsync = fsync
        self.max_read_files = max_read_files  # oldest files a read takes: a huge backlog is read in rounds
        self._counter = itertools.count()
        self._pid = os.getpid()
        self._committer: GroupCommit | None = None
        self._committer_pid = 0
        self._pool_: ThreadPoolExecutor | None = None
        self._header_cache: dict[int, dict[str, tuple[list[bytes], list[int]]]] = {}
        self._pool_pid = 0
        self._pool_lock = threading.Lock()
        os.makedirs(self.root, exist_ok=True)
        for n in range(self.sacks):
            os.makedirs(self._sack_dir(n), exist_ok=True)
        self._check_marker()

    @classmethod
    def from_settings(cls, settings: Settings) -> Self:
        """``<storage.data_dir>/incoming`` with ``incoming.sacks`` sacks."""
        return cls(settings.data_path / "incoming", sacks=settings.incoming.sacks)

    # -- layout ------------------------------------------------------------------------------------
    def _sack_dir(self, sack: int) -> str:
        return os.path.join(self.root, f"incoming{self.sacks}-{sack}")

    def _check_marker(self) -> None:
        marker = os.path.join(self.root, _MARKER)
        try:
            with open(marker) as f:
                previous = int(f.read().strip() or 0)
        except FileNotFoundError:
            previous = 0
        if previous and previous != self.sacks:
            old = FileIncoming.__new__(FileIncoming)
            IncomingDriver.__init__(old, previous)
            old.root = self.root
            if any(old._pending_files(n) for n in range(previous) if os.path.isdir(old._sack_dir(n))):
                raise ValueError(
                    f"{self.root} holds unprocessed measures in {previous} sacks; process them before "
                    f"changing the sack count to {self.sacks}"
                )
        if previous != self.sacks:
            tmp = f"{marker}.{os.getpid()}.tmp"
            with open(tmp, "w") as f:
                f.write(f"{self.sacks}\n")
            os.replace(tmp, marker)

    def _new_name(self) -> str:
        if os.getpid() != self._pid:  # forked: keep names unique
            self._pid = os.getpid()
        return f"{time.time_ns():020d}-{self._pid:07d}-{next(self._counter):010d}-{uuid.uuid4().hex[:8]}"

    def _pending_files(self, sack: int) -> list[str]:
        try:
            names = os.listdir(self._sack_dir(sack))
        except FileNotFoundError:
            return []
        return sorted(n for n in names if not n.startswith("."))

    # -- write -------------------------------------------------------------------------------------
    def add_columns(self, columns: Columns) -> None:
        """Durable on return; concurrent calls share files and fsyncs (see :mod:`.group_commit`)."""
        if not len(columns):
            return
        if self._committer is None or self._committer_pid != os.getpid():
            self._committer, self._committer_pid = GroupCommit(self._write), os.getpid()
        self._committer.submit(columns)

    @property
    def _pool(self) -> ThreadPoolExecutor:
        """Threads for the file system calls that block on the journal (fsync, unlink): issued together, the
        disk serves them in one go (on a virtual disk, 8 unlinks at once cost what one costs alone)."""
        with self._pool_lock:
            if self._pool_ is None or self._pool_pid != os.getpid():  # threads do not survive a fork
                self._pool_ = ThreadPoolExecutor(max(_IO_THREADS, self.sacks), thread_name_prefix="incoming-io")
                self._pool_pid = os.getpid()
            return self._pool_

    def _write(self, batch: Columns) -> None:
        """One file with a section per sack: written and fsynced as a temp file, linked under its final name
        into each sack's directory, then those directories fsynced, so that no sack sees it before it is
        complete and the commit returns only once every link is durable."""
        groups = batch.by_sack(self.sacks)
        if not groups:
            return
        name = self._new_name()
        dirs = [self._sack_dir(sack) for sack in sorted(groups)]
        tmp = os.path.join(dirs[0], _TMP_PREFIX + name)
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
        linked: list[str] = []
        try:
            try:
                _write_all(fd, encode_linked(groups))
                if self.fsync:
                    os.fsync(fd)
            finally:
                os.close(fd)
            for d in dirs:
                os.link(tmp, os.path.join(d, name))
                linked.append(os.path.join(d, name))
        except BaseException:
            for path in linked:  # a sack may have read its section already: measures it sees twice are idempotent
                _unlink(path)
            _unlink(tmp)
            raise
        _unlink(tmp)
        if self.fsync:
            if len(dirs) > 2:
                list(self._pool.map(_fsync_dir, dirs))
            else:
                for d in dirs:
                    _fsync_dir(d)

    # -- read --------------------------------------------------------------------------------------
    def sacks_with_work(self) -> list[int]:
        out = []
        for sack in range(self.sacks):
            try:
                with os.scandir(self._sack_dir(sack)) as it:
                    if any(not e.name.startswith(".") for e in it):
                        out.append(sack)
            except FileNotFoundError:
                continue
        return out

    def work_times(self) -> dict[int, tuple[int, int] | None]:
        """From the pending files' names, which start with their writer's ``time.time_ns()``."""
        out: dict[int, tuple[int, int] | None] = {}
        for sack in range(self.sacks):
            names = self._pending_files(sack)
            if not names:
                continue
            try:
                out[sack] = (int(names[0].partition("-")[0]), int(names[-1].partition("-")[0]))
            except ValueError:  # a file not named by us: no time to go by
                out[sack] = None
        return out

    @staticmethod
    def _read(path: str, sack: int) -> bytearray | None:
        """``sack``'s section of a pending file (a version 1 file whole); None when it is gone (acked)."""
        try:
            with open(path, "rb", buffering=0) as f:
                head = f.read(_HEADER.size)
                offset, length = _section_of(f, sack, head)
                if length is None:
                    length = os.fstat(f.fileno()).st_size - offset
                buf = bytearray(length)
                view = memoryview(buf)
                got = 0
                while got < length:
                    n = os.preadv(f.fileno(), [view[got:]], offset + got)
                    if not n:
                        break
                    got += n
                return buf if got == length else buf[:got]
        except FileNotFoundError:
            return None

    def _quarantine(self, path: str, exc: Exception) -> None:
        LOG.error("Corrupt incoming file %s (%s); moved aside, its measures are lost", path, exc)
        d, name = os.path.split(path)
        try:
            os.rename(path, os.path.join(d, f".corrupt-{name}"))
        except OSError:
            LOG.exception("Cannot move corrupt incoming file %s aside", path)

    def read_sack(self, sack: int) -> SackBatch:
        d = self._sack_dir(sack)
        parts: dict[bytes, list[MeasuresArrays]] = {}
        read_paths: list[str] = []
        for name in self._pending_files(sack)[: self.max_read_files]:
            path = os.path.join(d, name)
            try:
                buf = self._read(path, sack)
                if buf is None:
                    continue
                entries = decode_section(buf)
            except CorruptIncomingFile as exc:
                self._quarantine(path, exc)
                continue
            read_paths.append(path)
            for mid, ts, vals in entries:
                parts.setdefault(mid, []).append((ts, vals))
        return SackBatch(sack=sack, measures=join_runs(parts), handle=_FileAck(sack, tuple(read_paths)))

    def ack(self, handle: object) -> None:
        if handle is None:  # nothing was read
            return
        if not isinstance(handle, _FileAck):
            raise TypeError(f"not a FileIncoming handle: {handle!r}")
        list(self._pool.map(_unlink, handle.paths))

    def _headers(self, sack: int) -> list[tuple[list[bytes], list[int]]]:
        """(metric ids, point counts) of every pending file of ``sack``.

        Files never change once visible, so each one's header is read once per process and kept while the
        file is pending: `/v1/status`, which clients poll while they wait for a backlog to drain, then costs
        one directory listing per sack instead of reading every pending file again.
        """
        d = self._sack_dir(sack)
        known = self._header_cache.get(sack, {})
        current: dict[str, tuple[list[bytes], list[int]]] = {}
        for name in self._pending_files(sack):
            header = known.get(name) or _read_header(os.path.join(d, name), sack)
            if header is not None:
                current[name] = header
        self._header_cache[sack] = current  # one assignment: threads reading the old dict are unaffected
        return list(current.values())

    def backlog_per_metric(self) -> dict[uuid.UUID, int]:
        per: dict[bytes, int] = {}
        for sack in range(self.sacks):
            for ids, counts in self._headers(sack):
                for mid, c in zip(ids, counts, strict=True):
                    per[mid] = per.get(mid, 0) + c
        return {uuid.UUID(bytes=k): v for k, v in per.items()}

    def backlog(self) -> tuple[int, int]:
        metrics: set[bytes] = set()
        total = 0
        for sack in range(self.sacks):
            for ids, counts in self._headers(sack):
                metrics.update(ids)
                total += sum(counts)
        return len(metrics), int(total)

    def pending_for_metric(self, metric_id: uuid.UUID) -> bool:
        key = metric_id.bytes
        return any(key in ids for ids, _ in self._headers(self.sack_for(metric_id)))

    def housekeeping(self, max_age: float = 3600.0) -> int:
        """Remove temp files left by writers that died mid-write; returns how many."""
        removed = 0
        cutoff = time.time() - max_age
        for sack in range(self.sacks):
            d = self._sack_dir(sack)
            try:
                entries = list(os.scandir(d))
            except FileNotFoundError:
                continue
            for e in entries:
                if e.name.startswith(_TMP_PREFIX):
                    try:
                        if e.stat().st_mtime < cutoff:
                            os.unlink(e.path)
                            removed += 1
                    except FileNotFoundError:
                        pass
        return removed
