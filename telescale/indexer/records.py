"""Immutable values the indexer returns.

The indexer never hands out ORM objects: a frozen dataclass cannot lazy-load behind the caller's back
(no N+1, no detached-instance errors in another thread) and is safe to cache or pass between processes.
"""

from __future__ import annotations

import datetime
import uuid
from dataclasses import dataclass, field
from typing import Any

from telescale.timeseries.policy import ArchivePolicy


def split_creator(creator: str | None) -> tuple[str | None, str | None]:
    """Gnocchi's ``created_by_user_id``/``created_by_project_id``: the creator is ``user:project``.

    Under basic auth the creator is a bare username, which yields ``(username, "")`` exactly as
    Gnocchi's ``creator.partition(":")`` does.
    """
    if creator is None:
        return None, None
    user, _, project = creator.partition(":")
    return user, project


@dataclass(frozen=True)
class ArchivePolicyRule:
    name: str
    metric_pattern: str
    archive_policy_name: str


@dataclass(frozen=True)
class Metric:
    id: uuid.UUID
    archive_policy: ArchivePolicy
    creator: str | None
    name: str | None
    unit: str | None
    resource_id: uuid.UUID | None
    status: str  # "active" | "delete"

    @property
    def archive_policy_name(self) -> str:
        return self.archive_policy.name

    @property
    def created_by_user_id(self) -> str | None:
        return split_creator(self.creator)[0]

    @property
    def created_by_project_id(self) -> str | None:
        return split_creator(self.creator)[1]


@dataclass(frozen=True)
class Resource:
    id: uuid.UUID
    type: str
    original_resource_id: str
    creator: str | None
    user_id: str | None
    project_id: str | None
    started_at: datetime.datetime
    ended_at: datetime.datetime | None
    revision_start: datetime.datetime
    revision_end: datetime.datetime | None
    attributes: dict[str, Any] = field(default_factory=dict)
    metrics: dict[str, uuid.UUID] = field(default_factory=dict)
    #: -1 for the current revision, the ``resource_history`` row number for a past one.
    revision: int = -1

    @property
    def created_by_user_id(self) -> str | None:
        return split_creator(self.creator)[0]

    @property
    def created_by_project_id(self) -> str | None:
        return split_creator(self.creator)[1]


@dataclass(frozen=True)
class ResourceType:
    """A resource type: its name and attribute schema.

    ``attributes`` maps each attribute name to its definition in Gnocchi's JSON form, e.g.
    ``{"type": "string", "required": True, "min_length": 0, "max_length": 255}``.
    """

    name: str
    attributes: dict[str, dict[str, Any]]
    state: str = "active"


@dataclass(frozen=True)
class Alarm:
    """An alarm as stored: Aodh's v2 fields (``rule`` is the ``<type>_rule`` object, or composite's tree),
    Telescale's evaluation settings, and the bookkeeping only the evaluator and the store use
    (``pending_state``/``pending_since``, ``evaluate_timestamp``, ``version``; ``trust_id`` is never shown).

    Build one with the defaults the API applies and pass it to ``create_alarm``; the indexer fills
    ``timestamp`` and ``state_timestamp`` when they are None and starts ``version`` at 1."""

    alarm_id: uuid.UUID
    name: str
    type: str
    rule: dict[str, Any]
    user_id: str | None
    project_id: str | None
    description: str = ""
    enabled: bool = True
    severity: str = "low"
    state: str = "insufficient data"
    state_reason: str = "Not evaluated yet"
    state_timestamp: datetime.datetime | None = None
    timestamp: datetime.datetime | None = None
    evaluate_timestamp: datetime.datetime | None = None
    ok_actions: tuple[str, ...] = ()
    alarm_actions: tuple[str, ...] = ()
    insufficient_data_actions: tuple[str, ...] = ()
    repeat_actions: bool = False
    time_constraints: tuple[dict[str, Any], ...] = ()
    evaluation_interval: float | None = None  # seconds; None: the alarming.evaluation_interval setting
    pending_for: float = 0.0  # seconds a new state must hold before the alarm enters it
    missing_data: str = "insufficient_data"  # insufficient_data | ok | alarm | keep_state
    pending_state: str | None = None
    pending_since: datetime.datetime | None = None
    trust_id: str | None = field(default=None, repr=False)  # never in a log line
    version: int = 1

    def actions_for(self, state: str) -> tuple[str, ...]:
        """The actions to run when the alarm enters ``state`` (Aodh's ALARM_ACTIONS_MAP)."""
        return {
            "ok": self.ok_actions,
            "alarm": self.alarm_actions,
            "insufficient data": self.insufficient_data_actions,
        }[state]


@dataclass(frozen=True)
class AlarmChange:
    """One entry of an alarm's history (Aodh's AlarmChange); ``detail`` is a JSON document as text."""

    event_id: uuid.UUID
    alarm_id: uuid.UUID
    type: str  # creation | rule change | state transition | deletion | action | evaluation error
    detail: str
    user_id: str | None
    project_id: str | None
    on_behalf_of: str | None
    severity: str | None
    timestamp: datetime.datetime


@dataclass(frozen=True)
class PendingNotification:
    """A notification claimed from the outbox for one delivery attempt."""

    id: int
    alarm_id: uuid.UUID
    action: str
    payload: dict[str, Any]
    attempts: int  # attempts made before this one
    #: The alarm's trust (``trust+http(s)://`` actions), None once the alarm is gone; never in a log line.
    trust_id: str | None = field(default=None, repr=False)


@dataclass(frozen=True)
class DeliveryAttempt:
    """What one delivery attempt did, as recorded in the alarm's history (``url`` without credentials)."""

    ok: bool
    status: int | None  # the HTTP status, None when no answer came
    error: str | None
    duration: float  # seconds
    url: str
