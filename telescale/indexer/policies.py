"""Archive policies and the rules that pick one for a new metric by its name."""

from __future__ import annotations

import fnmatch
from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy import exc
from sqlalchemy.orm import Session

from telescale.indexer import errors
from telescale.indexer.engine import IndexerEngine, constraint_text
from telescale.indexer.models import ArchivePolicyRow, ArchivePolicyRuleRow, MetricRow
from telescale.indexer.records import ArchivePolicyRule
from telescale.timeseries.policy import ArchivePolicy, PolicyItem

DEFAULT_RULE = ArchivePolicyRule(name="default", metric_pattern="*", archive_policy_name="low")


def definition_to_json(definition: Sequence[PolicyItem]) -> list[dict[str, Any]]:
    return [{"granularity_ns": int(d.granularity), "points": d.points} for d in definition]


def policy_record(row: ArchivePolicyRow) -> ArchivePolicy:
    return ArchivePolicy(
        name=row.name,
        back_window=row.back_window,
        definition=tuple(PolicyItem(granularity=d["granularity_ns"], points=d["points"]) for d in row.definition),
        aggregation_methods=tuple(row.aggregation_methods),
    )


def _rule(row: ArchivePolicyRuleRow) -> ArchivePolicyRule:
    return ArchivePolicyRule(
        name=row.name, metric_pattern=row.metric_pattern, archive_policy_name=row.archive_policy_name
    )


def _sorted_rules(rows: Sequence[ArchivePolicyRuleRow]) -> list[ArchivePolicyRule]:
    """Gnocchi's order: metric_pattern descending, then name ascending.

    Sorted in Python (code-point order) rather than SQL so the precedence does not depend on the
    database collation: the same rules match the same metrics on SQLite and on PostgreSQL.
    """
    rules = sorted((_rule(r) for r in rows), key=lambda r: r.name)
    return sorted(rules, key=lambda r: r.metric_pattern, reverse=True)


def match_rule(s: Session, metric_name: str | None) -> ArchivePolicyRule | None:
    for rule in _sorted_rules(s.scalars(sa.select(ArchivePolicyRuleRow)).all()):
        if fnmatch.fnmatchcase(metric_name or "", rule.metric_pattern):
            return rule
    return None


