"""What a gnocchi threshold rule reads, and Aodh's words when it cannot read it.

The evaluator asks ``telescale.query`` for the rule's measures over :func:`evaluation_window`, keeps
them with :func:`select_points`, and judges them with :mod:`telescale.alarming.rules.threshold`. When
the read fails, :func:`lookup_failure_reason` gives Aodh's reason text for an insufficient-data verdict
(``Verdict.unknown(reason, evaluation_periods)``).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

import numpy as np

from telescale.alarming.rules.decision import RuleError
from telescale.timeutil import NS

RESOURCES = "gnocchi_resources_threshold"
BY_METRICS = "gnocchi_aggregation_by_metrics_threshold"
BY_RESOURCES = "gnocchi_aggregation_by_resources_threshold"
TYPES = (RESOURCES, BY_METRICS, BY_RESOURCES)
#: What a failed read can be missing: the metric, the resource, the aggregation method, or anything else.
FAILURES = ("metric", "resource", "aggregation", "error")

#: Aodh's look-back: one granularity more than ``evaluation_periods``, for the bucket still filling.
LOOK_BACK = 1


def evaluation_window(rule: Mapping[str, Any], now: int, additional_ingestion_lag: float = 0.0) -> tuple[int, int]:
    """``(start, stop)`` in ns: ``granularity × (evaluation_periods + 1) + additional_ingestion_lag``
    seconds back from ``now``, as Aodh (aligned to now, not to the granularity)."""
    granularity = float(rule.get("granularity", 60))
    periods = int(rule.get("evaluation_periods", 1))
    window = granularity * (periods + LOOK_BACK) + float(additional_ingestion_lag)
    return now - round(window * NS), now


def select_points(
    measures: Iterable[tuple[int, np.ndarray, np.ndarray]], rule: Mapping[str, Any]
) -> tuple[np.ndarray, np.ndarray]:
    """The last ``evaluation_periods`` points at the rule's granularity, oldest first.

    ``measures`` is ``telescale.query``'s answer, ``[(granularity ns, timestamps ns, values)]``; points
    of other granularities are ignored, as Aodh's ``_sanitize`` does.
    """
    wanted = round(float(rule.get("granularity", 60)) * NS)
    periods = int(rule.get("evaluation_periods", 1))
    kept = [(np.asarray(ts, np.int64), np.asarray(vals, np.float64))
            for granularity, ts, vals in measures if int(granularity) == wanted]
    if not kept:
        return np.empty(0, np.int64), np.empty(0, np.float64)
    timestamps = np.concatenate([ts for ts, _ in kept])
    values = np.concatenate([vals for _, vals in kept])
    return timestamps[-periods:], values[-periods:]


def lookup_failure_reason(alarm_type: str, rule: Mapping[str, Any], failure: str, detail: Any = None) -> str:
    """Aodh's reason when the data of a gnocchi rule cannot be read.

    ``failure`` is ``metric`` / ``resource`` / ``aggregation`` (the 404s) or ``error`` (anything else,
    ``detail`` being the error).
    """
    if failure == "error":
        return f"alarm statistics retrieval failed: {detail}"
    method = rule.get("aggregation_method")
    if alarm_type == RESOURCES:
        metric, resource = rule.get("metric"), rule.get("resource_id")
        texts = {"metric": f"metric {metric} for resource {resource} does not exists",
                 "resource": f"resource {resource} does not exists",
                 "aggregation": f"aggregation {method} does not exist for metric {metric} of resource {resource}"}
    elif alarm_type == BY_METRICS:
        metrics = list(rule.get("metrics") or [])
        texts = {"metric": f"At least of metrics in {metrics} does not exist",
                 "aggregation": f"aggregation {method} does not exist for at least one metrics in {metrics}"}
    elif alarm_type == BY_RESOURCES:
        texts = {"metric": f"metric {rule.get('metric')} does not exists",
                 "aggregation": f"aggregation {method} does not exist for at least one metric of the query"}
    else:
        raise RuleError(f"type: not a gnocchi threshold rule: {alarm_type!r}")
    try:
        return texts[failure]
    except KeyError:
        raise ValueError(f"failure: {alarm_type} cannot miss a {failure!r}") from None
