"""A process-wide, byte-bounded LRU cache of decoded split columns for the read path.

Why: dashboards, alarms and autoscaling ask for the same series again and again, and decoding a split
(zstd + the codec's per-column work) costs far more than finding out whether the split changed. A
read therefore asks the storage driver for each split's *version* (for files: one ``os.stat``) and
reuses the arrays decoded last time when the version is the same.

Why it is safe: the file driver never rewrites a split in place. Every write goes to a new temp file
that is renamed over the final name (see :mod:`telescale.storage.file`), so a changed split is a
different inode with its own mtime/ctime/size, and its version differs from the cached one. The
version of a miss is taken with ``fstat`` on the very file descriptor the bytes are read from, so
the cached arrays always belong to the version they are filed under, even when processing replaces
the split between the ``stat`` and the read. Entries are keyed by the split's logical address and
replaced when a newer version is read, so stale versions do not linger until evicted.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Hashable
from typing import Any

import numpy as np

__all__ = ["SplitCache"]

_ENTRY_OVERHEAD = 200  # bytes of Python objects around each entry's arrays, roughly


class SplitCache:
    """LRU of ``key -> (version, arrays)`` bounded by the arrays' bytes; thread-safe.

    ``get`` answers only when the stored version equals the one asked for, so callers never see
    arrays of another version of the split. Arrays handed out are read-only (shared by every reader).
    """

    def __init__(self, max_bytes: int) -> None:
        self.max_bytes = int(max_bytes)
        self._entries: OrderedDict[Hashable, tuple[Hashable, tuple[np.ndarray, ...], int]] = OrderedDict()
        self._bytes = 0
        self._lock = threading.Lock()
        self.hits = 0
        self.misses = 0

    def __len__(self) -> int:
        return len(self._entries)

    @property
    def size_bytes(self) -> int:
        """Bytes currently held (arrays plus a fixed overhead per entry)."""
        return self._bytes

    def get(self, key: Hashable, version: Hashable) -> tuple[np.ndarray, ...] | None:
        """The arrays stored for ``key`` at exactly ``version``, else ``None``."""
        with self._lock:
            entry = self._entries.get(key)
            if entry is None or entry[0] != version:
                self.misses += 1
                return None
            self._entries.move_to_end(key)
            self.hits += 1
            return entry[1]

    def put(self, key: Hashable, version: Hashable, arrays: tuple[np.ndarray, ...]) -> None:
        """File ``arrays`` under ``key`` at ``version`` (replacing any other version), then evict the
        least recently used entries until the cache fits. Arrays larger than the whole cache are not kept."""
        for a in arrays:
            a.flags.writeable = False
        size = sum(int(a.nbytes) for a in arrays) + _ENTRY_OVERHEAD
        with self._lock:
            old = self._entries.pop(key, None)
            if old is not None:
                self._bytes -= old[2]
            if size > self.max_bytes:
                return
            self._entries[key] = (version, arrays, size)
            self._bytes += size
            while self._bytes > self.max_bytes:
                _, (_, _, freed) = self._entries.popitem(last=False)
                self._bytes -= freed

    def discard(self, key: Hashable) -> None:
        with self._lock:
            old = self._entries.pop(key, None)
            if old is not None:
                self._bytes -= old[2]

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()
            self._bytes = 0

    def stats(self) -> dict[str, Any]:
        return {"entries": len(self._entries), "bytes": self._bytes, "max_bytes": self.max_bytes,
                "hits": self.hits, "misses": self.misses}
