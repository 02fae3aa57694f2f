"""SQLAlchemy ORM models of the indexer.

Why the resource tables look the way they do: Gnocchi creates a table pair (``rt_<uuid>`` and its history)
per resource type, so creating a type runs DDL under locks, and a failed half-created type needs a state
machine to recover. Here every resource, whatever its type, is one row of ``resource``: the columns every
type shares (id, type, creator, user_id, project_id, started_at, ended_at, revision_start) are real,
indexed columns, and the type-specific attributes live in one ``attributes`` JSON column (JSONB on
PostgreSQL, where it can take a GIN index; JSON text queried with ``json_extract`` on SQLite). Creating,
changing or deleting a resource type is then a row in ``resource_type`` holding the attribute schema,
with no DDL, and ``resource_history`` mirrors ``resource`` for every type at once.

Times are stored as timezone-aware UTC datetimes (microseconds are enough for resources); the engine's
int64 nanoseconds stay inside ``timeseries``. Archive policy granularities are stored as integer
nanoseconds inside the policy's JSON definition.

These models must match ``migrations/versions``; a test compares them on both dialects.
"""

from __future__ import annotations

import datetime
import uuid
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

NAMING_CONVENTION = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_N_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

#: JSON everywhere, JSONB on PostgreSQL (indexable, compact, key order irrelevant).
JSONType = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")
#: The same for a nullable document: Python None is SQL NULL (``IS NULL`` finds it), not JSON ``null``.
NullableJSONType = sa.JSON(none_as_null=True).with_variant(postgresql.JSONB(none_as_null=True), "postgresql")


class UTCDateTime(sa.TypeDecorator[datetime.datetime]):
    """A datetime that always comes back timezone-aware in UTC, on every dialect.

    SQLite has no timezone type: values are stored as naive UTC text (which sorts correctly because
    SQLAlchemy always writes microseconds); PostgreSQL stores ``timestamptz``.
    """

    impl = sa.DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime.datetime | None, dialect: sa.Dialect) -> Any:
        if value is None:
            return None
        if value.tzinfo is None:
            value = value.replace(tzinfo=datetime.UTC)
        value = value.astimezone(datetime.UTC)
        if dialect.name == "sqlite":
            return value.replace(tzinfo=None)
        return value

    def process_result_value(self, value: Any, dialect: sa.Dialect) -> datetime.datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=datetime.UTC)
        return value.astimezone(datetime.UTC)


class Base(DeclarativeBase):
    metadata = sa.MetaData(naming_convention=NAMING_CONVENTION)


class ArchivePolicyRow(Base):
    __tablename__ = "archive_policy"

    name: Mapped[str] = mapped_column(sa.String(255), primary_key=True)
    back_window: Mapped[int] = mapped_column(sa.Integer, nullable=False)
    #: [{"granularity_ns": int, "points": int | None}, ...], finest granularity first.
    definition: Mapped[list[dict[str, Any]]] = mapped_column(JSONType, nullable=False)
    aggregation_methods: Mapped[list[str]] = mapped_column(JSONType, nullable=False)


class ArchivePolicyRuleRow(Base):
    __tablename__ = "archive_policy_rule"

    name: Mapped[str] = mapped_column(sa.String(255), primary_key=True)
    archive_policy_name: Mapped[str] = mapped_column(
        sa.String(255),
        sa.ForeignKey("archive_policy.name", ondelete="RESTRICT"),
        nullable=False,
        index=True,
    )
    metric_pattern: Mapped[str] = mapped_column(sa.String(255), nullable=False)


class ResourceTypeRow(Base):
    __tablename__ = "resource_type"

    name: Mapped[str] = mapped_column(sa.String(255), primary_key=True)
    #: The attribute schema ({attr: {type, required, options...}}); no DDL when it changes.
    attributes: Mapped[dict[str, Any]] = mapped_column(JSONType, nullable=False)
    state: Mapped[str] = mapped_column(sa.String(32), nullable=False, server_default="active")
    updated_at: Mapped[datetime.datetime] = mapped_column(UTCDateTime, nullable=False)


#: The API's default resource order (``revision_start``, ``started_at``, then ``id``): listing a page is one
#: ordered index range (per type, and across types for "generic"). Migration 0002 explains each index.
RESOURCE_ORDER_COLUMNS = ("revision_start", "started_at", "id")


