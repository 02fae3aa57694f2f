"""The resource search language: Gnocchi's JSON filter and its string form, compiled to SQLAlchemy.

Two front ends produce one tree of :data:`Node`:

* :func:`parse_json_filter` takes the JSON body of ``POST /v1/search/resource/{type}`` (Gnocchi's
  ``ResourceSearchSchema``): ``{"=": {"host": "a"}}``, ``{"and": [...]}``, ``{"not": {...}}``,
  ``{"in": {"id": [...]}}``, ``{"like": {"name": "x%"}}``. Its errors carry voluptuous' wording and path
  (``expected a list for dictionary value @ data['and']``) because Gnocchi's functional tests match on them.
* :func:`parse_string_filter` takes the ``filter=`` query argument, e.g.
  ``host = "compute1" and (ended_at = null or ended_at > "2026-01-01")``. A hand-written tokenizer and
  recursive-descent parser (no pyparsing) build the same JSON dict Gnocchi builds and validate it through
  the JSON front end, so both forms accept and refuse the same filters. Precedence: ``not`` binds
  tightest, then ``and``/``∧``, then ``or``/``∨``; parentheses group. Literals: ``null``/``None``/``none``,
  ``true``/``True``/``false``/``False``, numbers, UUIDs (with or without dashes), bare identifiers,
  ``"double"`` or ``'single'`` quoted strings (``\\`` escapes the quote and itself) and ``[lists]``.
  Syntax errors read ``Invalid filter: Expected ..., found '...' (at char N), (line:1, col:N+1)`` like
  pyparsing's. As in Gnocchi (whose operator regex always matches ``=`` first), ``==`` is refused in the
  string form; ``=`` and ``eq`` mean the same.

:func:`compile_filter` turns a tree into one SQLAlchemy boolean for the ``resource`` table, the
``resource_history`` table or any selectable with the same columns (e.g. the union of both):

* base columns (``id``, ``type``, ``original_resource_id``, ``creator``, ``user_id``, ``project_id``,
  ``started_at``, ``ended_at``, ``revision_start``; ``revision_end`` only with ``history``) compare as
  real, indexed columns; ``created_by_user_id`` / ``created_by_project_id`` match the two halves of
  ``creator`` (``user:project``); ``lifespan`` is ``coalesce(ended_at, now) - started_at`` compared with a
  timespan (``"1 hour"``, seconds).
* type attributes live in the JSON ``attributes`` column and compare as their schema type says:
  ``number`` numerically, ``bool`` as booleans, ``uuid`` as the canonical lowercase dashed string,
  ``datetime`` as the fixed-width UTC string :func:`format_datetime_attribute` produces (so text order is
  time order), ``string`` as text. An absent key and a JSON ``null`` both are ``null``.
* **Indexing on PostgreSQL.** ``=`` and ``in`` on an attribute (any type, non-null value) compile to JSONB
  containment, ``attributes @> '{"host": "x"}'`` (``in``: an ``OR`` of containments), which a GIN index on
  ``attributes`` (``jsonb_path_ops`` or the default ``jsonb_ops``) serves; ``!=`` and ``not`` of those
  compile to ``NOT (attributes @> ...)``. The containment document is inlined as a literal: with a bind
  parameter PostgreSQL may settle on one generic plan for a prepared statement, blind to how selective the
  value is (see :meth:`_Compiler.containment`). Ranges and ``like`` use ``attributes ->> 'name'`` with the
  key inlined as a literal (not a bind parameter), so a btree expression index on
  ``((attributes ->> 'name'))`` (``text_pattern_ops`` for ``like`` unless the database collation is ``C``;
  ``COLLATE "C"`` for datetime and uuid attributes; ``((attributes ->> 'name')::float8)`` for numbers) can
  serve them; it must not be partial, or the planner has no statistics for the expression and will not
  pick it. Those are per attribute, so created by an operator, not by Telescale (README, "Benchmarks").
  On SQLite attributes are read with ``json_extract`` (no index); SQLite's ``LIKE`` is case-insensitive
  for ASCII, PostgreSQL's is case-sensitive.
* ``not`` is pushed down to the comparisons (De Morgan), and each negated comparison says explicitly
  that a null operand matches (``not host = "a"`` matches resources without a host), so results are
  the same on both backends and never depend on SQL's three-valued ``NOT NULL``. ``!=`` with a value
  matches null too (Gnocchi's ``ne``).

Every refusal is an :class:`InvalidSearch` (a ``ValueError``) whose ``str`` is the user-facing message.
"""

