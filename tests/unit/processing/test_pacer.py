"""A sack is processed once the writes to it pause (``processing.quiet``), or once its oldest pending write
has waited ``processing.max_wait``: a burst is merged in one pass, and nothing waits for long."""

import uuid

import numpy as np

from telescale.processing.worker import Drivers, SackPacer, run_once
from tests.unit.processing.proc_helpers import POLICY, S

T0 = 1_700_000_000 * S
MS = 1_000_000


def _drivers(env) -> Drivers:
    return Drivers(env.incoming, env.storage, env.indexer, env.locks)


def _metric_in_sack(env, sack: int):
    while True:
        mid = uuid.uuid4()
        if env.incoming.sack_for(mid) == sack:
            return env.indexer.add(POLICY, mid)


def _push(env, metric, start: int, n: int = 5) -> None:
    ts = T0 + (start + np.arange(n)) * S
    env.incoming.add_measures({metric.id: (ts, np.arange(n, dtype=float))})


def test_a_sack_still_written_to_waits_and_loses_nothing(env):
    a, b = _metric_in_sack(env, 0), _metric_in_sack(env, 1)
    _push(env, a, 0)
    _push(env, b, 0)
    times = env.incoming.work_times()
    assert set(times) == {0, 1} and all(t is not None and t[0] <= t[1] for t in times.values())
    writing = SackPacer(quiet=3600.0, max_wait=3600.0)  # every write is "just now"
    assert run_once(_drivers(env), pacer=writing) == 0
    assert env.incoming.backlog() == (2, 10)  # they wait; nothing is lost
    assert run_once(_drivers(env), pacer=SackPacer(quiet=0.0)) == 10  # quiet 0: at once
    assert env.incoming.backlog() == (0, 0)


def test_due_after_a_pause_or_after_the_longest_wait():
    pacer = SackPacer(quiet=0.05, max_wait=1.0)
    now = 10_000 * MS
    assert pacer.due(None, now)  # a driver that cannot tell: at once
    assert not pacer.due((now - 30 * MS, now - 10 * MS), now)  # written 10 ms ago: the burst may go on
    assert pacer.due((now - 30 * MS, now - 50 * MS), now)  # quiet for 50 ms
    assert not pacer.due((now - 999 * MS, now - 1 * MS), now)
    assert pacer.due((now - 1000 * MS, now - 1 * MS), now)  # still written to, but the oldest waited 1 s
    assert pacer.due((now - 5 * MS, now + 60_000 * MS), now)  # a write "from the future": the clock went back
    assert SackPacer(quiet=0.0).due((now, now), now)


def test_only_due_sacks_are_taken(env, monkeypatch):
    a, b = _metric_in_sack(env, 0), _metric_in_sack(env, 1)
    _push(env, a, 0)
    _push(env, b, 0)
    times = env.incoming.work_times()
    monkeypatch.setattr(env.incoming, "work_times", lambda: {0: (0, 0), 1: times[1]})  # sack 0: long quiet
    assert run_once(_drivers(env), pacer=SackPacer(quiet=3600.0, max_wait=3600.0)) == 5
    assert env.incoming.backlog() == (1, 5) and env.incoming.sacks_with_work() == [1]


def test_an_idle_worker_wakes_when_a_waiting_sack_becomes_due():
    pacer = SackPacer(quiet=0.05, max_wait=1.0)
    now = 10_000 * MS
    assert pacer.pause(0.05, now) == 0.05  # nothing waits: the usual scan delay
    assert not pacer.due((now - 990 * MS, now - 30 * MS), now)  # due in 10 ms (max_wait)
    assert not pacer.due((now - 100 * MS, now - 20 * MS), now)  # due in 30 ms (quiet)
    assert abs(pacer.pause(0.05, now) - 0.010) < 1e-9
    assert pacer.pause(0.05, now + 20 * MS) == 0.0


class _RecordingLocks:
    """The env's locks, recording the order sacks are tried in."""

    def __init__(self, locks) -> None:
        self.locks, self.tried = locks, []

    def try_lock(self, sack: int) -> bool:
        self.tried.append(sack)
        return self.locks.try_lock(sack)

    def unlock(self, sack: int) -> None:
        self.locks.unlock(sack)

    def close(self) -> None:
        self.locks.close()


def test_a_worker_takes_its_share_of_the_ring_first_then_the_others(env):
    """With ``coordination.url`` a worker's own sacks are its share of the metricd ring (``owns``), not
    ``sack % workers``: it drains them first, then any other sack with work."""
    metrics = [_metric_in_sack(env, sack) for sack in range(env.incoming.sacks)]
    for m in metrics:
        _push(env, m, 0)
    share = {env.incoming.sacks - 1}  # not what sack % workers would give worker 0 of 1 ({0, 1, ...} first)
    locks = _RecordingLocks(env.locks)
    drivers = Drivers(env.incoming, env.storage, env.indexer, locks)
    assert run_once(drivers, owns=lambda sacks: [s for s in sacks if s in share]) == 5 * len(metrics)
    assert locks.tried[0] == env.incoming.sacks - 1 and sorted(locks.tried) == list(range(env.incoming.sacks))
    assert env.incoming.backlog() == (0, 0)
