"""Dynamic-aggregates operations: from JSON lists or an s-expression string to a validated tree.

``"(* (aggregate mean (metric cpu.util mean)) 4)"`` and
``["*", ["aggregate", "mean", ["metric", "cpu.util", "mean"]], 4]`` give the same tree.  Validation
follows Gnocchi's schema (which operators exist, their arity, the methods allowed) and its error
wording, which clients and the conformance suite match on; our messages then say which part is wrong.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from telescale.query.aggregates.operations import (
    AGGREGATE_METHODS,
    BINARY_OPERATORS,
    RESAMPLE_METHODS,
    TERNARY_OPERATORS,
    UNARY_OPERATORS,
    UNARY_WITH_TIMESTAMPS,
)
from telescale.timeutil import TimeParseError, parse_timespan

__all__ = [
    "Aggregation",
    "Apply",
    "Constant",
    "MetricNode",
    "Node",
    "OperationsError",
    "OperationsSyntaxError",
    "parse",
    "parse_sexpr",
    "references",
]

Ref = tuple[str, str]  # (metric reference as written, aggregation method)


class OperationsError(ValueError):
    """The operations tree is not valid.  ``reason`` is Gnocchi's text plus ours (``str()``)."""

    def __init__(self, gnocchi_reason: str, explanation: str | None = None) -> None:
        self.gnocchi_reason = gnocchi_reason
        self.explanation = explanation
        text = f"{gnocchi_reason} for dictionary value @ data['operations']"
        if explanation:
            text += f": {explanation}"
        super().__init__(text)


class OperationsSyntaxError(ValueError):
    """The s-expression string does not parse; ``str()`` says where."""


# ---------------------------------------------------------------------------------------------------
# The tree


@dataclass(frozen=True)
class MetricNode:
    refs: tuple[Ref, ...]


@dataclass(frozen=True)
class Constant:
    value: float


@dataclass(frozen=True)
class Aggregation:
    """``aggregate``, ``rolling`` (``window``) or ``resample`` (``granularity`` in ns) over ``operand``."""

    op: str
    method: str
    operand: Node
    window: int | None = None
    granularity: int | None = None


@dataclass(frozen=True)
class Apply:
    """An element-wise operator (unary, binary, ternary) or ``rateofchange``/``rateofchangesec``."""

    op: str
    operands: tuple[Node, ...]


Node = MetricNode | Constant | Aggregation | Apply


def references(node: Node) -> list[Ref]:
    """Every ``(metric, method)`` the tree reads, once each, in order of first appearance."""
    out: dict[Ref, None] = {}

    def walk(n: Node) -> None:
        if isinstance(n, MetricNode):
            for r in n.refs:
                out.setdefault(r, None)
        elif isinstance(n, Aggregation):
            walk(n.operand)
        elif isinstance(n, Apply):
            for o in n.operands:
                walk(o)

    walk(node)
    return list(out)


# ---------------------------------------------------------------------------------------------------
# s-expressions

_SPECIAL = "()\"'"


def _tokens(text: str):
    """Yield (kind, value, position): kind is '(' , ')' or 'atom'."""
    i, n = 0, len(text)
    while i < n:
        c = text[i]
        if c.isspace():
            i += 1
        elif c in "()":
            yield c, c, i
            i += 1
        elif c in "\"'":
            end = text.find(c, i + 1)
            if end < 0:
                raise OperationsSyntaxError(f"Unterminated quoted string (at char {i})")
            yield "atom", text[i + 1:end], i
            i = end + 1
        else:
            j = i
            while j < n and not text[j].isspace() and text[j] not in _SPECIAL:
                j += 1
            yield "atom", text[i:j], i
            i = j


def parse_sexpr(text: str) -> list[Any]:
    """The first parenthesised expression of ``text`` as nested lists of strings.

    As with Gnocchi's parser, anything after the first complete expression is ignored.
    """
    stack: list[list[Any]] = []
    for kind, value, pos in _tokens(text):
        if kind == "(":
            stack.append([])
        elif kind == ")":
            if not stack:
                raise OperationsSyntaxError(f"Expected '(', found ')' (at char {pos})")
            done = stack.pop()
            if not stack:
                return done
            stack[-1].append(done)
        else:
            if not stack:
                raise OperationsSyntaxError(f"Expected '(', found {value!r} (at char {pos})")
            stack[-1].append(value)
    if stack:
        raise OperationsSyntaxError(f"Expected ')', found end of text (at char {len(text)})")
    raise OperationsSyntaxError(f"Expected '(', found end of text (at char {len(text)})")


# ---------------------------------------------------------------------------------------------------
# Validation


class _Invalid(Exception):
    """A sub-node is wrong; carries our explanation up to the top-level operation."""


def _op_name(v: Any) -> str:
    return v if isinstance(v, str) else str(v)


def _number(v: Any) -> float:
    if isinstance(v, bool):
        return float(v)
    if isinstance(v, int | float):
        return float(v)
    if isinstance(v, str):
        try:
            return float(v)
        except ValueError:
            pass
    raise _Invalid(f"{v!r} is neither a number nor an operation")