from __future__ import annotations

import datetime
import json
import math
import operator
import re
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql

from telescale import timeutil
from telescale.indexer.errors import IndexerError

__all__ = [
    "And",
    "Comparison",
    "InvalidSearch",
    "MatchAll",
    "Node",
    "Not",
    "Or",
    "compile_filter",
    "format_datetime_attribute",
    "parse_json_filter",
    "parse_string_filter",
    "to_json",
]


class InvalidSearch(IndexerError, ValueError):
    """A filter the search language refuses; ``str(e)`` is the user-facing message.

    ``kind`` says where it was refused: ``"syntax"`` (the string form did not parse; the message starts
    with ``Invalid filter: Expected``), ``"schema"`` (the JSON shape is wrong; voluptuous' wording, with
    ``path`` the keys leading to the fault, e.g. ``["like", "id"]``) or ``"query"`` (an unknown attribute
    or a value its type cannot hold, Gnocchi's indexer wording). :attr:`description` is the HTTP 400
    description Gnocchi returns for each.
    """

    def __init__(self, reason: str, *, kind: str = "query", path: tuple[Any, ...] = ()) -> None:
        super().__init__(reason)
        self.reason = reason
        self.kind = kind
        self.path = path

    @property
    def description(self) -> str | dict[str, Any]:
        if self.kind == "schema":
            return {"cause": "Invalid input", "reason": self.reason, "detail": [str(p) for p in self.path]}
        return self.reason


# --- the tree -----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Comparison:
    """``attribute op value``; ``op`` is canonical: ``= != < <= > >= in like`` (``in`` takes a tuple)."""

    op: str
    attribute: str
    value: Any


@dataclass(frozen=True)
class And:
    children: tuple[Node, ...]


@dataclass(frozen=True)
class Or:
    children: tuple[Node, ...]


@dataclass(frozen=True)
class Not:
    child: Node


@dataclass(frozen=True)
class MatchAll:
    """The empty filter ``{}``: every row."""


Node = Comparison | And | Or | Not | MatchAll

_COMPARISONS = {
    "=": "=",
    "==": "=",
    "eq": "=",
    "<": "<",
    "lt": "<",
    ">": ">",
    "gt": ">",
    "<=": "<=",
    "≤": "<=",
    "le": "<=",
    ">=": ">=",
    "≥": ">=",
    "ge": ">=",
    "!=": "!=",
    "≠": "!=",
    "ne": "!=",
}
_MULTIPLE = {"and": And, "∧": And, "or": Or, "∨": Or}


def to_json(node: Node) -> dict[str, Any]:
    """The canonical JSON form of a tree (``parse_json_filter(to_json(n)) == n``)."""
    if isinstance(node, MatchAll):
        return {}
    if isinstance(node, Not):
        return {"not": to_json(node.child)}
    if isinstance(node, And | Or):
        return {"and" if isinstance(node, And) else "or": [to_json(c) for c in node.children]}
    value = list(node.value) if node.op == "in" else node.value
    return {node.op: {node.attribute: value}}


# --- JSON form ----------------------------------------------------------------------------------------


def _where(path: tuple[Any, ...]) -> str:
    return " @ data" + "".join(f"[{p!r}]" for p in path) if path else ""


