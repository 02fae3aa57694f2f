"""The references of ``POST /v1/aggregates`` over metric ids: which column each ``(id, method)`` reads.

A metric named twice with the same method is one column (read once); the tree's reference text (as the
client wrote the id) maps to that column, so the answer can name it as the client did.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from telescale.query.aggregates.evaluate import Reference
from telescale.query.aggregates.parser import Ref
from telescale.query.errors import InvalidMetricReference, NoSuchMetric

__all__ = ["MetricReferences", "metric_columns", "parse_metric_ids"]


@dataclass(frozen=True)
class MetricReferences:
    """``columns`` (one per distinct metric and method), ``lookup`` (tree reference -> column indexes) and
    ``metrics`` (each once, in the order first referenced)."""

    columns: list[Reference]
    lookup: dict[Ref, list[int]]
    metrics: list[Any]


def parse_metric_ids(refs: Sequence[Ref]) -> list[uuid.UUID]:
    """The metric id of each reference; :class:`InvalidMetricReference` for one that is not a UUID."""
    ids: list[uuid.UUID] = []
    for m, _ in refs:
        try:
            ids.append(uuid.UUID(m))
        except (ValueError, TypeError, AttributeError) as e:
            raise InvalidMetricReference(str(e), [list(r) for r in refs]) from None
    return ids


def metric_columns(refs: Sequence[Ref], ids: Sequence[uuid.UUID], metrics: Mapping[uuid.UUID, Any]
                   ) -> MetricReferences:
    """The columns of ``refs`` (whose ids are ``ids``) over the metrics found; :class:`NoSuchMetric` lists
    the ids (sorted, as text) that are not among them."""
    missing = sorted({str(i) for i in ids if i not in metrics})
    if missing:
        raise NoSuchMetric(missing)
    columns: list[Reference] = []
    index: dict[tuple[uuid.UUID, str], int] = {}
    lookup: dict[Ref, list[int]] = {}
    for (m, method), mid in zip(refs, ids, strict=True):
        key = (mid, method)
        if key not in index:
            index[key] = len(columns)
            columns.append(Reference(metrics[mid], method, str(mid)))
        lookup[(m, method)] = [index[key]]
    return MetricReferences(columns, lookup, list({i: metrics[i] for i in ids}.values()))
