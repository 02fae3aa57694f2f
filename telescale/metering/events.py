"""Events from notifications, for the events intake (``POST /v2/events``), declared in YAML.

Every notification becomes one :class:`Event` (message id, event type, generation time) whose traits come
from the definitions matching its event type, in the spirit of Ceilometer's ``event_definitions.yaml``:

```yaml
- event_type: ['compute.instance.*', 'instance.*', '!instance.update']   # fnmatch globs, '!' excludes
  traits:
    instance_id: {fields: [$.payload.instance_id, $.payload.uuid]}   # jsonpath(s), first found wins
    memory_mb: {fields: $.payload.memory_mb, type: int}             # text (default) | int | float | datetime
```

All matching definitions contribute, a later one overriding a trait of an earlier one; a trait whose
fields find nothing, or a value that cannot be converted to its type, is left out. The packaged default
(``telescale/metering/data/events.yaml``) gives every event ``service``, ``request_id``, ``project_id``,
``user_id`` and ``resource_id``, and instance events their instance's traits.
"""

from __future__ import annotations

import fnmatch
import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from telescale.metering.definitions import load_yaml
from telescale.metering.envelope import Notification, iso, parse_time
from telescale.metering.fields import Field
from telescale.metering.sample import Event

__all__ = ["EventDefinitions"]

LOG = logging.getLogger(__name__)

#: trait type → (Ceilometer's dtype code, converter)
TYPES: dict[str, tuple[int, Callable[[Any], Any]]] = {
    "text": (1, str), "int": (2, int), "float": (3, float), "datetime": (4, lambda v: iso(parse_time(v))),
}


@dataclass
class Trait:
    name: str
    field: Field
    dtype: int
    convert: Callable[[Any], Any]


@dataclass
class EventDefinition:
    include: list[str]
    exclude: list[str]
    traits: list[Trait]

    @classmethod
    def read(cls, spec: Any, where: str) -> EventDefinition:
        if not isinstance(spec, Mapping) or "event_type" not in spec:
            raise ValueError(f"{where}: must be a mapping with event_type and traits, got {spec!r}")
        unknown = sorted(set(spec) - {"event_type", "traits"})
        if unknown:
            raise ValueError(f"{where}.{unknown[0]}: unknown key (known: event_type, traits)")
        patterns = spec["event_type"] if isinstance(spec["event_type"], list) else [spec["event_type"]]
        if not patterns or not all(isinstance(p, str) and p.strip("!") for p in patterns):
            raise ValueError(f"{where}.event_type: must be a glob or a list of globs, got {spec['event_type']!r}")
        traits = spec.get("traits") or {}
        if not isinstance(traits, Mapping):
            raise ValueError(f"{where}.traits: must be a mapping of trait name to {{fields, type}}")
        read = []
        for name, trait in traits.items():
            here = f"{where}.traits.{name}"
            if not isinstance(trait, Mapping) or "fields" not in trait or set(trait) - {"fields", "type"}:
                raise ValueError(f"{here}: must be a mapping with fields (and type), got {trait!r}")
            kind = trait.get("type", "text")
            if kind not in TYPES:
                raise ValueError(f"{here}.type: must be one of {', '.join(TYPES)}, got {kind!r}")
            read.append(Trait(str(name), Field(trait["fields"], f"{here}.fields"), *TYPES[kind]))
        return cls([p for p in patterns if not p.startswith("!")] or ["*"],
                   [p[1:] for p in patterns if p.startswith("!")], read)

    def matches(self, event_type: str) -> bool:
        return (any(fnmatch.fnmatchcase(event_type, p) for p in self.include)
                and not any(fnmatch.fnmatchcase(event_type, p) for p in self.exclude))


class EventDefinitions:
    def __init__(self, definitions: list[EventDefinition]) -> None:
        self.definitions = definitions

    @classmethod
    def load(cls, path: str | Path | None = None) -> EventDefinitions:
        """Read an events.yaml (``None``: the packaged default); :class:`ValueError` names the bad entry."""
        document, name = load_yaml(path, "events.yaml")
        if not isinstance(document, list):
            raise ValueError(f"{name}: must be a list of {{event_type, traits}}")
        return cls([EventDefinition.read(spec, f"{name}: [{i}]") for i, spec in enumerate(document)])

    def event(self, notification: Notification) -> Event:
        document = notification.document()
        traits: dict[str, tuple[str, int, Any]] = {}
        for definition in self.definitions:
            if not definition.matches(notification.event_type):
                continue
            for trait in definition.traits:
                value = trait.field.first(document)
                if value is None:
                    continue
                try:
                    traits[trait.name] = (trait.name, trait.dtype, trait.convert(value))
                except (TypeError, ValueError):
                    LOG.debug("events: %s of %s: trait %s: %r is not of its type", notification.event_type,
                              notification.message_id, trait.name, value)
        return Event(notification.message_id, notification.event_type, notification.generated,
                     tuple(traits.values()))