def _attributes_gin_index(table: str) -> sa.Index:
    """GIN ``jsonb_path_ops`` on ``attributes`` (PostgreSQL), serving the containment (``@>``) that attribute
    equality compiles to, for every attribute of every type without DDL per type.

    SQLite has no GIN: there the index is declared empty (``WHERE 0``), which costs nothing on writes and is
    never used, so that both dialects keep one schema that Alembic's model/migration comparison checks
    (it cannot compare an index that exists on one dialect only)."""
    return sa.Index(
        f"ix_{table}_attributes",
        "attributes",
        postgresql_using="gin",
        postgresql_ops={"attributes": "jsonb_path_ops"},
        sqlite_where=sa.text("0"),
    )


class ResourceRow(Base):
    __tablename__ = "resource"
    __table_args__ = (
        sa.CheckConstraint("started_at <= ended_at", name="started_before_ended"),
        sa.Index("ix_resource_type_revision_start_started_at_id", "type", *RESOURCE_ORDER_COLUMNS),
        sa.Index("ix_resource_revision_start_started_at_id", *RESOURCE_ORDER_COLUMNS),
        _attributes_gin_index("resource"),
    )

    id: Mapped[uuid.UUID] = mapped_column(sa.Uuid, primary_key=True)
    type: Mapped[str] = mapped_column(
        sa.String(255), sa.ForeignKey("resource_type.name", ondelete="RESTRICT"), nullable=False
    )
    original_resource_id: Mapped[str] = mapped_column(sa.String(289), nullable=False, index=True)
    creator: Mapped[str | None] = mapped_column(sa.String(255), index=True)
    user_id: Mapped[str | None] = mapped_column(sa.String(255), index=True)
    project_id: Mapped[str | None] = mapped_column(sa.String(255), index=True)
    started_at: Mapped[datetime.datetime] = mapped_column(UTCDateTime, nullable=False, index=True)
    ended_at: Mapped[datetime.datetime | None] = mapped_column(UTCDateTime, index=True)
    revision_start: Mapped[datetime.datetime] = mapped_column(UTCDateTime, nullable=False)
    attributes: Mapped[dict[str, Any]] = mapped_column(JSONType, nullable=False)

    metrics: Mapped[list[MetricRow]] = relationship(
        "MetricRow",
        primaryjoin="and_(ResourceRow.id == foreign(MetricRow.resource_id), MetricRow.status == 'active')",
        viewonly=True,
        lazy="selectin",
    )


class ResourceHistoryRow(Base):
    """Past revisions of resources, for every resource type (filled by the history issue)."""

    __tablename__ = "resource_history"
    __table_args__ = (
        sa.CheckConstraint("started_at <= ended_at", name="started_before_ended"),
        sa.Index("ix_resource_history_id_revision_end", "id", "revision_end"),
        sa.Index("ix_resource_history_type_revision_start_started_at_id", "type", *RESOURCE_ORDER_COLUMNS),
        _attributes_gin_index("resource_history"),
    )

    revision: Mapped[int] = mapped_column(
        sa.BigInteger().with_variant(sa.Integer, "sqlite"), primary_key=True, autoincrement=True
    )
    id: Mapped[uuid.UUID] = mapped_column(sa.Uuid, sa.ForeignKey("resource.id", ondelete="CASCADE"), nullable=False)
    type: Mapped[str] = mapped_column(
        sa.String(255), sa.ForeignKey("resource_type.name", ondelete="RESTRICT"), nullable=False
    )
    original_resource_id: Mapped[str] = mapped_column(sa.String(289), nullable=False)
    creator: Mapped[str | None] = mapped_column(sa.String(255))
    user_id: Mapped[str | None] = mapped_column(sa.String(255))
    project_id: Mapped[str | None] = mapped_column(sa.String(255))
    started_at: Mapped[datetime.datetime] = mapped_column(UTCDateTime, nullable=False)
    ended_at: Mapped[datetime.datetime | None] = mapped_column(UTCDateTime)
    revision_start: Mapped[datetime.datetime] = mapped_column(UTCDateTime, nullable=False)
    revision_end: Mapped[datetime.datetime] = mapped_column(UTCDateTime, nullable=False)
    attributes: Mapped[dict[str, Any]] = mapped_column(JSONType, nullable=False)


