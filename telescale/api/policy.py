"""Who may do what: Gnocchi's policy rules, evaluated by oslo.policy and overridable from a policy file.

The rule names and default check strings are Gnocchi 4.7's, so an operator's existing Gnocchi
``policy.yaml`` keeps working (``api.policy_file``).  A rule is checked against a *target*: the object
acted on, flattened to dotted keys (``resource.project_id``) as Gnocchi does.

Listings cannot be checked object by object, so, like Gnocchi, :meth:`Policy.resource_scope` and
:meth:`Policy.metric_scope` probe the rule with synthetic targets to learn which rows the caller may
see: everything, the resources of its project, the objects its project created — and the listing is
filtered in SQL to exactly that.  In ``basic`` and ``remoteuser`` modes callers carry no project, so,
as in Gnocchi, listings are not filtered there; tenancy needs ``keystone`` or ``noauth``.
"""

from __future__ import annotations

import functools
import os
import re
import time
from collections.abc import Callable, Iterator, Mapping
from typing import Any

from oslo_config import cfg
from oslo_policy import _checks
from oslo_policy import policy as oslo_policy

from telescale.api.auth import Identity
from telescale.api.errors import ApiError, forbidden

ADMIN = "role:admin"
ADMIN_OR_SERVICE = "role:admin or role:service"
CREATOR = "user:%(creator)s or project_id:%(created_by_project_id)s"

#: Gnocchi 4.7's default rules (names and semantics are the compatibility contract).
DEFAULT_RULES: dict[str, str] = {
    "context_is_admin": ADMIN,
    "admin_or_creator": f"{ADMIN} or {CREATOR}",
    "admin_or_service": ADMIN_OR_SERVICE,
    "creator": CREATOR,
    "resource_owner": "project_id:%(project_id)s",
    "metric_owner": "project_id:%(resource.project_id)s",
    "get status": ADMIN,
    "create resource": "",
    "get resource": "rule:admin_or_creator or rule:resource_owner",
    "update resource": "rule:admin_or_service or rule:creator",
    "delete resource": "rule:admin_or_creator",
    "delete resources": "rule:admin_or_creator",
    "list resource": "rule:admin_or_creator or rule:resource_owner",
    "search resource": "rule:admin_or_service or rule:creator or rule:resource_owner",
    "create resource type": "rule:admin_or_service",
    "get resource type": "",
    "update resource type": "rule:admin_or_service",
    "delete resource type": ADMIN,
    "list resource type": "",
    "create archive policy": "rule:admin_or_service",
    "get archive policy": "",
    "update archive policy": ADMIN,
    "delete archive policy": ADMIN,
    "list archive policy": "",
    "create archive policy rule": ADMIN,
    "get archive policy rule": "",
    "update archive policy rule": ADMIN,
    "delete archive policy rule": ADMIN,
    "list archive policy rule": "",
    "create metric": "",
    "get metric": "rule:admin_or_service or rule:creator or rule:metric_owner",
    "delete metric": "rule:admin_or_creator",
    "list metric": "rule:admin_or_creator or rule:metric_owner",
    "search metric": "rule:admin_or_creator or rule:metric_owner",
    "post measures": "rule:admin_or_service or rule:creator",
    "get measures": "rule:admin_or_service or rule:creator or rule:metric_owner",
}


RELOAD_INTERVAL = 1.0  # seconds between checks of the policy file for changes
_MAX_MEMOS = 10_000  # (identity, rule) pairs whose decisions are kept
_MAX_MEMO_ENTRIES = 4_096  # distinct targets kept per pair
_TARGET_KEY = re.compile(r"%\(([^)]+)\)")
_MISSING = object()


@functools.lru_cache(maxsize=1024)
def _credentials(identity: Identity) -> dict[str, Any]:
    """The credentials of an identity, built once per identity (identities are frozen, hashable)."""
    return identity.credentials()


def insufficient_privileges() -> ApiError:
    return ApiError(403, "Insufficient privileges")


def _flatten(target: Mapping[str, Any], prefix: str = "") -> Iterator[tuple[str, Any]]:
    for key, value in target.items():
        if isinstance(value, Mapping):
            yield from _flatten(value, f"{prefix}{key}.")
        else:
            yield f"{prefix}{key}", value


def creator_fields(creator: str | None) -> dict[str, Any]:
    """``creator`` and its two halves, the keys Gnocchi's ``creator`` rule reads."""
    if creator is None:
        return {"creator": None, "created_by_user_id": None, "created_by_project_id": None}
    user, _, project = creator.partition(":")
    return {"creator": creator, "created_by_user_id": user, "created_by_project_id": project}


