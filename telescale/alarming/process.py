"""One alarm evaluator process: the evaluation loop, its notification dispatcher, its heartbeat.

``serve`` starts ``alarming.evaluators`` of them (``telescale evaluator`` runs them alone, to scale out).
Each joins the ``alarm_evaluator`` group of ``coordination.url`` and evaluates the alarms its share of the
hash ring holds; with the embedded default and several evaluators on one host, tooz's file driver under
the data directory is their group, so no server is needed either way. The dispatcher runs in a thread of
its own (an asyncio loop) and is woken as soon as the evaluator commits notifications.
"""

from __future__ import annotations

import asyncio
import logging
import os
import threading
from dataclasses import replace
from typing import Any

from telescale.alarming.evaluator import EVALUATOR_GROUP, Evaluator, EvaluatorStats
from telescale.config import Settings
from telescale.redact import public_url

LOG = logging.getLogger(__name__)
ROLE = "evaluator"


def coordination_settings(settings: Settings) -> Settings:
    """Several evaluators on one host with no ``coordination.url``: tooz's file driver in the data directory
    (one hash ring, no server); otherwise the settings as they are."""
    if settings.coordination.url or settings.alarming.evaluators <= 1:
        return settings
    path = settings.data_path / "coordination"
    path.mkdir(parents=True, exist_ok=True)
    return replace(settings, coordination=replace(settings.coordination, url=f"file://{path}"))


def _dispatch(dispatcher: Any, stop: threading.Event) -> None:
    async def main() -> None:
        async with dispatcher:
            await dispatcher.run(stop)

    asyncio.run(main())


def run_evaluator(settings: Settings, stop: threading.Event, stats: EvaluatorStats) -> None:
    """Evaluate and deliver until ``stop`` (the body of an evaluator process)."""
    from telescale.alarming.notifiers.dispatcher import Dispatcher
    from telescale.alarming.notifiers.internal import ActionRegistry
    from telescale.coordination import build_coordinator
    from telescale.drivers import Drivers
    from telescale.scaling import alarm_actions
    from telescale.scaling.engine import ScalingEngine

    drivers = Drivers.build(settings)
    indexer, query = drivers.indexer, drivers.query
    coordinator = build_coordinator(coordination_settings(settings), ROLE, status=stats.to_dict)
    try:
        partition = coordinator.join(EVALUATOR_GROUP)
        actions = ActionRegistry()
        alarm_actions.register(actions, ScalingEngine(indexer, query))  # signals decide; scalers act
        dispatcher = Dispatcher.from_settings(indexer, settings, actions)
        delivery = threading.Thread(target=_dispatch, args=(dispatcher, stop), name="dispatcher", daemon=True)
        delivery.start()
        evaluator = Evaluator(indexer, query, settings.alarming, owns=partition.mine,
                              on_notify=dispatcher.wake, stats=stats)
        LOG.info("evaluating alarms (pid %d) as member %s of group %s on %s", os.getpid(), coordinator.member_id,
                 EVALUATOR_GROUP, public_url(settings.coordination.url) or "this host")
        evaluator.run(stop)
        delivery.join(settings.alarming.notifier_timeout + 5)
    finally:
        coordinator.stop()
        drivers.close()
