"""Remembered encoding choices (codec hints): a rewritten split reuses them, stays lossless and as small,
and searches again when the data no longer fits them."""

import numpy as np
import pytest

from telescale.timeseries import Split, aggregate_series, codec
from telescale.timeseries.policy import DEFAULT_AGGREGATION_METHODS

G = 60 * 1_000_000_000
KEY = 1_425_000_000 * 1_000_000_000 // (G * 3600) * (G * 3600)


def split_of(values: np.ndarray) -> Split:
    """A split aggregated from points every 10 s (6 per bucket), all default methods."""
    ts = KEY + np.arange(values.size, dtype=np.int64) * 10 * 1_000_000_000
    keys, columns = aggregate_series(ts, values, G, DEFAULT_AGGREGATION_METHODS)
    return Split(G, keys, columns, key=KEY)


def gauge(n: int, seed: int = 1) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return np.round(50 + 20 * np.sin(np.arange(n) / 60) + rng.normal(0, 2, n), 1)


def same(a: Split, b: Split) -> bool:
    return np.array_equal(a.timestamps, b.timestamps) and all(
        np.array_equal(a.columns[m], b.columns[m], equal_nan=True) for m in a.columns)


def test_growing_split_reuses_choices_losslessly_and_as_small(monkeypatch):
    values = gauge(6 * 1200)
    first = split_of(values[: 6 * 400])
    first.encode()
    hints = first.hints
    assert hints and {c.kind for c in hints.values()} <= {codec.K_DECIMAL, codec.K_SQRT_RATIO}

    searched = []
    real = codec._decimal_candidate
    monkeypatch.setattr(codec, "_decimal_candidate", lambda v, d: searched.append(d) or real(v, d))
    grown = first.merge(split_of(values))  # 3x the buckets: within the growth that keeps a choice
    data = grown.encode()
    assert grown.hints is hints
    decimal_columns = sum(c.kind == codec.K_DECIMAL for c in hints.values())
    assert len(searched) == decimal_columns  # one candidate per column: no search
    monkeypatch.setattr(codec, "_decimal_candidate", real)

    assert same(Split.decode(data, G, KEY), grown)
    unhinted = Split(G, grown.timestamps, grown.columns, key=KEY).encode()
    assert len(data) <= 1.05 * len(unhinted)


def test_data_that_no_longer_fits_is_searched_again():
    decimal = split_of(gauge(6 * 600))
    decimal.encode()
    before = decimal.hints["max"]
    assert before.kind == codec.K_DECIMAL
    rng = np.random.default_rng(7)
    noisy = Split(G, decimal.timestamps, {m: rng.random(c.size) * 1e6 for m, c in decimal.columns.items()},
                  key=KEY, hints=decimal.hints)
    data = noisy.encode()
    assert noisy.hints["max"] != before  # searched again: the remembered encoding grew too costly
    assert same(Split.decode(data, G, KEY), noisy)
    assert len(data) <= 1.05 * len(Split(G, noisy.timestamps, noisy.columns, key=KEY).encode())


@pytest.mark.parametrize("growth", [codec._REVISIT_GROWTH, 2 * codec._REVISIT_GROWTH])
def test_a_column_grown_many_times_over_is_searched_again(growth):
    small = split_of(gauge(6 * 20))
    small.encode()
    before = dict(small.hints)
    big = small.merge(split_of(gauge(6 * 20 * growth)))
    big.encode()
    assert all(big.hints[m].n > before[m].n for m in before)


def test_a_hint_for_another_kind_or_an_empty_column_is_harmless():
    s = split_of(gauge(6 * 100))
    s.hints = {m: codec.Choice(codec.K_SQRT_RATIO, 9, 10_000, 0.1) for m in s.columns}
    assert same(Split.decode(s.encode(), G, KEY), s)
    empty = Split(G, np.array([KEY]), {"mean": np.array([np.nan]), "std": np.array([np.nan])}, key=KEY,
                  hints={"mean": codec.Choice(codec.K_DECIMAL, 1, 5, 1.0)})
    assert same(Split.decode(empty.encode(), G, KEY), empty)
