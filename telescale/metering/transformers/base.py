"""What every transformer shares: its options, its meter filter, its output naming, bounded per-series state.

State is keyed by :attr:`Sample.series`, the key the agents' hash ring gives to exactly one agent, so a
transformer sees every sample of the series it keeps state for (``Ownership.keep`` runs first). It is
bounded: a series not seen for ``forget_after`` seconds (default one hour) is forgotten, and at most
``max_series`` (default 100,000) are kept, the least recently seen going first.
"""

from __future__ import annotations

import fnmatch
import logging
import re
import time
from collections import OrderedDict
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any, Generic, Protocol, TypeVar

from telescale.metering.expression import EvaluationError, Expression, ExpressionError, compile_expression
from telescale.metering.sample import KINDS, Kind, Sample

LOG = logging.getLogger(__name__)
V = TypeVar("V")

FORGET_AFTER = 3600.0
MAX_SERIES = 100_000


class Transformer(Protocol):
    """Takes samples, gives samples; ``flush`` is called every flush interval and at shutdown."""

    def process(self, samples: Sequence[Sample]) -> list[Sample]: ...

    def flush(self) -> list[Sample]: ...


class Options:
    """A transformer's configuration mapping, read key by key; :meth:`done` refuses the keys left over."""

    def __init__(self, name: str, config: Mapping[str, Any]) -> None:
        self.name = name
        self._config = dict(config)
        self._read: set[str] = {"name"}

    def get(self, key: str, types: type | tuple[type, ...], default: Any = None) -> Any:
        self._read.add(key)
        value = self._config.get(key, default)
        if value is None:
            return default
        if isinstance(value, bool) and bool not in (types if isinstance(types, tuple) else (types,)):
            raise self.error(key, f"must be {_type_names(types)}, got {value!r}")
        if not isinstance(value, types):
            raise self.error(key, f"must be {_type_names(types)}, got {value!r}")
        return value

    def number(self, key: str, default: float | None = None, *, positive: bool = False) -> float | None:
        value = self.get(key, (int, float), default)
        if value is not None and positive and value <= 0:
            raise self.error(key, f"must be positive, got {value!r}")
        return None if value is None else float(value)

    def expression(self, key: str, *, refs: bool = False) -> Expression | None:
        value = self.get(key, (str, int, float))
        if value is None:
            return None
        try:
            return compile_expression(str(value), refs=refs)
        except ExpressionError as e:
            raise self.error(key, str(e)) from None

    def error(self, key: str, message: str) -> ValueError:
        return ValueError(f"transformer {self.name}: {key}: {message}")

    def done(self) -> None:
        unknown = sorted(set(self._config) - self._read)
        if unknown:
            raise ValueError(f"transformer {self.name}: unknown option {unknown[0]!r} "
                             f"(known: {', '.join(sorted(self._read - {'name'}))})")


def _type_names(types: type | tuple[type, ...]) -> str:
    names = {int: "a number", float: "a number", str: "a string", bool: "true or false", list: "a list",
             dict: "a mapping"}
    found = dict.fromkeys(names.get(t, t.__name__) for t in (types if isinstance(types, tuple) else (types,)))
    return " or ".join(found)


class MeterFilter:
    """``meters: ["cpu", "disk.*", "!disk.root.*"]``: which samples a transformer takes (fnmatch globs,
    ``!`` excludes); the others pass through it untouched. Absent: every sample."""

    def __init__(self, options: Options) -> None:
        patterns = options.get("meters", list, ["*"])
        if not patterns or not all(isinstance(p, str) and p.strip("!") for p in patterns):
            raise options.error("meters", f"must be a non-empty list of name patterns, got {patterns!r}")
        self.include = [p for p in patterns if not p.startswith("!")] or ["*"]
        self.exclude = [p[1:] for p in patterns if p.startswith("!")]
        self._cache: dict[str, bool] = {}

    def __call__(self, name: str) -> bool:
        found = self._cache.get(name)
        if found is None:
            found = (any(fnmatch.fnmatchcase(name, p) for p in self.include)
                     and not any(fnmatch.fnmatchcase(name, p) for p in self.exclude))
            if len(self._cache) < MAX_SERIES:
                self._cache[name] = found
        return found

    def split(self, samples: Iterable[Sample]) -> tuple[list[Sample], list[Sample]]:
        """(taken, passed through)."""
        taken: list[Sample] = []
        passed: list[Sample] = []
        for s in samples:
            (taken if self(s.name) else passed).append(s)
        return taken, passed