class MetricRow(Base):
    __tablename__ = "metric"
    __table_args__ = (
        # A name is unique per resource; NULL resource_id (unattached metrics) never collides.
        sa.UniqueConstraint("resource_id", "name"),
        sa.CheckConstraint("status IN ('active', 'delete')", name="status"),
    )

    id: Mapped[uuid.UUID] = mapped_column(sa.Uuid, primary_key=True)
    archive_policy_name: Mapped[str] = mapped_column(
        sa.String(255),
        sa.ForeignKey("archive_policy.name", ondelete="RESTRICT"),
        nullable=False,
        index=True,
    )
    creator: Mapped[str | None] = mapped_column(sa.String(255), index=True)
    resource_id: Mapped[uuid.UUID | None] = mapped_column(sa.Uuid, sa.ForeignKey("resource.id", ondelete="SET NULL"))
    name: Mapped[str | None] = mapped_column(sa.String(255), index=True)
    unit: Mapped[str | None] = mapped_column(sa.String(31))
    status: Mapped[str] = mapped_column(sa.String(16), nullable=False, server_default="active", index=True)

    archive_policy: Mapped[ArchivePolicyRow] = relationship(ArchivePolicyRow, lazy="joined", innerjoin=True)


class CounterRow(Base):
    """A cluster-wide running total (``telescale.indexer.counters``): one row per name, added to in place."""

    __tablename__ = "counter"

    name: Mapped[str] = mapped_column(sa.String(64), primary_key=True)
    value: Mapped[int] = mapped_column(sa.BigInteger, nullable=False, server_default="0")


#: Aodh's alarm states and severities, and Telescale's policies for an evaluation without data.
ALARM_STATES = ("ok", "alarm", "insufficient data")
ALARM_SEVERITIES = ("low", "moderate", "critical")
MISSING_DATA_POLICIES = ("insufficient_data", "ok", "alarm", "keep_state")
NOTIFICATION_STATES = ("pending", "delivered", "failed")


def _in(column: str, values: tuple[str, ...]) -> str:
    return f"{column} IN ({', '.join(repr(v) for v in values)})"


class AlarmRow(Base):
    """An alarm (Aodh's v2 fields) plus Telescale's evaluation settings and the evaluator's bookkeeping.

    ``rule`` holds the ``<type>_rule`` object as the API takes it (composite: the and/or tree). ``version``
    grows with every change of the definition or the state, so an update or a state transition can be
    conditional on what its writer read (two evaluators never both record the same transition)."""

    __tablename__ = "alarm"
    __table_args__ = (
        sa.CheckConstraint(_in("state", ALARM_STATES), name="state"),
        sa.CheckConstraint(_in("severity", ALARM_SEVERITIES), name="severity"),
        sa.CheckConstraint(_in("missing_data", MISSING_DATA_POLICIES), name="missing_data"),
        sa.CheckConstraint(f"pending_state IS NULL OR {_in('pending_state', ALARM_STATES)}", name="pending_state"),
        # A project's listing in the default order (newest definition first), and the whole listing (admin).
        sa.Index("ix_alarm_project_id_timestamp", "project_id", "timestamp"),
        sa.Index("ix_alarm_timestamp", "timestamp"),
        # What the evaluator picks: enabled alarms not evaluated for their interval.
        sa.Index("ix_alarm_enabled_evaluate_timestamp", "enabled", "evaluate_timestamp"),
    )

    alarm_id: Mapped[uuid.UUID] = mapped_column(sa.Uuid, primary_key=True)
    name: Mapped[str] = mapped_column(sa.String(255), nullable=False)
    description: Mapped[str] = mapped_column(sa.Text, nullable=False)
    type: Mapped[str] = mapped_column(sa.String(64), nullable=False)
    enabled: Mapped[bool] = mapped_column(sa.Boolean, nullable=False)
    severity: Mapped[str] = mapped_column(sa.String(16), nullable=False)
    state: Mapped[str] = mapped_column(sa.String(32), nullable=False)
    state_reason: Mapped[str] = mapped_column(sa.Text, nullable=False)
    state_timestamp: Mapped[datetime.datetime] = mapped_column(UTCDateTime, nullable=False)
    timestamp: Mapped[datetime.datetime] = mapped_column(UTCDateTime, nullable=False)
    evaluate_timestamp: Mapped[datetime.datetime | None] = mapped_column(UTCDateTime)
    user_id: Mapped[str | None] = mapped_column(sa.String(255))
    project_id: Mapped[str | None] = mapped_column(sa.String(255))
    ok_actions: Mapped[list[str]] = mapped_column(JSONType, nullable=False)
    alarm_actions: Mapped[list[str]] = mapped_column(JSONType, nullable=False)
    insufficient_data_actions: Mapped[list[str]] = mapped_column(JSONType, nullable=False)
    repeat_actions: Mapped[bool] = mapped_column(sa.Boolean, nullable=False)
    time_constraints: Mapped[list[dict[str, Any]]] = mapped_column(JSONType, nullable=False)
    rule: Mapped[dict[str, Any]] = mapped_column(JSONType, nullable=False)
    #: Seconds between evaluations; NULL: the ``alarming.evaluation_interval`` setting.
    evaluation_interval: Mapped[float | None] = mapped_column(sa.Float)
    #: Seconds a new state must hold before the alarm enters it (Prometheus' ``for``).
    pending_for: Mapped[float] = mapped_column(sa.Float, nullable=False, server_default="0")
    missing_data: Mapped[str] = mapped_column(sa.String(32), nullable=False, server_default="insufficient_data")
    #: The state the alarm is pending towards, and since when (both NULL when nothing is pending).
    pending_state: Mapped[str | None] = mapped_column(sa.String(32))
    pending_since: Mapped[datetime.datetime | None] = mapped_column(UTCDateTime)
    #: The Keystone trust of ``trust+http(s)://`` actions; never shown by the API.
    trust_id: Mapped[str | None] = mapped_column(sa.String(255))
    version: Mapped[int] = mapped_column(sa.Integer, nullable=False, server_default="1")


