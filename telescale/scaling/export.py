"""A group's desired and current size stored in Telescale itself, so they can be graphed next to the load.

Each group has a resource of type ``scaling_group`` (id = the group's id, in the group's project) with two
metrics, ``desired_capacity`` and ``current_size``, under the archive policy ``scaling`` (10 s for a day,
1 min for 30 days; last, min, max, mean), all created on first use. A point is written whenever an action
ends and whenever the scaler passes over the group, through the same durable incoming path as any measure.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import uuid
from typing import Any

import numpy as np

from telescale.config import Settings
from telescale.indexer import errors
from telescale.indexer.engine import utcnow
from telescale.scaling.model import Group
from telescale.timeseries.policy import NS_PER_SECOND, ArchivePolicy, PolicyItem

LOG = logging.getLogger(__name__)
RESOURCE_TYPE = "scaling_group"
POLICY_NAME = "scaling"
METRICS = ("desired_capacity", "current_size")
CREATOR = "telescale-scaler"


def scaling_archive_policy() -> ArchivePolicy:
    day = 86_400 * NS_PER_SECOND
    return ArchivePolicy(POLICY_NAME, 0, (PolicyItem.build(granularity=10 * NS_PER_SECOND, timespan=day),
                                          PolicyItem.build(granularity=60 * NS_PER_SECOND, timespan=30 * day)),
                         ("last", "min", "max", "mean"))


class SizeExporter:
    """Writes the sizes of groups as measures; creates what they need once per process."""

    def __init__(self, settings: Settings, indexer: Any = None, incoming: Any = None) -> None:
        from telescale.drivers import build_incoming
        from telescale.indexer import Indexer

        self._own = indexer is None
        self.indexer = indexer or Indexer(settings.indexer_url)
        self.incoming = incoming or build_incoming(settings)
        self._metrics: dict[uuid.UUID, dict[str, uuid.UUID]] = {}
        self._ready = False
        self._lock = threading.Lock()

    def close(self) -> None:
        if self._own:
            self.indexer.dispose()

    def export(self, group: Group) -> None:
        """One point of each size, now; failures are logged (the sizes are a view, not the truth)."""
        try:
            ids = self._ensure(group)
            now = np.array([np.datetime64(utcnow().replace(tzinfo=None), "ns").astype(np.int64)])
            self.incoming.add_measures({
                ids["desired_capacity"]: (now, np.array([float(group.desired_capacity)])),
                ids["current_size"]: (now, np.array([float(group.current_size)])),
            })
        except Exception:
            LOG.exception("cannot store the sizes of scaling group %s", group.id)

    def _ensure(self, group: Group) -> dict[str, uuid.UUID]:
        with self._lock:
            if group.id in self._metrics:
                return self._metrics[group.id]
            if not self._ready:
                self._create_type_and_policy()
                self._ready = True
            resource = self.indexer.get_resource(RESOURCE_TYPE, group.id)
            if resource is None:
                try:
                    resource = self.indexer.create_resource(
                        RESOURCE_TYPE, group.id, str(group.id), CREATOR, project_id=group.project_id,
                        user_id=group.user_id, attributes={"name": group.name},
                        metrics={m: {"archive_policy_name": POLICY_NAME} for m in METRICS})
                except errors.ResourceAlreadyExists:
                    resource = self.indexer.get_resource(RESOURCE_TYPE, group.id)
            self._metrics[group.id] = {name: mid for name, mid in resource.metrics.items() if name in METRICS}
            return self._metrics[group.id]

    def _create_type_and_policy(self) -> None:
        with contextlib.suppress(errors.ArchivePolicyAlreadyExists):
            self.indexer.create_archive_policy(scaling_archive_policy())
        with contextlib.suppress(errors.ResourceTypeAlreadyExists):
            self.indexer.create_resource_type(RESOURCE_TYPE, {"name": {"type": "string", "required": False,
                                                                       "max_length": 255}})
