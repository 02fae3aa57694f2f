"""The ``webhook`` member driver: the group's members live elsewhere; a receiver is told the new capacity.

Each change is one JSON POST of ``{group_id, group_name, desired_capacity, previous_capacity, reason}``
(``previous_capacity``: the size the receiver last acknowledged). The same capacity sent twice asks for the
same thing, so a retried action cannot double a change. Connection errors, timeouts, 5xx and 429 are retried
with exponential backoff and jitter, up to ``max_attempts``; any other answer is final. The group's size is
what the receiver acknowledged: a 2xx means ``desired_capacity``, unless its JSON body holds an integer
``current_size`` (or ``capacity``). The POST goes through the alarm notifiers' pinned sender, so it obeys
``alarming.webhook_allowed_networks`` as alarm actions do (loopback and metadata addresses are refused).
"""

from __future__ import annotations

import asyncio
import json
import logging
import random
from collections.abc import Mapping, Sequence
from typing import Any

from telescale.alarming.notifiers.allowlist import AllowList
from telescale.alarming.notifiers.base import DeliveryFailed
from telescale.alarming.notifiers.http import WebhookSender
from telescale.redact import public_url
from telescale.scaling.drivers.base import ActuationFailed, DriverContext, MemberDriver, Resized
from telescale.scaling.drivers.options import Options
from telescale.scaling.model import Group, Member

LOG = logging.getLogger(__name__)

#: The longest wait between two attempts, however many failed before.
MAX_BACKOFF = 60.0
#: How much of a 2xx answer is read for the acknowledged size.
MAX_ANSWER = 65536


def acknowledged_size(answer: bytes, desired: int) -> int:
    """The receiver's ``current_size`` (or ``capacity``) when its answer is a JSON object holding one."""
    try:
        body = json.loads(answer) if answer.strip() else None
    except (ValueError, UnicodeDecodeError):
        return desired
    if isinstance(body, dict):
        for key in ("current_size", "capacity"):
            value = body.get(key)
            if isinstance(value, int) and not isinstance(value, bool) and value >= 0:
                return value
    return desired


class WebhookDriver(MemberDriver):
    kind = "webhook"
    tracks_members = False

    def __init__(self, options: Mapping[str, Any], context: DriverContext, *,
                 rng: random.Random | None = None) -> None:
        super().__init__(options, context)
        allowed = context.settings.alarming.webhook_allowed_networks
        self.sender = WebhookSender(AllowList(allowed), self.options["timeout"], user_agent="telescale-scaler")
        self._rng = rng or random.Random()

    @classmethod
    def validate(cls, options: Mapping[str, Any]) -> dict[str, Any]:
        read = Options(cls.kind, options, ("url", "headers", "timeout", "max_attempts", "backoff"))
        read.url("url")
        read.string_map("headers")
        read.number("timeout", 10.0, above=True)
        read.integer("max_attempts", 5, minimum=1)
        read.number("backoff", 1.0)
        return read.out

    def retry_delay(self, attempts_done: int) -> float:
        """``backoff × 2^(n-1)`` after the n-th failure, plus up to half of it again so retries spread out."""
        delay = min(self.options["backoff"] * 2 ** min(attempts_done - 1, 30), MAX_BACKOFF)
        return delay * (1 + self._rng.random() / 2)

    async def resize(self, group: Group, members: Sequence[Member], desired: int, remove: Sequence[Member],
                     reason: str) -> Resized:
        body = {"group_id": str(group.id), "group_name": group.name, "desired_capacity": desired,
                "previous_capacity": group.current_size, "reason": reason}
        size = await self.post(body)
        return Resized(current_size=size, members=None)

    async def post(self, body: dict[str, Any]) -> int:
        """POST ``body`` until a 2xx, a final refusal or ``max_attempts``; the acknowledged size."""
        url = self.options["url"]
        headers = {"content-type": "application/json", **self.options["headers"]}
        payload = json.dumps(body).encode()
        attempts = self.options["max_attempts"]
        for attempt in range(1, attempts + 1):
            try:
                _, answer = await self.sender.post_reading(url, payload, headers, MAX_ANSWER)
            except DeliveryFailed as e:
                if not e.retry:
                    raise ActuationFailed(f"webhook {public_url(url)}: {e}", retry=False) from None
                if attempt == attempts:
                    raise ActuationFailed(f"webhook {public_url(url)}: {e} (gave up after {attempts} attempts)",
                                          retry=True) from None
                delay = self.retry_delay(attempt)
                LOG.warning("group %s: webhook attempt %d of %d failed (%s); next in %.1f s", body["group_id"],
                            attempt, attempts, e, delay)
                await asyncio.sleep(delay)
                continue
            return acknowledged_size(answer, body["desired_capacity"])
        raise AssertionError("unreachable")

    async def aclose(self) -> None:
        await self.sender.aclose()
