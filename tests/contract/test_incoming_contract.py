"""The incoming driver contract: the same tests for every driver of ``telescale.drivers.INCOMING_DRIVERS``.

``file`` runs in ``tmp_path``; ``redis`` on the real Redis at ``TELESCALE_TEST_REDIS_URL`` under a key prefix
of its own, deleted afterwards (skipped when Redis is unreachable, failed when ``CI=true``). Drivers are built
through the registry (``build_incoming``) from settings, as the services build them.
"""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field

import numpy as np
import pytest

from telescale import drivers
from telescale.config import ConfigError, load
from telescale.incoming.base import Columns, IncomingDriver, MeasuresArrays
from tests.conftest import redis_key_prefix, redis_url

SACKS = 4



@dataclass
class Backend:
    """One driver's backing store for a test: every driver it builds sees the same pending measures."""

    name: str
    overrides: list[str]
    made: list[IncomingDriver] = field(default_factory=list)

    def driver(self, sacks: int = SACKS, read_limit: int | None = None) -> IncomingDriver:
        """A driver on this store built by the registry; ``read_limit``: most writes one read returns."""
        settings = load(environ={}, overrides=[*self.overrides, f"incoming.sacks={sacks}"])
        inc = drivers.build_incoming(settings)
        if read_limit is not None:  # the limit is the driver's constructor parameter, not a setting
            setattr(inc, {"file": "max_read_files", "redis": "max_read_entries"}[self.name], read_limit)
        self.made.append(inc)
        return inc


def _redis_backend() -> Iterator[Backend]:

    with redis_key_prefix() as (_, prefix):
        yield Backend("redis", ["incoming.driver=redis", f"incoming.redis_url={redis_url()}",
                                f"incoming.redis_prefix={prefix}"])


@pytest.fixture(params=sorted(drivers.INCOMING_DRIVERS))
def backend(request: pytest.FixtureRequest, tmp_path) -> Iterator[Backend]:
    if request.param == "redis":
        gen = _redis_backend()
        store = next(gen)
    else:
        assert request.param == "file", f"no contract backend for incoming driver {request.param!r}"
        gen, store = None, Backend("file", ["incoming.driver=file", f"storage.data_dir={tmp_path}"])
    try:
        yield store
    finally:
        for inc in store.made:
            inc.close()
        if gen is not None:
            gen.close()


@pytest.fixture
def inc(backend: Backend) -> IncomingDriver:
    return backend.driver()


def _arr(*ts: int) -> MeasuresArrays:
    return np.array(ts, dtype=np.int64), np.array(ts, dtype=np.float64) / 10


def _metrics_in(inc: IncomingDriver, sack: int, n: int) -> list[uuid.UUID]:
    """``n`` fresh metrics that all fall in ``sack``."""
    out: list[uuid.UUID] = []
    while len(out) < n:
        m = uuid.uuid4()
        if inc.sack_for(m) == sack:
            out.append(m)
    return out


def _drain(inc: IncomingDriver) -> tuple[dict[uuid.UUID, MeasuresArrays], int]:
    """Read and ack every sack until no work is left: (everything read per metric in order, reads made)."""
    parts: dict[uuid.UUID, list[MeasuresArrays]] = {}
    reads = 0
    for _ in range(10_000):
        due = inc.sacks_with_work()
        if not due:
            break
        for sack in due:
            batch = inc.read_sack(sack)
            reads += 1
            for mid, (ts, vals) in batch.measures.items():
                assert inc.sack_for(mid) == sack
                parts.setdefault(mid, []).append((ts.copy(), vals.copy()))
            inc.ack(batch.handle)
    else:
        raise AssertionError("the backlog never drained")
    out = {mid: (np.concatenate([p[0] for p in runs]), np.concatenate([p[1] for p in runs]))
           for mid, runs in parts.items()}
    return out, reads


def _assert_same(got: dict[uuid.UUID, MeasuresArrays], want: dict[uuid.UUID, MeasuresArrays]) -> None:
    assert set(got) == set(want)
    for mid, (ts, vals) in want.items():
        assert got[mid][0].dtype == np.int64 and got[mid][1].dtype == np.float64
        np.testing.assert_array_equal(got[mid][0], ts)
        np.testing.assert_array_equal(got[mid][1].view(np.int64), np.asarray(vals, np.float64).view(np.int64))


def _assert_idle(inc: IncomingDriver, *metrics: uuid.UUID) -> None:
    assert inc.sacks_with_work() == []
    assert inc.work_times() == {}
    assert inc.backlog() == (0, 0)
    assert inc.backlog_per_metric() == {}
    assert not any(inc.pending_for_metric(m) for m in metrics)
    assert all(not inc.read_sack(s) for s in range(inc.sacks))


def test_registry_lists_the_drivers_and_names_them_for_an_unknown_one() -> None:
    assert {"file", "redis"} <= set(drivers.INCOMING_DRIVERS)
    with pytest.raises(ConfigError, match="nosuch") as err:
        drivers.build_incoming(load(environ={}, overrides=["incoming.driver=nosuch"]))
    assert "file" in str(err.value) and "redis" in str(err.value)


