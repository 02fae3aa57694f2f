"""Metric names for series that carry labels (OTLP data point attributes, statsd tags).

One series per distinct label set, named as Prometheus writes a series: ``name{key="value",…}`` with the
keys sorted, so the same labels always give the same metric whatever order a client sent them in.  A
metric name may not contain ``/`` (it is a URL path segment), so ``/`` in a key or value becomes ``_``.
"""

from __future__ import annotations

from collections.abc import Iterable

MAX_NAME = 255  # the indexer's metric name column


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n").replace("/", "_")


def labelled(name: str, labels: Iterable[tuple[str, str]]) -> str:
    """``name`` alone without labels, else ``name{k="v",…}`` sorted by key."""
    pairs = sorted(labels)
    if not pairs:
        return name.replace("/", "_")
    inner = ",".join(f'{k.replace("/", "_")}="{_escape(v)}"' for k, v in pairs)
    return f"{name.replace('/', '_')}{{{inner}}}"
