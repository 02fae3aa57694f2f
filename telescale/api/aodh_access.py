"""Who may do what under ``/v2``: Aodh 23's policy rules, and the project each caller is confined to.

The rule names and default check strings are Aodh's (``telemetry:*``, project reader/member or admin), so
an operator's Aodh ``policy.yaml`` applies unchanged through ``api.policy_file``. Roles are expanded the
way Keystone's default role implications put them in a token (admin ⇒ member ⇒ reader), so a caller
sending ``X-Roles: member`` in ``noauth`` mode is what it would be with a Keystone token.

Isolation does not rest on the rules alone: a caller that is not an admin is confined to its own project
(:attr:`AodhCaller.project_scope`) and every read and write of the indexer carries that scope, whatever
the query says. In ``basic`` and ``remoteuser`` modes callers have no project: as on ``/v1`` there is no
tenancy there (every authenticated user is a member of the one implicit project; ``admin`` is the admin).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

from fastapi import Depends, Request

from telescale.api.auth import Identity, get_identity
from telescale.api.errors import ApiError
from telescale.api.policy import Policy

ADMIN = "rule:context_is_admin"
READER = "rule:project_reader_or_admin"
MEMBER = "rule:project_member_or_admin"

#: Aodh 23's default rules (aodh/api/policies.py, new defaults).
AODH_RULES: dict[str, str] = {
    "context_is_admin": "role:admin",
    "segregation": ADMIN,
    "project_reader": "role:reader and project_id:%(project_id)s",
    "project_member": "role:member and project_id:%(project_id)s",
    "project_member_or_admin": "rule:project_member or rule:context_is_admin",
    "project_reader_or_admin": "rule:project_reader or rule:context_is_admin",
    "telemetry:get_alarm": READER,
    "telemetry:get_alarms": READER,
    "telemetry:get_alarms:all_projects": ADMIN,
    "telemetry:query_alarm": READER,
    "telemetry:create_alarm": MEMBER,
    "telemetry:change_alarm": MEMBER,
    "telemetry:delete_alarm": MEMBER,
    "telemetry:get_alarm_state": READER,
    "telemetry:change_alarm_state": MEMBER,
    "telemetry:alarm_history": READER,
    "telemetry:query_alarm_history": READER,
    "telemetry:get_quotas": READER,
    "telemetry:update_quotas": ADMIN,
    "telemetry:delete_quotas": ADMIN,
    # Telescale's: inject events (POST /v2/events), which Aodh only takes from its message bus.
    "telemetry:post_events": MEMBER,
}
IMPLIED_ROLES = {"admin": ("member", "reader"), "member": ("reader",)}


def rbac_failed() -> ApiError:
    return ApiError(403, "RBAC Authorization Failed")


def expanded(identity: Identity) -> Identity:
    """The identity with the roles its roles imply; without a project (basic, remoteuser) also a member's."""
    roles = set(identity.roles) | (set() if identity.scoped else {"member"})
    for role in list(roles):
        roles.update(IMPLIED_ROLES.get(role, ()))
    return dataclasses.replace(identity, roles=frozenset(roles))


@dataclass(frozen=True)
class AodhCaller:
    """The caller of a ``/v2`` route and the rules that apply to it."""

    identity: Identity
    policy: Policy

    @property
    def user_id(self) -> str:
        return self.identity.user

    @property
    def project_id(self) -> str | None:
        return self.identity.project

    @property
    def admin(self) -> bool:
        return self.policy.allowed(self.identity, "segregation", {})

    @property
    def project_scope(self) -> str | None:
        """The only project whose alarms this caller reads or writes; None: every project (an admin, or
        any caller where there are no projects). A scoped caller without a project is refused."""
        if self.admin or not self.identity.scoped:
            return None
        if not self.project_id:
            raise rbac_failed()
        return self.project_id

    def allowed(self, rule: str, target: dict[str, Any] | None = None) -> bool:
        return self.policy.allowed(self.identity, f"telemetry:{rule}", target or {})

    def enforce(self, rule: str, target: dict[str, Any] | None = None) -> None:
        """403 unless Aodh's rule ``telemetry:<rule>`` allows the caller on ``target``."""
        if not self.allowed(rule, target):
            raise rbac_failed()

    def enforce_own(self, rule: str) -> None:
        """The rule on the caller's own project (Aodh's ``target_from_segregation_rule``)."""
        self.enforce(rule, {} if self.admin else {"project_id": self.project_id})


def aodh_policy(request: Request) -> Policy:
    """The application's Aodh rules, loaded once (from ``api.policy_file`` like Gnocchi's)."""
    state = request.app.state
    if getattr(state, "aodh_policy", None) is None:
        state.aodh_policy = Policy(state.settings.api.policy_file, AODH_RULES)
    return state.aodh_policy


MAX_ID = 255  # user and project ids are stored in VARCHAR(255) columns (alarms and their history)


async def aodh_caller(request: Request, identity: Identity = Depends(get_identity)) -> AodhCaller:
    """FastAPI dependency: the authenticated caller under Aodh's rules (async: no I/O)."""
    for name, value in (("user", identity.user), ("project", identity.project)):
        if value and len(value) > MAX_ID:
            raise ApiError(400, f"The {name} id is longer than {MAX_ID} characters")
    return AodhCaller(expanded(identity), aodh_policy(request))
