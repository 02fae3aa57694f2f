"""Prometheus rules: one instant query, its result series judged as Aodh's ``prometheus`` alarms.

The "points" are the series of the result vector (one value each): all breaching → ``alarm``, none
→ ``ok``, a mix → the current state is kept (``evaluation_periods`` is not used). An empty result is
*insufficient data* ("datapoints are unknown"), which is the opposite of Prometheus' own alerting,
where no series means no alert. A failed query (Prometheus unreachable, a bad query, a timeout) raises
:class:`PrometheusQueryError`: an evaluation error, not a state change, as in Aodh.

A rule with ``scope_to_project`` (the project of a non-admin's alarm) has its query restricted to that
project's series first (:mod:`telescale.alarming.rules.promql_scope`).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from types import TracebackType
from typing import Any

import httpx
import numpy as np

from telescale.alarming.rules import missing_data as missing
from telescale.alarming.rules.decision import Decision, RuleError
from telescale.alarming.rules.promql_scope import DEFAULT_PROJECT_LABEL, scope_to_project
from telescale.alarming.rules.threshold import Verdict, decide, judge
from telescale.timeutil import NS

LOG = logging.getLogger(__name__)


class PrometheusQueryError(RuntimeError):
    """The query could not be answered: the alarm keeps its state until the next evaluation."""


@dataclass(frozen=True, slots=True)
class Sample:
    """One series of an instant-query result: its labels, its timestamp (int ns) and value."""

    labels: Mapping[str, str]
    timestamp: int
    value: float


def parse_response(body: Any) -> list[Sample]:
    """The samples of a ``/api/v1/query`` answer (a vector, or a scalar as one unlabelled sample)."""
    if not isinstance(body, Mapping) or body.get("status") != "success":
        detail = body.get("error") if isinstance(body, Mapping) else body
        kind = body.get("errorType") if isinstance(body, Mapping) else None
        raise PrometheusQueryError(f"Prometheus answered {kind or 'an error'}: {detail}")
    data = body.get("data") or {}
    kind, result = data.get("resultType"), data.get("result")
    try:
        if kind == "vector":
            return [Sample(dict(item.get("metric") or {}), _ns(item["value"][0]), float(item["value"][1]))
                    for item in result or []]
        if kind == "scalar":
            return [Sample({}, _ns(result[0]), float(result[1]))]
    except (KeyError, IndexError, TypeError, ValueError) as e:
        raise PrometheusQueryError(f"unreadable Prometheus result: {e!r}") from None
    raise PrometheusQueryError(f"the query must return an instant vector, not a {kind}")


class PrometheusClient:
    """Instant queries against one Prometheus (``alarming.prometheus_url``), over a kept-alive connection."""

    def __init__(self, url: str, timeout: float = 10.0, client: httpx.Client | None = None) -> None:
        if not url:
            raise ValueError("alarming.prometheus_url: not set, prometheus rules cannot be evaluated")
        self.url = url.rstrip("/") + "/api/v1/query"
        self._client = client or httpx.Client(timeout=timeout)
        self._owned = client is None

    def query(self, promql: str, at: int | None = None) -> list[Sample]:
        """The result of ``promql`` now (or at ``at``, int ns); :class:`PrometheusQueryError` on failure."""
        form = {"query": promql}
        if at is not None:
            form["time"] = f"{at / NS:.9f}"
        try:
            response = self._client.post(self.url, data=form)
            body = response.json()
        except httpx.HTTPError as e:
            raise PrometheusQueryError(f"Prometheus at {self.url} did not answer: {e!r}") from None
        except ValueError:
            raise PrometheusQueryError(f"Prometheus at {self.url} answered HTTP {response.status_code} "
                                       "without JSON") from None
        return parse_response(body)

    def close(self) -> None:
        if self._owned:
            self._client.close()

    def __enter__(self) -> PrometheusClient:
        return self

    def __exit__(self, *exc: type[BaseException] | BaseException | TracebackType | None) -> None:
        self.close()


def rule_query(rule: Mapping[str, Any], project_label: str = DEFAULT_PROJECT_LABEL) -> str:
    """The PromQL to run for a rule: its ``query``, scoped to ``scope_to_project`` when set."""
    query = rule.get("query")
    if not isinstance(query, str) or not query.strip():
        raise RuleError("query: mandatory, a PromQL expression")
    project = rule.get("scope_to_project")
    return scope_to_project(query, str(project), project_label) if project else query


def judge_samples(rule: Mapping[str, Any], samples: Sequence[Sample]) -> Verdict:
    """The verdict on a result: every series compared, none meaning insufficient data."""
    if not samples:
        return Verdict.unknown("datapoints are unknown", 0)
    values = np.fromiter((s.value for s in samples), dtype=np.float64, count=len(samples))
    timestamps = np.fromiter((s.timestamp for s in samples), dtype=np.int64, count=len(samples))
    verdict = judge({**rule, "evaluation_periods": len(samples)}, values, timestamps)
    return Verdict(verdict.state, verdict.trending, verdict.outside, verdict.values, verdict.timestamps,
                   extra={"series": [dict(s.labels) for s in samples]})


def evaluate_prometheus(
    client: PrometheusClient,
    rule: Mapping[str, Any],
    current_state: str,
    *,
    missing_data: str = missing.DEFAULT,
    project_label: str = DEFAULT_PROJECT_LABEL,
    at: int | None = None,
) -> Decision:
    """Query, judge and decide one prometheus rule; :class:`PrometheusQueryError` leaves the state as is."""
    query = rule_query(rule, project_label)
    samples = client.query(query, at)
    if not samples:
        LOG.warning("empty result from Prometheus for query %s", query)
    return decide(judge_samples(rule, samples), current_state, missing_data)


def _ns(seconds: Any) -> int:
    """Prometheus' sample times (seconds with millisecond precision) in ns, without float noise."""
    return round(float(seconds) * 1000) * (NS // 1000)
