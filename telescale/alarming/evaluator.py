"""The alarm evaluator: picks its due alarms, reads their data in process, commits what changed.

A cycle (:meth:`Evaluator.cycle`, run every :data:`TICK` seconds by :meth:`Evaluator.run`):

1. ``due_alarms``: enabled alarms not evaluated for their ``evaluation_interval`` (or
   ``alarming.evaluation_interval``), and those processing marked due because a metric they read got
   new measures (``trigger_alarms_reading``) — so a breach is seen when it is aggregated, not a poll later;
2. keep this evaluator's share of them (the coordination hash ring);
3. outside every time constraint an alarm is not evaluated and keeps its state (Aodh);
4. read and judge: gnocchi threshold rules through ``telescale.query`` (one padded matrix judged at once),
   composite rules leaf by leaf, prometheus rules with one instant query;
5. settle each decision with the alarm's ``pending_for`` and ``repeat_actions``, then commit: a change is
   one conditional transaction (state, history, outbox rows), so two evaluators never both fire it
   (:mod:`telescale.alarming.transitions`, which the events intake shares); alarms that did not change
   get their evaluation time in one statement.

A read that fails for another reason than absent data (storage or database down) is an *evaluation
error*: the alarm keeps its state and one ``evaluation error`` history entry is written per error streak,
instead of a flood of insufficient-data transitions.
"""

from __future__ import annotations

import datetime
import logging
import threading
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from telescale.alarming import reads, transitions
from telescale.alarming.rules import composite, gnocchi, prometheus, threshold
from telescale.alarming.rules.decision import Decision, RuleError
from telescale.alarming.rules.time_constraints import within_time_constraints
from telescale.config import AlarmingSettings
from telescale.indexer.records import Alarm
from telescale.query.reader import Query
from telescale.timeutil import to_datetime

LOG = logging.getLogger(__name__)
TICK = 0.2  # seconds between two looks for due alarms
EVALUATOR_GROUP = "alarm_evaluator"


class EvaluationError(RuntimeError):
    """An alarm could not be evaluated (its data could not be read): its state is left alone."""


@dataclass
class CycleStats:
    due: int = 0  # due alarms this evaluator owns
    evaluated: int = 0
    skipped: int = 0  # outside their time constraints
    transitions: int = 0
    notifications: int = 0
    errors: int = 0
    lost_races: int = 0  # changed meanwhile (by the API or another evaluator): evaluated again next time
    seconds: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        return {k: (round(v, 6) if isinstance(v, float) else v) for k, v in self.__dict__.items()}


@dataclass
class EvaluatorStats:
    """What an evaluator reports in its heartbeat (``/v1/status``)."""

    cycles: int = 0
    evaluations: int = 0
    transitions: int = 0
    errors: int = 0
    last_cycle: dict[str, Any] = field(default_factory=dict)
    last_busy_cycle: dict[str, Any] = field(default_factory=dict)  # the last cycle that had alarms due
    lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def add(self, cycle: CycleStats) -> None:
        with self.lock:
            self.cycles += 1
            self.evaluations += cycle.evaluated
            self.transitions += cycle.transitions
            self.errors += cycle.errors
            self.last_cycle = cycle.to_dict()
            if cycle.due:
                self.last_busy_cycle = self.last_cycle

    def to_dict(self) -> dict[str, Any]:
        with self.lock:
            return {"cycles": self.cycles, "evaluations": self.evaluations, "transitions": self.transitions,
                    "errors": self.errors, "last_cycle": self.last_cycle, "last_busy_cycle": self.last_busy_cycle}


@dataclass(frozen=True)
class _Result:
    """One alarm's evaluation: a decision, or an error message; and the metrics it read."""

    decision: Decision | None
    error: str | None = None
    metric_ids: frozenset[uuid.UUID] | None = None


