"""The pipeline: ownership first, then the matching pipelines' transformers; the rest passes unchanged."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping, Sequence
from typing import Any

from telescale.metering.config import Pipeline as PipelineConfig
from telescale.metering.notifications import NotificationListener
from telescale.metering.ownership import placement_key
from telescale.metering.pipeline import Pipeline
from telescale.metering.sample import Event, ResourceUpdate, Sample
from telescale.metering.scrape import Scraper


class Doubler:
    """A transformer of this test's own: doubles values, holds back every sample named ``held``."""

    def __init__(self, config: Mapping[str, Any]) -> None:
        self.factor = config.get("factor", 2)
        self.held: list[Sample] = []

    def process(self, samples: Sequence[Sample]) -> list[Sample]:
        self.held += [s for s in samples if s.name == "held"]
        return [_with(s, s.value * self.factor) for s in samples if s.name != "held"]

    def flush(self) -> list[Sample]:
        out, self.held = self.held, []
        return out


class OddOwner:
    """Owns what the ring would place under a key not starting with "theirs" (events by message id)."""

    def keep(self, items: Sequence[Sample | ResourceUpdate | Event]) -> list[Sample | ResourceUpdate | Event]:
        return [i for i in items if not placement_key(i).startswith("theirs")]

    def owns_target(self, key: str) -> bool:
        return True


def _with(s: Sample, value: float) -> Sample:
    return Sample(name=s.name, value=value, timestamp=s.timestamp, resource_id=s.resource_id)


def _sample(name: str, value: float = 1.0, rid: str = "r") -> Sample:
    return Sample(name=name, value=value, timestamp=1.0, resource_id=rid)


def _run(configs: list[PipelineConfig], items: list, flush: bool = False) -> list:
    published: list = []

    async def publish(batch: Sequence) -> None:
        published.extend(batch)

    async def go() -> None:
        pipeline = Pipeline(configs, publish, OddOwner(), build=Doubler)
        await pipeline.emit(items)
        if flush:
            await pipeline.flush()
    asyncio.run(go())
    return published


def test_without_pipelines_owned_items_pass_unchanged() -> None:
    update = ResourceUpdate("instance", "i1")
    event = Event("m", "compute.instance.create.end", "2026-01-01T00:00:00")
    out = _run([], [_sample("cpu"), _sample("cpu", rid="theirs"), update, event])
    assert out == [update, _sample("cpu"), event]


def test_matching_samples_go_through_the_chain_in_order_and_others_pass() -> None:
    configs = [PipelineConfig("p", meters=("cpu*",), transformers=({"factor": 3}, {"factor": 10}))]
    out = _run(configs, [_sample("cpu.time", 1), _sample("memory", 5)])
    assert sorted((s.name, s.value) for s in out) == [("cpu.time", 30.0), ("memory", 5.0)]


def test_flush_passes_held_samples_through_the_later_transformers() -> None:
    configs = [PipelineConfig("p", meters=("*",), transformers=({"factor": 3}, {"factor": 10}))]
    out = _run(configs, [_sample("held", 2)], flush=True)
    assert [(s.name, s.value) for s in out] == [("held", 2.0)]  # held by the first, then held by the second


def test_only_shared_sources_are_placed_on_the_ring() -> None:
    """A host pollster's samples (its host is nobody else's) and a scraper's (its target is owned whole) are
    all kept, even under a resource id the ring gives another agent; a shared source's are filtered."""
    published: list = []

    async def publish(batch: Sequence) -> None:
        published.extend(batch)

    async def go() -> None:
        pipeline = Pipeline([], publish, OddOwner())
        await pipeline.emitter(Scraper.shared)([_sample("up", rid="theirs-host")])
        await pipeline.emitter(NotificationListener.shared)([_sample("memory", rid="theirs-vm")])
    asyncio.run(go())
    assert [s.resource_id for s in published] == ["theirs-host"]
