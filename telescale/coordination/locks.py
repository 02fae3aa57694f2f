"""Per-sack exclusive locks: one holder at a time drains a sack, whatever the ring says.

:class:`FileSackLocks` (the embedded default, processes of one host): ``fcntl.flock`` on
``<root>/sack-<n>.lock``; the kernel releases them when the holding process dies, so a killed metricd
never wedges a sack. Each acquisition opens its own descriptor, so two threads of one process exclude
each other too.

:class:`ToozSackLocks` (``coordination.url`` set, processes on several hosts): tooz's locks on that
backend (Redis, ZooKeeper, etcd, PostgreSQL advisory locks …). tooz's heartbeat thread renews a held lock;
one whose holder died expires after ``heartbeat_timeout`` seconds, so a SIGKILLed metricd delays its
sacks by at most that.
"""

from __future__ import annotations

import abc
import contextlib
import fcntl
import os
import threading
import time
from collections.abc import Iterator

import tooz.locking

from telescale.coordination.membership import make_member_id, start_driver

__all__ = ["SackLocks", "FileSackLocks", "LockTimeout", "ToozSackLocks"]


class LockTimeout(Exception):
    """The lock could not be taken in time (the API answers 503)."""

    def __init__(self, sack: int, timeout: float) -> None:
        self.sack = sack
        self.timeout = timeout
        super().__init__(f"Sack {sack} is locked (waited {timeout:g} s)")


class SackLocks(abc.ABC):
    @abc.abstractmethod
    def try_lock(self, sack: int) -> bool:
        """Take the sack's lock if free; never waits."""

    def lock(self, sack: int, timeout: float | None = None) -> bool:
        """Wait up to ``timeout`` seconds (forever if ``None``) for the lock; ``False`` on timeout."""
        deadline = None if timeout is None else time.monotonic() + timeout
        pause = 0.001
        while True:
            if self.try_lock(sack):
                return True
            if deadline is not None:
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                pause = min(pause, left)
            time.sleep(pause)
            pause = min(pause * 2, 0.05)

    @abc.abstractmethod
    def unlock(self, sack: int) -> None:
        """Release a lock this object holds."""

    @contextlib.contextmanager
    def held(self, sack: int, timeout: float | None = None) -> Iterator[None]:
        """``with locks.held(sack, timeout):`` raising :class:`LockTimeout` when not acquired."""
        if not self.lock(sack, timeout):
            raise LockTimeout(sack, timeout if timeout is not None else float("inf"))
        try:
            yield
        finally:
            self.unlock(sack)

    def close(self) -> None:  # noqa: B027
        """Release everything held."""


class FileSackLocks(SackLocks):
    """flock-based sack locks under ``root`` (any process pointing at the same dir participates)."""

    def __init__(self, root: str | os.PathLike) -> None:
        self.root = os.fspath(root)
        os.makedirs(self.root, exist_ok=True)
        self._held: dict[int, int] = {}
        self._mutex = threading.Lock()

    def _path(self, sack: int) -> str:
        return os.path.join(self.root, f"sack-{int(sack)}.lock")

    def _attempt(self, sack: int) -> bool:
        with self._mutex:
            if sack in self._held:  # this object already holds it (maybe another thread)
                return False
        fd = os.open(self._path(sack), os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            return False
        except BaseException:
            os.close(fd)
            raise
        with self._mutex:
            if sack in self._held:  # lost a race with another thread using this object
                os.close(fd)
                return False
            self._held[sack] = fd
        return True

    def try_lock(self, sack: int) -> bool:
        return self._attempt(sack)

    def unlock(self, sack: int) -> None:
        with self._mutex:
            fd = self._held.pop(sack, None)
        if fd is None:
            raise RuntimeError(f"sack {sack} is not locked by this object")
        try:
            fcntl.flock(fd, fcntl.LOCK_UN)
        finally:
            os.close(fd)

    def close(self) -> None:
        with self._mutex:
            held, self._held = self._held, {}
        for fd in held.values():
            with contextlib.suppress(OSError):
                os.close(fd)


class ToozSackLocks(SackLocks):
    """Sack locks through tooz on ``url``: every process of every host using the same backend participates."""

    def __init__(self, url: str, *, heartbeat_timeout: int = 10, namespace: str = "telescale") -> None:
        self.namespace = namespace
        self._driver = start_driver(url, make_member_id("locks"), heartbeat_timeout, groups=False, heart=True)
        self._held: dict[int, tooz.locking.Lock] = {}
        self._mutex = threading.Lock()

    def try_lock(self, sack: int) -> bool:
        with self._mutex:
            if sack in self._held:  # this object already holds it (maybe another thread)
                return False
        lock = self._driver.get_lock(f"{self.namespace}-sack-{int(sack)}".encode())
        if not lock.acquire(blocking=False):
            return False
        with self._mutex:
            if sack in self._held:  # lost a race with another thread using this object
                lock.release()
                return False
            self._held[sack] = lock
        return True

    def unlock(self, sack: int) -> None:
        with self._mutex:
            lock = self._held.pop(sack, None)
        if lock is None:
            raise RuntimeError(f"sack {sack} is not locked by this object")
        lock.release()

    def close(self) -> None:
        with self._mutex:
            held, self._held = self._held, {}
        for lock in held.values():
            with contextlib.suppress(Exception):  # the backend may be gone: the locks then expire by themselves
                lock.release()
        with contextlib.suppress(Exception):
            self._driver.stop()
