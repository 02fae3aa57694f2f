"""The value-search predicate language: every operator, nesting, truthiness, and the errors for bad trees."""

from __future__ import annotations

import numpy as np
import pytest

from telescale.query.value_search import MAX_DEPTH, MAX_NODES, InvalidQuery, parse

VALUES = np.array([-2.0, -1.0, 0.0, 1.0, 2.0, 3.0, 4.0, 12.0, 12.5])


def matches(query: object, values: np.ndarray = VALUES) -> list[float]:
    return values[parse(query).mask(values)].tolist()


@pytest.mark.parametrize(("operators", "operand", "expected"), [
    (("=", "==", "eq"), 12, [12.0]),
    (("<", "lt"), 0, [-2.0, -1.0]),
    ((">", "gt"), 4, [12.0, 12.5]),
    (("<=", "≤", "le"), 0, [-2.0, -1.0, 0.0]),
    ((">=", "≥", "ge"), 12, [12.0, 12.5]),
    (("!=", "≠", "ne"), 0, [-2.0, -1.0, 1.0, 2.0, 3.0, 4.0, 12.0, 12.5]),
])
def test_comparisons_with_every_spelling(operators: tuple[str, ...], operand: float, expected: list[float]) -> None:
    for op in operators:
        assert matches({op: operand}) == expected, op


@pytest.mark.parametrize(("operators", "operand", "per_value"), [
    (("+", "add"), 1, lambda v: v + 1),
    (("-", "sub"), 1, lambda v: v - 1),
    (("*", "×", "mul"), 2, lambda v: v * 2),
    (("/", "÷", "div"), 2, lambda v: v / 2),
    (("**", "^", "pow"), 2, lambda v: v**2),
    (("%", "mod"), 3, lambda v: v % 3),
])
def test_arithmetic_is_compared_through_a_pair(operators: tuple[str, ...], operand: float, per_value) -> None:
    for op in operators:
        query = {"=": [{op: operand}, 4]}
        assert matches(query) == [v for v in VALUES.tolist() if per_value(v) == 4], op


def test_modulo_follows_python_sign_rules() -> None:
    assert matches({"=": [{"%": 3}, 1]}) == [-2.0, 1.0, 4.0]


def test_arithmetic_alone_matches_when_not_zero() -> None:
    assert matches({"-": 12}) == [v for v in VALUES.tolist() if v != 12]
    assert matches({"*": 0}) == []


def test_pair_of_constants_matches_everything_or_nothing() -> None:
    assert matches({"<": [1, 2]}) == VALUES.tolist()
    assert matches({">": [1, 2]}) == []


def test_nested_arithmetic_on_both_sides() -> None:
    # (v * 2) > (v + 3)  <=>  v > 3
    assert matches({">": [{"*": 2}, {"+": 3}]}) == [4.0, 12.0, 12.5]
    # ((v + 1) * 2) = 6
    assert matches({"=": [{"*": [{"+": 1}, 2]}, 6]}) == [2.0]


@pytest.mark.parametrize("and_", ["and", "∧"])
@pytest.mark.parametrize("or_", ["or", "∨"])
def test_logical_operators(and_: str, or_: str) -> None:
    assert matches({and_: [{">": 0}, {"<": 4}]}) == [1.0, 2.0, 3.0]
    assert matches({or_: [{"<": -1}, {">": 12}]}) == [-2.0, 12.5]
    assert matches({and_: [{or_: [{"=": 1}, {"=": 12}]}, {">": 5}]}) == [12.0]


@pytest.mark.parametrize("not_", ["not", "¬"])
def test_not(not_: str) -> None:
    assert matches({not_: [{">=": 0}]}) == [-2.0, -1.0]
    assert matches({"and": [{not_: [{"=": 12}]}, {">": 4}]}) == [12.5]


def test_empty_and_matches_all_and_empty_or_none() -> None:
    assert matches({"and": []}) == VALUES.tolist()
    assert matches({"or": []}) == []


def test_comparisons_as_arithmetic_operands_count_as_zero_or_one() -> None:
    # (v > 1) - (v < 3) is 0, so no match, only for 1 < v < 3
    assert matches({"-": [{">": 1}, {"<": 3}]}) == [-2.0, -1.0, 0.0, 1.0, 3.0, 4.0, 12.0, 12.5]
    assert matches({"=": [{"+": [{">": 0}, {">": 2}]}, 2]}) == [3.0, 4.0, 12.0, 12.5]


