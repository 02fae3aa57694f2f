"""`telescale agent`: builds the sources, the pipeline and the publisher from the YAML file and runs them.

SIGTERM or SIGINT stops the sources, flushes the transformers and the publisher (to the API, or to the
disk buffer while it is away) and exits; nothing produced is lost on a clean stop.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
from collections.abc import Sequence

import httpx

from telescale.metering.client import ApiClient
from telescale.metering.config import AgentConfig, ConfigError
from telescale.metering.notifications import NotificationListener
from telescale.metering.ownership import Ownership, build_ownership
from telescale.metering.pipeline import Pipeline
from telescale.metering.pollsters.host import HostPollster
from telescale.metering.pollsters.openstack import OpenStackInventory
from telescale.metering.pollsters.process import ProcessPollster
from telescale.metering.publisher import Publisher
from telescale.metering.scrape import Scraper
from telescale.metering.sources import Source

LOG = logging.getLogger(__name__)


def build_sources(config: AgentConfig, http: httpx.AsyncClient, owner: Ownership) -> list[Source]:
    sources: list[Source] = []
    if config.sources.host.enabled:
        sources.append(HostPollster(config.sources.host, config.host))
    if config.sources.process.match:
        sources.append(ProcessPollster(config.sources.process, config.host))
    sources.extend(Scraper(t, http, owner.owns_target) for t in config.sources.prometheus)
    if config.sources.openstack.enabled:
        sources.append(OpenStackInventory(config.sources.openstack, owner.owns_target))
    if config.notifications is not None:
        sources.append(NotificationListener(config.notifications))
    return sources


async def _every(interval: float, call) -> None:  # type: ignore[no-untyped-def]
    while True:
        await asyncio.sleep(interval)
        await call()


async def run(config: AgentConfig, stop: asyncio.Event | None = None) -> Publisher:
    """Run until ``stop`` is set (or SIGTERM/SIGINT); returns the publisher (its statistics)."""
    stop = stop or asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.add_signal_handler(sig, stop.set)
    owner = build_ownership(config.coordination_url or "", config.host)
    client = ApiClient(config.api)
    publisher = Publisher(config.publisher, client)
    pipeline = Pipeline(config.pipelines, publisher.put, owner)
    async with httpx.AsyncClient() as http:
        sources = build_sources(config, http, owner)
        LOG.info("telescale agent on host %s: sources %s; API %s; buffer %s (%d samples waiting)", config.host,
                 ", ".join(s.name for s in sources) or "none", config.api.url, publisher.buffer.dir,
                 publisher.buffer.pending_samples())
        tasks = [asyncio.create_task(s.run(pipeline.emitter(s.shared)), name=s.name) for s in sources]
        publishing = asyncio.create_task(publisher.run(), name="publisher")
        flushing = asyncio.create_task(_every(config.publisher.flush_interval, pipeline.flush), name="flush")
        await stop.wait()
        LOG.info("stopping: flushing what the sources produced")
        await _cancel([*tasks, flushing])
        await pipeline.flush()
        publisher.stop()
        await publishing
        await publisher.close()
    await client.close()
    owner.close()  # leave the group now: the others take this agent's share at once
    stats = publisher.stats.as_json(publisher.buffer)
    LOG.info("telescale agent stopped: %d samples produced, %d taken by the API, %d refused, %d buffered, "
             "%d dropped by the buffer's size limit", stats["produced"], stats["acknowledged"], stats["rejected"],
             stats["buffered"], stats["dropped_by_policy"])
    return publisher


async def _cancel(tasks: Sequence[asyncio.Task]) -> None:
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)


def main(config: AgentConfig, log_level: str = "INFO") -> int:
    logging.basicConfig(level=log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    logging.getLogger("httpx").setLevel(logging.WARNING)  # a line per request would drown what matters
    try:
        asyncio.run(run(config))
    except ConfigError as e:  # found while building the sources (a part missing from this build)
        LOG.error("configuration error: %s", e)
        return 2
    return 0