def _schema_error(message: str, path: tuple[Any, ...], *, dict_value: bool = True) -> InvalidSearch:
    suffix = " for dictionary value" if dict_value and path else ""
    return InvalidSearch(message + suffix + _where(path), kind="schema", path=path)


def _is_scalar(value: Any) -> bool:
    return value is None or isinstance(value, str | int | float | bool)


def _single_item(value: Any, path: tuple[Any, ...]) -> tuple[str, Any]:
    if not isinstance(value, dict):
        raise _schema_error("expected a dictionary", path)
    if len(value) < 1:
        raise _schema_error("length of value must be at least 1", path)
    if len(value) > 1:
        raise _schema_error("length of value must be at most 1", path)
    ((attribute, attr_value),) = value.items()
    if not isinstance(attribute, str):
        raise _schema_error("expected str", path, dict_value=False)
    return attribute, attr_value


def _check_scalar(attribute: str, value: Any, path: tuple[Any, ...]) -> None:
    ok = isinstance(value, str) if attribute == "id" else _is_scalar(value)
    if not ok:
        raise _schema_error("expected str", path)


def _json(body: Any, path: tuple[Any, ...]) -> Node:
    if not isinstance(body, dict):
        raise _schema_error("expected a dictionary", path)
    if not body:
        return MatchAll()
    if len(body) > 1:
        raise _schema_error("length of value must be at most 1", path, dict_value=False)
    ((key, value),) = body.items()
    here = (*path, key)
    if key in _COMPARISONS:
        attribute, attr_value = _single_item(value, here)
        _check_scalar(attribute, attr_value, (*here, attribute))
        return Comparison(_COMPARISONS[key], attribute, attr_value)
    if key == "like":
        attribute, attr_value = _single_item(value, here)
        if attribute == "id":
            raise _schema_error("value must not be one of ['id']", (*here, attribute), dict_value=False)
        _check_scalar(attribute, attr_value, (*here, attribute))
        return Comparison("like", attribute, attr_value)
    if key == "in":
        attribute, values = _single_item(value, here)
        at = (*here, attribute)
        if not isinstance(values, list):
            raise _schema_error("expected a list", at)
        for i, v in enumerate(values):
            _check_scalar(attribute, v, (*at, i))
        if not values:
            raise _schema_error("length of value must be at least 1", at)
        return Comparison("in", attribute, tuple(values))
    if key in _MULTIPLE:
        if not isinstance(value, list):
            raise _schema_error("expected a list", here)
        if not value:
            raise _schema_error("length of value must be at least 1", here)
        kind = _MULTIPLE[key]
        children: list[Node] = []
        for i, child in enumerate(value):
            node = _json(child, (*here, i))
            # a and (b and c) == a and b and c: keep the tree flat.
            children.extend(node.children if isinstance(node, kind) else (node,))
        return kind(tuple(children))
    if key == "not":
        if not isinstance(value, dict):
            raise _schema_error("expected a dictionary", here)
        return Not(_json(value, here))
    raise _schema_error("extra keys not allowed", here, dict_value=False)


def parse_json_filter(body: Any) -> Node:
    """The tree of a JSON filter (Gnocchi's ``ResourceSearchSchema``); ``{}`` (or ``None``) matches all."""
    if body is None:
        return MatchAll()
    return _json(body, ())


# --- string form --------------------------------------------------------------------------------------

_SYMBOL_OPS = (">=", "<=", "!=", "==", ">", "<", "=", "≠", "≥", "≤")
_WORD_OPS = frozenset({"eq", "ne", "lt", "gt", "le", "ge", "in", "like"})
_NULLS = frozenset({"null", "None", "none"})
_BOOLS = {"true": True, "True": True, "false": False, "False": False}
_BARE = re.compile(r"[^\s()\[\],'\"=<>!≠≥≤∧∨]+")
_UUID = re.compile(r"[0-9a-fA-F]{8}-?(?:[0-9a-fA-F]{4}-?){3}[0-9a-fA-F]{12}")
_NUMBER = re.compile(r"[+-]?\d+(\.\d*)?([eE][+-]?\d+)?")
_IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


