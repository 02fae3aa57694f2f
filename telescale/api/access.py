"""Checking the policy against the objects a request touches (metrics, resources) and scoping listings.

Targets carry the keys Gnocchi's rules read: the object's own fields, ``created_by_*`` split from its
creator, and for a metric its resource's ``project_id`` (loaded only when the cheaper checks fail).
Reads through :mod:`telescale.query` take the caller's visibility as a :class:`~telescale.query.scope.Scope`,
built here from the identity and the policy (:func:`metric_query_scope`, :func:`resource_query_scope`).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from fastapi import Request

from telescale import indexer as idx
from telescale.api.auth import Identity
from telescale.api.deps import services
from telescale.api.errors import forbidden
from telescale.api.policy import Policy, creator_fields
from telescale.indexer import search
from telescale.query.scope import UNRESTRICTED, Scope, narrow


def policy(request: Request) -> Policy:
    return request.app.state.policy


def enforce(request: Request, identity: Identity, rule: str, target: dict[str, Any] | None = None) -> None:
    policy(request).enforce(identity, rule, target or {})


def resource_target(resource: idx.Resource) -> dict[str, Any]:
    return {"id": str(resource.id), "type": resource.type, "resource_type": resource.type,
            "user_id": resource.user_id, "project_id": resource.project_id, **creator_fields(resource.creator)}


def enforce_resource(request: Request, identity: Identity, rule: str, resource: idx.Resource) -> None:
    policy(request).enforce(identity, rule, resource_target(resource))


def _metric_target(metric: idx.Metric) -> dict[str, Any]:
    return {"id": str(metric.id), "name": metric.name, "unit": metric.unit,
            "archive_policy_name": metric.archive_policy.name,
            "resource_id": str(metric.resource_id) if metric.resource_id else None, **creator_fields(metric.creator)}


def metric_allowed(request: Request, identity: Identity, rule: str, metric: idx.Metric,
                   owners: dict[Any, str | None] | None = None,
                   check: Callable[[Mapping[str, Any]], bool] | None = None) -> bool:
    """Whether ``rule`` allows ``identity`` on ``metric``; ``owners`` caches resource projects across calls,
    ``check`` (:meth:`Policy.checker`) the rule's decisions."""
    check = check or policy(request).checker(identity, rule)
    target = _metric_target(metric)
    if check(target):
        return True
    if metric.resource_id is None or not identity.scoped:
        return False
    owners = {} if owners is None else owners
    if metric.resource_id not in owners:
        resource = services(request).indexer.get_resource("generic", metric.resource_id)
        owners[metric.resource_id] = resource.project_id if resource else None
    target["resource"] = {"id": target["resource_id"], "project_id": owners[metric.resource_id]}
    return check(target)


def enforce_metrics(request: Request, identity: Identity, rule: str, metrics: list[idx.Metric]) -> None:
    """403 unless ``rule`` allows every one of ``metrics`` (the rule evaluated once per distinct target)."""
    owners: dict[Any, str | None] = {}
    check = policy(request).checker(identity, rule)
    for metric in metrics:
        if not metric_allowed(request, identity, rule, metric, owners, check):
            raise forbidden()


def resource_scope(request: Request, identity: Identity, rule: str, resource_type: str | None = None) -> Any:
    return policy(request).resource_scope(identity, rule, resource_type)


def with_scope(node: search.Node | None, scope: dict[str, Any] | None) -> search.Node | None:
    """A parsed search filter narrowed to a tenancy scope (a JSON filter; either may be None)."""
    return narrow(node, scope)


def metric_scope(request: Request, identity: Identity, rule: str) -> str | None:
    return policy(request).metric_scope(identity, rule)


def metric_query_scope(request: Request, identity: Identity, rule: str) -> Scope:
    """The metrics ``rule`` lets ``identity`` read, as a query scope (Gnocchi's ``list metric`` filter)."""
    project = metric_scope(request, identity, rule)
    return UNRESTRICTED if project is None else Scope.of_project(project)


def resource_query_scope(request: Request, identity: Identity, rule: str, resource_type: str | None = None
                         ) -> Scope:
    """The resources ``rule`` lets ``identity`` read, as a query scope: the clauses of
    :meth:`Policy.resource_scope` (owned by, or created by, the caller's project)."""
    scope = resource_scope(request, identity, rule, resource_type)
    if scope is None:
        return UNRESTRICTED
    fields = {name for clause in scope["or"] for name in clause["="]}
    return Scope.of_project(identity.project or "", owner="project_id" in fields,
                            creator="created_by_project_id" in fields)
