"""One OpenStack notification as it arrives on AMQP, decoded from oslo.messaging's envelope.

oslo.messaging sends ``{"oslo.version": "2.0", "oslo.message": "<the message as a JSON string>"}``; the
older 1.0 form is the message itself. The message holds ``message_id, publisher_id, event_type, priority,
payload, timestamp`` and the request context as ``_context_*`` keys. Nova's versioned notifications wrap
objects as ``{"nova_object.name": …, "nova_object.data": {…}}``: those wrappers are removed (recursively)
so one jsonpath (``$.payload.flavor.memory_mb``) reads both formats' fields alike.

:meth:`Notification.document` is what meter and event definitions' jsonpaths read, in the shape
Ceilometer's meters.yaml expressions expect: ``event_type, publisher_id, priority, payload, ctxt,
metadata: {message_id, timestamp}``.
"""

from __future__ import annotations

import datetime
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import orjson

__all__ = ["Notification", "UndecodableMessage", "decode", "parse_time"]

OVO_DATA = "nova_object.data"


class UndecodableMessage(ValueError):
    """The message body is not an oslo.messaging notification; the text says what is wrong."""


@dataclass(frozen=True)
class Notification:
    message_id: str
    event_type: str
    publisher_id: str
    priority: str
    timestamp: float  # seconds since the epoch
    payload: Any
    ctxt: Mapping[str, Any] = field(default_factory=dict)

    @property
    def generated(self) -> str:
        """The timestamp in ISO 8601 with its offset."""
        return iso(self.timestamp)

    def document(self) -> dict[str, Any]:
        return {"event_type": self.event_type, "publisher_id": self.publisher_id, "priority": self.priority,
                "payload": self.payload, "ctxt": dict(self.ctxt), "message_id": self.message_id,
                "timestamp": self.generated,
                "metadata": {"message_id": self.message_id, "timestamp": self.generated}}


def decode(body: bytes | str) -> Notification:
    """The notification in an AMQP body (oslo 2.0 envelope or bare 1.0 message)."""
    try:
        message = orjson.loads(body)
    except orjson.JSONDecodeError as e:
        raise UndecodableMessage(f"not JSON: {e}") from None
    if not isinstance(message, dict):
        raise UndecodableMessage(f"a JSON {type(message).__name__}, not an object")
    if "oslo.message" in message:
        version = message.get("oslo.version")
        if not isinstance(version, str) or version.split(".")[0] != "2":
            raise UndecodableMessage(f"oslo.version {version!r} is not 2.x")
        inner = message["oslo.message"]
        try:
            message = orjson.loads(inner) if isinstance(inner, str | bytes) else inner
        except orjson.JSONDecodeError as e:
            raise UndecodableMessage(f"oslo.message is not JSON: {e}") from None
        if not isinstance(message, dict):
            raise UndecodableMessage("oslo.message is not a JSON object")
    for key in ("event_type", "message_id"):
        if not isinstance(message.get(key), str) or not message[key]:
            raise UndecodableMessage(f"{key}: missing or not a string (is this a notification?)")
    try:
        timestamp = parse_time(message.get("timestamp"))
    except ValueError as e:
        raise UndecodableMessage(f"timestamp: {e}") from None
    ctxt = {k.removeprefix("_context_"): v for k, v in message.items() if k.startswith("_context_")}
    if isinstance(message.get("context"), dict):
        ctxt.update(message["context"])
    return Notification(message["message_id"], message["event_type"], str(message.get("publisher_id") or ""),
                        str(message.get("priority") or "INFO").lower(), timestamp,
                        unwrap(message.get("payload")), ctxt)


def unwrap(value: Any) -> Any:
    """Versioned notifications' ``{"nova_object.data": …}`` wrappers replaced by their data, all levels."""
    if isinstance(value, dict):
        if OVO_DATA in value and isinstance(value[OVO_DATA], dict):
            value = value[OVO_DATA]
        return {k: unwrap(v) for k, v in value.items()}
    if isinstance(value, list):
        return [unwrap(v) for v in value]
    return value


def parse_time(value: Any) -> float:
    """OpenStack's times (``2026-01-01 10:00:00.123456``, ISO 8601, UTC when naive) in epoch seconds."""
    if isinstance(value, int | float) and not isinstance(value, bool):
        return float(value)
    if not isinstance(value, str) or not value:
        raise ValueError(f"not a time: {value!r}")
    text = value.strip().replace("Z", "+00:00")
    try:
        moment = datetime.datetime.fromisoformat(text)
    except ValueError:
        raise ValueError(f"not a time: {value!r}") from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=datetime.UTC)
    return moment.timestamp()


def iso(seconds: float) -> str:
    return datetime.datetime.fromtimestamp(seconds, datetime.UTC).isoformat()
