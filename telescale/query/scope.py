"""What a caller may read, as a plain value: everything, or what belongs to one project.

The API builds a :class:`Scope` from the caller's identity and the policy (``telescale.api.access``); the
alarm evaluator builds one from an alarm's ``project_id`` (or :data:`UNRESTRICTED` for an admin's alarm).
The read path (:class:`telescale.query.reader.Query`) applies it the way Gnocchi's policy filters listings
for a project member:

* a resource is visible when its ``project_id`` is the project (``owner``) or the project created it
  (``creator``) — the two clauses Gnocchi's default rules grant; a policy may grant only one;
* a metric is visible when the project created it, or when it is attached to a resource whose
  ``project_id`` is (or which was created by) the project — Gnocchi's ``list metric`` filter.

What a scope does not see is reported exactly like what does not exist, so a scope never reveals it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

from telescale.indexer import search

__all__ = ["UNRESTRICTED", "Scope", "narrow"]


def narrow(node: search.Node | None, scope_filter: dict[str, Any] | None) -> search.Node | None:
    """A parsed search filter narrowed by a JSON filter (either may be None)."""
    if scope_filter is None:
        return node
    parsed = search.parse_json_filter(scope_filter)
    return parsed if node is None else search.And((parsed, node))


@dataclass(frozen=True)
class Scope:
    """``project`` None: unrestricted.  ``owner`` / ``creator``: which resource clauses apply."""

    project: str | None = None
    owner: bool = True
    creator: bool = True

    UNRESTRICTED: ClassVar[Scope]

    @classmethod
    def of_project(cls, project: str, *, owner: bool = True, creator: bool = True) -> Scope:
        return cls(project, owner, creator)

    @property
    def restricted(self) -> bool:
        return self.project is not None

    def resource_filter(self) -> dict[str, Any] | None:
        """A JSON search filter (Gnocchi's form) selecting the visible resources; None when unrestricted."""
        if self.project is None:
            return None
        clauses = []
        if self.owner:
            clauses.append({"=": {"project_id": self.project}})
        if self.creator:
            clauses.append({"=": {"created_by_project_id": self.project}})
        # Neither clause: nothing is visible (an id no resource has).
        return {"or": clauses} if clauses else {"=": {"id": "00000000-0000-0000-0000-000000000000"}}

    def narrow(self, node: search.Node | None) -> search.Node | None:
        """``node`` (a parsed resource filter, or None for all) limited to the resources this scope sees."""
        return narrow(node, self.resource_filter())

    def sees_resource(self, project_id: str | None, created_by_project_id: str | None) -> bool:
        """Whether a resource with these fields is visible (the same rule as :meth:`resource_filter`)."""
        if self.project is None:
            return True
        return (self.owner and project_id == self.project) or (
            self.creator and created_by_project_id == self.project)


UNRESTRICTED = Scope()
Scope.UNRESTRICTED = UNRESTRICTED
