"""Checks shared by the drivers' ``validate``: each names the option at fault and what it should be.

Unknown options are refused, so a misspelt key is reported rather than silently ignored.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any
from urllib.parse import urlsplit

from telescale.scaling.drivers.base import DriverError


class Options:
    """Reads one driver's options, collecting the normalised values in ``out``."""

    def __init__(self, kind: str, options: Mapping[str, Any], known: Iterable[str]) -> None:
        if not isinstance(options, Mapping):
            raise DriverError(f"member_driver: the {kind} driver's options must be an object")
        self.kind = kind
        self.options = {k: v for k, v in options.items() if k != "type"}
        unknown = sorted(set(self.options) - set(known))
        if unknown:
            raise DriverError(f"member_driver.{unknown[0]}: not an option of the {kind} driver "
                              f"(its options: {', '.join(sorted(known))})")
        self.out: dict[str, Any] = {}

    def _name(self, key: str) -> str:
        return f"member_driver.{key}"

    def string(self, key: str, default: str | None = None, *, required: bool = False) -> str | None:
        value = self.options.get(key, default)
        if value is None:
            if required:
                raise DriverError(f"{self._name(key)} is required by the {self.kind} driver")
            self.out[key] = None
            return None
        if not isinstance(value, str) or not value.strip():
            raise DriverError(f"{self._name(key)} must be a non-empty string")
        self.out[key] = value
        return value

    def choice(self, key: str, choices: tuple[str, ...], default: str) -> str:
        value = self.options.get(key, default)
        if value not in choices:
            raise DriverError(f"{self._name(key)} must be one of {', '.join(choices)}, not {value!r}")
        self.out[key] = value
        return value

    def number(self, key: str, default: float, *, minimum: float = 0.0, above: bool = False) -> float:
        value = self.options.get(key, default)
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise DriverError(f"{self._name(key)} must be a number of seconds, not {value!r}")
        if value < minimum or (above and value == minimum):
            bound = "greater than" if above else "at least"
            raise DriverError(f"{self._name(key)} must be {bound} {minimum:g}, not {value!r}")
        self.out[key] = float(value)
        return float(value)

    def integer(self, key: str, default: int, *, minimum: int) -> int:
        value = self.options.get(key, default)
        if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
            raise DriverError(f"{self._name(key)} must be an integer of at least {minimum}, not {value!r}")
        self.out[key] = value
        return value

    def string_map(self, key: str, *, max_length: int | None = None) -> dict[str, str]:
        value = self.options.get(key) or {}
        if not isinstance(value, Mapping):
            raise DriverError(f"{self._name(key)} must be an object of strings")
        for name, item in value.items():
            if not isinstance(name, str) or not name or not isinstance(item, str):
                raise DriverError(f"{self._name(key)}.{name}: names and values must be strings")
            if max_length is not None and (len(name) > max_length or len(item) > max_length):
                raise DriverError(f"{self._name(key)}.{name}: names and values are at most {max_length} characters")
        self.out[key] = dict(value)
        return dict(value)

    def url(self, key: str, *, required: bool = True) -> str | None:
        value = self.string(key, required=required)
        if value is None:
            return None
        try:
            parts = urlsplit(value)
            parts.port  # noqa: B018 (raises on a bad port)
        except ValueError as e:
            raise DriverError(f"{self._name(key)} is not a valid URL ({e})") from None
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise DriverError(f"{self._name(key)} must be an http:// or https:// URL with a host, not {value!r}")
        return value
