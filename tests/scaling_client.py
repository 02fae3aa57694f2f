"""Reading a live server's scaling groups in end-to-end tests: a group, its decision log, waiting for either
to reach a state, and making sure the member processes of a deleted group are gone."""

from __future__ import annotations

import contextlib
import os
import signal
import time
from collections.abc import Callable, Iterable
from typing import Any

import httpx
import psutil


def group_of(c: httpx.Client, gid: str) -> dict[str, Any]:
    r = c.get(f"/v1/scaling_group/{gid}")
    assert r.status_code == 200, r.text
    return r.json()


def history(c: httpx.Client, gid: str) -> list[dict[str, Any]]:
    """The whole decision log, oldest first."""
    r = c.get(f"/v1/scaling_group/{gid}/history", params={"limit": 1000})
    assert r.status_code == 200, r.text
    return sorted(r.json(), key=lambda d: d["timestamp"])


def _until(read: Callable[[], Any], ready: Callable[[Any], bool], timeout: float, what: str, shown: str) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = read()
        if ready(value):
            return value
        assert time.monotonic() < deadline, f"{what} within {timeout} s; the {shown} is {value}"
        time.sleep(0.3)


def wait(c: httpx.Client, gid: str, ready: Callable[[dict[str, Any]], bool], timeout: float, what: str
         ) -> dict[str, Any]:
    """The group once ``ready(group)`` holds (fails after ``timeout`` seconds, saying ``what`` was awaited)."""
    return _until(lambda: group_of(c, gid), ready, timeout, what, "group")


def wait_history(c: httpx.Client, gid: str, ready: Callable[[list[dict[str, Any]]], bool], timeout: float,
                 what: str) -> list[dict[str, Any]]:
    return _until(lambda: history(c, gid), ready, timeout, what, "log")


def wait_gone(pids: Iterable[int], timeout: float) -> None:
    """Every process of ``pids`` has exited (zombies count as gone); those left are killed, then reported."""
    deadline = time.monotonic() + timeout
    while True:
        alive = []
        for pid in pids:
            with contextlib.suppress(psutil.Error):
                if psutil.Process(pid).status() != psutil.STATUS_ZOMBIE:
                    alive.append(pid)
        if not alive:
            return
        if time.monotonic() > deadline:
            for pid in alive:  # do not leave them to the next test; then say so
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(pid, signal.SIGKILL)
            raise AssertionError(f"members {alive} still run after their group was deleted")
        time.sleep(0.2)
