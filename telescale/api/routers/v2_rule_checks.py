"""Checks of an alarm's rule against the indexer, before it is stored.

Aodh asks Gnocchi whether a ``gnocchi_aggregation_by_resources_threshold`` query is valid; here the
query is run through the same resource search the API serves (one row at most). And where Aodh does not
look at all, the resources and metrics an alarm names are checked against the project the alarm may read
(its data scope): a resource or metric that exists but belongs to another project is refused, so no
alarm can watch another project's data. One that does not exist (yet) is accepted, as in Aodh, since
alarms are often created before their resources (a Heat stack creates both at once); the evaluator reads
in the alarm's project scope all the same.
"""

from __future__ import annotations

import json
from typing import Any

from telescale import indexer as idx
from telescale.alarming.definitions import metric_ids, resource_checks
from telescale.alarming.rule_types import leaves
from telescale.api.errors import ApiError
from telescale.api.ids import resource_uuid
from telescale.api.routers.v2_common import parse_uuid
from telescale.indexer import search


def _owned_by(project: str, owner: str | None, creator: str | None) -> bool:
    """Whether a project may read an object: it owns it, or created it (Gnocchi's owner/creator rules)."""
    return project in (owner, idx.split_creator(creator)[1])


def _foreign(field: str, what: str, value: Any, project: str) -> ApiError:
    return ApiError(403, f"{field}: Not Authorized to access {what} {value}: it is not in project {project}")


def _check_resources(indexer: idx.Indexer, kind: str, rule: dict[str, Any], project: str, creator: str) -> None:
    for leaf_kind, _type, resource_id in resource_checks(kind, rule):
        resource = indexer.get_resource("generic", resource_uuid(resource_id, creator))
        if resource is not None and not _owned_by(project, resource.project_id, resource.creator):
            raise _foreign(f"{leaf_kind}_rule.resource_id", "resource", resource_id, project)


def _check_metrics(indexer: idx.Indexer, kind: str, rule: dict[str, Any], project: str) -> None:
    ids = {parse_uuid(m): m for m in metric_ids(kind, rule)}
    ids.pop(None, None)
    for metric in indexer.get_metrics(list(ids)):
        if _owned_by(project, None, metric.creator):
            continue
        resource = None if metric.resource_id is None else indexer.get_resource("generic", metric.resource_id)
        if resource is None or not _owned_by(project, resource.project_id, resource.creator):
            field = "gnocchi_aggregation_by_metrics_threshold_rule.metrics"
            raise _foreign(field, "metric", ids[metric.id], project)


def _check_queries(indexer: idx.Indexer, kind: str, rule: dict[str, Any], creator: str) -> None:
    """Each by-resources query must be a valid search of an existing resource type (Aodh asks Gnocchi)."""
    for leaf_kind, leaf in leaves(kind, rule):
        if leaf_kind != "gnocchi_aggregation_by_resources_threshold":
            continue
        try:
            node = search.parse_json_filter(json.loads(leaf["query"]))
            indexer.list_resources(leaf["resource_type"], filter_node=node, limit=1,
                                   id_transform=lambda value: resource_uuid(value, creator))
        except idx.NoSuchResourceType:
            raise ApiError(400, {"cause": "Resource type does not exist", "detail": leaf["resource_type"]}) from None
        except (ValueError, idx.IndexerError) as e:
            raise ApiError(400, f"{leaf_kind}_rule.query: {e}") from None


def check_rule(indexer: idx.Indexer, kind: str, rule: dict[str, Any], data_scope: str | None,
               creator: str) -> None:
    """400/403 for a rule the alarm's project may not evaluate; ``data_scope`` None: no restriction."""
    _check_queries(indexer, kind, rule, creator)
    if data_scope is not None:
        _check_resources(indexer, kind, rule, data_scope, creator)
        _check_metrics(indexer, kind, rule, data_scope)
