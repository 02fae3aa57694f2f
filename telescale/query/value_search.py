"""Which points of a series satisfy a condition on their values: the body of `POST /v1/search/metric`.

A query is Gnocchi's predicate tree over one value, e.g. ``{"and": [{">": 50}, {"<": 100}]}`` or
``{"=": [{"%": 2}, 0]}`` (the value modulo 2 equals 0). Gnocchi builds it into nested Python closures and
calls them once per point. Here the tree is parsed once into a few immutable nodes and each node is
evaluated over the whole numpy array of values, so a search over a million points costs a handful of
array operations instead of a million interpreted calls; it is also why arithmetic never raises:
division by zero, overflow and the like give inf/NaN under ``np.errstate`` where Gnocchi would fail.

The grammar (Gnocchi 4.7.1's, plus ``not``/``¬``, which Gnocchi's schema admits but cannot evaluate):

- a *condition* is ``{logical: [condition, …]}`` or an *operation*;
- an *operation* is ``{operator: number}`` — the operator applied to (value, number) — or
  ``{operator: [operand, operand]}`` where an operand is a number or an operation on the value;
- logical: ``and ∧``, ``or ∨``, ``not ¬`` (exactly one condition); operators: comparisons
  ``= == eq < lt > gt <= ≤ le >= ≥ ge != ≠ ne`` and arithmetic ``% mod + add - sub * × mul / ÷ div ** ^ pow``.

A point matches when the condition is truthy, as in Python: a comparison is true or false, an arithmetic
result matches when it is not zero (NaN counts as true). Pure: no I/O, no state.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from telescale.query.ufuncs import ARITHMETIC, COMPARISONS

__all__ = ["InvalidQuery", "Predicate", "parse"]

MAX_DEPTH = 64
MAX_NODES = 10_000

Operand = float | np.ndarray
Ufunc = Callable[[Any, Any], Any]

BINARY: dict[str, Ufunc] = {**COMPARISONS, **ARITHMETIC}
LOGICAL: dict[str, str] = {"and": "and", "∧": "and", "or": "or", "∨": "or", "not": "not", "¬": "not"}


class InvalidQuery(ValueError):
    """The query is not a valid predicate tree; ``path`` names where (keys and list indexes, as text)."""

    def __init__(self, reason: str, path: tuple[str, ...] = ()) -> None:
        super().__init__(reason)
        self.reason = reason
        self.path = list(path)


# ---------------------------------------------------------------------------------------------------
# Nodes


@dataclass(frozen=True)
class Const:
    value: float

    def evaluate(self, values: np.ndarray) -> Operand:
        return self.value


@dataclass(frozen=True)
class Value:
    """The value of each point."""

    def evaluate(self, values: np.ndarray) -> Operand:
        return values


@dataclass(frozen=True)
class Binary:
    operator: str
    left: Node
    right: Node

    def evaluate(self, values: np.ndarray) -> Operand:
        ufunc = BINARY[self.operator]
        return ufunc(_numeric(self.left.evaluate(values)), _numeric(self.right.evaluate(values)))


@dataclass(frozen=True)
class Logical:
    operator: str  # "and", "or" or "not"
    conditions: tuple[Node, ...]

    def evaluate(self, values: np.ndarray) -> Operand:
        if self.operator == "not":
            return ~_truth(self.conditions[0].evaluate(values), values.shape)
        result = np.full(values.shape, self.operator == "and")
        combine = np.logical_and if self.operator == "and" else np.logical_or
        for condition in self.conditions:
            combine(result, _truth(condition.evaluate(values), values.shape), out=result)
        return result


Node = Const | Value | Binary | Logical


def _numeric(operand: Operand) -> Operand:
    """Booleans as 0/1 floats, as Python's arithmetic treats them (numpy refuses bool subtraction)."""
    if isinstance(operand, np.ndarray | np.bool_) and operand.dtype == np.bool_:
        return operand.astype(np.float64)
    return operand