class Policy:
    """The loaded rules; one per application, cheap to evaluate (a few microseconds a check)."""

    def __init__(self, policy_file: str = "", rules: Mapping[str, str] = DEFAULT_RULES) -> None:
        if policy_file and not os.path.isfile(policy_file):
            raise ValueError(f"api.policy_file {policy_file} does not exist")
        conf = cfg.ConfigOpts()
        conf([], project="telescale", default_config_files=[])
        self._enforcer = oslo_policy.Enforcer(conf, policy_file=policy_file or "/nonexistent/telescale-policy")
        self._enforcer.register_defaults([oslo_policy.RuleDefault(n, check) for n, check in rules.items()])
        self._enforcer.load_rules()
        self._next_reload = time.monotonic() + RELOAD_INTERVAL
        # Kept while the loaded rules are the same object (a reload that changed them starts afresh):
        self._rules_seen: Any = None
        self._keys: dict[str, frozenset[str] | None] = {}  # rule -> the target keys it reads
        self._decisions: dict[tuple[Identity, str], dict[tuple[Any, ...], bool]] = {}  # see checker()

    def _current_rules(self) -> Any:
        """The loaded rules, forgetting what was derived from earlier ones."""
        self._reload_if_due()
        rules = self._enforcer.rules
        if rules is not self._rules_seen:
            self._keys, self._decisions, self._rules_seen = {}, {}, rules
        return rules

    def allowed(self, identity: Identity, rule: str, target: Mapping[str, Any]) -> bool:
        """Evaluate the loaded rule directly: ``Enforcer.enforce`` re-checks the policy file on every
        call, which costs more than the rule itself when a request checks a thousand metrics."""
        self._reload_if_due()
        check = self._enforcer.rules.get(rule)
        if check is None:
            raise KeyError(f"policy rule {rule!r} is not defined")
        return bool(check(dict(_flatten(target)), _credentials(identity), self._enforcer))

    def _reload_if_due(self) -> None:
        """Pick up edits of the policy file (at most one check a second, as the file rarely changes)."""
        now = time.monotonic()
        if now >= self._next_reload:
            self._next_reload = now + RELOAD_INTERVAL
            self._enforcer.load_rules()

    def target_keys(self, rule: str) -> frozenset[str] | None:
        """The (flattened) target keys ``rule`` reads, following ``rule:`` references; None when one of its
        checks may read the whole target (``http:`` or a custom check). Worked out once per loaded rules."""
        rules = self._current_rules()
        if rule in self._keys:
            return self._keys[rule]
        found = self._read_keys(rules, rule)
        self._keys[rule] = found
        return found

    @staticmethod
    def _read_keys(rules: Any, rule: str) -> frozenset[str] | None:
        keys: set[str] = set()
        seen: set[str] = set()

        def walk(check: Any) -> bool:
            if isinstance(check, _checks.AndCheck | _checks.OrCheck):
                return all(walk(c) for c in check.rules)
            if isinstance(check, _checks.NotCheck):
                return walk(check.rule)
            if isinstance(check, _checks.TrueCheck | _checks.FalseCheck):
                return True
            if isinstance(check, _checks.RuleCheck):
                if check.match not in seen:
                    seen.add(check.match)
                    sub = rules.get(check.match)
                    return sub is None or walk(sub)
                return True
            if type(check) in (_checks.GenericCheck, _checks.RoleCheck):
                keys.update(_TARGET_KEY.findall(check.match))
                return True
            return False

        root = rules.get(rule)
        if root is None:
            raise KeyError(f"policy rule {rule!r} is not defined")
        return frozenset(keys) if walk(root) else None

    def checker(self, identity: Identity, rule: str) -> Callable[[Mapping[str, Any]], bool]:
        """:meth:`allowed` for many targets: evaluated once per distinct combination of the values the rule
        reads (its checks depend on nothing else), so checking a thousand metrics costs a few evaluations.
        The decisions are kept across requests (per identity and rule, while the rules stay loaded): a client
        writing to its metrics again and again is checked once."""
        keys = self.target_keys(rule)
        if keys is None:
            return lambda target: self.allowed(identity, rule, target)
        paths = [(k, k.split(".")) for k in sorted(keys)]
        if len(self._decisions) >= _MAX_MEMOS:
            self._decisions = {}
        memo = self._decisions.setdefault((identity, rule), {})
        if len(memo) >= _MAX_MEMO_ENTRIES:
            memo.clear()

        def value_at(target: Mapping[str, Any], key: str, path: list[str]) -> Any:
            """What ``_flatten(target)`` holds under ``key``, without flattening the whole target."""
            if key in target:
                return target[key]
            value: Any = target
            for part in path:
                if not isinstance(value, dict) or part not in value:
                    return _MISSING
                value = value[part]
            return value

        def check(target: Mapping[str, Any]) -> bool:
            key = tuple(value_at(target, k, path) for k, path in paths)
            try:
                decision = memo.get(key)
            except TypeError:  # an unhashable value (a list): no memo for this one
                return self.allowed(identity, rule, target)
            if decision is None:
                decision = memo[key] = self.allowed(identity, rule, target)
            return decision

        return check

    def enforce(self, identity: Identity, rule: str, target: Mapping[str, Any]) -> None:
        """403 unless ``rule`` allows ``identity`` on ``target``."""
        if not self.allowed(identity, rule, target):
            raise forbidden()

    def resource_scope(self, identity: Identity, rule: str, resource_type: str | None = None) -> dict | None:
        """A search-filter node limiting a resource listing to what ``identity`` may see (None: all).

        403 when the rule grants nothing at all (as Gnocchi: "Insufficient privileges").
        """
        if not identity.scoped or self.allowed(identity, rule, {"resource_type": resource_type}):
            return None
        project = identity.project or ""
        clauses = []
        if self.allowed(identity, rule, {"resource_type": resource_type, "project_id": project}):
            clauses.append({"=": {"project_id": project}})
        if self.allowed(identity, rule, {"resource_type": resource_type, "created_by_project_id": project}):
            clauses.append({"=": {"created_by_project_id": project}})
        if not clauses:
            raise insufficient_privileges()
        return {"or": clauses}

    def metric_scope(self, identity: Identity, rule: str) -> str | None:
        """The project whose metrics a metric listing is limited to (None: all).

        Visible are the metrics the project created and those attached to a resource of (or created
        by) the project — Gnocchi's "list metric" filter.  403 when the rule grants neither.
        """
        if not identity.scoped or self.allowed(identity, rule, {}):
            return None
        project = identity.project or ""
        if not (self.allowed(identity, rule, {"created_by_project_id": project})
                or self.allowed(identity, rule, {"resource": {"project_id": project}})):
            raise insufficient_privileges()
        return project
