"""This host's metrics from psutil, as samples of one ``host`` resource (id and ``host_name`` = the host name).

Groups (``sources.host.groups``): ``cpu`` (``cpu.percent`` busy % since the last poll, ``cpu.time`` busy
seconds as a cumulative counter, ``cpu.count``), ``memory`` and ``swap`` (bytes and %), ``disk``
(``disk.used``/``disk.total``/``disk.percent{mount="…"}`` per mounted file system, cumulative
``disk.read.bytes``/``disk.write.bytes``/``disk.read.requests``/``disk.write.requests{device="…"}``),
``network`` (cumulative ``network.incoming|outgoing.bytes|packets|errors|drops{nic="…"}``), ``load``
(``load.1``, ``load.5``, ``load.15``). Names carry their labels as the scraper's do.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Iterator, Sequence

import psutil

from telescale.ingest.names import labelled
from telescale.metering.config import HostSource
from telescale.metering.sample import Kind, Sample
from telescale.metering.sources import Item, Pollster

Point = tuple[str, float, Kind, str | None]  # name, value, kind, unit
IDLE = ("idle", "iowait")


def _cpu(state: dict[str, float]) -> Iterator[Point]:
    times = psutil.cpu_times()
    total = sum(times)
    busy = total - sum(getattr(times, f, 0.0) for f in IDLE)
    last_total, last_busy = state.get("total"), state.get("busy")
    if last_total is not None and last_busy is not None and total > last_total:
        yield "cpu.percent", 100.0 * (busy - last_busy) / (total - last_total), "gauge", "%"
    state.update(total=total, busy=busy)
    yield "cpu.time", busy, "cumulative", "s"
    yield "cpu.count", float(psutil.cpu_count() or 1), "gauge", None


def _memory(_: dict[str, float]) -> Iterator[Point]:
    m = psutil.virtual_memory()
    yield "memory.total", float(m.total), "gauge", "B"
    yield "memory.used", float(m.total - m.available), "gauge", "B"
    yield "memory.available", float(m.available), "gauge", "B"
    yield "memory.percent", float(m.percent), "gauge", "%"


def _swap(_: dict[str, float]) -> Iterator[Point]:
    s = psutil.swap_memory()
    yield "swap.total", float(s.total), "gauge", "B"
    yield "swap.used", float(s.used), "gauge", "B"
    yield "swap.percent", float(s.percent), "gauge", "%"


def _disk(_: dict[str, float]) -> Iterator[Point]:
    seen: set[str] = set()
    for part in psutil.disk_partitions(all=False):
        if part.device in seen:
            continue
        seen.add(part.device)
        try:
            usage = psutil.disk_usage(part.mountpoint)
        except OSError:  # unmounted meanwhile, or not ours to read
            continue
        labels = {"mount": part.mountpoint}
        yield labelled("disk.used", labels.items()), float(usage.used), "gauge", "B"
        yield labelled("disk.total", labels.items()), float(usage.total), "gauge", "B"
        yield labelled("disk.percent", labels.items()), float(usage.percent), "gauge", "%"
    for device, io in (psutil.disk_io_counters(perdisk=True) or {}).items():
        labels = {"device": device}
        yield labelled("disk.read.bytes", labels.items()), float(io.read_bytes), "cumulative", "B"
        yield labelled("disk.write.bytes", labels.items()), float(io.write_bytes), "cumulative", "B"
        yield labelled("disk.read.requests", labels.items()), float(io.read_count), "cumulative", None
        yield labelled("disk.write.requests", labels.items()), float(io.write_count), "cumulative", None


NIC_FIELDS = (("incoming.bytes", "bytes_recv", "B"), ("outgoing.bytes", "bytes_sent", "B"),
              ("incoming.packets", "packets_recv", None), ("outgoing.packets", "packets_sent", None),
              ("incoming.errors", "errin", None), ("outgoing.errors", "errout", None),
              ("incoming.drops", "dropin", None), ("outgoing.drops", "dropout", None))


def _network(_: dict[str, float]) -> Iterator[Point]:
    for nic, io in psutil.net_io_counters(pernic=True).items():
        for name, field, unit in NIC_FIELDS:
            yield labelled(f"network.{name}", {"nic": nic}.items()), float(getattr(io, field)), "cumulative", unit


def _load(_: dict[str, float]) -> Iterator[Point]:
    for minutes, value in zip((1, 5, 15), psutil.getloadavg(), strict=True):
        yield f"load.{minutes}", float(value), "gauge", None


GROUPS: dict[str, Callable[[dict[str, float]], Iterator[Point]]] = {
    "cpu": _cpu, "memory": _memory, "swap": _swap, "disk": _disk, "network": _network, "load": _load}


class HostPollster(Pollster):
    def __init__(self, config: HostSource, host: str) -> None:
        self.name = "host"
        self.interval = config.interval
        self.groups = [GROUPS[g] for g in config.groups]
        self.host = host
        self.state: dict[str, float] = {}

    def snapshot(self) -> list[Sample]:
        now = time.time()
        attributes = {"host_name": self.host}
        return [Sample(name=name, value=value, timestamp=now, resource_id=self.host, resource_type="host",
                       kind=kind, unit=unit, attributes=attributes)
                for group in self.groups for name, value, kind, unit in group(self.state)]

    async def poll(self) -> Sequence[Item]:
        return await asyncio.to_thread(self.snapshot)
