"""``log://``: the notification written to the log at INFO, as Aodh's log notifier does."""

from __future__ import annotations

import logging

from telescale.alarming.notifiers.outbox import PendingNotification

LOG = logging.getLogger(__name__)


class LogNotifier:
    async def send(self, action: str, notification: PendingNotification) -> int | None:
        payload = notification.payload
        LOG.info("alarm %s %s (severity %s) went from %s to %s, action %s: %s", payload.get("alarm_name"),
                 notification.alarm_id, payload.get("severity"), payload.get("previous"), payload.get("current"),
                 action, payload.get("reason"))
        return None
