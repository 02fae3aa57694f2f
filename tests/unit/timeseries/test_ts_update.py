"""compute_update: incremental == all at once, late points, back window, idempotent replay."""

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from telescale.timeseries import (
    ArchivePolicy,
    PolicyItem,
    RawSeries,
    Split,
    aggregate_series,
    compute_update,
    partition,
    select,
)


def apply(store, raw, policy, ts, vals, encode=True):
    u = compute_update(policy, raw, np.asarray(ts, dtype=np.int64), np.asarray(vals, dtype=float))
    for g, blk in u.blocks.items():
        assert set(blk.columns) == set(policy.aggregation_methods)
        for key, part in partition(blk).items():
            cur = store.get((g, key)) or Split.empty(g, key)
            new = cur.merge(part)
            store[(g, key)] = Split.decode(new.encode(), g, key) if encode else new
    return u


def series(store, g, method):
    return select([s for (gg, _), s in store.items() if gg == g], method)


def reference(policy, ts, vals):
    """All points at once, last given wins, no back window: every method of every granularity."""
    pts = dict(zip(np.asarray(ts).tolist(), np.asarray(vals).tolist(), strict=True))
    t = np.array(sorted(pts), dtype=np.int64)
    v = np.array([pts[x] for x in t.tolist()])
    out = {}
    for g in policy.granularities:
        keys, cols = aggregate_series(t, v, g, policy.aggregation_methods)
        for m, c in cols.items():
            ok = ~np.isnan(c)
            out[(g, m)] = (keys[ok], c[ok])
    return out


def assert_matches(store, policy, ref):
    for (g, m), (rt, rv) in ref.items():
        st_, sv = series(store, g, m)
        assert np.array_equal(st_, rt), (g, m)
        np.testing.assert_allclose(sv, rv, rtol=1e-12, atol=1e-12, err_msg=f"{g} {m}")


METHODS = ("mean", "sum", "count", "min", "max", "std", "last", "first", "median", "90pct",
           "rate:mean", "rate:last", "rate:sum", "rate:max")

policies = st.builds(
    lambda gs, bw, methods: ArchivePolicy("p", bw, tuple(PolicyItem(g) for g in gs), tuple(sorted(methods))),
    st.lists(st.sampled_from([1, 2, 3, 5, 6, 7, 10, 30]), min_size=1, max_size=3, unique=True),
    st.integers(0, 3),
    st.lists(st.sampled_from(METHODS), min_size=1, max_size=6, unique=True),
)


@settings(max_examples=120, deadline=None)
@given(policies, st.lists(st.tuples(st.integers(0, 300), st.integers(-50, 50)), min_size=1, max_size=120),
       st.lists(st.integers(1, 40), min_size=1, max_size=8), st.randoms())
def test_chronological_batches_equal_all_at_once(policy, points, cuts, rnd):
    points.sort(key=lambda p: p[0])
    ts = [p[0] for p in points]
    vals = [p[1] / 4 for p in points]
    store, raw = {}, RawSeries.empty()
    i = 0
    for n in cuts + [len(points)]:
        # cut on timestamp boundaries so a duplicate never spans two batches
        j = min(len(points), i + n)
        while 0 < j < len(points) and ts[j] == ts[j - 1]:
            j += 1
        batch = list(range(i, j))
        if rnd.random() < 0.5:
            rnd.shuffle(batch)  # duplicates may swap: the last one given must win
        bt = [ts[k] for k in batch]
        bv = [vals[k] for k in batch]
        for k in batch:  # expected value of a timestamp: the last given in this batch
            vals[k] = bv[max(n for n, t in enumerate(bt) if t == ts[k])]
        u = apply(store, raw, policy, bt, bv)
        assert u.dropped == 0
        raw = u.raw
        i = j
        if i >= len(points):
            break
    assert raw.last == max(ts)
    assert_matches(store, policy, reference(policy, ts, vals))


@settings(max_examples=80, deadline=None)
@given(policies, st.lists(st.lists(st.tuples(st.integers(0, 200), st.integers(-20, 20)), max_size=30),
                          min_size=1, max_size=6))
def test_random_batches_with_large_back_window(policy, batches):
    policy = ArchivePolicy("p", 1000, policy.definition, policy.aggregation_methods)
    store, raw = {}, RawSeries.empty()
    all_ts, all_vals = [], []
    for b in batches:
        u = apply(store, raw, policy, [p[0] for p in b], [float(p[1]) for p in b], encode=False)
        assert u.dropped == 0
        raw = u.raw
        all_ts += [p[0] for p in b]
        all_vals += [float(p[1]) for p in b]
    if all_ts:
        assert_matches(store, policy, reference(policy, all_ts, all_vals))


