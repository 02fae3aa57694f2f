"""Nova instance notifications as they travel on AMQP (oslo envelope), legacy and versioned, for the
agent's notification tests. Shapes follow Nova's ``info_from_instance`` (legacy) and its
``doc/notification_samples/instance-create-end.json`` (versioned); values are made up."""

from __future__ import annotations

import json
import uuid
from typing import Any

INSTANCE = "3a1b6e52-5b52-4c5b-9d8e-1f2a3b4c5d6e"
PROJECT = "7b9e1d6f0a3c4e5f8a9b0c1d2e3f4a5b"
USER = "0c4e2a1b9d8f7e6a5b4c3d2e1f0a9b8c"
IMAGE = "155d900f-4e14-4e4c-a73d-069cbf4541e6"


def legacy_payload(**changes: Any) -> dict[str, Any]:
    payload = {
        "tenant_id": PROJECT, "user_id": USER, "instance_id": INSTANCE, "display_name": "web-1",
        "reservation_id": "r-abc", "hostname": "web-1", "instance_type": "m1.small", "instance_type_id": 2,
        "instance_flavor_id": "2", "architecture": "x86_64", "memory_mb": 2048, "disk_gb": 20, "vcpus": 1,
        "root_gb": 20, "ephemeral_gb": 0, "host": "compute-1", "node": "compute-1.example",
        "availability_zone": "nova", "cell_name": "", "created_at": "2026-03-01 10:00:00+00:00",
        "terminated_at": "", "deleted_at": "", "launched_at": "2026-03-01T10:00:30.000000",
        "image_ref_url": f"http://glance:9292/images/{IMAGE}", "os_type": None, "kernel_id": "",
        "ramdisk_id": "", "state": "active", "state_description": "", "progress": "", "access_ip_v4": None,
        "access_ip_v6": None, "fixed_ips": [], "image_meta": {"base_image_ref": IMAGE},
        "metadata": {"metering.server_group": "stack-web"},
    }
    payload.update(changes)
    return payload


def versioned_payload(**changes: Any) -> dict[str, Any]:
    flavor = {"nova_object.name": "FlavorPayload", "nova_object.namespace": "nova", "nova_object.version": "1.4",
              "nova_object.data": {"flavorid": "2", "name": "m1.small", "memory_mb": 2048, "vcpus": 1,
                                   "root_gb": 20, "ephemeral_gb": 0, "disabled": False, "is_public": True}}
    data = {"uuid": INSTANCE, "tenant_id": PROJECT, "user_id": USER, "display_name": "web-1", "host": "compute-1",
            "node": "compute-1.example", "flavor": flavor, "state": "active", "power_state": "running",
            "image_uuid": IMAGE, "metadata": {"metering.server_group": "stack-web"},
            "created_at": "2026-03-01T10:00:00Z", "launched_at": "2026-03-01T10:00:30Z", "deleted_at": None,
            "ip_addresses": []}
    data.update(changes)
    return {"nova_object.name": "InstanceCreatePayload", "nova_object.namespace": "nova",
            "nova_object.version": "1.10", "nova_object.data": data}


def message(event_type: str, payload: Any, *, versioned: bool = False, timestamp: str = "2026-03-01 10:00:31.5",
            message_id: str | None = None) -> dict[str, Any]:
    """The oslo message (what is inside the envelope)."""
    return {"message_id": message_id or str(uuid.uuid4()), "event_type": event_type,
            "publisher_id": "nova-compute:compute-1" if versioned else "compute.compute-1",
            "priority": "INFO", "payload": payload, "timestamp": timestamp,
            "_context_request_id": "req-1", "_context_user_id": USER, "_context_project_id": PROJECT}


def envelope(inner: dict[str, Any]) -> bytes:
    """oslo.messaging 2.0 on the wire: the message as a JSON string inside a JSON object."""
    return json.dumps({"oslo.version": "2.0", "oslo.message": json.dumps(inner)}).encode()
