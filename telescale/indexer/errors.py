"""Indexer errors.

Each ``str()`` is the user-facing message in Gnocchi's wording, so the API can put it in a response body
unchanged and Gnocchi's functional tests (which match on these strings) keep passing.
"""

from __future__ import annotations

from typing import Any


class IndexerError(Exception):
    """Base of every error the indexer raises on purpose (the API maps these to 4xx)."""


class NoSuchArchivePolicy(IndexerError):
    def __init__(self, name: str) -> None:
        super().__init__(f"Archive policy {name} does not exist")
        self.name = name


class ArchivePolicyAlreadyExists(IndexerError):
    def __init__(self, name: str) -> None:
        super().__init__(f"Archive policy {name} already exists")
        self.name = name


class ArchivePolicyInUse(IndexerError):
    def __init__(self, name: str) -> None:
        super().__init__(f"Archive policy {name} is still in use")
        self.name = name


class NoSuchArchivePolicyRule(IndexerError):
    def __init__(self, name: str) -> None:
        super().__init__(f"Archive policy rule {name} does not exist")
        self.name = name


class ArchivePolicyRuleAlreadyExists(IndexerError):
    def __init__(self, name: str) -> None:
        super().__init__(f"Archive policy rule {name} already exists")
        self.name = name


class UnsupportedArchivePolicyRuleChange(ArchivePolicyRuleAlreadyExists):
    """Renaming a rule onto an existing name.

    A subclass of :class:`ArchivePolicyRuleAlreadyExists` so callers catching that still work, with the
    message Gnocchi returns for ``PATCH /v1/archive_policy_rule/{name}`` (its tests match the final dot).
    """

    def __init__(self, name: str, new_name: str) -> None:
        super().__init__(new_name)
        self.args = (
            f"Archive policy rule {name} does not support change: Archive policy rule {new_name} already exists.",
        )
        self.rule_name = name


class NoArchivePolicyRuleMatch(IndexerError):
    def __init__(self, metric_name: str | None) -> None:
        super().__init__(f"No archive policy rule found for metric {metric_name}")
        self.metric_name = metric_name


class NoSuchMetric(IndexerError):
    def __init__(self, id: Any) -> None:
        super().__init__(f"Metric {id} does not exist")
        self.id = id


class MetricAlreadyExists(IndexerError):
    def __init__(self, id: Any) -> None:
        super().__init__(f"Metric {id} already exists")
        self.id = id


class NamedMetricAlreadyExists(IndexerError):
    def __init__(self, name: str | None) -> None:
        super().__init__(f"Named metric {name} already exists")
        self.name = name


class NoSuchResource(IndexerError):
    def __init__(self, id: Any) -> None:
        super().__init__(f"Resource {id} does not exist")
        self.id = id


class ResourceAlreadyExists(IndexerError):
    def __init__(self, id: Any) -> None:
        super().__init__(f"Resource {id} already exists")
        self.id = id


class NoSuchResourceType(IndexerError):
    def __init__(self, name: str) -> None:
        super().__init__(f"Resource type {name} does not exist")
        self.name = name


class ResourceTypeAlreadyExists(IndexerError):
    def __init__(self, name: str) -> None:
        super().__init__(f"Resource type {name} already exists")
        self.name = name


class ResourceTypeInUse(IndexerError):
    def __init__(self, name: str) -> None:
        super().__init__(f"Resource type {name} is still in use")
        self.name = name


class ResourceAttributeError(IndexerError, ValueError):
    """A sort key or filter naming an attribute the resource type does not have."""

    def __init__(self, type: str, attribute: str) -> None:
        super().__init__(f"Resource type {type} has no {attribute} attribute")
        self.type = type
        self.attribute = attribute


