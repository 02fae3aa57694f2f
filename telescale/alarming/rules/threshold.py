"""Threshold rules: a window of points against a threshold, as Aodh's gnocchi and prometheus rules.

Two steps, both pure:

* :func:`judge_batch` (or :func:`judge` for one alarm) compares the last ``evaluation_periods`` points
  of many alarms at once, vectorised over a padded matrix, into per-alarm :class:`Verdict` facts:
  all points breaching → ``alarm``, none → ``ok``, a mix → no state but the newest point's
  (the "trending" state), fewer points than ``evaluation_periods`` → *insufficient data*.
* :func:`decide` turns a verdict and the alarm's current state into a :class:`Decision` with Aodh's
  reason text and ``reason_data``: a mix keeps the current state unless that is *insufficient data*
  (then the trend wins); missing data follows the alarm's ``missing_data`` policy.

Telescale adds the deciding points to ``reason_data`` (``timestamps`` and ``values``).
"""

from __future__ import annotations

import functools
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from telescale.alarming.rules import missing_data as missing
from telescale.alarming.rules.decision import ALARM, OK, UNKNOWN, Decision, RuleError, check_state
from telescale.timeutil import format_timestamps

#: Operator names in the order of their codes in a batch.
OPERATORS = ("lt", "le", "eq", "ne", "ge", "gt")
_OPERATOR_CODE = {name: code for code, name in enumerate(OPERATORS)}
_MIXED, _OK, _ALARM, _UNKNOWN = -1, 0, 1, 2
_STATE_OF_CODE = {_OK: OK, _ALARM: ALARM, _UNKNOWN: UNKNOWN}


@dataclass(frozen=True, slots=True)
class Verdict:
    """What the points say, before the alarm's current state is taken into account.

    ``state`` is ``ok`` / ``alarm`` when the points agree, *insufficient data* when there are too few
    (``unknown_reason`` says why, ``unknown_count`` is Aodh's ``reason_data.count`` for it), ``None``
    when they disagree (``trending`` is then the newest point's state). ``values`` / ``timestamps``
    (ISO 8601, or ``None`` when the source has none) are the deciding points, oldest first, as they go
    into ``reason_data``; ``extra`` is merged into it too (e.g. the Prometheus series' labels).
    """

    state: str | None
    trending: str | None
    outside: int
    values: Sequence[float]
    timestamps: Sequence[str] | None = None
    unknown_reason: str | None = None
    unknown_count: int = 0
    extra: Mapping[str, Any] = field(default_factory=dict)

    @classmethod
    def unknown(cls, reason: str, count: int = 0, values: Sequence[float] = ()) -> Verdict:
        """Insufficient data for a reason found before any comparison (a metric that does not exist …)."""
        return cls(UNKNOWN, None, 0, [float(v) for v in values], None, reason, count)


@dataclass(frozen=True)
class ThresholdBatch:
    """Many alarms' points in one padded matrix: row ``i`` holds alarm ``i``'s newest points right-aligned.

    ``values`` (float64) and ``timestamps`` (int64 ns) are ``(n, width)``; ``counts[i]`` points are
    present at the right end of row ``i`` (the rest is padding, never read). ``rules`` are the alarms'
    threshold rules (``comparison_operator``, ``threshold``, ``evaluation_periods``, ``granularity``);
    ``width`` must cover every rule's ``evaluation_periods``.
    """

    rules: Sequence[Mapping[str, Any]]
    values: np.ndarray
    timestamps: np.ndarray
    counts: np.ndarray

    @classmethod
    def pack(
        cls, rules: Sequence[Mapping[str, Any]], points: Sequence[tuple[np.ndarray, np.ndarray]]
    ) -> ThresholdBatch:
        """Build the matrix from each alarm's ``(timestamps, values)`` (oldest first, any length)."""
        if len(rules) != len(points):
            raise ValueError(f"{len(rules)} rules but {len(points)} point series")
        periods = [_periods(rule) for rule in rules]
        width = max(periods, default=1)
        values = np.zeros((len(rules), width), dtype=np.float64)
        timestamps = np.zeros((len(rules), width), dtype=np.int64)
        counts = np.zeros(len(rules), dtype=np.int64)
        for i, ((ts, vals), keep) in enumerate(zip(points, periods, strict=True)):
            k = min(keep, len(vals))
            if k:
                values[i, width - k:] = np.asarray(vals, dtype=np.float64)[-k:]
                timestamps[i, width - k:] = np.asarray(ts, dtype=np.int64)[-k:]
            counts[i] = k
        return cls(rules, values, timestamps, counts)


