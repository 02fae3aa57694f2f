"""Instance lifecycle notifications → ``instance`` resources (created, updated, ended).

Both of Nova's formats are read: legacy ``compute.instance.*`` (payload keys ``instance_id``,
``instance_type``, ``instance_flavor_id``, ``image_meta``…) and versioned ``instance.*`` (``uuid``,
``flavor: {flavorid, name}``, ``image_uuid``; the ``nova_object`` wrappers are already removed). The
attributes are those of the ``instance`` resource type Ceilometer creates in Gnocchi
(:data:`INSTANCE_RESOURCE_TYPE`, which the publisher creates when it is missing): ``display_name``,
``flavor_id``, ``flavor_name``, ``host``, ``image_ref``, ``server_group`` (from the server metadata
``metering.server_group`` that Heat's autoscaling sets), plus the generic ``started_at`` and ``ended_at``.

* ``*.create.end`` creates it: ``started_at`` = ``launched_at`` or ``created_at``;
* ``*.delete.end`` ends it: ``ended_at`` = ``deleted_at`` or ``terminated_at`` or the notification's time;
* any other ``*.end`` (resize, migration, rebuild, power …) and ``exists`` updates the attributes;
  ``*.start``, ``*.error`` and ``update`` give nothing (the instance may not exist yet, or is half-done).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from telescale.metering.envelope import Notification, iso, parse_time
from telescale.metering.sample import ResourceUpdate

__all__ = ["INSTANCE_RESOURCE_TYPE", "instance_update"]

_STRING = {"type": "string", "min_length": 0, "max_length": 255}
#: ``POST /v1/resource_type`` body of the ``instance`` type (Ceilometer's definition in Gnocchi).
INSTANCE_RESOURCE_TYPE: dict[str, Any] = {"name": "instance", "attributes": {
    "display_name": {**_STRING, "required": True},
    "flavor_id": {**_STRING, "required": True},
    "host": {**_STRING, "required": True},
    "image_ref": {**_STRING, "required": False},
    "server_group": {**_STRING, "required": False},
    "flavor_name": {**_STRING, "required": False},
}}
SERVER_GROUP_KEY = "metering.server_group"


def instance_update(notification: Notification) -> ResourceUpdate | None:
    """The resource update an instance notification means, or ``None``."""
    event_type = notification.event_type
    action = event_type.removeprefix("compute.").removeprefix("instance.")
    if action == event_type or not isinstance(notification.payload, Mapping):
        return None
    if not (action.endswith(".end") or action == "exists"):
        return None
    payload = notification.payload
    instance_id = _first(payload, "instance_id", "uuid")
    if instance_id is None:
        return None
    attributes = instance_attributes(payload)
    if action == "create.end":
        started = _time(_first(payload, "launched_at", "created_at"))
        if started:
            attributes["started_at"] = started
    elif action == "delete.end":
        attributes["ended_at"] = (_time(_first(payload, "deleted_at", "terminated_at"))
                                  or iso(notification.timestamp))
    return ResourceUpdate("instance", str(instance_id), attributes,
                          project_id=_text(_first(payload, "tenant_id", "project_id")),
                          user_id=_text(_first(payload, "user_id")))


def instance_attributes(payload: Mapping[str, Any]) -> dict[str, Any]:
    flavor = payload.get("flavor") if isinstance(payload.get("flavor"), Mapping) else {}
    image_meta = payload.get("image_meta") if isinstance(payload.get("image_meta"), Mapping) else {}
    metadata = payload.get("metadata") if isinstance(payload.get("metadata"), Mapping) else {}
    image_url = _text(payload.get("image_ref_url"))
    found = {
        "display_name": _first(payload, "display_name"),
        "host": _first(payload, "host"),
        "flavor_id": _first(payload, "instance_flavor_id") or _first(flavor, "flavorid", "id"),
        "flavor_name": _first(payload, "instance_type") or _first(flavor, "name"),
        "image_ref": (_first(payload, "image_uuid", "image_ref") or _first(image_meta, "base_image_ref")
                      or (image_url.rstrip("/").rpartition("/")[2] if image_url else None)),
        "server_group": _first(metadata, SERVER_GROUP_KEY),
    }
    return {k: str(v) for k, v in found.items() if v is not None}


def _first(mapping: Mapping[str, Any], *keys: str) -> Any:
    for key in keys:
        value = mapping.get(key)
        if value not in (None, ""):
            return value
    return None


def _text(value: Any) -> str | None:
    return None if value in (None, "") else str(value)


def _time(value: Any) -> str | None:
    if value in (None, ""):
        return None
    try:
        return iso(parse_time(value))
    except ValueError:
        return None
