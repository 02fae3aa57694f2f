"""The batching publisher: samples, resource updates and events → the Telescale API, nothing lost.

Samples are grouped every ``flush_interval`` (or as soon as ``batch_size`` wait) into one
``POST /v1/batch/resources/metrics/measures?create_metrics=true`` in Gnocchi's body (original resource ids,
metric specs with ``unit`` and ``archive_policy_name``). A 400 "Unknown resources" makes the publisher create
those resources (and their resource type, the first time) and send the batch again, as Ceilometer's
Gnocchi publisher does. A resource's attributes are PATCHed only when their hash differs from the last one
the API took; the hashes are kept beside the buffer, so a restart does not PATCH everything again.

Delivery order is the order of production. While the API is unreachable or answers 5xx, batches are
appended to the `DiskBuffer` (and every later batch too, so the order holds) and replayed oldest first
once it answers, with exponential backoff and jitter between attempts. A 4xx other than the unknown
resources case is the batch's own fault: it is logged with the API's message and dropped.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import os
import random
import time
from collections import Counter
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import httpx
import orjson

from telescale.metering.buffer import DiskBuffer
from telescale.metering.client import ApiClient, Outcome, classify, describe
from telescale.metering.config import Publisher as PublisherConfig
from telescale.metering.resource_types import RESOURCE_TYPES
from telescale.metering.sample import Event, ResourceUpdate, Sample

LOG = logging.getLogger(__name__)
MEASURES = "/v1/batch/resources/metrics/measures"
#: Resource updates (lifecycle: started_at, ended_at …) and the attributes samples carry are two views of one
#: resource, remembered apart: comparing one with the other would PATCH at every batch.
UPDATE_SUFFIX = "#update"


def _write_json(path: Path, data: Any) -> None:
    """Replace ``path`` atomically (a crash leaves the old or the new file, never half of one)."""
    tmp = path.with_suffix(".tmp")
    tmp.write_bytes(orjson.dumps(data, option=orjson.OPT_SORT_KEYS))
    os.replace(tmp, path)


def _read_json(path: Path, default: Any) -> Any:
    try:
        return orjson.loads(path.read_bytes())
    except (OSError, orjson.JSONDecodeError):
        return default


def resource_body(resource_type: str, attributes: Mapping[str, Any], project_id: str | None,
                  user_id: str | None) -> dict[str, Any]:
    return {"type": resource_type, "attributes": dict(attributes), "project_id": project_id, "user_id": user_id}


def fingerprint(resource: Mapping[str, Any]) -> str:
    return hashlib.blake2b(orjson.dumps(resource, option=orjson.OPT_SORT_KEYS), digest_size=16).hexdigest()


def measures_record(samples: Sequence[Sample], archive_policy: str | None) -> dict[str, Any]:
    """The buffered form of a batch: the API's body and what is needed to create its resources."""
    body: dict[str, dict[str, dict[str, Any]]] = {}
    resources: dict[str, dict[str, Any]] = {}
    for s in samples:
        metrics = body.setdefault(s.resource_id, {})
        spec = metrics.get(s.name)
        if spec is None:
            spec = metrics[s.name] = {"measures": []}
            if s.unit:
                spec["unit"] = s.unit
            if archive_policy:
                spec["archive_policy_name"] = archive_policy
        spec["measures"].append({"timestamp": s.timestamp, "value": s.value})
        if s.resource_id not in resources:
            resources[s.resource_id] = resource_body(s.resource_type, s.attributes, s.project_id, s.user_id)
    return {"kind": "measures", "measures": body, "resources": resources}


class Stats:
    """What happened to the samples the publisher was given (``stats.json`` in the buffer directory)."""

    def __init__(self) -> None:
        self.produced = 0
        self.acknowledged = 0
        self.rejected = 0
        self.acknowledged_by_resource: Counter[str] = Counter()

    def as_json(self, buffer: DiskBuffer) -> dict[str, Any]:
        return {"produced": self.produced, "acknowledged": self.acknowledged, "rejected": self.rejected,
                "dropped_by_policy": buffer.dropped_samples, "buffered": buffer.pending_samples(),
                "acknowledged_by_resource": dict(self.acknowledged_by_resource)}


