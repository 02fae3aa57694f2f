"""Split and raw codecs: exact round-trips and size bounds."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from telescale.timeseries import RawSeries, Split, aggregate_series, bench_bytes_per_point, codec
from telescale.timeseries.codec import CodecError

G = 60 * 1_000_000_000
KEY = 1_425_000_000 * 1_000_000_000 // (G * 3600) * (G * 3600)


def bits_equal(a: np.ndarray, b: np.ndarray) -> bool:
    """Bit-identical, except that any NaN equals any NaN (NaN means "no value", payload not kept)."""
    na, nb = np.isnan(a), np.isnan(b)
    return bool(np.array_equal(na, nb)) and bool(np.array_equal(a[~na].view(np.uint64), b[~nb].view(np.uint64)))


def same(a: Split, b: Split) -> bool:
    return (
        np.array_equal(a.timestamps, b.timestamps)
        and set(a.columns) == set(b.columns)
        and all(bits_equal(a.columns[m], b.columns[m]) for m in a.columns)
    )


def roundtrip(s: Split) -> Split:
    out = Split.decode(s.encode(), s.granularity, s.key)
    assert out.key == s.key and out.granularity == s.granularity
    assert same(out, s)
    return out


def test_empty_and_one_point():
    roundtrip(Split(G, np.array([], dtype=np.int64), {}, key=KEY))
    roundtrip(Split(G, np.array([], dtype=np.int64), {"mean": np.array([])}, key=KEY))
    roundtrip(Split(G, np.array([KEY + 5 * G]), {"mean": np.array([1.5]), "std": np.array([np.nan])}, key=KEY))


def test_nan_inf_negative_zero_and_specials():
    vals = np.array([np.nan, np.inf, -np.inf, -0.0, 0.0, 1e308, 5e-324, -1.1, np.nan])
    ts = KEY + np.arange(vals.size, dtype=np.int64) * G
    roundtrip(Split(G, ts, {"x": vals, "y": np.full(vals.size, np.nan)}, key=KEY))


def test_off_grid_timestamps_fall_back():
    ts = np.array([KEY - 7, KEY + 3, KEY + G * 5000 + 1])
    roundtrip(Split(G, ts, {"x": np.array([1.0, 2.0, 3.0])}, key=KEY))


def test_mean_derived_only_when_exact():
    ts = KEY + np.arange(4, dtype=np.int64) * G
    s = np.array([1.0, 2.0, 3.5, np.nan])
    c = np.array([3.0, 3.0, 7.0, np.nan])
    roundtrip(Split(G, ts, {"mean": s / c, "sum": s, "count": c}, key=KEY))
    wrong = s / c
    wrong[1] = np.nextafter(wrong[1], 10)
    roundtrip(Split(G, ts, {"mean": wrong, "sum": s, "count": c}, key=KEY))


def test_rejects_garbage():
    with pytest.raises(CodecError):
        Split.decode(b"", G, KEY)
    with pytest.raises(CodecError):
        Split.decode(b"\x7fjunk", G, KEY)
    with pytest.raises(CodecError):
        Split.decode(b"\x01junk", G, KEY)
    good = Split(G, np.array([KEY]), {"x": np.array([1.0])}, key=KEY).encode()
    assert good[0] == 1  # format version first


floats = st.floats(allow_nan=True, allow_infinity=True)
decimals = st.integers(-10**7, 10**7).map(lambda k: k / 10)


@settings(max_examples=150, deadline=None)
@given(st.sets(st.integers(0, 3599), max_size=200),
       st.lists(st.sampled_from(["mean", "sum", "count", "std", "max", "rate:mean"]), unique=True, max_size=6),
       st.one_of(floats, decimals), st.data())
def test_roundtrip_property(slots, names, _hint, data):
    slots = sorted(slots)
    ts = KEY + np.array(slots, dtype=np.int64) * G
    cols = {}
    for name in names:
        elems = st.one_of(floats, decimals, st.just(np.nan))
        cols[name] = np.array(data.draw(st.lists(elems, min_size=len(slots), max_size=len(slots))),
                              dtype=np.float64)
    roundtrip(Split(G, ts, cols, key=KEY))


def gauge_split(kind: str, granularity_s: int = 60) -> Split:
    g = granularity_s * 1_000_000_000
    rng = np.random.default_rng(7)
    n = 3600 * granularity_s // 10
    ts = np.arange(n, dtype=np.int64) * 10_000_000_000
    if kind == "gauge":
        vals = np.round(50 + 20 * np.sin(ts / 1e9 / 600) + rng.normal(0, 1, n), 1)
    elif kind == "constant":
        vals = np.full(n, 3.0)
    else:
        vals = rng.random(n)
    keys, cols = aggregate_series(ts, vals, g, ("mean", "min", "max", "sum", "std", "count"))
    return Split(g, keys, cols, key=0)


def bytes_per_point(s: Split) -> float:
    return len(s.encode()) / sum(int(np.count_nonzero(~np.isnan(c))) for c in s.columns.values())


@pytest.mark.parametrize("granularity_s", [60, 300])
def test_size_bounds(granularity_s):
    for kind in ("gauge", "constant", "random"):
        roundtrip(gauge_split(kind, granularity_s))
    assert bytes_per_point(gauge_split("constant", granularity_s)) < 0.2
    assert bytes_per_point(gauge_split("gauge", granularity_s)) <= 2.0
    assert bytes_per_point(gauge_split("random", granularity_s)) < 8.0


def test_bench_helper():
    assert bench_bytes_per_point("gauge") <= 2.0
    assert bench_bytes_per_point("constant") < 0.2
    assert bench_bytes_per_point("random") < 8.0
    with pytest.raises(ValueError):
        bench_bytes_per_point("nope")


@settings(max_examples=100, deadline=None)
@given(st.dictionaries(st.integers(-2**40, 2**40), st.one_of(floats, decimals), max_size=100))
def test_raw_roundtrip(points):
    ts = np.array(sorted(points), dtype=np.int64)
    vals = np.array([points[t] for t in sorted(points)], dtype=np.float64)
    r = RawSeries(ts, vals)
    back = RawSeries.unserialize(r.serialize())
    assert np.array_equal(back.timestamps, ts)
    assert bits_equal(back.values, vals)


def test_raw_empty_and_none():
    assert len(RawSeries.unserialize(None)) == 0
    assert len(RawSeries.unserialize(RawSeries.empty().serialize())) == 0
    assert RawSeries.empty().last is None


def test_rate_and_percentile_columns_roundtrip_and_stay_small():
    rng = np.random.default_rng(11)
    n = 3600 * 6
    ts = np.arange(n, dtype=np.int64) * 10_000_000_000
    vals = np.cumsum(rng.integers(0, 50, n)).astype(float)  # a counter
    methods = ("rate:mean", "rate:sum", "rate:count", "rate:std", "rate:max", "median", "95pct", "last")
    keys, cols = aggregate_series(ts, vals, G, methods)
    s = Split(G, keys, cols, key=0)
    roundtrip(s)
    assert bytes_per_point(s) < 2.0


# --- vectorised helpers equal the plain numpy formulas they replace ----------------------------------

@settings(max_examples=200, deadline=None)
@given(st.lists(st.integers(-(2**63), 2**63 - 1), max_size=50), st.integers(-(2**40), 2**40))
def test_delta_equals_np_diff_with_prepend(xs, first):
    x = np.array(xs, dtype=np.int64)
    with np.errstate(over="ignore"):
        expected = np.diff(x, prepend=np.int64(first))
    assert np.array_equal(codec._delta(x, first), expected)


@settings(max_examples=200, deadline=None)
@given(st.lists(st.integers(0, 2**64 - 1), max_size=50))
def test_cost_equals_searchsorted_formula(xs):
    z = np.array(xs, dtype=np.uint64)
    expected = int(np.searchsorted(codec._BYTE_LIMITS, z, side="right").sum()) + z.size
    assert codec._cost(z) == expected


@settings(max_examples=200, deadline=None)
@given(st.lists(st.floats(allow_nan=True, allow_infinity=True), max_size=50))
def test_xor_delta_and_float_round_trip(xs):
    v = np.array(xs, dtype=np.float64)
    bits = v.view(np.uint64)
    expected = bits ^ np.concatenate((np.zeros(1, dtype=np.uint64), bits[:-1]))
    assert np.array_equal(codec._xor_delta(v), expected)


def test_negative_zero_and_tiny_negatives_round_trip_bit_exact():
    vals = np.array([-0.0, -0.04, 0.04, -0.0, 0.0, -1e-300, -0.4, -0.05] * 20)
    ts = np.arange(vals.size, dtype=np.int64) * 10**9
    t2, v2 = codec.decode_raw(codec.encode_raw(ts, vals))
    assert np.array_equal(t2, ts)
    assert np.array_equal(v2.view(np.uint64), vals.view(np.uint64))
    g = 10**9
    _, cols = codec.decode_block(codec.encode_block(g, 0, ts, {"min": vals, "max": vals}), g, 0)
    assert np.array_equal(cols["min"].view(np.uint64), vals.view(np.uint64))
