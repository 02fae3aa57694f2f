"""What flows through the agent: samples of one series, resource updates and events.

Everything a source produces is one of these three frozen records; transformers take and give samples,
and the publisher turns all three into API calls (measures in batches, resources created or patched
only when their attributes change, events to the events intake).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

Kind = Literal["gauge", "cumulative", "delta"]
KINDS: tuple[Kind, ...] = ("gauge", "cumulative", "delta")


@dataclass(frozen=True, slots=True)
class Sample:
    """One value of one series at one time.

    A series is (``resource_id``, ``name``): transformers keep their state per series. The hash ring gives
    whole resources to agents (``telescale.metering.ownership.placement_key``), so the agent owning a series
    sees all of its samples and those of its resource's other series (``arithmetic`` combines them), and
    its state is right whatever the number of agents. ``resource_id`` is the original id (a UUID or
    any string, which the API maps as Gnocchi does); ``resource_type`` and ``attributes`` describe the
    resource the metric hangs on.
    """

    name: str
    value: float
    timestamp: float  # seconds since the epoch
    resource_id: str
    resource_type: str = "generic"
    kind: Kind = "gauge"
    unit: str | None = None
    project_id: str | None = None
    user_id: str | None = None
    attributes: Mapping[str, Any] = field(default_factory=dict)

    @property
    def series(self) -> str:
        """The key of this series' transformer state."""
        return f"{self.resource_id}/{self.name}"


@dataclass(frozen=True, slots=True)
class ResourceUpdate:
    """A resource seen by a source (e.g. an instance lifecycle notification): created if missing, its
    attributes patched when they differ from what was last sent; ``ended_at`` set ends it."""

    resource_type: str
    resource_id: str
    attributes: Mapping[str, Any] = field(default_factory=dict)
    project_id: str | None = None
    user_id: str | None = None

    @property
    def series(self) -> str:
        return self.resource_id


@dataclass(frozen=True, slots=True)
class Event:
    """An event for the events intake (``POST /v2/events``), in Aodh's listener's shape."""

    message_id: str
    event_type: str
    generated: str  # ISO 8601
    traits: tuple[tuple[str, int, Any], ...] = ()  # (name, dtype 1 text / 2 int / 3 float / 4 datetime, value)
    raw: Mapping[str, Any] = field(default_factory=dict)

    def as_json(self) -> dict[str, Any]:
        return {"message_id": self.message_id, "event_type": self.event_type, "generated": self.generated,
                "traits": [list(t) for t in self.traits], "raw": dict(self.raw)}