class Publisher:
    """Give it items with `put`; `run` flushes them until cancelled; `close` flushes what is left."""

    def __init__(self, config: PublisherConfig, client: ApiClient) -> None:
        self.config = config
        self.client = client
        config.buffer_dir.mkdir(parents=True, exist_ok=True)
        self.buffer = DiskBuffer(config.buffer_dir / "buffer", int(config.max_buffer_mb * 1e6))
        self.hashes_path = config.buffer_dir / "resources.json"
        self.hashes: dict[str, str] = _read_json(self.hashes_path, {})
        self._hashes_changed = False  # written once per flush, not once per resource
        self.stats = Stats()
        self._samples: list[Sample] = []
        self._updates: list[ResourceUpdate] = []
        self._events: list[Event] = []
        self._types: set[str] = {"generic"}
        self._wake = asyncio.Event()
        self._lock = asyncio.Lock()
        self._retry_at = 0.0
        self._backoff = 0.0
        self._reachable = True
        self.stopping = False

    # -- intake -----------------------------------------------------------------------------------
    async def put(self, items: Sequence[Sample | ResourceUpdate | Event]) -> None:
        for item in items:
            if isinstance(item, Sample):
                self._samples.append(item)
                self.stats.produced += 1
            elif isinstance(item, ResourceUpdate):
                self._updates.append(item)
            else:
                self._events.append(item)
        if len(self._samples) >= self.config.batch_size:
            self._wake.set()

    async def run(self) -> None:
        """Flush every flush interval (sooner when a batch is full or a retry is due) until `stop`."""
        while not self.stopping:
            timeout = self.config.flush_interval
            if self.buffer and self._retry_at:
                timeout = min(timeout, max(0.05, self._retry_at - time.monotonic()))
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), timeout)
            self._wake.clear()
            await self.flush(drain=not self.stopping)

    def stop(self) -> None:
        """Make `run` return after the flush it may be doing (never cut a delivery in half)."""
        self.stopping = True
        self._wake.set()

    async def close(self) -> None:
        """Deliver what is left (to the API, or to the buffer when it is away, without replaying the buffer:
        a long replay must not hold a stop up), then write the statistics."""
        self._retry_at = 0.0
        await self.flush(drain=False)

    def write_stats(self) -> None:
        _write_json(self.config.buffer_dir / "stats.json", self.stats.as_json(self.buffer))

    # -- delivery ---------------------------------------------------------------------------------
    async def flush(self, drain: bool = True) -> None:
        async with self._lock:
            for record, samples in self._take():
                await self._deliver(record, samples)
            if drain:
                await self._drain()
            if self._hashes_changed:  # lost in a crash before this: the next run PATCHes those resources again
                _write_json(self.hashes_path, self.hashes)
                self._hashes_changed = False
            self.write_stats()

    def _take(self) -> list[tuple[dict[str, Any], int]]:
        """Pending items as records: resources first (measures may hang on them), then measures, events."""
        records: list[tuple[dict[str, Any], int]] = []
        if self._updates:
            records.append(({"kind": "resources", "updates": [
                {"id": u.resource_id, **resource_body(u.resource_type, u.attributes, u.project_id, u.user_id)}
                for u in self._updates]}, 0))
        size = self.config.batch_size
        for i in range(0, len(self._samples), size):
            chunk = self._samples[i:i + size]
            records.append((measures_record(chunk, self.config.archive_policy), len(chunk)))
        if self._events:
            records.append(({"kind": "events", "events": [e.as_json() for e in self._events]}, 0))
        self._samples, self._updates, self._events = [], [], []
        return records

    def _waiting(self) -> bool:
        return bool(self.buffer) or time.monotonic() < self._retry_at

    async def _deliver(self, record: dict[str, Any], samples: int) -> None:
        if not self._waiting() and await self._send(record, samples) is not Outcome.RETRY:
            return
        self.buffer.append(orjson.dumps(record), samples)

    async def _drain(self) -> None:
        while not self.stopping and time.monotonic() >= self._retry_at and (stored := self.buffer.peek()) is not None:
            if await self._send(orjson.loads(stored.payload), stored.samples) is Outcome.RETRY:
                return
            self.buffer.ack(stored)

    async def _send(self, record: dict[str, Any], samples: int) -> Outcome:
        kind = record["kind"]
        try:
            if kind == "measures":
                outcome, why = await self._send_measures(record)
            elif kind == "resources":
                outcome, why = await self._send_updates(record["updates"])
            else:
                outcome, why = await self._answer(await self.client.request("POST", "/v2/events", record["events"]))
        except httpx.TransportError as e:
            outcome, why = Outcome.RETRY, f"{type(e).__name__}: {e}"
        if outcome is Outcome.RETRY:
            self._failed(why)
            return outcome
        self._recovered()
        if outcome is Outcome.REJECT:
            self.stats.rejected += samples
            LOG.error("the API refused a %s batch (%d samples), dropped it: %s", kind, samples, why)
        elif kind == "measures":
            self.stats.acknowledged += samples
            for rid, metrics in record["measures"].items():
                self.stats.acknowledged_by_resource[rid] += sum(len(m["measures"]) for m in metrics.values())
        return outcome

    def _failed(self, why: str) -> None:
        self._backoff = min(self.config.max_backoff, max(1.0, self._backoff * 2))
        self._retry_at = time.monotonic() + self._backoff * random.uniform(0.5, 1.0)
        if self._reachable:
            LOG.warning("the API at %s is unavailable (%s): buffering to %s and retrying with backoff",
                        self.client.api.url, why, self.buffer.dir)
        self._reachable = False

    def _recovered(self) -> None:
        if not self._reachable:
            LOG.info("the API at %s answers again: replaying %d buffered samples in order",
                     self.client.api.url, self.buffer.pending_samples())
        self._reachable, self._backoff, self._retry_at = True, 0.0, 0.0

    @staticmethod
    async def _answer(response: httpx.Response) -> tuple[Outcome, str]:
        return classify(response.status_code), f"{response.status_code} {describe(response)}"

    async def _send_measures(self, record: dict[str, Any]) -> tuple[Outcome, str]:
        response = None
        for _ in range(3):
            response = await self.client.request("POST", MEASURES, record["measures"],
                                                 params={"create_metrics": "true"})
            unknown = _unknown_resources(response)
            if not unknown:
                break
            for rid in unknown:
                outcome, why = await self._create(rid, record["resources"][rid])
                if outcome is not Outcome.DONE:
                    return outcome, why
        assert response is not None
        outcome, why = await self._answer(response)
        if outcome is Outcome.DONE:
            _warn_dropped(response)
            await self._patch_changed(record["resources"])
        return outcome, why

    async def _ensure_type(self, name: str) -> tuple[Outcome, str]:
        if name in self._types:
            return Outcome.DONE, ""
        response = await self.client.request("GET", f"/v1/resource_type/{name}")
        if response.status_code == 404 and name in RESOURCE_TYPES:
            response = await self.client.request("POST", "/v1/resource_type",
                                                 {"name": name, "attributes": RESOURCE_TYPES[name]})
            if response.status_code == 201:
                LOG.info("created the resource type %s", name)
        if response.status_code in (200, 201, 409):
            self._types.add(name)
            return Outcome.DONE, ""
        return await self._answer(response)

    async def _create(self, rid: str, resource: Mapping[str, Any], key: str | None = None) -> tuple[Outcome, str]:
        """POST the resource (its type first if the API lacks it). An ended resource never created before (its
        creation was missed) starts when it ended: without ``started_at`` it would start now, after its end,
        which the API refuses."""
        outcome, why = await self._ensure_type(resource["type"])
        if outcome is not Outcome.DONE:
            return outcome, why
        attributes = dict(resource["attributes"])
        if attributes.get("ended_at") and not attributes.get("started_at"):
            attributes["started_at"] = attributes["ended_at"]
        body = {"id": rid, **attributes, **{k: resource[k] for k in ("project_id", "user_id") if resource.get(k)}}
        response = await self.client.request("POST", f"/v1/resource/{resource['type']}", body)
        if response.status_code == 201:
            self._remember(key or rid, resource)
        elif response.status_code != 409:  # 409: another agent (or an earlier try) created it
            return await self._answer(response)
        return Outcome.DONE, ""

    async def _patch_changed(self, resources: Mapping[str, Mapping[str, Any]]) -> None:
        """PATCH the attributes of the resources whose hash changed; a failure is retried with the next batch."""
        for rid, resource in resources.items():
            if self.hashes.get(rid) == fingerprint(resource) or not resource["attributes"]:
                continue
            response = await self.client.request("PATCH", f"/v1/resource/{resource['type']}/{rid}",
                                                 dict(resource["attributes"]))
            if response.status_code == 200:
                self._remember(rid, resource)
            else:
                LOG.warning("could not update the attributes of resource %s: %s %s", rid, response.status_code,
                            describe(response))

    async def _send_updates(self, updates: list[dict[str, Any]]) -> tuple[Outcome, str]:
        """Resources seen by sources: created when missing, patched when changed (``ended_at`` included)."""
        for entry in updates:
            rid, update = entry["id"], {k: v for k, v in entry.items() if k != "id"}
            key = f"{rid}{UPDATE_SUFFIX}"
            if self.hashes.get(key) == fingerprint(update):
                continue
            response = await self.client.request("PATCH", f"/v1/resource/{update['type']}/{rid}",
                                                 dict(update["attributes"]))
            if response.status_code == 404:
                outcome, why = await self._create(rid, update, key)
            else:
                outcome, why = await self._answer(response)
            if outcome is Outcome.RETRY:
                return outcome, why
            if outcome is Outcome.REJECT:
                LOG.error("the API refused the update of resource %s (%s), skipped it: %s", rid, update["type"], why)
            else:
                self._remember(key, update)
        return Outcome.DONE, ""

    def _remember(self, rid: str, resource: Mapping[str, Any]) -> None:
        self.hashes[rid] = fingerprint(resource)
        self._hashes_changed = True


def _unknown_resources(response: httpx.Response) -> list[str]:
    """The original ids of a 400 "Unknown resources" answer (empty for any other answer)."""
    if response.status_code != 400:
        return []
    with contextlib.suppress(ValueError):
        description = response.json().get("description")
        if isinstance(description, dict) and description.get("cause") == "Unknown resources":
            return [d["original_resource_id"] for d in description.get("detail", [])]
    return []


def _warn_dropped(response: httpx.Response) -> None:
    with contextlib.suppress(ValueError):
        body = response.json() if response.content else None
        if isinstance(body, dict) and (dropped := body.get("dropped")):
            LOG.warning("the API dropped %s measures older than their metrics' back window",
                        dropped.get("older_than_back_window"))