def test_division_by_zero_and_overflow_do_not_raise() -> None:
    assert matches({">": [{"/": 0}, 1e308]}) == [1.0, 2.0, 3.0, 4.0, 12.0, 12.5]  # +inf
    assert matches({"=": [{"**": 10000}, 0]}) == [0.0]
    assert matches({"=": [{"%": 0}, 0]}) == []  # NaN never equals
    assert matches({">": [{"**": 0.5}, 1]}) == [2.0, 3.0, 4.0, 12.0, 12.5]  # negative bases: NaN


def test_huge_integers_compare_as_infinities() -> None:
    assert matches({"<": 10**400}) == VALUES.tolist()
    assert matches({">": -(10**400)}) == VALUES.tolist()
    assert matches({"=": 10**400}) == []


def test_booleans_are_numbers_as_in_gnocchi() -> None:
    assert matches({"=": True}) == [1.0]


def test_empty_series_and_select() -> None:
    predicate = parse({">": 1})
    assert parse({"=": [1, 1]}).mask(np.empty(0)).shape == (0,)
    ts = np.arange(VALUES.size, dtype=np.int64)
    kept_ts, kept = predicate.select(ts, VALUES)
    assert kept_ts.tolist() == [4, 5, 6, 7, 8] and kept.tolist() == [2.0, 3.0, 4.0, 12.0, 12.5]


def test_mask_is_vectorised_over_large_series() -> None:
    values = np.arange(1_000_000, dtype=np.float64)
    mask = parse({"and": [{">=": 10}, {"<": 20}, {"=": [{"%": 2}, 0]}]}).mask(values)
    assert values[mask].tolist() == [10.0, 12.0, 14.0, 16.0, 18.0]


@pytest.mark.parametrize(("query", "reason", "path"), [
    ({}, "expected an object with exactly one operator, got 0 keys", []),
    ({"=": 1, ">": 2}, "expected an object with exactly one operator, got 2 keys", []),
    (3, "expected an object with exactly one operator, got int", []),
    ([{"=": 1}], "expected an object with exactly one operator, got list", []),
    ("= 1", "expected an object with exactly one operator, got str", []),
    ({"foo": 1}, "Unknown operator foo", ["foo"]),
    ({"=": "12"}, "expected a number or a list of two operands, got str", ["="]),
    ({"=": None}, "expected a number or a list of two operands, got null", ["="]),
    ({"=": {"+": 1}}, "expected a number or a list of two operands, got dict", ["="]),
    ({"=": [1]}, "Binary operator = needs 2 arguments, 1 given", ["="]),
    ({"=": [1, 2, 3]}, "Binary operator = needs 2 arguments, 3 given", ["="]),
    ({"=": [{"+": "x"}, 1]}, "expected a number or a list of two operands, got str", ["=", "0", "+"]),
    ({"=": [{"and": []}, 1]}, "'and' cannot be used as an operand, only at the top or in and/or/not",
     ["=", "0", "and"]),
    ({"and": {"=": 1}}, "expected a list of conditions", ["and"]),
    ({"and": [{"=": 1}, 5]}, "expected an object with exactly one operator, got int", ["and", "1"]),
    ({"or": [{"and": [{"<": "a"}]}]}, "expected a number or a list of two operands, got str",
     ["or", "0", "and", "0", "<"]),
    ({"not": []}, "'not' takes exactly 1 condition, 0 given", ["not"]),
    ({"¬": [{"=": 1}, {"=": 2}]}, "'not' takes exactly 1 condition, 2 given", ["¬"]),
])
def test_invalid_queries_say_what_and_where(query: object, reason: str, path: list[str]) -> None:
    with pytest.raises(InvalidQuery) as e:
        parse(query)
    assert (e.value.reason, e.value.path) == (reason, path)


def test_depth_and_size_are_bounded() -> None:
    deep: dict = {"=": 1}
    for _ in range(MAX_DEPTH):
        deep = {"not": [deep]}
    with pytest.raises(InvalidQuery, match="nested more than"):
        parse(deep)
    with pytest.raises(InvalidQuery, match="more than"):
        parse({"or": [{"=": i} for i in range(MAX_NODES)]})
    assert matches({"or": [{"=": i} for i in range(100)]}) == [0.0, 1.0, 2.0, 3.0, 4.0, 12.0]
