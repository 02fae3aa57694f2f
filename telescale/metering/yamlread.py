"""Reading a YAML document with the line of every key kept, so that a bad setting is named with its line.

`load` gives plain dicts and lists (mappings are `Located` dicts that remember where each key was);
`Reader` walks one mapping, converting and checking each key, and refuses keys it was never asked for.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, TypeVar

import yaml

T = TypeVar("T")


class ConfigError(ValueError):
    """A configuration file that cannot be used; the message names the key (and line) at fault."""


class Located(dict):
    """A mapping from the file: ``lines[key]`` is the 1-based line of that key, ``line`` its own."""

    lines: dict[str, int]
    line: int | None = None


class _Loader(yaml.SafeLoader):
    """SafeLoader whose mappings are `Located`."""


def _construct_located(loader: _Loader, node: yaml.MappingNode) -> Located:
    loader.flatten_mapping(node)
    located = Located(loader.construct_mapping(node, deep=True))
    located.lines = {str(k.value): k.start_mark.line + 1 for k, _ in node.value}
    located.line = node.start_mark.line + 1
    return located


_Loader.add_constructor("tag:yaml.org,2002:map", _construct_located)


def load(text: str, source: str = "<config>") -> Located:
    """Parse ``text``; an empty document is an empty mapping; anything but a mapping is refused."""
    try:
        data = yaml.load(text, Loader=_Loader)  # noqa: S506 — a SafeLoader subclass
    except yaml.YAMLError as e:
        raise ConfigError(f"{source}: not valid YAML: {e}") from None
    if data is None:
        data = Located()
        data.lines = {}
    if not isinstance(data, Located):
        raise ConfigError(f"{source}: the file must be a mapping of sections, not {type(data).__name__}")
    return data


class Reader:
    """One mapping of the file at ``path`` (e.g. ``sources.prometheus[0]``): typed getters and a final check
    that no key was left unread (a misspelt key is an error, not silently ignored)."""

    def __init__(self, data: Any, path: str, source: str = "<config>") -> None:
        if data is None:
            data = Located()
        if not isinstance(data, Mapping):
            raise ConfigError(f"{source}: {path or 'the file'}: expected a mapping, got {type(data).__name__}")
        self.data = data
        self.path = path
        self.source = source
        self.seen: set[str] = set()

    def where(self, key: str) -> str:
        lines = getattr(self.data, "lines", {})
        line = f" (line {lines[key]})" if key in lines else ""
        return f"{self.source}{line}: {self.path + '.' if self.path else ''}{key}"

    def error(self, key: str, message: str) -> ConfigError:
        return ConfigError(f"{self.where(key)}: {message}")

    def has(self, key: str) -> bool:
        return key in self.data

    def get(self, key: str, default: T, convert: Callable[[Any], T] | None = None) -> T:
        self.seen.add(key)
        if key not in self.data or self.data[key] is None:
            return default
        value = self.data[key]
        if convert is None:
            return value
        try:
            return convert(value)
        except (TypeError, ValueError) as e:
            raise self.error(key, str(e)) from None

    def string(self, key: str, default: str | None = None) -> Any:
        return self.get(key, default, lambda v: _expect(v, str, "a string"))

    def boolean(self, key: str, default: bool) -> bool:
        return self.get(key, default, lambda v: _expect(v, bool, "true or false"))

    def number(self, key: str, default: float, minimum: float = 0.0, exclusive: bool = True) -> float:
        def convert(value: Any) -> float:
            if isinstance(value, bool) or not isinstance(value, int | float):
                raise ValueError(f"expected a number, got {value!r}")
            if value < minimum or (exclusive and value == minimum):
                raise ValueError(f"must be {'>' if exclusive else '≥'} {minimum:g}, got {value!r}")
            return float(value)
        return self.get(key, default, convert)

    def strings(self, key: str, default: list[str] | None = None) -> list[str]:
        def convert(value: Any) -> list[str]:
            if isinstance(value, str):
                return [value]
            if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
                raise ValueError(f"expected a list of strings, got {value!r}")
            return list(value)
        return self.get(key, list(default or []), convert)

    def labels(self, key: str) -> dict[str, str]:
        def convert(value: Any) -> dict[str, str]:
            if not isinstance(value, Mapping):
                raise ValueError(f"expected a mapping of names to strings, got {value!r}")
            return {str(k): str(v) for k, v in value.items()}
        return self.get(key, {}, convert)

    def mapping(self, key: str) -> Reader:
        self.seen.add(key)
        return Reader(self.data.get(key), f"{self.path + '.' if self.path else ''}{key}", self.source)

    def items(self, key: str) -> list[Reader]:
        """The mappings of a list (``[]`` when absent)."""
        self.seen.add(key)
        value = self.data.get(key)
        if value is None:
            return []
        if not isinstance(value, list):
            raise self.error(key, f"expected a list, got {type(value).__name__}")
        prefix = f"{self.path + '.' if self.path else ''}{key}"
        return [Reader(item, f"{prefix}[{i}]", self.source) for i, item in enumerate(value)]

    def raw(self, key: str) -> Any:
        self.seen.add(key)
        return self.data.get(key)

    def done(self) -> None:
        """Refuse keys nobody read: they are typos or settings of another version."""
        for key in self.data:
            if str(key) not in self.seen:
                known = ", ".join(sorted(self.seen))
                raise self.error(str(key), f"unknown setting (known here: {known})")


def _expect(value: Any, kind: type, what: str) -> Any:
    if not isinstance(value, kind):
        raise ValueError(f"expected {what}, got {value!r}")
    return value
