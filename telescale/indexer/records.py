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
