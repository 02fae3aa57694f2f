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
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from telescale.alarming.rules import gnocchi
from telescale.alarming.rules.threshold import Verdict
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

