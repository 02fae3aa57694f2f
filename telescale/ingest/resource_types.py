"""The resource types the ingest protocols file their series under, created on first use.

An operator need not prepare anything before pointing an OpenTelemetry exporter or collectd at Telescale:
the first request creates the type (one cheap lookup per request afterwards).  The attributes are all
optional strings, so resources of these types can also be created and patched through `/v1/resource`.
"""

from __future__ import annotations

import contextlib
from collections.abc import Mapping
from typing import Any

from telescale import indexer as idx


def _strings(*names: str) -> dict[str, dict[str, Any]]:
    return {n: {"type": "string", "required": False, "min_length": 0, "max_length": 255} for n in names}


#: OTLP: one resource per (service.name, service.instance.id or host.name).
OTLP = "otlp"
OTLP_ATTRIBUTES = _strings("service_name", "service_namespace", "service_instance_id", "host_name")
#: collectd: one resource per host collectd reports.
COLLECTD = "collectd"
COLLECTD_ATTRIBUTES = _strings("host")


def ensure(indexer: idx.Indexer, name: str, attributes: Mapping[str, Mapping[str, Any]]) -> None:
    """Create resource type ``name`` unless it exists (another process may create it at the same time)."""
    try:
        indexer.get_resource_type(name)
    except idx.NoSuchResourceType:
        with contextlib.suppress(idx.ResourceTypeAlreadyExists):
            indexer.create_resource_type(name, attributes)