@dataclass(frozen=True)
class _Token:
    kind: str  # ( ) [ ] , op and or not value ident end
    text: str
    pos: int
    value: Any = None


def _syntax_error(text: str, pos: int, expected: str, found: str | None = None) -> InvalidSearch:
    if found is None:
        found = "end of text" if pos >= len(text) else repr(text[pos])
    line = text.count("\n", 0, pos) + 1
    col = pos - (text.rfind("\n", 0, pos) + 1) + 1
    return InvalidSearch(
        f"Invalid filter: Expected {expected}, found {found} (at char {pos}), (line:{line}, col:{col})",
        kind="syntax",
    )


def _tokenize(text: str) -> list[_Token]:
    tokens: list[_Token] = []
    i, n = 0, len(text)
    while i < n:
        c = text[i]
        if c.isspace():
            i += 1
            continue
        if c in "()[],":
            tokens.append(_Token(c, c, i))
            i += 1
            continue
        if c == "∧":
            tokens.append(_Token("and", c, i))
            i += 1
            continue
        if c == "∨":
            tokens.append(_Token("or", c, i))
            i += 1
            continue
        symbol = next((s for s in _SYMBOL_OPS if text.startswith(s, i)), None)
        if symbol is not None:
            tokens.append(_Token("op", symbol, i))
            i += len(symbol)
            continue
        if c in "'\"":
            chars: list[str] = []
            j = i + 1
            while True:
                if j >= n:
                    raise _syntax_error(text, i, f"closing quote {c}", "an unterminated string")
                if text[j] == "\\" and j + 1 < n and text[j + 1] in (c, "\\"):
                    chars.append(text[j + 1])
                    j += 2
                elif text[j] == c:
                    break
                else:
                    chars.append(text[j])
                    j += 1
            tokens.append(_Token("value", text[i : j + 1], i, "".join(chars)))
            i = j + 1
            continue
        m = _BARE.match(text, i)
        if m is None:  # a lone "!" (not "!=")
            raise _syntax_error(text, i, "an attribute, an operator or a value")
        word = m.group()
        if word in ("and", "or", "not"):
            tokens.append(_Token(word, word, i))
        elif word in _WORD_OPS:
            tokens.append(_Token("op", word, i))
        elif word in _NULLS:
            tokens.append(_Token("value", word, i, None))
        elif word in _BOOLS:
            tokens.append(_Token("value", word, i, _BOOLS[word]))
        elif _UUID.fullmatch(word):
            tokens.append(_Token("value", word, i, word))
        elif _NUMBER.fullmatch(word):
            number = float(word)
            is_int = number.is_integer() and not any(ch in word for ch in ".eE")
            tokens.append(_Token("value", word, i, int(word) if is_int else number))
        elif _IDENTIFIER.fullmatch(word):
            tokens.append(_Token("ident", word, i, word))
        else:
            raise _syntax_error(text, i, "an attribute, an operator or a value", repr(word))
        i = m.end()
    tokens.append(_Token("end", "", n))
    return tokens


