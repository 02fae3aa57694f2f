"""The two front ends of the resource search language: JSON bodies and ``filter=`` strings."""

from __future__ import annotations

import pytest

from telescale.indexer.search import (
    And,
    Comparison,
    InvalidSearch,
    MatchAll,
    Not,
    Or,
    parse_json_filter,
    parse_string_filter,
    to_json,
)

U1 = "faef212f-0bf4-4030-a461-2186fef79be0"
U2 = "df7e5e75-6a1d-4ff7-85cb-38eb9d75da7e"


def eq(attribute, value):
    return Comparison("=", attribute, value)


# --- JSON form ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("op", "canonical"),
    [
        ("=", "="), ("==", "="), ("eq", "="), ("<", "<"), ("lt", "<"), (">", ">"), ("gt", ">"),
        ("<=", "<="), ("le", "<="), ("≤", "<="), (">=", ">="), ("ge", ">="), ("≥", ">="),
        ("!=", "!="), ("ne", "!="), ("≠", "!="),
    ],
)  # fmt: skip
def test_json_comparison_operators(op, canonical):
    assert parse_json_filter({op: {"host": "a"}}) == Comparison(canonical, "host", "a")


def test_json_boolean_operators_flatten():
    tree = parse_json_filter({"and": [{"=": {"a": 1}}, {"∧": [{"=": {"b": 2}}, {"=": {"c": 3}}]}]})
    assert tree == And((eq("a", 1), eq("b", 2), eq("c", 3)))
    tree = parse_json_filter({"∨": [{"=": {"a": 1}}, {"not": {"like": {"n": "x%"}}}]})
    assert tree == Or((eq("a", 1), Not(Comparison("like", "n", "x%"))))


def test_json_in_and_empty():
    assert parse_json_filter({"in": {"id": [U1, U2]}}) == Comparison("in", "id", (U1, U2))
    assert parse_json_filter({}) == MatchAll()
    assert parse_json_filter(None) == MatchAll()


def test_to_json_round_trips():
    body = {"or": [{"=": {"a": None}}, {"not": {"in": {"b": [1, 2.5, True]}}}, {"like": {"c": "x%"}}]}
    assert to_json(parse_json_filter(body)) == body
    assert parse_json_filter(to_json(parse_json_filter(body))) == parse_json_filter(body)


@pytest.mark.parametrize(
    ("body", "reason", "detail"),
    [
        ({"and": {"project_id": "foobar"}}, "expected a list for dictionary value @ data['and']", ["and"]),
        ({"like": {"id": "fa%"}}, "value must not be one of ['id'] @ data['like']['id']", ["like", "id"]),
        ({"like": {"id": ["fa%"]}}, "value must not be one of ['id'] @ data['like']['id']", ["like", "id"]),
        ({"ne": {"project_id": ["foobar"]}}, "expected str for dictionary value @ data['ne']['project_id']",
         ["ne", "project_id"]),
        ({"not": [{"project_id": "foobar"}]}, "expected a dictionary for dictionary value @ data['not']", ["not"]),
        ({"in": {"id": []}}, "length of value must be at least 1 for dictionary value @ data['in']['id']",
         ["in", "id"]),
        ({"in": {}}, "length of value must be at least 1 for dictionary value @ data['in']", ["in"]),
        ({"and": []}, "length of value must be at least 1 for dictionary value @ data['and']", ["and"]),
        ({"in": {"and": [{"or": []}]}}, "expected str for dictionary value @ data['in']['and'][0]",
             ["in", "and", "0"]),
        ({"foo": {"a": 1}}, "extra keys not allowed @ data['foo']", ["foo"]),
        ({"=": {"a": 1, "b": 2}}, "length of value must be at most 1 for dictionary value @ data['=']", ["="]),
        ({"and": [{"=": {"a": 1}}, {"=": {"b": {"x": 1}}}]},
         "expected str for dictionary value @ data['and'][1]['=']['b']", ["and", "1", "=", "b"]),
        ({"=": {"id": 5}}, "expected str for dictionary value @ data['=']['id']", ["=", "id"]),
    ],
)  # fmt: skip
def test_json_schema_errors_use_voluptuous_wording(body, reason, detail):
    with pytest.raises(InvalidSearch) as info:
        parse_json_filter(body)
    assert str(info.value) == reason
    assert info.value.kind == "schema"
    assert info.value.description == {"cause": "Invalid input", "reason": reason, "detail": detail}


def test_json_not_a_dict():
    with pytest.raises(InvalidSearch, match="expected a dictionary"):
        parse_json_filter([{"=": {"a": 1}}])
    with pytest.raises(InvalidSearch, match="length of value must be at most 1"):
        parse_json_filter({"=": {"a": 1}, "ne": {"b": 1}})


# --- string form -------------------------------------------------------------------------------------


def test_string_issue_example():
    tree = parse_string_filter('host = "compute1" and (ended_at = null or ended_at > "2026-01-01")')
    assert tree == And((eq("host", "compute1"), Or((eq("ended_at", None), Comparison(">", "ended_at", "2026-01-01")))))


def test_string_not_in_list():
    assert parse_string_filter(f"not id in [{U1}, {U2}]") == Not(Comparison("in", "id", (U1, U2)))