def test_late_point_inside_back_window_reaggregates_bucket():
    p = ArchivePolicy("p", 1, (PolicyItem(10), PolicyItem(60)), ("count", "mean", "rate:sum"))
    store, raw = {}, RawSeries.empty()
    u = apply(store, raw, p, [60, 70, 121, 125], [1.0, 2.0, 3.0, 5.0])
    raw = u.raw
    assert series(store, 10, "count")[1].tolist() == [1, 1, 2]
    # last = 125 -> floor(125, 60) - 1 * 60 = 60: a point at 65 is accepted, 59 is not.
    u = apply(store, raw, p, [65, 59], [4.0, 100.0])
    assert u.dropped == 1
    assert u.blocks[10].timestamps.tolist() == [60, 70]  # its bucket + the bucket of its successor (rate)
    assert u.blocks[60].timestamps.tolist() == [60]
    assert series(store, 10, "count")[1].tolist() == [2, 1, 2]
    ts, vals = series(store, 60, "mean")
    assert ts.tolist() == [60, 120] and vals.tolist() == [7.0 / 3, 4.0]
    assert series(store, 60, "rate:sum")[1].tolist() == [5.0, 3.0]  # 1->4->2 (3 + reset 2), then 2->3->5
    assert series(store, 10, "rate:sum")[1].tolist() == [3.0, 2.0, 3.0]  # 4->2 is a counter reset: +2


def test_back_window_drops_and_truncates_raw():
    p = ArchivePolicy("p", 0, (PolicyItem(10),), ("last",))
    u = compute_update(p, RawSeries.empty(), np.array([5, 15, 25]), np.array([1.0, 2.0, 3.0]))
    assert u.dropped == 0 and u.raw.timestamps.tolist() == [25] and u.last_timestamp == 25
    u2 = compute_update(p, u.raw, np.array([19, 20, 31]), np.array([9.0, 8.0, 7.0]))
    assert u2.dropped == 1
    assert u2.blocks[10].timestamps.tolist() == [20, 30]
    assert u2.raw.timestamps.tolist() == [31]
    # nothing accepted: raw unchanged, no blocks
    u3 = compute_update(p, u2.raw, np.array([1, 2]), np.array([0.0, 0.0]))
    assert u3.dropped == 2 and u3.blocks == {} and u3.raw == u2.raw and u3.last_timestamp == 31
    # empty batch
    u4 = compute_update(p, u2.raw, np.array([], dtype=np.int64), np.array([]))
    assert u4.dropped == 0 and u4.blocks == {}


def test_rate_keeps_previous_raw_point():
    p = ArchivePolicy("p", 0, (PolicyItem(10),), ("rate:last",))
    u = compute_update(p, RawSeries.empty(), np.array([5, 15]), np.array([1.0, 4.0]))
    assert u.raw.timestamps.tolist() == [5, 15]  # 5 precedes the kept block [10, ...)
    u2 = compute_update(p, u.raw, np.array([16]), np.array([10.0]))
    assert u2.blocks[10].columns["rate:last"].tolist() == [6.0]
    u3 = compute_update(p, u2.raw, np.array([21]), np.array([11.0]))
    assert u3.raw.timestamps.tolist() == [16, 21]
    assert u3.blocks[10].columns["rate:last"].tolist() == [1.0]


def test_duplicates_last_given_wins():
    p = ArchivePolicy("p", 0, (PolicyItem(10),), ("sum", "count"))
    u = compute_update(p, RawSeries.empty(), np.array([3, 1, 3, 3]), np.array([1.0, 2.0, 3.0, 4.0]))
    assert u.blocks[10].columns["sum"].tolist() == [6.0]
    assert u.blocks[10].columns["count"].tolist() == [2.0]
    u2 = compute_update(p, u.raw, np.array([1]), np.array([10.0]))  # overwrite a stored timestamp
    assert u2.blocks[10].columns["sum"].tolist() == [14.0]


@settings(max_examples=60, deadline=None)
@given(policies, st.lists(st.tuples(st.integers(0, 300), st.integers(-9, 9)), min_size=1, max_size=60),
       st.lists(st.tuples(st.integers(0, 400), st.integers(-9, 9)), min_size=1, max_size=60))
def test_replay_is_idempotent(policy, first, batch):
    store, raw = {}, RawSeries.empty()
    raw = apply(store, raw, policy, [p[0] for p in first], [float(p[1]) for p in first]).raw
    bt, bv = [p[0] for p in batch], [float(p[1]) for p in batch]
    raw1 = apply(store, raw, policy, bt, bv).raw
    snapshot = {k: s.encode() for k, s in store.items()}
    raw2 = apply(store, raw1, policy, bt, bv).raw
    assert raw2 == raw1
    assert {k: s.encode() for k, s in store.items()} == snapshot
    # a crash after writing splits but before the raw tail: replay from the old raw
    raw3 = apply(store, raw, policy, bt, bv).raw
    assert raw3 == raw1
    assert {k: s.encode() for k, s in store.items()} == snapshot


def test_percentile_does_not_depend_on_bucket_position():
    """Regression: 90pct of [0, 1] was 0.8999999999999999 or 0.9 depending on the bucket's offset."""
    policy = ArchivePolicy("p", 0, (PolicyItem(3),), ("90pct", "mean"))
    store, raw = {}, RawSeries.empty()
    raw = apply(store, raw, policy, [0], [0.0]).raw
    raw1 = apply(store, raw, policy, [0, 315, 316], [0.0, 0.0, 1.0]).raw
    first = {k: s.encode() for k, s in store.items()}
    apply(store, raw1, policy, [0, 315, 316], [0.0, 0.0, 1.0])
    assert {k: s.encode() for k, s in store.items()} == first
    assert store[(3, 0)].columns["90pct"].tolist() == [0.0, 0.9]
