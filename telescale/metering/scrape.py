"""Scraping exporters' ``/metrics`` (Prometheus text exposition format) into samples.

Each target is a ``prometheus`` resource ``job@instance`` with attributes job and instance — the mapping of
remote_write — so scraped and remote-written series of one target land on one resource. A series is the
metric ``name`` when it has no other label, else ``name{a="x",b="y"}`` (labels sorted; ``/`` becomes ``_``,
which metric names may not hold). Counters (their ``…_total`` samples) and the ``_count``/``_sum``/``_bucket``
of histograms and summaries are cumulative; gauges, untyped series and summary quantiles are gauges; the
``_created`` samples are skipped, as Prometheus does. Each scrape adds ``up`` (1, or 0 when the scrape
failed) and ``scrape_duration_seconds``. Values that are NaN or infinite cannot be stored and are counted
and left out.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable, Mapping, Sequence

import httpx
from prometheus_client.parser import text_string_to_metric_families

from telescale.ingest.names import labelled
from telescale.metering.config import ScrapeTarget
from telescale.metering.sample import Kind, Sample
from telescale.metering.sources import Item, Pollster

LOG = logging.getLogger(__name__)
ACCEPT = "text/plain;version=0.0.4;q=1,*/*;q=0.1"
CUMULATIVE_SUFFIXES = ("_count", "_sum", "_bucket")
RESERVED = ("job", "instance")


def _labels(scraped: Mapping[str, str], target_labels: Mapping[str, str]) -> dict[str, str]:
    """Scraped labels plus the target's; a scraped label that clashes becomes ``exported_<name>`` (Prometheus)."""
    labels = {(f"exported_{k}" if k in target_labels or k in RESERVED else k): v for k, v in scraped.items()}
    labels.update(target_labels)
    return labels


def _kind(family_type: str, sample_name: str) -> Kind:
    if family_type == "counter":
        return "cumulative"
    if family_type in ("histogram", "summary", "gaugehistogram") and sample_name.endswith(CUMULATIVE_SUFFIXES):
        return "cumulative"
    return "gauge"


def parse(text: str, target: ScrapeTarget, now: float) -> tuple[list[Sample], int]:
    """The samples of one exposition (stamped ``now`` unless they carry a timestamp), and how many values
    were left out for not being finite."""
    attributes = {"job": target.job, "instance": target.instance}
    samples: list[Sample] = []
    skipped = 0
    with_created: set[str] = set()  # families whose `_created` series Prometheus leaves out
    for family in text_string_to_metric_families(text):
        if family.type in ("counter", "histogram", "summary"):
            with_created.add(family.name)
        for s in family.samples:
            if s.name.endswith("_created") and s.name[:-len("_created")] in with_created:
                continue
            value = float(s.value)
            if not math.isfinite(value):
                skipped += 1
                continue
            name = labelled(s.name, _labels(s.labels, target.labels).items())
            samples.append(Sample(name=name, value=value, timestamp=float(s.timestamp) if s.timestamp else now,
                                  resource_id=target.key, resource_type="prometheus",
                                  kind=_kind(family.type, s.name), attributes=attributes))
    return samples, skipped


class Scraper(Pollster):
    """One exporter target, scraped every ``target.interval`` seconds by the agent that owns it."""

    def __init__(self, target: ScrapeTarget, http: httpx.AsyncClient,
                 owns: Callable[[str], bool] = lambda key: True) -> None:
        self.target = target
        self.http = http
        self.owns = owns
        self.name = f"prometheus:{target.key}"
        self.interval = target.interval
        self.up: bool | None = None

    def _point(self, name: str, value: float, now: float) -> Sample:
        return Sample(name=name, value=value, timestamp=now, resource_id=self.target.key, resource_type="prometheus",
                      attributes={"job": self.target.job, "instance": self.target.instance})

    async def poll(self) -> Sequence[Item]:
        if not self.owns(self.target.key):
            return ()
        now = time.time()
        started = time.monotonic()
        try:
            response = await self.http.get(self.target.url, timeout=self.target.timeout, headers={"Accept": ACCEPT})
            if response.is_error:
                raise ValueError(f"HTTP {response.status_code} {response.reason_phrase}")
            samples, skipped = parse(response.text, self.target, now)
        except (httpx.HTTPError, ValueError) as e:
            if not self._still_owned():
                return ()
            self._state(False, f"{type(e).__name__}: {e}")
            return [self._point("up", 0.0, now)]
        if not self._still_owned():
            return ()
        self._state(True, "")
        if skipped:
            LOG.debug("%s: %d values were NaN or infinite and were left out", self.name, skipped)
        duration = time.monotonic() - started
        return [*samples, self._point("up", 1.0, now), self._point("scrape_duration_seconds", duration, now)]

    def _still_owned(self) -> bool:
        """Whether the ring still gives this agent the target once the scrape is done: if it moved meanwhile,
        its new owner scrapes it now, and this scrape's samples would be a second copy."""
        if self.owns(self.target.key):
            return True
        LOG.info("%s moved to another agent during a scrape; this scrape is left to it", self.name)
        return False

    def _state(self, up: bool, why: str) -> None:
        """Log a change of state once, not every failed scrape."""
        if up == self.up:
            return
        if up:
            LOG.info("scraping %s (%s) works%s", self.target.url, self.target.key, " again" if self.up is False else "")
        else:
            LOG.warning("scraping %s (%s) failed: %s; `up` is 0 until it works again", self.target.url,
                        self.target.key, why)
        self.up = up
