"""Batches column-wise (incoming.base.Columns): built from a mapping or directly, cut per sack, merged."""

import uuid

import numpy as np
import pytest

from telescale.incoming.base import Columns


def _ids(n: int, sacks: int) -> list[uuid.UUID]:
    """n metric ids spread over every sack."""
    out: list[uuid.UUID] = []
    while len(out) < n:
        mid = uuid.uuid4()
        if mid.int % sacks == len(out) % sacks:
            out.append(mid)
    return out


def test_from_mapping_drops_empty_metrics_and_checks_lengths():
    a, b = uuid.uuid4(), uuid.uuid4()
    cols = Columns.from_mapping({a: ([3, 1], [0.3, 0.1]), b: ([], [])})
    assert cols.ids == [a] and cols.counts.tolist() == [2] and cols.timestamps.dtype == np.int64
    assert len(Columns.from_mapping({b: ([], [])})) == 0
    with pytest.raises(ValueError, match="differ in length"):
        Columns.from_mapping({a: ([1, 2], [1.0])})


def test_by_sack_keeps_each_metrics_runs_in_order():
    ids = _ids(12, 4)
    first = Columns.from_mapping({m: (np.arange(i + 1) + 100 * i, np.arange(i + 1) * 1.0) for i, m in enumerate(ids)})
    second = Columns.from_mapping({ids[5]: ([999], [9.0]), ids[0]: ([998], [8.0])})
    merged = Columns.concat([first, Columns.empty(), second])
    groups = merged.by_sack(4)
    assert sorted(groups) == [0, 1, 2, 3]
    for sack, cols in groups.items():
        assert all(m.int % 4 == sack for m in cols.ids)
        assert int(cols.counts.sum()) == len(cols)
    back = {}
    for cols in groups.values():
        back.update(cols.to_mapping())
    assert back[ids[5]][0].tolist() == [500, 501, 502, 503, 504, 505, 999]
    assert back[ids[0]][0].tolist() == [0, 998]
    assert back[ids[11]][1].tolist() == list(range(12))


def test_one_sack_is_not_copied():
    ids = _ids(3, 1)
    cols = Columns.from_mapping({m: ([1, 2], [1.0, 2.0]) for m in ids})
    (only,) = cols.by_sack(1).values()
    assert only is cols
