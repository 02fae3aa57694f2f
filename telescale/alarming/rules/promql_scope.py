"""Scope a PromQL query to one project, as Aodh does for a non-admin's ``prometheus`` alarm.

Every series selector of the query gets the matcher ``<label>="<project>"`` (Aodh's option
``prometheus_project_label_name``, default ``project``), inside functions, aggregations, subqueries
and both sides of binary operators. A matcher the query already has on that label stays, so asking for
another project's series selects nothing. The query is rewritten on its syntax tree (promql-parser),
not by string search, then printed back with every string re-quoted; the printed query is parsed
again and refused unless each of its selectors carries the matcher.
"""

from __future__ import annotations

from collections.abc import Iterator

import promql_parser as promql

from telescale.alarming.rules.decision import RuleError

#: Aodh's default for ``prometheus_project_label_name``.
DEFAULT_PROJECT_LABEL = "project"
_ESCAPES = {"\\": "\\\\", '"': '\\"', "\n": "\\n", "\r": "\\r", "\t": "\\t"}


def scope_to_project(query: str, project: str, label: str = DEFAULT_PROJECT_LABEL) -> str:
    """``query`` with every selector restricted to ``label="project"``; :class:`RuleError` when it
    cannot be parsed or scoped."""
    tree = _parse(query)
    shape = _shape(tree)
    matcher = promql.Matcher(promql.MatchOp.Equal, label, project)
    for node in _nodes(tree):
        if isinstance(node, promql.VectorSelector):
            if node.matchers.or_matchers:
                raise RuleError("query: 'or' between label matchers cannot be scoped to a project")
            node.matchers = promql.Matchers([*node.matchers.matchers, matcher])
    scoped = _print(tree)
    _check(scoped, shape, label, project)
    return scoped


def _parse(query: str) -> promql.Expr:
    try:
        return promql.parse(query)
    except (ValueError, TypeError) as e:
        raise RuleError(f"query: not valid PromQL: {e}") from None


def _nodes(node: promql.Expr) -> Iterator[promql.Expr]:
    """Every node of the tree, depth first (children are live views: changing them changes the tree)."""
    yield node
    children: list[promql.Expr] = []
    if isinstance(node, promql.BinaryExpr):
        children = [node.lhs, node.rhs]
    elif isinstance(node, promql.MatrixSelector):
        children = [node.vector_selector]
    elif isinstance(node, promql.Call):
        children = list(node.args)
    elif isinstance(node, promql.AggregateExpr):
        children = [node.expr] + ([node.param] if node.param is not None else [])
    elif isinstance(node, promql.ParenExpr | promql.UnaryExpr | promql.SubqueryExpr):
        children = [node.expr]
    for child in children:
        yield from _nodes(child)


def _print(tree: promql.Expr) -> str:
    """The tree as text; promql-parser prints strings unquoted, so every string is escaped first."""
    for node in _nodes(tree):
        if isinstance(node, promql.VectorSelector):
            node.matchers = promql.Matchers([promql.Matcher(m.op, m.name, _escape(m.value))
                                             for m in node.matchers.matchers])
        elif isinstance(node, promql.StringLiteral):
            node.val = _escape(node.val)
    return str(tree)


def _escape(text: str) -> str:
    out = []
    for char in text:
        if char in _ESCAPES:
            out.append(_ESCAPES[char])
        elif ord(char) < 0x20 or ord(char) == 0x7F:
            out.append(f"\\x{ord(char):02x}")
        else:
            out.append(char)
    return "".join(out)


def _shape(tree: promql.Expr) -> list[str]:
    return [type(node).__name__ for node in _nodes(tree)]


def _check(scoped: str, shape: list[str], label: str, project: str) -> None:
    """Refuse a printed query that does not read back as the same tree, scoped: a printing gap of the
    parser (it prints ``x[5m:]`` as ``x[5m]``) must neither change the query nor leak data."""
    tree = _parse(scoped)
    if _shape(tree) != shape:
        raise RuleError("query: cannot be scoped to a project (its rewritten form reads back differently)")
    selectors = [n for n in _nodes(tree) if isinstance(n, promql.VectorSelector)]
    for selector in selectors:
        if not any(m.op == promql.MatchOp.Equal and m.name == label and m.value == project
                   for m in selector.matchers.matchers):
            raise RuleError(f"query: cannot be scoped to a project (selector {selector} reads back unscoped)")