def test_string_precedence_not_and_or():
    a, b, c = eq("a", 1), eq("b", 2), eq("c", 3)
    assert parse_string_filter("a = 1 or b = 2 and c = 3") == Or((a, And((b, c))))
    assert parse_string_filter("a = 1 and b = 2 or c = 3") == Or((And((a, b)), c))
    assert parse_string_filter("not a = 1 and b = 2") == And((Not(a), b))
    assert parse_string_filter("not (a = 1 and b = 2)") == Not(And((a, b)))
    assert parse_string_filter("not not a = 1") == Not(Not(a))
    assert parse_string_filter("(a = 1 or b = 2) and c = 3") == And((Or((a, b)), c))
    assert parse_string_filter("a = 1 ∧ b = 2 ∨ c = 3") == Or((And((a, b)), c))
    assert parse_string_filter("((a = 1))") == a
    assert parse_string_filter("a = 1 and b = 2 and c = 3") == And((a, b, c))


@pytest.mark.parametrize(
    ("text", "op"),
    [
        ("x = 1", "="), ("x eq 1", "="), ("x != 1", "!="), ("x ne 1", "!="), ("x ≠ 1", "!="),
        ("x < 1", "<"), ("x lt 1", "<"), ("x > 1", ">"), ("x gt 1", ">"), ("x <= 1", "<="),
        ("x le 1", "<="), ("x ≤ 1", "<="), ("x >= 1", ">="), ("x ge 1", ">="), ("x ≥ 1", ">="), ("x>=1", ">="),
    ],
)  # fmt: skip
def test_string_operators(text, op):
    assert parse_string_filter(text) == Comparison(op, "x", 1)


@pytest.mark.parametrize(
    ("literal", "value"),
    [
        ("null", None), ("None", None), ("none", None), ("true", True), ("True", True), ("false", False),
        ("False", False), ("42", 42), ("-7", -7), ("+3", 3), ("2.5", 2.5), ("1e3", 1000.0), ("3.", 3.0),
        (U1, U1), (U1.replace("-", ""), U1.replace("-", "")), ("compute1", "compute1"),
        ('"two words"', "two words"), ("'single'", "single"), ('"a \\" quote"', 'a " quote'),
        ("'it\\'s'", "it's"), ('"back\\\\slash"', "back\\slash"), ('"and"', "and"), ('""', ""),
        ('"héllo ✓"', "héllo ✓"), ('"x%"', "x%"),
    ],
)  # fmt: skip
def test_string_literals(literal, value):
    tree = parse_string_filter(f"attr = {literal}")
    assert tree == eq("attr", value)
    assert type(tree.value) is type(value)


def test_string_lists_and_like():
    assert parse_string_filter('n in [1, 2.5, null, "x"]') == Comparison("in", "n", (1, 2.5, None, "x"))
    assert parse_string_filter('name like "x%"') == Comparison("like", "name", "x%")
    assert parse_string_filter('"odd name" = 1') == eq("odd name", 1)


def test_string_whitespace_and_unicode_operators():
    assert parse_string_filter("  a=1∧b≠2  ") == And((eq("a", 1), Comparison("!=", "b", 2)))
    assert parse_string_filter("a = 1\n or\tb = 2") == Or((eq("a", 1), eq("b", 2)))


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("id == foobar", "Invalid filter: Expected '=' or 'eq' ('==' is not part of the string form), found '=='"
         " (at char 3), (line:1, col:4)"),
        ("a = ", "found end of text (at char 4), (line:1, col:5)"),
        ('a = "x', "Expected closing quote \", found an unterminated string (at char 4)"),
        ("(a = 1", "Expected ')', found end of text (at char 6)"),
        ("a = 1 b = 2", "Expected 'and', 'or' or end of text, found 'b' (at char 6)"),
        ("a = 1 and", "found end of text (at char 9)"),
        ("not", "found end of text (at char 3)"),
        ("a 1", "Expected a comparison operator"),
        ("= 1", "Expected an attribute name, 'not' or '(', found '=' (at char 0)"),
        ("a = [1, 2", "Expected ',' or ']', found end of text (at char 9)"),
        ("a = x!y", "found '!' (at char 5)"),
        ("a = 1.2.3", "found '1.2.3' (at char 4)"),
        ("a = 1\nand b ! 2", "(at char 12), (line:2, col:7)"),
        ("", "found end of text (at char 0)"),
        ("a = 1)", "found ')' (at char 5)"),
    ],
)  # fmt: skip
def test_string_syntax_errors_have_position(text, message):
    with pytest.raises(InvalidSearch) as info:
        parse_string_filter(text)
    assert str(info.value).startswith("Invalid filter: Expected")
    assert message in str(info.value)
    assert info.value.kind == "syntax"
    assert info.value.description == str(info.value)


def test_string_form_is_validated_like_json():
    with pytest.raises(InvalidSearch, match=r"length of value must be at least 1") as info:
        parse_string_filter("id in []")
    assert info.value.path == ("in", "id")
    with pytest.raises(InvalidSearch, match=r"value must not be one of \['id'\]"):
        parse_string_filter('id like "fa%"')
    with pytest.raises(InvalidSearch, match=r"expected str for dictionary value @ data\['ne'\]\['project_id'\]"):
        parse_string_filter("project_id ne [foobar]")
    with pytest.raises(InvalidSearch, match=r"expected a list for dictionary value @ data\['in'\]\['a'\]"):
        parse_string_filter("a in 1")