class AlarmHistoryRow(Base):
    """One change of an alarm (Aodh's ``alarm_history``). No foreign key: history outlives the alarm."""

    __tablename__ = "alarm_history"
    __table_args__ = (
        sa.Index("ix_alarm_history_alarm_id_timestamp", "alarm_id", "timestamp"),
        sa.Index("ix_alarm_history_timestamp", "timestamp"),
    )

    event_id: Mapped[uuid.UUID] = mapped_column(sa.Uuid, primary_key=True)
    alarm_id: Mapped[uuid.UUID] = mapped_column(sa.Uuid, nullable=False)
    #: creation | rule change | state transition | deletion | action | evaluation error
    type: Mapped[str] = mapped_column(sa.String(32), nullable=False)
    #: A JSON document as text, exactly as the API shows it (Aodh's ``detail`` is a string).
    detail: Mapped[str] = mapped_column(sa.Text, nullable=False)
    user_id: Mapped[str | None] = mapped_column(sa.String(255))
    project_id: Mapped[str | None] = mapped_column(sa.String(255))
    on_behalf_of: Mapped[str | None] = mapped_column(sa.String(255))
    severity: Mapped[str | None] = mapped_column(sa.String(16))
    timestamp: Mapped[datetime.datetime] = mapped_column(UTCDateTime, nullable=False)


class AlarmMetricRow(Base):
    """A metric an alarm read at its last evaluation: new measures of it trigger the alarm's evaluation."""

    __tablename__ = "alarm_metric"

    alarm_id: Mapped[uuid.UUID] = mapped_column(
        sa.Uuid, sa.ForeignKey("alarm.alarm_id", ondelete="CASCADE"), primary_key=True
    )
    metric_id: Mapped[uuid.UUID] = mapped_column(sa.Uuid, primary_key=True, index=True)


class AlarmNotificationRow(Base):
    """The outbox: a notification committed with the transition that caused it, until delivered or given up."""

    __tablename__ = "alarm_notification"
    __table_args__ = (
        sa.CheckConstraint(_in("state", NOTIFICATION_STATES), name="state"),
        sa.Index("ix_alarm_notification_state_next_attempt_at", "state", "next_attempt_at"),
    )

    id: Mapped[int] = mapped_column(
        sa.BigInteger().with_variant(sa.Integer, "sqlite"), primary_key=True, autoincrement=True
    )
    alarm_id: Mapped[uuid.UUID] = mapped_column(sa.Uuid, nullable=False)
    #: The alarm's project when the notification was queued (``on_behalf_of`` of its delivery history).
    project_id: Mapped[str | None] = mapped_column(sa.String(255))
    action: Mapped[str] = mapped_column(sa.Text, nullable=False)
    payload: Mapped[dict[str, Any]] = mapped_column(JSONType, nullable=False)
    created_at: Mapped[datetime.datetime] = mapped_column(UTCDateTime, nullable=False)
    next_attempt_at: Mapped[datetime.datetime] = mapped_column(UTCDateTime, nullable=False)
    attempts: Mapped[int] = mapped_column(sa.Integer, nullable=False, server_default="0")
    state: Mapped[str] = mapped_column(sa.String(16), nullable=False, server_default="pending")
    #: A dispatcher's lease: nobody else takes the row before this time.
    claimed_until: Mapped[datetime.datetime | None] = mapped_column(UTCDateTime)
    last_error: Mapped[str | None] = mapped_column(sa.Text)


