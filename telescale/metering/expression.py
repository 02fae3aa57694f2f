"""Arithmetic expressions in the agent's configuration, evaluated without ``eval``.

Ceilometer's transformers ``eval``-ed their ``scale`` and ``expr`` strings, so a pipeline file could run
any Python. Here an expression is parsed with :mod:`ast` and only a whitelist of nodes is compiled into
plain closures: numbers, names and dotted names (``value``, ``attributes.cpu_number``: keys of mappings,
never Python attributes), ``+ - * / // % **``, unary ``- +`` and ``not``, comparisons, ``and``/``or``,
``a if c else b`` and the calls ``min``, ``max``, ``abs`` and ``round``. Anything else is refused when the
configuration is read, with the column it starts at. A name missing from the variables is ``None`` (so
``attributes.cpu_number or 1`` reads as in Ceilometer); arithmetic on it, a division by zero or an
overflow raises :class:`EvaluationError`.

``$(meter name)`` references (the ``arithmetic`` transformer's syntax) are accepted with ``refs=True``:
each is replaced by a placeholder identifier of the same length before parsing, so error columns still
point into the text the user wrote, and :attr:`Expression.refs` maps placeholders back to meter names.
"""

from __future__ import annotations

import ast
import math
import operator
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

__all__ = ["EvaluationError", "Expression", "ExpressionError", "compile_expression"]

Variables = Mapping[str, Any]
Node = Callable[[Variables], Any]

_BINARY: dict[type[ast.operator], Callable[[Any, Any], Any]] = {
    ast.Add: operator.add, ast.Sub: operator.sub, ast.Mult: operator.mul, ast.Div: operator.truediv,
    ast.FloorDiv: operator.floordiv, ast.Mod: operator.mod, ast.Pow: lambda a, b: math.pow(a, b),
}
_UNARY: dict[type[ast.unaryop], Callable[[Any], Any]] = {
    ast.USub: operator.neg, ast.UAdd: operator.pos, ast.Not: operator.not_,
}
_COMPARE: dict[type[ast.cmpop], Callable[[Any, Any], bool]] = {
    ast.Lt: operator.lt, ast.LtE: operator.le, ast.Gt: operator.gt, ast.GtE: operator.ge,
    ast.Eq: operator.eq, ast.NotEq: operator.ne,
}
_FUNCTIONS: dict[str, Callable[..., Any]] = {"min": min, "max": max, "abs": abs, "round": round}
_ALLOWED = ("numbers, names, + - * / // % **, comparisons, and/or/not, `a if c else b`, "
            "min() max() abs() round()")
_REF = re.compile(r"\$\(([^()\s]+)\)")


class ExpressionError(ValueError):
    """The expression cannot be compiled; the message names the column (1-based) where it goes wrong."""


class EvaluationError(ArithmeticError):
    """The expression could not give a number for these variables (missing value, division by zero …)."""


@dataclass(frozen=True)
class Expression:
    """A compiled expression: call it with the variables to get its value."""

    source: str
    names: frozenset[str]  # top-level variable names it reads (``attributes`` for ``attributes.x``)
    refs: Mapping[str, str]  # placeholder → meter name, for ``$(meter)`` references
    _root: Node

    def __call__(self, variables: Variables) -> float:
        try:
            result = self._root(variables)
        except (ArithmeticError, TypeError, ValueError) as e:
            raise EvaluationError(f"{self.source!r}: {e}") from None
        if isinstance(result, bool) or not isinstance(result, int | float):
            raise EvaluationError(f"{self.source!r}: gave {result!r}, not a number")
        return float(result)


def compile_expression(source: str, *, refs: bool = False) -> Expression:
    """Parse and check ``source``; :class:`ExpressionError` names the column of the first problem."""
    if not isinstance(source, str) or not source.strip():
        raise ExpressionError(f"expression must be a non-empty string, got {source!r}")
    text, placeholders = _replace_refs(source) if refs else (source, {})
    if not refs and "$(" in source:
        raise ExpressionError(f"column {source.index('$(') + 1}: $(meter) references are not allowed here")
    offset = len(text) - len(text.lstrip())
    try:
        tree = ast.parse(text.strip(), mode="eval")
    except SyntaxError as e:
        column = (e.offset or len(text.rstrip()) - offset + 1) + offset  # 0: at the end
        raise ExpressionError(f"column {column}: {e.msg} in {source!r}") from None
    names: set[str] = set()
    root = _Compiler(source, text, offset, names).node(tree.body)
    return Expression(source, frozenset(names), placeholders, root)


