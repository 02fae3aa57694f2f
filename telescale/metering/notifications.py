"""The agent's OpenStack notification listener: AMQP in, samples, instance resources and events out.

**One durable queue per agent** (``telescale-agent.<agent name>`` by default), bound to each configured
exchange (``nova``, ``cinder`` …) with the routing keys ``<topic>.<priority>`` (``notifications.info``,
``versioned_notifications.info``). Never the ``notifications.info`` queue itself: a consumer of that
queue would compete with Ceilometer's for its messages. Why one queue per agent rather than one shared by
all agents: the pipeline places everything on the agents' hash ring (``Ownership.keep``) before its
transformers, so each agent must see every notification and keep its own share; with one shared queue
each agent would see a random half and drop the half of that it does not own. The cost is that N
listening agents receive N copies, so enable ``notifications:`` on a few agents, not on every compute
host. An agent that goes away for good leaves no queue growing forever: it expires after ``queue_expires``
seconds without a consumer, and holds at most ``max_length`` messages (RabbitMQ drops the oldest beyond).

Per message: the oslo envelope is decoded (:mod:`telescale.metering.envelope`), and the derived items —
the meters' samples (:mod:`telescale.metering.meters`), the instance resource update
(:mod:`telescale.metering.resources`) and one event (:mod:`telescale.metering.events`) — are handed to
the pipeline; the message is acknowledged only once ``emit`` has returned, so a crash redelivers it.
Messages are taken in batches (up to ``batch_size``, waiting at most ``batch_timeout`` seconds for more)
with at most ``prefetch`` unacknowledged. An undecodable message is rejected without requeue
(dead-lettered if the queue has a dead-letter exchange) with a log line saying why. When ``emit`` fails
the batch is requeued after a pause; a message the pipeline failed on three times is rejected with a log
line naming it. When RabbitMQ goes away the listener reconnects with an exponential backoff (1 s doubling
up to ``reconnect_max``).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import aio_pika
import aio_pika.abc
import aiormq

from telescale.metering.envelope import Notification, UndecodableMessage, decode
from telescale.metering.events import EventDefinitions
from telescale.metering.meters import MeterDefinitions
from telescale.metering.resources import instance_update
from telescale.metering.sample import Event, ResourceUpdate, Sample

__all__ = ["Converter", "NotificationListener", "NotificationSettings"]

LOG = logging.getLogger(__name__)

Item = Sample | ResourceUpdate | Event
Emit = Callable[[Sequence[Item]], Awaitable[None]]

#: Ceilometer's default control exchanges.
ATTEMPTS = 3  # pipeline failures after which a message is rejected
DEFAULT_EXCHANGES = ("nova", "glance", "neutron", "cinder", "heat", "keystone", "trove", "zaqar", "swift",
                     "ceilometer", "magnum", "dns", "ironic", "aodh")


@dataclass(frozen=True)
class NotificationSettings:
    """The ``notifications:`` mapping of the agent's YAML (absent: no listener)."""

    url: str = "amqp://guest:guest@127.0.0.1:5672/"
    queue: str = ""
    exchanges: tuple[str, ...] = DEFAULT_EXCHANGES
    topics: tuple[str, ...] = ("notifications", "versioned_notifications")
    priorities: tuple[str, ...] = ("info",)
    exchange_durable: bool = False
    prefetch: int = 100
    batch_size: int = 100
    batch_timeout: float = 0.5
    queue_expires: float = 86400.0
    max_length: int = 1_000_000
    reconnect_max: float = 30.0
    meters: str | None = None
    events: str | None = None
    resources: bool = True

    FIELDS_HELP = {
        "url": "AMQP URL of the broker the services notify on (amqp:// or oslo's rabbit://)",
        "queue": "this agent's queue (default telescale-agent.<agent name>)",
        "exchanges": "the services' exchanges to bind to",
        "topics": "notification topics (routing key <topic>.<priority>)",
        "priorities": "notification priorities (info, warn, error …)",
        "exchange_durable": "declare missing exchanges durable (as the services' amqp_durable_queues)",
        "prefetch": "unacknowledged messages at most",
        "batch_size": "messages handed to the pipeline at once at most",
        "batch_timeout": "seconds to wait for a batch to fill",
        "queue_expires": "seconds without a consumer before RabbitMQ deletes the queue (0: never)",
        "max_length": "messages the queue holds at most, the oldest dropped beyond (0: unbounded)",
        "reconnect_max": "longest pause between two connection attempts, in seconds",
        "meters": "meter definitions file (default: the packaged meters.yaml)",
        "events": "event definitions file (default: the packaged events.yaml)",
        "resources": "map instance lifecycle notifications to instance resources",
    }

    @classmethod
    def from_mapping(cls, mapping: Mapping[str, Any] | None, agent_name: str | None = None) -> NotificationSettings:
        """Read and check the mapping; :class:`ValueError` names the bad key (``notifications.<key>``)."""
        mapping = {} if mapping is None else mapping
        if not isinstance(mapping, Mapping):
            raise ValueError(f"notifications: must be a mapping, got {mapping!r}")
        unknown = sorted(set(mapping) - set(cls.FIELDS_HELP))
        if unknown:
            raise ValueError(f"notifications.{unknown[0]}: unknown key (known: {', '.join(cls.FIELDS_HELP)})")
        defaults = cls()
        values: dict[str, Any] = {}
        for key, value in mapping.items():
            default = getattr(defaults, key)
            where = f"notifications.{key}"
            if isinstance(default, tuple):
                value = [value] if isinstance(value, str) else value
                if not isinstance(value, list) or not value or not all(isinstance(v, str) and v for v in value):
                    raise ValueError(f"{where}: must be a non-empty list of names, got {value!r}")
                value = tuple(value)
            elif isinstance(default, bool):
                if not isinstance(value, bool):
                    raise ValueError(f"{where}: must be true or false, got {value!r}")
            elif isinstance(default, int | float):
                if isinstance(value, bool) or not isinstance(value, int | float) or value < 0:
                    raise ValueError(f"{where}: must be a non-negative number, got {value!r}")
                if isinstance(default, int) and not isinstance(value, int):
                    raise ValueError(f"{where}: must be a whole number, got {value!r}")
            elif value is not None and not isinstance(value, str):
                raise ValueError(f"{where}: must be a string, got {value!r}")
            values[key] = value
        for key in ("prefetch", "batch_size"):
            if values.get(key, 1) < 1:
                raise ValueError(f"notifications.{key}: must be at least 1, got {values[key]}")
        values["url"] = _amqp_url(values.get("url", defaults.url))
        if not values.get("queue"):
            values["queue"] = f"telescale-agent.{agent_name or socket.gethostname()}"
        if values["queue"] in {f"{t}.{p}" for t in values.get("topics", defaults.topics)
                               for p in values.get("priorities", defaults.priorities)}:
            raise ValueError(f"notifications.queue: {values['queue']!r} is the services' own queue, which "
                             "Ceilometer consumes; consuming it too would steal its messages")
        return cls(**values)

    @property
    def routing_keys(self) -> list[str]:
        return [f"{topic}.{priority}" for topic in self.topics for priority in self.priorities]


