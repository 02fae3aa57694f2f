"""Aodh's per-project quotas (``/v2/quotas``): one limit per (project, resource); -1 is unlimited."""

from __future__ import annotations

from collections.abc import Mapping

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from telescale.indexer import errors
from telescale.indexer.engine import IndexerEngine
from telescale.indexer.models import AlarmQuotaRow


def _quotas(s: Session, project_id: str) -> dict[str, int]:
    rows = s.execute(
        sa.select(AlarmQuotaRow.resource, AlarmQuotaRow.limit)
        .where(AlarmQuotaRow.project_id == project_id)
        .order_by(AlarmQuotaRow.resource)
    )
    return {resource: limit for resource, limit in rows}


class AlarmQuotas(IndexerEngine):
    def get_quotas(self, project_id: str) -> dict[str, int]:
        """The project's limits by resource (empty when none was set: the API applies its defaults)."""
        with self._read() as s:
            return _quotas(s, project_id)

    def set_quotas(self, project_id: str, quotas: Mapping[str, int]) -> dict[str, int]:
        """Set (insert or replace) the given limits; the others stay. Returns all the project's limits."""
        for resource, limit in quotas.items():
            if isinstance(limit, bool) or not isinstance(limit, int) or limit < -1:
                raise errors.InvalidAlarmValue(resource, limit, "an integer >= -1")
        with self._write() as s:
            if quotas:
                insert = postgresql.insert if s.get_bind().dialect.name == "postgresql" else sqlite.insert
                statement = insert(AlarmQuotaRow).values(
                    [{"project_id": project_id, "resource": r, "limit": n} for r, n in quotas.items()]
                )
                s.execute(statement.on_conflict_do_update(
                    index_elements=["project_id", "resource"], set_={"limit": statement.excluded.limit}
                ))
            return _quotas(s, project_id)

    def delete_quotas(self, project_id: str) -> None:
        """Forget the project's limits (the defaults apply again)."""
        with self._write() as s:
            s.execute(sa.delete(AlarmQuotaRow).where(AlarmQuotaRow.project_id == project_id))