@dataclass(frozen=True)
class BatchVerdicts:
    """:func:`judge_batch`'s answer: per-alarm codes (vectorised) and each :class:`Verdict` on demand.

    ``states`` holds -1 (mixed), 0 (ok), 1 (alarm), 2 (insufficient data); ``trending`` 0/1 where mixed;
    ``outside`` the breaching points; ``considered`` how many of the newest points were compared.
    """

    batch: ThresholdBatch
    states: np.ndarray
    trending: np.ndarray
    outside: np.ndarray
    considered: np.ndarray

    def __len__(self) -> int:
        return len(self.states)

    @functools.cached_property
    def _rows(self) -> tuple[list[list[float]], list[list[str]], list[tuple[int, int, int, bool]]]:
        """Every row as Python values, ISO timestamps and codes, converted in one vectorised pass."""
        n, width = self.batch.values.shape
        stamps = format_timestamps(self.batch.timestamps.reshape(-1))
        codes = list(zip(self.states.tolist(), self.considered.tolist(), self.outside.tolist(),
                         self.trending.tolist(), strict=True))
        return self.batch.values.tolist(), [stamps[i * width:(i + 1) * width] for i in range(n)], codes

    def verdict(self, i: int) -> Verdict:
        """Alarm ``i``'s verdict with its deciding points."""
        value_rows, stamp_rows, codes = self._rows
        code, k, outside, trending = codes[i]
        start = self.batch.values.shape[1] - k
        values, timestamps = value_rows[i][start:], stamp_rows[i][start:]
        if code == _UNKNOWN:
            rule = self.batch.rules[i]
            periods = _periods(rule)
            reason = (f"No datapoint for granularity {rule.get('granularity', 60)}" if k == 0
                      else f"{periods} datapoints are unknown")
            return Verdict(UNKNOWN, None, 0, values, timestamps, reason, periods)
        return Verdict(_STATE_OF_CODE.get(code), (ALARM if trending else OK) if code == _MIXED else None,
                       outside, values, timestamps)


def compare(values: Sequence[float] | np.ndarray, comparison_operator: str, threshold: float) -> np.ndarray:
    """Which values breach the threshold (``value <op> threshold``), as Aodh compares each point."""
    row = np.asarray(values, dtype=np.float64).reshape(1, -1)
    code = np.array([_operator_code(comparison_operator)], dtype=np.int8)
    return _compare(row, code, np.array([float(threshold)]))[0]


def _compare(values: np.ndarray, operators: np.ndarray, thresholds: np.ndarray) -> np.ndarray:
    """Row ``i`` of ``values`` compared with ``thresholds[i]`` by operator code ``operators[i]``.

    Three comparisons serve all six operators; a NaN point breaches only ``ne``, as in Python.
    """
    limit = thresholds[:, None]
    lt, eq, gt = values < limit, values == limit, values > limit
    table = np.stack([lt, lt | eq, eq, ~eq, gt | eq, gt])
    rows = np.arange(values.shape[0])
    return table[operators[:, None], rows[:, None], np.arange(values.shape[1])[None, :]]


def judge_batch(batch: ThresholdBatch) -> BatchVerdicts:
    """Compare every alarm's last ``evaluation_periods`` points at once (numpy; Python per alarm only
    to read the rule fields)."""
    n, width = batch.values.shape
    rules = batch.rules
    periods = np.fromiter((_periods(r) for r in rules), dtype=np.int64, count=n)
    operators = np.fromiter((_operator_code(r.get("comparison_operator", "eq")) for r in rules),
                            dtype=np.int8, count=n)
    thresholds = np.fromiter((_threshold(r) for r in rules), dtype=np.float64, count=n)
    if n and periods.max() > width:
        raise ValueError(f"the batch keeps {width} points per alarm but a rule needs {int(periods.max())}")
    counts = np.minimum(np.asarray(batch.counts, dtype=np.int64), periods)
    columns = np.arange(width)[None, :]
    considered_mask = columns >= (width - counts)[:, None]
    breaching = _compare(batch.values, operators, thresholds)
    outside = (breaching & considered_mask).sum(axis=1)
    sufficient = counts >= periods
    states = np.where(outside == periods, _ALARM, np.where(outside == 0, _OK, _MIXED))
    states = np.where(sufficient, states, _UNKNOWN).astype(np.int8)
    trending = breaching[:, -1] if width else np.zeros(n, dtype=bool)
    return BatchVerdicts(batch, states, trending & (states == _MIXED), outside, counts)


