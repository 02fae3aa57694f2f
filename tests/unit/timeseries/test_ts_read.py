"""select bounds, retention, resample and calendar resample against Gnocchi's expected values."""

import numpy as np
import pytest

from telescale.timeseries import (
    AggregatedBlock,
    PolicyItem,
    Split,
    calendar_resample,
    partition,
    resample,
    retention_cutoff,
    select,
    split_key,
)
from telescale.timeseries.split import POINTS_PER_SPLIT, expired_split_keys

S = 1_000_000_000


def ns(s: str) -> int:
    return int(np.datetime64(s, "ns").astype(np.int64))


def iso(ts) -> list[str]:
    return [str(t)[:19] for t in np.asarray(ts).astype("datetime64[ns]")]


def test_split_key_and_partition():
    g = 10
    assert split_key(0, g) == 0
    assert split_key(g * POINTS_PER_SPLIT - 1, g) == 0
    assert split_key(g * POINTS_PER_SPLIT, g) == g * POINTS_PER_SPLIT
    assert split_key(-1, g) == -g * POINTS_PER_SPLIT
    arr = split_key(np.array([5, 36000, 72001]), g)
    assert arr.tolist() == [0, 36000, 72000]
    blk = AggregatedBlock(g, np.array([0, 10, 35990, 36000, 80000]), {"m": np.arange(5.0)})
    parts = partition(blk)
    assert sorted(parts) == [0, 36000, 72000]
    assert parts[36000].timestamps.tolist() == [36000]
    assert parts[0].columns["m"].tolist() == [0.0, 1.0, 2.0]
    assert partition(AggregatedBlock(g, np.array([], dtype=np.int64), {})) == {}


def test_split_merge_and_truncate():
    s = Split(10, np.array([0, 10, 20]), {"a": np.array([1.0, 2.0, 3.0]), "b": np.array([np.nan, 5.0, 6.0])}, key=0)
    u = AggregatedBlock(10, np.array([10, 30]), {"a": np.array([9.0, 8.0]), "c": np.array([1.0, 2.0])})
    m = s.merge(u)
    assert m.key == 0 and m.timestamps.tolist() == [0, 10, 20, 30]
    assert m.columns["a"].tolist() == [1.0, 9.0, 3.0, 8.0]
    np.testing.assert_array_equal(m.columns["b"], [np.nan, np.nan, 6.0, np.nan])  # bucket 10 replaced whole
    np.testing.assert_array_equal(m.columns["c"], [np.nan, 1.0, np.nan, 2.0])
    t = m.truncate(20)
    assert t.timestamps.tolist() == [20, 30] and t.columns["a"].tolist() == [3.0, 8.0]
    assert m.truncate(100).timestamps.size == 0
    with pytest.raises(ValueError):
        s.merge(AggregatedBlock(5, np.array([0]), {"a": np.array([1.0])}))


def test_select_bounds():
    g = 300 * S
    ts = np.array([ns("2015-03-06T14:30:00"), ns("2015-03-06T14:35:00"), ns("2015-03-06T14:40:00")])
    s = Split(g, ts, {"mean": np.array([1.0, np.nan, 3.0])}, key=int(split_key(int(ts[0]), g)))
    # start is floored to the granularity (14:33:57 -> 14:30 bucket), stop is exclusive
    t, v = select([s], "mean", start=ns("2015-03-06T14:33:57"), stop=ns("2015-03-06T14:40:00"))
    assert iso(t) == ["2015-03-06T14:30:00"] and v.tolist() == [1.0]
    t, v = select([s], "mean")
    assert v.tolist() == [1.0, 3.0]  # NaN dropped
    t, v = select([s], "mean", start=ns("2015-03-06T14:40:00"))
    assert v.tolist() == [3.0]
    assert select([s], "max")[0].size == 0
    assert select([], "mean")[0].size == 0


def test_select_across_splits_in_any_order():
    g = 1
    blk = AggregatedBlock(g, np.array([1, 3599, 3600, 7300]), {"m": np.array([1.0, 2.0, 3.0, 4.0])})
    splits = [Split.from_block(b, k) for k, b in partition(blk).items()][::-1]
    t, v = select(splits, "m", start=2, stop=7300)
    assert t.tolist() == [3599, 3600] and v.tolist() == [2.0, 3.0]


