"""Aodh's REST actions: ``http(s)://`` and ``trust+http(s)://`` (the same POST with a Keystone token).

The request is Aodh's: ``POST`` of ``{alarm_name, alarm_id, severity, previous, current, reason,
reason_data}`` serialised as Aodh does, with ``content-type: application/json`` and a fresh
``x-openstack-request-id: req-<uuid>``; a trust action also sends ``X-Auth-Token``.
"""

from __future__ import annotations

import json
import logging
import uuid
from urllib.parse import urlsplit, urlunsplit

from telescale.alarming.notifiers.base import DeliveryFailed, aodh_body
from telescale.alarming.notifiers.http import WebhookSender
from telescale.alarming.notifiers.keystone import TrustTokens
from telescale.alarming.notifiers.outbox import PendingNotification
from telescale.redact import public_url

LOG = logging.getLogger(__name__)

TRUST_PREFIX = "trust+"


#: The same on every attempt to deliver one notification (its outbox id), unlike the request id: delivery is
#: at-least-once (a process killed mid-delivery leaves it to a survivor), so a receiver that must act once
#: drops a notification id it has seen.
NOTIFICATION_ID_HEADER = "x-telescale-notification-id"


def request_headers() -> dict[str, str]:
    return {"content-type": "application/json", "x-openstack-request-id": f"req-{uuid.uuid4()}"}


def encode_body(notification: PendingNotification) -> bytes:
    """Aodh's bytes: ``json.dumps`` with its default separators and ASCII escapes."""
    return json.dumps(aodh_body(notification)).encode("ascii")


class RestNotifier:
    """``http://`` and ``https://``: one POST per attempt."""

    def __init__(self, sender: WebhookSender) -> None:
        self.sender = sender

    async def send(self, action: str, notification: PendingNotification) -> int | None:
        return await self.post(action, notification, {})

    async def post(self, url: str, notification: PendingNotification, extra: dict[str, str]) -> int:
        headers = {**request_headers(), NOTIFICATION_ID_HEADER: str(notification.id), **extra}
        LOG.info("notifying alarm %s (%s -> %s) at %s, request %s", notification.alarm_id,
                 notification.payload.get("previous"), notification.payload.get("current"), public_url(url),
                 headers["x-openstack-request-id"])
        return await self.sender.post(url, encode_body(notification), headers)


def trust_target(action: str) -> tuple[str, str | None]:
    """(the URL to call: no ``trust+``, no user-info; the trust id Aodh keeps in the user-info, if any)."""
    parts = urlsplit(action.removeprefix(TRUST_PREFIX))
    userinfo, _, hostport = parts.netloc.rpartition("@")
    return urlunsplit(parts._replace(netloc=hostport)), (userinfo.partition(":")[0] or None)


class TrustRestNotifier:
    """``trust+http(s)://``: the alarm's trust becomes a token, sent as ``X-Auth-Token``."""

    def __init__(self, rest: RestNotifier, tokens: TrustTokens) -> None:
        self.rest = rest
        self.tokens = tokens

    async def send(self, action: str, notification: PendingNotification) -> int | None:
        url, url_trust = trust_target(action)
        trust_id = notification.trust_id or url_trust
        if not trust_id:
            raise DeliveryFailed("a trust+ action without a Keystone trust", retry=False)
        token = await self.tokens.token(trust_id)
        return await self.rest.post(url, notification, {"X-Auth-Token": token})
