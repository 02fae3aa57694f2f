"""The outbox the dispatcher drains: what the indexer hands out and what it is told back.

A transition and its notifications are committed together by the evaluator (``telescale.indexer``
implements this protocol), so a crash between the state change and the POST still delivers after a
restart. The dispatcher only claims due rows (:class:`PendingNotification`), delivers them and reports
every attempt (:class:`DeliveryAttempt`), which the indexer records in the alarm's history; both records
are the indexer's.
"""

from __future__ import annotations

from datetime import datetime
from typing import Protocol

from telescale.indexer.records import DeliveryAttempt, PendingNotification

__all__ = ["DeliveryAttempt", "NotificationOutbox", "PendingNotification"]


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