def _amqp_url(url: Any) -> str:
    """amqp(s):// as is; oslo's ``rabbit://user:pass@host:5672/vhost`` (one host) as amqp://."""
    if not isinstance(url, str) or not url:
        raise ValueError(f"notifications.url: must be an AMQP URL, got {url!r}")
    parts = urlsplit(url)
    if parts.scheme == "rabbit":
        if "," in parts.netloc:
            raise ValueError("notifications.url: several brokers in one rabbit:// URL are not supported; give one")
        parts = parts._replace(scheme="amqp")
    if parts.scheme not in ("amqp", "amqps") or not parts.hostname:
        raise ValueError(f"notifications.url: must be amqp://, amqps:// or rabbit:// with a host, got {url!r}")
    return urlunsplit(parts)


class Converter:
    """A notification → the samples, resource update and event it means."""

    def __init__(self, meters: MeterDefinitions, events: EventDefinitions, resources: bool = True) -> None:
        self.meters = meters
        self.events = events
        self.resources = resources

    @classmethod
    def from_settings(cls, settings: NotificationSettings) -> Converter:
        """Both definition files read now, so a bad one stops the agent at start with its error."""
        return cls(MeterDefinitions.load(settings.meters), EventDefinitions.load(settings.events), settings.resources)

    def convert(self, notification: Notification) -> list[Item]:
        items: list[Item] = []
        update = instance_update(notification) if self.resources else None
        if update is not None:
            items.append(update)  # first, so the resource exists when its samples arrive
        items.extend(self.meters.samples(notification))
        items.append(self.events.event(notification))
        return items


