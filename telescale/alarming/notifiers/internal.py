"""``telescale://<kind>/<target>``: actions handled inside the process, such as a scaling policy.

The scaling package registers a handler per kind (``telescale://scaling/<policy_id>`` calls the
``scaling`` handler with ``"<policy_id>"`` and Aodh's notification body). A handler raises
``DeliveryFailed(retry=False)`` for a failure that retrying cannot fix (an unknown policy); any other
exception is retried like a 5xx.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Mapping
from typing import Any
from urllib.parse import unquote, urlsplit

from telescale.alarming.notifiers.base import DeliveryFailed, aodh_body
from telescale.alarming.notifiers.outbox import PendingNotification

LOG = logging.getLogger(__name__)

#: (target, Aodh's notification body) -> None; raise to fail the attempt.
ActionHandler = Callable[[str, Mapping[str, Any]], Awaitable[None]]


class ActionRegistry:
    """The in-process handlers, by kind; built once per process and handed to the dispatcher."""

    def __init__(self) -> None:
        self._handlers: dict[str, ActionHandler] = {}

    def register(self, kind: str, handler: ActionHandler) -> None:
        self._handlers[kind.lower()] = handler

    def unregister(self, kind: str) -> None:
        self._handlers.pop(kind.lower(), None)

    def kinds(self) -> list[str]:
        return sorted(self._handlers)

    async def send(self, action: str, notification: PendingNotification) -> int | None:
        parts = urlsplit(action)
        kind, target = (parts.hostname or ""), unquote(parts.path.strip("/"))
        handler = self._handlers.get(kind)
        if handler is None:
            known = ", ".join(self.kinds()) or "none"
            raise DeliveryFailed(f"no handler for internal actions of kind {kind!r} in this process "
                                 f"(registered: {known})", retry=False)
        try:
            await handler(target, aodh_body(notification))
        except DeliveryFailed:
            raise
        except Exception as e:
            LOG.exception("internal action %s for alarm %s failed", action, notification.alarm_id)
            raise DeliveryFailed(f"the {kind} handler failed: {type(e).__name__}: {e}", retry=True) from None
        return None
