"""The values the scaling package passes around: groups, policies, members, decisions, silences.

Frozen dataclasses, as the indexer's records: safe to cache, log and hand to another thread. The indexer
stores and returns them; the policy maths, the decision gates and the member drivers only read them.
Durations are seconds (floats), times are aware UTC datetimes.
"""

from __future__ import annotations

import datetime
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

#: Member states: ``active`` serves; ``unhealthy`` is to be replaced (autohealing) and goes first on scale-in;
#: ``failed`` could not be created or started (it does not count in ``current_size``, as in Heat).
MEMBER_STATES = ("active", "unhealthy", "failed")
#: What a decision did. ``scale_out``/``scale_in``: the desired capacity changed (an action is in flight);
#: ``none``: nothing to do or something blocked it (``blocked_by`` says what); ``completed``/``failed``: the
#: end of an action; ``heal``/``healed``: a replacement queued / done; ``dry_run``: what would have been done.
OUTCOMES = ("scale_out", "scale_in", "none", "completed", "failed", "heal", "healed", "dry_run")
#: Why nothing happened (``Decision.blocked_by``).
BLOCKERS = ("paused", "in_flight", "cooldown", "stabilization", "rate_limit", "at_limit", "no_change",
            "tolerance", "resolved", "not_firing", "no_data", "silenced", "guard_rail", "error")


@dataclass(frozen=True)
class RateLimit:
    """At most ``value`` members (``kind`` = ``members``) or ``value`` percent (``percent``) per ``period``."""

    kind: str
    value: float
    period: float


@dataclass(frozen=True)
class DirectionBehavior:
    """One direction's rules, as HPA's ``behavior.scaleUp``/``scaleDown``."""

    stabilization: float
    limits: tuple[RateLimit, ...]
    select: str = "max"  # which limit wins when several apply: max | min | disabled (no change that way)


def _up() -> DirectionBehavior:
    return DirectionBehavior(0.0, (RateLimit("percent", 100, 15), RateLimit("members", 4, 15)))


def _down() -> DirectionBehavior:
    return DirectionBehavior(300.0, (RateLimit("percent", 100, 15),))


@dataclass(frozen=True)
class Behavior:
    """Stabilisation windows and rate limits; defaults are Kubernetes HPA's."""

    scale_up: DirectionBehavior = field(default_factory=_up)
    scale_down: DirectionBehavior = field(default_factory=_down)


@dataclass(frozen=True)
class Healing:
    """Autohealing: a member is unhealthy when its ``liveness_metric`` has had no measure for ``absent_for``
    seconds, or when ``health_query`` (an aggregates expression over the member's resource) compared with
    ``threshold`` holds for ``duration`` seconds; then ``action`` runs (``replace``, or an http(s) URL that
    receives the member), never for more than ``max_unhealthy`` members at once (Faythe's guard rail)."""

    enabled: bool = False
    liveness_metric: str | None = None
    absent_for: float = 120.0
    health_query: str | None = None
    comparison_operator: str = "gt"
    threshold: float | None = None
    duration: float = 180.0
    max_unhealthy: int = 3
    action: str = "replace"


@dataclass(frozen=True)
class Action:
    """The one change in flight for a group: reach ``desired``. Held by ``owner`` until ``lease_until``; a
    scaler that dies mid-action lets the lease lapse and another takes it over, so a group never stays
    stuck (Heat's ``scaling_in_progress``, LP 1651084)."""

    id: uuid.UUID
    decision_id: uuid.UUID
    desired: int
    previous: int
    reason: str
    started_at: datetime.datetime
    attempts: int = 0
    owner: str | None = None
    lease_until: datetime.datetime | None = None
    next_attempt_at: datetime.datetime | None = None
    last_error: str | None = None
    cooldown: float | None = None  # seconds of cooldown once done (a step policy's own, else the group's)
    replace: tuple[str, ...] = ()  # member ids to replace (autohealing), the size staying the same


@dataclass(frozen=True)
class Group:
    id: uuid.UUID
    name: str
    project_id: str | None
    user_id: str | None
    min_size: int
    max_size: int
    desired_capacity: int
    current_size: int
    cooldown: float  # seconds, group-wide (a scale-out also delays the next scale-in, as Heat)
    member_driver: Mapping[str, Any]  # {"type": "webhook"|"process"|"heat"|"nova", ...driver options}
    member_resource_type: str | None = None
    member_query: str | None = None  # /v1 search syntax over member_resource_type
    paused: bool = False
    dry_run: bool = False
    behavior: Behavior = field(default_factory=Behavior)
    healing: Healing = field(default_factory=Healing)
    cooldown_end: datetime.datetime | None = None
    action: Action | None = None
    created_at: datetime.datetime | None = None
    updated_at: datetime.datetime | None = None
    version: int = 1


