"""The outbox the dispatcher drains: what the indexer hands out and what it is told back.

A transition and its notifications are committed together by the evaluator (``telescale.indexer``
implements this protocol), so a crash between the state change and the POST still delivers after a
restart. The dispatcher only claims due rows, delivers them and reports every attempt, which the
indexer records in the alarm's history.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol


@dataclass(frozen=True)
class PendingNotification:
    """One action of one transition, claimed for delivery.

    ``payload`` holds Aodh's notification fields: ``alarm_name``, ``severity``, ``previous``, ``current``,
    ``reason`` and ``reason_data`` (``alarm_id`` is taken from the row). ``trust_id`` is the Keystone trust
    of a ``trust+http(s)://`` action, kept apart from the URL so it never shows.
    """

    id: int
    alarm_id: uuid.UUID
    action: str
    payload: dict[str, Any]
    attempts: int
    trust_id: str | None = field(default=None, repr=False)  # never in a log line


@dataclass(frozen=True)
class DeliveryAttempt:
    """The outcome of one try, as the alarm's history shows it (``url`` carries no credentials)."""

    ok: bool
    status: int | None
    error: str | None
    duration: float
    url: str


class NotificationOutbox(Protocol):
    """The indexer's side of delivery; each call is synchronous SQL (the dispatcher runs it in a thread)."""

    def claim_notifications(self, limit: int, lease_seconds: float) -> list[PendingNotification]:
        """Lease up to ``limit`` notifications that are due, so no other dispatcher takes them meanwhile."""
        ...

    def complete_notification(self, id: int, attempt: DeliveryAttempt) -> None:
        """Record the last attempt and forget the notification: delivered, or given up for good."""
        ...

    def retry_notification(self, id: int, attempt: DeliveryAttempt, next_attempt_at: datetime) -> None:
        """Record a failed attempt and make the notification due again at ``next_attempt_at``."""
        ...
