"""One scaler process: evaluates the policies of its share of the groups and carries out queued actions.

``serve`` starts ``scaling.scalers`` of them (``telescale scaler`` runs them alone, to scale out). Each joins
the ``scaler`` group of ``coordination.url``: target tracking, schedules, triggers and autohealing of a group
run on the one member whose share of the hash ring holds it, while any scaler may run any queued action
(the action's lease keeps two from running it). An action queued by a signal to an API worker is picked up
within one tick.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import datetime
import logging
import os
import threading
import time
import uuid
from dataclasses import dataclass, field
from typing import Any

from telescale.config import Settings
from telescale.indexer.engine import utcnow
from telescale.redact import public_url

LOG = logging.getLogger(__name__)
ROLE = "scaler"
SCALER_GROUP = "scaler"
TICK = 0.2  # seconds between two looks for queued actions
POLICY_TICK = 1.0  # seconds between two looks for due policies
HEALING_INTERVAL = 10.0  # seconds between two health checks of a group's members (scaling.healing_interval)


@dataclass
class ScalerStats:
    """What a scaler reports in its heartbeat (``/v1/status``)."""

    passes: int = 0
    evaluations: int = 0
    decisions_changed: int = 0
    actions: int = 0
    errors: int = 0
    last_pass_at: str | None = None
    lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def count(self, **increments: int) -> None:
        with self.lock:
            for name, n in increments.items():
                setattr(self, name, getattr(self, name) + n)

    def to_dict(self) -> dict[str, Any]:
        with self.lock:
            return {f.name: getattr(self, f.name) for f in dataclasses.fields(self) if f.name != "lock"}


class Scaler:
    """The loop of one scaler: due policies of the groups it owns, queued actions, autohealing."""

    def __init__(self, indexer: Any, engine: Any, actuator: Any, *, mine: Any = None, healer: Any = None,
                 stats: ScalerStats | None = None, healing_interval: float = HEALING_INTERVAL) -> None:
        self.indexer = indexer
        self.engine = engine
        self.actuator = actuator
        self.mine = mine or list  # the group ids of a batch this scaler owns (the hash ring's share)
        self.healer = healer
        self.stats = stats or ScalerStats()
        self.healing_interval = healing_interval
        self.wakeup = asyncio.Event()
        self._last_policies = 0.0
        self._last_healing = 0.0

    def wake(self) -> None:
        """Called (from any thread of this process) when a decision queued an action."""
        loop = getattr(self, "_loop", None)
        if loop is not None:
            loop.call_soon_threadsafe(self.wakeup.set)

    async def run(self, stop: threading.Event) -> None:
        self._loop = asyncio.get_running_loop()
        while not stop.is_set():
            try:
                await self.run_once()
            except Exception:
                self.stats.count(errors=1)
                LOG.exception("scaler pass failed; trying again")
            self.wakeup.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.wakeup.wait(), TICK)
        await self.actuator.aclose()

    async def run_once(self, now: datetime.datetime | None = None, *, force: bool = False) -> None:
        """Actions first (they free groups), then due policies, then autohealing — each when due."""
        ran = await self.actuator.run_once(now)
        self.stats.count(passes=1, actions=ran)
        clock = time.monotonic()
        if force or clock - self._last_policies >= POLICY_TICK:
            self._last_policies = clock
            await asyncio.to_thread(self.evaluate_due, now)
        if self.healer is not None and (force or clock - self._last_healing >= self.healing_interval):
            self._last_healing = clock
            await self.healer.run_once(self.mine)
        with self.stats.lock:
            self.stats.last_pass_at = utcnow().isoformat()

    def evaluate_due(self, now: datetime.datetime | None = None) -> int:
        """Evaluate every due policy of the groups this scaler owns; how many were evaluated."""
        now = now or utcnow()
        done = 0
        due = self.indexer.due_scaling_policies(now)
        owned = set(self.mine([group.id for _, group in due]))
        for policy, group in due:
            if group.id not in owned:
                continue
            try:
                result = self.engine.evaluate(policy, group, now=now)
            except Exception:
                self.stats.count(errors=1)
                LOG.exception("scaling group %s: evaluating policy %s failed", group.name, policy.name)
                result = None
            done += 1
            if result is not None and result[1].outcome in ("scale_out", "scale_in"):
                self.stats.count(decisions_changed=1)
            following = self.engine.next_evaluation(policy, now)
            if policy.trigger is None or policy.type != "step":  # a trigger saved its own state
                self.indexer.schedule_policy(policy.id, following)
        self.stats.count(evaluations=done)
        return done


def run_scaler(settings: Settings, stop: threading.Event, stats: ScalerStats) -> None:
    """Scale until ``stop`` (the body of a scaler process)."""
    from telescale.alarming.process import coordination_settings
    from telescale.coordination import build_coordinator
    from telescale.drivers import Drivers
    from telescale.scaling.actuator import Actuator
    from telescale.scaling.engine import ScalingEngine
    from telescale.scaling.export import SizeExporter
    from telescale.scaling.healing import Healer

    drivers = Drivers.build(settings)
    indexer, query = drivers.indexer, drivers.query
    coordinator = build_coordinator(coordination_settings(settings), ROLE, status=stats.to_dict)
    owner = f"{os.uname().nodename}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
    exporter = SizeExporter(settings, indexer, drivers.incoming)
    context = driver_context(settings)
    try:
        partition = coordinator.join(SCALER_GROUP)
        scaler_ref: list[Scaler] = []
        engine = ScalingEngine(indexer, query, prometheus_url=settings.alarming.prometheus_url,
                               timeout=settings.alarming.notifier_timeout,
                               on_action=lambda: scaler_ref[0].wake() if scaler_ref else None)
        actuator = Actuator(indexer, context, owner, on_change=exporter.export,
                            lease_seconds=settings.scaling.action_lease)
        healer = Healer(indexer, engine, query, actuator.driver)
        scaler = Scaler(indexer, engine, actuator, mine=partition.mine, healer=healer, stats=stats,
                        healing_interval=settings.scaling.healing_interval)
        scaler_ref.append(scaler)
        LOG.info("scaling (pid %d) as member %s of group %s on %s", os.getpid(), coordinator.member_id,
                 SCALER_GROUP, public_url(settings.coordination.url) or "this host")
        asyncio.run(scaler.run(stop))
        engine.close()
    finally:
        exporter.close()
        coordinator.stop()
        drivers.close()


def driver_context(settings: Settings) -> Any:
    """What member drivers get: settings, where they may keep files (members' logs: ``<data>/members``; the
    ``scaling`` directory holds the scalers' heartbeats) and the API URL members report to."""
    from telescale.scaling.drivers import DriverContext
    from telescale.service import local_url

    return DriverContext(settings=settings, state_dir=settings.data_path / "members", api_url=local_url(settings))
