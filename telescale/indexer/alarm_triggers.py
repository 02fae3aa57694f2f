"""What ties alarms to the data they read: processing makes them due, the evaluator records what it read.

Processing calls :meth:`AlarmTriggers.trigger_alarms_reading` once per sack with the metrics it merged;
the alarms that read one of them (``alarm_metric``, kept by the evaluator) get their evaluation time
cleared, so the next look for due alarms (a fraction of a second later) evaluates them at once instead of
at their next interval. Looking first is a cheap indexed read, so a deployment without alarms pays no write.
"""

from __future__ import annotations

import datetime
import uuid
from collections.abc import Iterable, Mapping

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from telescale.indexer.alarm_evaluation import _chunks, id_in
from telescale.indexer.alarm_rows import add_history
from telescale.indexer.engine import IndexerEngine
from telescale.indexer.models import AlarmMetricRow, AlarmRow

EVALUATION_ERROR = "evaluation error"


def _insert_ignoring_duplicates(s: Session) -> sa.Insert:
    if s.get_bind().dialect.name == "postgresql":
        return postgresql.insert(AlarmMetricRow).on_conflict_do_nothing()
    return sqlite.insert(AlarmMetricRow).on_conflict_do_nothing()


class AlarmTriggers(IndexerEngine):
    def trigger_alarms_reading(self, metric_ids: Iterable[uuid.UUID]) -> int:
        """Make the enabled alarms that read any of ``metric_ids`` due now; how many there were."""
        ids = list(metric_ids)
        if not ids:
            return 0
        alarms: set[uuid.UUID] = set()
        with self._read() as s:
            for chunk in _chunks(ids):
                alarms.update(s.scalars(sa.select(AlarmMetricRow.alarm_id)
                                        .where(id_in(s, AlarmMetricRow.metric_id, chunk)).distinct()))
        if not alarms:
            return 0
        with self._write() as s:
            for chunk in _chunks(sorted(alarms)):
                s.execute(sa.update(AlarmRow)
                          .where(id_in(s, AlarmRow.alarm_id, chunk), AlarmRow.enabled.is_(True))
                          .values(evaluate_timestamp=None))
        return len(alarms)

    def set_alarms_metrics(self, reading: Mapping[uuid.UUID, Iterable[uuid.UUID]]) -> None:
        """Replace the metrics each of these alarms reads, in one transaction (alarms deleted meanwhile are
        skipped)."""
        if not reading:
            return
        alarm_ids = list(reading)
        with self._write() as s:
            existing: set[uuid.UUID] = set()
            for chunk in _chunks(alarm_ids):
                existing.update(s.scalars(sa.select(AlarmRow.alarm_id).where(id_in(s, AlarmRow.alarm_id, chunk))))
                s.execute(sa.delete(AlarmMetricRow).where(id_in(s, AlarmMetricRow.alarm_id, chunk)))
            rows = [{"alarm_id": a, "metric_id": m} for a in alarm_ids if a in existing for m in set(reading[a])]
            if rows:  # another evaluator may write the same links at the same time (ring overlap): keep one
                s.execute(_insert_ignoring_duplicates(s), rows)

    def record_evaluation_error(self, alarm_id: uuid.UUID, message: str, now: datetime.datetime) -> bool:
        """An ``evaluation error`` history entry (the state is left alone) and the evaluation time; False when
        the alarm no longer exists."""
        with self._write() as s:
            row = s.execute(sa.update(AlarmRow).where(AlarmRow.alarm_id == alarm_id)
                            .values(evaluate_timestamp=now)
                            .returning(AlarmRow.project_id, AlarmRow.severity, AlarmRow.state)).first()
            if row is None:
                return False
            project_id, severity, state = row
            add_history(s, alarm_id, EVALUATION_ERROR, {"state": state, "error": message}, now,
                        on_behalf_of=project_id, severity=severity)
        return True
