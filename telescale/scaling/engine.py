"""From a trigger to a logged decision: signals, alarm actions, target tracking, schedules and scalers.

Every path ends in :meth:`ScalingEngine.apply`: the group is locked, its recent decisions read, the
policy's recommendation computed from the group *as locked* and passed through the gates (paused, in
flight, bounds, cooldown, stabilisation, rate limits, dry run); the decision is logged and, when the
capacity changes, an action is queued in the same transaction. The actuator carries the action out later,
so a signal answers at once with the decision it caused, and a crash between the two loses nothing.
"""

from __future__ import annotations

import datetime
import logging
import uuid
from collections.abc import Callable
from typing import Any

from telescale.alarming.rules.prometheus import PrometheusClient, PrometheusQueryError
from telescale.alarming.rules.promql_scope import scope_to_project
from telescale.indexer.engine import utcnow
from telescale.query.reader import Query
from telescale.scaling import readings
from telescale.scaling.model import Action, Decision, Group, Policy, Recommendation, ScheduleSpec
from telescale.scaling.policies import (
    Past,
    Signal,
    active_window,
    describe_step,
    effective_bounds,
    next_change,
    should_act,
    step_capacity,
    target_capacity,
)
from telescale.scaling.policies import decide as gates
from telescale.scaling.tokens import token_hash

LOG = logging.getLogger(__name__)
NS = 1_000_000_000
UNBOUNDED = 10**9  # a step's own arithmetic is unbounded: the gates clamp, and say so


class NoSuchSignal(LookupError):
    """A token that is unknown or revoked (the API answers 404 and changes nothing)."""


def _ns(at: datetime.datetime) -> int:
    return int(at.timestamp() * NS)


def _iso(at: datetime.datetime | None) -> str | None:
    return None if at is None else at.isoformat()


def _parse_time(value: Any) -> datetime.datetime | None:
    return None if not value else datetime.datetime.fromisoformat(str(value))


