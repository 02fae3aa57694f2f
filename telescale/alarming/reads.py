"""What a gnocchi threshold rule reads, through ``telescale.query`` in process (never our HTTP API).

Each rule type maps to one entry point of the shared read path, as Aodh maps it to one Gnocchi call:
``gnocchi_resources_threshold`` → the measures of one resource's metric, ``…_by_metrics`` → ``aggregate``
across the listed metrics, ``…_by_resources`` → ``aggregate`` across the metric of the resources the
rule's query matches (``needed_overlap=0``, so series of deleted instances do not block). The API marks
the rules of a non-admin's alarm (and of an admin's alarm for another project) with ``scope_to_project``
and wraps their ``query`` in that project's filter; such a rule reads within that project only, so it can
never read another project's data; other rules read as the service, as Aodh does.

A missing metric, resource or aggregation method, or a question that cannot be answered, is a verdict
(insufficient data with Aodh's reason); a failure of the store (storage or database down) raises
:class:`ReadFailed`, an evaluation error that leaves the alarm's state alone.
"""

from __future__ import annotations

import json
import logging
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from telescale.alarming.rules import gnocchi
from telescale.alarming.rules.threshold import Verdict
from telescale.query import availability
from telescale.query import errors as qe
from telescale.query.reader import Query
from telescale.query.scope import UNRESTRICTED, Scope
from telescale.timeutil import NS

LOG = logging.getLogger(__name__)


class ReadFailed(RuntimeError):
    """The data could not be read for a reason other than its absence (an evaluation error)."""


@dataclass(frozen=True)
class Points:
    """A rule's deciding points (the last ``evaluation_periods`` at its granularity, oldest first), or the
    verdict that replaces them when the data does not exist, and the metrics read (so that processing
    those metrics triggers the alarm)."""

    timestamps: np.ndarray
    values: np.ndarray
    metric_ids: frozenset[uuid.UUID]
    absent: Verdict | None = None


def _failure(alarm_type: str, e: Exception) -> str | None:
    """Which of Aodh's cases a read error is: ``resource`` / ``metric`` / ``aggregation`` does not exist,
    ``error`` for a question that cannot be answered (a bad query), None for a failure of the store."""
    if isinstance(e, qe.NoSuchResource | qe.NoSuchResourceType):
        return "resource" if alarm_type == gnocchi.RESOURCES else "metric"
    if isinstance(e, qe.NoSuchMetric):
        return "metric"
    if isinstance(e, qe.UnknownAggregationMethod | qe.UnknownGranularity | qe.NoSuchAggregation):
        return "aggregation"
    if isinstance(e, qe.QueryError | ValueError | KeyError):
        return "error"
    return None


def read_points(q: Query, alarm_type: str, rule: Mapping[str, Any], now: int, lag: float = 0.0) -> Points:
    """The points one gnocchi threshold rule judges at ``now`` (ns). Raises :class:`ReadFailed`."""
    start, stop = gnocchi.evaluation_window(rule, now, lag)
    granularity = round(float(rule.get("granularity", 60)) * NS)
    method = str(rule["aggregation_method"])
    project = rule.get("scope_to_project")
    scope = UNRESTRICTED if project is None else Scope.of_project(str(project))
    try:
        if alarm_type == gnocchi.RESOURCES:
            series = q.resource_metric_measures(scope, rule["resource_type"], rule["resource_id"],
                                                rule["metric"], method, granularity, start, stop)
        elif alarm_type == gnocchi.BY_METRICS:
            ids = [uuid.UUID(str(m)) for m in rule.get("metrics") or []]
            series = q.aggregate_metrics(scope, ids, method, granularity, start, stop, needed_overlap=0.0)
        elif alarm_type == gnocchi.BY_RESOURCES:
            search = rule.get("query") or {}
            if isinstance(search, str):
                search = json.loads(search) if search.strip() else {}
            series = q.aggregate_resources(scope, rule["resource_type"], search, rule["metric"], method,
                                           granularity, start, stop, needed_overlap=0.0)
        else:
            raise ValueError(f"not a gnocchi threshold rule: {alarm_type}")
    except Exception as e:  # noqa: BLE001 - sorted into "absent" (a verdict) and "failed" (an error) below
        failure = _failure(alarm_type, e)
        if failure is None:
            raise ReadFailed(f"{type(e).__name__}: {e}") from e
        reason = gnocchi.lookup_failure_reason(alarm_type, rule, failure, e)
        absent = Verdict.unknown(reason, int(rule.get("evaluation_periods", 1)))
        return Points(np.empty(0, np.int64), np.empty(0, np.float64), frozenset(), absent)
    ts, values = gnocchi.select_points([(granularity, series.timestamps, series.values)], rule)
    return Points(ts, values, frozenset(series.metric_ids))



