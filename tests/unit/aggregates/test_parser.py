"""Operations: s-expressions and JSON lists give the same validated tree; errors name the wrong part."""

from __future__ import annotations

import pytest

from telescale.query.aggregates import parser
from telescale.query.aggregates.parser import Aggregation, Apply, Constant, MetricNode

NS = 1_000_000_000


def test_sexpr_and_list_forms_agree() -> None:
    text = "(* (aggregate mean (metric cpu.util mean)) 4)"
    as_list = ["*", ["aggregate", "mean", ["metric", "cpu.util", "mean"]], 4]
    expected = Apply("*", (Aggregation("aggregate", "mean", MetricNode((("cpu.util", "mean"),))), Constant(4.0)))
    assert parser.parse(text) == expected
    assert parser.parse(as_list) == expected


def test_metric_pairs_and_references_in_order_once() -> None:
    tree = parser.parse("(- (metric (a mean) (b max)) (metric (b max) (c mean)))")
    assert tree.operands[0] == MetricNode((("a", "mean"), ("b", "max")))
    assert parser.references(tree) == [("a", "mean"), ("b", "max"), ("c", "mean")]


def test_rolling_and_resample_arguments_are_coerced() -> None:
    assert parser.parse("(rolling rate:max 3 (metric a mean))") == Aggregation(
        "rolling", "rate:max", MetricNode((("a", "mean"),)), window=3)
    assert parser.parse(["resample", "90pct", "1 minute", ["metric", "a", "mean"]]) == Aggregation(
        "resample", "90pct", MetricNode((("a", "mean"),)), granularity=60 * NS)
    assert parser.parse("(resample last 60 (metric a mean))").granularity == 60 * NS


def test_quoted_atoms_and_trailing_text() -> None:
    # Gnocchi ignores what follows the first complete expression (an extra ')' in its own tests).
    assert parser.parse("(metric 'a b' mean)))") == MetricNode((("a b", "mean"),))


def test_clip_takes_two_or_three_operands() -> None:
    assert parser.parse("(clip (metric a mean) 1 5)").operands[1:] == (Constant(1.0), Constant(5.0))
    assert len(parser.parse("(clip (metric a mean) 1)").operands) == 2


@pytest.mark.parametrize("text", ["(metroc foo bar", "", "metric a mean", ")"])
def test_syntax_errors(text: str) -> None:
    with pytest.raises(parser.OperationsSyntaxError):
        parser.parse(text)


@pytest.mark.parametrize(("operations", "prefix", "explanation"), [
    ([], "Operation must not be empty", None),
    (["metric"], "Operation need at least one argument", None),
    ({"foo": "bar"}, "Expected a tuple/list, got a <class 'dict'>", None),
    ("(notexist (absolute (metric a mean)))", "'notexist' operation invalid", "unknown operator 'notexist'"),
    ("(rolling blah 2 (metric a mean))", "'rolling' operation invalid", "unknown aggregation method 'blah'"),
    ("(rolling mean (metric a mean))", "'rolling' operation invalid", "(rolling <method> <window> <operand>)"),
    ("(rolling mean 0 (metric a mean))", "'rolling' operation invalid", "invalid rolling window"),
    ("(resample mean invalid (metric a mean))", "'resample' operation invalid", "invalid resample granularity"),
    ("(resample var 60 (metric a mean))", "'resample' operation invalid", "unknown aggregation method 'var'"),
    ("(aggregate last (metric a mean))", "'aggregate' operation invalid", "unknown aggregation method 'last'"),
    ("(+ (metric a mean))", "'+' operation invalid", "(+ <operand> <operand>) expected"),
    ("(negative (+ (metric a mean) foo))", "'negative' operation invalid", "'foo' is neither a number"),
    ("(metric a)", "'metric' operation invalid", "'metric' takes"),
    (["metric", ["a", "mean"], "b"], "'metric' operation invalid", "'metric' takes"),
])
def test_validation_errors(operations, prefix: str, explanation: str | None) -> None:
    with pytest.raises(parser.OperationsError) as info:
        parser.parse(operations)
    text = str(info.value)
    assert text.startswith(f"{prefix} for dictionary value @ data['operations']")
    if explanation:
        assert explanation in text


def test_every_documented_operator_parses() -> None:
    binary = "= == eq < lt > gt <= ≤ le >= ≥ ge != ≠ ne % mod + add - sub * × mul / ÷ div ** ^ pow " \
             "clip_min clip_max max"
    for op in binary.split():
        assert parser.parse(f"({op} (metric a mean) 2)").op == op
    unary = "abs absolute neg negative cos sin tan floor ceil rateofchange rateofchangesec"
    for op in unary.split():
        assert parser.parse(f"({op} (metric a mean))").op == op