@dataclass(frozen=True)
class Member:
    """One member as its driver knows it: ``ref`` is the driver's id (a pid, a Nova server id …);
    ``resource_id`` the Telescale resource its metrics belong to, when known."""

    id: uuid.UUID
    group_id: uuid.UUID
    name: str
    ref: str
    status: str = "active"
    resource_id: uuid.UUID | None = None
    created_at: datetime.datetime | None = None
    data: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class StepSpec:
    """Heat's ``OS::Heat::ScalingPolicy``."""

    adjustment_type: str  # change_in_capacity | exact_capacity | percent_change_in_capacity
    scaling_adjustment: float
    min_adjustment_step: int | None = None
    cooldown: float | None = None  # None: the group's


@dataclass(frozen=True)
class TargetSpec:
    """HPA's target tracking over an aggregates expression of the members' resources."""

    operations: str  # e.g. "(aggregate mean (metric cpu mean))"
    target: float
    granularity: float | None = None
    window: float = 300.0  # seconds of measures read; the newest aggregated value is used
    tolerance: float = 0.1
    interval: float = 15.0  # seconds between two evaluations


@dataclass(frozen=True)
class ScheduleSpec:
    """From each ``cron`` start (in ``timezone``) for ``duration`` seconds, the group's bounds become
    ``min_size``/``max_size`` and its capacity at least ``desired_capacity`` (any may be None)."""

    cron: str
    duration: float
    timezone: str = "UTC"
    min_size: int | None = None
    max_size: int | None = None
    desired_capacity: int | None = None


@dataclass(frozen=True)
class Trigger:
    """A Faythe-style scaler that fires a step policy by itself: ``query`` (PromQL against
    ``alarming.prometheus_url``, firing when the result is not empty; or an aggregates expression over the
    members, firing when ``comparison_operator`` ``threshold`` holds) must hold ``for_`` seconds, checked
    every ``interval``; after firing, not again for ``cooldown``."""

    kind: str  # prometheus | aggregates
    query: str
    for_: float = 0.0
    interval: float = 30.0
    cooldown: float = 600.0
    comparison_operator: str | None = None
    threshold: float | None = None
    granularity: float | None = None
    scope_project: str | None = None  # PromQL limited to this project's series (set for non-admin creators)


@dataclass(frozen=True)
class Policy:
    id: uuid.UUID
    group_id: uuid.UUID
    name: str
    type: str  # step | target_tracking | scheduled
    step: StepSpec | None = None
    target: TargetSpec | None = None
    schedule: ScheduleSpec | None = None
    trigger: Trigger | None = None
    enabled: bool = True
    created_at: datetime.datetime | None = None
    state: Mapping[str, Any] = field(default_factory=dict)  # trigger bookkeeping: pending_since, fired_at


@dataclass(frozen=True)
class Recommendation:
    """What one policy proposes, and how it got there (shown in the decision log)."""

    desired: int
    source: str  # signal | alarm | target_tracking | scheduled | trigger | healing | manual
    rule: str  # e.g. "change_in_capacity +2 from 3 = 5"
    policy_id: uuid.UUID | None = None
    inputs: Mapping[str, Any] = field(default_factory=dict)
    bypass_cooldown: bool = False  # scheduled capacity is not held back by cooldown or stabilisation


@dataclass(frozen=True)
class Decision:
    """One line of the decision log: every evaluation of every policy, including those that did nothing."""

    id: uuid.UUID
    group_id: uuid.UUID
    timestamp: datetime.datetime
    source: str
    outcome: str  # one of OUTCOMES
    reason: str  # a sentence a person reads: why it did, or did not, scale
    size_before: int  # desired capacity before
    size_after: int  # desired capacity after (== before when nothing changed)
    current_size: int
    policy_id: uuid.UUID | None = None
    recommended: int | None = None  # what the policy proposed, before bounds, stabilisation and limits
    rule: str = ""
    blocked_by: str | None = None  # one of BLOCKERS when nothing happened
    inputs: Mapping[str, Any] = field(default_factory=dict)
    dry_run: bool = False


@dataclass(frozen=True)
class Silence:
    """Autohealing skips members whose name matches ``pattern`` (a regular expression) until ``expires_at``."""

    id: uuid.UUID
    project_id: str | None
    pattern: str
    expires_at: datetime.datetime
    group_id: uuid.UUID | None = None
    comment: str = ""
    created_by: str | None = None
    created_at: datetime.datetime | None = None
