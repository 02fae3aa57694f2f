import pytest

from telescale.timeseries import (
    ALL_METHODS,
    BASIC_METHODS,
    DEFAULT_AGGREGATION_METHODS,
    ArchivePolicy,
    PolicyError,
    PolicyItem,
    default_archive_policies,
    is_valid_method,
    resolve_methods,
)

S = 1_000_000_000
H = 3600 * S
D = 24 * H


def test_basic_methods():
    assert {"mean", "min", "max", "sum", "count", "std", "median", "first", "last"} <= set(BASIC_METHODS)
    assert "1pct" in BASIC_METHODS and "99pct" in BASIC_METHODS and "100pct" not in BASIC_METHODS
    assert len(BASIC_METHODS) == 9 + 99
    assert is_valid_method("rate:95pct") and is_valid_method("median")
    assert not is_valid_method("wtf") and not is_valid_method("rate:rate:mean")
    assert not is_valid_method("0pct")


def test_resolve_methods():
    assert resolve_methods(None) == tuple(sorted(DEFAULT_AGGREGATION_METHODS))
    assert resolve_methods([]) == tuple(sorted(DEFAULT_AGGREGATION_METHODS))
    assert resolve_methods(["rate:mean", "rate:last"]) == ("rate:last", "rate:mean")
    assert resolve_methods(["-std", "+median"]) == ("count", "max", "mean", "median", "min", "sum")
    assert resolve_methods(["last", "+max", "-last"]) == ("max",)
    star = resolve_methods(["*"])
    assert set(star) == set(ALL_METHODS) and "rate:mean" in star  # Gnocchi's * includes rate:
    assert "std" not in resolve_methods(["*", "-std"])
    assert resolve_methods(["mean", "mean"]) == ("mean",)
    with pytest.raises(PolicyError):
        resolve_methods(["wtf"])
    with pytest.raises(PolicyError):
        resolve_methods(["+wtf"])


def test_item_build_two_of_three():
    item = PolicyItem.build(points=1000, timespan=H)
    assert item.granularity == 3_600_000_000 and item.points == 1000 and item.timespan == H
    item = PolicyItem.build(granularity=7 * S, timespan=H)
    assert item.points == 514 and item.timespan == (59 * 60 + 58) * S
    item = PolicyItem.build(granularity=10 * S, points=20)
    assert item.timespan == 200 * S
    forever = PolicyItem.build(granularity=2 * S)
    assert forever.points is None and forever.timespan is None
    assert PolicyItem.build(granularity=S, points=60, timespan=60 * S).points == 60


@pytest.mark.parametrize("kwargs, message", [
    ({"granularity": S, "points": 60, "timespan": 61 * S}, "timespan ≠ granularity × points"),
    ({"granularity": S, "points": 50, "timespan": H}, "timespan ≠ granularity × points"),
    ({"granularity": 2 * H, "timespan": H}, None),
    ({"granularity": 0, "points": 60}, None),
    ({"granularity": 10 * S, "points": 0}, None),
    ({"points": 10}, None),
    ({"timespan": H}, None),
    ({}, None),
])
def test_item_build_errors(kwargs, message):
    with pytest.raises(PolicyError) as exc:
        PolicyItem.build(**kwargs)
    if message:
        assert str(exc.value) == message


def test_policy_duplicate_granularity():
    with pytest.raises(PolicyError) as exc:
        ArchivePolicy("complex", 0, (PolicyItem(S, 60), PolicyItem(S, 120)), ("mean",))
    assert str(exc.value) == "More than one archive policy uses granularity `1.0'"


def test_policy_properties_keep_order():
    p = ArchivePolicy("p", 1, (PolicyItem(S, 20), PolicyItem(2 * S)), resolve_methods(None))
    assert p.granularities == (S, 2 * S)
    assert p.max_block_size == 2 * S
    assert not p.has_rate
    with pytest.raises(PolicyError):
        ArchivePolicy("p", -1, (PolicyItem(S),), ("mean",))
    with pytest.raises(PolicyError):
        ArchivePolicy("p", 0, (PolicyItem(S),), ("wtf",))
    with pytest.raises(PolicyError):
        ArchivePolicy("p", 0, (), ("mean",))


def test_check_update():
    p = ArchivePolicy("medium", 0, (PolicyItem(S, 20), PolicyItem(2 * S)), ("mean",))
    p.check_update([PolicyItem(S, 50), PolicyItem(2 * S)])
    p.check_update([PolicyItem(2 * S, 5), PolicyItem(S, 50)])  # order does not matter
    with pytest.raises(PolicyError) as exc:
        p.check_update([PolicyItem(S, 50)])
    assert str(exc.value) == "Cannot add or drop granularities"
    with pytest.raises(PolicyError) as exc:
        p.check_update([PolicyItem(5 * S, 20), PolicyItem(2 * S)])
    assert str(exc.value) == "1.0 granularity interval was changed"


def test_default_policies():
    pols = {p.name: p for p in default_archive_policies()}
    assert list(pols) == ["bool", "low", "medium", "high"]
    assert pols["bool"].back_window == 3600 and pols["bool"].aggregation_methods == ("last",)
    assert pols["bool"].definition == (PolicyItem(S, 365 * 86400),)
    assert pols["low"].definition == (PolicyItem(300 * S, 8640),)
    assert pols["medium"].definition == (PolicyItem(60 * S, 10080), PolicyItem(H, 8760))
    assert pols["high"].definition == (PolicyItem(S, 3600), PolicyItem(60 * S, 10080), PolicyItem(H, 8760))
    for name in ("low", "medium", "high"):
        assert pols[name].back_window == 0
        assert set(pols[name].aggregation_methods) == set(DEFAULT_AGGREGATION_METHODS)
    assert pols["high"].definition[0].timespan == H
    assert pols["medium"].definition[1].timespan == 365 * D
