"""Resource updates applied through the Gnocchi v1 API: a hook the publisher can use or replace.

:func:`apply_to_api` creates the ``instance`` resource type if it is missing (Ceilometer's definition,
:data:`~telescale.metering.resources.INSTANCE_RESOURCE_TYPE`), creates each resource (``POST
/v1/resource/<type>``) and, when it exists already (409), patches the attributes sent; an update that
ends a resource is a patch first. Attributes are
sent as given: the publisher's cache decides whether an update has changed anything worth sending.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

import httpx

from telescale.metering.resources import INSTANCE_RESOURCE_TYPE
from telescale.metering.sample import ResourceUpdate

__all__ = ["apply_to_api"]

LOG = logging.getLogger(__name__)
KNOWN_TYPES = {"instance": INSTANCE_RESOURCE_TYPE}


def apply_to_api(client: httpx.Client, updates: Sequence[ResourceUpdate]) -> None:
    """Create or patch each resource; raises :class:`httpx.HTTPStatusError` on an answer it cannot handle."""
    ensured: set[str] = set()
    for update in updates:
        if update.resource_type in KNOWN_TYPES and update.resource_type not in ensured:
            _ensure_type(client, update.resource_type)
            ensured.add(update.resource_type)
        answer = _create_or_patch(client, update)
        if answer.is_error:
            LOG.warning("resource %s %s: %d %s", update.resource_type, update.resource_id, answer.status_code,
                        answer.text[-500:].strip())
        answer.raise_for_status()


def _create_or_patch(client: httpx.Client, update: ResourceUpdate) -> httpx.Response:
    """An end goes to a resource that usually exists: patched first, created (started when it ended) if
    missing; anything else is created first and patched if it exists. Creating an ended resource without
    ``started_at`` would be refused: it would start now, after its end."""
    path = f"/v1/resource/{update.resource_type}"
    body: dict[str, Any] = {"id": update.resource_id, **update.attributes}
    body.update({k: v for k, v in (("project_id", update.project_id), ("user_id", update.user_id)) if v})
    if "ended_at" in update.attributes:
        answer = client.patch(f"{path}/{update.resource_id}", json=dict(update.attributes))
        if answer.status_code != 404:
            return answer
        body.setdefault("started_at", update.attributes["ended_at"])
        return client.post(path, json=body)
    answer = client.post(path, json=body)
    if answer.status_code == 409:
        answer = client.patch(f"{path}/{update.resource_id}", json=dict(update.attributes))
    return answer


def _ensure_type(client: httpx.Client, name: str) -> None:
    if client.get(f"/v1/resource_type/{name}").status_code == 404:
        answer = client.post("/v1/resource_type", json=KNOWN_TYPES[name])
        if answer.status_code not in (201, 409):
            answer.raise_for_status()
        LOG.info("resource type %r created", name)