@dataclass(frozen=True)
class Target:
    """What the output samples are called: ``target: {name, unit, type, max}`` and the regex renaming
    ``map_from: {name, unit}`` → ``map_to: {name, unit}`` (``\\1`` back-references; strings mean the name).
    A fixed ``target.name`` wins over the mapping; an input the regex does not match keeps its name."""

    name: str | None = None
    unit: str | None = None
    kind: Kind | None = None
    maximum: float | None = None
    map_from: Mapping[str, re.Pattern[str]] | None = None
    map_to: Mapping[str, str] | None = None

    @classmethod
    def read(cls, options: Options, *, kind: Kind | None = None) -> Target:
        target = options.get("target", dict, {})
        unknown = sorted(set(target) - {"name", "unit", "type", "max"})
        if unknown:
            raise options.error(f"target.{unknown[0]}", "unknown (known: name, unit, type, max)")
        for key in ("name", "unit"):
            if target.get(key) is not None and not isinstance(target[key], str):
                raise options.error(f"target.{key}", f"must be a string, got {target[key]!r}")
        found_kind = target.get("type", kind)
        if found_kind is not None and found_kind not in KINDS:
            raise options.error("target.type", f"must be one of {', '.join(KINDS)}, got {found_kind!r}")
        maximum = target.get("max")
        if maximum is not None and (isinstance(maximum, bool) or not isinstance(maximum, int | float)):
            raise options.error("target.max", f"must be a number, got {maximum!r}")
        map_from = _name_unit(options, "map_from")
        map_to = _name_unit(options, "map_to")
        if (map_from is None) != (map_to is None):
            raise options.error("map_to" if map_to is None else "map_from", "map_from and map_to go together")
        compiled = None
        if map_from is not None:
            compiled = {}
            for key, pattern in map_from.items():
                try:
                    compiled[key] = re.compile(pattern)
                except re.error as e:
                    raise options.error(f"map_from.{key}", f"not a regular expression: {e}") from None
        return cls(target.get("name"), target.get("unit"), found_kind,
                   None if maximum is None else float(maximum), compiled, map_to)

    def apply(self, sample: Sample, value: float) -> Sample:
        """``sample`` renamed as configured, carrying ``value`` (capped at ``max``)."""
        name, unit = sample.name, sample.unit
        if self.map_from and self.map_to:
            name = self._mapped("name", name)
            unit = self._mapped("unit", unit)
        if self.maximum is not None and value > self.maximum:
            value = self.maximum
        return replace(sample, name=self.name or name, unit=self.unit if self.unit is not None else unit,
                       kind=self.kind or sample.kind, value=value)

    def _mapped(self, key: str, current: str | None) -> str | None:
        pattern, template = self.map_from.get(key), self.map_to.get(key)  # type: ignore[union-attr]
        if pattern is None or template is None or current is None:
            return current
        match = pattern.match(current)
        return match.expand(template) if match else current


def _name_unit(options: Options, key: str) -> dict[str, str] | None:
    value = options.get(key, (str, dict))
    if value is None:
        return None
    value = {"name": value} if isinstance(value, str) else value
    if not value or set(value) - {"name", "unit"} or not all(isinstance(v, str) for v in value.values()):
        raise options.error(key, f"must be a string or a mapping of name/unit to strings, got {value!r}")
    return value


class Scale:
    """``scale``: a number multiplies the value; an expression that reads ``value`` (or Ceilometer's
    ``volume``) gives the new value; one that does not is a factor (``100 / (1e9 * (attributes.cpu_number
    or 1))``). Its variables are ``value``/``volume``, ``attributes`` (``resource_metadata`` is an alias),
    ``name``, ``unit``, ``resource_id``."""

    def __init__(self, options: Options) -> None:
        self.expression = options.expression("scale")
        names = self.expression.names if self.expression else frozenset()
        self.replaces = bool(names & {"value", "volume"})
        self.constant: float | None = None
        if self.expression is not None and not names:
            try:
                self.constant = self.expression({})
            except EvaluationError as e:
                raise options.error("scale", str(e)) from None

    def __call__(self, sample: Sample, value: float) -> float:
        """Raises :class:`EvaluationError` when the expression cannot be computed for this sample."""
        if self.expression is None:
            return value
        if self.constant is not None:
            return value * self.constant
        variables = {"value": value, "volume": value, "attributes": sample.attributes,
                     "resource_metadata": sample.attributes, "name": sample.name, "unit": sample.unit,
                     "resource_id": sample.resource_id}
        result = self.expression(variables)
        return result if self.replaces else value * result


class SeriesState(Generic[V]):
    """Per-series values, bounded in age (``forget_after`` seconds unseen) and in count (``max_series``)."""

    def __init__(self, forget_after: float = FORGET_AFTER, max_series: int = MAX_SERIES,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.forget_after = forget_after
        self.max_series = max_series
        self.clock = clock
        self._items: OrderedDict[str, tuple[float, V]] = OrderedDict()

    def __len__(self) -> int:
        return len(self._items)

    def __contains__(self, key: str) -> bool:
        return key in self._items

    def get(self, key: str) -> V | None:
        found = self._items.get(key)
        return None if found is None else found[1]

    def put(self, key: str, value: V) -> None:
        self._items[key] = (self.clock(), value)
        self._items.move_to_end(key)
        while len(self._items) > self.max_series:
            self._items.popitem(last=False)

    def pop(self, key: str) -> V | None:
        found = self._items.pop(key, None)
        return None if found is None else found[1]

    def expire(self) -> int:
        """Forget the series unseen for ``forget_after`` seconds; return how many went."""
        horizon = self.clock() - self.forget_after
        gone = 0
        while self._items:
            key, (seen, _) = next(iter(self._items.items()))
            if seen >= horizon:
                break
            del self._items[key]
            gone += 1
        return gone

    @classmethod
    def read(cls, options: Options) -> SeriesState[V]:
        forget_after = options.number("forget_after", FORGET_AFTER, positive=True)
        max_series = options.get("max_series", int, MAX_SERIES)
        if max_series < 1:
            raise options.error("max_series", f"must be at least 1, got {max_series}")
        return cls(forget_after or FORGET_AFTER, max_series)


class DropLog:
    """Says why samples were dropped, at most once a minute per transformer (with the count since)."""

    def __init__(self, transformer: str, every: float = 60.0) -> None:
        self.transformer = transformer
        self.every = every
        self._last = -float("inf")
        self._count = 0

    def __call__(self, sample: Sample, reason: str) -> None:
        self._count += 1
        now = time.monotonic()
        if now - self._last >= self.every:
            LOG.warning("transformer %s: dropped %d sample(s), latest %s at %s: %s", self.transformer,
                        self._count, sample.series, sample.timestamp, reason)
            self._last, self._count = now, 0
