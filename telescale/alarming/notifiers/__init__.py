"""Delivery of alarm notifications from the outbox (see ``dispatcher``), and the action check the API uses.

* ``outbox`` — the protocol the indexer implements (``PendingNotification``, ``DeliveryAttempt``).
* ``dispatcher`` — the loop: claim, deliver concurrently, report each attempt, retry with backoff.
* ``log`` / ``webhook`` / ``internal`` — the action schemes: ``log://``, ``http(s)://`` and
  ``trust+http(s)://`` (Aodh's request; ``keystone`` swaps the trust for a token), ``telescale://``.
* ``http`` — the pinned POST; ``allowlist`` — which addresses actions may reach (``check_target``).
"""

from telescale.alarming.notifiers.allowlist import SCHEMES, AllowList, TargetRefused, check_target
from telescale.alarming.notifiers.base import DeliveryFailed, aodh_body
from telescale.alarming.notifiers.dispatcher import Dispatcher
from telescale.alarming.notifiers.internal import ActionHandler, ActionRegistry
from telescale.alarming.notifiers.outbox import DeliveryAttempt, NotificationOutbox, PendingNotification
from telescale.redact import public_url

__all__ = [
    "SCHEMES", "ActionHandler", "ActionRegistry", "AllowList", "DeliveryAttempt", "DeliveryFailed", "Dispatcher",
    "NotificationOutbox", "PendingNotification", "TargetRefused", "aodh_body", "check_target", "public_url",
]
