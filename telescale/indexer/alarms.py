"""Alarms: create, read, replace, set the state of and delete one alarm, each with its history entry.

Every change and the history entry that records it commit in one transaction, so the history never misses
a change nor reports one that was rolled back. History detail follows Aodh: a creation records the alarm's
fields, a rule change the fields that changed (new values), a deletion the state the alarm had; the
``on_behalf_of`` of each entry is the alarm's project, which is what history is scoped by.
"""

from __future__ import annotations

import dataclasses
import datetime
import uuid
from collections.abc import Mapping
from typing import Any

import sqlalchemy as sa
from sqlalchemy import exc
from sqlalchemy.orm import Session

from telescale.indexer import errors
from telescale.indexer.alarm_rows import (
    add_history,
    alarm_record,
    changed_fields,
    column_values,
    lock_project,
    public_fields,
    scope,
    select_alarms,
)
from telescale.indexer.engine import IndexerEngine, constraint_text, utcnow
from telescale.indexer.models import AlarmQuotaRow, AlarmRow
from telescale.indexer.query import equals
from telescale.indexer.records import Alarm

#: Aodh's ``state_reason`` of a state set through the API (``PUT /v2/alarms/{id}`` or ``/state``).
MANUAL_REASON = "Manually set via API"
#: The fields a PUT replaces; the state's reason and time, the evaluator's bookkeeping and the version follow.
UPDATABLE_FIELDS = frozenset(
    {
        "name",
        "description",
        "type",
        "enabled",
        "severity",
        "state",
        "rule",
        "ok_actions",
        "alarm_actions",
        "insufficient_data_actions",
        "repeat_actions",
        "time_constraints",
        "user_id",
        "project_id",
        "evaluation_interval",
        "pending_for",
        "missing_data",
        "trust_id",
    }
)
#: A change of any of these makes the alarm due at once and drops what was pending.
_DEFINITION_FIELDS = frozenset({"type", "rule", "enabled", "evaluation_interval", "pending_for", "missing_data"})
QUOTA_RESOURCE = "alarms"


def _locked_alarm(s: Session, alarm_id: uuid.UUID, project: str | None) -> Any:
    """The alarm, locked until the end of the transaction (PostgreSQL; SQLite writers hold the database)."""
    row = s.execute(
        select_alarms().where(AlarmRow.alarm_id == alarm_id, scope(project)).with_for_update()
    ).first()
    if row is None:
        raise errors.NoSuchAlarm(alarm_id, project)
    return row


def _check_quota(s: Session, alarm: Alarm, default_quota: int, user_quota: int) -> None:
    """Aodh's quotas, counted right: the project's alarms against its quota row (or ``default_quota``), then
    the user's alarms against ``user_quota``; -1 is unlimited."""
    limit = s.scalar(
        sa.select(AlarmQuotaRow.limit).where(
            AlarmQuotaRow.project_id == alarm.project_id, AlarmQuotaRow.resource == QUOTA_RESOURCE
        )
    )
    if limit is None:
        limit = default_quota
    checks = [(AlarmRow.project_id, alarm.project_id, limit), (AlarmRow.user_id, alarm.user_id, user_quota)]
    checks = [check for check in checks if check[2] >= 0]
    if not checks:
        return
    lock_project(s, alarm.project_id)
    for column, owner, quota in checks:
        count = s.scalar(sa.select(sa.func.count()).select_from(AlarmRow).where(equals(column, owner)))
        if count >= quota:
            raise errors.AlarmQuotaExceeded(alarm.user_id, alarm.project_id, quota)