def test_registry_builds_the_named_driver(backend: Backend) -> None:
    inc = backend.driver(sacks=3)
    module, _, cls = drivers.INCOMING_DRIVERS[backend.name].partition(":")
    assert type(inc).__module__ == module and type(inc).__name__ == cls
    assert inc.sacks == 3


def test_add_then_read_returns_each_metric_in_arrival_order(inc: IncomingDriver) -> None:
    """Several writes, several metrics per write, a metric spread over batches and sacks mixed in one write."""
    a, b = _metrics_in(inc, 0, 2)
    c = _metrics_in(inc, 1, 1)[0]
    inc.add_measures({a: _arr(5, 3), b: _arr(1), c: _arr(9)})
    inc.add_measures({c: _arr(8)})
    inc.add_measures({a: _arr(1), c: _arr(7, 7)})
    assert inc.sacks_with_work() == [0, 1]
    batch = inc.read_sack(0)
    assert batch.sack == 0 and batch.measure_count == 4
    _assert_same(batch.measures, {a: _arr(5, 3, 1), b: _arr(1)})
    _assert_same(inc.read_sack(1).measures, {c: _arr(9, 8, 7, 7)})
    assert not inc.read_sack(2) and not inc.read_sack(3)


def test_ack_removes_exactly_what_was_read(inc: IncomingDriver) -> None:
    a, b = _metrics_in(inc, 2, 2)
    inc.add_measures({a: _arr(1, 2), b: _arr(3)})
    batch = inc.read_sack(2)
    inc.add_measures({a: _arr(4)})  # arrives after the read
    inc.add_measures({b: _arr(5, 6)})
    inc.ack(batch.handle)
    assert inc.sacks_with_work() == [2]
    assert inc.backlog_per_metric() == {a: 1, b: 2}
    again = inc.read_sack(2)
    _assert_same(again.measures, {a: _arr(4), b: _arr(5, 6)})
    inc.ack(again.handle)
    _assert_idle(inc, a, b)


def test_a_large_backlog_is_read_in_bounded_rounds_without_loss_or_duplicates(backend: Backend) -> None:
    inc = backend.driver(sacks=2, read_limit=3)
    metrics = _metrics_in(inc, 1, 3)
    want: dict[uuid.UUID, list[int]] = {m: [] for m in metrics}
    for i in range(20):
        batch = {m: _arr(100 * i + k, 100 * i + k + 1) for k, m in enumerate(metrics[: 1 + i % 3])}
        inc.add_measures(batch)
        for m, (ts, _) in batch.items():
            want[m] += ts.tolist()
    sizes = []
    got: dict[uuid.UUID, list[int]] = {m: [] for m in metrics}
    while inc.sacks_with_work():
        batch = inc.read_sack(1)
        sizes.append(batch.measure_count)
        for m, (ts, _) in batch.measures.items():
            got[m] += ts.tolist()
        inc.ack(batch.handle)
        assert len(sizes) < 50
    assert len(sizes) == 7  # 20 writes, 3 a read
    assert max(sizes) <= 3 * 2 * 3  # at most 3 writes of at most 3 metrics x 2 points
    assert got == want
    _assert_idle(inc, *metrics)


def test_status_views_follow_writes_and_acks(inc: IncomingDriver) -> None:
    a, b = _metrics_in(inc, 0, 2)
    c = _metrics_in(inc, 3, 1)[0]
    idle = uuid.uuid4()
    _assert_idle(inc, a, b, c)
    t0 = time.time_ns()
    inc.add_measures({a: _arr(1, 2, 3), c: _arr(1)})
    t1 = time.time_ns()
    time.sleep(0.002)
    t2 = time.time_ns()
    inc.add_measures({a: _arr(4), b: _arr(5, 6)})
    t3 = time.time_ns()
    assert inc.sacks_with_work() == [0, 3]
    times = inc.work_times()
    assert set(times) == {0, 3}
    oldest, newest = times[0]
    assert t0 <= oldest <= t1 and t2 <= newest <= t3
    oldest, newest = times[3]
    assert t0 <= oldest == newest <= t1
    assert inc.backlog_per_metric() == {a: 4, b: 2, c: 1}
    assert inc.backlog() == (3, 7)
    assert inc.pending_for_metric(a) and inc.pending_for_metric(b) and inc.pending_for_metric(c)
    assert not inc.pending_for_metric(idle)
    inc.ack(inc.read_sack(3).handle)
    assert inc.sacks_with_work() == [0]
    assert set(inc.work_times()) == {0}
    assert inc.backlog() == (2, 6) and not inc.pending_for_metric(c)
    inc.ack(inc.read_sack(0).handle)
    _assert_idle(inc, a, b, c)


