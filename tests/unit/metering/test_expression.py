"""The configuration's arithmetic expressions: what they compute, what they refuse (and where), no eval."""

from __future__ import annotations

import pytest

from telescale.metering.expression import EvaluationError, ExpressionError, compile_expression


@pytest.mark.parametrize(("source", "variables", "expected"), [
    ("1 + 2 * 3", {}, 7.0),
    ("2 ** 10 // 3 % 7", {}, 5.0),
    ("-value / 4", {"value": 10}, -2.5),
    ("100.0 / (10**9 * (resource_metadata.cpu_number or 1))", {"resource_metadata": {}}, 1e-7),
    ("100.0 / (10**9 * (attributes.cpu_number or 1))", {"attributes": {"cpu_number": 4}}, 2.5e-8),
    ("max(0, min(value, 100))", {"value": 140}, 100.0),
    ("abs(value) if value < 0 else round(value, 1)", {"value": 1.26}, 1.3),
    ("1 < value <= 3 and 7 or 9", {"value": 2}, 7.0),
    ("not value and 5", {"value": 0}, 5.0),
])
def test_values(source, variables, expected):
    assert compile_expression(source)(variables) == pytest.approx(expected)


def test_meter_references_keep_error_columns():
    e = compile_expression("100 * $(memory.usage) / $(memory)", refs=True)
    assert set(e.refs.values()) == {"memory", "memory.usage"}
    placeholders = {name: p for p, name in e.refs.items()}
    assert e({placeholders["memory.usage"]: 512, placeholders["memory"]: 2048}) == 25.0
    with pytest.raises(ExpressionError, match="column 23"):
        compile_expression("100 * $(memory.usage) ^ $(memory)", refs=True)


@pytest.mark.parametrize(("source", "column", "what"), [
    ("__import__('os').system('true')", 1, "call __import__"),
    ("value.__class__", 1, "'__class__'"),
    ("(lambda: 1)()", 1, "call"),
    ("  [1, 2][0]", 3, "Subscript"),
    ("1 + 'a'", 5, "constant 'a'"),
    ("value @ 2", 7, "MatMult"),
    ("1 +", 4, "invalid syntax"),
    ("(1 + 2) ^ 3", 9, "BitXor"),
    ("min(*value)", 1, "positional"),
    ("$(cpu) * 2", 1, "references are not allowed"),
])
def test_refused_with_column(source, column, what):
    with pytest.raises(ExpressionError, match=f"column {column}") as caught:
        compile_expression(source)
    if what:
        assert what in str(caught.value)


def test_dotted_names_read_mapping_keys_only():
    """A missing key is None (so ``or`` gives a default); Python attributes of values are never read."""
    assert compile_expression("attributes.missing.deeper or 2")({"attributes": {}}) == 2.0
    assert compile_expression("value.real or 5")({"value": 3.0}) == 5.0


@pytest.mark.parametrize(("source", "variables"), [
    ("1 / value", {"value": 0}),
    ("value * 2", {}),
    ("10 ** 10 ** 10", {}),
    ("value > 1", {"value": 2}),
])
def test_evaluation_errors(source, variables):
    with pytest.raises(EvaluationError):
        compile_expression(source)(variables)


def test_empty_is_refused():
    with pytest.raises(ExpressionError, match="non-empty"):
        compile_expression("  ")
