"""A sack rests after a pass in proportion to what the pass cost (at most ``processing.max_wait``)."""

import uuid

import numpy as np

from telescale.processing.worker import Drivers, SackPacer, run_once
from tests.unit.processing.proc_helpers import POLICY, S

T0 = 1_700_000_000 * S


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


def test_a_sack_resting_after_a_pass_waits_and_loses_nothing(env):
    a, b = _metric_in_sack(env, 0), _metric_in_sack(env, 1)
    pacer = SackPacer(max_wait=3600.0, ratio=1e9)  # any pass makes its sack rest an hour
    _push(env, a, 0)
    assert run_once(_drivers(env), pacer=pacer) == 5  # never processed: at once
    _push(env, a, 5)
    _push(env, b, 0)
    assert run_once(_drivers(env), pacer=pacer) == 5  # only b's sack: a's rests
    assert env.incoming.backlog() == (1, 5)  # a's new measures wait, nothing is lost
    assert run_once(_drivers(env), pacer=SackPacer(max_wait=0.0)) == 5  # no rest: every scan processes
    assert env.incoming.backlog() == (0, 0)


def test_rest_is_proportional_to_the_pass_and_bounded():
    pacer = SackPacer(max_wait=5.0, ratio=4.0)
    assert pacer.due(3, 100.0)
    pacer.done(3, started=100.0, seconds=0.01)  # a cheap pass (an alarm's metric): 40 ms of rest
    assert not pacer.due(3, 100.02)
    assert pacer.due(3, 100.04)
    pacer.done(3, started=200.0, seconds=2.0)  # an expensive pass: 8 s, capped at 5 s
    assert not pacer.due(3, 204.9)
    assert pacer.due(3, 205.0)
    assert pacer.due(2, 200.1)  # per sack
