"""Group commit: requests that arrive while a durable write is in flight share the next one.

A durable write costs a few fsyncs whatever its size (5 ms each on a virtual disk), so writing each
request alone caps ingest at a few hundred requests a second however fast parsing is.  Here the first
caller becomes the *leader*: it takes every batch queued so far, merges them into one write, commits it,
wakes the callers whose batches it carried, and repeats while more arrived meanwhile.  Every caller
still returns only once its own measures are durable, so the 202-after-fsync guarantee is unchanged;
a failed commit raises in every caller it carried.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field

from telescale.incoming.base import Columns

Batch = Columns


@dataclass
class _Waiter:
    batch: Batch
    done: threading.Event = field(default_factory=threading.Event)
    error: BaseException | None = None


def merge(batches: list[Batch]) -> Batch:
    """One batch holding all of ``batches``; a metric's measures stay in arrival order."""
    return Columns.concat(batches)


class GroupCommit:
    """Serialises calls to ``commit`` and batches the calls that queue up behind a running one."""

    def __init__(self, commit: Callable[[Batch], None], max_batches: int = 64) -> None:
        self._commit = commit
        self._max = max_batches
        self._lock = threading.Lock()
        self._queue: list[_Waiter] = []
        self._leading = False

    def submit(self, batch: Batch) -> None:
        """Return once ``batch`` is durable (raise what its commit raised)."""
        me = _Waiter(batch)
        with self._lock:
            self._queue.append(me)
            lead = not self._leading
            if lead:
                self._leading = True
        if lead:
            self._lead()
        me.done.wait()
        if me.error is not None:
            raise me.error

    def _lead(self) -> None:
        while True:
            with self._lock:
                group, self._queue = self._queue[: self._max], self._queue[self._max :]
                if not group:
                    self._leading = False
                    return
            error: BaseException | None = None
            try:
                self._commit(merge([w.batch for w in group]))
            except BaseException as e:  # every caller in the group learns it failed
                error = e
            for waiter in group:
                waiter.error = error
                waiter.done.set()