def _metric(v: list[Any]) -> MetricNode:
    args = v[1:]

    def pair(p: Any) -> Ref | None:
        if isinstance(p, list | tuple) and len(p) == 2 and all(isinstance(x, str) for x in p):
            return (p[0], p[1])
        return None

    if len(args) == 2 and all(isinstance(x, str) for x in args):
        return MetricNode(((args[0], args[1]),))
    pairs = [pair(p) for p in args]
    if args and all(p is not None for p in pairs):
        return MetricNode(tuple(pairs))  # type: ignore[arg-type]
    raise _Invalid("'metric' takes a metric and an aggregation method, or a list of [metric, method] pairs")


def _method(op: str, method: Any, allowed: frozenset[str]) -> str:
    if not isinstance(method, str) or method not in allowed:
        raise _Invalid(f"unknown aggregation method {method!r} for {op!r}, expected one of "
                       f"{', '.join(sorted(allowed, key=_method_order))}")
    return method


def _method_order(m: str) -> tuple[int, str]:
    return (m.startswith("rate:"), m)


_RESAMPLE_ALLOWED = frozenset(RESAMPLE_METHODS)
_AGGREGATE_ALLOWED = frozenset(AGGREGATE_METHODS)


def _node(v: Any) -> Node:
    """A sub-node: an operation (list) or a number."""
    if isinstance(v, list | tuple):
        return _operation(list(v))
    return Constant(_number(v))


def _expect(v: list[Any], n: int, form: str) -> None:
    if len(v) != n:
        raise _Invalid(f"{form} expected, got {len(v) - 1} argument(s)")


def _operation(v: list[Any]) -> Node:
    if not v:
        raise _Invalid("an operation must not be empty")
    op = v[0]
    if not isinstance(op, str):
        raise _Invalid(f"unknown operator {op!r}")
    if op == "metric":
        return _metric(v)
    if op in ("aggregate", "rolling", "resample"):
        return _aggregation(op, v)
    if op in TERNARY_OPERATORS:
        if len(v) not in (3, 4):
            raise _Invalid(f"({op} <operand> <min> [<max>]) expected, got {len(v) - 1} argument(s)")
        return Apply(op, tuple(_node(x) for x in v[1:]))
    if op in BINARY_OPERATORS:
        _expect(v, 3, f"({op} <operand> <operand>)")
        return Apply(op, (_node(v[1]), _node(v[2])))
    if op in UNARY_OPERATORS or op in UNARY_WITH_TIMESTAMPS:
        _expect(v, 2, f"({op} <operand>)")
        return Apply(op, (_node(v[1]),))
    raise _Invalid(f"unknown operator {op!r}")


def _aggregation(op: str, v: list[Any]) -> Aggregation:
    if op == "aggregate":
        _expect(v, 3, "(aggregate <method> <operand>)")
        return Aggregation(op, _method(op, v[1], _AGGREGATE_ALLOWED), _node(v[2]))
    if op == "rolling":
        _expect(v, 4, "(rolling <method> <window> <operand>)")
        method = _method(op, v[1], _AGGREGATE_ALLOWED)
        window = _window(v[2])
        return Aggregation(op, method, _node(v[3]), window=window)
    _expect(v, 4, "(resample <method> <granularity> <operand>)")
    method = _method(op, v[1], _RESAMPLE_ALLOWED)
    try:
        if isinstance(v[2], bool):
            raise TimeParseError("bool")
        granularity = parse_timespan(v[2])
    except TimeParseError:
        raise _Invalid(f"invalid resample granularity {v[2]!r}") from None
    return Aggregation(op, method, _node(v[3]), granularity=granularity)


def _window(v: Any) -> int:
    try:
        if isinstance(v, bool):
            raise ValueError
        window = int(v)
        if isinstance(v, float) and not math.isfinite(v):
            raise ValueError
    except (TypeError, ValueError, OverflowError):
        raise _Invalid(f"invalid rolling window {v!r}, expected an integer >= 1") from None
    if window < 1:
        raise _Invalid(f"invalid rolling window {v!r}, expected an integer >= 1")
    return window


def parse(operations: Any) -> Node:
    """Validate ``operations`` (a list tree or an s-expression string) into a :class:`Node`.

    Raises :class:`OperationsSyntaxError` when a string does not parse and :class:`OperationsError`
    when the tree is not a valid operation (the top level must be an operation, not a number).
    """
    if isinstance(operations, str):
        operations = parse_sexpr(operations)
    if not isinstance(operations, list | tuple):
        raise OperationsError(f"Expected a tuple/list, got a {type(operations)}")
    v = list(operations)
    if not v:
        raise OperationsError("Operation must not be empty")
    if len(v) < 2:
        raise OperationsError("Operation need at least one argument")
    try:
        return _operation(v)
    except _Invalid as e:
        raise OperationsError(f"'{_op_name(v[0])}' operation invalid", str(e)) from None