class ScalingEngine:
    """Decisions for scaling groups; one per process, shared by the API workers and the scaler."""

    def __init__(self, indexer: Any, query: Query | None = None, *, prometheus_url: str = "",
                 timeout: float = 10.0, on_action: Callable[[], None] | None = None) -> None:
        self.indexer = indexer
        self.query = query
        self.prometheus_url = prometheus_url
        self.timeout = timeout
        self.on_action = on_action  # wakes a local actuator when a decision queues an action
        self._prometheus: PrometheusClient | None = None

    def close(self) -> None:
        if self._prometheus is not None:
            self._prometheus.close()

    # ------------------------------------------------------------------------------------------------
    # The one way to a decision

    def apply(self, group_id: uuid.UUID, recommend: Callable[[Group], Recommendation], *,
              now: datetime.datetime | None = None) -> tuple[Group, Decision]:
        """Decide on ``recommend(group)`` with the group locked; log it; queue the action it needs."""
        now = now or utcnow()
        schedules = self._schedules(group_id)

        def decide(group: Group, past: Past) -> tuple[Decision, dict[str, Any]]:
            rec = recommend(group)
            bounds = effective_bounds(group, schedules, now)
            verdict = gates(group, rec, past, now, bounds)
            changed = verdict.outcome in ("scale_out", "scale_in")
            decision = Decision(
                id=uuid.uuid4(), group_id=group.id, timestamp=now, source=rec.source, outcome=verdict.outcome,
                reason=verdict.reason, size_before=group.desired_capacity,
                size_after=verdict.desired if verdict.outcome != "none" else group.desired_capacity,
                current_size=group.current_size, policy_id=rec.policy_id, recommended=rec.desired, rule=rec.rule,
                blocked_by=verdict.blocked_by, inputs=dict(rec.inputs), dry_run=group.dry_run)
            if not changed:
                return decision, {}
            action = Action(id=uuid.uuid4(), decision_id=decision.id, desired=verdict.desired,
                            previous=group.desired_capacity, reason=verdict.reason, started_at=now,
                            cooldown=rec.inputs.get("cooldown"))
            return decision, {"desired_capacity": verdict.desired, "action": action}

        group, decision = self.indexer.decide_scaling(group_id, decide, now=now)
        LOG.info("scaling group %s (%s): %s %d → %d: %s", group.name, group.id, decision.outcome,
                 decision.size_before, decision.size_after, decision.reason)
        if decision.outcome in ("scale_out", "scale_in") and self.on_action is not None:
            self.on_action()
        return group, decision

    def start(self, group: Group, user: str | None, now: datetime.datetime | None = None) -> tuple[Group, Decision]:
        """A new group's first members: from none to its desired capacity (logged, queued as an action)."""
        now = now or utcnow()

        def decide(locked: Group, past: Past) -> tuple[Decision, dict[str, Any]]:
            outcome = "dry_run" if locked.dry_run else "scale_out"
            reason = f"group created by {user}: start {locked.desired_capacity} member(s)"
            decision = Decision(id=uuid.uuid4(), group_id=locked.id, timestamp=now, source="manual", outcome=outcome,
                                reason=reason, size_before=0, size_after=locked.desired_capacity,
                                current_size=locked.current_size, recommended=locked.desired_capacity,
                                rule="initial desired_capacity", inputs={"user": user}, dry_run=locked.dry_run)
            if locked.dry_run:
                return decision, {}
            return decision, {"action": Action(id=uuid.uuid4(), decision_id=decision.id,
                                               desired=locked.desired_capacity, previous=0, reason=reason,
                                               started_at=now, cooldown=0.0)}

        result = self.indexer.decide_scaling(group.id, decide, now=now)
        if self.on_action is not None:
            self.on_action()
        return result

    def resize_bounds(self, group_id: uuid.UUID, sizes: dict[str, int], user: str | None,
                      now: datetime.datetime | None = None) -> tuple[Group, Decision]:
        """A user's change of ``min_size``/``max_size``/``desired_capacity``: applied at once, whatever the
        cooldown, and superseding an action in flight; the desired capacity follows the new bounds."""
        now = now or utcnow()

        def decide(locked: Group, past: Past) -> tuple[Decision, dict[str, Any]]:
            low, high = sizes.get("min_size", locked.min_size), sizes.get("max_size", locked.max_size)
            desired = sizes.get("desired_capacity", min(max(locked.desired_capacity, low), high))
            asked = ", ".join(f"{k} {v}" for k, v in sizes.items())
            changed = desired != locked.desired_capacity
            outcome = "none" if not changed else ("dry_run" if locked.dry_run else
                                                  "scale_out" if desired > locked.desired_capacity else "scale_in")
            reason = f"{asked} set by {user}" + (f": desired capacity {locked.desired_capacity} → {desired}"
                                                  if changed else "")
            decision = Decision(id=uuid.uuid4(), group_id=locked.id, timestamp=now, source="manual", outcome=outcome,
                                reason=reason, size_before=locked.desired_capacity, size_after=desired,
                                current_size=locked.current_size, recommended=desired, rule="manual",
                                blocked_by=None if changed else "no_change", inputs={"user": user, **sizes},
                                dry_run=locked.dry_run)
            bounds = {"min_size": low, "max_size": high}
            if outcome not in ("scale_out", "scale_in"):
                return decision, (bounds if not locked.dry_run else {
                    **bounds, "desired_capacity": min(max(locked.desired_capacity, low), high)})
            action = Action(id=uuid.uuid4(), decision_id=decision.id, desired=desired,
                            previous=locked.desired_capacity, reason=reason, started_at=now, cooldown=0.0)
            return decision, {**bounds, "desired_capacity": desired, "action": action}

        group, decision = self.indexer.decide_scaling(group_id, decide, now=now)
        if decision.outcome in ("scale_out", "scale_in") and self.on_action is not None:
            self.on_action()
        return group, decision

    def _schedules(self, group_id: uuid.UUID) -> list[ScheduleSpec]:
        return [p.schedule for p in self.indexer.list_scaling_policies(group_id, None)
                if p.type == "scheduled" and p.enabled and p.schedule is not None]

    def log(self, group: Group, policy: Policy | None, source: str, blocked_by: str, reason: str,
            now: datetime.datetime, inputs: dict[str, Any] | None = None, rule: str = "") -> Decision:
        """A decision that did nothing before reaching the gates (resolved signal, no data, not firing)."""
        decision = Decision(id=uuid.uuid4(), group_id=group.id, timestamp=now, source=source, outcome="none",
                            reason=reason, size_before=group.desired_capacity, size_after=group.desired_capacity,
                            current_size=group.current_size, policy_id=policy.id if policy else None, rule=rule,
                            blocked_by=blocked_by, inputs=inputs or {}, dry_run=group.dry_run)
        self.indexer.record_decision(decision)
        return decision

    # ------------------------------------------------------------------------------------------------
    # Signals: pre-signed URLs, authenticated URLs, alarm actions

    def signal(self, token: str, signal: Signal, *, now: datetime.datetime | None = None
               ) -> tuple[Group, Decision]:
        """A pre-signed signal: the policy its token names (:class:`NoSuchSignal` when none does)."""
        from telescale.indexer import errors

        try:
            policy, group = self.indexer.policy_by_token(token_hash(token))
        except errors.NoSuchScalingPolicy:
            raise NoSuchSignal("no scaling policy has this signal token (unknown or revoked)") from None
        return self.signal_policy(policy, group, signal, "signal", now=now)

    def signal_policy(self, policy: Policy, group: Group, signal: Signal, source: str, *,
                      now: datetime.datetime | None = None) -> tuple[Group, Decision]:
        """What a signal to ``policy`` does: a step policy steps; the others evaluate now."""
        now = now or utcnow()
        inputs = {"signal": signal.kind, "summary": signal.summary, **({"details": signal.details}
                                                                        if signal.details else {})}
        if not should_act(signal):
            return group, self.log(group, policy, source, "resolved",
                                   f"{signal.summary}: a resolved or back-to-normal notification never scales",
                                   now, inputs)
        if not policy.enabled:
            return group, self.log(group, policy, source, "paused", f"policy {policy.name} is disabled", now, inputs)
        if policy.type == "step":
            return self.apply(group.id, self._step(policy, source, inputs), now=now)
        result = self.evaluate(policy, group, now=now, source=source)
        assert result is not None
        return result

    def _step(self, policy: Policy, source: str, inputs: dict[str, Any]) -> Callable[[Group], Recommendation]:
        spec = policy.step
        assert spec is not None

        def recommend(group: Group) -> Recommendation:
            base = group.desired_capacity
            desired = step_capacity(base, spec, 0, UNBOUNDED)
            cooldown = spec.cooldown if spec.cooldown is not None else group.cooldown
            return Recommendation(desired, source, f"policy {policy.name}: {describe_step(base, spec)}", policy.id,
                                  {**inputs, "cooldown": cooldown})

        return recommend

    # ------------------------------------------------------------------------------------------------
    # Policies the scaler evaluates by itself

    def evaluate(self, policy: Policy, group: Group, *, now: datetime.datetime | None = None,
                 source: str | None = None) -> tuple[Group, Decision] | None:
        """Evaluate a target tracking, scheduled or triggered step policy once; None when a trigger does not
        fire (its state is saved, and the evaluation logged)."""
        now = now or utcnow()
        if policy.type == "target_tracking":
            return self._target(policy, group, now, source or "target_tracking")
        if policy.type == "scheduled":
            return self._scheduled(policy, group, now, source or "scheduled")
        if policy.trigger is not None:
            return self._trigger(policy, group, now)
        return None

    def next_evaluation(self, policy: Policy, now: datetime.datetime) -> datetime.datetime | None:
        if policy.type == "target_tracking" and policy.target is not None:
            return now + datetime.timedelta(seconds=policy.target.interval)
        if policy.type == "scheduled" and policy.schedule is not None:
            return next_change(policy.schedule, now)
        if policy.trigger is not None:
            return now + datetime.timedelta(seconds=policy.trigger.interval)
        return None

    def _target(self, policy: Policy, group: Group, now: datetime.datetime, source: str) -> tuple[Group, Decision]:
        spec = policy.target
        assert spec is not None
        try:
            reading = readings.group_value(self._query(), group, spec.operations, now=_ns(now), window=spec.window,
                                           granularity=spec.granularity)
        except readings.NoReading as e:
            return group, self.log(group, policy, source, "no_data",
                                   f"target tracking {policy.name}: {e}; the capacity stays as it is", now,
                                   {"operations": spec.operations, "target": spec.target})
        except (readings.ExpressionError, ValueError) as e:
            return group, self.log(group, policy, source, "error", f"target tracking {policy.name}: {e}", now,
                                   {"operations": spec.operations})
        inputs = {"operations": spec.operations, "value": reading.value, "target": spec.target,
                  "members": reading.members, "at": _iso(datetime.datetime.fromtimestamp(reading.at / NS,
                                                                                          datetime.UTC))}

        def recommend(locked: Group) -> Recommendation:
            current = locked.current_size
            desired, text = target_capacity(current, reading.value, spec)
            return Recommendation(desired, source, f"policy {policy.name}: {text}", policy.id, inputs)

        return self.apply(group.id, recommend, now=now)

    def _scheduled(self, policy: Policy, group: Group, now: datetime.datetime, source: str
                   ) -> tuple[Group, Decision]:
        spec = policy.schedule
        assert spec is not None
        window = active_window(spec, now)
        inputs = {"cron": spec.cron, "timezone": spec.timezone, "window": None if window is None else
                  [_iso(window[0]), _iso(window[1])]}

        def recommend(locked: Group) -> Recommendation:
            if window is not None and spec.desired_capacity is not None:
                desired = max(locked.desired_capacity, spec.desired_capacity)
                text = f"schedule {policy.name} ({spec.cron} {spec.timezone}): at least {spec.desired_capacity} " \
                       f"until {window[1].isoformat()}"
            else:
                desired = locked.desired_capacity
                text = f"schedule {policy.name}: " + ("bounds of the window in force" if window is not None
                                                      else "outside its windows: the group's own bounds")
            return Recommendation(desired, source, text, policy.id, inputs, bypass_cooldown=True)

        return self.apply(group.id, recommend, now=now)

    # ------------------------------------------------------------------------------------------------
    # Faythe-style scalers: a condition that must hold for a while fires the step policy

    def _trigger(self, policy: Policy, group: Group, now: datetime.datetime) -> tuple[Group, Decision] | None:
        trigger = policy.trigger
        assert trigger is not None
        state = dict(policy.state)
        try:
            holds, seen = self._condition(group, policy, now)
        except (PrometheusQueryError, readings.ExpressionError, ValueError) as e:
            # as Faythe, a failed query skips the tick and keeps the pending timer
            self.log(group, policy, "trigger", "error", f"scaler {policy.name}: {e}", now, {"query": trigger.query})
            return None
        except readings.NoReading as e:
            holds, seen = False, str(e)
        inputs = {"query": trigger.query, "seen": seen}
        if not holds:
            state["pending_since"] = None
            self.indexer.schedule_policy(policy.id, now + datetime.timedelta(seconds=trigger.interval), state)
            self.log(group, policy, "trigger", "not_firing", f"scaler {policy.name}: the condition does not hold "
                     f"({seen})", now, inputs)
            return None
        since = _parse_time(state.get("pending_since")) or now
        state["pending_since"] = _iso(since)
        held = (now - since).total_seconds()
        fired = _parse_time(state.get("fired_at"))
        result: tuple[Group, Decision] | None = None
        if held < trigger.for_:
            self.log(group, policy, "trigger", "not_firing", f"scaler {policy.name}: the condition holds since "
                     f"{since.isoformat()} ({held:.0f} s of the {trigger.for_:g} s it must hold)", now, inputs)
        elif fired is not None and (now - fired).total_seconds() < trigger.cooldown:
            left = trigger.cooldown - (now - fired).total_seconds()
            self.log(group, policy, "trigger", "cooldown", f"scaler {policy.name}: fired at {fired.isoformat()}, "
                     f"its cooldown of {trigger.cooldown:g} s ends in {left:.0f} s", now, inputs)
        else:
            result = self.apply(group.id, self._step(policy, "trigger", inputs), now=now)
            if result[1].outcome in ("scale_out", "scale_in", "dry_run"):
                state["fired_at"] = _iso(now)
        self.indexer.schedule_policy(policy.id, now + datetime.timedelta(seconds=trigger.interval), state)
        return result

    def _condition(self, group: Group, policy: Policy, now: datetime.datetime) -> tuple[bool, str]:
        trigger = policy.trigger
        assert trigger is not None
        if trigger.kind == "prometheus":
            promql = trigger.query if trigger.scope_project is None else scope_to_project(trigger.query,
                                                                                            trigger.scope_project)
            samples = self._prometheus_client().query(promql)
            return bool(samples), f"{len(samples)} series"
        reading = readings.group_value(self._query(), group, trigger.query, now=_ns(now),
                                       window=max(trigger.interval * 2, 300.0), granularity=trigger.granularity)
        assert trigger.comparison_operator is not None and trigger.threshold is not None
        holds = readings.compare(reading.value, trigger.comparison_operator, trigger.threshold)
        return holds, f"{reading.value:g} {trigger.comparison_operator} {trigger.threshold:g}"

    def _prometheus_client(self) -> PrometheusClient:
        if not self.prometheus_url:
            raise ValueError("alarming.prometheus_url is not set: prometheus scalers cannot be evaluated")
        if self._prometheus is None:
            self._prometheus = PrometheusClient(self.prometheus_url, timeout=self.timeout)
        return self._prometheus

    def _query(self) -> Query:
        if self.query is None:
            raise ValueError("this process reads no metrics")
        return self.query

