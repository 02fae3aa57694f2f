"""Drains the outbox: claims due notifications, delivers them concurrently, reports every attempt.

Each attempt is bounded by ``alarming.notifier_timeout`` and deliveries run side by side (up to
``concurrency``), so a slow or dead receiver holds one slot, never the others. A failed attempt that may
pass later (connection error, timeout, 5xx, 429) is rescheduled with exponential backoff and jitter until
``alarming.notifier_max_attempts``; any other failure (4xx, refused target) is final. Either way the
attempt goes back to the outbox, which records it in the alarm's history. A claim is a lease: if this
process dies, the notification becomes due again when the lease ends (at-least-once delivery).
"""

from __future__ import annotations

import asyncio
import logging
import random
import ssl
import threading
import time
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

from telescale.alarming.notifiers.allowlist import AllowList
from telescale.alarming.notifiers.base import DeliveryFailed, Notifier
from telescale.alarming.notifiers.http import Resolver, WebhookSender
from telescale.alarming.notifiers.internal import ActionRegistry
from telescale.alarming.notifiers.keystone import TrustTokens
from telescale.alarming.notifiers.log import LogNotifier
from telescale.alarming.notifiers.outbox import DeliveryAttempt, NotificationOutbox, PendingNotification
from telescale.alarming.notifiers.webhook import RestNotifier, TrustRestNotifier
from telescale.config import Settings
from telescale.redact import public_url

LOG = logging.getLogger(__name__)

#: The longest wait between two attempts, however many failed before.
MAX_BACKOFF = 3600.0


