"""The notification outbox, as the dispatcher sees it: claim due rows, then record each attempt's outcome.

Rows are written by :meth:`AlarmEvaluation.record_state` in the transaction of the transition they announce.
A claim is a lease (``claimed_until``): a dispatcher that dies mid-delivery loses its rows to another one when
the lease ends, so a notification is delivered at least once and, while the lease holds, by one dispatcher
only. Claims never hand one row to two dispatchers at once: PostgreSQL claims with ``FOR UPDATE SKIP LOCKED``
(others skip the rows being claimed instead of waiting), SQLite writers take the database (``BEGIN
IMMEDIATE``). Each attempt is recorded in the alarm's history as an ``action`` entry.
"""

from __future__ import annotations

import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from telescale.indexer.alarm_rows import add_history
from telescale.indexer.engine import IndexerEngine, claim_ids, utcnow
from telescale.indexer.models import AlarmNotificationRow, AlarmRow
from telescale.indexer.records import DeliveryAttempt, PendingNotification
from telescale.redact import public_url

N = AlarmNotificationRow


def _record_attempt(s: Session, row: Any, attempt: DeliveryAttempt, result: str, now: datetime.datetime,
                    **extra: Any) -> None:
    detail = {
        "notification_id": row.id,
        "url": public_url(attempt.url),
        "attempt": row.attempts + 1,
        "result": result,
        "status": attempt.status,
        "error": attempt.error,
        "duration": attempt.duration,
        **extra,
    }
    add_history(s, row.alarm_id, "action", detail, now, on_behalf_of=row.project_id,
                severity=(row.payload or {}).get("severity"))


def _pending_row(s: Session, notification_id: int) -> Any:
    """The notification if it is still pending, locked until the end of the transaction."""
    return s.execute(
        sa.select(N.id, N.alarm_id, N.project_id, N.payload, N.attempts)
        .where(N.id == notification_id, N.state == "pending")
        .with_for_update()
    ).first()


class AlarmOutbox(IndexerEngine):
    def claim_notifications(
        self, limit: int, lease_seconds: float, now: datetime.datetime | None = None
    ) -> list[PendingNotification]:
        """Lease up to ``limit`` pending notifications due now and not leased by anyone, oldest due first."""
        now = now or utcnow()
        with self._write() as s:
            query = (
                sa.select(N.id)
                .where(N.state == "pending", N.next_attempt_at <= now,
                       sa.or_(N.claimed_until.is_(None), N.claimed_until < now))
                .order_by(N.next_attempt_at, N.id)
                .limit(limit)
            )
            ids = claim_ids(s, query)
            if not ids:
                return []
            s.execute(sa.update(N).where(N.id.in_(ids))
                      .values(claimed_until=now + datetime.timedelta(seconds=lease_seconds)))
            rows = s.execute(
                sa.select(N.id, N.alarm_id, N.action, N.payload, N.attempts, AlarmRow.trust_id)
                .outerjoin(AlarmRow, AlarmRow.alarm_id == N.alarm_id)
                .where(N.id.in_(ids))
                .order_by(N.next_attempt_at, N.id)
            )
            return [
                PendingNotification(id=r.id, alarm_id=r.alarm_id, action=r.action, payload=dict(r.payload),
                                    attempts=r.attempts, trust_id=r.trust_id)
                for r in rows
            ]

    def complete_notification(self, notification_id: int, attempt: DeliveryAttempt) -> bool:
        """Finish a notification: delivered if ``attempt.ok``, else failed for good; record the attempt.
        False (and nothing recorded) if it was not pending any more."""
        now = utcnow()
        with self._write() as s:
            row = _pending_row(s, notification_id)
            if row is None:
                return False
            result = "delivered" if attempt.ok else "failed"
            s.execute(sa.update(N).where(N.id == notification_id).values(
                state=result, attempts=N.attempts + 1, claimed_until=None, last_error=attempt.error
            ))
            _record_attempt(s, row, attempt, result, now)
        return True

    def retry_notification(
        self, notification_id: int, attempt: DeliveryAttempt, next_attempt_at: datetime.datetime
    ) -> bool:
        """Record a failed attempt and release the notification until ``next_attempt_at``; False (and
        nothing recorded) if it was not pending any more."""
        now = utcnow()
        with self._write() as s:
            row = _pending_row(s, notification_id)
            if row is None:
                return False
            s.execute(sa.update(N).where(N.id == notification_id).values(
                attempts=N.attempts + 1, next_attempt_at=next_attempt_at, claimed_until=None,
                last_error=attempt.error,
            ))
            _record_attempt(s, row, attempt, "retrying", now, next_attempt_at=next_attempt_at.isoformat())
        return True

    def delete_finished_notifications(self, before: datetime.datetime, limit: int = 1000) -> int:
        """Drop up to ``limit`` delivered or failed notifications created before ``before`` (their attempts
        stay in history); returns how many."""
        with self._write() as s:
            ids = list(s.scalars(
                sa.select(N.id).where(N.state != "pending", N.created_at < before).order_by(N.id).limit(limit)
            ))
            if ids:
                s.execute(sa.delete(N).where(N.id.in_(ids)))
            return len(ids)