class _Parser:
    def __init__(self, text: str) -> None:
        self.text = text
        self.tokens = _tokenize(text)
        self.i = 0

    def peek(self) -> _Token:
        return self.tokens[self.i]

    def take(self) -> _Token:
        token = self.tokens[self.i]
        self.i += 1
        return token

    def fail(self, expected: str) -> InvalidSearch:
        token = self.peek()
        found = "end of text" if token.kind == "end" else repr(token.text)
        return _syntax_error(self.text, token.pos, expected, found)

    def parse(self) -> dict[str, Any]:
        result = self.or_expr()
        if self.peek().kind != "end":
            raise self.fail("'and', 'or' or end of text")
        return result

    def _chain(self, kind: str, sub: Callable[[], dict[str, Any]]) -> dict[str, Any]:
        parts = [sub()]
        while self.peek().kind == kind:
            self.take()
            parts.append(sub())
        return parts[0] if len(parts) == 1 else {kind: parts}

    def or_expr(self) -> dict[str, Any]:
        return self._chain("or", self.and_expr)

    def and_expr(self) -> dict[str, Any]:
        return self._chain("and", self.not_expr)

    def not_expr(self) -> dict[str, Any]:
        if self.peek().kind == "not":
            self.take()
            return {"not": self.not_expr()}
        if self.peek().kind == "(":
            self.take()
            inner = self.or_expr()
            if self.peek().kind != ")":
                raise self.fail("')'")
            self.take()
            return inner
        return self.condition()

    def condition(self) -> dict[str, Any]:
        token = self.peek()
        if token.kind == "ident" or (token.kind == "value" and token.text[:1] in "'\""):
            attribute = self.take().value
        else:
            raise self.fail("an attribute name, 'not' or '('")
        op = self.peek()
        if op.kind != "op":
            raise self.fail("a comparison operator (= != < <= > >= eq ne lt le gt ge in like)")
        if op.text == "==":
            raise _syntax_error(self.text, op.pos, "'=' or 'eq' ('==' is not part of the string form)", repr(op.text))
        self.take()
        return {op.text: {attribute: self.term()}}

    def term(self) -> Any:
        token = self.peek()
        if token.kind in ("value", "ident"):
            return self.take().value
        if token.kind == "[":
            self.take()
            items: list[Any] = []
            if self.peek().kind != "]":
                items.append(self.term())
                while self.peek().kind == ",":
                    self.take()
                    items.append(self.term())
            if self.peek().kind != "]":
                raise self.fail("',' or ']'")
            self.take()
            return items
        raise self.fail("a value (null, true, false, a number, a UUID, a quoted string or a list)")


def parse_string_filter(text: str) -> Node:
    """The tree of a ``filter=`` string (e.g. ``not id in [u1, u2]``), validated like the JSON form."""
    if not isinstance(text, str):
        raise InvalidSearch("Invalid filter: Expected a string", kind="syntax")
    return parse_json_filter(_Parser(text).parse())


# --- compilation --------------------------------------------------------------------------------------

_STRING_COLUMNS = frozenset({"type", "original_resource_id", "creator", "user_id", "project_id"})
_DATETIME_COLUMNS = frozenset({"started_at", "ended_at", "revision_start"})
_ATTRIBUTE_KINDS = frozenset({"string", "uuid", "number", "bool", "datetime"})
_OPS: dict[str, Callable[[Any, Any], Any]] = {
    "=": operator.eq,
    "<": operator.lt,
    "<=": operator.le,
    ">": operator.gt,
    ">=": operator.ge,
}
_NEGATED = {"=": operator.ne, "<": operator.ge, "<=": operator.gt, ">": operator.le, ">=": operator.lt}


def format_datetime_attribute(value: Any) -> str:
    """How a ``datetime`` attribute must be stored in ``attributes`` for search to order it correctly:
    UTC, fixed width, ``YYYY-MM-DDTHH:MM:SS.ffffff+00:00`` (accepts a datetime, an ISO string, epoch
    seconds; naive means UTC). ``datetime.fromisoformat`` reads it back."""
    if isinstance(value, datetime.datetime):
        dt = value if value.tzinfo is not None else value.replace(tzinfo=datetime.UTC)
        dt = dt.astimezone(datetime.UTC)
    else:
        dt = timeutil.to_datetime(timeutil.parse_timestamp(value))
    return dt.strftime("%Y-%m-%dT%H:%M:%S.%f") + "+00:00"


def _invalid_value(value: Any, field: str) -> InvalidSearch:
    return InvalidSearch(f"Invalid value: `{value}' for field `{field}'")


@dataclass
class _Field:
    name: str
    kind: str  # string uuid number bool datetime id lifespan created_by_user_id created_by_project_id
    expr: Any
    json_key: str | None = None  # set for attributes of the JSON column


