"""The statsd line grammar and what one flush interval of samples adds up to.

A datagram holds one or more lines ``<name>:<value>|<type>[|@<sample rate>][|#<tag>[:<value>],…]`` (the tags
are DogStatsD's).  What each type stores, one point per metric per flush (at the flush time):

* ``c`` counter — the sum of the interval's values, each divided by its sample rate;
* ``g`` gauge — the last value; ``+n`` / ``-n`` change the current value instead (which is kept across
  flushes; a gauge not updated in an interval writes nothing);
* ``ms`` timer — ``<name>.mean``, ``<name>.min``, ``<name>.max`` and ``<name>.count`` (samples divided by
  their rate) of the interval's values;
* ``s`` set — the number of distinct values seen in the interval.

Tags make the metric name Prometheus-style, as OTLP attributes do (``requests{route="/a"}``, see
:mod:`telescale.ingest.names`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from telescale.ingest.names import MAX_NAME, labelled

TYPES = ("c", "g", "ms", "s")


class StatsdLineError(ValueError):
    """A line that is not statsd; the message says what is wrong with it."""


@dataclass(frozen=True, slots=True)
class Sample:
    """One parsed line."""

    name: str  # the metric name, tags included
    kind: str  # one of TYPES
    value: float  # NaN for a set member that is not a number (sets count ``member``)
    member: str = ""  # a set's value as sent
    rate: float = 1.0
    relative: bool = False  # a gauge's ``+n`` / ``-n``


def _tags(text: str) -> list[tuple[str, str]]:
    tags = []
    for item in text.split(","):
        key, _, value = item.partition(":")
        if not key:
            raise StatsdLineError(f"empty tag in {text!r}")
        tags.append((key, value))
    return tags


def _rate(text: str) -> float:
    try:
        rate = float(text)
    except ValueError:
        raise StatsdLineError(f"sample rate {text!r} is not a number") from None
    if not 0 < rate <= 1:
        raise StatsdLineError(f"sample rate {text} is not in (0, 1]")
    return rate


def parse_line(line: str) -> Sample:
    """One statsd line (see the module); :class:`StatsdLineError` naming the problem otherwise."""
    if "\x00" in line:
        raise StatsdLineError("NUL character")
    head, _, rest = line.partition("|")
    name, colon, raw = head.rpartition(":")
    if not colon or not name:
        raise StatsdLineError("expected <name>:<value>|<type>")
    kind, *sections = rest.split("|")
    if kind not in TYPES:
        raise StatsdLineError(f"unknown type {kind!r} (expected one of {', '.join(TYPES)})")
    rate, tags = 1.0, []
    for section in sections:
        if section.startswith("@"):
            rate = _rate(section[1:])
        elif section.startswith("#"):
            tags = _tags(section[1:])
        else:
            raise StatsdLineError(f"unknown section {section!r} (expected @<rate> or #<tags>)")
    full = labelled(name, tags)
    if len(full) > MAX_NAME:
        raise StatsdLineError(f"metric name longer than {MAX_NAME} characters")
    try:
        value = float(raw)
    except ValueError:
        if kind != "s":
            raise StatsdLineError(f"value {raw!r} is not a number") from None
        value = math.nan
    if kind != "s" and not math.isfinite(value):
        raise StatsdLineError(f"value {raw!r} is not a finite number")
    return Sample(full, kind, value, raw if kind == "s" else "", rate, kind == "g" and raw[:1] in "+-")


@dataclass
class Aggregator:
    """The samples of the current flush interval, and the gauges' current values."""

    counters: dict[str, float] = field(default_factory=dict)
    gauges: dict[str, float] = field(default_factory=dict)
    updated: set[str] = field(default_factory=set)
    timers: dict[str, tuple[list[float], list[float]]] = field(default_factory=dict)
    sets: dict[str, set[str]] = field(default_factory=dict)

    def add(self, s: Sample) -> None:
        if s.kind == "c":
            self.counters[s.name] = self.counters.get(s.name, 0.0) + s.value / s.rate
        elif s.kind == "g":
            self.gauges[s.name] = self.gauges.get(s.name, 0.0) + s.value if s.relative else s.value
            self.updated.add(s.name)
        elif s.kind == "ms":
            values, weights = self.timers.setdefault(s.name, ([], []))
            values.append(s.value)
            weights.append(1.0 / s.rate)
        else:
            self.sets.setdefault(s.name, set()).add(s.member)

    def flush(self) -> dict[str, float]:
        """Each metric's value for the interval that ends now (see the module); the interval starts over."""
        out = dict(self.counters)
        out.update((name, self.gauges[name]) for name in self.updated)
        for name, (values, weights) in self.timers.items():
            array = np.array(values)
            out.update({f"{name}.mean": float(array.mean()), f"{name}.min": float(array.min()),
                        f"{name}.max": float(array.max()), f"{name}.count": float(np.sum(weights))})
        out.update((name, float(len(members))) for name, members in self.sets.items())
        self.counters, self.updated, self.timers, self.sets = {}, set(), {}, {}
        return out