def test_concurrent_writers_lose_nothing(inc: IncomingDriver) -> None:
    """Threads write at once, as API workers do; every point comes back once, each writer's in its order."""
    threads, writes = 8, 25
    shared = uuid.uuid4()
    own = [uuid.uuid4() for _ in range(threads)]
    errors: list[BaseException] = []
    start = threading.Barrier(threads)

    def writer(t: int) -> None:
        try:
            start.wait()
            for i in range(writes):
                ts = 1000 * t + i
                if i % 2:
                    inc.add_measures({shared: _arr(ts), own[t]: _arr(ts, ts)})
                else:
                    inc.add_columns(Columns.from_mapping({own[t]: _arr(ts, ts), shared: _arr(ts)}))
        except BaseException as e:  # reported below
            errors.append(e)

    workers = [threading.Thread(target=writer, args=(t,)) for t in range(threads)]
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    assert errors == []
    assert inc.backlog() == (threads + 1, threads * writes * 3)
    got, _ = _drain(inc)
    for t in range(threads):
        assert got[own[t]][0].tolist() == [1000 * t + i for i in range(writes) for _ in range(2)]
        mine = [int(x) for x in got[shared][0] if x // 1000 == t]
        assert mine == [1000 * t + i for i in range(writes)]
    assert got[shared][0].size == threads * writes
    _assert_idle(inc, shared, *own)


def test_add_measures_and_add_columns_are_equivalent(backend: Backend) -> None:
    one, two = backend.driver(sacks=2), None
    metrics = [uuid.uuid4() for _ in range(12)]
    batches = [{m: _arr(i, i + k) for k, m in enumerate(metrics[i % 3 :: 2])} for i in range(4)]
    for batch in batches:
        one.add_measures(batch)
    via_measures, _ = _drain(one)
    two = backend.driver(sacks=2)
    for batch in batches:
        two.add_columns(Columns.from_mapping(batch))
    via_columns, _ = _drain(two)
    _assert_same(via_columns, via_measures)
    # a Columns with several runs of one metric (a group commit's merge) reads back in run order
    m = metrics[0]
    two.add_columns(Columns.concat([Columns.from_mapping({m: _arr(3)}), Columns.from_mapping({m: _arr(2, 1)})]))
    got, _ = _drain(two)
    _assert_same(got, {m: _arr(3, 2, 1)})


def test_nan_infinities_and_int64_extremes_round_trip(inc: IncomingDriver) -> None:
    m = uuid.uuid4()
    i64 = np.iinfo(np.int64)
    ts = np.array([i64.min, -1, 0, 1, i64.max, i64.max], dtype=np.int64)
    vals = np.array([np.nan, np.inf, -np.inf, -0.0, 5e-324, np.finfo(np.float64).max])
    vals[-1] = np.frombuffer(np.array([0x7FF8_0000_0000_0BAD], np.int64).tobytes(), np.float64)[0]  # a NaN payload
    inc.add_measures({m: (ts, vals)})
    got, _ = _drain(inc)
    _assert_same(got, {m: (ts, vals)})


def test_a_restarted_driver_sees_the_pending_measures(backend: Backend) -> None:
    before = backend.driver()
    m = uuid.uuid4()
    before.add_measures({m: _arr(1, 2)})
    batch = before.read_sack(before.sack_for(m))  # read but not acked: the process died before the ack
    del batch
    after = backend.driver()  # a new process on the same store
    assert after.sacks_with_work() == [after.sack_for(m)]
    assert after.backlog_per_metric() == {m: 2} and after.pending_for_metric(m)
    got, _ = _drain(after)
    _assert_same(got, {m: _arr(1, 2)})
    _assert_idle(before, m)


def test_ack_of_nothing_is_harmless(inc: IncomingDriver) -> None:
    m = uuid.uuid4()
    inc.ack(None)
    empty = inc.read_sack(inc.sack_for(m))
    assert not empty and empty.measure_count == 0
    inc.add_measures({m: _arr(1)})
    inc.ack(empty.handle)  # the empty read's handle acks nothing
    inc.ack(None)
    assert inc.backlog_per_metric() == {m: 1}
    got, _ = _drain(inc)
    _assert_same(got, {m: _arr(1)})


def test_an_empty_write_is_a_no_op(inc: IncomingDriver) -> None:
    m = uuid.uuid4()
    inc.add_columns(Columns.empty())
    inc.add_measures({})
    inc.add_measures({m: (np.array([], np.int64), np.array([], np.float64))})
    _assert_idle(inc, m)


def test_a_write_of_mismatched_lengths_is_refused_and_stores_nothing(inc: IncomingDriver) -> None:
    m = uuid.uuid4()
    with pytest.raises(ValueError):
        inc.add_measures({uuid.uuid4(): _arr(1), m: (np.array([1, 2]), np.array([1.0]))})
    _assert_idle(inc, m)


def test_many_metrics_over_every_sack(inc: IncomingDriver) -> None:
    rng = np.random.default_rng(7)
    want = {uuid.uuid4(): (rng.integers(-(10**18), 10**18, n), rng.random(n)) for n in rng.integers(1, 300, 200)}
    inc.add_measures(want)
    assert inc.sacks_with_work() == sorted({inc.sack_for(m) for m in want})
    assert inc.backlog() == (len(want), sum(ts.size for ts, _ in want.values()))
    got, reads = _drain(inc)
    _assert_same(got, want)
    assert reads == inc.sacks


