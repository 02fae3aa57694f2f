"""What every notifier shares: Aodh's notification body, the failure type, and URLs safe to show."""

from __future__ import annotations

from typing import Any, Protocol

from telescale.alarming.notifiers.outbox import PendingNotification

#: Aodh's notification fields, in the order Aodh serialises them.
BODY_FIELDS = ("alarm_name", "alarm_id", "severity", "previous", "current", "reason", "reason_data")


class DeliveryFailed(Exception):
    """One attempt failed; ``retry`` says whether trying again later may help (a 5xx) or not (a 4xx)."""

    def __init__(self, message: str, *, retry: bool, status: int | None = None) -> None:
        super().__init__(message)
        self.retry = retry
        self.status = status


class Notifier(Protocol):
    """Delivers one notification to one action URL; returns the receiver's HTTP status, if any."""

    async def send(self, action: str, notification: PendingNotification) -> int | None: ...


def aodh_body(notification: PendingNotification) -> dict[str, Any]:
    """The body Aodh posts, built from the outbox payload (extra payload keys are not sent)."""
    fields = {**notification.payload, "alarm_id": str(notification.alarm_id)}
    return {name: fields.get(name) for name in BODY_FIELDS}
