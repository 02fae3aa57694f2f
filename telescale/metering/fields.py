"""A value of a meter or event definition: a jsonpath (``$.payload.memory_mb``), alternatives tried in
order (a list, or Ceilometer's ``$.payload.a | $.payload.b``) or a constant.

jsonpath-ng's extended parser is used (filters, ``len``, arithmetic), but not its ``|`` operator, which
it deprecates: alternatives are split here and the first that finds something wins.
"""

from __future__ import annotations

import re
from typing import Any

from jsonpath_ng.exceptions import JSONPathError
from jsonpath_ng.ext import parse

__all__ = ["Field"]

_UNION = re.compile(r"""\|(?=(?:[^'"]|'[^']*'|"[^"]*")*$)""")  # a '|' outside quotes


class Field:
    """Reads one value (:meth:`first`) or every match (:meth:`all`) from a notification document."""

    def __init__(self, spec: Any, where: str) -> None:
        self.spec = spec
        self.paths: list[Any] = []
        self.constant: Any = None
        alternatives = spec if isinstance(spec, list) else None
        if alternatives is None and isinstance(spec, str) and spec.lstrip().startswith("$"):
            alternatives = [part.strip() for part in _UNION.split(spec)]
        if alternatives is None:
            if isinstance(spec, dict | list) or spec is None:
                raise ValueError(f"{where}: must be a jsonpath, a list of them or a constant, got {spec!r}")
            self.constant = spec
            return
        if not alternatives:
            raise ValueError(f"{where}: an empty list of jsonpaths")
        for path in alternatives:
            if not isinstance(path, str) or not path.startswith("$"):
                raise ValueError(f"{where}: {path!r} is not a jsonpath (they start with $)")
            try:
                self.paths.append(parse(path))
            except (JSONPathError, Exception) as e:  # the parser raises bare Exceptions for some input
                raise ValueError(f"{where}: {path!r}: {e}") from None

    def all(self, document: Any) -> list[Any]:
        if not self.paths:
            return [self.constant]
        for path in self.paths:
            found = [m.value for m in path.find(document)]
            if found and any(v is not None for v in found):
                return found
        return []

    def first(self, document: Any) -> Any:
        found = self.all(document)
        return next((v for v in found if v is not None and v != ""), None)
