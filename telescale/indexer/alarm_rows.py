"""What every alarm module shares: alarm rows ↔ records, history entries, and JSON that always serialises.

History ``detail`` is a JSON document stored as text, as Aodh stores and shows it: the API hands the string
out unchanged, so what is written here is what a client reads.
"""

from __future__ import annotations

import dataclasses
import datetime
import decimal
import hashlib
import json
import uuid
from collections.abc import Mapping
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from telescale.indexer import errors
from telescale.indexer.models import (
    ALARM_SEVERITIES,
    ALARM_STATES,
    MISSING_DATA_POLICIES,
    AlarmHistoryRow,
    AlarmRow,
)
from telescale.indexer.records import Alarm, AlarmChange

ALARM_COLUMNS = tuple(f.name for f in dataclasses.fields(Alarm))
_TUPLE_FIELDS = ("ok_actions", "alarm_actions", "insufficient_data_actions", "time_constraints")
#: Never in history or anywhere the API reads: the trust, and the store's and evaluator's bookkeeping.
_PRIVATE_FIELDS = frozenset({"trust_id", "version", "pending_state", "pending_since", "evaluate_timestamp"})
#: What a definition change does not report (Aodh leaves both out of a rule change's detail).
_UNREPORTED_CHANGES = frozenset({"timestamp", "state_timestamp"})

#: pg_advisory_xact_lock namespace of quota checks ("alarmq" in ASCII), XORed with the project's hash.
_QUOTA_LOCK_NAMESPACE = 0x616C61726D71


def select_alarms() -> sa.Select[Any]:
    """Every alarm column as plain rows: no ORM objects to build (10,000 due alarms are read per cycle)."""
    return sa.select(AlarmRow.__table__)


def scope(project: str | None) -> sa.ColumnElement[bool]:
    """The alarms a caller limited to ``project`` may see (None: every alarm)."""
    return sa.true() if project is None else AlarmRow.project_id == project


def alarm_record(row: sa.Row[Any]) -> Alarm:
    """The record of a row of :func:`select_alarms`."""
    values = row._asdict()
    for name in _TUPLE_FIELDS:
        values[name] = tuple(values[name] or ())
    values["rule"] = values["rule"] or {}
    return Alarm(**values)


def column_values(alarm: Alarm) -> dict[str, Any]:
    """The column values of a record (tuples become JSON lists), after checking the enumerated fields."""
    _check_choice("state", alarm.state, ALARM_STATES)
    _check_choice("severity", alarm.severity, ALARM_SEVERITIES)
    _check_choice("missing_data", alarm.missing_data, MISSING_DATA_POLICIES)
    if alarm.pending_state is not None:
        _check_choice("pending_state", alarm.pending_state, ALARM_STATES)
    values = {name: getattr(alarm, name) for name in ALARM_COLUMNS}
    for name in _TUPLE_FIELDS:
        values[name] = plain(list(values[name]))
    values["rule"] = plain(values["rule"])
    return values


def _check_choice(field: str, value: Any, choices: tuple[str, ...]) -> None:
    if value not in choices:
        raise errors.InvalidAlarmValue(field, value, f"one of {', '.join(choices)}")


def public_fields(values: Mapping[str, Any]) -> dict[str, Any]:
    """An alarm's fields as a history detail shows them: JSON types, timestamps in ISO 8601, no private field."""
    return {name: _json_value(value) for name, value in values.items() if name not in _PRIVATE_FIELDS}


def changed_fields(before: Mapping[str, Any], after: Mapping[str, Any]) -> dict[str, Any]:
    """Aodh's rule-change detail: each public field whose value differs, with its new value."""
    old, new = public_fields(before), public_fields(after)
    return {k: v for k, v in new.items() if k not in _UNREPORTED_CHANGES and old.get(k) != v}


def _json_default(value: Any) -> Any:
    if isinstance(value, datetime.datetime):
        return value.isoformat()
    if isinstance(value, uuid.UUID | decimal.Decimal):
        return str(value)
    if isinstance(value, tuple | set | frozenset):
        return list(value)
    if hasattr(value, "item"):  # numpy scalars
        return value.item()
    if hasattr(value, "tolist"):  # numpy arrays
        return value.tolist()
    raise TypeError(f"{type(value).__name__} is not JSON serialisable")


def to_json(value: Any) -> str:
    """JSON text with Aodh's separators; datetimes, UUIDs and numpy values converted."""
    return json.dumps(value, default=_json_default)


def plain(value: Any) -> Any:
    """``value`` as plain JSON types (what a JSON column stores and gives back)."""
    return json.loads(to_json(value))


def _json_value(value: Any) -> Any:
    return value.isoformat() if isinstance(value, datetime.datetime) else plain(value)


def add_history(
    s: Session,
    alarm_id: uuid.UUID,
    type: str,
    detail: Mapping[str, Any],
    timestamp: datetime.datetime,
    *,
    user_id: str | None = None,
    project_id: str | None = None,
    on_behalf_of: str | None = None,
    severity: str | None = None,
) -> None:
    """One history entry, in the caller's transaction (the change and its record commit together)."""
    s.execute(
        sa.insert(AlarmHistoryRow).values(
            event_id=uuid.uuid4(),
            alarm_id=alarm_id,
            type=type,
            detail=to_json(detail),
            user_id=user_id,
            project_id=project_id,
            on_behalf_of=on_behalf_of,
            severity=severity,
            timestamp=timestamp,
        )
    )


def history_record(row: Any) -> AlarmChange:
    return AlarmChange(
        event_id=row.event_id,
        alarm_id=row.alarm_id,
        type=row.type,
        detail=row.detail,
        user_id=row.user_id,
        project_id=row.project_id,
        on_behalf_of=row.on_behalf_of,
        severity=row.severity,
        timestamp=row.timestamp,
    )


def lock_project(s: Session, project_id: str | None) -> None:
    """Serialise the quota checks of one project on PostgreSQL (SQLite writers are serialised already)."""
    if s.get_bind().dialect.name != "postgresql":
        return
    digest = hashlib.blake2b((project_id or "").encode(), digest_size=8).digest()
    key = int.from_bytes(digest, "big", signed=True) ^ _QUOTA_LOCK_NAMESPACE
    s.execute(sa.text("SELECT pg_advisory_xact_lock(:key)"), {"key": key})
