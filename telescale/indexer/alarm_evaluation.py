"""What the evaluator reads and writes: due alarms, transitions with their notifications, read metrics.

A transition is one transaction: the conditional ``UPDATE … WHERE version = :expected``, its history entry
and one outbox row per notification. Of two evaluators that read the same version, the second finds the
version moved and gets False, so a transition is recorded and notified once; and a crash before the commit
loses both the state change and its notifications, a crash after it loses neither (the dispatcher finds
the outbox rows after a restart).
"""

from __future__ import annotations

import datetime
import uuid
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql
from sqlalchemy.orm import Session

from telescale.indexer.alarm_rows import add_history, alarm_record, plain, select_alarms
from telescale.indexer.engine import IndexerEngine
from telescale.indexer.models import AlarmMetricRow, AlarmNotificationRow, AlarmRow, UTCDateTime
from telescale.indexer.records import Alarm

#: Ids per statement (SQLite allows 32,766 parameters; PostgreSQL gets them as one array).
_CHUNK = 10_000
EVENT_TYPE = "event"


def _chunks(ids: Sequence[uuid.UUID]) -> Iterable[list[uuid.UUID]]:
    for start in range(0, len(ids), _CHUNK):
        yield list(ids[start:start + _CHUNK])


def id_in(s: Session, column: sa.ColumnElement[Any], ids: list[uuid.UUID]) -> sa.ColumnElement[bool]:
    """``column IN ids``; one array parameter on PostgreSQL (a short statement however many ids)."""
    if s.get_bind().dialect.name == "postgresql":
        return column == sa.any_(sa.bindparam(None, ids, type_=postgresql.ARRAY(sa.Uuid)))
    return column.in_(ids)


def _own_interval_elapsed(s: Session, now: datetime.datetime) -> sa.ColumnElement[bool]:
    """Whether an alarm with its own ``evaluation_interval`` was last evaluated at least that long ago."""
    if s.get_bind().dialect.name == "postgresql":
        since = sa.func.make_interval(0, 0, 0, 0, 0, 0, AlarmRow.evaluation_interval)
        return AlarmRow.evaluate_timestamp <= sa.bindparam(None, now, type_=UTCDateTime) - since
    # SQLite keeps naive UTC text with microseconds ("2026-03-01 12:00:00.250000"): whole seconds from
    # strftime('%s') and the microseconds from the text give exact integer arithmetic (julianday() is a float).
    column = AlarmRow.evaluate_timestamp
    micros = sa.cast(sa.func.strftime("%s", column), sa.BigInteger) * 1_000_000 + sa.cast(
        sa.func.substr(column, 21, 6), sa.BigInteger
    )
    aware = now if now.tzinfo is not None else now.replace(tzinfo=datetime.UTC)
    now_micros = int(aware.replace(microsecond=0).timestamp()) * 1_000_000 + aware.microsecond
    return sa.literal(now_micros, sa.BigInteger) - micros >= sa.func.round(AlarmRow.evaluation_interval * 1_000_000)


