"""Scaling policies: create, read, list and delete a group's policies, their signal tokens, and the scaler's
schedule of the policies it evaluates by itself.

A policy is scoped through its group's project. A signal URL carries a secret token; only its SHA-256 is
stored (``token_hash``), so a leaked database does not leak working URLs, and a revoked token (NULL) or a
guessed one finds nothing. Target tracking, scheduled and triggered step policies carry
``next_evaluation_at``: due at once when created, then when the scaler schedules them next.
"""

from __future__ import annotations

import dataclasses
import datetime
import uuid
from collections.abc import Mapping
from typing import Any

import sqlalchemy as sa
from sqlalchemy import exc

from telescale.indexer import errors
from telescale.indexer.alarm_rows import plain
from telescale.indexer.engine import IndexerEngine, constraint_text, utcnow
from telescale.indexer.models import ScalingGroupRow, ScalingPolicyRow
from telescale.indexer.scaling_rows import (
    group_record,
    group_scope,
    policy_record,
    policy_values,
    select_groups,
    select_policies,
)
from telescale.scaling.model import Group, Policy

G = ScalingGroupRow
P = ScalingPolicyRow


def _check_token(token_hash: str | None) -> None:
    if token_hash is not None and (len(token_hash) != 64 or any(c not in "0123456789abcdef" for c in token_hash)):
        raise errors.InvalidScalingValue("token_hash", "a token hash is the SHA-256 of the token in lowercase hex")


def _visible_policy(policy_id: uuid.UUID, project: str | None) -> sa.Select[Any]:
    """The policy's row if its group is in scope."""
    return (select_policies().join(G, G.id == P.group_id)
            .where(P.id == policy_id, group_scope(project)))


class ScalingPolicies(IndexerEngine):
    def create_scaling_policy(self, policy: Policy, token_hash: str | None) -> Policy:
        """Store a new policy of an existing group with the hash of its signal token (None: no signal URL).

        Raises :class:`NoSuchScalingGroup`, :class:`ScalingPolicyAlreadyExists` (a name is unique per group),
        :class:`InvalidScalingValue` (a type without its spec, a malformed hash, a hash in use)."""
        _check_token(token_hash)
        policy = dataclasses.replace(policy, created_at=policy.created_at or utcnow())
        values = policy_values(policy, token_hash)
        try:
            with self._write() as s:
                if s.scalar(sa.select(G.id).where(G.id == policy.group_id).with_for_update()) is None:
                    raise errors.NoSuchScalingGroup(policy.group_id)
                if s.scalar(sa.select(P.id).where(P.group_id == policy.group_id, P.name == policy.name)):
                    raise errors.ScalingPolicyAlreadyExists(policy.name, policy.group_id)
                if token_hash is not None and s.scalar(sa.select(P.id).where(P.token_hash == token_hash)):
                    raise errors.InvalidScalingValue("token_hash", "this token is in use by another policy")
                s.execute(sa.insert(P).values(values))
        except exc.IntegrityError as e:
            text = constraint_text(e)
            if "uq_scaling_policy_group_id_name" in text or "scaling_policy.group_id, scaling_policy.name" in text:
                raise errors.ScalingPolicyAlreadyExists(policy.name, policy.group_id) from None
            if "token_hash" in text:
                raise errors.InvalidScalingValue("token_hash", "this token is in use by another policy") from None
            raise
        return policy

    def get_scaling_policy(self, policy_id: uuid.UUID, project: str | None) -> Policy:
        with self._read() as s:
            row = s.execute(_visible_policy(policy_id, project)).first()
        if row is None:
            raise errors.NoSuchScalingPolicy(policy_id, project)
        return policy_record(row)

    def list_scaling_policies(self, group_id: uuid.UUID, project: str | None) -> list[Policy]:
        """The group's policies, oldest first; :class:`NoSuchScalingGroup` if the group is not in scope."""
        with self._read() as s:
            if s.scalar(sa.select(G.id).where(G.id == group_id, group_scope(project))) is None:
                raise errors.NoSuchScalingGroup(group_id, project)
            rows = s.execute(select_policies().where(P.group_id == group_id).order_by(P.created_at, P.id))
            return [policy_record(row) for row in rows]

    def delete_scaling_policy(self, policy_id: uuid.UUID, project: str | None) -> Policy:
        """Delete the policy (its signal URL stops working at once); returns it."""
        with self._write() as s:
            row = s.execute(_visible_policy(policy_id, project)).first()
            if row is None:
                raise errors.NoSuchScalingPolicy(policy_id, project)
            s.execute(sa.delete(P).where(P.id == policy_id))
        return policy_record(row)

    def set_policy_token(self, policy_id: uuid.UUID, project: str | None, token_hash: str | None) -> None:
        """Rotate the signal token (the old URL stops working) or revoke it (None)."""
        _check_token(token_hash)
        with self._write() as s:
            if s.execute(_visible_policy(policy_id, project)).first() is None:
                raise errors.NoSuchScalingPolicy(policy_id, project)
            if token_hash is not None and s.scalar(
                sa.select(P.id).where(P.token_hash == token_hash, P.id != policy_id)
            ):
                raise errors.InvalidScalingValue("token_hash", "this token is in use by another policy")
            s.execute(sa.update(P).where(P.id == policy_id).values(token_hash=token_hash))

    def policy_by_token(self, token_hash: str) -> tuple[Policy, Group]:
        """The policy of a signal URL and its group; :class:`NoSuchScalingPolicy` for an unknown or revoked
        token (the message never repeats the token)."""
        with self._read() as s:
            policy = s.execute(select_policies().where(P.token_hash == token_hash)).first()
            if policy is None:
                raise errors.NoSuchScalingPolicy("for this signal URL")
            group = s.execute(select_groups().where(G.id == policy.group_id)).one()
        return policy_record(policy), group_record(group)

    def due_scaling_policies(self, now: datetime.datetime, *, limit: int = 500) -> list[tuple[Policy, Group]]:
        """Enabled policies the scaler evaluates by itself whose ``next_evaluation_at`` has come, most overdue
        first, each with its group."""
        with self._read() as s:
            policies = list(s.execute(
                select_policies()
                .where(P.enabled.is_(True), P.next_evaluation_at.is_not(None), P.next_evaluation_at <= now)
                .order_by(P.next_evaluation_at, P.id)
                .limit(limit)
            ))
            group_ids = {p.group_id for p in policies}
            groups = {row.id: group_record(row) for row in s.execute(select_groups().where(G.id.in_(group_ids)))}
        return [(policy_record(p), groups[p.group_id]) for p in policies if p.group_id in groups]

    def schedule_policy(
        self,
        policy_id: uuid.UUID,
        next_evaluation_at: datetime.datetime | None,
        state: Mapping[str, Any] | None = None,
    ) -> None:
        """When the scaler evaluates the policy next (None: only signals) and, if given, its new ``state``."""
        values: dict[str, Any] = {"next_evaluation_at": next_evaluation_at}
        if state is not None:
            values["state"] = plain(dict(state))
        with self._write() as s:
            if not s.execute(sa.update(P).where(P.id == policy_id).values(values)).rowcount:
                raise errors.NoSuchScalingPolicy(policy_id)

