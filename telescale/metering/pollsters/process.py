"""Matched processes from psutil: one ``host_process`` resource ``<host>:<label>`` per match entry.

All the processes a match entry selects are summed, so the series outlive the processes themselves (a
restarted daemon keeps its series): ``process.count``, ``process.memory.rss`` (bytes), ``process.threads``,
``process.fds`` and ``process.cpu.time`` (user + system seconds, cumulative; it drops when a process
exits, which a rate treats as a counter reset).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence

import psutil

from telescale.metering.config import ProcessMatch, ProcessSource
from telescale.metering.sample import Sample
from telescale.metering.sources import Item, Pollster

ATTRS = ["name", "cmdline", "memory_info", "cpu_times", "num_threads", "num_fds"]
FIELDS = (("process.count", None, "gauge"), ("process.memory.rss", "B", "gauge"), ("process.threads", None, "gauge"),
          ("process.fds", None, "gauge"), ("process.cpu.time", "s", "cumulative"))


def matches(match: ProcessMatch, name: str | None, cmdline: Sequence[str] | None) -> bool:
    if match.name is not None and name == match.name:
        return True
    return match.cmdline is not None and match.cmdline in " ".join(cmdline or ())


class ProcessPollster(Pollster):
    def __init__(self, config: ProcessSource, host: str) -> None:
        self.name = "process"
        self.interval = config.interval
        self.matches = config.match
        self.host = host

    def snapshot(self) -> list[Sample]:
        totals = {m.label: [0.0] * len(FIELDS) for m in self.matches}
        for proc in psutil.process_iter(ATTRS):
            info = proc.info
            for m in self.matches:
                if matches(m, info.get("name"), info.get("cmdline")):
                    cpu = info.get("cpu_times")
                    mem = info.get("memory_info")
                    values = (1.0, float(mem.rss) if mem else 0.0, float(info.get("num_threads") or 0),
                              float(info.get("num_fds") or 0), (cpu.user + cpu.system) if cpu else 0.0)
                    totals[m.label] = [a + b for a, b in zip(totals[m.label], values, strict=True)]
        now = time.time()
        return [Sample(name=name, value=value, timestamp=now, resource_id=f"{self.host}:{label}",
                       resource_type="host_process", kind=kind, unit=unit,  # type: ignore[arg-type]
                       attributes={"host_name": self.host, "process_name": label})
                for label, values in totals.items() for (name, unit, kind), value in zip(FIELDS, values, strict=True)]

    async def poll(self) -> Sequence[Item]:
        return await asyncio.to_thread(self.snapshot) if self.matches else ()
