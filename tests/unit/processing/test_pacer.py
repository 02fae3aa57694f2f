"""Each sack is processed at most once per ``processing.min_interval``; a sack idle that long goes at once."""

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


def test_a_sack_processed_within_the_interval_waits(env):
    a, b = _metric_in_sack(env, 0), _metric_in_sack(env, 1)
    pacer = SackPacer(3600.0)
    _push(env, a, 0)
    assert run_once(_drivers(env), pacer=pacer) == 5  # never processed: at once
    _push(env, a, 5)
    _push(env, b, 0)
    assert run_once(_drivers(env), pacer=pacer) == 5  # only b's sack: a's was processed just now
    assert env.incoming.backlog() == (1, 5)  # a's new measures wait, nothing is lost
    assert run_once(_drivers(env), pacer=SackPacer(0.0)) == 5  # interval 0: every scan processes
    assert env.incoming.backlog() == (0, 0)


def test_pacer_due_after_the_interval():
    pacer = SackPacer(1.0)
    assert pacer.due(3, 100.0)
    pacer.started(3, 100.0)
    assert not pacer.due(3, 100.5)
    assert pacer.due(3, 101.0)
    assert pacer.due(2, 100.5)  # per sack