class AlarmEvaluation(IndexerEngine):
    def record_state(
        self,
        alarm_id: uuid.UUID,
        expected_version: int,
        state: str,
        reason: str,
        reason_data: Mapping[str, Any] | None,
        now: datetime.datetime,
        notifications: Sequence[tuple[str, Mapping[str, Any]]] = (),
        history_type: str | None = "state transition",
        pending: tuple[str, datetime.datetime] | None = None,
        evaluated: bool = True,
    ) -> bool:
        """Record an evaluation's outcome if the alarm is still at ``expected_version``; False otherwise
        (changed or deleted meanwhile: nothing is written).

        Sets ``state`` and ``state_reason`` (``state_timestamp`` moves only if the state changes), the
        pending state (``(state, since)``, or None to clear it) and, with ``evaluated``, the evaluation
        time; adds a ``history_type`` entry (None: none) with detail ``{"state", "transition_reason",
        "reason_data"}`` and one outbox row per ``(action_url, payload)``, all in one transaction."""
        pending_state, pending_since = pending if pending is not None else (None, None)
        values: dict[str, Any] = {
            "state": state,
            "state_reason": reason,
            "state_timestamp": sa.case(
                (AlarmRow.state == state, AlarmRow.state_timestamp), else_=sa.bindparam(None, now, type_=UTCDateTime)
            ),
            "pending_state": pending_state,
            "pending_since": pending_since,
            "version": AlarmRow.version + 1,
        }
        if evaluated:
            values["evaluate_timestamp"] = now
        with self._write() as s:
            updated = s.execute(
                sa.update(AlarmRow)
                .where(AlarmRow.alarm_id == alarm_id, AlarmRow.version == expected_version)
                .values(values)
                .returning(AlarmRow.project_id, AlarmRow.severity)
            ).first()
            if updated is None:
                return False
            project_id, severity = updated
            if history_type is not None:
                detail = {"state": state, "transition_reason": reason, "reason_data": plain(reason_data)}
                add_history(s, alarm_id, history_type, detail, now, on_behalf_of=project_id, severity=severity)
            if notifications:
                s.execute(sa.insert(AlarmNotificationRow), [
                    {"alarm_id": alarm_id, "project_id": project_id, "action": action, "payload": plain(payload),
                     "created_at": now, "next_attempt_at": now, "attempts": 0, "state": "pending"}
                    for action, payload in notifications
                ])
        return True

    def mark_evaluated(self, alarm_ids: Sequence[uuid.UUID], now: datetime.datetime) -> None:
        """Set the evaluation time of alarms whose evaluation changed nothing (their version stays)."""
        if not alarm_ids:
            return
        with self._write() as s:
            for chunk in _chunks(list(alarm_ids)):
                s.execute(sa.update(AlarmRow).where(id_in(s, AlarmRow.alarm_id, chunk)).values(evaluate_timestamp=now))

    def due_alarms(
        self,
        now: datetime.datetime,
        default_interval: float,
        limit: int | None = None,
        *,
        known: Mapping[uuid.UUID, Alarm] | None = None,
    ) -> list[Alarm]:
        """Enabled, non-event alarms never evaluated or last evaluated at least their ``evaluation_interval``
        (or ``default_interval`` seconds) before ``now``; the longest waiting first.

        ``known`` is the caller's cache of records: those still at the stored version are returned as they
        are (only their ``evaluate_timestamp`` may be older), so a cycle over 10,000 unchanged alarms reads
        ids and versions, not 10,000 definitions."""
        with self._read() as s:
            due = sa.or_(
                AlarmRow.evaluate_timestamp.is_(None),
                sa.and_(
                    AlarmRow.evaluation_interval.is_(None),
                    AlarmRow.evaluate_timestamp <= now - datetime.timedelta(seconds=default_interval),
                ),
                sa.and_(AlarmRow.evaluation_interval.is_not(None), _own_interval_elapsed(s, now)),
            )
            where = (AlarmRow.enabled.is_(True), AlarmRow.type != EVENT_TYPE, due)
            order = (AlarmRow.evaluate_timestamp.asc().nulls_first(), AlarmRow.alarm_id)
            if known is None:
                return [alarm_record(row) for row in s.execute(select_alarms().where(*where).order_by(*order)
                                                                .limit(limit))]
            versions = s.execute(sa.select(AlarmRow.alarm_id, AlarmRow.version).where(*where).order_by(*order)
                                 .limit(limit)).all()
            stale = {alarm_id for alarm_id, version in versions
                     if alarm_id not in known or known[alarm_id].version != version}
            fresh = {record.alarm_id: record for record in self._alarms_by_id(s, list(stale))}
            return [fresh[i] if i in fresh else known[i] for i, _ in versions if i in fresh or i not in stale]

    @staticmethod
    def _alarms_by_id(s: Session, alarm_ids: Sequence[uuid.UUID]) -> list[Alarm]:
        return [
            alarm_record(row)
            for chunk in _chunks(list(alarm_ids))
            for row in s.execute(select_alarms().where(id_in(s, AlarmRow.alarm_id, chunk)))
        ]

    def alarms_by_id(self, alarm_ids: Sequence[uuid.UUID]) -> list[Alarm]:
        """The alarms that still exist among ``alarm_ids`` (in no particular order), in any project."""
        with self._read() as s:
            return self._alarms_by_id(s, alarm_ids)

    def event_alarms(self, project: str | None = None) -> list[Alarm]:
        """Enabled ``event`` alarms (of one project, or all), which events rather than time evaluate;
        project "" means the alarms without a project (those of ``basic`` mode, stored with none)."""
        with self._read() as s:
            query = select_alarms().where(AlarmRow.type == EVENT_TYPE, AlarmRow.enabled.is_(True))
            if project == "":
                query = query.where(sa.or_(AlarmRow.project_id.is_(None), AlarmRow.project_id == ""))
            elif project is not None:
                query = query.where(AlarmRow.project_id == project)
            return [alarm_record(row) for row in s.execute(query.order_by(AlarmRow.alarm_id))]

    def alarms_reading(self, metric_ids: Sequence[uuid.UUID]) -> list[uuid.UUID]:
        """The enabled alarms that read any of these metrics at their last evaluation (sorted ids)."""
        found: set[uuid.UUID] = set()
        with self._read() as s:
            for chunk in _chunks(list(metric_ids)):
                found.update(s.scalars(
                    sa.select(AlarmMetricRow.alarm_id)
                    .join(AlarmRow, AlarmRow.alarm_id == AlarmMetricRow.alarm_id)
                    .where(id_in(s, AlarmMetricRow.metric_id, chunk), AlarmRow.enabled.is_(True))
                    .distinct()
                ))
        return sorted(found)

    def set_alarm_metrics(self, alarm_id: uuid.UUID, metric_ids: Iterable[uuid.UUID]) -> bool:
        """Replace the metrics the alarm reads; False when the alarm no longer exists."""
        wanted = set(metric_ids)
        with self._write() as s:
            if s.scalar(sa.select(AlarmRow.alarm_id).where(AlarmRow.alarm_id == alarm_id)) is None:
                return False
            current = set(s.scalars(sa.select(AlarmMetricRow.metric_id).where(AlarmMetricRow.alarm_id == alarm_id)))
            gone = sorted(current - wanted)
            for chunk in _chunks(gone):
                s.execute(sa.delete(AlarmMetricRow).where(
                    AlarmMetricRow.alarm_id == alarm_id, id_in(s, AlarmMetricRow.metric_id, chunk)
                ))
            new = sorted(wanted - current)
            if new:
                s.execute(sa.insert(AlarmMetricRow), [{"alarm_id": alarm_id, "metric_id": m} for m in new])
        return True
