"""Samples from notifications, declared in YAML as Ceilometer's ``meters.yaml``.

```yaml
metric:
  - name: memory
    event_type: ['compute\\.instance\\.(?!create\\.start).*', 'instance\\..*']   # regexes, matched at the start
    type: gauge                    # gauge | cumulative | delta
    unit: MB
    volume: $.payload.memory_mb    # a jsonpath, a list of them (first found wins), or a constant
    resource_id: [$.payload.instance_id, $.payload.uuid]
    project_id: $.payload.tenant_id        # optional: default the request context's project
    user_id: $.payload.user_id             # optional: default the request context's user
    timestamp: $.payload.launched_at       # optional: default the notification's timestamp
    resource_type: instance                # optional (ours): default generic
    metadata: {host: $.payload.host}       # the resource's attributes sent with the sample
    lookup: [name, volume]                 # optional: these fields give several values, one sample each
```

The jsonpaths read :meth:`Notification.document` (``$.payload…``, ``$.ctxt…``, ``$.publisher_id``).
A definition whose ``resource_id`` or ``volume`` finds nothing in a matching notification gives no sample
(logged at debug: many event types legitimately lack a field); a volume that is not a number is dropped
with a warning. The packaged default (``telescale/metering/data/meters.yaml``) maps Nova's instance
notifications, legacy and versioned, to ``memory``, ``vcpus``, ``disk.root.size`` and
``disk.ephemeral.size`` of ``instance`` resources.
"""

from __future__ import annotations

import logging
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from telescale.metering.definitions import event_type_patterns, load_yaml
from telescale.metering.envelope import Notification, parse_time
from telescale.metering.fields import Field
from telescale.metering.sample import KINDS, Sample

__all__ = ["MeterDefinition", "MeterDefinitions"]

LOG = logging.getLogger(__name__)
REQUIRED = ("name", "event_type", "type", "unit", "volume", "resource_id")
OPTIONAL = ("project_id", "user_id", "timestamp", "resource_type", "metadata", "lookup")
DEFAULT_PROJECT = ["$.ctxt.project_id", "$.ctxt.tenant_id", "$.ctxt.tenant", "$.payload.tenant_id"]
DEFAULT_USER = ["$.ctxt.user_id", "$.ctxt.user", "$.payload.user_id"]
LOOKUP_FIELDS = ("name", "unit", "volume", "resource_id", "project_id", "user_id")