class NotificationListener:
    """A pipeline source: ``await listener.run(emit)`` until cancelled."""

    shared = True  # every listening agent gets every notification

    def __init__(self, settings: NotificationSettings, converter: Converter | None = None,
                 name: str = "notifications") -> None:
        self.name = name
        self.settings = settings
        self.converter = converter or Converter.from_settings(settings)
        self.ready = asyncio.Event()  # set while consuming (tests wait on it)
        self.connections = 0
        self._failures: dict[str, int] = {}  # notification message id → pipeline failures so far

    async def run(self, emit: Emit) -> None:
        backoff = 1.0
        while True:
            try:
                await self._session(emit)
            except asyncio.CancelledError:
                raise
            except Exception as e:  # whatever the broker or the network did, come back
                if self.ready.is_set():
                    backoff = 1.0  # it was consuming: the first retry comes soon
                LOG.warning("notifications: %s unreachable or gone (%s: %s); retrying in %.0f s",
                            _shown(self.settings.url), type(e).__name__, e, backoff,
                            exc_info=not isinstance(e, aiormq.exceptions.AMQPError | OSError))
            self.ready.clear()
            await asyncio.sleep(backoff)
            backoff = min(backoff * 2, self.settings.reconnect_max)

    async def _session(self, emit: Emit) -> None:
        connection = await aio_pika.connect(self.settings.url, timeout=10,
                                            client_properties={"connection_name": f"telescale agent {self.name}"})
        lost = asyncio.Event()
        connection.close_callbacks.add(lambda *_: lost.set())
        try:
            self.connections += 1
            queue = await self._declare(connection)
            inbox: asyncio.Queue[aio_pika.abc.AbstractIncomingMessage] = asyncio.Queue()
            tag = await queue.consume(inbox.put)
            LOG.info("notifications: consuming queue %r bound to %s with %s", queue.name,
                     ", ".join(self.settings.exchanges), ", ".join(self.settings.routing_keys))
            self.ready.set()
            worker = asyncio.create_task(self._work(inbox, emit))
            waiter = asyncio.create_task(lost.wait())
            try:
                done, _ = await asyncio.wait({worker, waiter}, return_when=asyncio.FIRST_COMPLETED)
                if worker in done:
                    worker.result()  # re-raise what stopped it
            finally:
                for task in (worker, waiter):
                    task.cancel()
                with contextlib.suppress(Exception, asyncio.CancelledError):
                    await queue.cancel(tag)
            raise ConnectionError("connection closed")
        finally:
            with contextlib.suppress(Exception):
                await connection.close()

    async def _declare(self, connection: aio_pika.abc.AbstractConnection) -> aio_pika.abc.AbstractQueue:
        s = self.settings
        for exchange in s.exchanges:
            await _ensure_exchange(connection, exchange, s.exchange_durable)
        channel = await connection.channel()
        await channel.set_qos(prefetch_count=s.prefetch)
        arguments: dict[str, Any] = {}
        if s.queue_expires:
            arguments["x-expires"] = int(s.queue_expires * 1000)
        if s.max_length:
            arguments["x-max-length"] = s.max_length
        queue = await channel.declare_queue(s.queue, durable=True, arguments=arguments)
        for exchange in s.exchanges:
            for key in s.routing_keys:
                await queue.bind(exchange, routing_key=key)
        return queue

    async def _work(self, inbox: asyncio.Queue[aio_pika.abc.AbstractIncomingMessage], emit: Emit) -> None:
        loop = asyncio.get_running_loop()
        while True:
            batch = [await inbox.get()]
            deadline = loop.time() + self.settings.batch_timeout
            while len(batch) < self.settings.batch_size:
                left = deadline - loop.time()
                if left <= 0:
                    break
                try:
                    batch.append(await asyncio.wait_for(inbox.get(), left))
                except TimeoutError:
                    break
            await self._handle(batch, emit)

    async def _handle(self, batch: list[aio_pika.abc.AbstractIncomingMessage], emit: Emit) -> None:
        items: list[Item] = []
        accepted: list[tuple[aio_pika.abc.AbstractIncomingMessage, str]] = []
        for message in batch:
            try:
                notification = decode(message.body)
            except UndecodableMessage as e:
                LOG.warning("notifications: rejected message %s from exchange %r (%s): %s", message.message_id or
                            message.delivery_tag, message.exchange, message.routing_key, e)
                await message.reject(requeue=False)
                continue
            try:
                items.extend(self.converter.convert(notification))
            except Exception:  # a definition that fails on odd data must not stop the listener
                LOG.exception("notifications: %s %s could not be converted; rejected", notification.event_type,
                              notification.message_id)
                await message.reject(requeue=False)
                continue
            accepted.append((message, notification.message_id))
        if not accepted:
            return
        try:
            if items:
                await emit(items)
        except asyncio.CancelledError:
            raise
        except Exception:
            await self._failed(accepted)
            return
        for message, message_id in accepted:
            self._failures.pop(message_id, None)
            await message.ack()

    async def _failed(self, accepted: list[tuple[aio_pika.abc.AbstractIncomingMessage, str]]) -> None:
        """The pipeline raised: requeue (after a pause, so a failing pipeline is not hammered) unless a
        message has failed ``ATTEMPTS`` times already, which is rejected (it would loop forever)."""
        if len(self._failures) > 10_000:
            self._failures.clear()
        given_up = []
        for _, message_id in accepted:
            self._failures[message_id] = self._failures.get(message_id, 0) + 1
            if self._failures[message_id] >= ATTEMPTS:
                given_up.append(message_id)
        LOG.exception("notifications: the pipeline failed on %d message(s); %d requeued, %d rejected after %d "
                      "attempts%s", len(accepted), len(accepted) - len(given_up), len(given_up), ATTEMPTS,
                      f" ({', '.join(given_up)})" if given_up else "")
        await asyncio.sleep(1.0)
        for message, message_id in accepted:
            requeue = message_id not in given_up
            if not requeue:
                self._failures.pop(message_id, None)
            await message.nack(requeue=requeue)


async def _ensure_exchange(connection: aio_pika.abc.AbstractConnection, name: str, durable: bool) -> None:
    """Use the service's exchange as it exists (its durability is the service's choice); declare it
    (topic, as oslo.messaging does) when the service has not started yet. A failed passive declare closes
    its channel, so each attempt has its own."""
    channel = await connection.channel()
    try:
        await channel.declare_exchange(name, aio_pika.ExchangeType.TOPIC, passive=True)
    except aiormq.exceptions.ChannelNotFoundEntity:
        channel = await connection.channel()
        await channel.declare_exchange(name, aio_pika.ExchangeType.TOPIC, durable=durable)
    finally:
        with contextlib.suppress(Exception):
            await channel.close()


def _shown(url: str) -> str:
    """The URL without its password, for logs."""
    parts = urlsplit(url)
    return urlunsplit(parts._replace(netloc=parts.netloc.rpartition("@")[2]))

