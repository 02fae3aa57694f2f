"""Project scoping of PromQL queries on the syntax tree (Aodh's scope_to_project)."""

from __future__ import annotations

import promql_parser
import pytest

from telescale.alarming.rules.decision import RuleError
from telescale.alarming.rules.promql_scope import scope_to_project


@pytest.mark.parametrize(("query", "scoped"), [
    ("up", 'up{project="p1"}'),
    ('up{job="a"}', 'up{job="a",project="p1"}'),
    ('{__name__=~"node_.*"}', '{__name__=~"node_.*",project="p1"}'),
    ("rate(cpu[5m])", 'rate(cpu{project="p1"}[5m])'),
    ("sum by (host) (rate(cpu[5m])) / on (host) group_left mem",
     'sum by (host)(rate(cpu{project="p1"}[5m])) / on (host) group_left () mem{project="p1"}'),
    ("max_over_time(cpu[10m:1m] offset 1m)", 'max_over_time(cpu{project="p1"}[10m:1m] offset 1m)'),
    ("-cpu > bool 3", '-cpu{project="p1"} > bool 3'),
    ('label_replace(up, "a", "$1", "job", "(.*)")', 'label_replace(up{project="p1"}, "a", "$1", "job", "(.*)")'),
    ('count_values("v", up)', 'count_values("v", up{project="p1"})'),
    ("1 + 2", "1 + 2"),
    ("time()", "time()"),
])
def test_every_selector_gets_the_project_matcher(query, scoped):
    assert scope_to_project(query, "p1") == scoped


def test_the_label_name_is_configurable():
    assert scope_to_project("up", "p1", "tenant") == 'up{tenant="p1"}'


def test_a_matcher_on_another_project_stays_and_selects_nothing():
    assert scope_to_project('up{project="p2"}', "p1") == 'up{project="p2",project="p1"}'


def _strings(query: str) -> list[str]:
    """Every matcher value and string literal of a query, as the parser reads them."""
    found: list[str] = []

    def visit(node):
        if isinstance(node, promql_parser.VectorSelector):
            found.extend(m.value for m in node.matchers.matchers)
        elif isinstance(node, promql_parser.StringLiteral):
            found.append(node.val)

    promql_parser.walk(promql_parser.parse(query), visit)
    return found


@pytest.mark.parametrize(("query", "strings"), [
    (r'up{job="a\"b"}', ['a"b', "p1"]),
    (r'up{job=~"a\\.b"}', ["a\\.b", "p1"]),
    (r'up{job="line\nbreak"}', ["line\nbreak", "p1"]),
    (r'label_replace(up, "a", "x\"y", "job", "(.*)")', ["p1", "a", 'x"y', "job", "(.*)"]),
])
def test_strings_are_requoted_so_the_query_means_the_same(query, strings):
    assert _strings(scope_to_project(query, "p1")) == strings


def test_a_quote_in_a_label_value_cannot_escape_the_scope():
    # Printed without re-quoting, this one label value would become `up{job="x"} or vector(1) or up{…}`:
    # the first selector would then read every project.
    scoped = scope_to_project(r'up{job="x\"} or vector(1) or up{a=\""}', "p1")
    tree = promql_parser.parse(scoped)
    assert isinstance(tree, promql_parser.VectorSelector)
    assert [m.name for m in tree.matchers.matchers] == ["job", "project"]
    assert tree.matchers.matchers[0].value == 'x"} or vector(1) or up{a="'


def test_a_project_id_with_quotes_stays_one_value():
    tree = promql_parser.parse(scope_to_project("up", 'p"} or up{x="'))
    assert [(m.name, m.value) for m in tree.matchers.matchers] == [("project", 'p"} or up{x="')]


@pytest.mark.parametrize(("query", "reason"), [
    ("sum(", "not valid PromQL"),
    ("rate(up[5m:])", "reads back differently"),
])
def test_queries_that_cannot_be_scoped_are_refused(query, reason):
    with pytest.raises(RuleError, match=reason):
        scope_to_project(query, "p1")
