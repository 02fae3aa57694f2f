"""What a signal URL receives: Aodh's webhook body (as our own notifier sends it), Alertmanager's v4 body,
an empty POST, other JSON; and what is refused."""

from __future__ import annotations

import json
import uuid

import pytest

from telescale.alarming.notifiers.webhook import encode_body, request_headers
from telescale.indexer.records import PendingNotification
from telescale.scaling.policies import MAX_BODY, PolicyError, SignalError, parse_signal, should_act

ALARM_ID = uuid.UUID("3b2c1a4e-9f0d-4c55-8e2a-1f6a7b8c9d0e")


def aodh_bytes(previous: str, current: str) -> bytes:
    """The bytes Telescale's Aodh-compatible notifier posts for a state transition."""
    payload = {"alarm_name": "cpu-high", "severity": "moderate", "previous": previous, "current": current,
               "reason": f"Transition to {current} due to 3 samples outside threshold, most recent: 91.5",
               "reason_data": {"type": "threshold", "disposition": "outside", "count": 3, "most_recent": 91.5}}
    return encode_body(PendingNotification(1, ALARM_ID, "http://scaler/signal", payload, 0))


def alertmanager_bytes(status: str, alert_statuses: tuple[str, ...] = ("firing",) * 3) -> bytes:
    """A version 4 webhook body with Alertmanager's fields (notify/webhook/webhook.go)."""
    alerts = [{"status": s, "labels": {"alertname": "HighCPU", "instance": f"10.0.0.{i}:9100", "job": "node"},
               "annotations": {"summary": "CPU above 80 %"}, "startsAt": "2024-01-01T12:00:00.000Z",
               "endsAt": "0001-01-01T00:00:00Z" if s == "firing" else "2024-01-01T12:10:00.000Z",
               "generatorURL": "http://prometheus:9090/graph?g0.expr=cpu%3E0.8", "fingerprint": f"c3a0b7f4d1e2a9b{i}"}
              for i, s in enumerate(alert_statuses)]
    return json.dumps({"receiver": "telescale", "status": status, "alerts": alerts,
                       "groupLabels": {"alertname": "HighCPU"},
                       "commonLabels": {"alertname": "HighCPU", "job": "node", "severity": "warning"},
                       "commonAnnotations": {"summary": "CPU above 80 %"}, "externalURL": "http://alertmanager:9093",
                       "version": "4", "groupKey": '{}:{alertname="HighCPU"}', "truncatedAlerts": 0}).encode()


def test_aodh_alarm_acts() -> None:
    s = parse_signal(aodh_bytes("ok", "alarm"), request_headers()["content-type"])
    assert (s.kind, s.firing, should_act(s)) == ("aodh", True, True)
    assert s.summary == (f"Aodh alarm cpu-high ({ALARM_ID}) ok → alarm: Transition to alarm due to 3 samples "
                         "outside threshold, most recent: 91.5")
    assert s.details["alarm_id"] == str(ALARM_ID) and s.details["current"] == "alarm"
    json.dumps(s.details)  # JSON-safe


@pytest.mark.parametrize("state", ["ok", "insufficient data"])
def test_aodh_back_to_ok_never_scales(state: str) -> None:
    s = parse_signal(aodh_bytes("alarm", state), "application/json")
    assert (s.kind, s.firing, should_act(s)) == ("aodh", False, False)


def test_aodh_minimal_and_bad_state() -> None:
    s = parse_signal(b'{"current": "alarm"}', None)
    assert s.kind == "aodh" and s.firing is True and s.summary == "Aodh alarm (unnamed) → alarm"
    with pytest.raises(SignalError, match="current must be one of alarm, ok, insufficient data, got 'ALARM'"):
        parse_signal(b'{"alarm_id": "x", "current": "ALARM"}', "application/json")
    with pytest.raises(SignalError, match="current must be one of"):
        parse_signal(b'{"alarm_id": "x"}', "application/json")
    with pytest.raises(SignalError, match="alarm_name must be a string"):
        parse_signal(b'{"current": "alarm", "alarm_name": 5}', "application/json")


def test_alertmanager_firing_acts() -> None:
    s = parse_signal(alertmanager_bytes("firing"), "application/json")
    assert (s.kind, s.firing, should_act(s)) == ("alertmanager", True, True)
    assert s.summary == 'Alertmanager group {}:{alertname="HighCPU"} firing, 3 alerts (3 firing)'
    assert s.details == {"status": "firing", "alerts": 3, "firing": 3, "groupKey": '{}:{alertname="HighCPU"}',
                         "receiver": "telescale", "truncatedAlerts": 0,
                         "commonLabels": {"alertname": "HighCPU", "job": "node", "severity": "warning"}}


def test_alertmanager_resolved_never_scales() -> None:
    s = parse_signal(alertmanager_bytes("resolved", ("resolved", "resolved")), "application/json")
    assert (s.kind, s.firing, should_act(s)) == ("alertmanager", False, False)
    assert "resolved, 2 alerts (0 firing)" in s.summary


def test_alertmanager_bad_bodies() -> None:
    with pytest.raises(SignalError, match="status must be firing or resolved, got 'pending'"):
        parse_signal(b'{"version": "4", "status": "pending", "alerts": []}', "application/json")
    with pytest.raises(SignalError, match="alerts must be a list of alert objects"):
        parse_signal(b'{"version": "4", "status": "firing", "alerts": {"a": 1}}', "application/json")


@pytest.mark.parametrize("body", [b"", b"   \n\t", b"\r\n"])
def test_empty_acts(body: bytes) -> None:
    s = parse_signal(body, "application/x-www-form-urlencoded")
    assert (s.kind, s.firing, should_act(s), s.summary) == ("empty", None, True, "empty signal")


def test_other_json_acts() -> None:
    s = parse_signal(b'{"scale": "out", "by": "operator"}', "application/json")
    assert (s.kind, s.firing, should_act(s)) == ("json", None, True)
    assert s.summary == "JSON signal with keys by, scale"
    assert parse_signal(b'{"version": "4"}', None).kind == "json"  # no alerts: not Alertmanager's
    assert parse_signal(b"{}", None).summary == "JSON signal {}"


def test_refused_bodies() -> None:
    with pytest.raises(SignalError, match=r"signal body is not JSON \(sent as text/plain\): "):
        parse_signal(b"scale please", "text/plain")
    with pytest.raises(SignalError, match="signal body is not JSON"):
        parse_signal(b"\xff\xfe{", None)
    with pytest.raises(SignalError, match="must be a JSON object or empty, got an array"):
        parse_signal(b"[1, 2]", "application/json")
    with pytest.raises(SignalError, match="got null"):
        parse_signal(b"null", "application/json")
    with pytest.raises(SignalError, match="signal body is not JSON"):
        parse_signal(b"[" * 100_000, "application/json")  # deep nesting: a clear error, not a crash


def test_size_limit() -> None:
    padding = b" " * (MAX_BODY - 2)
    assert parse_signal(b"{}" + padding, None).kind == "json"  # exactly 1 MiB is read
    with pytest.raises(SignalError) as caught:
        parse_signal(b"{}" + padding + b" ", None)
    assert caught.value.status == 413 and "too large" in str(caught.value)
    assert isinstance(caught.value, PolicyError) and isinstance(caught.value, ValueError)