def _truth(operand: Operand, shape: tuple[int, ...]) -> np.ndarray:
    return np.broadcast_to(np.asarray(operand).astype(bool), shape)


@dataclass(frozen=True)
class Predicate:
    """A parsed query; :meth:`mask` says which of an array of values match."""

    root: Node

    def mask(self, values: np.ndarray) -> np.ndarray:
        values = np.asarray(values, dtype=np.float64)
        with np.errstate(all="ignore"):
            return np.array(_truth(self.root.evaluate(values), values.shape))

    def select(self, timestamps: np.ndarray, values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """The points of ``(timestamps, values)`` that match."""
        keep = self.mask(values)
        return timestamps[keep], values[keep]


# ---------------------------------------------------------------------------------------------------
# Parsing


class _Parser:
    def __init__(self) -> None:
        self.nodes = 0

    def _count(self, path: tuple[str, ...]) -> None:
        self.nodes += 1
        if self.nodes > MAX_NODES:
            raise InvalidQuery(f"query has more than {MAX_NODES} operators and operands", path)
        if len(path) > MAX_DEPTH:
            raise InvalidQuery(f"query is nested more than {MAX_DEPTH} levels deep", path)

    def condition(self, tree: Any, path: tuple[str, ...]) -> Node:
        operator, argument = _single_entry(tree, path)
        if operator in LOGICAL:
            return self.logical(LOGICAL[operator], argument, (*path, operator))
        return self.operation(operator, argument, path)

    def logical(self, operator: str, argument: Any, path: tuple[str, ...]) -> Logical:
        self._count(path)
        if not isinstance(argument, list):
            raise InvalidQuery("expected a list of conditions", path)
        if operator == "not" and len(argument) != 1:
            raise InvalidQuery(f"'not' takes exactly 1 condition, {len(argument)} given", path)
        return Logical(operator, tuple(self.condition(c, (*path, str(i))) for i, c in enumerate(argument)))

    def operation(self, operator: str, argument: Any, path: tuple[str, ...]) -> Binary:
        if operator not in BINARY:
            raise InvalidQuery(f"Unknown operator {operator}", (*path, operator))
        path = (*path, operator)
        self._count(path)
        if not isinstance(argument, list):
            return Binary(operator, Value(), self.number(argument, path))
        if len(argument) != 2:
            raise InvalidQuery(f"Binary operator {operator} needs 2 arguments, {len(argument)} given", path)
        left, right = (self.operand(a, (*path, str(i))) for i, a in enumerate(argument))
        return Binary(operator, left, right)

    def operand(self, tree: Any, path: tuple[str, ...]) -> Node:
        if not isinstance(tree, dict):
            return self.number(tree, path)
        operator, argument = _single_entry(tree, path)
        if operator in LOGICAL:
            raise InvalidQuery(f"'{operator}' cannot be used as an operand, only at the top or in and/or/not",
                               (*path, operator))
        return self.operation(operator, argument, path)

    def number(self, value: Any, path: tuple[str, ...]) -> Const:
        self._count(path)
        if not isinstance(value, int | float):
            raise InvalidQuery(f"expected a number or a list of two operands, got {_kind(value)}", path)
        try:
            return Const(float(value))
        except OverflowError:  # an integer too large for a double compares as an infinity would
            return Const(float("inf") if value > 0 else float("-inf"))


def _single_entry(tree: Any, path: tuple[str, ...]) -> tuple[str, Any]:
    if not isinstance(tree, dict) or len(tree) != 1:
        what = f"{len(tree)} keys" if isinstance(tree, dict) else _kind(tree)
        raise InvalidQuery(f"expected an object with exactly one operator, got {what}", path)
    return next(iter(tree.items()))


def _kind(value: Any) -> str:
    return "null" if value is None else type(value).__name__


def parse(tree: Any) -> Predicate:
    """Validate a decoded JSON query and build its predicate; :class:`InvalidQuery` says what is wrong."""
    return Predicate(_Parser().condition(tree, ()))
