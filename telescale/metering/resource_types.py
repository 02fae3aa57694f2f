"""The resource types the agent's sources create resources of, as the API's resource type bodies.

The publisher creates a type the first time it needs it (when the API does not have it yet), so an agent
pointed at a fresh server works without a setup step. ``prometheus`` is Gnocchi's remote_write type, the
same definition, so that scraped and remote-written series of one ``job@instance`` land on one resource.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from telescale.metering.resources import INSTANCE_RESOURCE_TYPE


def _string(required: bool = False, max_length: int = 255) -> dict[str, Any]:
    return {"type": "string", "required": required, "min_length": 0 if not required else 1,
            "max_length": max_length}


RESOURCE_TYPES: Mapping[str, Mapping[str, Any]] = {
    # one per host running an agent; id = host name
    "host": {"host_name": _string(required=True)},
    # the processes matched by one `sources.process.match` entry, summed; id = "<host>:<label>"
    "host_process": {"host_name": _string(required=True), "process_name": _string(required=True)},
    # one exporter target (scraped) or remote_write source; id = "job@instance"
    "prometheus": {"job": _string(required=True), "instance": _string(required=True)},
    # a Nova server (notifications, inventory); id = the server's UUID; Ceilometer's definition, so a
    # deployment whose type was made by `ceilometer-upgrade` gets the same resources
    "instance": INSTANCE_RESOURCE_TYPE["attributes"],
}