class Evaluator:
    """Evaluates the alarms this process owns; ``indexer`` stores them, ``query`` reads their data."""

    def __init__(self, indexer: Any, query: Query, settings: AlarmingSettings, *,
                 owns: Callable[[Sequence[uuid.UUID]], Sequence[uuid.UUID]] | None = None,
                 on_notify: Callable[[], None] | None = None,
                 stats: EvaluatorStats | None = None) -> None:
        self.indexer = indexer
        self.query = query
        self.settings = settings
        self.owns = owns
        self.on_notify = on_notify
        self.stats = stats or EvaluatorStats()
        self._errors: dict[uuid.UUID, str] = {}  # the current error streak of each failing alarm
        self._read_metrics: dict[uuid.UUID, frozenset[uuid.UUID]] = {}
        self._known: dict[uuid.UUID, Alarm] = {}  # alarms as last read: only changed ones are read again
        self._prometheus: prometheus.PrometheusClient | None = None

    # ------------------------------------------------------------------------------------------------
    # The loop

    def run(self, stop: threading.Event, tick: float = TICK) -> None:
        """Cycle until ``stop``; a failing cycle is logged and retried on the next tick."""
        while not stop.is_set():
            try:
                self.cycle()
            except Exception:  # noqa: BLE001 - the loop must survive a database restart
                LOG.exception("alarm evaluation cycle failed; retrying in %g s", tick)
            stop.wait(tick)
        if self._prometheus is not None:
            self._prometheus.close()

    def cycle(self, now: int | None = None) -> CycleStats:
        """Evaluate every due alarm this evaluator owns at ``now`` (ns, default: the clock)."""
        started = time.perf_counter()
        now = time.time_ns() if now is None else now
        due = self.indexer.due_alarms(to_datetime(now), self.settings.evaluation_interval, known=self._known)
        self._known.update((a.alarm_id, a) for a in due)
        if self.owns is not None and due:
            mine = set(self.owns([a.alarm_id for a in due]))
            due = [a for a in due if a.alarm_id in mine]
        stats = CycleStats(due=len(due))
        if due:
            self.evaluate(due, now, stats)
        stats.seconds = time.perf_counter() - started
        self.stats.add(stats)
        if due:
            LOG.debug("evaluated %d alarms in %.3f s: %d transitions, %d errors", stats.evaluated, stats.seconds,
                      stats.transitions, stats.errors)
        return stats

    # ------------------------------------------------------------------------------------------------
    # Evaluation

    def evaluate(self, alarms: Sequence[Alarm], now: int, stats: CycleStats | None = None) -> CycleStats:
        """Evaluate ``alarms`` at ``now`` and commit the outcome."""
        stats = stats or CycleStats(due=len(alarms))
        active = [a for a in alarms if within_time_constraints(a.time_constraints, now)]
        stats.skipped = len(alarms) - len(active)
        results = self._threshold_results([a for a in active if a.type in gnocchi.TYPES], now)
        for alarm in active:
            if alarm.type not in gnocchi.TYPES:
                results[alarm.alarm_id] = self._other_result(alarm, now)
        self._commit(alarms, active, results, now, stats)
        return stats

    def _threshold_results(self, alarms: Sequence[Alarm], now: int) -> dict[uuid.UUID, _Result]:
        """Gnocchi threshold alarms: points read together where possible, judged all at once."""
        lag = self.settings.additional_ingestion_lag
        batched = [a for a in alarms if reads.batchable(a.type, a.rule)]
        read: list[tuple[Alarm, reads.Points | reads.ReadFailed]] = list(
            zip(batched, reads.read_resource_points(self.query, [a.rule for a in batched], now, lag), strict=True))
        for alarm in alarms:
            if not reads.batchable(alarm.type, alarm.rule):
                try:
                    read.append((alarm, reads.read_points(self.query, alarm.type, alarm.rule, now, lag)))
                except reads.ReadFailed as e:
                    read.append((alarm, e))
        out: dict[uuid.UUID, _Result] = {}
        packed: list[tuple[Alarm, reads.Points]] = []
        for alarm, points in read:
            if isinstance(points, reads.ReadFailed):
                out[alarm.alarm_id] = _Result(None, str(points))
            elif points.absent is not None:
                out[alarm.alarm_id] = _Result(threshold.decide(points.absent, alarm.state, alarm.missing_data),
                                              metric_ids=points.metric_ids)
            else:
                packed.append((alarm, points))
        if packed:
            batch = threshold.ThresholdBatch.pack([a.rule for a, _ in packed],
                                                  [(p.timestamps, p.values) for _, p in packed])
            verdicts = threshold.judge_batch(batch)
            for i, (alarm, points) in enumerate(packed):
                decision = threshold.decide(verdicts.verdict(i), alarm.state, alarm.missing_data)
                out[alarm.alarm_id] = _Result(decision, metric_ids=points.metric_ids)
        return out

    def _other_result(self, alarm: Alarm, now: int) -> _Result:
        try:
            if alarm.type == "composite":
                read: set[uuid.UUID] = set()
                decision = composite.evaluate_composite(alarm.rule, lambda leaf: self._leaf(leaf, now, read),
                                                        alarm.state, alarm.missing_data)
                return _Result(decision, metric_ids=frozenset(read))
            if alarm.type == "prometheus":
                return _Result(prometheus.evaluate_prometheus(self._prometheus_client(), alarm.rule, alarm.state,
                                                              missing_data=alarm.missing_data, at=now))
        except (reads.ReadFailed, prometheus.PrometheusQueryError, EvaluationError, RuleError) as e:
            return _Result(None, str(e))
        return _Result(None, f"alarms of type {alarm.type!r} are not evaluated periodically")

    def _leaf(self, rule: dict[str, Any], now: int, read: set[uuid.UUID]) -> threshold.Verdict:
        """A composite rule's leaf: a gnocchi or prometheus threshold rule, judged on its own."""
        kind = rule.get("type")
        if kind in gnocchi.TYPES:
            points = reads.read_points(self.query, kind, rule, now, self.settings.additional_ingestion_lag)
            read.update(points.metric_ids)
            return points.absent or threshold.judge(rule, points.values, points.timestamps)
        if kind == "prometheus":
            samples = self._prometheus_client().query(prometheus.rule_query(rule), at=now)
            return prometheus.judge_samples(rule, samples)
        raise EvaluationError(f"composite rule: sub-rule type {kind!r} cannot be evaluated")

    def _prometheus_client(self) -> prometheus.PrometheusClient:
        if not self.settings.prometheus_url:
            raise EvaluationError("alarming.prometheus_url is not set: prometheus rules cannot be evaluated")
        if self._prometheus is None:
            self._prometheus = prometheus.PrometheusClient(self.settings.prometheus_url,
                                                           timeout=self.settings.notifier_timeout)
        return self._prometheus

    # ------------------------------------------------------------------------------------------------
    # Commit

    def _commit(self, alarms: Sequence[Alarm], active: Sequence[Alarm], results: dict[uuid.UUID, _Result],
                now: int, stats: CycleStats) -> None:
        when = to_datetime(now)
        unchanged: list[uuid.UUID] = [a.alarm_id for a in alarms if a.alarm_id not in results]
        reading: dict[uuid.UUID, frozenset[uuid.UUID]] = {}
        notified = False
        for alarm in active:
            result = results[alarm.alarm_id]
            if result.metric_ids is not None and self._read_metrics.get(alarm.alarm_id) != result.metric_ids:
                reading[alarm.alarm_id] = result.metric_ids
            if result.decision is None:
                stats.errors += 1
                self._record_error(alarm, result.error or "unknown error", when)
                continue
            self._errors.pop(alarm.alarm_id, None)
            stats.evaluated += 1
            commit = transitions.commit_decision(self.indexer, alarm, result.decision, now)
            if commit.written is transitions.Written.NOTHING:
                unchanged.append(alarm.alarm_id)
            elif commit.written is transitions.Written.LOST_RACE:
                stats.lost_races += 1
            else:
                stats.transitions += commit.transition
                stats.notifications += commit.notifications
                notified = notified or bool(commit.notifications)
        self.indexer.mark_evaluated(unchanged, when)
        if reading:
            self.indexer.set_alarms_metrics(reading)
            self._read_metrics.update(reading)
        if notified and self.on_notify is not None:
            self.on_notify()

    def _record_error(self, alarm: Alarm, message: str, when: datetime.datetime) -> None:
        """One ``evaluation error`` history entry per error streak (and per distinct message)."""
        if self._errors.get(alarm.alarm_id) == message:
            self.indexer.mark_evaluated([alarm.alarm_id], when)
            return
        LOG.warning("alarm %s (%s) could not be evaluated: %s", alarm.alarm_id, alarm.name, message)
        self._errors[alarm.alarm_id] = message
        self.indexer.record_evaluation_error(alarm.alarm_id, message, when)