class ResourceValueError(IndexerError, ValueError):
    """A resource field holds a value the indexer cannot store (e.g. started_at after ended_at)."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field


class InvalidPagination(IndexerError):
    """Base of the sort/marker errors, so the API can map all of them to one 400."""


class InvalidSortKey(InvalidPagination):
    def __init__(self, key: str) -> None:
        super().__init__(f"Sort key supplied is invalid: {key}")
        self.key = key


class UnknownGroupby(InvalidSortKey):
    """A group-by key that is neither a resource column nor an attribute of the type.

    ``str(e)`` stays Gnocchi's sort-key text (its clients and conformance suite match it); ``hint`` names
    the attribute and the type so that the user can fix the request.
    """

    def __init__(self, key: str, resource_type: str) -> None:
        super().__init__(key)
        self.hint = f"groupby: unknown attribute {key!r} of resource type {resource_type!r}"


class InvalidSortDirection(InvalidSortKey):
    """An unknown direction in ``key:direction``; a subclass of InvalidSortKey so it maps to 400 too."""

    def __init__(self, key: str, direction: str) -> None:
        super().__init__(key)
        self.args = (
            f"Sort direction supplied is invalid: {direction} "
            "(must be one of: asc, desc, asc-nullsfirst, asc-nullslast, desc-nullsfirst, desc-nullslast)",
        )
        self.direction = direction


class InvalidMarker(InvalidPagination):
    def __init__(self, marker: Any) -> None:
        super().__init__(f"Invalid marker: `{marker}'")
        self.marker = marker


class InvalidFilter(IndexerError, ValueError):
    """An unknown filter field, or a value the field cannot hold (Gnocchi's QueryValueError wording)."""

    def __init__(self, field: str, value: Any = None, *, unknown: bool = False) -> None:
        super().__init__(
            f"Unknown filter field: {field}" if unknown else f"Invalid value: `{value}' for field `{field}'"
        )
        self.field = field
        self.value = value


class NoSuchAlarm(IndexerError):
    """No alarm with this id, or none in the caller's project (``project`` is that scope, None for all)."""

    def __init__(self, alarm_id: Any, project: str | None = None) -> None:
        super().__init__(
            f"Alarm {alarm_id} not found" if project is None else f"Alarm {alarm_id} not found in project {project}"
        )
        self.alarm_id = alarm_id
        self.project = project


class AlarmAlreadyExists(IndexerError):
    def __init__(self, alarm_id: Any) -> None:
        super().__init__(f"Alarm {alarm_id} already exists")
        self.alarm_id = alarm_id


class AlarmVersionConflict(IndexerError):
    """The alarm changed since the caller read it (optimistic concurrency): read it again and retry."""

    def __init__(self, alarm_id: Any, expected: int, actual: int) -> None:
        super().__init__(f"Alarm {alarm_id} was changed concurrently (version {actual}, expected {expected})")
        self.alarm_id = alarm_id
        self.expected = expected
        self.actual = actual


class AlarmQuotaExceeded(IndexerError):
    """Creating one more alarm would exceed the project's (or the user's) quota (Aodh's wording)."""

    def __init__(self, user_id: str | None, project_id: str | None, limit: int) -> None:
        super().__init__(f"Alarm quota exceeded for user {user_id} on project {project_id}")
        self.user_id = user_id
        self.project_id = project_id
        self.limit = limit


class InvalidAlarmQuery(IndexerError, ValueError):
    """A filter, operator or value of an alarm or alarm history query the indexer cannot apply.

    ``field`` names the offending field (or ``filter``/``orderby``/``limit`` for the query's shape), so the
    API can answer with Aodh's message for it."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field


class UnknownAlarmQueryField(InvalidAlarmQuery):
    def __init__(self, field: str, allowed: Any) -> None:
        super().__init__(field, f"Unknown field {field!r}: allowed fields are {', '.join(sorted(allowed))}")
        self.allowed = tuple(sorted(allowed))


class UnsupportedAlarmQueryOperator(InvalidAlarmQuery):
    def __init__(self, field: str, op: str) -> None:
        super().__init__(field, f"Operator {op!r} is not supported for field {field!r}")
        self.op = op


class InvalidAlarmQueryValue(InvalidAlarmQuery):
    def __init__(self, field: str, value: Any, expected: str) -> None:
        super().__init__(field, f"Invalid value {value!r} for field {field!r}: expected {expected}")
        self.value = value


class InvalidAlarmValue(IndexerError, ValueError):
    """An alarm field holding a value the indexer cannot store (the API validates first; this is the guard)."""

    def __init__(self, field: str, value: Any, expected: str) -> None:
        super().__init__(f"Invalid value {value!r} for alarm field {field!r}: expected {expected}")
        self.field = field
        self.value = value


class NoSuchScalingGroup(IndexerError):
    """No scaling group with this id, or none in the caller's project (``project`` is that scope, None for all)."""

    def __init__(self, group_id: Any, project: str | None = None) -> None:
        super().__init__(
            f"Scaling group {group_id} not found"
            if project is None else f"Scaling group {group_id} not found in project {project}"
        )
        self.group_id = group_id
        self.project = project


class ScalingGroupAlreadyExists(IndexerError):
    """A group of this name exists in the project already (names are unique per project)."""

    def __init__(self, name: str, project: str | None = None) -> None:
        super().__init__(
            f"Scaling group {name} already exists"
            if project is None else f"Scaling group {name} already exists in project {project}"
        )
        self.name = name
        self.project = project


class ScalingGroupConflict(IndexerError):
    """The group changed since the caller read it (optimistic concurrency): read it again and retry."""

    def __init__(self, group_id: Any, expected: int, actual: int) -> None:
        super().__init__(
            f"Scaling group {group_id} was changed concurrently (version {actual}, expected {expected})"
        )
        self.group_id = group_id
        self.expected = expected
        self.actual = actual


class NoSuchScalingPolicy(IndexerError):
    """No scaling policy with this id (or token), or none in the caller's project."""

    def __init__(self, policy_id: Any, project: str | None = None) -> None:
        super().__init__(
            f"Scaling policy {policy_id} not found"
            if project is None else f"Scaling policy {policy_id} not found in project {project}"
        )
        self.policy_id = policy_id
        self.project = project


class ScalingPolicyAlreadyExists(IndexerError):
    """A policy of this name exists in the group already (names are unique per group)."""

    def __init__(self, name: str, group_id: Any) -> None:
        super().__init__(f"Scaling policy {name} already exists in scaling group {group_id}")
        self.name = name
        self.group_id = group_id


class NoSuchScalingMember(IndexerError):
    def __init__(self, member_id: Any, group_id: Any) -> None:
        super().__init__(f"Member {member_id} not found in scaling group {group_id}")
        self.member_id = member_id
        self.group_id = group_id


class NoSuchSilence(IndexerError):
    def __init__(self, silence_id: Any, project: str | None = None) -> None:
        super().__init__(
            f"Silence {silence_id} not found"
            if project is None else f"Silence {silence_id} not found in project {project}"
        )
        self.silence_id = silence_id
        self.project = project


class InvalidScalingValue(IndexerError, ValueError):
    """A scaling group, policy, member, decision or silence field holding a value the indexer cannot store
    (the API validates first; this is the guard). ``field`` names the offending field."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"Invalid {field}: {message}")
        self.field = field
