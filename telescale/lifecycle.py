"""Process lifecycle: each process names its role for `ps`, children never outlive their parent, and
SIGTERM stops a main process through its normal clean-up.

A child that outlives its parent is worse than a dead one: orphaned API workers keep the port, so the
restart a supervisor attempts fails with "Address already in use" until someone kills them by hand.
"""

from __future__ import annotations

import contextlib
import ctypes
import logging
import os
import signal
import sys
import threading
import time
from types import FrameType
from typing import NoReturn

import setproctitle

LOG = logging.getLogger(__name__)

PR_SET_PDEATHSIG = 1  # <linux/prctl.h>
WATCH_INTERVAL = 0.25  # seconds between two looks at getppid()
STOP_GRACE = 1.5  # seconds an orphan gets to stop cleanly before it kills itself


def set_title(title: str) -> None:
    """Show ``title`` instead of the Python command line in ps, top and /proc/<pid>/cmdline."""
    setproctitle.setproctitle(title)


def _request_parent_death_signal(sig: int) -> bool:
    """Ask Linux to send ``sig`` the moment the parent dies; False where prctl is unavailable."""
    if not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        if libc.prctl(PR_SET_PDEATHSIG, int(sig), 0, 0, 0) == 0:
            return True
        LOG.warning("prctl(PR_SET_PDEATHSIG) failed: %s", os.strerror(ctypes.get_errno()))
    except (OSError, AttributeError) as e:
        LOG.warning("prctl(PR_SET_PDEATHSIG) is unavailable: %s", e)
    return False


def _watch_parent(parent: int, signalled: bool, grace: float, interval: float) -> None:
    while os.getppid() == parent:
        time.sleep(interval)
    LOG.warning("parent process %d is gone; stopping", parent)
    if not signalled:
        os.kill(os.getpid(), signal.SIGTERM)
    time.sleep(grace)
    LOG.error("still running %.1f s after parent process %d died; killing this process", grace, parent)
    os.kill(os.getpid(), signal.SIGKILL)


def bind_to_parent(parent: int, *, grace: float = STOP_GRACE, interval: float = WATCH_INTERVAL) -> None:
    """End this child process soon after ``parent`` dies, however it died (SIGKILL, OOM killer …).

    The kernel sends SIGTERM when the parent dies (PR_SET_PDEATHSIG), so the child stops cleanly; a
    watchdog thread covers a parent that died before this call and systems without prctl, and
    SIGKILLs the child if it has not stopped ``grace`` seconds later.  Nothing accepted is lost by
    that: every write is durable before it is acknowledged.  The death signal follows the *thread*
    that started the child, so children must be started by a thread that lives as long as the process.
    """
    # a parent that died before prctl sends no signal: then the watchdog does
    signalled = _request_parent_death_signal(signal.SIGTERM) and os.getppid() == parent
    threading.Thread(target=_watch_parent, args=(parent, signalled, grace, interval), name="parent-watch",
                     daemon=True).start()


def _exit_on_signal(signum: int, frame: FrameType | None) -> None:
    LOG.info("received %s; stopping", signal.Signals(signum).name)
    signal.signal(signum, signal.SIG_IGN)  # a second one must not cut the clean-up short
    raise SystemExit(0)


def exit_on_sigterm() -> None:
    """Turn SIGTERM into SystemExit in the main thread, so `finally` blocks stop the children.

    uvicorn restores this handler and re-raises the signal after its own graceful shutdown; with the
    default handler the process would die right there and leave its processing workers behind."""
    signal.signal(signal.SIGTERM, _exit_on_signal)


def exit_now(code: int) -> NoReturn:
    """End a process whose clean-up is done, skipping the interpreter's teardown: freeing every module of a
    server one by one takes 0.3–1.5 s of CPU, which each stop and restart would wait for.  Nothing is lost:
    logs are flushed here, and every accepted write was durable before it was acknowledged."""
    logging.shutdown()
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(Exception):
            stream.flush()
    os._exit(code)
