"""The resource types the ingest protocols file their series under, created on first use.

An operator need not prepare anything before pointing an OpenTelemetry exporter or collectd at Telescale:
the first request creates the type (``telescale.ingest.series.ensure_resource_type``, as for Prometheus).
The attributes are all optional strings, so resources of these types can also be created and patched
through `/v1/resource`.
"""

from __future__ import annotations

from typing import Any


def _strings(*names: str) -> dict[str, dict[str, Any]]:
    return {n: {"type": "string", "required": False, "min_length": 0, "max_length": 255} for n in names}


#: OTLP: one resource per (service.name, service.instance.id or host.name).
OTLP = "otlp"
OTLP_ATTRIBUTES = _strings("service_name", "service_namespace", "service_instance_id", "host_name")
#: collectd: one resource per host collectd reports.
COLLECTD = "collectd"
COLLECTD_ATTRIBUTES = _strings("host")