def test_retention_cutoff_keeps_points_buckets():
    item = PolicyItem(10, 3)
    assert retention_cutoff(item, 105) == 80  # buckets 80, 90, 100
    assert retention_cutoff(item, 100) == 80
    assert retention_cutoff(PolicyItem(10), 105) is None
    item = PolicyItem(1, 10)
    span = POINTS_PER_SPLIT
    keys = [0, span, 2 * span]
    assert expired_split_keys(keys, item, 2 * span + 5) == [0]
    assert expired_split_keys(keys, item, 2 * span + 20) == [0, span]
    assert expired_split_keys(keys, PolicyItem(1), 10**9) == []


def test_resample_metric_yaml():
    # metric.yaml: 1 s points resampled to 60 s with mean
    ts = np.array([ns(x) for x in ("2015-03-06T14:33:57", "2015-03-06T14:34:12", "2015-03-06T14:34:15",
                                   "2015-03-06T14:35:12", "2015-03-06T14:35:15")])
    vals = np.array([43.1, 12.0, 16.0, 9.0, 11.0])
    t, v = resample(ts, vals, 60 * S, "mean")
    assert iso(t) == ["2015-03-06T14:33:00", "2015-03-06T14:34:00", "2015-03-06T14:35:00"]
    assert v.tolist() == [43.1, 14.0, 10.0]
    t, v = resample(ts, vals, 60 * S, "std")
    assert iso(t) == ["2015-03-06T14:34:00", "2015-03-06T14:35:00"]  # one point: no std
    t, v = resample(ts, vals, 60 * S, "rate:last")
    assert v.tolist() == [4.0, 2.0]


CAL_TS = np.array([ns(x) for x in ("2015-03-01T00:00", "2015-03-06T00:00", "2015-04-01T00:00",
                                   "2015-04-06T00:00", "2015-10-06T00:00", "2016-01-06T00:00",
                                   "2016-02-06T00:00")])
CAL_VALS = np.array([10.0, 12.0, 2.0, 4.0, 7.0, 12.0, 4.0])


@pytest.mark.parametrize("unit, expected", [
    ("Y", [("2015-01-01", 7.0), ("2016-01-01", 8.0)]),
    ("H", [("2015-01-01", 7.0), ("2015-07-01", 7.0), ("2016-01-01", 8.0)]),
    ("Q", [("2015-01-01", 11.0), ("2015-04-01", 3.0), ("2015-10-01", 7.0), ("2016-01-01", 8.0)]),
    ("M", [("2015-03-01", 11.0), ("2015-04-01", 3.0), ("2015-10-01", 7.0), ("2016-01-01", 12.0),
           ("2016-02-01", 4.0)]),
    ("W", [("2015-03-01", 11.0), ("2015-03-29", 2.0), ("2015-04-05", 4.0), ("2015-10-04", 7.0),
           ("2016-01-03", 12.0), ("2016-01-31", 4.0)]),
])
def test_calendar_resample_gabbi(unit, expected):
    t, v = calendar_resample(CAL_TS, CAL_VALS, unit, "mean")
    assert [x[:10] for x in iso(t)] == [e[0] for e in expected]
    assert v.tolist() == [e[1] for e in expected]


def test_calendar_resample_errors_and_before_epoch():
    with pytest.raises(ValueError):
        calendar_resample(CAL_TS, CAL_VALS, "D", "mean")
    with pytest.raises(ValueError):
        calendar_resample(CAL_TS, CAL_VALS, "Y", "rate:mean")
    t, _ = calendar_resample(np.array([ns("1969-12-31T12:00")]), np.array([1.0]), "W", "max")
    assert iso(t) == ["1969-12-28T00:00:00"]  # a Sunday
    t, _ = calendar_resample(np.array([ns("1969-08-31T12:00")]), np.array([1.0]), "H", "max")
    assert iso(t) == ["1969-07-01T00:00:00"]