class AlarmQuotaRow(Base):
    """Aodh's per-project quotas (resource ``alarms``); ``limit`` -1 means unlimited."""

    __tablename__ = "alarm_quota"

    project_id: Mapped[str] = mapped_column(sa.String(255), primary_key=True)
    resource: Mapped[str] = mapped_column(sa.String(64), primary_key=True)
    limit: Mapped[int] = mapped_column(sa.Integer, nullable=False)


class ScalingGroupRow(Base):
    """A scaling group (``telescale.scaling.model.Group``). The action in flight is one JSON document; its
    owner, lease and next attempt are columns too, so that claiming due actions is one indexed query.
    ``version`` grows with every change a user or a decision makes (not with lease bookkeeping)."""

    __tablename__ = "scaling_group"
    __table_args__ = (
        sa.UniqueConstraint("project_id", "name"),
        sa.CheckConstraint("0 <= min_size AND min_size <= max_size", name="size_bounds"),
        sa.CheckConstraint("desired_capacity >= 0", name="desired_capacity"),
        sa.CheckConstraint("current_size >= 0", name="current_size"),
        sa.Index("ix_scaling_group_created_at_id", "created_at", "id"),
    )

    id: Mapped[uuid.UUID] = mapped_column(sa.Uuid, primary_key=True)
    name: Mapped[str] = mapped_column(sa.String(255), nullable=False)
    project_id: Mapped[str | None] = mapped_column(sa.String(255))
    user_id: Mapped[str | None] = mapped_column(sa.String(255))
    min_size: Mapped[int] = mapped_column(sa.Integer, nullable=False)
    max_size: Mapped[int] = mapped_column(sa.Integer, nullable=False)
    desired_capacity: Mapped[int] = mapped_column(sa.Integer, nullable=False)
    current_size: Mapped[int] = mapped_column(sa.Integer, nullable=False)
    cooldown: Mapped[float] = mapped_column(sa.Float, nullable=False)
    cooldown_end: Mapped[datetime.datetime | None] = mapped_column(UTCDateTime)
    member_driver: Mapped[dict[str, Any]] = mapped_column(JSONType, nullable=False)
    member_resource_type: Mapped[str | None] = mapped_column(sa.String(255))
    member_query: Mapped[str | None] = mapped_column(sa.Text)
    paused: Mapped[bool] = mapped_column(sa.Boolean, nullable=False)
    dry_run: Mapped[bool] = mapped_column(sa.Boolean, nullable=False)
    behavior: Mapped[dict[str, Any]] = mapped_column(JSONType, nullable=False)
    healing: Mapped[dict[str, Any]] = mapped_column(JSONType, nullable=False)
    #: ``model.Action`` without owner, lease and next attempt (the three columns below); NULL: none in flight.
    action: Mapped[dict[str, Any] | None] = mapped_column(NullableJSONType)
    action_owner: Mapped[str | None] = mapped_column(sa.String(255))
    action_lease_until: Mapped[datetime.datetime | None] = mapped_column(UTCDateTime)
    action_next_attempt_at: Mapped[datetime.datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime.datetime] = mapped_column(UTCDateTime, nullable=False)
    updated_at: Mapped[datetime.datetime] = mapped_column(UTCDateTime, nullable=False)
    version: Mapped[int] = mapped_column(sa.Integer, nullable=False, server_default="1")