class _Compiler:
    def __init__(
        self,
        table: Any,
        attribute_types: Mapping[str, str],
        dialect_name: str,
        history: bool,
        resource_type: str | None,
        resource_id: Callable[[str], uuid.UUID] | None,
        now: datetime.datetime | None,
    ) -> None:
        if hasattr(table, "c"):
            self.columns = table.c
        elif hasattr(table, "__table__"):
            self.columns = table.__table__.c
        else:
            raise TypeError(f"not a table or mapped class: {table!r}")
        self.attribute_types = attribute_types
        self.postgresql = dialect_name == "postgresql"
        self.history = history
        self.resource_type = resource_type or "generic"
        self.resource_id = resource_id
        self.now = now

    # -- fields

    def field(self, name: str) -> _Field:
        c = self.columns
        if name == "id":
            return _Field(name, "id", c.id)
        if name in _STRING_COLUMNS:
            return _Field(name, "string", c[name])
        if name in _DATETIME_COLUMNS or (name == "revision_end" and self.history and "revision_end" in c):
            return _Field(name, "datetime", c[name])
        if name == "lifespan":
            return _Field(name, "lifespan", self.lifespan())
        if name in ("created_by_user_id", "created_by_project_id"):
            return _Field(name, name, c.creator)
        kind = self.attribute_types.get(name)
        if kind is None:
            raise InvalidSearch(f"Resource type {self.resource_type} has no {name} attribute")
        if kind not in _ATTRIBUTE_KINDS:
            raise InvalidSearch(f"Attribute {name} has the unsearchable type {kind}")
        if '"' in name or "\\" in name:
            raise InvalidSearch(f"Resource type {self.resource_type} has no {name} attribute")
        return _Field(name, kind, self.attribute(name, kind), json_key=name)

    def attribute(self, name: str, kind: str) -> Any:
        attributes = self.columns.attributes
        if self.postgresql:
            # The key inlined, so an expression index on (attributes ->> 'name') matches the query.
            key = sa.bindparam(None, name, type_=sa.String, literal_execute=True)
            text = sa.type_coerce(attributes.op("->>")(key), sa.String)
            if kind == "number":
                return sa.cast(text, postgresql.DOUBLE_PRECISION)
            if kind == "bool":
                return sa.cast(text, sa.Boolean)
            if kind in ("datetime", "uuid"):
                return sa.collate(text, "C")
            return text
        path = sa.bindparam(None, f'$."{name}"', type_=sa.String, literal_execute=True)
        extracted = sa.func.json_extract(attributes, path)
        return sa.type_coerce(extracted, {"number": sa.Float, "bool": sa.Integer}.get(kind, sa.String))

    def lifespan(self) -> Any:
        c = self.columns
        now = self.now or datetime.datetime.now(datetime.UTC)
        end = sa.func.coalesce(c.ended_at, sa.bindparam(None, now, type_=c.ended_at.type))
        if self.postgresql:
            return sa.type_coerce(sa.extract("epoch", end - c.started_at), sa.Float)

        def seconds(x: Any) -> Any:
            # SQLite stores "YYYY-MM-DD HH:MM:SS.ffffff": whole seconds exactly, plus the fraction.
            return sa.cast(sa.func.strftime("%s", x), sa.Integer) + sa.cast(sa.func.substr(x, 20), sa.Float)

        return sa.type_coerce(seconds(end) - seconds(c.started_at), sa.Float)

    # -- values

    def convert(self, f: _Field, value: Any, op: str) -> Any:
        if value is None:
            return None
        try:
            return self._convert(f, value, op)
        except timeutil.TimestampOutOfRange as e:
            raise InvalidSearch(f"{_invalid_value(value, f.name)}: {e}") from None
        except (ValueError, TypeError, OverflowError):
            raise _invalid_value(value, f.name) from None

    def _convert(self, f: _Field, value: Any, op: str) -> Any:
        kind = f.kind
        if op == "like":
            if kind not in ("string", "uuid", "created_by_user_id", "created_by_project_id") or not isinstance(
                value, str
            ):
                raise ValueError
            return value
        if kind in ("string", "created_by_user_id", "created_by_project_id"):
            return str(value)
        if kind == "id":
            if not isinstance(value, str):
                raise ValueError
            try:
                return uuid.UUID(value)
            except ValueError:
                if self.resource_id is None:
                    raise
                return self.resource_id(value)
        if kind == "uuid":
            if isinstance(value, bool) or not isinstance(value, str | int):
                raise ValueError
            return str(uuid.UUID(str(value)))
        if kind == "number":
            if isinstance(value, bool):
                raise ValueError
            number = float(value)
            if not math.isfinite(number):
                raise ValueError
            return int(number) if number.is_integer() and abs(number) < 2**53 else number
        if kind == "bool":
            if isinstance(value, bool):
                return value
            if isinstance(value, str) and value.lower() in ("true", "false"):
                return value.lower() == "true"
            raise ValueError
        if kind == "datetime":
            if isinstance(value, bool):
                raise ValueError
            if f.json_key is not None:
                return format_datetime_attribute(value)
            return timeutil.to_datetime(timeutil.parse_timestamp(value))
        if kind == "lifespan":
            return timeutil.parse_timespan(value) / timeutil.NS
        raise AssertionError(kind)

    def sql_value(self, f: _Field, value: Any) -> Any:
        """The converted value as the SQL expression compares it (SQLite reads JSON booleans as 1/0)."""
        if f.kind == "bool" and not self.postgresql and value is not None:
            return int(value)
        return value

    # -- predicates

    def compile(self, node: Node, negate: bool) -> sa.ColumnElement[bool]:
        if isinstance(node, MatchAll):
            return sa.false() if negate else sa.true()
        if isinstance(node, Not):
            return self.compile(node.child, not negate)
        if isinstance(node, And | Or):
            parts = [self.compile(child, negate) for child in node.children]
            conjunction = isinstance(node, And) != negate
            return sa.and_(*parts) if conjunction else sa.or_(*parts)
        return self.comparison(node, negate)

    def comparison(self, node: Comparison, negate: bool) -> sa.ColumnElement[bool]:
        f = self.field(node.attribute)
        if node.op == "in":
            values = [self.convert(f, v, "in") for v in node.value]
        else:
            values = self.convert(f, node.value, node.op)
        if f.kind in ("created_by_user_id", "created_by_project_id"):
            return self.creator(f, node.op, values, negate)
        if f.json_key is not None and self.postgresql and node.op in ("=", "!=", "in"):
            return self.containment(f, node.op, values, negate)
        if f.kind == "bool" and not self.postgresql:
            values = [self.sql_value(f, v) for v in values] if node.op == "in" else self.sql_value(f, values)
        return _plain(node.op, f.expr, values, negate)

    def containment(self, f: _Field, op: str, value: Any, negate: bool) -> sa.ColumnElement[bool]:
        attributes = self.columns.attributes

        def contains(v: Any) -> sa.ColumnElement[bool]:
            if isinstance(v, str) and "\x00" in v:
                return sa.false()  # JSONB cannot hold U+0000, so no stored value has it
            # The document inlined as a literal, not a bind parameter: psycopg prepares a statement run
            # five times, and PostgreSQL may then switch to one generic plan for every value, which cannot
            # know how selective the value is. Measured on a million resources, that plan walks the order
            # index filtering every row (700 ms) where the plan for the value reads the GIN index (1 ms).
            document = json.dumps({f.json_key: v}, separators=(",", ":"))
            literal = sa.bindparam(None, document, type_=sa.String, literal_execute=True)
            return attributes.op("@>", return_type=sa.Boolean)(sa.cast(literal, postgresql.JSONB))

        if op == "in":
            parts = [contains(v) for v in value if v is not None]
            if any(v is None for v in value):
                parts.append(f.expr.is_(None))
            positive = sa.or_(*parts)
            return sa.not_(positive) if negate else positive
        if value is None:
            return _plain(op, f.expr, None, negate)
        if op == "!=":
            negate = not negate
        return sa.not_(contains(value)) if negate else contains(value)

    def creator(self, f: _Field, op: str, value: Any, negate: bool) -> sa.ColumnElement[bool]:
        creator = f.expr
        user = f.kind == "created_by_user_id"

        def equal(v: str | None) -> sa.ColumnElement[bool]:
            if v is None:
                if user:
                    return creator.is_(None)
                return sa.or_(creator.is_(None), creator.not_like("%:%"), creator.endswith(":"))
            if user:
                return sa.or_(creator == v, creator.startswith(f"{v}:", autoescape=True))
            return creator.endswith(f":{v}", autoescape=True)

        if op == "in":
            positive = sa.or_(*(equal(v) for v in value))
        elif op == "like":
            positive = creator.like(f"{value}:%" if user else f"%:{value}")
        elif op in ("=", "!="):
            positive = equal(value)
            if op == "!=":
                negate = not negate
        else:
            raise _invalid_value(value, f.name)
        if not negate:
            return positive
        # creator NULL never matches a value, so a negation must name it (two-valued, like _plain).
        return sa.not_(positive) if value is None else sa.or_(creator.is_(None), sa.not_(positive))


