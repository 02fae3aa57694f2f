"""The agent's pipeline: sources → ownership → per-series transformers → publisher.

Ownership first: with several agents sharing sources, each keeps only the series the hash ring gives it,
so a transformer sees every sample of its series and its state is right whatever the number of agents.
Only a *shared* source's items (the notification listener's: every listening agent gets every message) are
placed on the ring here, with `emit`. Other sources hand theirs to `emit_owned`: their items are this
agent's already — the host's own pollsters (nobody else sees this host), and the scrapers and inventory
pollsters, which poll only the targets the ring gives them (``Ownership.owns_target``) and keep all of a
target's samples, so one target's series are never split or dropped between a scrape and the ring's
next change.
Then each configured pipeline whose ``meters`` (shell globs on the sample name) match a sample runs its
transformer chain on it; a sample matching no pipeline goes to the publisher as it is. Resource updates
and events pass straight through. ``flush`` (every flush interval and at shutdown) collects what the
transformers hold back.
"""

from __future__ import annotations

import fnmatch
import logging
import re
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from telescale.metering.config import Pipeline as PipelineConfig
from telescale.metering.ownership import Ownership, build_ownership
from telescale.metering.sample import Event, ResourceUpdate, Sample
from telescale.metering.sources import Emit, Item
from telescale.metering.transformers import build as build_transformer
from telescale.metering.transformers.base import Transformer

LOG = logging.getLogger(__name__)


class Chain:
    """One configured pipeline: its meter filter and its transformers, applied in order."""

    def __init__(self, config: PipelineConfig, build: Callable[[Mapping[str, Any]], Transformer]) -> None:
        self.name = config.name
        self.pattern = re.compile("|".join(fnmatch.translate(m) for m in config.meters) or "(?!)")
        self.transformers = [build(t) for t in config.transformers]

    def matches(self, sample: Sample) -> bool:
        return self.pattern.match(sample.name) is not None

    def process(self, samples: list[Sample]) -> list[Sample]:
        for transformer in self.transformers:
            if not samples:
                break
            samples = transformer.process(samples)
        return samples

    def flush(self) -> list[Sample]:
        """Each transformer's held samples go through the transformers after it."""
        out: list[Sample] = []
        for i, transformer in enumerate(self.transformers):
            held = transformer.flush()
            for later in self.transformers[i + 1:]:
                if not held:
                    break
                held = later.process(held)
            out.extend(held)
        return out


class Pipeline:
    def __init__(self, configs: Sequence[PipelineConfig], publish: Emit, ownership: Ownership | None = None,
                 build: Callable[[Mapping[str, Any]], Transformer] = build_transformer) -> None:
        self.chains = [Chain(c, build) for c in configs]
        self.publish = publish
        self.ownership = ownership or build_ownership("", "local")

    def emitter(self, shared: bool) -> Emit:
        """What a source calls with each batch it produces: `emit` for a shared source, else `emit_owned`."""
        return self.emit if shared else self.emit_owned

    async def emit(self, items: Sequence[Item]) -> None:
        """A shared source's batch: this agent's share of it goes on."""
        await self.emit_owned(self.ownership.keep(items))

    async def emit_owned(self, items: Sequence[Item]) -> None:
        """A batch that is all this agent's."""
        kept = items
        events = [i for i in kept if isinstance(i, Event)]
        updates = [i for i in kept if isinstance(i, ResourceUpdate)]
        samples = [i for i in kept if isinstance(i, Sample)]
        out: list[Item] = [*updates, *self._transform(samples), *events]
        if out:
            await self.publish(out)

    def _transform(self, samples: list[Sample]) -> list[Sample]:
        if not self.chains:
            return samples
        out = [s for s in samples if not any(c.matches(s) for c in self.chains)]
        for chain in self.chains:
            mine = [s for s in samples if chain.matches(s)]
            if mine:
                out.extend(chain.process(mine))
        return out

    async def flush(self) -> None:
        held: list[Item] = [s for chain in self.chains for s in chain.flush()]
        if held:
            await self.publish(held)
