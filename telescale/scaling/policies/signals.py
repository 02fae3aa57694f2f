"""What a policy's signal URL receives, read into one :class:`Signal`: Aodh's alarm webhook, Alertmanager's
webhook (version 4), an empty POST, or any other JSON object.

Unlike Heat, which scales on every signal and reads Aodh's ``current`` only to log it, a signal that says the
condition is over never scales: an Aodh alarm back to ``ok`` (or to ``insufficient data``) and an Alertmanager
group ``resolved`` give ``firing=False`` and :func:`should_act` False. So a policy can sit on an alarm's
``ok_actions`` or behind Alertmanager's default ``send_resolved: true`` without scaling twice. An empty body or
any other JSON object acts, as Heat. The content type is not trusted (curl sends a form type for an empty
POST; Aodh and Alertmanager send JSON): the body is read as JSON, UTF-8, at most 1 MiB.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import orjson

from telescale.scaling.policies.errors import PolicyError

MAX_BODY = 1024 * 1024
#: Aodh's alarm states (``current`` and ``previous`` in its webhook body).
AODH_STATES = ("alarm", "ok", "insufficient data")
ALERTMANAGER_STATUSES = ("firing", "resolved")
_TEXT = 300  # longest free text kept in details
_LABELS = 20  # most labels kept in details


class SignalError(PolicyError):
    """A body a signal URL cannot read; ``status`` is 400, or 413 for a body over 1 MiB."""


@dataclass(frozen=True)
class Signal:
    """``kind``: ``aodh`` | ``alertmanager`` | ``empty`` | ``json``; ``firing``: True when the sender says the
    condition holds, False when it says it is over, None when it says nothing (an empty POST acts);
    ``summary`` for the decision log; ``details`` a small JSON-safe excerpt of the body."""

    kind: str
    firing: bool | None
    summary: str
    details: Mapping[str, Any] = field(default_factory=dict)


def parse_signal(body: bytes, content_type: str | None = None) -> Signal:
    """Read a signal body (see the module's docstring for the rules)."""
    if len(body) > MAX_BODY:
        raise SignalError(f"signal body is too large: {len(body)} bytes, at most {MAX_BODY} (1 MiB)", status=413)
    if not body.strip():
        return Signal("empty", None, "empty signal", {})
    try:
        data = orjson.loads(body)
    except orjson.JSONDecodeError as e:
        sent = f" (sent as {content_type})" if content_type else ""
        raise SignalError(f"signal body is not JSON{sent}: {e}; send an Aodh or Alertmanager webhook body, "
                          "any JSON object, or nothing") from None
    if not isinstance(data, dict):
        raise SignalError(f"signal body must be a JSON object or empty, got {_json_kind(data)}")
    if "alarm_id" in data or "current" in data:
        return _aodh(data)
    if data.get("version") == "4" and "alerts" in data:
        return _alertmanager(data)
    keys = sorted(str(k) for k in data)
    shown = ", ".join(keys[:10]) + (f" … ({len(keys)} keys)" if len(keys) > 10 else "")
    return Signal("json", None, f"JSON signal with keys {shown}" if keys else "JSON signal {}",
                  {"keys": keys[:_LABELS]})


def should_act(signal: Signal) -> bool:
    """Whether the signal may scale: not when the sender says the condition is over (``firing`` False)."""
    return signal.firing is not False


def _aodh(data: dict[str, Any]) -> Signal:
    current = data.get("current")
    if current not in AODH_STATES:
        raise SignalError(f"Aodh signal: current must be one of {', '.join(AODH_STATES)}, got {current!r}")
    for key in ("alarm_id", "alarm_name", "previous", "reason", "severity"):
        if data.get(key) is not None and not isinstance(data[key], str):
            raise SignalError(f"Aodh signal: {key} must be a string, got {data[key]!r}")
    name = data.get("alarm_name") or data.get("alarm_id") or "(unnamed)"
    who = f"{name} ({data['alarm_id']})" if data.get("alarm_id") and data.get("alarm_name") else name
    move = f"{data['previous']} → {current}" if data.get("previous") else f"→ {current}"
    summary = f"Aodh alarm {who} {move}"
    if data.get("reason"):
        summary += f": {_cut(data['reason'])}"
    details = {key: _cut(data[key]) for key in ("alarm_id", "alarm_name", "severity", "previous", "current",
                                                   "reason") if data.get(key) is not None}
    return Signal("aodh", current == "alarm", summary, details)


def _alertmanager(data: dict[str, Any]) -> Signal:
    status = data.get("status")
    if status not in ALERTMANAGER_STATUSES:
        raise SignalError(f"Alertmanager signal: status must be firing or resolved, got {status!r}")
    alerts = data.get("alerts")
    if not isinstance(alerts, list) or not all(isinstance(a, dict) for a in alerts):
        raise SignalError("Alertmanager signal: alerts must be a list of alert objects")
    firing = sum(1 for a in alerts if a.get("status") == "firing")
    group = data.get("groupKey")
    group_text = _cut(group) if isinstance(group, str) and group else "(no groupKey)"
    plural = "s" if len(alerts) != 1 else ""
    summary = f"Alertmanager group {group_text} {status}, {len(alerts)} alert{plural} ({firing} firing)"
    details: dict[str, Any] = {"status": status, "alerts": len(alerts), "firing": firing}
    if isinstance(group, str):
        details["groupKey"] = _cut(group)
    if isinstance(data.get("receiver"), str):
        details["receiver"] = _cut(data["receiver"])
    if isinstance(data.get("truncatedAlerts"), int) and not isinstance(data["truncatedAlerts"], bool):
        details["truncatedAlerts"] = data["truncatedAlerts"]
    labels = data.get("commonLabels")
    if isinstance(labels, dict):
        details["commonLabels"] = {_cut(str(k)): _cut(v) for k, v in list(labels.items())[:_LABELS]
                                   if isinstance(v, str)}
    return Signal("alertmanager", status == "firing", summary, details)


def _cut(text: str) -> str:
    return text if len(text) <= _TEXT else text[:_TEXT - 1] + "…"


def _json_kind(data: Any) -> str:
    if data is None:
        return "null"
    if isinstance(data, list):
        return "an array"
    if isinstance(data, str):
        return "a string"
    if isinstance(data, bool):
        return "a boolean"
    return "a number"