def _plain(op: str, x: Any, value: Any, negate: bool) -> sa.ColumnElement[bool]:
    """``x op value`` (``negate``: its negation) in two-valued logic: a null ``x`` matches exactly when
    the negation of a comparison with a value is asked for."""
    if op == "in":
        values = [v for v in value if v is not None]
        has_null = len(values) < len(value)
        if not negate:
            parts = [x.in_(values)] if values else []
            if has_null:
                parts.append(x.is_(None))
            return sa.or_(*parts)
        if has_null:
            return sa.and_(x.is_not(None), x.not_in(values)) if values else x.is_not(None)
        return sa.or_(x.is_(None), x.not_in(values))
    if op == "like":
        return sa.or_(x.is_(None), x.not_like(value)) if negate else x.like(value)
    if value is None:
        if op == "=":
            return x.is_not(None) if negate else x.is_(None)
        if op == "!=":
            return x.is_(None) if negate else x.is_not(None)
        return sa.true() if negate else sa.false()  # x < null: nothing is
    if op == "!=":
        op, negate = "=", not negate
    if negate:
        return sa.or_(x.is_(None), _NEGATED[op](x, value))
    return _OPS[op](x, value)


def compile_filter(
    node: Node,
    table: Any,
    attribute_types: Mapping[str, str],
    *,
    dialect_name: str,
    history: bool = False,
    resource_type: str | None = None,
    resource_id: Callable[[str], uuid.UUID] | None = None,
    now: datetime.datetime | None = None,
) -> sa.ColumnElement[bool]:
    """One SQL boolean for ``node`` over ``table`` (a Table, a subquery or a mapped class with the
    resource columns and ``attributes``; with ``history`` a ``revision_end`` column too).

    ``attribute_types`` maps the resource type's attribute names to their schema type (``string``,
    ``uuid``, ``number``, ``bool``, ``datetime``); ``dialect_name`` is the engine's
    (``"postgresql"`` or ``"sqlite"``). Optional: ``resource_type`` names the type in "has no
    attribute" errors; ``resource_id`` maps an ``id`` value that is not a UUID to the stored id
    (Gnocchi's uuid5 transform with the requesting user as creator; without it such ids are refused);
    ``now`` is the end of unfinished resources for ``lifespan`` (default: the current time).
    """
    compiler = _Compiler(table, attribute_types, dialect_name, history, resource_type, resource_id, now)
    return compiler.compile(node, False)
