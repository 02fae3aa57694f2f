import multiprocessing
import pathlib
import time

import pytest

from telescale.coordination import FileSackLocks, LockTimeout


def _hold(root, sack, ready, release):
    locks = FileSackLocks(root)
    assert locks.try_lock(sack)
    ready.set()
    release.wait(10)


def test_try_lock_is_exclusive_between_objects(tmp_path):
    a, b = FileSackLocks(tmp_path), FileSackLocks(tmp_path)
    assert a.try_lock(1)
    assert not b.try_lock(1)
    assert not a.try_lock(1)
    assert b.try_lock(2)
    a.unlock(1)
    assert b.try_lock(1)
    with pytest.raises(RuntimeError):
        a.unlock(1)


def test_lock_timeout_and_wait(tmp_path):
    a, b = FileSackLocks(tmp_path), FileSackLocks(tmp_path)
    assert a.try_lock(0)
    t = time.monotonic()
    assert not b.lock(0, timeout=0.1)
    assert time.monotonic() - t >= 0.1
    with pytest.raises(LockTimeout), b.held(0, timeout=0.05):
        pass
    a.unlock(0)
    with b.held(0, timeout=1):
        assert not a.try_lock(0)
    assert a.try_lock(0)


def test_lock_released_when_process_dies(tmp_path, monkeypatch):
    # The spawned child imports this module by name: make the repository root importable there.
    monkeypatch.syspath_prepend(str(pathlib.Path(__file__).resolve().parents[3]))
    ctx = multiprocessing.get_context("spawn")
    ready, release = ctx.Event(), ctx.Event()
    p = ctx.Process(target=_hold, args=(str(tmp_path), 3, ready, release))
    p.start()
    assert ready.wait(30)
    locks = FileSackLocks(tmp_path)
    assert not locks.try_lock(3)
    p.kill()
    p.join()
    assert locks.lock(3, timeout=5)
