"""Metric names for series that carry labels: Prometheus remote_write's labels mode, OTLP data point
attributes, statsd tags and the agent's scraped and polled series — one notation for all of them, so a
series scraped by the agent and the same series remote-written land on the same metric.

One series per distinct label set, named as Prometheus writes a series: ``name{key="value",…}`` with the
keys sorted, so the same labels always give the same metric whatever order a client sent them in.  A
metric name may not contain ``/`` (it is a URL path segment): in values ``%`` and ``/`` are written ``%25``
and ``%2F`` (so the value can be read back), in a name or key ``/`` becomes ``_``; then ``\\``, ``"`` and
newlines are escaped as Prometheus escapes them.
"""

from __future__ import annotations

from collections.abc import Iterable

MAX_NAME = 255  # the indexer's metric name column


def _escape(value: str) -> str:
    value = value.replace("%", "%25").replace("/", "%2F")
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def labelled(name: str, labels: Iterable[tuple[str, str]]) -> str:
    """``name`` alone without labels, else ``name{k="v",…}`` sorted by key."""
    name = name.replace("/", "_")
    pairs = sorted(labels)
    if not pairs:
        return name
    inner = ",".join(f'{k.replace("/", "_")}="{_escape(v)}"' for k, v in pairs)
    return f"{name}{{{inner}}}"
