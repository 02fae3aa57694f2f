"""The agent's on-disk buffer: batches the API could not take wait here, in order, until it takes them.

Append-only segment files ``<seq>.seg`` in the buffer directory. Each record is a 12-byte header
(payload length, CRC-32 of the payload, number of samples it carries; little-endian uint32 each) and the
payload; appends are fsync'd before `append` returns. A crash mid-append leaves a torn last record, which
reading stops at (the prefix before it is intact and is replayed). ``cursor`` (written atomically) says how
far the oldest segment has been acknowledged, so a restart neither loses nor resends what was taken.

Disk use is bounded: when the segments pass ``max_bytes`` the oldest is deleted and a WARNING says how many
samples were dropped by that policy.
"""

from __future__ import annotations

import contextlib
import logging
import os
import struct
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

LOG = logging.getLogger(__name__)
HEADER = struct.Struct("<III")
SUFFIX = ".seg"


@dataclass(frozen=True)
class Record:
    segment: int
    offset: int  # where the record's header starts
    end: int  # where the next record starts
    samples: int
    payload: bytes


class DiskBuffer:
    """FIFO of byte payloads on disk (one process owns a directory)."""

    def __init__(self, directory: Path, max_bytes: int, segment_bytes: int | None = None) -> None:
        self.dir = Path(directory)
        self.dir.mkdir(parents=True, exist_ok=True)
        self.max_bytes = max_bytes
        self.segment_bytes = segment_bytes or max(64 * 1024, min(8 * 1024 * 1024, max_bytes // 8))
        self.dropped_samples = 0
        self._cursor = self._read_cursor()
        self._active: int | None = None

    # -- files ------------------------------------------------------------------------------------
    def segments(self) -> list[int]:
        return sorted(int(p.stem) for p in self.dir.glob("*" + SUFFIX) if p.stem.isdigit())

    def _path(self, seq: int) -> Path:
        return self.dir / f"{seq:016d}{SUFFIX}"

    def _read_cursor(self) -> tuple[int, int]:
        try:
            seq, offset = (self.dir / "cursor").read_text().split()
            return int(seq), int(offset)
        except (OSError, ValueError):
            return (0, 0)

    def _write_cursor(self, seq: int, offset: int) -> None:
        tmp = self.dir / "cursor.tmp"
        with open(tmp, "w") as f:
            f.write(f"{seq} {offset}\n")
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, self.dir / "cursor")
        self._cursor = (seq, offset)

    def size(self) -> int:
        return sum(self._path(s).stat().st_size for s in self.segments())

    def __bool__(self) -> bool:
        return self.peek() is not None

    # -- writing ----------------------------------------------------------------------------------
    def append(self, payload: bytes, samples: int) -> None:
        """Durably add one record at the end (a new segment once the current one is full)."""
        segments = self.segments()
        if self._active is None or self._active not in segments or \
                self._path(self._active).stat().st_size >= self.segment_bytes:
            self._active = (segments[-1] + 1) if segments else max(1, self._cursor[0])
        with open(self._path(self._active), "ab") as f:
            f.write(HEADER.pack(len(payload), zlib.crc32(payload), samples) + payload)
            f.flush()
            os.fsync(f.fileno())
        self._enforce_bound()

    def _enforce_bound(self) -> None:
        segments = self.segments()
        total = sum(self._path(s).stat().st_size for s in segments)
        while total > self.max_bytes and len(segments) > 1:
            oldest = segments.pop(0)
            start = self._cursor[1] if self._cursor[0] == oldest else 0
            lost = sum(r.samples for r in self._records(oldest, start))
            total -= self._path(oldest).stat().st_size
            self._path(oldest).unlink()
            self.dropped_samples += lost
            LOG.warning("buffer %s is over max_buffer_mb (%.1f MB): dropped its oldest segment, %d samples lost "
                        "by policy (%d dropped since start); the API has been unreachable for a while",
                        self.dir, self.max_bytes / 1e6, lost, self.dropped_samples)

    # -- reading ----------------------------------------------------------------------------------
    def _records(self, seq: int, start: int = 0) -> Iterator[Record]:
        """The intact records of a segment from ``start``; stops at a torn or corrupt record."""
        try:
            f = open(self._path(seq), "rb")  # noqa: SIM115 — closed below, also when the caller stops early
        except FileNotFoundError:
            return
        with f:
            pos = f.seek(start)
            while header := f.read(HEADER.size):
                length, crc, samples = HEADER.unpack(header) if len(header) == HEADER.size else (0, 0, 0)
                body = f.read(length) if len(header) == HEADER.size else b""
                if len(header) < HEADER.size or len(body) < length or zlib.crc32(body) != crc:
                    LOG.warning("buffer segment %s: record at byte %d is torn or corrupt (a crash mid-write?); "
                                "the rest of the segment is skipped", self._path(seq), pos)
                    return
                end = pos + HEADER.size + length
                yield Record(seq, pos, end, samples, body)
                pos = end

    def peek(self) -> Record | None:
        """The oldest record not yet acknowledged; segments read to their end are removed on the way."""
        for seq in self.segments():
            start = self._cursor[1] if self._cursor[0] == seq else 0
            record = next(self._records(seq, start), None)
            if record is not None:
                return record
            if seq != self._active:
                self._remove(seq)
        return None

    def ack(self, record: Record) -> None:
        """``record`` was taken by the API: move past it (and delete its segment when it was the last)."""
        size = self._path(record.segment).stat().st_size if self._path(record.segment).exists() else 0
        if record.end >= size and record.segment != self._active:
            self._remove(record.segment)
        else:
            self._write_cursor(record.segment, record.end)

    def _remove(self, seq: int) -> None:
        with contextlib.suppress(FileNotFoundError):
            self._path(seq).unlink()
        if self._cursor[0] <= seq:
            self._write_cursor(seq + 1, 0)

    def pending_samples(self) -> int:
        return sum(r.samples for seq in self.segments()
                   for r in self._records(seq, self._cursor[1] if self._cursor[0] == seq else 0))