class Alarms(IndexerEngine):
    def create_alarm(
        self,
        alarm: Alarm,
        *,
        by_user: str | None = None,
        by_project: str | None = None,
        default_quota: int = -1,
        user_quota: int = -1,
        now: datetime.datetime | None = None,
    ) -> Alarm:
        """Store a new alarm (version 1) and its ``creation`` history entry, within the quotas.

        ``by_user``/``by_project`` are who asks (the history's ``user_id``/``project_id``);
        ``timestamp``/``state_timestamp`` left None are set to now. Raises :class:`AlarmQuotaExceeded`,
        :class:`AlarmAlreadyExists`."""
        now = now or utcnow()
        alarm = dataclasses.replace(
            alarm,
            timestamp=alarm.timestamp or now,
            state_timestamp=alarm.state_timestamp or now,
            version=1,
        )
        values = column_values(alarm)
        try:
            with self._write() as s:
                _check_quota(s, alarm, default_quota, user_quota)
                if s.get(AlarmRow, alarm.alarm_id) is not None:
                    raise errors.AlarmAlreadyExists(alarm.alarm_id)
                s.execute(sa.insert(AlarmRow).values(values))
                add_history(
                    s, alarm.alarm_id, "creation", public_fields(values), now,
                    user_id=by_user, project_id=by_project, on_behalf_of=alarm.project_id, severity=alarm.severity,
                )
        except exc.IntegrityError as e:
            if "pk_alarm" in constraint_text(e) or "alarm.alarm_id" in constraint_text(e):
                raise errors.AlarmAlreadyExists(alarm.alarm_id) from None
            raise
        return alarm

    def get_alarm(self, alarm_id: uuid.UUID, *, project: str | None) -> Alarm | None:
        """The alarm, or None when it does not exist or is not in ``project`` (None: any project)."""
        with self._read() as s:
            row = s.execute(select_alarms().where(AlarmRow.alarm_id == alarm_id, scope(project))).first()
            return None if row is None else alarm_record(row)

    def update_alarm(
        self,
        alarm_id: uuid.UUID,
        fields: Mapping[str, Any],
        expected_version: int | None = None,
        *,
        project: str | None,
        by_user: str | None = None,
        by_project: str | None = None,
        now: datetime.datetime | None = None,
    ) -> Alarm:
        """Replace the given fields (a PUT passes all of :data:`UPDATABLE_FIELDS`) and record a ``rule change``.

        As Aodh: ``timestamp`` becomes now; a new ``state`` also sets ``state_timestamp`` and the reason
        "Manually set via API"; the history detail holds the changed fields (none changed: no entry). A new
        state drops what was pending; a changed definition also becomes due for evaluation at once. With
        ``expected_version``, raises :class:`AlarmVersionConflict` if the alarm changed since it was read."""
        unknown = set(fields) - UPDATABLE_FIELDS
        if unknown:
            name = sorted(unknown)[0]
            raise errors.InvalidAlarmValue(name, fields[name], "a field update_alarm changes")
        now = now or utcnow()
        with self._write() as s:
            row = _locked_alarm(s, alarm_id, project)
            if expected_version is not None and row.version != expected_version:
                raise errors.AlarmVersionConflict(alarm_id, expected_version, row.version)
            before = alarm_record(row)
            changes: dict[str, Any] = {**fields, "timestamp": now, "version": before.version + 1}
            if fields.get("state", before.state) != before.state:
                changes.update(state_timestamp=now, state_reason=MANUAL_REASON)
            redefined = any(fields[k] != getattr(before, k) for k in _DEFINITION_FIELDS & set(fields))
            if redefined or changes.get("state", before.state) != before.state:
                changes.update(pending_state=None, pending_since=None)
            if redefined:
                changes.update(evaluate_timestamp=None)
            after = dataclasses.replace(before, **_as_record_values(changes))
            values = column_values(after)
            s.execute(sa.update(AlarmRow).where(AlarmRow.alarm_id == alarm_id).values(values))
            detail = changed_fields(column_values(before), values)
            if detail:
                add_history(
                    s, alarm_id, "rule change", detail, now,
                    user_id=by_user, project_id=by_project, on_behalf_of=after.project_id,
                    severity=detail.get("severity"),
                )
        return after

    def set_alarm_state(
        self,
        alarm_id: uuid.UUID,
        state: str,
        *,
        project: str | None,
        by_user: str | None = None,
        by_project: str | None = None,
        reason: str = MANUAL_REASON,
        now: datetime.datetime | None = None,
    ) -> Alarm:
        """``PUT /v2/alarms/{id}/state``: set the state with a ``state transition`` entry whose detail is
        Aodh's ``{"state", "state_reason"}``; no notification (the next evaluation may change it back)."""
        now = now or utcnow()
        with self._write() as s:
            row = _locked_alarm(s, alarm_id, project)
            after = dataclasses.replace(
                alarm_record(row), state=state, state_reason=reason, state_timestamp=now,
                pending_state=None, pending_since=None, version=row.version + 1,
            )
            s.execute(sa.update(AlarmRow).where(AlarmRow.alarm_id == alarm_id).values(column_values(after)))
            add_history(
                s, alarm_id, "state transition", {"state": state, "state_reason": reason}, now,
                user_id=by_user, project_id=by_project, on_behalf_of=after.project_id, severity=after.severity,
            )
        return after

    def delete_alarm(
        self,
        alarm_id: uuid.UUID,
        *,
        project: str | None,
        by_user: str | None = None,
        by_project: str | None = None,
        now: datetime.datetime | None = None,
    ) -> Alarm:
        """Delete the alarm (and the metrics it reads), recording a ``deletion`` entry (detail: its last
        state, as Aodh's notification); its history stays readable. Returns what was deleted (its trust
        is the caller's to revoke)."""
        now = now or utcnow()
        with self._write() as s:
            deleted = alarm_record(_locked_alarm(s, alarm_id, project))
            s.execute(sa.delete(AlarmRow).where(AlarmRow.alarm_id == alarm_id))
            add_history(
                s, alarm_id, "deletion", {"state": deleted.state}, now,
                user_id=by_user, project_id=by_project, on_behalf_of=deleted.project_id, severity=deleted.severity,
            )
        return deleted


def _as_record_values(changes: Mapping[str, Any]) -> dict[str, Any]:
    """Field values as the record holds them (lists of actions and constraints become tuples)."""
    return {k: tuple(v) if isinstance(v, list) and k != "rule" else v for k, v in changes.items()}