def _uuid(value: Any) -> uuid.UUID | None:
    try:
        return value if isinstance(value, uuid.UUID) else uuid.UUID(str(value))
    except ValueError:
        return None


def batchable(alarm_type: str, rule: Mapping[str, Any]) -> bool:
    """Whether :func:`read_resource_points` can read this rule (a resource named by its UUID)."""
    return alarm_type == gnocchi.RESOURCES and _uuid(rule.get("resource_id")) is not None


def _absent(alarm_type: str, rule: Mapping[str, Any], failure: str) -> Points:
    reason = gnocchi.lookup_failure_reason(alarm_type, rule, failure)
    verdict = Verdict.unknown(reason, int(rule.get("evaluation_periods", 1)))
    return Points(np.empty(0, np.int64), np.empty(0, np.float64), frozenset(), verdict)


def _read_one(q: Query, rule: Mapping[str, Any], now: int, lag: float) -> Points | ReadFailed:
    try:
        return read_points(q, gnocchi.RESOURCES, rule, now, lag)
    except ReadFailed as e:
        return e


def read_resource_points(q: Query, rules: Sequence[Mapping[str, Any]], now: int, lag: float = 0.0
                         ) -> list[Points | ReadFailed]:
    """:func:`read_points` for many ``gnocchi_resources_threshold`` rules at once (each :func:`batchable`):
    one indexer query resolves every ``(resource, metric)``, then one batched read per method, granularity
    and window reads every series; a store failure fails only the rules of that read."""
    kind = gnocchi.RESOURCES
    out: list[Points | ReadFailed | None] = [None] * len(rules)
    try:
        named = q.indexer.metrics_by_resource_and_name([(_uuid(r["resource_id"]), str(r["metric"])) for r in rules])
    except Exception as e:  # noqa: BLE001 - the indexer is down: every rule of the batch is an evaluation error
        return [ReadFailed(f"{type(e).__name__}: {e}")] * len(rules)
    groups: dict[tuple[str, int, int, int], list[tuple[int, Any]]] = {}
    for i, rule in enumerate(rules):
        found = named.get((_uuid(rule["resource_id"]), str(rule["metric"])))
        project = rule.get("scope_to_project")
        scope = UNRESTRICTED if project is None else Scope.of_project(str(project))
        if found is None or not scope.sees_resource(found.project_id, found.created_by_project_id) or (
                rule.get("resource_type", "generic") not in ("generic", found.resource_type)):
            out[i] = _read_one(q, rule, now, lag)  # rare: the one-by-one path names exactly what is missing
            continue
        granularity = round(float(rule.get("granularity", 60)) * NS)
        method = str(rule["aggregation_method"])
        if availability.lacks(found.metric, method, granularity) is not None:
            out[i] = _absent(kind, rule, "aggregation")
            continue
        start, stop = gnocchi.evaluation_window(rule, now, lag)
        groups.setdefault((method, granularity, start, stop), []).append((i, found.metric))
    for (method, granularity, start, stop), members in groups.items():
        try:
            series = q.read_many([m for _, m in members], method, granularity, start, stop)
        except Exception as e:  # noqa: BLE001 - a store failure: these rules are evaluation errors
            for i, _ in members:
                out[i] = ReadFailed(f"{type(e).__name__}: {e}")
            continue
        for (i, metric), (ts, values) in zip(members, series, strict=True):
            ts, values = gnocchi.select_points([(granularity, ts, values)], rules[i])
            out[i] = Points(ts, values, frozenset((metric.id,)))
    return [p if p is not None else ReadFailed("not read") for p in out]