def judge(
    rule: Mapping[str, Any],
    values: Sequence[float] | np.ndarray,
    timestamps: Sequence[int] | np.ndarray | None = None,
) -> Verdict:
    """One alarm's verdict from its points (oldest first; only the last ``evaluation_periods`` count)."""
    values = np.asarray(values, dtype=np.float64)
    ts = np.zeros(len(values), dtype=np.int64) if timestamps is None else np.asarray(timestamps, np.int64)
    verdict = judge_batch(ThresholdBatch.pack([rule], [(ts, values)])).verdict(0)
    if timestamps is None:
        return Verdict(verdict.state, verdict.trending, verdict.outside, verdict.values, None,
                       verdict.unknown_reason, verdict.unknown_count)
    return verdict


def decide(verdict: Verdict, current_state: str, missing_data: str = missing.DEFAULT) -> Decision:
    """The decision for an alarm in ``current_state``, with Aodh's reason text and ``reason_data``."""
    check_state(current_state)
    if verdict.state == UNKNOWN:
        return _decide_unknown(verdict, current_state, missing_data)
    if verdict.state is not None:
        return _decision(verdict.state, current_state, verdict)
    if current_state == UNKNOWN:
        return _decision(verdict.trending or OK, current_state, verdict)
    keep = _decision(current_state, current_state, verdict)
    return Decision(None, keep.reason, keep.reason_data)


def decide_batch(
    verdicts: BatchVerdicts, current_states: Sequence[str], missing_data: Sequence[str]
) -> list[Decision]:
    """:func:`decide` for every alarm of a batch (Python per alarm, none per point)."""
    return [decide(verdicts.verdict(i), current_states[i], missing_data[i]) for i in range(len(verdicts))]


def _decide_unknown(verdict: Verdict, current_state: str, policy: str) -> Decision:
    last = _most_recent(verdict.values)
    unknown_data = _reason_data("unknown", verdict.unknown_count, last, verdict)
    if current_state != UNKNOWN:
        aodh = Decision(UNKNOWN, verdict.unknown_reason or "datapoints are unknown", unknown_data)
    else:
        # Aodh words a repeat of insufficient data as a threshold outcome with no sample outside.
        aodh = _decision(UNKNOWN, current_state, verdict, outside=0)
    return missing.resolve(policy, current_state, aodh, verdict.unknown_reason or "datapoints are unknown",
                           unknown_data)


def _decision(state: str, current_state: str, verdict: Verdict, outside: int | None = None) -> Decision:
    """Aodh's ``_reason``: ``ok`` counts the points inside the threshold, other states those outside."""
    outside = verdict.outside if outside is None else outside
    if state == OK:
        disposition, count = "inside", len(verdict.values) - outside
    else:
        disposition, count = "outside", outside
    last = _most_recent(verdict.values)
    verb = "Transition to" if state != current_state else "Remaining as"
    reason = f"{verb} {state} due to {count:d} samples {disposition} threshold, most recent: {last}"
    return Decision(state, reason, _reason_data(disposition, count, last, verdict))


def _reason_data(disposition: str, count: int, most_recent: float | None, verdict: Verdict) -> dict[str, Any]:
    data: dict[str, Any] = {"type": "threshold", "disposition": disposition, "count": count,
                            "most_recent": most_recent}
    if verdict.timestamps is not None:
        data["timestamps"] = list(verdict.timestamps)
    data["values"] = list(verdict.values)
    data.update(verdict.extra)
    return data


def _most_recent(values: Sequence[float]) -> float | None:
    return float(values[-1]) if len(values) else None


def _operator_code(name: Any) -> int:
    try:
        return _OPERATOR_CODE[name]
    except (KeyError, TypeError):
        raise RuleError(f"comparison_operator: must be one of {', '.join(OPERATORS)}, got {name!r}") from None


def _periods(rule: Mapping[str, Any]) -> int:
    periods = rule.get("evaluation_periods", 1)
    if isinstance(periods, bool) or not isinstance(periods, int) or periods < 1:
        raise RuleError(f"evaluation_periods: must be a positive integer, got {periods!r}")
    return periods


def _threshold(rule: Mapping[str, Any]) -> float:
    try:
        return float(rule["threshold"])
    except KeyError:
        raise RuleError("threshold: mandatory") from None
    except (TypeError, ValueError):
        raise RuleError(f"threshold: must be a number, got {rule['threshold']!r}") from None
