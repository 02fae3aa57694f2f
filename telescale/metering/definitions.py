"""Reading the agent's YAML definition files (meters, events): the packaged default or the operator's."""

from __future__ import annotations

import re
from importlib import resources
from pathlib import Path
from typing import Any

import yaml

__all__ = ["event_type_patterns", "load_yaml"]


def load_yaml(path: str | Path | None, default: str) -> tuple[Any, str]:
    """(the parsed file, its name for messages); ``None`` reads ``telescale/metering/data/<default>``."""
    if path is None:
        text, name = resources.files("telescale.metering").joinpath("data", default).read_text(), default
    else:
        try:
            text, name = Path(path).read_text(), str(path)
        except OSError as e:
            raise ValueError(f"{path}: cannot read: {e.strerror}") from None
    try:
        return yaml.safe_load(text), name
    except yaml.YAMLError as e:
        raise ValueError(f"{name}: not YAML: {e}") from None


def event_type_patterns(spec: Any, where: str) -> list[re.Pattern[str]]:
    """``event_type``: a regular expression or a list of them, matched at the start (as Ceilometer)."""
    items = spec if isinstance(spec, list) else [spec]
    if not items or not all(isinstance(i, str) and i for i in items):
        raise ValueError(f"{where}.event_type: must be a regular expression or a list of them, got {spec!r}")
    patterns = []
    for item in items:
        try:
            patterns.append(re.compile(item))
        except re.error as e:
            raise ValueError(f"{where}.event_type: {item!r} is not a regular expression: {e}") from None
    return patterns