class ArchivePolicies(IndexerEngine):
    # --- archive policies -----------------------------------------------------------------------------

    def create_archive_policy(self, policy: ArchivePolicy) -> ArchivePolicy:
        try:
            with self._write() as s:
                if s.get(ArchivePolicyRow, policy.name) is not None:
                    raise errors.ArchivePolicyAlreadyExists(policy.name)
                s.add(
                    ArchivePolicyRow(
                        name=policy.name,
                        back_window=policy.back_window,
                        definition=definition_to_json(policy.definition),
                        aggregation_methods=list(policy.aggregation_methods),
                    )
                )
        except exc.IntegrityError:
            raise errors.ArchivePolicyAlreadyExists(policy.name) from None
        return policy

    def get_archive_policy(self, name: str) -> ArchivePolicy | None:
        with self._read() as s:
            row = s.get(ArchivePolicyRow, name)
            return None if row is None else policy_record(row)

    def list_archive_policies(self) -> list[ArchivePolicy]:
        with self._read() as s:
            return [policy_record(r) for r in s.scalars(sa.select(ArchivePolicyRow).order_by(ArchivePolicyRow.name))]

    def update_archive_policy(
        self, name: str, definition: Sequence[PolicyItem], *, back_window: int | None = None
    ) -> ArchivePolicy:
        """Replace the definition (the caller checked the granularities did not change)."""
        values: dict[str, Any] = {"definition": definition_to_json(definition)}
        if back_window is not None:
            values["back_window"] = back_window
        with self._write() as s:
            result = s.execute(sa.update(ArchivePolicyRow).where(ArchivePolicyRow.name == name).values(**values))
            if result.rowcount == 0:
                raise errors.NoSuchArchivePolicy(name)
            row = s.get(ArchivePolicyRow, name, populate_existing=True)
            assert row is not None
            return policy_record(row)

    def delete_archive_policy(self, name: str) -> None:
        """Refused while any metric (even one waiting for the janitor) or any rule still uses it.

        Like Gnocchi (its foreign keys are ON DELETE RESTRICT): a deleted metric keeps its policy
        until it is expunged, because the janitor needs the definition to find the data to remove.
        """
        try:
            with self._write() as s:
                used = s.scalar(
                    sa.select(
                        sa.or_(
                            sa.exists().where(MetricRow.archive_policy_name == name),
                            sa.exists().where(ArchivePolicyRuleRow.archive_policy_name == name),
                        )
                    )
                )
                if used:
                    raise errors.ArchivePolicyInUse(name)
                result = s.execute(sa.delete(ArchivePolicyRow).where(ArchivePolicyRow.name == name))
                if result.rowcount == 0:
                    raise errors.NoSuchArchivePolicy(name)
        except exc.IntegrityError:
            raise errors.ArchivePolicyInUse(name) from None

    # --- archive policy rules -------------------------------------------------------------------------

    def create_archive_policy_rule(self, name: str, metric_pattern: str, archive_policy_name: str) -> ArchivePolicyRule:
        try:
            with self._write() as s:
                if s.get(ArchivePolicyRow, archive_policy_name) is None:
                    raise errors.NoSuchArchivePolicy(archive_policy_name)
                if s.get(ArchivePolicyRuleRow, name) is not None:
                    raise errors.ArchivePolicyRuleAlreadyExists(name)
                s.add(
                    ArchivePolicyRuleRow(
                        name=name, metric_pattern=metric_pattern, archive_policy_name=archive_policy_name
                    )
                )
        except exc.IntegrityError as e:
            if "archive_policy_name" in constraint_text(e) or "FOREIGN KEY" in constraint_text(e):
                raise errors.NoSuchArchivePolicy(archive_policy_name) from None
            raise errors.ArchivePolicyRuleAlreadyExists(name) from None
        return ArchivePolicyRule(name=name, metric_pattern=metric_pattern, archive_policy_name=archive_policy_name)

    def get_archive_policy_rule(self, name: str) -> ArchivePolicyRule | None:
        with self._read() as s:
            row = s.get(ArchivePolicyRuleRow, name)
            return None if row is None else _rule(row)

    def list_archive_policy_rules(self) -> list[ArchivePolicyRule]:
        """In Gnocchi's precedence order: metric_pattern descending, then name ascending."""
        with self._read() as s:
            return _sorted_rules(s.scalars(sa.select(ArchivePolicyRuleRow)).all())

    def rename_archive_policy_rule(self, name: str, new_name: str) -> ArchivePolicyRule:
        """Only the name of a rule can change (as in Gnocchi)."""
        try:
            with self._write() as s:
                row = s.get(ArchivePolicyRuleRow, name)
                if row is None:
                    raise errors.NoSuchArchivePolicyRule(name)
                if new_name == name:
                    return _rule(row)
                if s.get(ArchivePolicyRuleRow, new_name) is not None:
                    raise errors.UnsupportedArchivePolicyRuleChange(name, new_name)
                s.execute(
                    sa.update(ArchivePolicyRuleRow).where(ArchivePolicyRuleRow.name == name).values(name=new_name)
                )
                return ArchivePolicyRule(
                    name=new_name,
                    metric_pattern=row.metric_pattern,
                    archive_policy_name=row.archive_policy_name,
                )
        except exc.IntegrityError:
            raise errors.UnsupportedArchivePolicyRuleChange(name, new_name) from None

    def delete_archive_policy_rule(self, name: str) -> None:
        with self._write() as s:
            result = s.execute(sa.delete(ArchivePolicyRuleRow).where(ArchivePolicyRuleRow.name == name))
            if result.rowcount == 0:
                raise errors.NoSuchArchivePolicyRule(name)

    def match_archive_policy_rule(self, metric_name: str | None) -> ArchivePolicyRule | None:
        """The first rule, in :meth:`list_archive_policy_rules` order, whose fnmatch pattern matches.

        Matching is case-sensitive on every platform; an unnamed metric is matched as "".
        """
        with self._read() as s:
            return match_rule(s, metric_name)