def _replace_refs(source: str) -> tuple[str, dict[str, str]]:
    """``$(memory.usage)`` → ``_m0____________`` (same length, so columns are kept)."""
    placeholders: dict[str, str] = {}
    by_name: dict[str, str] = {}

    def substitute(match: re.Match[str]) -> str:
        name = match.group(1)
        if name not in by_name:
            placeholder = f"_m{len(by_name)}"
            if len(placeholder) > len(match.group(0)):
                raise ExpressionError(f"column {match.start() + 1}: too many $(meter) references")
            by_name[name] = placeholder
        placeholder = by_name[name].ljust(len(match.group(0)), "_")
        placeholders[placeholder] = name
        return placeholder

    text = _REF.sub(substitute, source)
    if "$" in text:
        raise ExpressionError(f"column {text.index('$') + 1}: '$' must start a $(meter name) reference")
    return text, placeholders


class _Compiler:
    """Turns an :mod:`ast` tree into nested closures, refusing any node outside the whitelist."""

    def __init__(self, source: str, text: str, offset: int, names: set[str]) -> None:
        self.source = source
        self.text = text
        self.offset = offset
        self.names = names

    def refuse(self, node: ast.AST, what: str) -> ExpressionError:
        column = getattr(node, "col_offset", 0) + 1
        if isinstance(node, ast.BinOp):  # point at the operator, not at the left operand
            between = self.text[self.offset + (node.left.end_col_offset or 0):self.offset + node.right.col_offset]
            column = (node.left.end_col_offset or 0) + len(between) - len(between.lstrip(" )")) + 1
        column += self.offset
        return ExpressionError(f"column {column}: {what} is not allowed in {self.source!r} (allowed: {_ALLOWED})")

    def node(self, node: ast.expr) -> Node:
        method = getattr(self, f"_{type(node).__name__}", None)
        if method is None:
            raise self.refuse(node, f"{type(node).__name__} {ast.unparse(node)!r}")
        return method(node)

    def _Constant(self, node: ast.Constant) -> Node:
        value = node.value
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise self.refuse(node, f"the constant {value!r}")
        return lambda _: value

    def _Name(self, node: ast.Name) -> Node:
        name = node.id
        self.names.add(name)
        return lambda variables: variables.get(name)

    def _Attribute(self, node: ast.Attribute) -> Node:
        path: list[str] = []
        current: ast.expr = node
        while isinstance(current, ast.Attribute):
            if current.attr.startswith("_"):
                raise self.refuse(current, f"the attribute {current.attr!r}")
            path.append(current.attr)
            current = current.value
        if not isinstance(current, ast.Name):
            raise self.refuse(current, "an attribute of something other than a name")
        path.reverse()
        base = self._Name(current)

        def read(variables: Variables) -> Any:
            value = base(variables)
            for key in path:
                if not isinstance(value, Mapping):
                    return None
                value = value.get(key)
            return value

        return read

    def _BinOp(self, node: ast.BinOp) -> Node:
        op = _BINARY.get(type(node.op))
        if op is None:
            raise self.refuse(node, f"the operator {type(node.op).__name__}")
        left, right = self.node(node.left), self.node(node.right)
        return lambda variables: op(left(variables), right(variables))

    def _UnaryOp(self, node: ast.UnaryOp) -> Node:
        op = _UNARY.get(type(node.op))
        if op is None:
            raise self.refuse(node, f"the operator {type(node.op).__name__}")
        operand = self.node(node.operand)
        return lambda variables: op(operand(variables))

    def _BoolOp(self, node: ast.BoolOp) -> Node:
        values = [self.node(v) for v in node.values]
        if isinstance(node.op, ast.And):
            def conjunction(variables: Variables) -> Any:
                result: Any = True
                for value in values:
                    result = value(variables)
                    if not result:
                        return result
                return result
            return conjunction

        def disjunction(variables: Variables) -> Any:
            result: Any = False
            for value in values:
                result = value(variables)
                if result:
                    return result
            return result
        return disjunction

    def _Compare(self, node: ast.Compare) -> Node:
        ops = []
        for op in node.ops:
            function = _COMPARE.get(type(op))
            if function is None:
                raise self.refuse(node, f"the comparison {type(op).__name__}")
            ops.append(function)
        operands = [self.node(node.left), *(self.node(c) for c in node.comparators)]

        def compare(variables: Variables) -> bool:
            values = [operand(variables) for operand in operands]
            return all(op(a, b) for op, a, b in zip(ops, values, values[1:], strict=False))
        return compare

    def _IfExp(self, node: ast.IfExp) -> Node:
        test, body, orelse = self.node(node.test), self.node(node.body), self.node(node.orelse)
        return lambda variables: body(variables) if test(variables) else orelse(variables)

    def _Call(self, node: ast.Call) -> Node:
        if not isinstance(node.func, ast.Name) or node.func.id not in _FUNCTIONS:
            raise self.refuse(node, f"the call {ast.unparse(node.func)}()")
        if node.keywords or any(isinstance(a, ast.Starred) for a in node.args) or not node.args:
            raise self.refuse(node, f"{node.func.id}() without plain positional arguments")
        function = _FUNCTIONS[node.func.id]
        args = [self.node(a) for a in node.args]
        return lambda variables: function(*(a(variables) for a in args))