class Dispatcher:
    """The delivery loop of one process (the evaluator runs it beside its evaluation loop)."""

    def __init__(
        self,
        outbox: NotificationOutbox,
        *,
        timeout: float = 10.0,
        max_attempts: int = 8,
        backoff: float = 1.0,
        allowed_networks: Iterable[str] = (),
        service_credentials: Mapping[str, Any] | None = None,
        actions: ActionRegistry | None = None,
        concurrency: int = 64,
        poll_interval: float = 0.5,
        resolver: Resolver | None = None,
        ssl_context: ssl.SSLContext | None = None,
        rng: random.Random | None = None,
    ) -> None:
        self.outbox = outbox
        self.timeout = timeout
        self.max_attempts = max_attempts
        self.backoff = backoff
        self.concurrency = concurrency
        self.poll_interval = poll_interval
        #: A lease outlives the longest attempt, so a live dispatcher never loses its claim.
        self.lease_seconds = 2 * timeout + 10
        self.actions = actions if actions is not None else ActionRegistry()
        self.sender = WebhookSender(AllowList(allowed_networks), timeout, resolver=resolver, ssl_context=ssl_context)
        rest = RestNotifier(self.sender)
        trust = TrustRestNotifier(rest, TrustTokens(service_credentials or {}, timeout))
        self.notifiers: dict[str, Notifier] = {
            "log": LogNotifier(), "http": rest, "https": rest, "trust+http": trust, "trust+https": trust,
            "telescale": self.actions}
        self._rng = rng or random.Random()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._wake: asyncio.Event | None = None

    @classmethod
    def from_settings(cls, outbox: NotificationOutbox, settings: Settings, actions: ActionRegistry | None = None,
                      **options: Any) -> Dispatcher:
        alarming = settings.alarming
        return cls(outbox, timeout=alarming.notifier_timeout, max_attempts=alarming.notifier_max_attempts,
                   backoff=alarming.notifier_backoff, allowed_networks=alarming.webhook_allowed_networks,
                   service_credentials=settings.service_credentials, actions=actions, **options)

    async def __aenter__(self) -> Dispatcher:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        await self.sender.aclose()

    def retry_delay(self, attempts_done: int) -> float:
        """``backoff × 2^(n-1)`` after the n-th failure, plus up to half of it again so retries spread out."""
        delay = min(self.backoff * 2 ** min(attempts_done - 1, 62), MAX_BACKOFF)
        return delay * (1 + self._rng.random() / 2)

    async def attempt(self, notification: PendingNotification) -> tuple[DeliveryAttempt, bool]:
        """Try once; (what happened, whether a failure is worth retrying)."""
        start = time.monotonic()
        status: int | None = None
        error: str | None = None
        retry = False
        try:
            notifier = self._notifier(notification.action)
            async with asyncio.timeout(self.timeout):
                status = await notifier.send(notification.action, notification)
        except DeliveryFailed as e:
            error, retry, status = str(e), e.retry, e.status
        except TimeoutError:
            error, retry = f"not delivered within {self.timeout:g} s (alarming.notifier_timeout)", True
        except Exception as e:
            LOG.exception("delivering notification %s of alarm %s failed", notification.id, notification.alarm_id)
            error, retry = f"internal error: {type(e).__name__}", True
        attempt = DeliveryAttempt(ok=error is None, status=status, error=error,
                                  duration=time.monotonic() - start, url=public_url(notification.action))
        return attempt, retry

    def _notifier(self, action: str) -> Notifier:
        try:
            scheme = urlsplit(action).scheme.lower()
        except ValueError as e:
            raise DeliveryFailed(f"not a valid action URL ({e})", retry=False) from None
        notifier = self.notifiers.get(scheme)
        if notifier is None:
            raise DeliveryFailed(f"unsupported action scheme {scheme!r}", retry=False)
        return notifier

    async def deliver(self, notification: PendingNotification) -> DeliveryAttempt:
        """One attempt, reported to the outbox as done for good or to be retried."""
        attempt, retry = await self.attempt(notification)
        done = notification.attempts + 1
        again = not attempt.ok and retry and done < self.max_attempts
        try:
            if again:
                at = datetime.now(UTC) + timedelta(seconds=self.retry_delay(done))
                await asyncio.to_thread(self.outbox.retry_notification, notification.id, attempt, at)
            else:
                await asyncio.to_thread(self.outbox.complete_notification, notification.id, attempt)
        except Exception:
            LOG.exception("could not record the attempt on notification %s; it is due again when its lease ends",
                          notification.id)
        if attempt.ok:
            LOG.info("alarm %s notified at %s (attempt %d)", notification.alarm_id, attempt.url, done)
        else:
            LOG.warning("alarm %s not notified at %s (attempt %d of %d, %s): %s", notification.alarm_id,
                        attempt.url, done, self.max_attempts, "will retry" if again else "given up", attempt.error)
        return attempt

    async def _claim(self, limit: int) -> list[PendingNotification]:
        try:
            return await asyncio.to_thread(self.outbox.claim_notifications, limit, self.lease_seconds)
        except Exception:
            LOG.exception("could not claim notifications")
            return []

    async def run_once(self) -> int:
        """Claim what is due (up to ``concurrency``), deliver it all concurrently; how many were tried."""
        claimed = await self._claim(self.concurrency)
        await asyncio.gather(*(self.deliver(n) for n in claimed))
        return len(claimed)

    def wake(self) -> None:
        """Look for due notifications now rather than at the next poll (callable from any thread)."""
        loop, event = self._loop, self._wake
        if loop is not None and event is not None and not loop.is_closed():
            loop.call_soon_threadsafe(event.set)

    async def run(self, stop_event: asyncio.Event | threading.Event) -> None:
        """Deliver until ``stop_event`` is set, claiming as slots free up; then finish what is in flight."""
        self._loop, self._wake = asyncio.get_running_loop(), asyncio.Event()
        in_flight: set[asyncio.Task[DeliveryAttempt]] = set()
        backlog = False

        def finished(task: asyncio.Task[DeliveryAttempt]) -> None:
            in_flight.discard(task)
            if backlog and self._wake is not None:
                self._wake.set()

        try:
            while not stop_event.is_set():
                self._wake.clear()
                free = self.concurrency - len(in_flight)
                claimed = await self._claim(free) if free > 0 else []
                backlog = free <= 0 or len(claimed) == free
                for notification in claimed:
                    task = asyncio.create_task(self.deliver(notification))
                    in_flight.add(task)
                    task.add_done_callback(finished)
                if not (claimed and backlog and len(in_flight) < self.concurrency):
                    await self._pause(stop_event)
        finally:
            if in_flight:
                _, late = await asyncio.wait(in_flight, timeout=self.timeout + 1)
                for task in late:
                    task.cancel()
            self._wake = None
            await self.aclose()

    async def _pause(self, stop_event: asyncio.Event | threading.Event) -> None:
        """Sleep until the poll interval passes, ``wake()`` is called, or ``stop_event`` is set."""
        assert self._wake is not None
        waits = [asyncio.ensure_future(self._wake.wait())]
        timeout = self.poll_interval
        if isinstance(stop_event, asyncio.Event):
            waits.append(asyncio.ensure_future(stop_event.wait()))
        else:  # a threading.Event cannot be awaited: look at it often
            timeout = min(timeout, 0.2)
        _, pending = await asyncio.wait(waits, timeout=timeout, return_when=asyncio.FIRST_COMPLETED)
        for waiter in pending:
            waiter.cancel()