@dataclass
class MeterDefinition:
    name: Field
    event_types: list[re.Pattern[str]]
    kind: str
    unit: Field
    volume: Field
    resource_id: Field
    project_id: Field
    user_id: Field
    timestamp: Field | None
    resource_type: str
    metadata: dict[str, Field]
    lookup: tuple[str, ...]

    @classmethod
    def read(cls, spec: Any, where: str) -> MeterDefinition:
        if not isinstance(spec, Mapping):
            raise ValueError(f"{where}: must be a mapping, got {spec!r}")
        missing = [k for k in REQUIRED if k not in spec]
        if missing:
            raise ValueError(f"{where}.{missing[0]}: mandatory")
        unknown = sorted(set(spec) - set(REQUIRED) - set(OPTIONAL))
        if unknown:
            raise ValueError(f"{where}.{unknown[0]}: unknown key (known: {', '.join(REQUIRED + OPTIONAL)})")
        if spec["type"] not in KINDS:
            raise ValueError(f"{where}.type: must be one of {', '.join(KINDS)}, got {spec['type']!r}")
        metadata = spec.get("metadata") or {}
        if not isinstance(metadata, Mapping):
            raise ValueError(f"{where}.metadata: must be a mapping of attribute to jsonpath, got {metadata!r}")
        lookup = spec.get("lookup") or []
        lookup = [lookup] if isinstance(lookup, str) else lookup
        if not isinstance(lookup, list) or not set(lookup) <= set(LOOKUP_FIELDS):
            raise ValueError(f"{where}.lookup: must list fields among {', '.join(LOOKUP_FIELDS)}, got {lookup!r}")
        resource_type = spec.get("resource_type", "generic")
        if not isinstance(resource_type, str) or not resource_type:
            raise ValueError(f"{where}.resource_type: must be a resource type name, got {resource_type!r}")

        def field(key: str, default: Any = None) -> Field:
            return Field(spec.get(key, default), f"{where}.{key}")

        return cls(field("name"), event_type_patterns(spec["event_type"], where), spec["type"], field("unit"),
                   field("volume"), field("resource_id"), field("project_id", DEFAULT_PROJECT),
                   field("user_id", DEFAULT_USER), field("timestamp") if "timestamp" in spec else None,
                   resource_type, {str(k): Field(v, f"{where}.metadata.{k}") for k, v in metadata.items()},
                   tuple(lookup))

    def matches(self, event_type: str) -> bool:
        return any(p.match(event_type) for p in self.event_types)

    def samples(self, notification: Notification) -> list[Sample]:
        document = notification.document()
        singles = {key: getattr(self, key).first(document) for key in LOOKUP_FIELDS if key not in self.lookup}
        multiples = {key: getattr(self, key).all(document) for key in self.lookup}
        counts = {len(v) for v in multiples.values()}
        if len(counts) > 1:
            LOG.warning("meter definitions: %s of %s: lookup fields found %s values, not as many each; no sample",
                        notification.event_type, notification.message_id,
                        {k: len(v) for k, v in multiples.items()})
            return []
        timestamp = notification.timestamp
        if self.timestamp is not None:
            try:
                timestamp = parse_time(self.timestamp.first(document))
            except ValueError as e:
                LOG.warning("meter definitions: %s: timestamp %s; using the notification's", notification.message_id, e)
        attributes = {k: v for k, f in self.metadata.items() if (v := f.first(document)) is not None}
        out = []
        for i in range(counts.pop() if counts else 1):
            values = {**singles, **{k: v[i] for k, v in multiples.items()}}
            sample = self._sample(values, timestamp, attributes, notification)
            if sample is not None:
                out.append(sample)
        return out

    def _sample(self, values: dict[str, Any], timestamp: float, attributes: dict[str, Any],
                notification: Notification) -> Sample | None:
        name, volume, resource_id = values["name"], values["volume"], values["resource_id"]
        if volume is None or resource_id is None or name is None:
            LOG.debug("meter definitions: %s of %s has no %s", notification.event_type, notification.message_id,
                      "volume" if volume is None else "resource_id" if resource_id is None else "name")
            return None
        try:
            value = float(volume)
            if isinstance(volume, bool) or not math.isfinite(value):
                raise ValueError
        except (TypeError, ValueError):
            LOG.warning("meter definitions: %s of %s: volume %r of %s is not a number; no sample",
                        notification.event_type, notification.message_id, volume, name)
            return None

        def text(key: str) -> str | None:
            return None if values[key] is None else str(values[key])

        return Sample(name=str(name), value=value, timestamp=timestamp, resource_id=str(resource_id),
                      resource_type=self.resource_type, kind=self.kind, unit=text("unit"),  # type: ignore[arg-type]
                      project_id=text("project_id"), user_id=text("user_id"), attributes=attributes)


class MeterDefinitions:
    """Every definition of a file; :meth:`samples` gives those of all matching definitions."""

    def __init__(self, definitions: list[MeterDefinition]) -> None:
        self.definitions = definitions
        self._by_type: dict[str, list[MeterDefinition]] = {}

    @classmethod
    def load(cls, path: str | Path | None = None) -> MeterDefinitions:
        """Read a meters.yaml (``None``: the packaged default); :class:`ValueError` names the bad entry."""
        document, name = load_yaml(path, "meters.yaml")
        if not isinstance(document, Mapping) or not isinstance(document.get("metric"), list):
            raise ValueError(f"{name}: must be a mapping with a 'metric' list")
        return cls([MeterDefinition.read(spec, f"{name}: metric[{i}]") for i, spec in enumerate(document["metric"])])

    def samples(self, notification: Notification) -> list[Sample]:
        matching = self._by_type.get(notification.event_type)
        if matching is None:
            matching = [d for d in self.definitions if d.matches(notification.event_type)]
            if len(self._by_type) < 10_000:
                self._by_type[notification.event_type] = matching
        return [s for d in matching for s in d.samples(notification)]
