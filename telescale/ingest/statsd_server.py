"""The statsd listener: UDP datagrams in, one incoming write per flush interval out.

It runs as a process of its own (`telescale statsd`, or a child of `telescale serve` when
``statsd.enabled``), as Gnocchi's statsd daemon does, and writes straight into incoming like metricd
reads from it: no HTTP in between.  Its metrics belong to one ``generic`` resource (``statsd.resource_id``,
mapped to a UUID with ``statsd.creator`` as the API maps ids), created with each metric on first use; a
metric's archive policy is ``statsd.archive_policy_name`` or, when that is empty, the archive policy rule
matching its name.  A malformed line is counted and logged (at most one line every few seconds, with how
many were refused since), and never stops the listener.
"""

from __future__ import annotations

import contextlib
import logging
import socket
import threading
import time
import uuid
from dataclasses import asdict, dataclass

import numpy as np

from telescale import indexer as idx
from telescale.api.ids import resource_uuid
from telescale.config import StatsdSettings
from telescale.incoming.base import IncomingDriver
from telescale.ingest.statsd import Aggregator, StatsdLineError, parse_line

LOG = logging.getLogger(__name__)
MAX_DATAGRAM = 65535
LOG_EVERY = 10.0  # seconds between two log lines about refused lines or measures


@dataclass
class StatsdStats:
    """What the listener did since it started (published in its heartbeat)."""

    lines: int = 0
    malformed: int = 0
    flushes: int = 0
    measures_written: int = 0
    measures_dropped: int = 0

    def to_dict(self) -> dict[str, int]:
        return asdict(self)


class BoundedLog:
    """A warning logged at most once every ``interval`` seconds, saying how many occurred meanwhile."""

    def __init__(self, what: str, interval: float = LOG_EVERY) -> None:
        self.what, self.interval = what, interval
        self.count, self.last = 0, -interval

    def warn(self, detail: str, count: int = 1) -> None:
        self.count += count
        now = time.monotonic()
        if now - self.last >= self.interval:
            LOG.warning("%d %s in the last %.0f s; latest: %s", self.count, self.what,
                        min(now - self.last, self.interval), detail)
            self.count, self.last = 0, now


class Metrics:
    """The statsd resource's metrics by name, created when first seen and then cached."""

    def __init__(self, indexer: idx.Indexer, settings: StatsdSettings) -> None:
        self.indexer, self.settings = indexer, settings
        self.resource_id = resource_uuid(settings.resource_id, settings.creator)
        self.known: dict[str, uuid.UUID] = {}

    def _resource_metrics(self) -> dict[str, uuid.UUID]:
        """The resource's metrics, creating the resource first if need be."""
        resource = self.indexer.get_resource("generic", self.resource_id)
        if resource is None:
            try:
                resource = self.indexer.create_resource("generic", self.resource_id, self.settings.resource_id,
                                                        self.settings.creator)
            except idx.ResourceAlreadyExists:
                resource = self.indexer.get_resource("generic", self.resource_id)
                assert resource is not None
            LOG.info("created resource %s (%s) for the statsd metrics", self.resource_id, self.settings.resource_id)
        return dict(resource.metrics)

    def _create(self, name: str) -> uuid.UUID:
        policy = self.settings.archive_policy_name
        if not policy:
            rule = self.indexer.match_archive_policy_rule(name)
            if rule is None:
                raise LookupError(f"no archive policy rule matches {name!r} and statsd.archive_policy_name is empty")
            policy = rule.archive_policy_name
        metric_id = uuid.uuid4()
        try:
            self.indexer.create_metric(metric_id, self.settings.creator, policy, name=name,
                                       resource_id=self.resource_id)
        except idx.NamedMetricAlreadyExists:  # another process created it meanwhile
            return self._resource_metrics()[name]
        return metric_id

    def ids(self, names: list[str]) -> dict[str, uuid.UUID | str]:
        """The id of each named metric, or why it could not be had."""
        missing = [n for n in names if n not in self.known]
        if missing:
            self.known.update(self._resource_metrics())
        out: dict[str, uuid.UUID | str] = {}
        for name in names:
            if name not in self.known:
                try:
                    self.known[name] = self._create(name)
                except (LookupError, idx.IndexerError) as e:
                    out[name] = str(e)
                    continue
            out[name] = self.known[name]
        return out


class StatsdServer:
    """Receives datagrams on ``statsd.host:statsd.port`` and writes each flush interval's values."""

    def __init__(self, settings: StatsdSettings, indexer: idx.Indexer, incoming: IncomingDriver,
                 stats: StatsdStats | None = None) -> None:
        self.settings, self.incoming = settings, incoming
        self.stats = stats or StatsdStats()
        self.metrics = Metrics(indexer, settings)
        self.aggregator = Aggregator()
        self.malformed = BoundedLog("malformed statsd lines refused")
        self.dropped = BoundedLog("statsd measures not written")

    def receive(self, datagram: bytes) -> None:
        """Add every line of a datagram; malformed lines are counted and logged, the others kept."""
        try:
            text = datagram.decode()
        except UnicodeDecodeError:
            self.stats.malformed += 1
            self.malformed.warn("a datagram that is not UTF-8")
            return
        for line in text.splitlines():
            line = line.strip()
            if not line:
                continue
            self.stats.lines += 1
            try:
                self.aggregator.add(parse_line(line))
            except StatsdLineError as e:
                self.stats.malformed += 1
                self.malformed.warn(f"{line[:200]!r}: {e}")

    def flush(self) -> None:
        """Write one point per metric that got samples, stamped now."""
        values = self.aggregator.flush()
        self.stats.flushes += 1
        if not values:
            return
        now = np.array([time.time_ns()], dtype=np.int64)
        try:
            ids = self.metrics.ids(list(values))
            batch = {mid: (now, np.array([values[name]])) for name, mid in ids.items() if isinstance(mid, uuid.UUID)}
            if batch:
                self.incoming.add_measures(batch)
        except Exception as e:  # the indexer or incoming is down: say so, keep listening
            self.stats.measures_dropped += len(values)
            self.dropped.warn(f"{type(e).__name__}: {e}", len(values))
            return
        self.stats.measures_written += len(batch)
        for name, why in ids.items():
            if not isinstance(why, uuid.UUID):
                self.stats.measures_dropped += 1
                self.dropped.warn(f"{name}: {why}")

    def serve(self, stop: threading.Event) -> None:
        """Listen until ``stop``, flushing every ``statsd.flush_interval`` seconds and once more at the end."""
        host, port = self.settings.host, self.settings.port
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        with socket.socket(family, socket.SOCK_DGRAM) as sock:
            sock.bind((host, port))
            LOG.info("statsd listening on UDP %s:%d, flushing every %g s into resource %s (%s)", host, port,
                     self.settings.flush_interval, self.metrics.resource_id, self.settings.resource_id)
            interval = self.settings.flush_interval
            next_flush = time.monotonic() + interval
            while not stop.is_set():
                sock.settimeout(min(max(next_flush - time.monotonic(), 0.001), 0.5))
                with contextlib.suppress(TimeoutError):
                    self.receive(sock.recv(MAX_DATAGRAM))
                if time.monotonic() >= next_flush:
                    self.flush()
                    next_flush = max(next_flush + interval, time.monotonic())
            self.flush()
