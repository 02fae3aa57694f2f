"""A scraper against an exporter served by the test (a real HTTP server): it scrapes only a target this
agent owns, and a target that moved to another agent while it was being scraped gives nothing (its new
owner scrapes it), so one target's series never come from two agents."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import httpx

from telescale.metering.config import ScrapeTarget
from telescale.metering.sample import Sample
from telescale.metering.scrape import Scraper
from tests.agent_peers import CounterExporter


def _poll(target: ScrapeTarget, answers: Iterator[bool]) -> tuple[list[Sample], list[str]]:
    asked: list[str] = []

    def owns(key: str) -> bool:
        asked.append(key)
        return next(answers)

    async def go() -> list[Sample]:
        async with httpx.AsyncClient() as http:
            return list(await Scraper(target, http, owns).poll())  # type: ignore[arg-type]

    return asyncio.run(go()), asked


def test_a_target_is_scraped_by_its_owner_and_left_when_it_moves_during_the_scrape() -> None:
    with CounterExporter(1) as exporter:
        exporter.start()
        target = ScrapeTarget(url=f"{exporter.url}/0", job="shared", instance="exporter-0")
        owned, asked = _poll(target, iter([True, True]))
        assert {s.name for s in owned} == {"work_total", "up", "scrape_duration_seconds"}
        assert asked == ["shared@exporter-0"] * 2 and {s.resource_id for s in owned} == {"shared@exporter-0"}
        moved, _ = _poll(target, iter([True, False]))
        assert moved == [] and len(exporter.scrapes[0]) == 2  # scraped, then left to the new owner
        not_mine, asked = _poll(target, iter([False]))
        assert not_mine == [] and len(exporter.scrapes[0]) == 2 and asked == ["shared@exporter-0"]