class ScalingPolicyRow(Base):
    """A policy of a group; ``spec`` holds the StepSpec, TargetSpec or ScheduleSpec of its ``type``.
    ``token_hash`` is the SHA-256 (hex) of the signal URL's secret, NULL once revoked; ``next_evaluation_at``
    is when the scaler evaluates it next (NULL: only signals move it)."""

    __tablename__ = "scaling_policy"
    __table_args__ = (sa.UniqueConstraint("group_id", "name"),)

    id: Mapped[uuid.UUID] = mapped_column(sa.Uuid, primary_key=True)
    group_id: Mapped[uuid.UUID] = mapped_column(
        sa.Uuid, sa.ForeignKey("scaling_group.id", ondelete="CASCADE"), nullable=False
    )
    name: Mapped[str] = mapped_column(sa.String(255), nullable=False)
    type: Mapped[str] = mapped_column(sa.String(32), nullable=False)
    spec: Mapped[dict[str, Any]] = mapped_column(JSONType, nullable=False)
    trigger: Mapped[dict[str, Any] | None] = mapped_column(NullableJSONType)
    enabled: Mapped[bool] = mapped_column(sa.Boolean, nullable=False)
    token_hash: Mapped[str | None] = mapped_column(sa.String(64), unique=True)
    state: Mapped[dict[str, Any]] = mapped_column(JSONType, nullable=False)
    next_evaluation_at: Mapped[datetime.datetime | None] = mapped_column(UTCDateTime, index=True)
    created_at: Mapped[datetime.datetime] = mapped_column(UTCDateTime, nullable=False)


class ScalingMemberRow(Base):
    """A member of a group as its driver knows it (``ref``); replaced wholesale when an action completes."""

    __tablename__ = "scaling_member"

    id: Mapped[uuid.UUID] = mapped_column(sa.Uuid, primary_key=True)
    group_id: Mapped[uuid.UUID] = mapped_column(
        sa.Uuid, sa.ForeignKey("scaling_group.id", ondelete="CASCADE"), nullable=False, index=True
    )
    name: Mapped[str] = mapped_column(sa.String(255), nullable=False)
    ref: Mapped[str] = mapped_column(sa.Text, nullable=False)
    status: Mapped[str] = mapped_column(sa.String(16), nullable=False)
    resource_id: Mapped[uuid.UUID | None] = mapped_column(sa.Uuid)
    created_at: Mapped[datetime.datetime] = mapped_column(UTCDateTime, nullable=False)
    data: Mapped[dict[str, Any]] = mapped_column(JSONType, nullable=False)


class ScalingDecisionRow(Base):
    """One line of the decision log. No foreign key: the log of a deleted group stays readable, scoped by
    the ``project_id`` copied from the group."""

    __tablename__ = "scaling_decision"
    __table_args__ = (sa.Index("ix_scaling_decision_group_id_timestamp", "group_id", "timestamp"),)

    id: Mapped[uuid.UUID] = mapped_column(sa.Uuid, primary_key=True)
    group_id: Mapped[uuid.UUID] = mapped_column(sa.Uuid, nullable=False)
    project_id: Mapped[str | None] = mapped_column(sa.String(255))
    timestamp: Mapped[datetime.datetime] = mapped_column(UTCDateTime, nullable=False)
    source: Mapped[str] = mapped_column(sa.String(32), nullable=False)
    outcome: Mapped[str] = mapped_column(sa.String(16), nullable=False)
    reason: Mapped[str] = mapped_column(sa.Text, nullable=False)
    size_before: Mapped[int] = mapped_column(sa.Integer, nullable=False)
    size_after: Mapped[int] = mapped_column(sa.Integer, nullable=False)
    current_size: Mapped[int] = mapped_column(sa.Integer, nullable=False)
    policy_id: Mapped[uuid.UUID | None] = mapped_column(sa.Uuid)
    recommended: Mapped[int | None] = mapped_column(sa.Integer)
    rule: Mapped[str] = mapped_column(sa.Text, nullable=False)
    blocked_by: Mapped[str | None] = mapped_column(sa.String(32))
    inputs: Mapped[dict[str, Any]] = mapped_column(JSONType, nullable=False)
    dry_run: Mapped[bool] = mapped_column(sa.Boolean, nullable=False)


class SilenceRow(Base):
    """Autohealing skips members whose name matches ``pattern`` until ``expires_at`` (a whole project's
    groups when ``group_id`` is NULL)."""

    __tablename__ = "silence"

    id: Mapped[uuid.UUID] = mapped_column(sa.Uuid, primary_key=True)
    project_id: Mapped[str | None] = mapped_column(sa.String(255), index=True)
    group_id: Mapped[uuid.UUID | None] = mapped_column(sa.Uuid)
    pattern: Mapped[str] = mapped_column(sa.Text, nullable=False)
    comment: Mapped[str] = mapped_column(sa.Text, nullable=False)
    created_by: Mapped[str | None] = mapped_column(sa.String(255))
    created_at: Mapped[datetime.datetime] = mapped_column(UTCDateTime, nullable=False)
    expires_at: Mapped[datetime.datetime] = mapped_column(UTCDateTime, nullable=False, index=True)
