"""What every source of the agent is: something that runs and hands batches of records to ``emit``.

Pollsters are sources that call a ``poll`` coroutine every ``interval`` seconds on a fixed cadence (a slow
poll does not shift the following ones; a missed tick is skipped, not run twice); the AMQP listener is a
source that consumes instead.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Sequence
from typing import Protocol

from telescale.metering.sample import Event, ResourceUpdate, Sample

LOG = logging.getLogger(__name__)

Item = Sample | ResourceUpdate | Event
Emit = Callable[[Sequence[Item]], Awaitable[None]]


class Source(Protocol):
    name: str
    #: whether other agents receive the same items (then the pipeline keeps this agent's share of them)
    shared: bool

    async def run(self, emit: Emit) -> None: ...


class Pollster:
    """A source that polls: subclasses give `name`, `interval` and `poll`."""

    name: str = "pollster"
    interval: float = 10.0
    shared = False  # the host's own, or targets this agent owns

    async def poll(self) -> Sequence[Item]:
        raise NotImplementedError

    async def run(self, emit: Emit) -> None:
        loop = asyncio.get_running_loop()
        due = loop.time()
        while True:
            try:
                items = await self.poll()
            except Exception:  # a pollster's bug must not stop the agent: say so and poll again next time
                LOG.exception("source %s failed to poll", self.name)
                items = ()
            if items:
                await emit(items)
            due += self.interval
            now = loop.time()
            if due < now:
                skipped = int((now - due) // self.interval) + 1
                LOG.warning("source %s is late: skipping %d poll(s) of its %g s interval", self.name, skipped,
                            self.interval)
                due += skipped * self.interval
            await asyncio.sleep(due - now)
